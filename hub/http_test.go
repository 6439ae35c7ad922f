package hub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
)

// closedBy reads from c until it is closed (true) or d passes (false).
func closedBy(c net.Conn, r io.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// A keep-alive connection left idle is closed by the hub after
// HTTPIdleTimeout, not kept forever.
func TestHTTPIdleConnectionIsClosed(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.HTTPIdleTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", h.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp, _, err := rawGet(c, "/healthz"); err != nil || resp.Close {
		t.Fatalf("healthz: %v, closing %v; want 200 keeping the connection", err, resp != nil && resp.Close)
	}
	start := time.Now()
	if !closedBy(c, c, 3*time.Second) {
		t.Fatal("an idle keep-alive connection is still open after 3 s")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

// The server's read and write timeouts do not cut the live stream: a
// websocket outlives them and keeps receiving frames.
func TestHTTPTimeoutsSpareTheStream(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := hubtest.Start(t, func(c *hub.Config) {
		c.HTTPReadTimeout, c.HTTPWriteTimeout, c.HTTPIdleTimeout = timeout, timeout, timeout
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	header := http.Header{"Authorization": {"Bearer " + h.AdminToken()}}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for i := range 3 {
		time.Sleep(2 * timeout) // past both deadlines the server would have set
		id := fmt.Sprintf("car-%d", i)
		h.Enrol(id, "car")
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", time.Duration(i+1)*2*timeout, err)
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatal(err)
			}
			if f.Type == "delta" && len(f.Units) > 0 && strings.Contains(string(f.Units[0]), `"id":"`+id+`"`) {
				break
			}
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// One address may hold at most HTTPMaxConnsPerIP connections; the hub
// closes the rest at once and counts them.
func TestHTTPConnectionsPerAddress(t *testing.T) {
	const limit = 4
	h := hubtest.Start(t, func(c *hub.Config) { c.HTTPMaxConnsPerIP = limit })
	// hubtest's health check left a connection in the default client's
	// pool; it counts until the hub has seen it closed.
	http.DefaultClient.CloseIdleConnections()

	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	hubtest.WaitFor(t, 5*time.Second, func() error {
		var conns []net.Conn
		for range 2 * limit {
			c, err := net.Dial("tcp", h.HTTPAddr())
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		time.Sleep(200 * time.Millisecond) // the hub accepts, or refuses, all of them
		open = open[:0]
		refused := 0
		for _, c := range conns {
			if closedBy(c, c, 50*time.Millisecond) {
				refused++
				c.Close()
			} else {
				open = append(open, c)
			}
		}
		if n := len(open); n != limit || refused != limit {
			for _, c := range open {
				c.Close()
			}
			open = open[:0]
			return fmt.Errorf("%d connections open, %d refused; want %d and %d", n, refused, limit, limit)
		}
		return nil
	})
	// The connections kept work; closing one makes room for another.
	// The connections kept work; once they are closed there is room again.
	if _, body, err := rawGet(open[0], "/healthz"); err != nil || !strings.Contains(body, "ok") {
		t.Errorf("healthz on a kept connection: %q, %v", body, err)
	}
	for _, c := range open {
		c.Close()
	}
	// The hub frees the places as it sees the closes: until then a new
	// connection may still be refused (and counted).
	hubtest.WaitFor(t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", h.HTTPAddr())
		if err != nil {
			return err
		}
		defer c.Close()
		_, body, err := rawGet(c, "/metrics")
		if err != nil {
			return err
		}
		var got float64
		for line := range strings.Lines(body) {
			if _, err := fmt.Sscanf(line, "kuaifan_http_conn_refused_total %g", &got); err == nil {
				break
			}
		}
		if got < limit {
			return fmt.Errorf("kuaifan_http_conn_refused_total %v, want at least %d", got, limit)
		}
		return nil
	})
}

// rawGet sends one GET on c and reads the answer, an error unless a 200.
// c must have nothing unread from an earlier answer.
func rawGet(c net.Conn, path string) (*http.Response, string, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: kuaifan\r\n\r\n", path); err != nil {
		return nil, "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, string(b), err
}

// Errors quote what the client sent only in part: a huge id or path does
// not come back in full.
func TestAPIErrorsClipTheInput(t *testing.T) {
	h := hubtest.Start(t, nil)
	huge := strings.Repeat("x", 100_000)
	big := strings.Repeat("y", 60_000) // fits the 64 KiB body limit with the rest
	body := func(v any) string { return string(mustJSON(v)) }
	tests := []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		// Over the 64 KiB body limit: refused before the id is looked at.
		{"enrol: 100 KB id", "POST", "/api/units", body(map[string]any{"id": huge, "type": "car"}), 400, "request body"},
		{"enrol: 60 KB id", "POST", "/api/units", body(map[string]any{"id": big, "type": "car"}), 400, "id"},
		{"enrol: 60 KB type", "POST", "/api/units", body(map[string]any{"id": "car-1", "type": big}), 400, "type"},
		{"enrol: 60 KB capability", "POST", "/api/units", body(map[string]any{"id": "car-1", "type": "car", "capabilities": []string{big}}), 400, "capability"},
		{"enrol: 60 KB unknown field", "POST", "/api/units", body(map[string]any{big: 1}), 400, "unknown field"},
		{"unit: 100 KB id", "GET", "/api/units/" + huge, "", 404, "no unit"},
		{"track: 100 KB id", "GET", "/api/units/" + huge + "/track", "", 404, "no unit"},
		{"revoke: 100 KB id", "DELETE", "/api/units/" + huge, "", 404, "no unit"},
		{"wrong method, 100 KB path", "PUT", "/api/units/" + huge, "", 405, "not allowed"},
		{"no such call, 100 KB path", "GET", "/api/" + huge, "", 404, "no such API call"},
		{"incident: 100 KB id", "GET", "/api/incidents/" + huge, "", 404, "incident"},
		{"match: 60 KB need", "GET", "/api/match?lat=28.2&lon=112.9&needs=" + big, "", 400, "need"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+h.AdminToken())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var e struct{ Error string }
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(e.Error, tt.says) {
				t.Errorf("%d %.200q, want %d mentioning %q", resp.StatusCode, e.Error, tt.status, tt.says)
			}
			if len(raw) >= 300 {
				t.Errorf("answer of %d bytes: %.200q…", len(raw), raw)
			}
		})
	}
}

// /api/match takes plain decimal degrees, not everything strconv.ParseFloat
// accepts ("0x1p4" is 16).
func TestAPIMatchTakesDecimalDegrees(t *testing.T) {
	h := hubtest.Start(t, nil)
	tests := []struct {
		v        string
		lat, lon int // status with v as lat, as lon
	}{
		{"28.2", 200, 200},
		{"-28.2", 200, 200},
		{"2.82e1", 200, 200},
		{"0x1p4", 400, 400},
		{"0x1C", 400, 400},
		{"Inf", 400, 400},
		{"-Inf", 400, 400},
		{"NaN", 400, 400},
		{"1_0", 400, 400},
		{" 28.2", 400, 400},
		{"28.2 ", 400, 400},
		{"1e999", 400, 400},
		{"90.5", 400, 200},
		{"-180.5", 400, 400},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.v), func(t *testing.T) {
			for _, q := range []struct {
				name, query string
				want        int
			}{
				{"lat", "lat=" + url.QueryEscape(tt.v) + "&lon=112.9", tt.lat},
				{"lon", "lat=28.2&lon=" + url.QueryEscape(tt.v), tt.lon},
			} {
				var out struct{ Error string }
				if st := h.Do(http.MethodGet, "/api/match?"+q.query, nil, &out); st != q.want {
					t.Errorf("%s=%q: %d %q, want %d", q.name, tt.v, st, out.Error, q.want)
				} else if st == 400 && !strings.Contains(out.Error, q.name) {
					t.Errorf("%s=%q: error %q does not name %s", q.name, tt.v, out.Error, q.name)
				}
			}
		})
	}
}
