package hubapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// CreateIncident reports an incident, as a call-taker does.
func (h *Client) CreateIncident(ctx context.Context, n NewIncident) (Incident, error) {
	var inc Incident
	if n.Needs == nil {
		n.Needs = []string{}
	}
	err := h.call(ctx, http.MethodPost, "/api/incidents", n, &inc, http.StatusCreated)
	return inc, err
}

// Incident reads one incident.
func (h *Client) Incident(ctx context.Context, id string) (Incident, error) {
	var inc Incident
	err := h.call(ctx, http.MethodGet, "/api/incidents/"+url.PathEscape(id), nil, &inc, http.StatusOK)
	return inc, err
}

// Incidents lists the open incidents, or with all also those closed in the
// last day.
func (h *Client) Incidents(ctx context.Context, all bool) ([]Incident, error) {
	var out []Incident
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
		map[string]string{"unit": unit}, nil, http.StatusOK)
}

// Sighting reports where an incident was seen (a camera, a witness): the
// hub re-targets the units on their way.
func (h *Client) Sighting(ctx context.Context, incident string, lat, lon float64, source string) (Incident, error) {
	var inc Incident
	err := h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/sightings",
		map[string]any{"lat": lat, "lon": lon, "source": source}, &inc, http.StatusOK)
	return inc, err
}

// CloseIncident closes an incident.
func (h *Client) CloseIncident(ctx context.Context, incident string) error {
	return h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/close", nil, nil, http.StatusOK)
}

// Track returns a unit's stored positions with since <= ts <= until (Unix ms).
func (h *Client) Track(ctx context.Context, unit string, since, until int64) ([]TrackPoint, error) {
	var out []TrackPoint
	path := fmt.Sprintf("/api/units/%s/track?since=%d&until=%d&limit=100000", url.PathEscape(unit), since, until)
	err := h.call(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}
