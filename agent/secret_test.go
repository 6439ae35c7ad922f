package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// The fallback rules, step by step: which password each attempt uses after
// what the hub answered, and what the file keeps across a restart.
func TestSecretsFallback(t *testing.T) {
	const s1, s2, s3 = "configured-secret-1", "rotated-secret-22", "rotated-secret-333"
	refused := fmt.Errorf("%w : hub said no", packets.ErrorRefusedBadUsernameOrPassword)
	dir := t.TempDir()
	s := loadSecrets(dir, s1, slog.New(slog.DiscardHandler), func() { t.Error("save failed") })
	type step struct {
		name   string
		set    string // a secret from the hub before the attempt
		want   string // the password the attempt uses
		answer error  // the hub's answer to it
		after  string // what a restart (same configured secret) uses first
	}
	for _, st := range []step{
		{"configured", "", s1, nil, s1},
		{"configured refused: no fallback", "", s1, refused, s1},
		{"rotated: the new one", s2, s2, refused, s2},
		{"new refused: the previous next", "", s1, refused, s2},
		{"both refused: the new again", "", s2, errors.New("network down"), s2},
		{"a network error changes nothing", "", s2, refused, s2},
		{"previous admitted: kept, new dropped", "", s1, nil, s1},
		{"rotated again", s3, s3, nil, s3},
		{"admitted: no fallback any more", "", s3, refused, s3},
		{"still no fallback", "", s3, nil, s3},
	} {
		if st.set != "" {
			s.set(st.set)
		}
		pw, done := s.password()
		if pw != st.want {
			t.Fatalf("%s: password %q, want %q", st.name, pw, st.want)
		}
		done(st.answer)
		if got, _ := loadSecrets(dir, s1, slog.New(slog.DiscardHandler), nil).password(); got != st.after {
			t.Errorf("%s: after a restart %q, want %q", st.name, got, st.after)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, secretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// Provisioned again by hand: the configured secret wins over the file.
	if got, _ := loadSecrets(dir, "hand-given-secret", slog.New(slog.DiscardHandler), nil).password(); got != "hand-given-secret" {
		t.Errorf("a new configured secret gave way to the file's: %q", got)
	}
}

// The hub rotates a running unit's secret and pushes it: the agent keeps
// it (not in its log), the hub refuses the old one, and after its link is
// cut the agent comes back with the new one and goes on reporting with
// nothing lost.
func TestSecretRotationReachesTheAgent(t *testing.T) {
	h := hubtest.Start(t, nil)
	old := h.Enrol("car-7", "car")
	cfg := testConfig(t, h.MQTTURL(), "car-7", old)
	var logs strings.Builder
	var logMu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var connMu sync.Mutex
	var conn net.Conn
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		connMu.Lock()
		conn = c
		connMu.Unlock()
		return c, err
	}
	r := start(t, cfg, lat0, lon0, 12)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-7"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-7 not online with a position")
		}
		return nil
	})

	var rotated api.SecretRotated
	if st := h.Do(http.MethodPost, "/api/units/car-7/secret", nil, &rotated); st != http.StatusOK || !rotated.Pushed {
		t.Fatalf("rotate: %d %+v", st, rotated)
	}
	rotatedAt := time.Now()
	waitFor(t, 10*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, secretFile))
		if err != nil {
			return err
		}
		var st savedSecret
		if err := json.Unmarshal(b, &st); err != nil || st.Secret != rotated.Secret || st.Previous != old {
			return fmt.Errorf("secret file not (yet) the new secret with the old as fallback (%v)", err)
		}
		return nil
	})
	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-7", old, hubtest.DeviceOptions{}); err == nil {
		t.Fatal("the hub still takes the old secret")
	}

	// The link ends (the broker sees it close and closes its side; paho
	// takes a local Close for its own and would wait for the keepalive):
	// the agent reconnects, with the new secret.
	connMu.Lock()
	_ = conn.(*net.TCPConn).CloseWrite()
	connMu.Unlock()
	waitFor(t, 15*time.Second, func() error {
		var v api.Unit
		h.Do(http.MethodGet, "/api/units/car-7", nil, &v)
		if s := r.Stats(); s.Reconnects < 1 || !s.Connected || v.LastConnect == nil || v.LastConnect.At < rotatedAt.UnixMilli() {
			logMu.Lock()
			defer logMu.Unlock()
			return fmt.Errorf("not reconnected since the rotation: reconnects %d, last_connect %+v; log:\n%s", s.Reconnects, v.LastConnect, logs.String())
		}
		return nil
	})
	r.secret.mu.Lock()
	cur, prev := r.secret.current, r.secret.previous
	r.secret.mu.Unlock()
	if cur != rotated.Secret || prev != "" {
		t.Errorf("after the reconnect the agent holds the new secret %v and a fallback %v; want the new one only", cur == rotated.Secret, prev != "")
	}

	for i := 1; i <= 5; i++ {
		r.Sim.Set(lat0, lon0+east(float64(i)*20), 12, 90)
		time.Sleep(150 * time.Millisecond)
	}
	waitConfirmed(t, h, r, 15*time.Second)
	if s := r.Stats(); s.Dropped != 0 || s.Confirmed != s.Positions+s.Events {
		t.Errorf("stats %+v", s)
	}
	r.stop(t)
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), rotated.Secret) || strings.Contains(logs.String(), old) {
		t.Error("a secret is in the agent's log")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
