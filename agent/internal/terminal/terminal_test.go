package terminal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// start runs a Server over o on 127.0.0.1:0 (unless cfg says otherwise) until
// the test ends, checks that Run then returns nil, and returns a Client for it.
func start(t *testing.T, cfg Config, o Officer) (*Server, *Client) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr := s.Addr()
	if addr == "" {
		cancel()
		t.Fatalf("Run did not listen: %v", <-done)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(func() {
		// The client's pooled connections first: one dialled but never used
		// is a new connection to the server, which Shutdown waits for (5 s,
		// as long as Run gives it) rather than closing as idle.
		hc.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return s, &Client{BaseURL: "http://" + addr, Token: cfg.Token, HTTP: hc}
}

var received = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func incident(id string) Assignment {
	return Assignment{
		Incident: id, Lat: 28.2282, Lon: 112.9388, Priority: 1,
		Kind: "theft", Summary: "bag snatched near the station", Received: received,
	}
}

// TestRoutes drives every route through a real listener with the Client,
// against the in-memory Officer, and checks the answer and the state after.
func TestRoutes(t *testing.T) {
	idle := func() *memOfficer { return newOfficer() }
	dispatched := func() *memOfficer { return newOfficer().dispatch(incident("INC-1")) }
	enroute := func() *memOfficer { return dispatched().in(StateEnroute) }
	onScene := func() *memOfficer { return dispatched().in(StateOnScene) }
	agentFault := errors.New("queue: disk full")

	ack := func(id string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { return c.Ack(ctx, id) }
	}
	decline := func(id string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { return c.Decline(ctx, id, "too far") }
	}
	arrived := func(id string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { return c.Arrived(ctx, id) }
	}
	cleared := func(id string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { return c.Cleared(ctx, id) }
	}
	setStatus := func(s protocol.Status) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { return c.SetStatus(ctx, s) }
	}
	wantAssignment := func(want Assignment, wantOK bool) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error {
			got, ok, err := c.Assignment(ctx)
			if err != nil {
				return err
			}
			if ok != wantOK || got.Incident != want.Incident || got.State != want.State ||
				got.Lat != want.Lat || got.Lon != want.Lon || got.Priority != want.Priority ||
				got.Kind != want.Kind || got.Summary != want.Summary || !got.Received.Equal(want.Received) {
				t.Errorf("Assignment = %+v, %v; want %+v, %v", got, ok, want, wantOK)
			}
			return nil
		}
	}
	wantStatus := func(want protocol.Status) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error {
			got, err := c.Status(ctx)
			if err == nil && got != want {
				t.Errorf("Status = %q, want %q", got, want)
			}
			return err
		}
	}
	withState := func(a Assignment, state string) Assignment { a.State = state; return a }
	sos := func(ctx context.Context, c *Client) error {
		got, err := c.SOS(ctx)
		if err == nil && got.Seq != 1 {
			t.Errorf("SOS = %+v, want seq 1", got)
		}
		return err
	}

	tests := []struct {
		name    string
		officer func() *memOfficer
		call    func(context.Context, *Client) error
		code    int   // 0: success, else the StatusError's code
		is      error // what the error must be, when code is set
		status  protocol.Status
		state   string // the assignment's state after; "" for none
	}{
		{"assignment none (204)", idle, wantAssignment(Assignment{}, false), 0, nil, protocol.StatusAvailable, ""},
		{"assignment dispatched", dispatched, wantAssignment(withState(incident("INC-1"), StateDispatched), true), 0, nil, protocol.StatusAvailable, StateDispatched},
		{"assignment on scene", onScene, wantAssignment(withState(incident("INC-1"), StateOnScene), true), 0, nil, protocol.StatusOnScene, StateOnScene},
		{"status", func() *memOfficer { return idle().withStatus(protocol.StatusBusy) }, wantStatus(protocol.StatusBusy), 0, nil, protocol.StatusBusy, ""},

		{"set busy", idle, setStatus(protocol.StatusBusy), 0, nil, protocol.StatusBusy, ""},
		{"set off duty", idle, setStatus(protocol.StatusOffDuty), 0, nil, protocol.StatusOffDuty, ""},
		{"set available", func() *memOfficer { return idle().withStatus(protocol.StatusOffDuty) }, setStatus(protocol.StatusAvailable), 0, nil, protocol.StatusAvailable, ""},
		{"set unknown status", idle, setStatus("napping"), 400, nil, protocol.StatusAvailable, ""},
		{"set empty status", idle, setStatus(""), 400, nil, protocol.StatusAvailable, ""},
		{"set enroute by hand", idle, setStatus(protocol.StatusEnroute), 409, ErrWrongState, protocol.StatusAvailable, ""},
		{"set available while assigned", enroute, setStatus(protocol.StatusAvailable), 409, ErrWrongState, protocol.StatusEnroute, StateEnroute},
		{"set status, agent fault", func() *memOfficer { return idle().failing(agentFault) }, setStatus(protocol.StatusBusy), 500, nil, protocol.StatusAvailable, ""},

		{"ack", dispatched, ack("INC-1"), 0, nil, protocol.StatusEnroute, StateEnroute},
		{"ack twice", enroute, ack("INC-1"), 409, ErrWrongState, protocol.StatusEnroute, StateEnroute},
		{"ack without assignment", idle, ack("INC-1"), 404, ErrNoAssignment, protocol.StatusAvailable, ""},
		{"ack another incident", dispatched, ack("INC-2"), 409, ErrWrongState, protocol.StatusAvailable, StateDispatched},
		{"ack, agent fault", func() *memOfficer { return dispatched().failing(agentFault) }, ack("INC-1"), 500, nil, protocol.StatusAvailable, StateDispatched},

		{"decline dispatched", dispatched, decline("INC-1"), 0, nil, protocol.StatusAvailable, ""},
		{"decline enroute", enroute, decline("INC-1"), 0, nil, protocol.StatusAvailable, ""},
		{"decline on scene", onScene, decline("INC-1"), 409, ErrWrongState, protocol.StatusOnScene, StateOnScene},
		{"decline without assignment", idle, decline("INC-1"), 404, ErrNoAssignment, protocol.StatusAvailable, ""},

		{"arrived", enroute, arrived("INC-1"), 0, nil, protocol.StatusOnScene, StateOnScene},
		{"arrived before ack", dispatched, arrived("INC-1"), 409, ErrWrongState, protocol.StatusAvailable, StateDispatched},
		{"arrived another incident", enroute, arrived("INC-9"), 409, ErrWrongState, protocol.StatusEnroute, StateEnroute},
		{"arrived without assignment", idle, arrived("INC-1"), 404, ErrNoAssignment, protocol.StatusAvailable, ""},

		{"cleared", onScene, cleared("INC-1"), 0, nil, protocol.StatusAvailable, ""},
		{"cleared before arrived", enroute, cleared("INC-1"), 409, ErrWrongState, protocol.StatusEnroute, StateEnroute},
		{"cleared without assignment", idle, cleared("INC-1"), 404, ErrNoAssignment, protocol.StatusAvailable, ""},

		{"sos", idle, sos, 0, nil, protocol.StatusAvailable, ""},
		{"sos while on scene", onScene, sos, 0, nil, protocol.StatusOnScene, StateOnScene},
		{"sos, agent fault", func() *memOfficer { return idle().failing(agentFault) }, sos, 500, nil, protocol.StatusAvailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.officer()
			_, c := start(t, Config{}, o)
			err := tt.call(t.Context(), c)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
			} else {
				var se *StatusError
				if !errors.As(err, &se) || se.Code != tt.code || se.Message == "" ||
					!strings.Contains(err.Error(), fmt.Sprint(tt.code)) {
					t.Fatalf("err = %v, want a %d answer with a message", err, tt.code)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("err = %v, want errors.Is %v", err, tt.is)
				}
				if tt.code == 500 && strings.Contains(se.Message, "disk") {
					t.Errorf("500 shows the agent's error %q", se.Message)
				}
			}
			if got := o.Status(); got != tt.status {
				t.Errorf("status after = %q, want %q", got, tt.status)
			}
			a, ok := o.Assignment()
			if ok != (tt.state != "") || a.State != tt.state {
				t.Errorf("assignment after = %+v, %v; want state %q", a, ok, tt.state)
			}
		})
	}
}

