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
	if _, err := c.Sighting(ctx, "inc-2", api.Sighting{Lat: 28.184, Lon: 112.9775, Source: "camera", Note: "黄兴南路·南门口", Camera: "cs-tx-003"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Assign(ctx, "inc-1", "car-2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for pattern, want := range map[string]string{
		"POST /api/incidents":                `{"lat":28.2,"lon":112.9,"kind":"theft","priority":2,"summary":"手机被盗","needs":[]}`,
		"POST /api/incidents/{id}/sightings": `{"lat":28.184,"lon":112.9775,"source":"camera","note":"黄兴南路·南门口","camera":"cs-tx-003"}`,
		"POST /api/incidents/{id}/assign":    `{"unit":"car-2"}`,
	} {
		if bodies[pattern] != want {
			t.Errorf("%s: %s; want %s", pattern, bodies[pattern], want)
		}
	}
}

// Cameras reads the hub's set; a hub without the endpoint (a 404) has
// none, and any other refusal is an error.
func TestCameras(t *testing.T) {
	status, body := http.StatusOK, `[{"id":"cs-tx-003","name":"黄兴南路·南门口","lat":28.184,"lon":112.9775}]`
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := testAPI(srv, "tok")
	ctx := context.Background()
	set := func(s int, b string) {
		mu.Lock()
		defer mu.Unlock()
		status, body = s, b
	}

	cs, err := c.Cameras(ctx)
	if err != nil || len(cs) != 1 || cs[0] != (api.Camera{ID: "cs-tx-003", Name: "黄兴南路·南门口", Lat: 28.184, Lon: 112.9775}) {
		t.Errorf("%+v, %v", cs, err)
	}
	set(http.StatusOK, `[]`)
	if cs, err := c.Cameras(ctx); err != nil || len(cs) != 0 {
		t.Errorf("none loaded: %+v, %v", cs, err)
	}
	set(http.StatusNotFound, `{"error":"not found"}`)
	if cs, err := c.Cameras(ctx); err != nil || cs != nil {
		t.Errorf("no endpoint: %+v, %v", cs, err)
	}
	set(http.StatusInternalServerError, `{"error":"boom"}`)
	if _, err := c.Cameras(ctx); err == nil {
		t.Error("a 500 is no error")
	}
}
