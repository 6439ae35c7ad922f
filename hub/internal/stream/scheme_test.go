package stream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// The Authorization scheme is case-insensitive (RFC 7235 §2.1), as in the API.
func TestAuthBearerScheme(t *testing.T) {
	f := newFixture(t, Config{})
	cases := []struct {
		header string
		want   int
	}{
		{"Bearer " + testToken, http.StatusSwitchingProtocols},
		{"bearer " + testToken, http.StatusSwitchingProtocols},
		{"BEARER " + testToken, http.StatusSwitchingProtocols},
		{"Bearer  " + testToken, http.StatusSwitchingProtocols}, // RFC 7235: 1*SP
		{"bearer wrong", http.StatusUnauthorized},
		{"Basic " + testToken, http.StatusUnauthorized},
		{"Bearer" + testToken, http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.header), func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			c, resp, err := f.dial(f.ws, dialOpts{header: h, noAuth: true})
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tc.want)
			}
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
}

// A refused Origin is named in the answer, but not all of a huge one.
func TestOriginEchoIsClipped(t *testing.T) {
	f := newFixture(t, Config{})
	for _, origin := range []string{
		"https://" + strings.Repeat("a", 20_000) + ".example",
		"%%" + strings.Repeat("b", 20_000),
	} {
		_, resp, err := f.dial(f.ws, dialOpts{header: http.Header{"Origin": {origin}}})
		if resp == nil {
			t.Fatalf("no response: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// coder/websocket keeps at most 1 KiB of a refused handshake's body.
		if len(body) > 300 {
			t.Fatalf("error of %d bytes or more for a %d-byte origin: %.120q…", len(body), len(origin), body)
		}
		var e struct{ Error string }
		if resp.StatusCode != http.StatusForbidden || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "origin") {
			t.Fatalf("status %d, body %q: want 403 naming the origin", resp.StatusCode, body)
		}
	}
}
