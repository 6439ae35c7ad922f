package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

func TestAPIErrors(t *testing.T) {
	h := hubtest.Start(t, nil)
	h.Enrol("car-1", "car")
	tests := []struct {
		name, method, path, body string
		token                    string
		status                   int
		message                  string
	}{
		{"no token", "GET", "/api/units", "", "-", 401, "Bearer"},
		{"wrong token", "GET", "/api/units", "", "nope", 401, "Bearer"},
		{"token on match too", "GET", "/api/match?lat=1&lon=1", "", "-", 401, "Bearer"},
		{"token on districts too", "GET", "/api/districts", "", "-", 401, "Bearer"},
		{"districts are read-only", "POST", "/api/districts", "{}", "", 405, "POST"},
		{"enrol: not JSON", "POST", "/api/units", `{"id":`, "", 400, "request body"},
		{"enrol: misspelt field", "POST", "/api/units", `{"id":"car-2","type":"car","capabilites":["armed"]}`, "", 400, "capabilites"},
		{"enrol: bad id", "POST", "/api/units", `{"id":"car/2","type":"car"}`, "", 400, "id"},
		{"enrol: bad type", "POST", "/api/units", `{"id":"car-2","type":"tank"}`, "", 400, "type"},
		{"enrol: bad capability", "POST", "/api/units", `{"id":"car-2","type":"car","capabilities":["Armed Response"]}`, "", 400, "capability"},
		{"enrol: duplicate", "POST", "/api/units", `{"id":"car-1","type":"car"}`, "", 409, "already enrolled"},
		{"unknown unit", "GET", "/api/units/ghost", "", "", 404, "ghost"},
		{"track of unknown unit", "GET", "/api/units/ghost/track", "", "", 404, "ghost"},
		{"track: bad since", "GET", "/api/units/car-1/track?since=yesterday", "", "", 400, "since"},
		{"track: since after until", "GET", "/api/units/car-1/track?since=10&until=5", "", "", 400, "since"},
		{"track: limit too big", "GET", "/api/units/car-1/track?limit=100000000", "", "", 400, "limit"},
		{"revoke unknown unit", "DELETE", "/api/units/ghost", "", "", 404, "ghost"},
		{"match: no lat", "GET", "/api/match?lon=112.9", "", "", 400, "lat"},
		{"match: lat 91", "GET", "/api/match?lat=91&lon=112.9", "", "", 400, "lat"},
		{"match: k 0", "GET", "/api/match?lat=28&lon=112.9&k=0", "", "", 400, "K"},
		{"match: k not a number", "GET", "/api/match?lat=28&lon=112.9&k=five", "", "", 400, "k"},
		{"wrong method", "PUT", "/api/units", "", "", 405, "PUT"},
		{"no such call", "GET", "/api/nothing", "", "", 404, "no such API call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.URL+tt.path, strings.NewReader(tt.body))
			switch tt.token {
			case "":
				req.Header.Set("Authorization", "Bearer "+h.AdminToken())
			case "-":
			default:
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			if err := decodeJSON(resp, &body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(strings.ToLower(body.Error), strings.ToLower(tt.message)) {
				t.Errorf("%s %s: %d %q, want %d mentioning %q", tt.method, tt.path, resp.StatusCode, body.Error, tt.status, tt.message)
			}
		})
	}
	// None of the refused enrolments happened.
	var units []unitView
	h.Do("GET", "/api/units", nil, &units)
	if len(units) != 1 || units[0].ID != "car-1" {
		t.Errorf("units after refused enrolments: %+v", units)
	}
}

func TestAuthAndRevocation(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("car-1", "car")
	h.Enrol("car-2", "car")

	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-1", "wrong-secret", hubtest.DeviceOptions{}); err == nil {
		t.Error("a wrong secret was accepted")
	}
	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-2", secret, hubtest.DeviceOptions{}); err == nil {
		t.Error("car-1's secret let a device in as car-2")
	}

	d := hubtest.Connect(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{})
	// Publishing as car-2 from car-1's connection never reaches ingest.
	spoof, _ := protocol.Encode(protocol.Telemetry{Unit: "car-2", Seq: 1, TS: time.Now().UnixMilli(), Lat: lat0, Lon: lon0, Status: protocol.StatusAvailable})
	d.PublishTo("rr/units/car-2/telemetry", spoof)
	time.Sleep(100 * time.Millisecond) // nothing to wait for: the hub must do nothing
	if tr := track(t, h, "car-2"); len(tr) != 0 {
		t.Errorf("car-1 published as car-2: %+v", tr)
	}

	d = hubtest.Connect(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{})
	d.Send(d.Fix(1, time.Now(), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)
	if st := h.Do(http.MethodDelete, "/api/units/car-1", nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if d.Client.IsConnectionOpen() {
			return fmt.Errorf("revoked unit still connected")
		}
		return nil
	})
	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{}); err == nil {
		t.Error("a revoked unit connected again")
	}
	if st := h.Do(http.MethodGet, "/api/units/car-1", nil, nil); st != http.StatusNotFound {
		t.Errorf("revoked unit still listed: %d", st)
	}
	// Its history is kept, for the record.
	if tr := track(t, h, "car-1"); len(tr) != 1 {
		t.Errorf("history of a revoked unit: %+v", tr)
	}
	// Enrolled again (a replaced device): a new secret, the old one refused.
	newSecret := h.Enrol("car-1", "car")
	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{}); err == nil {
		t.Error("the old secret works after re-enrolment")
	}
	hubtest.Connect(t, h.MQTTURL(), "car-1", newSecret, hubtest.DeviceOptions{})
}

