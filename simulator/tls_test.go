package simulator

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/simulator/internal/faults"
)

// tlsHub is a hub serving HTTPS and MQTTS only, with -tls auto's certificate.
func tlsHub(t *testing.T) *hubtest.Hub {
	return hubtest.Start(t, func(c *hub.Config) {
		c.TLSAuto = true
		c.HTTPAddr, c.MQTTAddr = "", ""
	})
}

// A small fleet over TLS: the API over HTTPS and the units over MQTTS,
// both trusting the hub's certificate (-ca); links dropped (below TLS) and
// rogue clients on the way; nothing lost.
func TestRunOverTLS(t *testing.T) {
	t.Parallel()
	h := tlsHub(t)
	cfg := testConfig(t, h, h.MQTTSURL())
	cfg.CAFile = h.CAFile
	cfg.Units, cfg.TimeScale, cfg.Duration = 6, 20, 3*time.Minute
	cfg.IncidentsPerHour = 60
	cfg.Faults, cfg.FaultEvery = []string{faults.LinkDrop, faults.Rogue}, time.Minute
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	checkDelivery(t, rep)
	if rep.Units.Connected != 6 {
		t.Errorf("units: %+v", rep.Units)
	}
	for _, f := range rep.Faults {
		if f.Name == faults.Rogue && f.Sent > 0 && f.Refused == 0 {
			t.Errorf("rogue over TLS: %+v", f)
		}
	}
}

// A load run over TLS: the agents over MQTTS, the stream over wss://.
func TestLoadOverTLS(t *testing.T) {
	t.Parallel()
	h := tlsHub(t)
	rep, err := RunLoad(context.Background(), LoadConfig{HubURL: h.URL, BrokerURL: h.MQTTSURL(), CAFile: h.CAFile,
		AdminToken: h.AdminToken(), Units: 5, Hz: 2, Duration: time.Second, Seed: 3, DrainWait: 20 * time.Second,
		Logger: hubtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 5 || rep.Lost != 0 || rep.Positions == 0 || rep.Confirmed != rep.Positions || rep.StreamError != "" {
		t.Errorf("load over TLS: %+v", rep)
	}
}

// Over TLS: without the CA the hub is refused; the faults that write into
// a unit's MQTT stream are refused up front; a CA file that is none says so.
func TestTLSConfigChecks(t *testing.T) {
	t.Parallel()
	h := tlsHub(t)
	cfg := testConfig(t, h, h.MQTTSURL())
	cfg.Units, cfg.Duration, cfg.HubWait = 2, time.Minute, 2*time.Second
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no CA: %v, want the hub's certificate refused", err)
	}
	bad := cfg
	bad.CAFile = h.CAFile
	bad.Faults = []string{faults.Duplicate}
	if _, err := bad.resolve(); err == nil || !strings.Contains(err.Error(), "not over TLS") {
		t.Errorf("duplicate over TLS: %v", err)
	}
	bad = cfg
	bad.CAFile = filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(bad.CAFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.resolve(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without a certificate: %v", err)
	}
}