// TestLifecycle walks one dispatch end to end as an officer would.
func TestLifecycle(t *testing.T) {
	o := newOfficer()
	_, c := start(t, Config{}, o)
	ctx := t.Context()

	if _, ok, err := c.Assignment(ctx); err != nil || ok {
		t.Fatalf("Assignment before dispatch = %v, %v", ok, err)
	}
	o.dispatch(incident("INC-7"))
	steps := []struct {
		do     func(context.Context, string) error
		state  string
		status protocol.Status
	}{
		{c.Ack, StateEnroute, protocol.StatusEnroute},
		{c.Arrived, StateOnScene, protocol.StatusOnScene},
		{c.Cleared, "", protocol.StatusAvailable},
	}
	for i, st := range steps {
		if err := st.do(ctx, "INC-7"); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		a, ok, err := c.Assignment(ctx)
		if err != nil || ok != (st.state != "") || a.State != st.state {
			t.Fatalf("step %d: Assignment = %+v, %v, %v; want state %q", i, a, ok, err, st.state)
		}
		if s, err := c.Status(ctx); err != nil || s != st.status {
			t.Fatalf("step %d: Status = %q, %v; want %q", i, s, err, st.status)
		}
	}
	if err := c.Cleared(ctx, "INC-7"); !errors.Is(err, ErrNoAssignment) {
		t.Fatalf("Cleared again = %v, want ErrNoAssignment", err)
	}
}

