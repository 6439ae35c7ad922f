package responder

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/ingest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// fakeUnits is the fleet: car-1 and car-2 (kuaifan), ot-1 (OwnTracks).
type fakeUnits struct{}

var secrets = map[string]string{"car-1": "s1", "car-2": "s2", "ot-1": "s3"}

func (fakeUnits) Verify(id, secret string) bool { return secret != "" && secrets[id] == secret }
func (fakeUnits) ReportsBy(id string) (api.ReportProtocol, protocol.Status, bool) {
	switch id {
	case "car-1", "car-2":
		return api.ReportKuaifan, protocol.StatusEnroute, true
	case "ot-1":
		return api.ReportOwnTracks, "", true
	}
	return "", "", false
}
func (fakeUnits) Get(id string) (api.Unit, bool) {
	if id == "car-1" {
		return api.Unit{ID: id, Callsign: "湘A-1", Incident: "inc-1"}, true
	}
	return api.Unit{ID: id}, id != ""
}

// fakePipeline validates as ingest does and dedups by (unit, seq).
type fakePipeline struct {
	mu        sync.Mutex
	seen      map[string]bool
	telemetry []protocol.Telemetry
	events    []protocol.Event
	fail      error
	rejected  int
}

func (p *fakePipeline) take(unit string, seq uint64, err error) (fleet.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if p.fail != nil {
		return 0, p.fail
	}
	k := fmt.Sprint(unit, seq)
	if p.seen[k] {
		return fleet.Duplicate, nil
	}
	p.seen[k] = true
	return fleet.Committed, nil
}

func (p *fakePipeline) Submit(_ context.Context, t protocol.Telemetry) (fleet.Result, error) {
	r, err := p.take(t.Unit, t.Seq, t.Validate())
	if err == nil && r == fleet.Committed {
		p.mu.Lock()
		p.telemetry = append(p.telemetry, t)
		p.mu.Unlock()
	}
	return r, err
}

func (p *fakePipeline) SubmitEvent(_ context.Context, e protocol.Event) (fleet.Result, error) {
	r, err := p.take(e.Unit, e.Seq, e.Validate())
	if err == nil && r == fleet.Committed {
		p.mu.Lock()
		p.events = append(p.events, e)
		p.mu.Unlock()
	}
	return r, err
}

func (p *fakePipeline) Rejected(string, error) {
	p.mu.Lock()
	p.rejected++
	p.mu.Unlock()
}

type fakeIncidents struct{}

