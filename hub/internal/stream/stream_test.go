package stream

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSnapshotThenDeltas(t *testing.T) {
	const interval = 200 * time.Millisecond
	f := newFixture(t, Config{Interval: interval})
	f.setUnit("u1", thing{ID: "u1"})
	f.setUnit("u2", thing{ID: "u2"})
	f.setIncident("i1", thing{ID: "i1"})

	r := startReader(t, f.connect(dialOpts{}))
	snap := r.next(t, 2*time.Second)
	if snap.Type != kindSnapshot {
		t.Fatalf("first frame: %v, want a snapshot", snap)
	}
	if !slices.Equal(snap.Units, []thing{{ID: "u1"}, {ID: "u2"}}) || !slices.Equal(snap.Incidents, []thing{{ID: "i1"}}) {
		t.Fatalf("snapshot: %v", snap)
	}
	if now := time.Now().UnixMilli(); snap.TS < now-5000 || snap.TS > now+5000 {
		t.Errorf("snapshot ts %d, now %d", snap.TS, now)
	}

	cases := []struct {
		name   string
		change func() // idempotent: it may be made again
		want   got
		absent []string // keys the delta leaves out
	}{{
		name: "many changes to one unit in a window: one entry, the last",
		change: func() {
			for n := 1; n <= 5; n++ {
				f.setUnit("u1", thing{ID: "u1", N: n})
			}
		},
		want:   got{Units: []thing{{ID: "u1", N: 5}}},
		absent: []string{"incidents", "removed_units", "removed_incidents"},
	}, {
		name:   "a unit removed",
		change: func() { f.setUnit("u2", nil) },
		want:   got{RemovedUnits: []string{"u2"}},
		absent: []string{"units", "incidents", "removed_incidents"},
	}, {
		name: "an incident opened, another closed",
		change: func() {
			f.setIncident("i2", thing{ID: "i2", N: 1})
			f.setIncident("i1", nil)
		},
		want:   got{Incidents: []thing{{ID: "i2", N: 1}}, RemovedIncidents: []string{"i1"}},
		absent: []string{"units", "removed_units"},
	}, {
		name: "added and removed in one window: only the removal",
		change: func() {
			f.setUnit("u3", thing{ID: "u3"})
			f.setUnit("u3", nil)
		},
		want: got{RemovedUnits: []string{"u3"}},
	}, {
		name: "units and incidents together",
		change: func() {
			f.setUnit("u1", thing{ID: "u1", N: 6})
			f.setUnit("u4", thing{ID: "u4"})
			f.setIncident("i2", thing{ID: "i2", N: 2})
		},
		want: got{Units: []thing{{ID: "u1", N: 6}, {ID: "u4"}}, Incidents: []thing{{ID: "i2", N: 2}}},
	}, {
		name: "a value that is not JSON is left out, the rest goes",
		change: func() {
			f.setUnit("bad", math.Inf(1))
			f.setUnit("u4", thing{ID: "u4", N: 1})
		},
		want: got{Units: []thing{{ID: "u4", N: 1}}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prime, g := f.inOneWindow(t, r, interval, tc.change)
			if g.Type != kindDelta || g.Seq != prime.Seq+1 {
				t.Fatalf("got %v, want a delta with seq %d", g, prime.Seq+1)
			}
			slices.SortFunc(g.Units, func(a, b thing) int { return strings.Compare(a.ID, b.ID) })
			if !slices.Equal(g.Units, tc.want.Units) || !slices.Equal(g.Incidents, tc.want.Incidents) ||
				!slices.Equal(g.RemovedUnits, tc.want.RemovedUnits) || !slices.Equal(g.RemovedIncidents, tc.want.RemovedIncidents) {
				t.Fatalf("got  %v\nwant %v", g, tc.want)
			}
			for _, k := range tc.absent {
				if bytes.Contains(g.raw, []byte(`"`+k+`"`)) {
					t.Errorf("delta %s has an empty %q; empty lists are left out", g.raw, k)
				}
			}
		})
	}

	// A client connecting now sees the state all those deltas led to, and
	// the seq of the last delta.
	lastSeq := r.last.Seq
	r2 := startReader(t, f.connect(dialOpts{}))
	snap = r2.next(t, 2*time.Second)
	slices.SortFunc(snap.Units, func(a, b thing) int { return strings.Compare(a.ID, b.ID) })
	wantUnits := []thing{{ID: "prime", N: f.primes}, {ID: "u1", N: 6}, {ID: "u4", N: 1}}
	if snap.Type != kindSnapshot || snap.Seq != lastSeq || !slices.Equal(snap.Units, wantUnits) ||
		!slices.Equal(snap.Incidents, []thing{{ID: "i2", N: 2}}) {
		t.Fatalf("late snapshot: %v, want seq %d, units %v, incidents [i2 2]", snap, lastSeq, wantUnits)
	}
	// A frame counts once its write returns, which can be after the client has it.
	waitFor(t, 2*time.Second, "frames_total to count every frame", func() bool {
		return f.metric("kuaifan_stream_frames_total", "type", "snapshot") == 2 &&
			f.metric("kuaifan_stream_frames_total", "type", "delta") == float64(r.count-1)
	})
	if got := f.metric("kuaifan_stream_clients"); got != 2 {
		t.Errorf("clients gauge %v, want 2", got)
	}
}

