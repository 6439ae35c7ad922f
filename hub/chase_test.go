package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// sampleCameras is Changsha's sample camera set, the file `make run` gives
// the hub.
var sampleCameras = filepath.Join("..", "protocol", "cameras", "changsha", "cameras.geojson")

// call sends a raw body (none if "") with the admin token, or without any
// token if token is false, and returns the status and the body.
func call(t *testing.T, h *hubtest.Hub, method, path, body string, token bool) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token {
		req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// GET /api/cameras serves the -cameras file, [] without one; a file that
// does not read stops the hub before it creates anything on disk.
func TestCamerasServed(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Cameras = sampleCameras })
	var cams []api.Camera
	if st := h.Do(http.MethodGet, "/api/cameras", nil, &cams); st != http.StatusOK || len(cams) != 16 {
		t.Fatalf("GET /api/cameras: %d, %d cameras, want 200 and 16", st, len(cams))
	}
	found := false
	for _, c := range cams {
		if c.ID == "cs-tx-003" {
			found = c.Name == "黄兴南路·南门口" && c.Lat == 28.184 && c.Lon == 112.9775
		}
	}
	if !found {
		t.Errorf("cs-tx-003 is not as the file has it: %+v", cams)
	}
	if st, body := call(t, h, http.MethodGet, "/api/cameras", "", false); st != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", st, body)
	}
	if st, _ := call(t, h, http.MethodPost, "/api/cameras", "[]", true); st != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/cameras: %d", st)
	}

	none := hubtest.Start(t, nil)
	if st, body := call(t, none, http.MethodGet, "/api/cameras", "", true); st != http.StatusOK || body != "[]\n" {
		t.Errorf("without cameras: %d %q, want 200 []", st, body)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.geojson")
	if err := os.WriteFile(bad, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a b"},"geometry":{"type":"Point","coordinates":[112.9,28.2]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ file, err string }{
		{bad, "bad.geojson: cameras: feature 0: properties.id"},
		{filepath.Join(dir, "absent.geojson"), "absent.geojson: no such file"},
	} {
		cfg := hub.DefaultConfig()
		cfg.HTTPAddr, cfg.MQTTAddr, cfg.DataDir, cfg.Cameras = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(dir, "data"), tt.file
		if _, err := hub.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("-cameras %s: %v, want an error with %q", filepath.Base(tt.file), err, tt.err)
		}
		if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
			t.Errorf("-cameras %s: the data directory was created", filepath.Base(tt.file))
		}
	}
}

