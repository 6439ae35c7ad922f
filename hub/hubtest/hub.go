// Package hubtest starts real kuaifan hubs and brokers for tests anywhere in
// the workspace: the hub in-process with its embedded broker on a free port and
// its data in a temporary directory, and Debian's Mosquitto as an external broker.
package hubtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/internal/access"
	"kuaifan/testkit/poll"
)

// Hub is a hub running in the test's process.
type Hub struct {
	*hub.Hub
	URL    string // http://127.0.0.1:port; with TLS https://127.0.0.1:port
	Config hub.Config
	// With TLS (Config.TLSAuto or TLSCert): the hub's certificate file, and
	// an HTTP client that trusts it (http.DefaultClient without TLS).
	CAFile string
	Client *http.Client
	t      testing.TB
	cancel context.CancelFunc
	done   chan error
}

// Start runs a hub on free ports with its data in t.TempDir() (or cfg.DataDir
// if the edit sets one) and stops it when the test ends. edit may adjust the
// default configuration. If it turns TLS on (TLSAuto, or TLSCert and
// TLSKey), HTTPS and MQTTS get free ports too, unless it set them.
func Start(t testing.TB, edit func(*hub.Config)) *Hub {
	t.Helper()
	cfg := hub.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = "test-admin-token"
	// Passwords cheap to hash: hubs start by the hundred in the tests.
	cfg.PasswordHashing = access.Hashing{Time: 1, MemoryKiB: 256, Threads: 1}
	cfg.AckInterval = 20 * time.Millisecond
	cfg.Logger = Logger(t)
	if edit != nil {
		edit(&cfg)
	}
	if cfg.TLSAuto || cfg.TLSCert != "" {
		if cfg.HTTPSAddr == "" {
			cfg.HTTPSAddr = "127.0.0.1:0"
		}
		if cfg.MQTTSAddr == "" && cfg.BrokerURL == "" {
			cfg.MQTTSAddr = "127.0.0.1:0"
		}
	}
	return start(t, cfg)
}

func start(t testing.TB, cfg hub.Config) *Hub {
	t.Helper()
	h, err := hub.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th := &Hub{Hub: h, URL: "http://" + h.HTTPAddr(), Config: cfg, Client: http.DefaultClient,
		t: t, cancel: cancel, done: make(chan error, 1)}
	if info := h.TLS(); info != nil {
		th.URL, th.CAFile = "https://"+h.HTTPSAddr(), info.CertFile
		pool := x509.NewCertPool()
		b, err := os.ReadFile(info.CertFile)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			cancel()
			t.Fatalf("hubtest: the hub's certificate %s: %v", info.CertFile, err)
		}
		th.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		t.Cleanup(th.Client.CloseIdleConnections)
	}
	go func() { th.done <- h.Run(ctx) }()
	t.Cleanup(th.Stop)
	WaitFor(t, 5*time.Second, func() error {
		resp, err := th.Client.Get(th.URL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return th
}

// Stop shuts the hub down and waits for it; calling it again does nothing.
func (h *Hub) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("hub stopped with: %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Errorf("hub did not stop within 15 s")
	}
}

// Restart stops the hub and starts it again on the same data directory and
// the same ports, as an operator's restart would.
func (h *Hub) Restart() *Hub {
	h.t.Helper()
	h.Stop()
	cfg := h.Config
	cfg.HTTPAddr = h.HTTPAddr()
	if h.MQTTAddr() != "" {
		cfg.MQTTAddr = h.MQTTAddr()
	}
	if h.HTTPSAddr() != "" {
		cfg.HTTPSAddr = h.HTTPSAddr()
	}
	if h.MQTTSAddr() != "" {
		cfg.MQTTSAddr = h.MQTTSAddr()
	}
	return start(h.t, cfg)
}

// MQTTURL is the embedded broker's URL for paho.
func (h *Hub) MQTTURL() string { return "tcp://" + h.MQTTAddr() }

// MQTTSURL is the embedded broker's TLS URL for paho (ssl://), with TLS.
func (h *Hub) MQTTSURL() string { return "ssl://" + h.MQTTSAddr() }

// Enrol enrols a unit through the API and returns its secret.
func (h *Hub) Enrol(id, unitType string, capabilities ...string) string {
	h.t.Helper()
	if capabilities == nil {
		capabilities = []string{}
	}
	var out struct{ Secret string }
	status := h.Do(http.MethodPost, "/api/units", map[string]any{"id": id, "type": unitType,
		"callsign": id, "capabilities": capabilities}, &out)
	if status != http.StatusCreated || out.Secret == "" {
		h.t.Fatalf("enrol %s: status %d", id, status)
	}
	return out.Secret
}

// Do calls the API with the admin token, sending body as JSON (if not nil)
// and decoding the answer into out (if not nil). It returns the status.
func (h *Hub) Do(method, path string, body, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	resp, err := h.Client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// WaitFor polls check until it returns nil, failing the test after total.
func WaitFor(t testing.TB, total time.Duration, check func() error) {
	t.Helper()
	poll.Until(t, total, check)
}

// Logger logs to the test's output, or discards when KUAIFAN_TEST_LOG is unset
// and the test is not verbose.
func Logger(t testing.TB) *slog.Logger {
	if !testing.Verbose() && os.Getenv("KUAIFAN_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
