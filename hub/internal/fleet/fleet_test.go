package fleet

import (
	"errors"
	"slices"
	"testing"
	"time"

	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

var now = time.UnixMilli(1764403200000)

func open(t *testing.T, dir string) *Fleet {
	t.Helper()
	s, err := store.Open(store.Config{Dir: dir, Retention: 24 * time.Hour, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(Config{Store: s, Match: match.DefaultConfig(), MaxSeqRanges: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		s.Close()
	})
	return f
}

func tele(unit string, seq uint64, ts time.Time, status protocol.Status) Message {
	return Message{Kind: protocol.KindTelemetry, Telemetry: protocol.Telemetry{
		Unit: unit, Seq: seq, TS: ts.UnixMilli(), Lat: 28.2, Lon: 112.9 + float64(seq)*1e-4, Status: status}}
}

func event(unit string, seq uint64, ts time.Time, status protocol.Status) Message {
	return Message{Kind: protocol.KindEvents, Event: protocol.Event{
		Unit: unit, Seq: seq, TS: ts.UnixMilli(), Type: protocol.EventStatus, Status: status}}
}

func state(unit, boot string, online bool) Message {
	return Message{Kind: protocol.KindState, State: protocol.State{Unit: unit, Online: online, Boot: boot}}
}

// Each step applies one batch and checks the results and the unit's view after it.
func TestApply(t *testing.T) {
	f := open(t, t.TempDir())
	if _, err := f.Enrol(Enrolment{ID: "u1", Type: protocol.TypeCar}, now); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		batch   []Message
		results []Result
		online  bool
		seq     uint64 // live fix
		status  protocol.Status
	}{
		{"online", []Message{state("u1", "b1", true)}, []Result{Presence}, true, 0, ""},
		{"first fix", []Message{tele("u1", 10, now, protocol.StatusAvailable)}, []Result{Committed}, true, 10, "available"},
		{"duplicate in the same batch", []Message{tele("u1", 11, now.Add(time.Second), protocol.StatusAvailable), tele("u1", 11, now.Add(time.Second), protocol.StatusAvailable)},
			[]Result{Committed, Duplicate}, true, 11, "available"},
		{"replayed older fix", []Message{tele("u1", 5, now.Add(-time.Minute), protocol.StatusOffDuty)}, []Result{Older}, true, 11, "available"},
		{"beyond retention", []Message{tele("u1", 4, now.Add(-25*time.Hour), protocol.StatusAvailable)}, []Result{Expired}, true, 11, "available"},
		{"duplicate of an expired one", []Message{tele("u1", 4, now.Add(-25*time.Hour), protocol.StatusAvailable)}, []Result{Duplicate}, true, 11, "available"},
		{"status event", []Message{event("u1", 12, now.Add(2*time.Second), protocol.StatusBusy)}, []Result{Committed}, true, 11, "busy"},
		{"older status event", []Message{event("u1", 3, now.Add(-time.Hour), protocol.StatusAvailable)}, []Result{Older}, true, 11, "busy"},
		{"will of an earlier run", []Message{state("u1", "b0", false)}, []Result{StaleWill}, true, 11, "busy"},
		{"own will", []Message{state("u1", "b1", false)}, []Result{Presence}, false, 11, "busy"},
		{"stale fix does not prove presence", []Message{tele("u1", 13, now.Add(-10*time.Minute), protocol.StatusAvailable)}, []Result{Older}, false, 11, "busy"},
		{"fresh fix heals a racing will", []Message{tele("u1", 14, now.Add(3*time.Second), protocol.StatusAvailable)}, []Result{Committed}, true, 14, "available"},
		{"unknown unit", []Message{tele("ghost", 1, now, protocol.StatusAvailable)}, []Result{Unknown}, true, 14, "available"},
	}
	for _, st := range steps {
		out, err := f.Apply(st.batch, now.Add(5*time.Second))
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, r := range out.Results {
			if r != st.results[i] {
				t.Errorf("%s: message %d: %v, want %v", st.name, i, r, st.results[i])
			}
		}
		v, _ := f.Get("u1")
		var seq uint64
		if v.Seq != nil {
			seq = *v.Seq
		}
		if v.Online != st.online || seq != st.seq || v.Status != st.status {
			t.Errorf("%s: online=%v seq=%d status=%q, want %v %d %q", st.name, v.Online, seq, v.Status, st.online, st.seq, st.status)
		}
	}
}

func TestSeqRangesAreBounded(t *testing.T) {
	f := open(t, t.TempDir())
	f.Enrol(Enrolment{ID: "u1", Type: protocol.TypeFoot}, now)
	at := func(seq uint64) time.Time { return now.Add(time.Duration(seq) * time.Second) }
	// Every other seq: each one is a range of its own until the bound (4)
	// forgets the oldest, below a floor.
	for seq := uint64(1); seq <= 20; seq += 2 {
		f.Apply([]Message{tele("u1", seq, at(seq), protocol.StatusAvailable)}, now.Add(time.Minute))
	}
	f.mu.RLock()
	live := f.units["u1"].live
	f.mu.RUnlock()
	seqs := protocol.Ranges(live.Seqs)
	if len(seqs) != 4 || live.SeqFloor != 13 || seqs.Contains(2) || seqs.Contains(18) || !seqs.Contains(19) {
		t.Errorf("seqs = %v, floor %d", seqs, live.SeqFloor)
	}
	// Below the floor the store decides: a gap is stored, a resend is not.
	out, err := f.Apply([]Message{
		tele("u1", 2, at(2), protocol.StatusAvailable),
		tele("u1", 3, at(3), protocol.StatusAvailable),
		tele("u1", 2, at(2), protocol.StatusAvailable),
	}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Result{Older, Duplicate, Duplicate}; !slices.Equal(out.Results, want) {
		t.Errorf("below the floor: %v, want %v", out.Results, want)
	}
	track, _ := f.Track("u1", 0, now.Add(time.Hour).UnixMilli(), 100)
	if len(track) != 11 {
		t.Errorf("track has %d positions, want 11", len(track))
	}
}

func TestEnrolAndVerify(t *testing.T) {
	f := open(t, t.TempDir())
	secret, err := f.Enrol(Enrolment{ID: "car-1", Type: protocol.TypeCar, Capabilities: []string{"medical", "armed", "armed"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 40 {
		t.Errorf("secret %q is short", secret)
	}
	if !f.Verify("car-1", secret) || f.Verify("car-1", secret+"x") || f.Verify("car-1", "") || f.Verify("car-2", secret) {
		t.Error("Verify accepts the wrong secret or refuses the right one")
	}
	if v, _ := f.Get("car-1"); len(v.Capabilities) != 2 || v.Capabilities[0] != "armed" {
		t.Errorf("capabilities = %v, want sorted without repeats", v.Capabilities)
	}
	for _, bad := range []Enrolment{
		{ID: "", Type: protocol.TypeCar},
		{ID: "a:b", Type: protocol.TypeCar},
		{ID: "ok", Type: "bicycle"},
		{ID: "ok", Type: protocol.TypeCar, Capabilities: []string{"Has Space"}},
		{ID: "ok", Type: protocol.TypeCar, Callsign: string(make([]byte, 65))},
	} {
		if _, err := f.Enrol(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("Enrol(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if f.Known("ok") {
		t.Error("a refused enrolment left a unit behind")
	}
}
