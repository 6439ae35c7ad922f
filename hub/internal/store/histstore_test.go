package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
)

func TestPrune(t *testing.T) {
	day := int64(24 * time.Hour / time.Millisecond)
	base := now.UnixMilli() // 08:00 UTC
	for _, tc := range []struct {
		name              string
		keep, keepEvents  time.Duration
		at                time.Time
		wantDays          int
		wantTrack, wantEv int
	}{
		{"nothing old enough", 72 * time.Hour, 72 * time.Hour, now.Add(50 * time.Hour), 0, 3, 3},
		{"one day of positions", 24 * time.Hour, 72 * time.Hour, now.Add(50 * time.Hour), 1, 2, 3},
		{"positions and events", 24 * time.Hour, 30 * time.Hour, now.Add(50 * time.Hour), 2, 2, 2},
		{"all but today", time.Hour, time.Hour, now.Add(50 * time.Hour), 4, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Config{Dir: t.TempDir(), SnapshotInterval: -1, Retention: 1000 * time.Hour, EventRetention: 1000 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var b Batch
			for i := int64(0); i < 3; i++ {
				b.Points = append(b.Points, point("u1", uint64(i+1), base+i*day))
				b.Events = append(b.Events, protocol.Event{Unit: "u1", Seq: uint64(i + 10), TS: base + i*day, Type: protocol.EventStatus, Status: protocol.StatusBusy})
			}
			if _, err := s.Commit(&b, now); err != nil {
				t.Fatal(err)
			}
			s.cfg.Retention, s.cfg.EventRetention = tc.keep, tc.keepEvents
			dropped, err := s.Prune(tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if dropped != tc.wantDays {
				t.Errorf("dropped %d days, want %d", dropped, tc.wantDays)
			}
			tr, _ := s.Track("u1", 0, base+10*day, 0)
			ev, _ := s.Events("u1", 0, base+10*day, 0)
			if len(tr) != tc.wantTrack || len(ev) != tc.wantEv {
				t.Errorf("after pruning: %d positions, %d events; want %d, %d", len(tr), len(ev), tc.wantTrack, tc.wantEv)
			}
		})
	}
}

// A history append that fails fails the commit: no live record is
// written, commits are reported failing, nothing may be confirmed.
func TestFailingHistoryAppendFailsCommit(t *testing.T) {
	s := open(t, t.TempDir())
	s.histAppend = func(history.Batch) error { return errors.New("disk on fire") }
	_, err := s.Commit(&Batch{Points: []UnitPosition{point("u1", 1, now.UnixMilli())},
		Lives: map[string]Live{"u1": {Status: protocol.StatusBusy}}}, now)
	if !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("commit: %v, want ErrWriteFailed", err)
	}
	if l, _ := s.Live("u1"); l.Status != "" {
		t.Errorf("live record written after a failed history append: %+v", l)
	}
	if f := faultsOf(s); f["commits"].Failures != 1 {
		t.Errorf("faults %+v, want a commits fault", f)
	}
	s.histAppend = s.hist.Append
	if _, err := s.Commit(&Batch{Points: []UnitPosition{point("u1", 1, now.UnixMilli())},
		Lives: map[string]Live{"u1": {Status: protocol.StatusBusy}}}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if f := faultsOf(s); len(f) != 0 {
		t.Errorf("faults after a commit that worked: %+v", f)
	}
}

// A crash after the history append but before the live record: the
// resend writes the same keys again, and the history holds each once.
func TestResendAfterHistoryOnlyCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{Points: []UnitPosition{point("u1", 1, now.UnixMilli()), point("u1", 2, now.UnixMilli()+1)},
		Events: []protocol.Event{{Unit: "u1", Seq: 3, TS: now.UnixMilli(), Type: protocol.EventStatus, Status: protocol.StatusBusy}},
		Lives:  map[string]Live{"u1": {Seqs: []protocol.Range{{1, 3}}}}}
	if err := s.hist.Append(history.Batch{Positions: []history.Position{toHistory(b.Points[0]), toHistory(b.Points[1])}, Events: b.Events}); err != nil {
		t.Fatal(err)
	}
	s.Close() // "crash": the live record was never written
	s = open(t, dir)
	if l, _ := s.Live("u1"); len(l.Seqs) != 0 {
		t.Fatalf("live record %+v before the resend", l)
	}
	if _, err := s.Commit(b, now); err != nil {
		t.Fatal(err)
	}
	tr, _ := s.Track("u1", 0, now.UnixMilli()+10, 0)
	ev, _ := s.Events("u1", 0, now.UnixMilli()+10, 0)
	if len(tr) != 2 || len(ev) != 1 {
		t.Fatalf("after the resend: %d positions, %d events; want 2, 1", len(tr), len(ev))
	}
	if ok, _ := s.HasPosition("u1", now.UnixMilli()+1, 2); !ok {
		t.Error("HasPosition misses a committed position")
	}
	if ok, _ := s.HasEvent("u1", now.UnixMilli(), 3); !ok {
		t.Error("HasEvent misses a committed event")
	}
	if ok, _ := s.HasPosition("u1", now.UnixMilli()+1, 3); ok {
		t.Error("HasPosition finds a position never sent")
	}
}

