package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/internal/access"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const testToken = "test-admin-token"

// testAccess admits the bootstrap token testToken, with no accounts yet.
func testAccess(t testing.TB) *access.Service {
	t.Helper()
	a, err := access.New(access.Config{Dir: t.TempDir(), BootstrapToken: testToken, Hashing: access.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serve runs the API behind a real HTTP server on 127.0.0.1:0 until the test
// ends and returns its address.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(cfg), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// A client without the token that sends its body a byte a second is
// answered at once and cut off, instead of the server waiting for the body
// to drain it before it writes the 401.
func TestAuthRefusesBeforeTheBody(t *testing.T) {
	addr := serve(t, Config{Access: testAccess(t)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /api/units HTTP/1.1\r\nHost: kuaifan\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop, trickled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := c.Write([]byte("{")); err != nil {
				return // the server has closed the connection
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		close(stop)
		<-trickled
	}()

	start := time.Now()
	_ = c.SetReadDeadline(start.Add(1500 * time.Millisecond))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within 1.5 s: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("answer %s (close %v) %s, want 401 closing the connection", resp.Status, resp.Close, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("401 after %v, want it at once", d)
	}
	// The server closes its side: no waiting for the rest of the body.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); !isClosed(err) {
		t.Errorf("after the 401 the connection is still open: read: %v", err)
	}
}

// isClosed says whether a read error means the peer closed the connection
// (rather than the read timing out).
func isClosed(err error) bool {
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// The scheme of the Authorization header is case-insensitive (RFC 7235 §2.1).
func TestAuthBearerScheme(t *testing.T) {
	addr := serve(t, Config{Access: testAccess(t)})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	cases := []struct {
		header string
		want   int
	}{
		{"Bearer " + testToken, http.StatusOK},
		{"bearer " + testToken, http.StatusOK},
		{"BEARER " + testToken, http.StatusOK},
		{"bEaReR " + testToken, http.StatusOK},
		{"Bearer  " + testToken, http.StatusOK}, // RFC 7235: 1*SP between scheme and token
		{"Bearer " + testToken + "x", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic " + testToken, http.StatusUnauthorized},
		{"Basic dGVzdDp0ZXN0", http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
		{"Bearer", http.StatusUnauthorized},
		{"Bearer" + testToken, http.StatusUnauthorized},
		{"Bearer\t" + testToken, http.StatusUnauthorized},
		{testToken, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.header), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/districts", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestDegrees(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"28.2", 28.2, true},
		{"-28.2", -28.2, true},
		{"+28.2", 28.2, true},
		{"112", 112, true},
		{"0", 0, true},
		{"-0.000001", -0.000001, true},
		{"1e-3", 0.001, true}, // JavaScript writes small numbers so
		{"2.82E1", 28.2, true},
		{"28.196012345678901", 28.196012345678901, true},
		{"0x1p4", 0, false},
		{"0X10", 0, false},
		{"Inf", 0, false},
		{"+Inf", 0, false},
		{"-inf", 0, false},
		{"infinity", 0, false},
		{"NaN", 0, false},
		{"nan", 0, false},
		{"1_0", 0, false},
		{"2_8.2", 0, false},
		{" 28.2", 0, false},
		{"28.2 ", 0, false},
		{"", 0, false},
		{".5", 0, false},
		{"5.", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"--1", 0, false},
		{"+-1", 0, false},
		{"28,2", 0, false},
		{"٢٨", 0, false},
		{"1e999", 0, false},  // not finite
		{"-1e999", 0, false}, // not finite
		{strings.Repeat("1", 65), 0, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := degrees(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("degrees(%q) = %v, %v; want ok %v", tc.in, got, err, tc.ok)
			}
			if tc.ok && (got != tc.want || math.IsInf(got, 0) || math.IsNaN(got)) {
				t.Errorf("degrees(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
