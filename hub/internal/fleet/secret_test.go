package fleet

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"kuaifan/hub/internal/brokerconf"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A rotation stores a new hash that survives a restart: from then on only
// the new secret verifies; a unit unknown or revoked is refused.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	old, err := f.Enrol(Enrolment{ID: "u1", Type: protocol.TypeCar}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Enrol(Enrolment{ID: "u2", Type: protocol.TypeFoot}, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Revoke("u2", now); err != nil {
		t.Fatal(err)
	}
	secret, err := f.Rotate("u1", now)
	if err != nil {
		t.Fatal(err)
	}
	if secret == old || !protocol.ValidSecret(secret) {
		t.Fatalf("new secret %d bytes, valid %v, same as the old %v", len(secret), protocol.ValidSecret(secret), secret == old)
	}
	checks := func(f *Fleet, when string) {
		t.Helper()
		for _, c := range []struct {
			name, unit, secret string
			want               bool
		}{
			{"new secret", "u1", secret, true},
			{"old secret", "u1", old, false},
			{"empty", "u1", "", false},
			{"new secret, other unit", "u2", secret, false},
		} {
			if got := f.Verify(c.unit, c.secret); got != c.want {
				t.Errorf("%s: Verify(%s, %s) = %v, want %v", when, c.unit, c.name, got, c.want)
			}
		}
	}
	checks(f, "after rotating")

	for _, c := range []struct {
		unit string
		want error
	}{{"u2", ErrRevoked}, {"nobody", ErrNotFound}} {
		if _, err := f.Rotate(c.unit, now); !errors.Is(err, c.want) {
			t.Errorf("Rotate(%s) = %v, want %v", c.unit, err, c.want)
		}
	}

	// Restarted on the same store: the hash was on disk.
	f.Close()
	f.store.Close()
	checks(open(t, dir), "after a restart")
}

// The broker's admitted and refused attempts show in the unit's view;
// strangers are not recorded.
func TestConnections(t *testing.T) {
	f := open(t, t.TempDir())
	if _, err := f.Enrol(Enrolment{ID: "u1", Type: protocol.TypeCar}, now); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name             string
		do               func()
		connect, refused *api.Connection
	}{
		{"nothing yet", func() {}, nil, nil},
		{"connected", func() { f.Connected("u1", "10.0.0.1:5000", now) },
			&api.Connection{Addr: "10.0.0.1:5000", At: now.UnixMilli()}, nil},
		{"refused", func() { f.Refused("u1", "10.0.0.2:6000", "bad_credentials", now.Add(1e9)) },
			&api.Connection{Addr: "10.0.0.1:5000", At: now.UnixMilli()},
			&api.Connection{Addr: "10.0.0.2:6000", At: now.UnixMilli() + 1000, Reason: "bad_credentials"}},
		{"stranger", func() {
			f.Connected("ghost", "10.0.0.3:1", now)
			f.Refused("ghost", "10.0.0.3:1", "bad_credentials", now)
		}, &api.Connection{Addr: "10.0.0.1:5000", At: now.UnixMilli()},
			&api.Connection{Addr: "10.0.0.2:6000", At: now.UnixMilli() + 1000, Reason: "bad_credentials"}},
		{"connected again", func() { f.Connected("u1", "10.0.0.1:5001", now.Add(2e9)) },
			&api.Connection{Addr: "10.0.0.1:5001", At: now.UnixMilli() + 2000},
			&api.Connection{Addr: "10.0.0.2:6000", At: now.UnixMilli() + 1000, Reason: "bad_credentials"}},
	}
	for _, s := range steps {
		s.do()
		v, ok := f.Get("u1")
		if !ok {
			t.Fatal("u1 gone")
		}
		if !sameConn(v.LastConnect, s.connect) || !sameConn(v.LastRefused, s.refused) {
			t.Errorf("%s: last_connect %+v, last_refused %+v; want %+v, %+v", s.name, v.LastConnect, v.LastRefused, s.connect, s.refused)
		}
	}
	if _, ok := f.Get("ghost"); ok {
		t.Error("a stranger's attempts made a unit")
	}
}

func sameConn(a, b *api.Connection) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// Enrolment and rotation keep the secret's broker hashes (and only the
// current secret's), on disk; the accounts are the units reporting over
// MQTT, with none for a unit enrolled before the hashes were kept.
func TestBrokerAccounts(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	old, err := f.Enrol(Enrolment{ID: "u1", Type: protocol.TypeCar}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Enrol(Enrolment{ID: "phone", Type: protocol.TypeFoot, Protocol: api.ReportOsmAnd}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Enrol(Enrolment{ID: "gone", Type: protocol.TypeFoot}, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Revoke("gone", now); err != nil {
		t.Fatal(err)
	}
	// As enrolled before the hub kept broker hashes.
	if err := f.store.CreateUnit(store.Unit{ID: "u0", Type: protocol.TypeCar, SecretHash: strings.Repeat("ab", 32), Enrolled: now.UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	check := func(f *Fleet, when, secret, not string) {
		t.Helper()
		accs := f.BrokerAccounts()
		var ids []string
		for _, a := range accs {
			ids = append(ids, a.User)
		}
		want := []string{"u1"}
		if when != "before a restart" {
			want = []string{"u0", "u1"} // u0 is loaded from the store
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("%s: accounts %v, want %v", when, ids, want)
		}
		for _, a := range accs {
			if a.User == "u0" {
				if a.Bcrypt != "" || a.Mosquitto != "" {
					t.Errorf("%s: u0 has hashes %+v", when, a.Hashes)
				}
				continue
			}
			if bcrypt.CompareHashAndPassword([]byte(a.Bcrypt), []byte(secret)) != nil ||
				bcrypt.CompareHashAndPassword([]byte(a.Bcrypt), []byte(not)) == nil {
				t.Errorf("%s: bcrypt hash is not the secret's", when)
			}
			if !brokerconf.CheckMosquitto(a.Mosquitto, secret) || brokerconf.CheckMosquitto(a.Mosquitto, not) {
				t.Errorf("%s: Mosquitto hash is not the secret's", when)
			}
		}
	}
	check(f, "before a restart", old, "x")
	f.Close()
	f.store.Close()
	f = open(t, dir)
	check(f, "after a restart", old, "x")
	secret, err := f.Rotate("u1", now)
	if err != nil {
		t.Fatal(err)
	}
	check(f, "after a rotation", secret, old)
	f.Close()
	f.store.Close()
	check(open(t, dir), "after a rotation and a restart", secret, old)
}
