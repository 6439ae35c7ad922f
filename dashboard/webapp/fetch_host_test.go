//go:build !(js && wasm)

package webapp

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
)

// The host Fetch sends the headers the browser one does, and cuts the answer.
func TestFetchHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Content-Type") != "application/json" || string(b) != `{"a":1}` {
			w.WriteHeader(400)
			return
		}
		io.WriteString(w, "0123456789")
	}))
	defer srv.Close()
	code, data, err := Fetch(context.Background(), Request{Method: "POST", URL: srv.URL, Auth: "Bearer t", Body: []byte(`{"a":1}`), MaxAnswer: 4})
	if err != nil || code != 200 || string(data) != "0123" {
		t.Errorf("%d %q %v", code, data, err)
	}
}

// The host Do sends the extra headers, keeps cookies in the Jar as a
// browser would (not with OmitCredentials), and answers Retry-After.
func TestDoHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "v1", Path: "/", HttpOnly: true})
		case "/get":
			c, err := r.Cookie("s")
			if err != nil || c.Value != "v1" || r.Header.Get("X-CSRF-Token") != "c" {
				w.WriteHeader(401)
				return
			}
			w.Header().Set("Retry-After", "8")
			w.WriteHeader(429)
		}
	}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	ctx := context.Background()
	if resp, err := Do(ctx, Request{Method: "POST", URL: srv.URL + "/set", Jar: jar, MaxAnswer: 100}); err != nil || resp.Status != 200 {
		t.Fatalf("set: %+v %v", resp, err)
	}
	get := Request{Method: "GET", URL: srv.URL + "/get", Jar: jar, Header: map[string]string{"X-CSRF-Token": "c"}, MaxAnswer: 100}
	resp, err := Do(ctx, get)
	if err != nil || resp.Status != 429 || resp.RetryAfter != "8" {
		t.Errorf("get: %+v %v", resp, err)
	}
	get.OmitCredentials = true
	if resp, err := Do(ctx, get); err != nil || resp.Status != 401 || resp.RetryAfter != "" {
		t.Errorf("without credentials: %+v %v", resp, err)
	}
}