type rawCase struct {
	name    string
	method  string
	path    string
	header  map[string]string
	body    string
	code    int
	allow   string // the Allow header a 405 must carry
	resp    string // when set, the exact answer body (trimmed)
	changed bool   // the officer's status must have changed
}

// send makes one raw request; the Client cannot send most of these.
func send(t *testing.T, base string, tc rawCase) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
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
	return resp, string(b)
}

// checkRaw checks a raw answer: its code, and for an error a JSON
// {"error": "…"} with a message.
func checkRaw(t *testing.T, tc rawCase, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != tc.code {
		t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
	}
	if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
		t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tc.allow)
	}
	if tc.resp != "" && strings.TrimSpace(body) != tc.resp {
		t.Errorf("body = %s, want %s", body, tc.resp)
	}
	if tc.code >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var eb map[string]string
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb["error"] == "" || len(eb) != 1 {
			t.Errorf("error body = %q, want {\"error\": \"…\"}", body)
		}
	}
}

// TestBadRequests covers what a broken or hostile caller can send: every
// answer is JSON with the right status, and none changes anything.
func TestBadRequests(t *testing.T) {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []rawCase{
		{name: "healthz", method: "GET", path: "/v1/healthz", code: 200, resp: `{"ok":true}`},
		{name: "status", method: "GET", path: "/v1/status", code: 200, resp: `{"status":"available"}`},
		{name: "HEAD status", method: "HEAD", path: "/v1/status", code: 200},
		{name: "put without content type", method: "PUT", path: "/v1/status", body: `{"status":"busy"}`, code: 200, resp: `{"status":"busy"}`, changed: true},
		{name: "put json charset", method: "PUT", path: "/v1/status", header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: `{"status":"busy"}`, code: 200, changed: true},

		{name: "bad JSON", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":`, code: 400},
		{name: "not an object", method: "PUT", path: "/v1/status", header: jsonCT, body: `["busy"]`, code: 400},
		{name: "unknown field", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":"busy","unit":"P-1"}`, code: 400},
		{name: "trailing data", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":"busy"}{"status":"off_duty"}`, code: 400},
		{name: "empty body", method: "PUT", path: "/v1/status", header: jsonCT, code: 400},
		{name: "null", method: "PUT", path: "/v1/status", header: jsonCT, body: `null`, code: 400},
		{name: "wrong case", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":"BUSY"}`, code: 400},
		{name: "status a number", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":3}`, code: 400},
		{name: "too big", method: "PUT", path: "/v1/status", header: jsonCT, body: `{"status":"busy"` + strings.Repeat(" ", maxBody) + `}`, code: 413},
		{name: "form", method: "PUT", path: "/v1/status", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: `status=busy`, code: 415},
		{name: "text", method: "PUT", path: "/v1/status", header: map[string]string{"Content-Type": "text/plain"}, body: `{"status":"busy"}`, code: 415},

		{name: "incident id with space", method: "POST", path: "/v1/incidents/INC%201/ack", code: 400},
		{name: "incident id with slash", method: "POST", path: "/v1/incidents/a%2Fb/ack", code: 400},
		{name: "incident id with dot", method: "POST", path: "/v1/incidents/a.b/decline", code: 400},
		{name: "incident id too long", method: "POST", path: "/v1/incidents/" + strings.Repeat("x", protocol.MaxIncidentIDLen+1) + "/arrived", code: 400},
		{name: "unknown action", method: "POST", path: "/v1/incidents/INC-1/explode", code: 404},
		{name: "unknown action, GET", method: "GET", path: "/v1/incidents/INC-1/explode", code: 404},
		{name: "unknown route", method: "GET", path: "/v2/status", code: 404},
		{name: "root", method: "GET", path: "/", code: 404},

		{name: "GET an action", method: "GET", path: "/v1/incidents/INC-1/ack", code: 405, allow: "POST"},
		{name: "DELETE status", method: "DELETE", path: "/v1/status", code: 405, allow: "GET, HEAD, PUT"},
		{name: "POST status", method: "POST", path: "/v1/status", header: jsonCT, body: `{"status":"busy"}`, code: 405, allow: "GET, HEAD, PUT"},
		{name: "POST assignment", method: "POST", path: "/v1/assignment", code: 405, allow: "GET, HEAD"},
		{name: "PUT healthz", method: "PUT", path: "/v1/healthz", code: 405, allow: "GET, HEAD"},

		// A web page on the device: DNS rebinding and cross-site forms.
		{name: "foreign Host", method: "GET", path: "/v1/status", header: map[string]string{"Host": "evil.example:8765"}, code: 403},
		{name: "foreign Host, healthz", method: "GET", path: "/v1/healthz", header: map[string]string{"Host": "evil.example"}, code: 403},
		{name: "cross-site PUT", method: "PUT", path: "/v1/status", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, body: `{"status":"off_duty"}`, code: 403},
		{name: "cross-origin POST", method: "POST", path: "/v1/incidents/INC-1/decline", header: map[string]string{"Origin": "http://evil.example"}, code: 403},
		{name: "same-origin PUT", method: "PUT", path: "/v1/status", header: map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}, body: `{"status":"busy"}`, code: 200, changed: true},
		{name: "localhost Host", method: "GET", path: "/v1/status", header: map[string]string{"Host": "localhost:8765"}, code: 200},
		{name: "Host without port", method: "GET", path: "/v1/status", header: map[string]string{"Host": "127.0.0.1"}, code: 200},
		{name: "IPv6 loopback Host", method: "GET", path: "/v1/status", header: map[string]string{"Host": "[::1]:8765"}, code: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A refused request must leave a dispatched unit as it was (a
			// decline that got through would end the assignment); a status
			// change that should go through needs a unit without one.
			o := newOfficer()
			if !tc.changed {
				o.dispatch(incident("INC-1"))
			}
			_, c := start(t, Config{}, o)
			resp, body := send(t, c.BaseURL, tc)
			checkRaw(t, tc, resp, body)
			if changed := o.Status() != protocol.StatusAvailable; changed != tc.changed {
				t.Errorf("status changed to %q: %v, want %v", o.Status(), changed, tc.changed)
			}
			if a, ok := o.Assignment(); !tc.changed && (!ok || a.State != StateDispatched) {
				t.Errorf("assignment changed: %+v, %v", a, ok)
			}
		})
	}
}

// TestToken: with a Token, every route but healthz needs it, and a caller
// without it learns nothing, not even which routes exist.
func TestToken(t *testing.T) {
	const token = "p7-terminal-2f9c1e"
	o := newOfficer().dispatch(incident("INC-1"))
	_, c := start(t, Config{Token: token}, o)
	tests := []rawCase{
		{name: "no token", method: "GET", path: "/v1/status", code: 401},
		{name: "wrong token", method: "GET", path: "/v1/assignment", header: map[string]string{"Authorization": "Bearer nope"}, code: 401},
		{name: "token plus", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer " + token + "x"}, code: 401},
		{name: "token prefix", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer " + token[:len(token)-1]}, code: 401},
		{name: "basic scheme", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Basic " + token}, code: 401},
		{name: "bare token", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": token}, code: 401},
		{name: "no token, action", method: "POST", path: "/v1/incidents/INC-1/decline", code: 401},
		{name: "no token, unknown route", method: "GET", path: "/v1/secret", code: 401},
		{name: "no token, healthz", method: "GET", path: "/v1/healthz", code: 200},
		{name: "token", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer " + token}, code: 200},
		{name: "lower-case scheme", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "bearer " + token}, code: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, c.BaseURL, tc)
			checkRaw(t, tc, resp, body)
			if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if a, ok := o.Assignment(); !ok || a.State != StateDispatched {
		t.Fatalf("a refused request changed the assignment: %+v, %v", a, ok)
	}

	ctx := t.Context()
	for _, bad := range []string{"", "wrong"} {
		bc := &Client{BaseURL: c.BaseURL, Token: bad, HTTP: c.HTTP}
		if err := bc.Ack(ctx, "INC-1"); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Ack with token %q = %v, want ErrUnauthorized", bad, err)
		}
		if _, err := bc.Status(ctx); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Status with token %q = %v, want ErrUnauthorized", bad, err)
		}
	}
	if err := c.Ack(ctx, "INC-1"); err != nil {
		t.Fatalf("Ack with the token: %v", err)
	}
	if s, err := c.Status(ctx); err != nil || s != protocol.StatusEnroute {
		t.Fatalf("Status with the token = %q, %v", s, err)
	}
}

// TestAllowRemote: off loopback any Host is fine, and the token is required.
func TestAllowRemote(t *testing.T) {
	const token = "vehicle-lan-0123456789"
	_, c := start(t, Config{Addr: "127.0.0.1:0", AllowRemote: true, Token: token}, newOfficer())
	for _, tc := range []rawCase{
		{method: "GET", path: "/v1/status", header: map[string]string{"Host": "terminal.p7.lan:8765"}, code: 401},
		{method: "GET", path: "/v1/status", header: map[string]string{"Host": "terminal.p7.lan:8765", "Authorization": "Bearer " + token}, code: 200},
	} {
		resp, body := send(t, c.BaseURL, tc)
		checkRaw(t, tc, resp, body)
	}
}

// TestNew: the address and token rules.
func TestNew(t *testing.T) {
	const long = "0123456789abcdef"
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", Config{}, true},
		{"IPv4 loopback", Config{Addr: "127.0.0.1:8765"}, true},
		{"other 127/8", Config{Addr: "127.0.0.53:0"}, true},
		{"localhost", Config{Addr: "localhost:0"}, true},
		{"IPv6 loopback", Config{Addr: "[::1]:0"}, true},
		{"IPv4-mapped loopback", Config{Addr: "[::ffff:127.0.0.1]:0"}, true},
		{"token", Config{Token: "short"}, true},

		{"all interfaces", Config{Addr: ":8765"}, false},
		{"0.0.0.0", Config{Addr: "0.0.0.0:8765"}, false},
		{"IPv6 any", Config{Addr: "[::]:8765"}, false},
		{"LAN address", Config{Addr: "192.168.1.20:8765"}, false},
		{"host name", Config{Addr: "terminal.local:8765"}, false},
		{"LAN address with token only", Config{Addr: "192.168.1.20:8765", Token: long}, false},
		{"no port", Config{Addr: "127.0.0.1"}, false},
		{"named port", Config{Addr: "127.0.0.1:http"}, false},
		{"port too big", Config{Addr: "127.0.0.1:65536"}, false},
		{"token with space", Config{Token: "a b"}, false},
		{"token with newline", Config{Token: "ab\r\nX-Evil: 1"}, false},

		{"remote without token", Config{Addr: "0.0.0.0:8765", AllowRemote: true}, false},
		{"remote with short token", Config{Addr: "0.0.0.0:8765", AllowRemote: true, Token: long[:MinRemoteTokenLen-1]}, false},
		{"remote with token", Config{Addr: "0.0.0.0:8765", AllowRemote: true, Token: long}, true},
		{"remote LAN with token", Config{Addr: "192.168.1.20:8765", AllowRemote: true, Token: long}, true},
		{"loopback, AllowRemote without token", Config{Addr: "127.0.0.1:0", AllowRemote: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, newOfficer())
			if tt.ok != (err == nil) {
				t.Fatalf("New(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if err == nil && s == nil {
				t.Fatal("New returned nil, nil")
			}
		})
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New with a nil Officer succeeded")
	}
}

// TestRunStopsOnCancel: Run serves until its context ends, then returns nil
// and the port is closed; leakcheck (TestMain) sees that nothing is left.
func TestRunStopsOnCancel(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0"}, newOfficer())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	c := &Client{BaseURL: "http://" + s.Addr(), HTTP: hc}
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if err := s.Run(ctx); err == nil {
		t.Error("a second Run succeeded")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatal("still listening after Run returned")
	}
}

func TestRunCannotListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Addr: ln.Addr().String()}, newOfficer())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil {
		t.Fatal("Run on a port in use succeeded")
	}
	if a := s.Addr(); a != "" {
		t.Fatalf("Addr after a failed Run = %q, want \"\"", a)
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0"}, newOfficer())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if a := s.Addr(); a != "" {
		t.Fatalf("Addr = %q, want \"\"", a)
	}
}

// TestHandler: the handler works without a listener, checks included.
func TestHandler(t *testing.T) {
	s, err := New(Config{Token: "tok"}, newOfficer())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, auth string
		code       int
	}{
		{"127.0.0.1:8765", "Bearer tok", 200},
		{"127.0.0.1:8765", "", 401},
		{"example.com", "Bearer tok", 403},
	} {
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.Host = tc.host
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("Host %s, auth %q: %d %s, want %d", tc.host, tc.auth, rec.Code, rec.Body, tc.code)
		}
	}
}

// TestClientChecksIncident: ids the path could not carry are refused before
// any request.
func TestClientChecksIncident(t *testing.T) {
	c := &Client{BaseURL: "http://127.0.0.1:1"} // nothing listens; no request is made
	for _, id := range []string{"", ".", "..", "a/b", strings.Repeat("x", protocol.MaxIncidentIDLen+1)} {
		err := c.Ack(t.Context(), id)
		var se *StatusError
		if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), "bad incident id") {
			t.Errorf("Ack(%q) = %v, want a local bad incident id error", id, err)
		}
	}
}

