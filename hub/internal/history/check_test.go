package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// Check counts every record of a clean history, names a day whose table is
// damaged and one that does not open, and with repair sets the latter aside.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	h, err := Open(Config{Dir: dir, CacheSize: 8 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const days, perDay = 3, 3000
	for d := range days {
		ps := track("car-1", day0+int64(d)*msPerDay, 1000, perDay)
		evs := []protocol.Event{{Unit: "car-1", Seq: 1, TS: day0 + int64(d)*msPerDay, Type: protocol.EventAck}}
		if err := h.Append(Batch{Positions: ps, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil { // flushed: each day's positions in a table
		t.Fatal(err)
	}
	clean, err := Check(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(clean) != 2*days {
		t.Fatalf("%d days checked: %v", len(clean), clean)
	}
	for _, r := range clean {
		want := int64(perDay)
		if r.Kind == Events {
			want = 1
		}
		if r.Records != want || r.Damaged() || r.Kind == Positions && r.AreaEntries == 0 {
			t.Errorf("clean %s", r)
		}
	}

	// Day 1: junk in the middle of its table. Day 2: its MANIFEST gone.
	posDay := func(d int) string { return filepath.Join(dir, "positions", dayName(dayOf(day0)+int64(d))) }
	ssts, _ := filepath.Glob(filepath.Join(posDay(1), "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table to damage")
	}
	data, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	copy(data[len(data)/3:], "junk junk junk junk")
	if err := os.WriteFile(ssts[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(posDay(2), "MANIFEST-*"))
	for _, m := range manifests {
		os.Remove(m)
	}

	for _, repair := range []bool{false, true} {
		reps, err := Check(dir, repair)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			t.Logf("repair=%v: %s", repair, r)
			damaged := r.Kind == Positions && (r.Day == filepath.Base(posDay(1)) || r.Day == filepath.Base(posDay(2)))
			if r.Damaged() != damaged {
				t.Errorf("repair=%v: %s: damaged %v, want %v", repair, r, r.Damaged(), damaged)
			}
			if wantAside := repair && r.Day == filepath.Base(posDay(2)) && r.Kind == Positions; (r.SetAside != "") != wantAside {
				t.Errorf("repair=%v: %s: set aside %q", repair, r, r.SetAside)
			}
		}
	}
	if _, err := os.Stat(posDay(2)); !os.IsNotExist(err) {
		t.Errorf("the day that does not open is still in place: %v", err)
	}
	if aside, _ := filepath.Glob(posDay(2) + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
	if _, err := os.Stat(posDay(1)); err != nil {
		t.Errorf("the day with a damaged table is left for the operator: %v", err)
	}
	reps, _ := Check(dir, false)
	if len(reps) != 2*days-1 || !strings.Contains(reps[1].String(), "DAMAGED") {
		t.Errorf("after repair: %v", reps)
	}
}
