// Package hubapitest is a fake of the hub's HTTP API for tests: health
// checks and unit enrolment, as the contract (kuaifan/protocol/api)
// describes them.
package hubapitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"kuaifan/protocol/api"
)

// Fake answers the hub's enrolment calls as the contract describes. It
// stands in for the hub's HTTP API only: the tests that use it never reach an
// MQTT broker.
type Fake struct {
	token        string
	UnhealthyFor int32        // the first n /healthz calls answer 503
	Health       atomic.Int32 // /healthz calls so far

	mu       sync.Mutex
	Enrolled map[string]*api.Enrolment // by unit id: the body of its POST /api/units (nil: left over from an earlier run)
	Calls    []string                  // "POST id", "DELETE id", in order
}

// New starts a fake hub API that takes token; the units in existing are
// enrolled already (left over from an earlier run). The server closes when
// the test ends.
func New(t testing.TB, token string, existing ...string) (*Fake, *httptest.Server) {
	f := &Fake{token: token, Enrolled: map[string]*api.Enrolment{}}
	for _, id := range existing {
		f.Enrolled[id] = nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if f.Health.Add(1) <= f.UnhealthyFor {
			write(w, http.StatusServiceUnavailable, api.Health{Status: api.HealthUnhealthy, Error: "starting"})
			return
		}
		write(w, http.StatusOK, api.Health{Status: api.HealthOK})
	})
	mux.HandleFunc("POST /api/units", f.auth(func(w http.ResponseWriter, r *http.Request) {
		// As strict as the hub: an unknown field is refused.
		var body api.Enrolment
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			write(w, http.StatusBadRequest, api.Error{Error: "bad body: " + err.Error()})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.Calls = append(f.Calls, "POST "+body.ID)
		if _, ok := f.Enrolled[body.ID]; ok {
			write(w, http.StatusConflict, api.Error{Error: "already enrolled"})
			return
		}
		f.Enrolled[body.ID] = &body
		write(w, http.StatusCreated, api.Enrolled{ID: body.ID, Secret: "secret-of-" + body.ID})
	}))
	mux.HandleFunc("DELETE /api/units/{id}", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := r.PathValue("id")
		f.Calls = append(f.Calls, "DELETE "+id)
		if _, ok := f.Enrolled[id]; !ok {
			write(w, http.StatusNotFound, api.Error{Error: "no unit"})
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
			write(w, http.StatusUnauthorized, api.Error{Error: "missing or wrong Bearer token"})
			return
		}
		h(w, r)
	}
}

// write answers v as JSON with that status.
func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
