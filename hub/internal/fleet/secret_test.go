package fleet

import (
	"errors"
	"testing"

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
