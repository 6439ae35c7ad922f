package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"kuaifan/protocol/api"
)

func TestAPI(t *testing.T) {
	h := newFakeHub(t)
	ctx := context.Background()
	c := &API{Base: h.srv.URL + "/", Token: h.token}

	inc, err := c.CreateIncident(ctx, api.NewIncident{Lat: 28.2, Lon: 112.98, Kind: "theft", Priority: 2, Summary: "电动车被盗", Needs: []string{}})
	if err != nil || inc.ID == "" || len(inc.Recommendations) != 1 {
		t.Fatalf("create: %+v, %v", inc, err)
	}
	if got := h.created[0]; got.Kind != "theft" || got.Summary != "电动车被盗" || got.Needs == nil {
		t.Errorf("body sent: %+v", got)
	}
	if _, err := c.Assign(ctx, inc.ID, "car-1"); err != nil {
		t.Fatal(err)
	}
	var apiErr *APIError
	if _, err := c.Assign(ctx, inc.ID, "busy-unit"); !errors.As(err, &apiErr) || apiErr.Status != 409 || !strings.Contains(apiErr.Message, "not available") {
		t.Errorf("409: %v", err)
	}
	if _, err := c.Incident(ctx, "inc-nope"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("404: %v", err)
	}
	got, err := c.CloseIncident(ctx, inc.ID, "")
	if err != nil || got.Status != api.IncidentClosed {
		t.Errorf("close: %+v %v", got, err)
	}
	if pts, err := c.Track(ctx, "car/1", 12345); err != nil || len(pts) != 2 {
		t.Errorf("track: %v %v", pts, err)
	}
	if h.trackSince[0] != "car/1@12345" {
		t.Errorf("track request %v", h.trackSince)
	}
	if tk, err := c.StreamTicket(ctx); err != nil || tk.Ticket == "" {
		t.Errorf("ticket: %+v %v", tk, err)
	}
	for _, a := range h.authHeader {
		if a != "Bearer "+h.token {
			t.Errorf("Authorization %q", a)
		}
	}
	bad := &API{Base: h.srv.URL, Token: "wrong"}
	if _, err := bad.Incidents(ctx, true); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := (&API{Base: "http://127.0.0.1:1", Token: "x"}).Incidents(ctx, false); err == nil {
		t.Error("no hub, no error")
	}
	h.tokenNeverInURLs(t)
}

func TestStreamURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":        "ws://127.0.0.1:8080/ws?ticket=a%2Bb",
		"https://hub.example/":         "wss://hub.example/ws?ticket=a%2Bb",
		"https://hub.example/kuaifan/": "wss://hub.example/kuaifan/ws?ticket=a%2Bb",
	} {
		if got, err := StreamURL(base, "a+b"); err != nil || got != want {
			t.Errorf("StreamURL(%q) = %q %v, want %q", base, got, err, want)
		}
	}
	if _, err := StreamURL("ftp://x", "t"); err == nil {
		t.Error("ftp accepted")
	}
}
