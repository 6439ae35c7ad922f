// Package hubapitest is a fake of the hub's HTTP API for tests: health
// checks and unit enrolment, as the contract (kuaifan/protocol/api)
// describes them; and, when a test asks for them, patrol plans, the
// coverage and the compliance report (additive, 2026-12).
package hubapitest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
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

	// Additive (2026-12). A Fake serves none of these (404, as a hub from
	// before them) unless the test sets them, before its first request.
	//
	// Patrols serves PUT and GET /api/patrols…, as strict as the hub (the
	// plan read by patrol.Parse, its id the path's); Plans has them by id.
	Patrols bool
	Plans   map[string]*patrol.Plan
	// Coverage answers GET /api/coverage: the coverage, or with a nil one
	// the status (503 before the hub's first computation).
	Coverage func() (*api.Coverage, int)
	// Compliance answers GET /api/patrols/compliance for a plan in Plans,
	// with the query's shift and date.
	Compliance func(p *patrol.Plan, shift, date string) *patrol.Report
}

// New starts a fake hub API that takes token; the units in existing are
// enrolled already (left over from an earlier run). The server closes when
// the test ends.
func New(t testing.TB, token string, existing ...string) (*Fake, *httptest.Server) {
	f := &Fake{token: token, Enrolled: map[string]*api.Enrolment{}, Plans: map[string]*patrol.Plan{}}
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
	f.patrolRoutes(mux)
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

// Plan is the plan stored under id, nil if none.
func (f *Fake) Plan(id string) *patrol.Plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Plans[id]
}

// patrolRoutes serves patrol plans, coverage and compliance when the test
// set them, else 404 as the mux answers an unknown path.
func (f *Fake) patrolRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /api/patrols/{id}", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.Patrols {
			http.NotFound(w, r)
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			write(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
		p, err := patrol.Parse(data)
		if err == nil && p.ID != r.PathValue("id") {
			err = fmt.Errorf("id: the plan says %q, the path %q", p.ID, r.PathValue("id"))
		}
		if err != nil {
			write(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
		f.Calls = append(f.Calls, "PUT patrol "+p.ID)
		status := http.StatusCreated
		if _, ok := f.Plans[p.ID]; ok {
			status = http.StatusOK
		}
		f.Plans[p.ID] = p
		write(w, status, p)
	}))
	mux.HandleFunc("GET /api/patrols", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.Patrols {
			http.NotFound(w, r)
			return
		}
		out := []*patrol.Plan{}
		for _, id := range slices.Sorted(maps.Keys(f.Plans)) {
			out = append(out, f.Plans[id])
		}
		write(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /api/patrols/compliance", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		p, ok := f.Plans[r.URL.Query().Get("plan")]
		judge, served := f.Compliance, f.Patrols
		f.mu.Unlock()
		if !served || judge == nil || !ok {
			http.NotFound(w, r)
			return
		}
		write(w, http.StatusOK, judge(p, r.URL.Query().Get("shift"), r.URL.Query().Get("date")))
	}))
	mux.HandleFunc("GET /api/coverage", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		cover := f.Coverage
		f.mu.Unlock()
		if cover == nil {
			http.NotFound(w, r)
			return
		}
		c, status := cover()
		if c == nil {
			w.Header().Set("Retry-After", "1")
			write(w, status, api.Error{Error: "coverage not computed yet"})
			return
		}
		write(w, http.StatusOK, c)
	}))
}