func (fakeIncidents) Incidents(ids []string) []api.Incident {
	if len(ids) == 1 && ids[0] == "inc-1" {
		return []api.Incident{{ID: "inc-1", Status: api.IncidentDispatched, Lat: 28.2, Lon: 112.9, Kind: "robbery", Priority: 1,
			Assignments: []api.Assignment{{Unit: "car-1", State: api.AssignDispatched, Command: "cmd-1", Dispatched: 1000}}}}
	}
	return nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rig struct {
	s   *Server
	p   *fakePipeline
	clk *clock
	srv *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	clk := &clock{t: time.Now()}
	p := &fakePipeline{seen: make(map[string]bool)}
	s := New(Config{Units: fakeUnits{}, Pipeline: p, Incidents: fakeIncidents{}, Now: clk.Now,
		PingInterval: time.Hour})
	srv := httptest.NewServer(s.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return &rig{s: s, p: p, clk: clk, srv: srv}
}

// do calls the API; token "" sends none.
func (r *rig) do(t *testing.T, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out, resp.Header
}

func (r *rig) signIn(t *testing.T, unit string) string {
	t.Helper()
	code, out, _ := r.do(t, "POST", "/responder/api/session", "", fmt.Sprintf(`{"unit":%q,"secret":%q}`, unit, secrets[unit]))
	if code != http.StatusOK {
		t.Fatalf("sign in %s: %d %v", unit, code, out)
	}
	return out["token"].(string)
}

func TestSignIn(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"good", `{"unit":"car-1","secret":"s1"}`, 200},
		{"wrong secret", `{"unit":"car-2","secret":"nope"}`, 401},
		{"unknown unit", `{"unit":"car-9","secret":"s1"}`, 401},
		{"no secret", `{"unit":"car-2"}`, 401},
		{"owntracks unit", `{"unit":"ot-1","secret":"s3"}`, 403},
		{"not json", `unit=car-1`, 400},
		{"unknown field", `{"unit":"car-1","secret":"s1","x":1}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := r.do(t, "POST", "/responder/api/session", "", tc.body)
			if code != tc.want {
				t.Fatalf("%d %v, want %d", code, out, tc.want)
			}
			if code == 200 && (out["token"] == "" || out["unit"] != "car-1" || out["callsign"] != "湘A-1") {
				t.Errorf("answer %v", out)
			}
		})
	}
}

func TestSignInBackoff(t *testing.T) {
	r := newRig(t)
	try := func(unit, secret string) (int, http.Header) {
		code, _, h := r.do(t, "POST", "/responder/api/session", "", fmt.Sprintf(`{"unit":%q,"secret":%q}`, unit, secret))
		return code, h
	}
	// Three failures are free (typos), across units from one address too.
	for i, unit := range []string{"car-1", "car-2", "car-1"} {
		if code, _ := try(unit, "wrong"); code != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	// The fourth failure sets a wait of 1 s; until then even the right
	// secret waits.
	if code, _ := try("car-1", "wrong"); code != 401 {
		t.Fatalf("4th failure: %d", code)
	}
	code, h := try("car-1", "s1")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "1" {
		t.Fatalf("during the backoff: %d Retry-After %q, want 429 1", code, h.Get("Retry-After"))
	}
	r.clk.Add(1100 * time.Millisecond)
	if code, _ := try("car-1", "wrong"); code != 401 {
		t.Fatalf("5th failure: %d", code)
	}
	if code, h := try("car-1", "s1"); code != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("after the 5th: %d %q, want 429 2 (doubled)", code, h.Get("Retry-After"))
	}
	r.clk.Add(2100 * time.Millisecond)
	if code, _ := try("car-1", "s1"); code != 200 {
		t.Fatalf("after the wait: %d, want 200", code)
	}
	// Success forgets the unit's and the address's failures.
	if code, _ := try("car-2", "s2"); code != 200 {
		t.Fatalf("then car-2: %d", code)
	}
}

func TestReport(t *testing.T) {
	r := newRig(t)
	token := r.signIn(t, "car-1")
	now := time.Now().UnixMilli()
	for _, tc := range []struct {
		name, token, body string
		want              int
		result, field     string
	}{
		{"good", token, fmt.Sprintf(`{"seq":10,"ts":%d,"lat":28.19,"lon":112.98,"acc":5,"speed":3,"heading":360}`, now), 200, "committed", ""},
		{"duplicate seq", token, fmt.Sprintf(`{"seq":10,"ts":%d,"lat":28.19,"lon":112.98}`, now), 200, "duplicate", ""},
		{"own unit named", token, fmt.Sprintf(`{"unit":"car-1","seq":11,"ts":%d,"lat":28.19,"lon":112.98}`, now), 200, "committed", ""},
		{"another unit's", token, fmt.Sprintf(`{"unit":"car-2","seq":12,"ts":%d,"lat":28.19,"lon":112.98}`, now), 403, "", ""},
		{"no seq", token, fmt.Sprintf(`{"ts":%d,"lat":28.19,"lon":112.98}`, now), 400, "", "seq"},
		{"no lat", token, fmt.Sprintf(`{"seq":13,"ts":%d,"lon":112.98}`, now), 400, "", "lat"},
		{"lat 91", token, fmt.Sprintf(`{"seq":14,"ts":%d,"lat":91,"lon":112.98}`, now), 400, "", "lat"},
		{"negative seq", token, fmt.Sprintf(`{"seq":-1,"ts":%d,"lat":1,"lon":1}`, now), 400, "", ""},
		{"unknown field", token, fmt.Sprintf(`{"seq":15,"ts":%d,"lat":1,"lon":1,"alt":3}`, now), 400, "", ""},
		{"no session", "", fmt.Sprintf(`{"seq":16,"ts":%d,"lat":1,"lon":1}`, now), 401, "", ""},
		{"bad token", "nope", fmt.Sprintf(`{"seq":16,"ts":%d,"lat":1,"lon":1}`, now), 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := r.do(t, "POST", "/responder/api/report", tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("%d %v, want %d", code, out, tc.want)
			}
			if tc.result != "" && out["result"] != tc.result {
				t.Errorf("result %v, want %s", out["result"], tc.result)
			}
			if tc.field != "" && out["field"] != tc.field {
				t.Errorf("field %v, want %s (%v)", out["field"], tc.field, out["error"])
			}
		})
	}
	if len(r.p.telemetry) != 2 {
		t.Fatalf("stored %d, want 2", len(r.p.telemetry))
	}
	tm := r.p.telemetry[0]
	if tm.Unit != "car-1" || tm.Status != protocol.StatusEnroute || *tm.HeadingDeg != 0 || *tm.SpeedMPS != 3 || *tm.AccM != 5 {
		t.Errorf("stored %+v", tm)
	}

	// Not stored now: 503 with Retry-After, for the page to send it again.
	r.p.fail = fmt.Errorf("disk: %w", ingest.ErrNotStored)
	code, _, h := r.do(t, "POST", "/responder/api/report", token, fmt.Sprintf(`{"seq":20,"ts":%d,"lat":1,"lon":1}`, now))
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("not stored: %d Retry-After %q", code, h.Get("Retry-After"))
	}
	r.p.fail = fmt.Errorf("report from car-1: %w", ingest.ErrUnknownUnit)
	if code, _, _ := r.do(t, "POST", "/responder/api/report", token, fmt.Sprintf(`{"seq":21,"ts":%d,"lat":1,"lon":1}`, now)); code != 401 {
		t.Errorf("revoked meanwhile: %d, want 401", code)
	}
}

func TestEvents(t *testing.T) {
	r := newRig(t)
	token := r.signIn(t, "car-1")
	now := time.Now().UnixMilli()
	seq := 100
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		{"ack", `"type":"ack","incident":"inc-1"`, 200},
		{"decline with reason", `"type":"decline","incident":"inc-1","reason":"too far"`, 200},
		{"arrived", `"type":"arrived","incident":"inc-1"`, 200},
		{"cleared", `"type":"cleared","incident":"inc-1"`, 200},
		{"sos with position", `"type":"sos","lat":28.1,"lon":112.9`, 200},
		{"sos without", `"type":"sos"`, 200},
		{"status", `"type":"status","status":"busy"`, 200},
		{"ack without incident", `"type":"ack"`, 400},
		{"sos lat only", `"type":"sos","lat":28.1`, 400},
		{"unknown type", `"type":"panic"`, 400},
		{"no type", `"incident":"inc-1"`, 400},
		{"reason too long", `"type":"decline","incident":"inc-1","reason":"` + strings.Repeat("x", protocol.MaxEventReason+1) + `"`, 400},
		{"another unit", `"unit":"car-2","type":"ack","incident":"inc-1"`, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq++
			code, out, _ := r.do(t, "POST", "/responder/api/event", token, fmt.Sprintf(`{"seq":%d,"ts":%d,%s}`, seq, now, tc.extra))
			if code != tc.want {
				t.Fatalf("%d %v, want %d", code, out, tc.want)
			}
		})
	}
	var types []string
	for _, e := range r.p.events {
		if e.Unit != "car-1" {
			t.Errorf("event of %s", e.Unit)
		}
		types = append(types, string(e.Type))
	}
	if got := strings.Join(types, ","); got != "ack,decline,arrived,cleared,sos,sos,status" {
		t.Errorf("events %s", got)
	}
	if e := r.p.events[4]; e.Lat == nil || *e.Lat != 28.1 {
		t.Errorf("sos position %+v", e)
	}
}

func TestSessionExpires(t *testing.T) {
	r := newRig(t)
	token := r.signIn(t, "car-1")
	if code, out, _ := r.do(t, "GET", "/responder/api/me", token, ""); code != 200 || out["assignment"] == nil {
		t.Fatalf("me: %d %v", code, out)
	}
	// Used, it is renewed.
	r.clk.Add(DefaultSessionIdle - time.Minute)
	if code, _, _ := r.do(t, "GET", "/responder/api/me", token, ""); code != 200 {
		t.Fatalf("renewed: %d", code)
	}
	r.clk.Add(DefaultSessionIdle + time.Second)
	if code, _, h := r.do(t, "GET", "/responder/api/me", token, ""); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired: %d", code)
	}
	// Signed out, a token is gone at once.
	token = r.signIn(t, "car-1")
	if code, _, _ := r.do(t, "DELETE", "/responder/api/session", token, ""); code != 204 {
		t.Fatalf("sign out: %d", code)
	}
	if code, _, _ := r.do(t, "GET", "/responder/api/me", token, ""); code != 401 {
		t.Fatalf("after sign-out: %d", code)
	}
}

// nopBus is the bus under the tap.
type nopBus struct{}

func (nopBus) Subscribe(string, broker.Handler) error { return nil }
func (nopBus) Publish(string, []byte, bool) error     { return nil }
func (nopBus) Close() error                           { return nil }

func TestWebsocket(t *testing.T) {
	r := newRig(t)
	token := r.signIn(t, "car-1")
	url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/responder/api/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct{ name, first string }{
		{"no session", `{"token":""}`},
		{"wrong token", `{"token":"nope"}`},
		{"not json", `hello`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte(tc.first)); err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Read(ctx)
			if websocket.CloseStatus(err) != StatusUnauthorized {
				t.Fatalf("read: %v, want close %d", err, StatusUnauthorized)
			}
		})
	}

	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"token":"`+token+`"}`)); err != nil {
		t.Fatal(err)
	}
	var hello Hello
	read := func(v any) {
		t.Helper()
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	read(&hello)
	if hello.Type != "hello" || hello.Assignment == nil || hello.Assignment.Incident != "inc-1" || hello.Assignment.Command != "cmd-1" {
		t.Fatalf("hello %+v", hello)
	}
	// What the hub publishes to the unit's cmd topic reaches it; another
	// unit's and other topics do not.
	bus := r.s.Tap(nopBus{})
	topics := protocol.Topics{}
	dispatchCmd := `{"v":1,"id":"cmd-2","ts":1764403200500,"type":"dispatch","incident":"inc-2","lat":28.1,"lon":112.9,"priority":1}`
	_ = bus.Publish(topics.Unit("car-2", protocol.KindCmd), []byte(dispatchCmd), false)
	_ = bus.Publish(topics.Unit("car-1", protocol.KindAck), []byte(`{"v":1,"seqs":[[1,2]]}`), false)
	_ = bus.Publish(topics.Unit("car-1", protocol.KindCmd), []byte(dispatchCmd), false)
	_ = bus.Publish(topics.Unit("car-1", protocol.KindCmd), []byte(`{"v":1,"id":"cmd-3","ts":1764403200500,"type":"config","config":{"moving_s":1,"stationary_s":1}}`), false)
	var push struct {
		Type    string
		Command protocol.Command
	}
	read(&push)
	if push.Type != "command" || push.Command.ID != "cmd-2" || push.Command.Incident != "inc-2" {
		t.Fatalf("push %+v", push)
	}
	read(&push)
	if push.Command.Type != protocol.CmdConfig {
		t.Fatalf("push %+v", push)
	}
	if code, out, _ := r.do(t, "GET", "/responder/api/me", token, ""); code != 200 || out["config"].(map[string]any)["moving_s"] != 1.0 {
		t.Errorf("config kept for the next hello: %v", out["config"])
	}
}

func TestStatic(t *testing.T) {
	r := newRig(t)
	total := 0
	for _, name := range []string{"", "app.js", "app.css", "manifest.webmanifest", "sw.js", "icon.svg"} {
		req, _ := http.NewRequest("GET", r.srv.URL+"/responder/"+name, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
		if name == "" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("no CSP on the page")
		}
		total += len(raw)
	}
	t.Logf("the app's first load: %d bytes gzipped", total)
	if total > 1<<20 {
		t.Errorf("first load %d bytes, want < 1 MB", total)
	}
	for path, want := range map[string]int{"/responder": 301, "/responder/nope.js": 404, "/responder/api/nope": 404} {
		resp, err := http.DefaultTransport.RoundTrip(must(http.NewRequest("GET", r.srv.URL+path, nil)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Run's end closes the open sockets (going away) and those still waiting
// for their token, and returns once their handlers have.
func TestShutdownClosesSockets(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := New(Config{Units: fakeUnits{}, Pipeline: &fakePipeline{seen: map[string]bool{}}, Incidents: fakeIncidents{}, Now: clk.Now})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(runCtx)
	}()
	token, _ := s.newSession("car-1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/responder/api/ws"
	signedIn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer signedIn.CloseNow()
	_ = signedIn.Write(ctx, websocket.MessageText, []byte(`{"token":"`+token+`"}`))
	if _, _, err := signedIn.Read(ctx); err != nil { // the hello
		t.Fatal(err)
	}
	silent, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	time.Sleep(50 * time.Millisecond) // its handler is waiting for the token
	start := time.Now()
	stop()
	if _, _, err := signedIn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("signed-in socket: %v, want going away", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
}