// TestConcurrent: the terminal under many callers while the agent moves the
// assignment on its own (run with -race).
func TestConcurrent(t *testing.T) {
	o := newOfficer()
	_, c := start(t, Config{}, o)
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // the hub dispatching and the officer answering, round after round
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o.dispatch(incident("INC-1"))
			if err := c.Ack(ctx, "INC-1"); err != nil {
				t.Errorf("Ack: %v", err)
				return
			}
			if err := c.Decline(ctx, "INC-1", ""); err != nil {
				t.Errorf("Decline: %v", err)
				return
			}
		}
	})
	var readers sync.WaitGroup
	for range 8 {
		readers.Go(func() {
			for range 25 {
				if _, _, err := c.Assignment(ctx); err != nil {
					t.Errorf("Assignment: %v", err)
					return
				}
				if _, err := c.Status(ctx); err != nil {
					t.Errorf("Status: %v", err)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

// POST /v1/sos takes no body, or {}; anything else is refused, and so are
// other methods.
func TestSOSRoute(t *testing.T) {
	o := newOfficer()
	_, c := start(t, Config{}, o)
	for _, tc := range []struct {
		method, body, ctype string
		code                int
	}{
		{http.MethodPost, "", "", http.StatusAccepted},
		{http.MethodPost, "{}", "application/json", http.StatusAccepted},
		{http.MethodPost, `{"why":"x"}`, "application/json", http.StatusBadRequest},
		{http.MethodPost, "{}", "text/plain", http.StatusUnsupportedMediaType},
		{http.MethodGet, "", "", http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, c.BaseURL+"/v1/sos", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %q (%s): %d, want %d", tc.method, tc.body, tc.ctype, resp.StatusCode, tc.code)
		}
	}
	if o.sos != 2 {
		t.Errorf("%d sos raised, want 2", o.sos)
	}
}
