package main

import (
	"bytes"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kuaifan/agent"
	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/report"
	"kuaifan/hub/hubtest"
	"kuaifan/testkit/leakcheck"
)

// A -config file sets options by their flag names; the command line
// overrides it; the secret may come from the environment.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(file, []byte(`{"unit":"car-017","broker":"ssl://hub:8883","resend-after":"45s",
		"drain-rate":2000,"auto-ack":true,"report-moving_s":3,"report-distance_m":80,"data":"/var/lib/x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_SECRET", "from-env")
	cfg, o, err := load([]string{"-config", file, "-broker", "tcp://other:1883", "-report-moving_s", "4", "-log-level", "debug"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := agent.DefaultConfig()
	want.Unit, want.Secret, want.Broker, want.ResendAfter, want.DrainRate, want.AutoAck, want.DataDir =
		"car-017", "from-env", "tcp://other:1883", 45*time.Second, 2000, true, "/var/lib/x"
	want.Report = report.DefaultConfig()
	want.Report.Moving, want.Report.DistanceM = 4*time.Second, 80
	if cfg.Unit != want.Unit || cfg.Secret != want.Secret || cfg.Broker != want.Broker || cfg.ResendAfter != want.ResendAfter ||
		cfg.DrainRate != want.DrainRate || cfg.AutoAck != want.AutoAck || cfg.DataDir != want.DataDir || cfg.Report != want.Report {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	if o.level.String() != "DEBUG" {
		t.Errorf("level %v", o.level)
	}

	// A flag beats the environment.
	cfg, _, err = load([]string{"-unit", "u", "-secret", "s"}, &bytes.Buffer{})
	if err != nil || cfg.Secret != "s" {
		t.Errorf("secret %q, %v", cfg.Secret, err)
	}

	for _, bad := range []string{`{"unit":"u","colour":"red"}`, `{"unit":["u"]}`, `{"drain-rate":"fast"}`, `not json`, `{"report-turn_deg":0}`} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := load([]string{"-config", file}, &bytes.Buffer{}); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	if _, _, err := load([]string{"-log-level", "loud"}, &bytes.Buffer{}); err == nil {
		t.Error("-log-level loud accepted")
	}
}

// -gps sim patrols round -sim-at (which nothing else reads); -ca names the
// broker's CA.
func TestLoadSimAndCA(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(notPEM, []byte(`{"unit":"u"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		patrol *gps.Circle
		tls    bool
		errHas string
	}{
		{"defaults", nil, nil, false, ""},
		{"sim at the default place", []string{"-gps", "sim"}, &gps.Circle{Lat: 28.1941, Lon: 112.9823}, false, ""},
		{"sim at -sim-at", []string{"-gps", "sim", "-sim-at", "30.5, -114.25"}, &gps.Circle{Lat: 30.5, Lon: -114.25}, false, ""},
		{"sim off the globe", []string{"-gps", "sim", "-sim-at", "91,0"}, nil, false, "-sim-at"},
		{"sim at nowhere", []string{"-gps", "sim", "-sim-at", "here"}, nil, false, "-sim-at"},
		{"-sim-at without sim", []string{"-gps", "nmea:/dev/ttyUSB0", "-sim-at", "here"}, nil, false, ""},
		{"a CA", []string{"-ca", ca}, nil, true, ""},
		{"a missing CA", []string{"-ca", filepath.Join(dir, "missing.pem")}, nil, false, "-ca: open"},
		{"a CA with no certificate", []string{"-ca", notPEM}, nil, false, "no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := load(c.args, &bytes.Buffer{})
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err %v, want one saying %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := cfg.GPSOptions.Patrol; (p == nil) != (c.patrol == nil) || (p != nil && *p != *c.patrol) {
				t.Errorf("patrol %+v, want %+v", p, c.patrol)
			}
			if (cfg.TLS != nil) != c.tls || (c.tls && cfg.TLS.RootCAs == nil) {
				t.Errorf("TLS %+v, want one: %v", cfg.TLS, c.tls)
			}
		})
	}
}

// agent -h documents every option, including every reporting bound.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, name := range []string{"-unit", "-secret", "AGENT_SECRET", "-broker", "-gps", "-data", "-topic-root", "-terminal",
		"-arrive-radius", "-reposition-radius", "-resend-after", "-drain-rate", "-max-queued", "-ca", "-log-level", "-config", "-replay",
		"-auto-ack", "-unit-type", "-reconnect-min", "-reconnect-max", "-gps-baud", "-gps-max-hdop", "-gps-max-acc", "-gps-min-sats", "-sim-at"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("-h does not mention %s", name)
		}
	}
	for _, k := range report.Keys() {
		if !strings.Contains(out.String(), "-report-"+k) {
			t.Errorf("-h does not mention -report-%s", k)
		}
	}
}

func TestMain(m *testing.M) { leakcheck.Main(m) }

// The command runs a simulated unit against a hub; SIGTERM shuts it down
// cleanly: Run returns nil and the hub sees the unit go offline at once (with
// the moment ingest takes to commit the agent's last state).
func TestSIGTERM(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("car-c", "car")
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run([]string{"-unit", "car-c", "-secret", secret, "-broker", h.MQTTURL(), "-gps", "sim",
			"-data", t.TempDir(), "-terminal", "", "-log-level", "error"}, &syncWriter{w: &out})
	}()
	online := func() (bool, bool) {
		var u struct {
			Online bool
			Lat    *float64
		}
		h.Do(http.MethodGet, "/api/units/car-c", nil, &u)
		return u.Online, u.Lat != nil
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if on, fix := online(); !on || !fix {
			return fmt.Errorf("car-c not online with a position")
		}
		return nil
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown within 10 s of SIGTERM")
	}
	// Offline within moments, from the agent's own state: a clean disconnect
	// fires no Last Will, so without it the unit would stay online.
	hubtest.WaitFor(t, 2*time.Second, func() error {
		if on, _ := online(); on {
			return fmt.Errorf("the hub still has car-c online after a clean shutdown")
		}
		return nil
	})
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
