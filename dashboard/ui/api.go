package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kuaifan/dashboard/webapp"
	"kuaifan/protocol/api"
)

// API calls the hub's HTTP API as the person signed in: their session is
// the hub's HttpOnly cookie, which the browser keeps and sends (the page
// never sees it), and every write carries the session's CSRF token
// (api.CSRFHeader). In the browser it goes through fetch (webapp.Do, via
// transport.go): net/http's client would double app.wasm. On the host
// (tests, tools) it uses net/http, with Jar standing for the browser's
// cookies.
type API struct {
	Base string // the hub's origin, e.g. "http://127.0.0.1:8080"
	// CSRF is the session's CSRF token (api.Session.CSRF), sent in
	// api.CSRFHeader on every call but GET and HEAD; never in a URL.
	CSRF string
	// Token, for tools and tests, is a Bearer token sent instead of a
	// session (the hub's API tokens). The dashboard has none: people sign
	// in with their name and password.
	Token string
	// Jar keeps the session cookie on the host; nil in the browser, which
	// keeps it itself.
	Jar webapp.Jar
}

// Timeout bounds each call.
const Timeout = 15 * time.Second

// ErrUnauthorized is a 401: no session (it ended: idle, at its end, signed
// out elsewhere, the account disabled) or, for a sign-in, a wrong name or
// password.
var ErrUnauthorized = errors.New("the hub refused the session")

// APIError is an error answer of the hub: its status and {"error": "…"},
// and for a 429 how long to wait (Retry-After).
type APIError struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// maxAnswer bounds an answer's size (a track of 100,000 points is ~10 MB).
const maxAnswer = 64 << 20

func (a *API) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	resp, err := a.send(ctx, method, strings.TrimRight(a.Base, "/")+path, b)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	status, data := resp.Status, resp.Body
	if status == 401 {
		return ErrUnauthorized
	}
	if status/100 != 2 {
		e := &APIError{Status: status, RetryAfter: retryAfter(resp.RetryAfter)}
		var msg api.Error
		if json.Unmarshal(data, &msg) == nil {
			e.Message = msg.Error
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad JSON: %w", method, path, err)
	}
	return nil
}

// retryAfter reads a Retry-After header in seconds (the hub never sends a
// date); 0 without one.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// Units is GET /api/units.
func (a *API) Units(ctx context.Context) ([]Unit, error) {
	var us []Unit
	return us, a.do(ctx, "GET", "/api/units", nil, &us)
}

// Districts is GET /api/districts (GeoJSON); a hub without them (404)
// gives none.
func (a *API) Districts(ctx context.Context) ([]District, error) {
	var raw json.RawMessage
	err := a.do(ctx, "GET", "/api/districts", nil, &raw)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseDistricts(raw)
}

// Incidents is GET /api/incidents (all: also those closed in the last day).
func (a *API) Incidents(ctx context.Context, all bool) ([]Incident, error) {
	var incs []Incident
	path := "/api/incidents"
	if all {
		path += "?status=all"
	}
	return incs, a.do(ctx, "GET", path, nil, &incs)
}