func TestMatchAPI(t *testing.T) {
	h := hubtest.Start(t, nil)
	now := time.Now()
	place := func(id, typ string, dLat float64, status protocol.Status, fixAge time.Duration, caps ...string) *hubtest.Device {
		d := hubtest.Connect(t, h.MQTTURL(), id, h.Enrol(id, typ, caps...), hubtest.DeviceOptions{})
		d.Send(d.Fix(1, now.Add(-fixAge), lat0+dLat, lon0, status))
		d.WaitAcked(1)
		return d
	}
	place("car-near", "car", 0.01, protocol.StatusAvailable, 0, "armed")       // 1.1 km
	place("car-far", "car", 0.05, protocol.StatusAvailable, 0)                 // 5.6 km
	place("foot-near", "foot", 0.005, protocol.StatusAvailable, 0)             // 556 m, but slow
	place("moto-busy", "motorcycle", 0.001, protocol.StatusBusy, 0)            // not available
	place("car-stale", "car", 0.002, protocol.StatusAvailable, 10*time.Minute) // old fix
	off := place("car-off", "car", 0.003, protocol.StatusAvailable, 0)
	off.Kill()
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if unit(t, h, "car-off").Online {
			return fmt.Errorf("car-off still online")
		}
		return nil
	})

	type cand struct {
		Unit      string  `json:"unit"`
		Type      string  `json:"type"`
		DistanceM float64 `json:"distance_m"`
		ETAS      float64 `json:"eta_s"`
		Tier      int     `json:"tier"`
	}
	var res struct{ Candidates []cand }
	if st := h.Do("GET", fmt.Sprintf("/api/match?lat=%v&lon=%v&k=5", lat0, lon0), nil, &res); st != 200 {
		t.Fatalf("match: %d", st)
	}
	var got []string
	for _, c := range res.Candidates {
		got = append(got, c.Unit)
	}
	// The foot patrol is nearest but a car 1.1 km away arrives first.
	if strings.Join(got, ",") != "car-near,foot-near,car-far" {
		t.Fatalf("candidates = %v, want car-near, foot-near, car-far", got)
	}
	// 1112 m × detour 1.4 ÷ 8.3 m/s = 188 s: beyond the 3-minute circle, tier 3.
	if c := res.Candidates[0]; c.DistanceM < 1000 || c.DistanceM > 1200 || c.ETAS < 180 || c.ETAS > 195 || c.Tier != 3 || c.Type != "car" {
		t.Errorf("car-near = %+v", c)
	}
	h.Do("GET", fmt.Sprintf("/api/match?lat=%v&lon=%v&k=5&needs=armed", lat0, lon0), nil, &res)
	if len(res.Candidates) != 1 || res.Candidates[0].Unit != "car-near" {
		t.Errorf("needs=armed: %+v", res.Candidates)
	}
	h.Do("GET", fmt.Sprintf("/api/match?lat=%v&lon=%v&k=1", lat0, lon0), nil, &res)
	if len(res.Candidates) != 1 {
		t.Errorf("k=1 gave %d candidates", len(res.Candidates))
	}
}

// The city's districts: Changsha's by default, a deployment's from a file,
// none on request; a bad file stops the hub from starting, saying why.
func TestDistrictsAPI(t *testing.T) {
	type collection struct {
		Type     string
		Features []struct {
			ID         string
			Properties struct {
				Name   string
				NameZH string `json:"name_zh"`
				NameEN string `json:"name_en"`
			}
			Geometry struct {
				Type        string
				Coordinates [][][2]float64
			}
		}
	}
	get := func(h *hubtest.Hub) collection {
		t.Helper()
		var c collection
		if code := h.Do("GET", "/api/districts", nil, &c); code != http.StatusOK {
			t.Fatalf("GET /api/districts: %d", code)
		}
		return c
	}
	c := get(hubtest.Start(t, nil))
	if c.Type != "FeatureCollection" || len(c.Features) != 7 {
		t.Fatalf("built in: %+v", c)
	}
	for _, f := range c.Features {
		if f.ID == "" || f.Properties.NameZH == "" || f.Properties.NameEN == "" || f.Geometry.Type != "Polygon" || len(f.Geometry.Coordinates[0]) < 4 {
			t.Errorf("feature %+v", f)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "city.geojson")
	os.WriteFile(file, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"中区","name_en":"Centre","id":"centre"},`+
		`"geometry":{"type":"Polygon","coordinates":[[[10,50],[10.1,50],[10.1,50.1],[10,50]]]}}]}`), 0o600)
	c = get(hubtest.Start(t, func(cfg *hub.Config) { cfg.Districts = file }))
	if len(c.Features) != 1 || c.Features[0].ID != "centre" || c.Features[0].Properties.NameZH != "中区" {
		t.Errorf("from a file: %+v", c)
	}
	if c = get(hubtest.Start(t, func(cfg *hub.Config) { cfg.Districts = "none" })); len(c.Features) != 0 {
		t.Errorf("none: %+v", c)
	}

	bad := filepath.Join(dir, "bad.geojson")
	os.WriteFile(bad, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Point","coordinates":[1,2]}}]}`), 0o600)
	cfg := hub.DefaultConfig()
	cfg.HTTPAddr, cfg.MQTTAddr, cfg.DataDir, cfg.Districts = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), bad
	if _, err := hub.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "bad.geojson: feature 1") {
		t.Errorf("a bad districts file: %v", err)
	}
}
