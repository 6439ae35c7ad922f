package hubapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"kuaifan/protocol/api"
)

// CreateIncident reports an incident, as a call-taker does.
func (h *Client) CreateIncident(ctx context.Context, n api.NewIncident) (api.Incident, error) {
	var inc api.Incident
	if n.Needs == nil {
		n.Needs = []string{}
	}
	err := h.call(ctx, http.MethodPost, "/api/incidents", n, &inc, http.StatusCreated)
	return inc, err
}

// Incident reads one incident.
func (h *Client) Incident(ctx context.Context, id string) (api.Incident, error) {
	var inc api.Incident
	err := h.call(ctx, http.MethodGet, "/api/incidents/"+url.PathEscape(id), nil, &inc, http.StatusOK)
	return inc, err
}

// Incidents lists the open incidents, or with all also those closed in the
// last day.
func (h *Client) Incidents(ctx context.Context, all bool) ([]api.Incident, error) {
	var out []api.Incident
	path := "/api/incidents"
	if all {
		path += "?status=all"
	}
	err := h.call(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

// Assign sends a unit to an incident, as a dispatcher does.
func (h *Client) Assign(ctx context.Context, incident, unit string) error {
	return h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/assign",
		api.Assign{Unit: unit}, nil, http.StatusOK)
}

// Sighting reports where an incident was seen (a camera, a witness): the
// hub re-targets the units on their way.
func (h *Client) Sighting(ctx context.Context, incident string, s api.Sighting) (api.Incident, error) {
	var inc api.Incident
	err := h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/sightings", s, &inc, http.StatusOK)
	return inc, err
}

// Cameras is the hub's camera set (GET /api/cameras, its -cameras file):
// the camera ids a sighting may carry. A hub with none loaded serves an
// empty list; a hub from before cameras (no such endpoint, a 404) has none
// either.
func (h *Client) Cameras(ctx context.Context) ([]api.Camera, error) {
	var out []api.Camera
	err := h.call(ctx, http.MethodGet, "/api/cameras", nil, &out, http.StatusOK)
	if IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return out, err
}

// CloseIncident closes an incident.
func (h *Client) CloseIncident(ctx context.Context, incident string) error {
	return h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/close", nil, nil, http.StatusOK)
}

// Track returns a unit's stored positions with since <= ts <= until (Unix ms).
func (h *Client) Track(ctx context.Context, unit string, since, until int64) ([]api.TrackPoint, error) {
	var out []api.TrackPoint
	path := fmt.Sprintf("/api/units/%s/track?since=%d&until=%d&limit=100000", url.PathEscape(unit), since, until)
	err := h.call(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

// Active reports whether a unit is on the incident now (dispatched, en
// route or on scene).
func Active(inc *api.Incident) bool {
	return slices.ContainsFunc(inc.Assignments, func(a api.Assignment) bool { return api.AssignmentActive(a.State) })
}

// OnTheWay lists the units dispatched to the incident or en route: those a
// sighting re-targets.
func OnTheWay(inc *api.Incident) []string {
	var units []string
	for _, a := range inc.Assignments {
		if a.State == api.AssignDispatched || a.State == api.AssignEnroute {
			units = append(units, a.Unit)
		}
	}
	return units
}

// HasEntry reports whether the incident's timeline has an entry of type typ
// (one of the api.Entry* types).
func HasEntry(inc *api.Incident, typ string) bool {
	return slices.ContainsFunc(inc.Timeline, func(e api.Entry) bool { return e.Type == typ })
}
