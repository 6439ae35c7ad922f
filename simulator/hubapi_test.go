package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
)

// fakeAPI answers the hub's enrolment calls as the contract describes. It
// stands in for the hub's HTTP API only: the tests that use it never reach an
// MQTT broker.
type fakeAPI struct {
	token        string
	unhealthyFor int32 // the first n /healthz calls answer 503
	health       atomic.Int32

	mu       sync.Mutex
	enrolled map[string]map[string]any
	calls    []string
}

func newFakeAPI(t *testing.T, token string, existing ...string) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{token: token, enrolled: map[string]map[string]any{}}
	for _, id := range existing {
		f.enrolled[id] = nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if f.health.Add(1) <= f.unhealthyFor {
			http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("POST /api/units", f.auth(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		id, _ := body["id"].(string)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, "POST "+id)
		if _, ok := f.enrolled[id]; ok {
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"already enrolled"}`))
			return
		}
		f.enrolled[id] = body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"id": id, "secret": "secret-of-" + id})
	}))
	mux.HandleFunc("DELETE /api/units/{id}", f.auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := r.PathValue("id")
		f.calls = append(f.calls, "DELETE "+id)
		if _, ok := f.enrolled[id]; !ok {
			http.Error(w, `{"error":"no unit"}`, http.StatusNotFound)
			return
		}
		delete(f.enrolled, id)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			http.Error(w, `{"error":"missing or wrong Bearer token"}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func testAPI(srv *httptest.Server, token string) *hubAPI {
	return &hubAPI{base: srv.URL, token: token, http: srv.Client()}
}

func TestWaitHealthy(t *testing.T) {
	f, srv := newFakeAPI(t, "tok")
	f.unhealthyFor = 3
	if err := testAPI(srv, "tok").waitHealthy(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("hub healthy on the 4th call: %v", err)
	}
	if n := f.health.Load(); n != 4 {
		t.Errorf("%d /healthz calls, want 4", n)
	}

	f.health.Store(0)
	f.unhealthyFor = 1 << 30
	start := time.Now()
	err := testAPI(srv, "tok").waitHealthy(context.Background(), 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not healthy after 600ms") || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want a clear timeout naming the last answer", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("gave up after %v, want about 600 ms", time.Since(start))
	}

	// Nothing listening at all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	api := &hubAPI{base: "http://" + addr, http: srv.Client()}
	if err := api.waitHealthy(context.Background(), 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want the connection error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := api.waitHealthy(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: err = %v, want context.Canceled", err)
	}
}

func TestEnrolAll(t *testing.T) {
	specs, err := planFleet("sim", 40)
	if err != nil {
		t.Fatal(err)
	}
	// Two units are left over from an earlier run: revoked, then enrolled again.
	f, srv := newFakeAPI(t, "tok", specs[3].ID, specs[17].ID)
	secrets, err := testAPI(srv, "tok").enrolAll(context.Background(), specs, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		if secrets[i] != "secret-of-"+s.ID {
			t.Errorf("secret of %s is %q", s.ID, secrets[i])
		}
		body := f.enrolled[s.ID]
		if body["type"] != string(s.Type) || body["callsign"] != s.Callsign {
			t.Errorf("%s enrolled as %v", s.ID, body)
		}
		if caps, ok := body["capabilities"].([]any); !ok || len(caps) != len(s.Capabilities) {
			t.Errorf("%s: capabilities %v, want %v", s.ID, body["capabilities"], s.Capabilities)
		}
	}
	for _, id := range []string{specs[3].ID, specs[17].ID} {
		var seq []string
		for _, c := range f.calls {
			if strings.HasSuffix(c, " "+id) {
				seq = append(seq, strings.Fields(c)[0])
			}
		}
		if strings.Join(seq, ",") != "POST,DELETE,POST" {
			t.Errorf("%s: calls %v, want POST (409), DELETE, POST", id, seq)
		}
	}
	if len(f.calls) != 44 {
		t.Errorf("%d calls, want 40 + 2×2", len(f.calls))
	}
}

func TestEnrolWrongToken(t *testing.T) {
	specs, _ := planFleet("sim", 50)
	f, srv := newFakeAPI(t, "right")
	_, err := testAPI(srv, "wrong").enrolAll(context.Background(), specs, 8)
	if !errors.Is(err, errUnauthorized) || !strings.Contains(err.Error(), "HUB_ADMIN_TOKEN") {
		t.Errorf("err = %v, want the 401 explained", err)
	}
	if len(f.enrolled) != 0 {
		t.Errorf("%d units enrolled with a wrong token", len(f.enrolled))
	}
}

func TestEnrolRefused(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/units", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid: type \"tank\""}`, http.StatusBadRequest)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	specs, _ := planFleet("sim", 3)
	_, err := testAPI(srv, "tok").enrolAll(context.Background(), specs, 8)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `type "tank"`) {
		t.Errorf("err = %v, want the hub's status and message", err)
	}
}

// Run waits for the hub, then reads the token file the hub has written by
// then; with no broker to connect to it says so after ConnectWait.
func TestRunReadsTokenFileAndReportsNoBroker(t *testing.T) {
	f, srv := newFakeAPI(t, "file-token")
	f.unhealthyFor = 2
	file := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(file, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A broker address where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := "tcp://" + ln.Addr().String()
	ln.Close()

	start := time.Now()
	rep, err := Run(context.Background(), Config{HubURL: srv.URL, BrokerURL: broker, AdminTokenFile: file,
		Units: 6, Duration: time.Minute, Seed: 9, ConnectWait: 1500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no unit could connect") || !strings.Contains(err.Error(), broker) {
		t.Errorf("err = %v, want no unit could connect to %s", err, broker)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Run took %v after its 1.5 s", took)
	}
	if rep.Units.Asked != 6 || rep.Units.Enrolled != 6 || rep.Units.Connected != 0 || rep.Seed != 9 {
		t.Errorf("report %+v", rep)
	}
	if len(f.enrolled) != 6 {
		t.Errorf("%d units enrolled, want 6", len(f.enrolled))
	}
	// leakcheck (TestMain) checks that nothing of the run is left.
}

func TestRunCancelledWhileWaitingForHub(t *testing.T) {
	f, srv := newFakeAPI(t, "tok")
	f.unhealthyFor = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Config{HubURL: srv.URL, BrokerURL: "tcp://127.0.0.1:1", AdminToken: "tok"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{HubURL: "http://127.0.0.1:8080", BrokerURL: "tcp://127.0.0.1:1883", AdminToken: "t"}
	got, err := ok.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got.Units != DefaultUnits || got.Prefix != DefaultPrefix || got.TimeScale != 1 || got.City == nil ||
		got.Incidents == nil || got.Incidents.PerHour != DefaultPerHour || got.Officer == nil ||
		got.Officer.DeclineRate != DefaultDeclineRate || got.TopicRoot != "rr" || got.Logger == nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	sc, _ := BuiltinScenario("robbery-chase")
	withScenario := ok
	withScenario.Scenario = &sc
	got, err = withScenario.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got.Units != sc.Units || got.TimeScale != sc.TimeScale || got.Duration != sc.Duration || got.Incidents.PerHour != 0 {
		t.Errorf("the scenario's settings not applied: units %d, scale %v, duration %v, rate %v",
			got.Units, got.TimeScale, got.Duration, got.Incidents.PerHour)
	}
	for name, edit := range map[string]func(*Config){
		"hub URL":      func(c *Config) { c.HubURL = "127.0.0.1:8080" },
		"broker URL":   func(c *Config) { c.BrokerURL = "" },
		"TLS broker":   func(c *Config) { c.BrokerURL = "ssl://127.0.0.1:8883" },
		"token":        func(c *Config) { c.AdminToken = "" },
		"units":        func(c *Config) { c.Units = -1 },
		"time scale":   func(c *Config) { c.TimeScale = -2 },
		"topic root":   func(c *Config) { c.TopicRoot = "rr/#" },
		"fault":        func(c *Config) { c.Faults = []string{"meteor"} },
		"officer":      func(c *Config) { c.Officer = &OfficerConfig{DeclineRate: 0.7, NoAnswerRate: 0.7} },
		"service time": func(c *Config) { c.Officer = &OfficerConfig{ServiceMin: time.Hour, ServiceMax: time.Minute} },
	} {
		c := ok
		edit(&c)
		if _, err := c.resolve(); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
		if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "config") {
			t.Errorf("%s: Run err = %v", name, err)
		}
	}
	c := ok
	c.Prefix = "bad prefix"
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("bad prefix: Run err = %v", err)
	}
}

// The hub's built-in districts (GET /api/districts, what the dashboard
// draws) are the simulator's Changsha: the same names and polygons, so a
// unit patrolling a district is filed under it on the dashboard.
func TestHubDistrictsAreChangsha(t *testing.T) {
	h := hubtest.Start(t, nil)
	var fc struct {
		Features []struct {
			Properties struct {
				NameZH string `json:"name_zh"`
			}
			Geometry struct {
				Coordinates [][][2]float64
			}
		}
	}
	if code := h.Do("GET", "/api/districts", nil, &fc); code != 200 {
		t.Fatalf("GET /api/districts: %d", code)
	}
	city := ChangshaCity()
	if len(fc.Features) != len(city.Districts) {
		t.Fatalf("the hub has %d districts, the simulator %d", len(fc.Features), len(city.Districts))
	}
	for i, d := range city.Districts {
		f := fc.Features[i]
		if !strings.HasPrefix(d.Name, f.Properties.NameZH+" ") {
			t.Errorf("district %d: hub %q, simulator %q", i, f.Properties.NameZH, d.Name)
		}
		ring := f.Geometry.Coordinates[0]
		if len(ring) != len(d.Polygon)+1 {
			t.Errorf("%s: %d positions at the hub, %d in the simulator", d.Name, len(ring)-1, len(d.Polygon))
			continue
		}
		for j, p := range d.Polygon {
			if ring[j] != [2]float64{p.Lon, p.Lat} {
				t.Errorf("%s: vertex %d: hub %v, simulator %v", d.Name, j, ring[j], p)
			}
		}
	}
}
