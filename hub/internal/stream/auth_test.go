package stream

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestAuth(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	const ttl = 30 * time.Second
	f := newFixture(t, Config{Now: clock.Now, TicketTTL: ttl})
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	withTicket := func(tk string) string { return f.ws + "?ticket=" + url.QueryEscape(tk) }

	reused, _ := f.s.Ticket()
	cases := []struct {
		name   string
		url    func() string // default f.ws
		header http.Header
		want   int
		says   string // part of the error
	}{
		// No Origin header passes the Origin check: the auth must refuse.
		{name: "nothing", want: http.StatusUnauthorized, says: "required"},
		{name: "wrong Bearer", header: bearer("nope"), want: http.StatusUnauthorized, says: "wrong Bearer"},
		{name: "Basic instead of Bearer", header: http.Header{"Authorization": {"Basic " + testToken}}, want: http.StatusUnauthorized},
		{name: "Bearer", header: bearer(testToken), want: http.StatusSwitchingProtocols},
		{name: "admin token in the URL", url: func() string { return f.ws + "?token=" + testToken }, want: http.StatusUnauthorized, says: "not accepted in the URL"},
		{name: "admin token as a ticket", url: func() string { return withTicket(testToken) }, want: http.StatusUnauthorized, says: "ticket"},
		{name: "ticket", url: func() string { tk, _ := f.s.Ticket(); return withTicket(tk) }, want: http.StatusSwitchingProtocols},
		{name: "ticket, first use", url: func() string { return withTicket(reused) }, want: http.StatusSwitchingProtocols},
		{name: "ticket, second use", url: func() string { return withTicket(reused) }, want: http.StatusUnauthorized, says: "used"},
		{name: "ticket just before it expires", url: func() string {
			tk, _ := f.s.Ticket()
			clock.Advance(ttl - time.Second)
			return withTicket(tk)
		}, want: http.StatusSwitchingProtocols},
		{name: "expired ticket", url: func() string {
			tk, _ := f.s.Ticket()
			clock.Advance(ttl)
			return withTicket(tk)
		}, want: http.StatusUnauthorized, says: "expired"},
		{name: "made-up ticket", url: func() string { return withTicket(strings.Repeat("A", 43)) }, want: http.StatusUnauthorized},
		{name: "empty ticket", url: func() string { return withTicket("") }, want: http.StatusUnauthorized},
	}
	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := f.ws
			if tc.url != nil {
				u = tc.url()
			}
			c, resp, err := f.dial(u, dialOpts{header: tc.header, noAuth: true})
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tc.want)
			}
			if tc.want == http.StatusSwitchingProtocols {
				if g := next(t, c, 2*time.Second); g.Type != kindSnapshot {
					t.Errorf("first frame %v", g)
				}
				c.Close(websocket.StatusNormalClosure, "")
				return
			}
			refused++
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			body, _ := io.ReadAll(resp.Body)
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.says) {
				t.Errorf("body %q, want a JSON error saying %q", body, tc.says)
			}
		})
	}
	if got := f.metric("kuaifan_stream_refused_total", "reason", "auth"); got != float64(refused) {
		t.Errorf("refused_total{reason=auth} %v, want %d", got, refused)
	}
}

func TestOrigin(t *testing.T) {
	f := newFixture(t, Config{OriginPatterns: []string{"dash.example.org", "https://*.kuaifan.test", "[bad"}})
	host := f.srv.Listener.Addr().String()
	cases := []struct {
		origin string
		noAuth bool
		want   int
	}{
		{origin: "", want: http.StatusSwitchingProtocols}, // a tool, not a browser
		{origin: "http://" + host, want: http.StatusSwitchingProtocols},
		{origin: "https://" + host, want: http.StatusSwitchingProtocols}, // coder/websocket compares hosts only
		{origin: "https://evil.example", want: http.StatusForbidden},
		{origin: "https://evil.example", noAuth: true, want: http.StatusForbidden},
		{origin: "http://" + host + ".evil.example", want: http.StatusForbidden},
		{origin: "https://dash.example.org", want: http.StatusSwitchingProtocols},
		{origin: "http://dash.example.org", want: http.StatusSwitchingProtocols}, // a host pattern ignores the scheme
		{origin: "https://ops.kuaifan.test", want: http.StatusSwitchingProtocols},
		{origin: "http://ops.kuaifan.test", want: http.StatusForbidden}, // a pattern with a scheme does not
		{origin: "null", want: http.StatusForbidden},                    // sandboxed pages, file://
		{origin: "https://[bad", want: http.StatusForbidden},
	}
	refused := 0
	for _, tc := range cases {
		name := tc.origin
		if name == "" {
			name = "no Origin"
		}
		if tc.noAuth {
			name += " without credentials"
		}
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := f.dial(f.ws, dialOpts{header: h, noAuth: tc.noAuth})
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tc.want)
			}
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "")
			} else {
				refused++
			}
		})
	}
	if got := f.metric("kuaifan_stream_refused_total", "reason", "origin"); got != float64(refused) {
		t.Errorf("refused_total{reason=origin} %v, want %d", got, refused)
	}
}

func TestNotAWebsocket(t *testing.T) {
	f := newFixture(t, Config{})
	tk, _ := f.s.Ticket()
	cases := []struct {
		method string
		want   int
	}{
		{http.MethodGet, http.StatusUpgradeRequired},
		{http.MethodPost, http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.srv.URL+"/ws?ticket="+tk, nil)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// The ticket was not spent on requests that could never upgrade.
	c, _, err := f.dial(f.ws+"?ticket="+tk, dialOpts{noAuth: true})
	if err != nil {
		t.Fatalf("ticket refused after plain requests: %v", err)
	}
	c.CloseNow()
	f.srv.Client().CloseIdleConnections()
}
