package terminal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"kuaifan/protocol"
)

// moveUpOfficer is the in-memory Officer with a move-up (additive,
// 2026-12): reported arrived, it is gone and the status is unchanged, as
// the agent does.
type moveUpOfficer struct {
	*memOfficer
	moveUp  *Reposition
	arrived []string // move-ups reported arrived
}

var _ Repositioner = (*moveUpOfficer)(nil)

func newMoveUpOfficer(id string) *moveUpOfficer {
	o := &moveUpOfficer{memOfficer: newOfficer()}
	if id != "" {
		o.moveUp = &Reposition{ID: id, Lat: 28.2012, Lon: 112.9655, Summary: "补位", Received: received}
	}
	return o
}

func (o *moveUpOfficer) Reposition() (Reposition, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.moveUp == nil {
		return Reposition{}, false
	}
	return *o.moveUp, true
}

func (o *moveUpOfficer) RepositionArrived(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.fail != nil:
		return o.fail
	case o.moveUp == nil:
		return ErrNoReposition
	case id != "" && id != o.moveUp.ID:
		return fmt.Errorf("moving up for %s, not %s: %w", o.moveUp.ID, id, ErrWrongState)
	}
	o.arrived = append(o.arrived, o.moveUp.ID)
	o.moveUp = nil
	return nil
}

// The move-up routes through a real listener: GET /v1/reposition, and POST
// /v1/reposition/arrived with no body, the move-up's id, another id, none
// to report, a bad or unknown body, a wrong method, an agent fault.
func TestRepositionRoutes(t *testing.T) {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		rawCase
		officer *moveUpOfficer
		arrived bool // the move-up was reported arrived
	}{
		{rawCase{name: "get", method: "GET", path: "/v1/reposition", code: 200,
			resp: `{"id":"mu-1","lat":28.2012,"lon":112.9655,"summary":"补位","received":"2025-03-14T09:26:53Z"}`}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "get none", method: "GET", path: "/v1/reposition", code: 204}, newMoveUpOfficer(""), false},
		{rawCase{name: "arrived, no body", method: "POST", path: "/v1/reposition/arrived", code: 200, resp: `{"status":"available"}`}, newMoveUpOfficer("mu-1"), true},
		{rawCase{name: "arrived, empty object", method: "POST", path: "/v1/reposition/arrived", header: jsonCT, body: `{}`, code: 200}, newMoveUpOfficer("mu-1"), true},
		{rawCase{name: "arrived, its id", method: "POST", path: "/v1/reposition/arrived", header: jsonCT, body: `{"id":"mu-1"}`, code: 200}, newMoveUpOfficer("mu-1"), true},
		{rawCase{name: "arrived, another id", method: "POST", path: "/v1/reposition/arrived", header: jsonCT, body: `{"id":"mu-2"}`, code: 409}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "arrived, none", method: "POST", path: "/v1/reposition/arrived", code: 404}, newMoveUpOfficer(""), false},
		{rawCase{name: "arrived, bad id", method: "POST", path: "/v1/reposition/arrived", header: jsonCT, body: `{"id":"mu 1"}`, code: 400}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "arrived, unknown field", method: "POST", path: "/v1/reposition/arrived", header: jsonCT, body: `{"id":"mu-1","lat":1}`, code: 400}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "arrived, text", method: "POST", path: "/v1/reposition/arrived", header: map[string]string{"Content-Type": "text/plain"}, body: `{"id":"mu-1"}`, code: 415}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "arrived, cross-origin", method: "POST", path: "/v1/reposition/arrived", header: map[string]string{"Origin": "http://evil.example"}, code: 403}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "GET arrived", method: "GET", path: "/v1/reposition/arrived", code: 405, allow: "POST"}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "POST reposition", method: "POST", path: "/v1/reposition", code: 405, allow: "GET, HEAD"}, newMoveUpOfficer("mu-1"), false},
		{rawCase{name: "agent fault", method: "POST", path: "/v1/reposition/arrived", code: 500}, func() *moveUpOfficer {
			o := newMoveUpOfficer("mu-1")
			o.failing(errors.New("queue: disk full"))
			return o
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, c := start(t, Config{}, tc.officer)
			resp, body := send(t, c.BaseURL, tc.rawCase)
			checkRaw(t, tc.rawCase, resp, body)
			if got := len(tc.officer.arrived) == 1; got != tc.arrived {
				t.Errorf("arrived %v, want %v", tc.officer.arrived, tc.arrived)
			}
			if tc.officer.Status() != protocol.StatusAvailable {
				t.Errorf("status %s: a move-up never changes it", tc.officer.Status())
			}
		})
	}
}

// The Client's side: the move-up, its arrival, and errors that match what
// the officer did wrong.
func TestRepositionClient(t *testing.T) {
	o := newMoveUpOfficer("mu-7")
	_, c := start(t, Config{Token: "tok"}, o)
	ctx := t.Context()
	r, ok, err := c.Reposition(ctx)
	if err != nil || !ok || r.ID != "mu-7" || r.Summary != "补位" || !r.Received.Equal(received) {
		t.Fatalf("Reposition = %+v %v %v", r, ok, err)
	}
	if err := c.RepositionArrived(ctx, "mu-8"); !errors.Is(err, ErrWrongState) {
		t.Errorf("another move-up: %v", err)
	}
	if err := c.RepositionArrived(ctx, "mu-7"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Reposition(ctx); ok || err != nil {
		t.Errorf("after the arrival: %v %v", ok, err)
	}
	err = c.RepositionArrived(ctx, "")
	if !errors.Is(err, ErrNoReposition) || !errors.Is(err, ErrNoAssignment) {
		t.Errorf("none left: %v", err)
	}
	if err := (&Client{BaseURL: c.BaseURL, HTTP: c.HTTP}).RepositionArrived(ctx, ""); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	if fmt.Sprint(o.arrived) != "[mu-7]" {
		t.Errorf("arrivals %v", o.arrived)
	}
}

// An Officer that knows no move-ups: the routes answer as for a unit
// without one, and the state has none.
func TestRepositionWithoutRepositioner(t *testing.T) {
	_, c := start(t, Config{}, newOfficer())
	ctx := t.Context()
	if _, ok, err := c.Reposition(ctx); ok || err != nil {
		t.Errorf("Reposition: %v %v", ok, err)
	}
	if err := c.RepositionArrived(ctx, "mu-1"); !errors.Is(err, ErrNoReposition) {
		t.Errorf("RepositionArrived: %v", err)
	}
}

// GET /v1/state carries the move-up of an Officer that is not a Stater too.
func TestStateHasReposition(t *testing.T) {
	s, err := New(Config{}, newMoveUpOfficer("mu-3"))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/state", nil)
	req.Host = "127.0.0.1:8765"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var st State
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %v", rec.Code, err)
	}
	if st.Reposition == nil || st.Reposition.ID != "mu-3" || !st.Reposition.Received.Equal(received) ||
		st.Assignment != nil || st.Status != protocol.StatusAvailable {
		t.Errorf("state %+v", st)
	}
}