// writeV1 writes history the way version 1 of the store did: p: and e:
// keys in hub.db.
func writeV1(t *testing.T, s *Store, pts []UnitPosition, evs []protocol.Event, junk map[string]string) {
	t.Helper()
	err := s.db.Update(func(tx *buntdb.Tx) error {
		for _, p := range pts {
			if _, _, err := tx.Set(historyKey(positionPrefix, p.Unit, p.TS, p.Seq), encodePosition(p.Position), nil); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := setJSON(tx, historyKey(eventPrefix, e.Unit, e.TS, e.Seq), e, nil); err != nil {
				return err
			}
		}
		for k, v := range junk {
			if _, _, err := tx.Set(k, v, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

func v1Keys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, _ string) bool {
			if strings.HasPrefix(k, positionPrefix) || strings.HasPrefix(k, eventPrefix) {
				keys = append(keys, k)
			}
			return true
		})
	})
	return keys
}

func TestMigrateV1History(t *testing.T) {
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 7 // several batches
	for _, tc := range []struct {
		name        string
		interrupted bool // some records were appended to history already, their keys not deleted
		junk        map[string]string
		wantLeft    int
	}{
		{"clean", false, nil, 0},
		{"interrupted", true, nil, 0},
		{"undecodable record stays", false, map[string]string{historyKey(positionPrefix, "u2", 5, 5): "not,a,position"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			base := now.UnixMilli()
			var pts []UnitPosition
			var evs []protocol.Event
			for i := int64(0); i < 40; i++ {
				unit := []string{"u1", "u1-x", "u2"}[i%3]
				pts = append(pts, point(unit, uint64(i+1), base+i*3_600_000))
				if i%4 == 0 {
					evs = append(evs, protocol.Event{Unit: unit, Seq: uint64(i + 1000), TS: base + i*3_600_000, Type: protocol.EventStatus, Status: protocol.StatusBusy})
				}
			}
			writeV1(t, s, pts, evs, tc.junk)
			if tc.interrupted {
				hb := history.Batch{Events: evs[:3]}
				for _, p := range pts[:10] {
					hb.Positions = append(hb.Positions, toHistory(p))
				}
				if err := s.hist.Append(hb); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			for round := 0; round < 2; round++ { // the second start has nothing to do
				s = open(t, dir)
				if left := v1Keys(t, s); len(left) != tc.wantLeft {
					t.Errorf("start %d: %d v1 keys left in hub.db, want %d", round, len(left), tc.wantLeft)
				}
				n, m := 0, 0
				for _, u := range []string{"u1", "u1-x", "u2"} {
					tr, err := s.Track(u, 0, base+100*3_600_000, 0)
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range tr {
						if (p.Seq-1)%3 != map[string]uint64{"u1": 0, "u1-x": 1, "u2": 2}[u] || p.TS != base+int64(p.Seq-1)*3_600_000 {
							t.Errorf("%s: unexpected %+v", u, p)
						}
					}
					ev, _ := s.Events(u, 0, base+100*3_600_000, 0)
					n, m = n+len(tr), m+len(ev)
				}
				if n != len(pts) || m != len(evs) {
					t.Errorf("start %d: %d positions, %d events in history; want %d, %d", round, n, m, len(pts), len(evs))
				}
				s.Close()
			}
			if _, err := os.Stat(filepath.Join(dir, HistoryDir, "positions")); err != nil {
				t.Error(err)
			}
		})
	}
}

// commitV1 commits a batch as version 1 of the store did: its positions and
// events as p: and e: keys in hub.db, with the live records, in one
// transaction. The salvage tests fill hub.db with it (Open moves the
// history out at the next start).
func commitV1(t testing.TB, s *Store, b *Batch) {
	t.Helper()
	err := s.db.Update(func(tx *buntdb.Tx) error {
		for _, p := range b.Points {
			if _, _, err := tx.Set(historyKey(positionPrefix, p.Unit, p.TS, p.Seq), encodePosition(p.Position), nil); err != nil {
				return err
			}
		}
		for _, e := range b.Events {
			if err := setJSON(tx, historyKey(eventPrefix, e.Unit, e.TS, e.Seq), e, nil); err != nil {
				return err
			}
		}
		return commitTx(tx, b)
	})
	if err != nil {
		t.Fatal(err)
	}
}
