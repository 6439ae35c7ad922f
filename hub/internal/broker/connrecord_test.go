package broker_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/hub/internal/broker"
)

// recordingCreds is creds that also records connection attempts.
type recordingCreds struct {
	*creds
	mu      sync.Mutex
	records []string // "connected unit" or "refused unit reason"
}

func (r *recordingCreds) Connected(unit, addr string, at time.Time) {
	r.note("connected "+unit, addr, at)
}

func (r *recordingCreds) Refused(unit, addr, reason string, at time.Time) {
	r.note("refused "+unit+" "+reason, addr, at)
}

func (r *recordingCreds) note(what, addr string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The address is the client's: the test dials from loopback.
	if !strings.HasPrefix(addr, "127.0.0.1:") || time.Since(at) > time.Minute {
		what += " (bad address " + addr + " or time)"
	}
	r.records = append(r.records, what)
}

func (r *recordingCreds) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.records) == 0 {
		return ""
	}
	return r.records[len(r.records)-1]
}

// The broker tells a ConnectionRecorder of each admitted and refused
// attempt under a valid unit id, with the refusal's reason.
func TestConnectionsRecorded(t *testing.T) {
	rec := &recordingCreds{creds: newCreds("u1", "s1")}
	env := startEmbedded(t, func(c *broker.Config) { c.Credentials = rec })
	tests := []struct {
		name, unit, secret string
		ok                 bool
		want               string
	}{
		{"admitted", "u1", "s1", true, "connected u1"},
		{"wrong secret", "u1", "old", false, "refused u1 bad_credentials"},
		{"unknown unit", "u9", "s1", false, "refused u9 bad_credentials"},
		{"admitted again", "u1", "s1", true, "connected u1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect(t, pahoOpts(env.url, tt.unit, tt.secret))
			if (err == nil) != tt.ok {
				t.Fatalf("connect: %v, want ok %v", err, tt.ok)
			}
			if c != nil {
				c.Disconnect(100)
			}
			// Admission is recorded when the session is established, just
			// after the CONNACK.
			deadline := time.Now().Add(5 * time.Second)
			for rec.last() != tt.want && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := rec.last(); got != tt.want {
				t.Errorf("last record %q, want %q", got, tt.want)
			}
		})
	}
}
