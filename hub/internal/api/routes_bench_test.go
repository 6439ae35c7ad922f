package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kuaifan/hub/internal/access"
	wire "kuaifan/protocol/api"
)

// BenchmarkAuthorize is what authorisation adds to an API call: the same
// route's handler served through guard (authenticate, role, one-time
// password, CSRF) and bare, one after the other in each iteration, for the
// bootstrap token, an API token and a session cookie (with its CSRF
// token). guard-ns/op is the difference, the guard alone (target < 10 µs);
// ns/op covers both calls. The accounts file holds 41 people and 41
// tokens.
func BenchmarkAuthorize(b *testing.B) {
	svc, err := access.New(access.Config{Dir: b.TempDir(), BootstrapToken: testToken,
		Hashing: access.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Accounts().AddUser("wang", access.Dispatcher, "correct horse battery", false, svc.Hashing()); err != nil {
		b.Fatal(err)
	}
	// A realistic file: a few dozen people and tokens.
	for i := range 40 {
		name := "person" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := svc.Accounts().AddUser(name, access.Viewer, "correct horse battery", false, svc.Hashing()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := svc.Accounts().AddToken("tok-"+name, access.Viewer); err != nil {
			b.Fatal(err)
		}
	}
	token, _, err := svc.Accounts().AddToken("cad110", access.Dispatcher)
	if err != nil {
		b.Fatal(err)
	}
	p, cookie, err := svc.SignIn(context.Background(), "wang", "correct horse battery", "127.0.0.1:1")
	if err != nil {
		b.Fatal(err)
	}
	csrf := svc.Describe(p).CSRF
	s := &server{Config: Config{Access: svc, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}}
	route := func(method, path string) Route {
		for _, rt := range s.routes() {
			if rt.Method == method && rt.Path == path {
				return rt
			}
		}
		b.Fatalf("no route %s %s", method, path)
		return Route{}
	}
	cameras := route("GET", "/api/cameras")
	// A write route of the table's kind whose handler does nothing: its
	// guard checks the CSRF token of a cookie; no audit (an audited write's
	// cost is its fsync, not the guard: Config.Audit is nil here).
	write := Route{Method: "POST", Path: "/api/incidents/{id}/assign", Need: access.Dispatcher,
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })}
	creds := []struct {
		name string
		set  func(*http.Request)
	}{
		{"bootstrap-token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }},
		{"api-token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }},
		{"session", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: wire.SessionCookie, Value: cookie})
			r.Header.Set(wire.CSRFHeader, csrf)
		}},
	}
	for _, rt := range []Route{cameras, write} {
		for _, c := range creds {
			b.Run(rt.Method+" "+rt.Path+"/"+c.name, func(b *testing.B) {
				guarded, bare := s.guard(rt), rt.handler
				r := httptest.NewRequest(rt.Method, "/api/incidents/inc-1/assign", nil)
				c.set(r)
				w := &discard{h: http.Header{}}
				if guarded.ServeHTTP(w, r); w.status >= 300 {
					b.Fatalf("guarded call: %d", w.status)
				}
				b.ReportAllocs()
				var inGuarded, inBare time.Duration
				for b.Loop() {
					t0 := time.Now()
					guarded.ServeHTTP(w, r)
					t1 := time.Now()
					bare.ServeHTTP(w, r)
					inGuarded += t1.Sub(t0)
					inBare += time.Since(t1)
				}
				n := float64(b.N)
				b.ReportMetric(float64(inGuarded.Nanoseconds())/n, "guarded-ns/call")
				b.ReportMetric(float64(inBare.Nanoseconds())/n, "bare-ns/call")
				b.ReportMetric(float64((inGuarded-inBare).Nanoseconds())/n, "guard-ns/op")
			})
		}
	}
}

// discard is a ResponseWriter that keeps the status only.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { clear(d.h); return d.h }
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
