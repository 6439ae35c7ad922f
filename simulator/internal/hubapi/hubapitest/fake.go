// Package hubapitest is a fake of the hub's HTTP API for tests: health
// checks and unit enrolment, as the contract describes them.
package hubapitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Fake answers the hub's enrolment calls as the contract describes. It
// stands in for the hub's HTTP API only: the tests that use it never reach an
// MQTT broker.
type Fake struct {
	token        string
	UnhealthyFor int32        // the first n /healthz calls answer 503
	Health       atomic.Int32 // /healthz calls so far

	mu       sync.Mutex
	Enrolled map[string]map[string]any // by unit id: the body of its POST /api/units
	Calls    []string                  // "POST id", "DELETE id", in order
}

// New starts a fake hub API that takes token; the units in existing are
// enrolled already (left over from an earlier run). The server closes when
// the test ends.
func New(t testing.TB, token string, existing ...string) (*Fake, *httptest.Server) {
	f := &Fake{token: token, Enrolled: map[string]map[string]any{}}
	for _, id := range existing {
		f.Enrolled[id] = nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if f.Health.Add(1) <= f.UnhealthyFor {
			http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("POST /api/units", f.auth(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		id, _ := body["id"].(string)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.Calls = append(f.Calls, "POST "+id)
		if _, ok := f.Enrolled[id]; ok {
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"already enrolled"}`))
			return
		}
		f.Enrolled[id] = body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"id": id, "secret": "secret-of-" + id})
	}))
	mux.HandleFunc("DELETE /api/units/{id}", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := r.PathValue("id")
		f.Calls = append(f.Calls, "DELETE "+id)
		if _, ok := f.Enrolled[id]; !ok {
			http.Error(w, `{"error":"no unit"}`, http.StatusNotFound)
			return
		}
		delete(f.Enrolled, id)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *Fake) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			http.Error(w, `{"error":"missing or wrong Bearer token"}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}