func TestEmptySnapshotHasLists(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.connect(dialOpts{})
	g := next(t, c, 2*time.Second)
	if want := `{"type":"snapshot","seq":0,"ts":`; !bytes.HasPrefix(g.raw, []byte(want)) ||
		!bytes.HasSuffix(g.raw, []byte(`,"units":[],"incidents":[]}`)) {
		t.Fatalf("empty snapshot %s", g.raw)
	}
}

func TestBatching(t *testing.T) {
	const interval = 100 * time.Millisecond
	f := newFixture(t, Config{Interval: interval})
	r := startReader(t, f.connect(dialOpts{}))
	if g := r.next(t, 2*time.Second); g.Type != kindSnapshot {
		t.Fatalf("first frame %v", g)
	}

	t.Run("one window, one frame", func(t *testing.T) {
		_, g := f.inOneWindow(t, r, interval, func() {
			for i := range 100 {
				id := fmt.Sprintf("b%03d", i)
				f.setUnit(id, thing{ID: id, N: i})
			}
		})
		if len(g.Units) != 100 {
			t.Fatalf("%d units in the frame after a burst of 100 changes", len(g.Units))
		}
		select {
		case g := <-r.frames:
			t.Fatalf("a frame without changes: %v", g)
		case <-time.After(3 * interval):
		}
	})

	t.Run("at most one frame per window under constant change", func(t *testing.T) {
		const run = time.Second
		stop := time.Now().Add(run)
		n := 0
		for time.Now().Before(stop) {
			n++
			f.setUnit("busy", thing{ID: "busy", N: n})
			time.Sleep(time.Millisecond)
		}
		var frames []got
		for len(frames) == 0 || frames[len(frames)-1].Units[0].N != n {
			frames = append(frames, r.next(t, 2*time.Second))
		}
		if max := int(run/interval) + 2; len(frames) > max {
			t.Errorf("%d frames in %v, want at most %d", len(frames), run, max)
		}
		for i := 1; i < len(frames); i++ {
			// ts is in ms, the loop paces on the monotonic clock: allow 1 ms.
			if d := time.Duration(frames[i].TS-frames[i-1].TS) * time.Millisecond; d < interval-time.Millisecond {
				t.Errorf("frames %d and %d built %v apart, want ≥ %v", frames[i-1].Seq, frames[i].Seq, d, interval)
			}
			if frames[i].Seq != frames[i-1].Seq+1 {
				t.Errorf("seq %d after %d", frames[i].Seq, frames[i-1].Seq)
			}
			if len(frames[i].Units) != 1 {
				t.Errorf("frame %v: one entry per unit per window", frames[i])
			}
		}
	})
}

func TestTicket(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	s := New(Config{Now: clock.Now, TicketTTL: time.Minute}, newMemSource())
	seen := map[string]bool{}
	for range 1000 {
		tk, exp := s.Ticket()
		if len(tk) != 43 || strings.ContainsAny(tk, "+/=") {
			t.Fatalf("ticket %q: want 43 characters of unpadded base64url (256 bits)", tk)
		}
		if !exp.Equal(clock.now.Add(time.Minute)) {
			t.Fatalf("expires %v, want now + TTL", exp)
		}
		if seen[tk] {
			t.Fatalf("ticket %q issued twice", tk)
		}
		seen[tk] = true
	}
	// Expired tickets are swept when new ones are issued.
	clock.Advance(time.Minute)
	s.Ticket()
	if n := len(s.tickets); n != 1 {
		t.Errorf("%d tickets kept after the others expired, want 1", n)
	}
}