// Incident is GET /api/incidents/{id}: while open, with fresh recommendations.
func (a *API) Incident(ctx context.Context, id string) (*Incident, error) {
	var inc Incident
	if err := a.do(ctx, "GET", "/api/incidents/"+url.PathEscape(id), nil, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// CreateIncident is POST /api/incidents.
func (a *API) CreateIncident(ctx context.Context, n api.NewIncident) (*Incident, error) {
	var inc Incident
	if err := a.do(ctx, "POST", "/api/incidents", n, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Assign is POST /api/incidents/{id}/assign: dispatch a unit.
func (a *API) Assign(ctx context.Context, id, unit string) (*Incident, error) {
	var inc Incident
	body := api.Assign{Unit: unit}
	if err := a.do(ctx, "POST", "/api/incidents/"+url.PathEscape(id)+"/assign", body, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// CloseIncident is POST /api/incidents/{id}/close, with the dispatcher's
// note if there is one.
func (a *API) CloseIncident(ctx context.Context, id, note string) (*Incident, error) {
	var inc Incident
	var body any
	if note != "" {
		body = api.Close{Note: note}
	}
	if err := a.do(ctx, "POST", "/api/incidents/"+url.PathEscape(id)+"/close", body, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// ReopenIncident is POST /api/incidents/{id}/reopen: a closed incident is
// open again, with the reason on its timeline.
func (a *API) ReopenIncident(ctx context.Context, id, reason string) (*Incident, error) {
	var inc Incident
	body := api.Reopen{Reason: reason}
	if err := a.do(ctx, "POST", "/api/incidents/"+url.PathEscape(id)+"/reopen", body, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Sighting is POST /api/incidents/{id}/sightings: the suspect seen
// somewhere else. The hub moves the incident, sends the place to the units
// on their way, and answers with the incident (an offer, if a free unit
// would be there sooner) and fresh recommendations.
func (a *API) Sighting(ctx context.Context, id string, s api.Sighting) (*Incident, error) {
	var inc Incident
	if err := a.do(ctx, "POST", "/api/incidents/"+url.PathEscape(id)+"/sightings", s, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// DismissOffer is POST /api/incidents/{id}/offer/dismiss: the offered unit
// is not sent (409 when there is no offer any more).
func (a *API) DismissOffer(ctx context.Context, id, note string) (*Incident, error) {
	var inc Incident
	if err := a.do(ctx, "POST", "/api/incidents/"+url.PathEscape(id)+"/offer/dismiss", api.DismissOffer{Note: note}, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Cameras is GET /api/cameras: the hub's camera set; a hub from before
// cameras (404) has none.
func (a *API) Cameras(ctx context.Context) ([]api.Camera, error) {
	var cs []api.Camera
	err := a.do(ctx, "GET", "/api/cameras", nil, &cs)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil, nil
	}
	return cs, err
}

// Track is GET /api/units/{id}/track?since=: positions since a hub time.
func (a *API) Track(ctx context.Context, unit string, sinceMS int64) ([]api.TrackPoint, error) {
	var pts []api.TrackPoint
	path := "/api/units/" + url.PathEscape(unit) + "/track?since=" + strconv.FormatInt(sinceMS, 10)
	return pts, a.do(ctx, "GET", path, nil, &pts)
}

// StreamTicket is POST /api/stream/ticket: a single-use ticket for /ws.
func (a *API) StreamTicket(ctx context.Context) (api.Ticket, error) {
	var t api.Ticket
	if err := a.do(ctx, "POST", "/api/stream/ticket", nil, &t); err != nil {
		return t, err
	}
	if t.Ticket == "" {
		return t, errors.New("the hub sent an empty stream ticket")
	}
	return t, nil
}

// StreamURL is the websocket URL for a ticket: ws(s)://host/ws?ticket=…
// The ticket, never a credential, goes in the URL (URLs end up in logs).
func StreamURL(base, ticket string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("hub address %q is not http(s)", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	u.RawQuery = url.Values{"ticket": {ticket}}.Encode()
	u.Fragment = ""
	u.User = nil
	return u.String(), nil
}

// MoveUps is GET /api/moveups: the hub's suggested move-ups (a hub without
// them answers 404: the caller says so).
func (a *API) MoveUps(ctx context.Context) (*api.MoveUps, error) {
	var m api.MoveUps
	if err := a.do(ctx, "GET", "/api/moveups", nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Reposition is POST /api/units/{id}/reposition: send a free unit to a
// place to cover it.
func (a *API) Reposition(ctx context.Context, unit string, r api.RepositionRequest) (*api.Reposition, error) {
	var out api.Reposition
	if err := a.do(ctx, "POST", "/api/units/"+url.PathEscape(unit)+"/reposition", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
