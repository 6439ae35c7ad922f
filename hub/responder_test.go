package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// responderCall posts body to the responder API with a session token.
func responderCall(t *testing.T, h *hubtest.Hub, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, h.URL+"/responder/api/"+path, rd)
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
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The responder app's path through a real hub: a phone signs in, reports,
// is dispatched over its websocket, and its answers reach the incident as
// an agent's would.
func TestResponder(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("resp-1", "foot", "armed")

	code, out := responderCall(t, h, "POST", "session", "", map[string]string{"unit": "resp-1", "secret": secret})
	if code != http.StatusOK {
		t.Fatalf("sign in: %d %v", code, out)
	}
	token := out["token"].(string)
	if code, _ := responderCall(t, h, "POST", "session", "", map[string]string{"unit": "resp-1", "secret": "wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", code)
	}

	// A position: the unit moves, and is online.
	seq := uint64(time.Now().UnixMicro())
	report := func(lat, lon float64) (int, map[string]any) {
		seq++
		return responderCall(t, h, "POST", "report", token, map[string]any{"seq": seq, "ts": time.Now().UnixMilli(),
			"lat": lat, "lon": lon, "acc": 8})
	}
	if code, out := report(28.1941, 112.9823); code != http.StatusOK || out["result"] != "committed" {
		t.Fatalf("report: %d %v", code, out)
	}
	var u api.Unit
	if code := h.Do(http.MethodGet, "/api/units/resp-1", nil, &u); code != http.StatusOK || u.Lat == nil || *u.Lat != 28.1941 || !u.Online {
		t.Fatalf("the unit after its report: %d %+v", code, u)
	}
	// The same seq again: confirmed, stored once.
	if code, out := responderCall(t, h, "POST", "report", token, map[string]any{"seq": seq, "ts": time.Now().UnixMilli(),
		"lat": 28.1941, "lon": 112.9823}); code != http.StatusOK || out["result"] != "duplicate" {
		t.Fatalf("resend: %d %v", code, out)
	}

	// The websocket: signed in by its first message.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(h.URL, "http") + "/responder/api/ws"
	c, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"token":"`+token+`"}`)); err != nil {
		t.Fatal(err)
	}
	type message struct {
		Type       string           `json:"type"`
		Command    protocol.Command `json:"command"`
		Assignment *struct {
			Incident string `json:"incident"`
		} `json:"assignment"`
	}
	read := func() message {
		t.Helper()
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("websocket: %v", err)
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := read(); m.Type != "hello" || m.Assignment != nil {
		t.Fatalf("hello %+v", m)
	}

	// A dispatch through the admin API reaches the socket.
	var inc api.Incident
	if code := h.Do(http.MethodPost, "/api/incidents", api.NewIncident{Lat: 28.196, Lon: 112.977, Kind: "theft",
		Priority: 3, Summary: "bike stolen"}, &inc); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if !slices.ContainsFunc(inc.Assignments, func(a api.Assignment) bool { return a.Unit == "resp-1" }) {
		if code := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", api.Assign{Unit: "resp-1"}, &inc); code != http.StatusOK {
			t.Fatalf("assign: %d", code)
		}
	}
	var dispatched protocol.Command
	for dispatched.Type != protocol.CmdDispatch {
		m := read()
		if m.Type == "command" {
			dispatched = m.Command
		}
	}
	if dispatched.Incident != inc.ID || dispatched.Kind != "theft" {
		t.Fatalf("dispatch %+v, want incident %s", dispatched, inc.ID)
	}
	// And a page that connects now gets it in its hello.
	if code, out := responderCall(t, h, "GET", "me", token, nil); code != http.StatusOK ||
		out["assignment"] == nil || out["assignment"].(map[string]any)["incident"] != inc.ID {
		t.Fatalf("me: %d %v", code, out)
	}

	// The answers reach the timeline.
	for _, typ := range []string{"ack", "arrived", "cleared"} {
		seq++
		code, out := responderCall(t, h, "POST", "event", token, map[string]any{"seq": seq, "ts": time.Now().UnixMilli(),
			"type": typ, "incident": inc.ID})
		if code != http.StatusOK {
			t.Fatalf("%s: %d %v", typ, code, out)
		}
		hubtest.WaitFor(t, 10*time.Second, func() error {
			var got api.Incident
			h.Do(http.MethodGet, "/api/incidents/"+inc.ID, nil, &got)
			for _, e := range got.Timeline {
				if e.Type == typ && e.Unit == "resp-1" {
					return nil
				}
			}
			return fmt.Errorf("no %s of resp-1 on the timeline", typ)
		})
	}

	// Report → confirmation, as the page sees it.
	const n = 200
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if code, out := report(28.19+float64(i)*1e-5, 112.98); code != http.StatusOK {
			t.Fatalf("report %d: %d %v", i, code, out)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100-1]
	t.Logf("report → confirmation over %d reports: p50 %v, p99 %v, max %v", n, p50, p99, lat[n-1])
	if p99 > 500*time.Millisecond {
		t.Errorf("p99 %v, want < 500 ms", p99)
	}
	sizes, total := h.ResponderSizes(), 0
	for _, s := range sizes {
		total += s
	}
	t.Logf("the app gzipped: %d bytes in all %v", total, sizes)
}