// The chase over HTTP: a sighting from a known camera is recorded with its
// note and moves the units on their way; an unknown camera is refused; the
// offer is dismissed once.
func TestChaseOverHTTP(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Cameras = sampleCameras })
	far := unitAt(t, h, "car-far", "car", 0.02, 0)
	unitAt(t, h, "car-near", "car", -0.012, 0) // 50 m from cs-tx-003 (28.184, 112.9775)
	inc := createIncident(t, h, "robbery", 2)
	id := inc.ID
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/assign", map[string]string{"unit": "car-far"}, nil); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	far.WaitCommand(protocol.CmdDispatch, id)
	far.SendEvent(2, protocol.EventAck, id)
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if stateOf(i, "car-far") != dispatch.AssignEnroute {
			return fmt.Errorf("car-far %s", stateOf(i, "car-far"))
		}
		return nil
	})

	// Refused, and nothing changes.
	refusals := []struct {
		name, path, body string
		token            bool
		status           int
		message          string
	}{
		{"sighting: unknown camera", "/sightings", `{"lat":28.184,"lon":112.9775,"source":"camera","camera":"cs-tx-999"}`, true, 400, `no camera \"cs-tx-999\"`},
		{"sighting: no camera id", "/sightings", `{"lat":28.184,"lon":112.9775,"camera":"南门口"}`, true, 400, "is not [A-Za-z0-9_.:-]{1,64}"},
		{"sighting: a note of 513 bytes", "/sightings", `{"lat":28.184,"lon":112.9775,"note":"` + strings.Repeat("x", 513) + `"}`, true, 400, "note longer than 512 bytes"},
		{"dismiss: no offer yet", "/offer/dismiss", ``, true, 409, "has no offer"},
	}
	for _, tt := range refusals {
		if st, body := call(t, h, http.MethodPost, "/api/incidents/"+id+tt.path, tt.body, tt.token); st != tt.status || !strings.Contains(body, tt.message) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, st, body, tt.status, tt.message)
		}
	}
	if got := getIncident(t, h, id); entryOf(got, api.EntrySighting) != nil || got.Lat != lat0 {
		t.Fatalf("refusals changed the incident: %s", timelineTypes(got))
	}

	// Seen on cs-tx-003: the client sends the camera's place.
	sighting := map[string]any{"lat": 28.184, "lon": 112.9775, "source": "camera", "camera": "cs-tx-003", "note": "  two on a scooter, heading south "}
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/sightings", sighting, &inc); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	upd := far.WaitCommand(protocol.CmdUpdateLocation, id)
	if *upd.Lat != 28.184 || *upd.Lon != 112.9775 {
		t.Errorf("update_location %+v", upd)
	}
	s, u := entryOf(inc, api.EntrySighting), entryOf(inc, api.EntryUpdateLocation)
	if s == nil || s.Params.Camera != "cs-tx-003" || s.Params.Note != "two on a scooter, heading south" || s.Params.Source != "camera" ||
		!strings.Contains(s.Detail, "黄兴南路·南门口") {
		t.Errorf("sighting entry %+v", s)
	}
	if u == nil || u.Unit != "car-far" || u.Reason != api.ReasonRetargeted || *u.Params.Lat != 28.184 || *u.Params.Lon != 112.9775 {
		t.Errorf("update_location entry %+v", u)
	}
	if inc.Offer == nil || inc.Offer.Unit != "car-near" {
		t.Fatalf("offer %+v", inc.Offer)
	}

	dismiss := "/api/incidents/" + id + "/offer/dismiss"
	dismissals := []struct {
		name, method, path, body string
		token                    bool
		status                   int
		message                  string
	}{
		{"no token", "POST", dismiss, `{}`, false, 401, "Bearer"},
		{"broken body", "POST", dismiss, `{"note":`, true, 400, "request body"},
		{"unknown field", "POST", dismiss, `{"reason":"busy"}`, true, 400, "unknown field"},
		{"a note of 513 bytes", "POST", dismiss, `{"note":"` + strings.Repeat("x", 513) + `"}`, true, 400, "note longer than 512 bytes"},
		{"unknown incident", "POST", "/api/incidents/inc-nope/offer/dismiss", `{}`, true, 404, "no incident"},
		{"GET", "GET", dismiss, ``, true, 405, "not allowed"},
	}
	for _, tt := range dismissals {
		if st, body := call(t, h, tt.method, tt.path, tt.body, tt.token); st != tt.status || !strings.Contains(body, tt.message) {
			t.Errorf("dismiss, %s: %d %s, want %d with %q", tt.name, st, body, tt.status, tt.message)
		}
	}
	if got := getIncident(t, h, id); got.Offer == nil || entryOf(got, api.EntryOfferDismissed) != nil {
		t.Fatalf("a refused dismissal changed the incident: offer %+v", got.Offer)
	}

	st, body := call(t, h, http.MethodPost, dismiss, `{"note":"car-near guards the bank"}`, true)
	if st != http.StatusOK {
		t.Fatalf("dismiss: %d %s", st, body)
	}
	var got dispatch.Incident
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	d := got.Timeline[len(got.Timeline)-1]
	if got.Offer != nil || d.Type != api.EntryOfferDismissed || d.Unit != "car-near" || d.Actor != byAdminToken ||
		d.Reason != api.ReasonDismissed || d.Params == nil || d.Params.Note != "car-near guards the bank" || len(got.Recommendations) == 0 {
		t.Errorf("dismissed: offer %+v, entry %+v", got.Offer, d)
	}
	if st, body := call(t, h, http.MethodPost, dismiss, ``, true); st != http.StatusConflict {
		t.Errorf("dismissing again: %d %s, want 409", st, body)
	}
	for i, e := range getIncident(t, h, id).Timeline {
		if err := e.Check(); err != nil {
			t.Errorf("entry %d %+v: %v", i, e, err)
		}
	}

	// A hub without cameras refuses a sighting that names one.
	none := hubtest.Start(t, nil)
	other := createIncident(t, none, "theft", 3)
	if st, body := call(t, none, http.MethodPost, "/api/incidents/"+other.ID+"/sightings",
		`{"lat":28.184,"lon":112.9775,"source":"camera","camera":"cs-tx-003"}`, true); st != http.StatusBadRequest ||
		!strings.Contains(body, "the hub has no cameras") {
		t.Errorf("a camera and no cameras: %d %s", st, body)
	}
}

// entryOf is the incident's latest entry of a type (nil: none).
func entryOf(inc dispatch.Incident, typ string) *dispatch.Entry {
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		if inc.Timeline[i].Type == typ {
			return &inc.Timeline[i]
		}
	}
	return nil
}
