package hubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
)

// ErrNotServed is an endpoint the hub does not serve (404, 405): a hub
// from before it, or one without its part (a hub without districts has no
// coverage).
var ErrNotServed = errors.New("not served by this hub")

// ErrNotReady is an answer the hub does not have yet (503): its coverage
// in the first second after it starts.
var ErrNotReady = errors.New("not ready yet")

// maxCompliance is the longest compliance report read: one result per
// task and unit, a few hundred bytes each.
const maxCompliance = 64 << 20

// PutPatrol stores a patrol plan under its id (PUT /api/patrols/{id}),
// replacing one there; created says it was new. A hub from before patrol
// plans gives ErrNotServed.
func (h *Client) PutPatrol(ctx context.Context, p *patrol.Plan) (created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // a plan of 10,000 tasks is checked and stored
	defer cancel()
	path := "/api/patrols/" + url.PathEscape(p.ID)
	var stored patrol.Plan
	status, err := h.do(ctx, http.MethodPut, path, p, &stored)
	if e := notServed(http.MethodPut, path, status); e != nil {
		return false, e
	}
	switch {
	case err != nil:
		return false, err
	case status == http.StatusCreated:
		return true, nil
	case status == http.StatusOK:
		return false, nil
	}
	return false, &statusError{method: http.MethodPut, path: path, status: status}
}

// Patrols lists the hub's patrol plans (GET /api/patrols).
func (h *Client) Patrols(ctx context.Context) ([]patrol.Plan, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var out []patrol.Plan
	status, err := h.do(ctx, http.MethodGet, "/api/patrols", nil, &out)
	if e := notServed(http.MethodGet, "/api/patrols", status); e != nil {
		return nil, e
	}
	if err == nil && status != http.StatusOK {
		err = &statusError{method: http.MethodGet, path: "/api/patrols", status: status}
	}
	return out, err
}

// Coverage reads the city's live coverage (GET /api/coverage): ErrNotReady
// before the hub's first computation, ErrNotServed from a hub without it.
func (h *Client) Coverage(ctx context.Context) (*api.Coverage, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var c api.Coverage
	status, err := h.do(ctx, http.MethodGet, "/api/coverage", nil, &c)
	if e := notServed(http.MethodGet, "/api/coverage", status); e != nil {
		return nil, e
	}
	switch {
	case status == http.StatusServiceUnavailable:
		return nil, fmt.Errorf("GET /api/coverage: %w", ErrNotReady)
	case err != nil:
		return nil, err
	case status != http.StatusOK:
		return nil, &statusError{method: http.MethodGet, path: "/api/coverage", status: status}
	}
	return &c, nil
}

// Compliance reads how a shift of a plan was kept (GET
// /api/patrols/compliance), the shift on the date (YYYY-MM-DD, the plan's
// zone); judged up to now while it runs. A 404 is a hub without patrol
// plans or without that plan: ErrNotServed either way.
func (h *Client) Compliance(ctx context.Context, plan, shift, date string) (*patrol.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // computed from every unit's track over the shift
	defer cancel()
	path := "/api/patrols/compliance?" + url.Values{"plan": {plan}, "shift": {shift}, "date": {date}}.Encode()
	var rep patrol.Report
	status, err := h.doLimit(ctx, http.MethodGet, path, nil, &rep, maxCompliance)
	if e := notServed(http.MethodGet, path, status); e != nil {
		return nil, e
	}
	if err == nil && status != http.StatusOK {
		err = &statusError{method: http.MethodGet, path: path, status: status}
	}
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// notServed is ErrNotServed for a 404 or 405, else nil.
func notServed(method, path string, status int) error {
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		return fmt.Errorf("%s %s: %d: %w", method, path, status, ErrNotServed)
	}
	return nil
}
