package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/agent/internal/uplink"
	"kuaifan/hub"
	"kuaifan/hub/hubtest"
)

// The agent reports over MQTTS to a hub with -tls auto, trusting the hub's
// certificate as its CA (-ca); with another CA it refuses the hub: it never
// connects, and its log says why.
func TestReportsOverTLS(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.TLSAuto = true })
	_, port, _ := net.SplitHostPort(h.MQTTSAddr())

	cfg := testConfig(t, "mqtts://localhost:"+port, "car-1", h.Enrol("car-1", "car"))
	var err error
	if cfg.TLS, err = uplink.TLSConfig(h.CAFile); err != nil { // what -ca does
		t.Fatal(err)
	}
	r := start(t, cfg, lat0, lon0, 12)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-1"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-1 not online with a position: %+v", u)
		}
		return nil
	})
	waitConfirmed(t, h, r, 10*time.Second)

	// Through a Dial of its own (the simulator's radio link), TLS is the
	// agent's all the same.
	dialed := testConfig(t, h.MQTTSURL(), "car-3", h.Enrol("car-3", "car"))
	dialed.TLS = cfg.TLS
	var dials atomic.Int32
	dialed.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	start(t, dialed, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-3"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-3 not online with a position: %+v", u)
		}
		return nil
	})
	if dials.Load() == 0 {
		t.Error("the agent did not dial through Dial")
	}

	// A unit trusting another CA.
	var logs lockedBuffer
	wrong := testConfig(t, h.MQTTSURL(), "car-2", h.Enrol("car-2", "car"))
	wrong.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if wrong.TLS, err = uplink.TLSConfig(otherCA(t)); err != nil {
		t.Fatal(err)
	}
	w := start(t, wrong, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "certificate signed by unknown authority") {
			return fmt.Errorf("no refusal of the certificate logged yet:\n%s", logs.String())
		}
		return nil
	})
	if w.Stats().Connected || unitOf(t, h, "car-2").Online {
		t.Error("the agent with another CA connected")
	}
}

// otherCA writes a CA certificate that signed nothing the hub serves.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// lockedBuffer is a bytes.Buffer the agent's goroutines may log into.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
