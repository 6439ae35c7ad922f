package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/testkit/leakcheck"

	"kuaifan/protocol"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var now = time.UnixMilli(1764403200000)

func point(unit string, seq uint64, ts int64) UnitPosition {
	return UnitPosition{Unit: unit, Position: Position{Seq: seq, TS: ts, Lat: 28.2, Lon: 112.9, Status: protocol.StatusAvailable}}
}

func TestUnits(t *testing.T) {
	s := open(t, t.TempDir())
	u := Unit{ID: "car-1", Type: protocol.TypeCar, SecretHash: strings.Repeat("1", 64), Enrolled: 1}
	if err := s.CreateUnit(u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUnit(u); !errors.Is(err, ErrExists) {
		t.Fatalf("second enrolment: %v, want ErrExists", err)
	}
	if _, err := s.RevokeUnit("car-2", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown unit: %v", err)
	}
	if _, err := s.RevokeUnit("car-1", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUnit("car-1", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	u.SecretHash, u.Enrolled = strings.Repeat("2", 64), now.UnixMilli()+1
	if err := s.CreateUnit(u); err != nil {
		t.Fatalf("re-enrolling a revoked unit: %v", err)
	}
	units, err := s.Units()
	if err != nil || len(units) != 1 || units[0].SecretHash != strings.Repeat("2", 64) || units[0].Revoked != 0 {
		t.Fatalf("units = %+v, %v", units, err)
	}
}

func TestTrackRangeAndOrder(t *testing.T) {
	s := open(t, t.TempDir())
	s.cfg.Retention = 24 * time.Hour
	base := now.UnixMilli()
	b := &Batch{Points: []UnitPosition{
		point("a", 3, base+3000), point("a", 1, base+1000), point("a", 2, base+2000),
		point("a-b", 9, base+1500),                        // a unit whose id extends "a" must not leak into a's track
		point("a", 4, now.Add(-25*time.Hour).UnixMilli()), // beyond the 24 h retention
	}}
	expired, err := s.Commit(b, now)
	if err != nil {
		t.Fatal(err)
	}
	if expired != 1 {
		t.Errorf("expired = %d, want 1", expired)
	}
	tests := []struct {
		since, until int64
		limit        int
		want         []uint64
	}{
		{0, base + 10000, 100, []uint64{1, 2, 3}},
		{base + 1000, base + 2000, 100, []uint64{1, 2}}, // both ends inclusive
		{base + 1001, base + 10000, 100, []uint64{2, 3}},
		{0, base + 10000, 2, []uint64{1, 2}},
		{base + 5000, base, 100, nil},
	}
	for _, tt := range tests {
		track, err := s.Track("a", tt.since, tt.until, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, p := range track {
			got = append(got, p.Seq)
		}
		if !equal(got, tt.want) {
			t.Errorf("Track(%d, %d, %d) seqs = %v, want %v", tt.since, tt.until, tt.limit, got, tt.want)
		}
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUnit(testUnit("moto-7", protocol.TypeMotorcycle, "medical")); err != nil {
		t.Fatal(err)
	}
	fix := point("moto-7", 5, now.UnixMilli()).Position
	if _, err := s.Commit(&Batch{
		Points: []UnitPosition{point("moto-7", 5, now.UnixMilli())},
		Events: []protocol.Event{{Unit: "moto-7", Seq: 6, TS: now.UnixMilli() + 1, Type: protocol.EventStatus, Status: protocol.StatusBusy}},
		Lives:  map[string]Live{"moto-7": {Fix: &fix, Status: protocol.StatusBusy, Seqs: []protocol.Range{{5, 6}}}},
	}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	units, _ := s.Units()
	if len(units) != 1 || units[0].Capabilities[0] != "medical" {
		t.Fatalf("units after restart: %+v", units)
	}
	lives, _ := s.Lives()
	if l := lives["moto-7"]; l.Fix == nil || l.Fix.Seq != 5 || l.Status != protocol.StatusBusy || len(l.Seqs) != 1 {
		t.Fatalf("live after restart: %+v", l)
	}
	track, _ := s.Track("moto-7", 0, now.UnixMilli()+10, 10)
	events, _ := s.Events("moto-7", 0, now.UnixMilli()+10, 10)
	if len(track) != 1 || len(events) != 1 || events[0].Status != protocol.StatusBusy {
		t.Fatalf("history after restart: %+v %+v", track, events)
	}
}

// buntdb refuses a file with garbage in the middle (issue 72): the store sets it
// aside and starts from the snapshot, saying so.
func TestRecoversFromCorruptFile(t *testing.T) {
	for _, withSnapshot := range []bool{true, false} {
		t.Run(map[bool]string{true: "from snapshot", false: "empty"}[withSnapshot], func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUnit(testUnit("early", protocol.TypeFoot)); err != nil {
				t.Fatal(err)
			}
			if withSnapshot {
				if err := s.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateUnit(testUnit("late", protocol.TypeFoot)); err != nil {
				t.Fatal(err)
			}
			s.Close()

			path := filepath.Join(dir, FileName)
			data, _ := os.ReadFile(path)
			mid := bytes.Index(data, []byte("late"))
			corrupt := append(append(append([]byte{}, data[:mid-20]...), []byte("#garbage#\r\n")...), data[mid-20:]...)
			if err := os.WriteFile(path, corrupt, 0o600); err != nil {
				t.Fatal(err)
			}

			s = open(t, dir)
			if s.Recovered() == "" {
				t.Fatal("Recovered() is empty after starting from a corrupt file")
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("corrupt file not set aside: %v", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, corrupt) {
				t.Error("the set-aside file differs from the corrupt one")
			}
			units, _ := s.Units()
			var ids []string
			for _, u := range units {
				ids = append(ids, u.ID)
			}
			// Every enrolment survives: the units journal holds them all.
			want := "early,late"
			if strings.Join(ids, ",") != want {
				t.Errorf("units after recovery = %v, want %q", ids, want)
			}
			if err := s.CreateUnit(testUnit("after", protocol.TypeFoot)); err != nil {
				t.Errorf("store not writable after recovery: %v", err)
			}
		})
	}
}

// A write torn by a crash is cut off by buntdb itself: no recovery, earlier data kept.
func TestTornLastWriteIsTruncated(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.CreateUnit(testUnit("u1", protocol.TypeCar))
	s.Close()
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("*3\r\n$3\r\nset\r\n$7\r\nunit:u2\r\n$40\r\n{\"id\":")
	f.Close()
	s = open(t, dir)
	if s.Recovered() != "" {
		t.Errorf("a torn tail triggered recovery: %s", s.Recovered())
	}
	if units, _ := s.Units(); len(units) != 1 || units[0].ID != "u1" {
		t.Errorf("units = %+v", units)
	}
}

func TestPositionEncoding(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, p := range []Position{
		{Seq: 1, TS: 2, Lat: 28.1941, Lon: 112.9823, Status: protocol.StatusAvailable},
		{Seq: 1<<64 - 1, TS: 1<<53 + 1, Lat: -90, Lon: 180, Status: protocol.StatusOffDuty,
			AccM: f(4.5), SpeedMPS: f(0), HeadingDeg: f(359.99), Battery: f(1)},
		{Seq: 0, TS: 1, Lat: 1e-7, Lon: -1e-7, Status: protocol.StatusOnScene, Battery: f(0.5)},
		{Seq: 3, TS: 4, Lat: 0, Lon: 0, Status: protocol.StatusEnroute, HeadingDeg: f(90)},
		{Seq: 5, TS: 6, Lat: 0, Lon: 0, Status: protocol.StatusBusy, SpeedMPS: f(13.4)},
	} {
		key := historyKey(positionPrefix, "unit-1", p.TS, p.Seq)
		ts, seq, err := parseHistoryKey(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodePosition(ts, seq, encodePosition(p))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", deref(got)) != fmt.Sprintf("%+v", deref(p)) {
			t.Errorf("round trip:\n got %+v\nwant %+v", deref(got), deref(p))
		}
	}
}

// deref shows optional fields by value, for comparison.
func deref(p Position) string {
	s := fmt.Sprintf("%d %d %v %v %s", p.Seq, p.TS, p.Lat, p.Lon, p.Status)
	for _, v := range []*float64{p.AccM, p.SpeedMPS, p.HeadingDeg, p.Battery} {
		if v == nil {
			s += " -"
		} else {
			s += fmt.Sprintf(" %v", *v)
		}
	}
	return s
}

// The stored form is read back on every track query: decoding never panics,
// and what decodes encodes back to the same text.
func FuzzDecodePosition(f *testing.F) {
	f.Add("28.1941,112.9823,a,4.5,11.2,270,0.82")
	f.Add("0,0,o,,,,")
	f.Add(",,,,,,")
	f.Fuzz(func(t *testing.T, val string) {
		p, err := decodePosition(1, 1, val)
		if err != nil {
			return
		}
		if again, err := decodePosition(1, 1, encodePosition(p)); err != nil || deref(again) != deref(p) {
			t.Fatalf("%q: decoded %s, re-decoded %s (%v)", val, deref(p), deref(again), err)
		}
	})
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.CreateUnit(testUnit("u1", protocol.TypeCar))
	// Rewrite one unit's live record until the file is past the threshold.
	fix := point("u1", 1, now.UnixMilli()).Position
	live := Live{Fix: &fix, Seqs: []protocol.Range{{1, 1}}}
	big := strings.Repeat("x", 64<<10)
	for s.fileSize(t) < compactMin+1<<20 {
		live.Status = protocol.Status(big[:1+len(big)%7])
		if _, err := s.Commit(&Batch{Lives: map[string]Live{"u1": live}, Points: []UnitPosition{{Unit: "u1", Position: Position{Seq: 1, TS: now.UnixMilli(), Status: protocol.StatusAvailable}}}}, now); err != nil {
			t.Fatal(err)
		}
		s.Put(map[string][]byte{"inc:x": []byte(big)})
	}
	before := s.fileSize(t)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after := s.fileSize(t)
	if after >= before/10 {
		t.Errorf("compaction left %d of %d bytes", after, before)
	}
	if b, err := s.Get("inc:x"); err != nil || len(b) != len(big) {
		t.Errorf("record lost in compaction: %v", err)
	}
	// The compaction put a new file in place: Sync must flush that one from now on.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.Stat(s.path)
	mine, _ := s.syncFile.Stat()
	if !os.SameFile(cur, mine) {
		t.Error("Sync still holds the file the compaction replaced")
	}
	if err := s.Compact(); err != nil || s.fileSize(t) != after {
		t.Errorf("a second compaction right after should do nothing: %v", err)
	}
}

func (s *Store) fileSize(t *testing.T) int64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// testUnit is a unit record as the fleet writes it.
func testUnit(id string, typ protocol.UnitType, caps ...string) Unit {
	return Unit{ID: id, Type: typ, Capabilities: caps, SecretHash: strings.Repeat("ab", 32), Enrolled: 1764403200000}
}
