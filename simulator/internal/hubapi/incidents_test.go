package hubapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"kuaifan/protocol/api"
)

// The bodies the simulator sends are the hub's, to the byte: the hub
// refuses unknown fields, and a null needs.
func TestIncidentBodies(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]string{}
	mux := http.NewServeMux()
	answer := func(status int, v string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies[r.Pattern] = string(b)
			mu.Unlock()
			w.WriteHeader(status)
			io.WriteString(w, v)
		}
	}
	const inc = `{"id":"inc-1","status":"dispatched","lat":28.2,"lon":112.9,"kind":"theft","priority":2,"needs":[],"created":1,` +
		`"assignments":[{"unit":"car-1","state":"enroute","by":"auto"}],"timeline":[{"ts":1,"type":"dispatched","unit":"car-1","actor":"auto"}],"figures":{}}`
	mux.HandleFunc("POST /api/incidents", answer(http.StatusCreated, inc))
	mux.HandleFunc("POST /api/incidents/{id}/sightings", answer(http.StatusOK, inc))
	mux.HandleFunc("POST /api/incidents/{id}/assign", answer(http.StatusOK, inc))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := testAPI(srv, "tok")
	ctx := context.Background()

	got, err := c.CreateIncident(ctx, api.NewIncident{Lat: 28.2, Lon: 112.9, Kind: "theft", Priority: 2, Summary: "手机被盗"})
	if err != nil {
		t.Fatal(err)
	}
	if !Active(&got) || !HasEntry(&got, api.EntryDispatched) || HasEntry(&got, api.EntryCleared) || len(OnTheWay(&got)) != 1 {
		t.Errorf("the answer read as %+v", got)
	}
	if _, err := c.Sighting(ctx, "inc-1", api.Sighting{Lat: 28.21, Lon: 112.91, Source: "camera 7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(ctx, "inc-1", "car-2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for pattern, want := range map[string]string{
		"POST /api/incidents":                `{"lat":28.2,"lon":112.9,"kind":"theft","priority":2,"summary":"手机被盗","needs":[]}`,
		"POST /api/incidents/{id}/sightings": `{"lat":28.21,"lon":112.91,"source":"camera 7"}`,
		"POST /api/incidents/{id}/assign":    `{"unit":"car-2"}`,
	} {
		if bodies[pattern] != want {
			t.Errorf("%s: %s; want %s", pattern, bodies[pattern], want)
		}
	}
}
