//go:build !(js && wasm)

package webapp

import (
	"context"
	"io"
	"net/http"
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
