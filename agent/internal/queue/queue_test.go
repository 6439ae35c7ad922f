package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
)

// TestNextOrder walks one reconnect: events first, then the newest position,
// then the backlog oldest first, in-flight items skipped until resendAfter.
func TestNextOrder(t *testing.T) {
	clk := newClock()
	q := openQ(t, Config{Dir: t.TempDir(), Now: clk.Now})
	ts := t0.UnixMilli()
	p1 := mustAppend(t, q, Telemetry, ts+1000)
	p2 := mustAppend(t, q, Telemetry, ts+2000)
	e1 := mustAppend(t, q, Event, ts+2500)
	p3 := mustAppend(t, q, Telemetry, ts+3000)
	p4 := mustAppend(t, q, Telemetry, ts+4000)
	e2 := mustAppend(t, q, Event, ts+4500)
	p5 := mustAppend(t, q, Telemetry, ts+5000) // newest

	const resend = 10 * time.Second
	steps := []struct {
		name string
		do   func()
		n    int
		want []Item
	}{
		{"reconnect: events, newest, backlog oldest first", nil, 10, []Item{e1, e2, p5, p1, p2, p3, p4}},
		{"n bounds the batch", nil, 3, []Item{e1, e2, p5}},
		{"in flight is skipped", func() { q.MarkSent(clk.Now(), e1.Seq, p5.Seq, p1.Seq) }, 10, []Item{e2, p2, p3, p4}},
		{"more in flight", func() {
			q.MarkSent(clk.Now(), e2.Seq, p2.Seq)
		}, 10, []Item{p3, p4}},
		{"a new event and position jump the backlog", nil, 10, nil}, // filled in below
		{"resend after resendAfter: never-sent before resends", func() {
			clk.Add(resend) // everything sent so far is now due
		}, 10, nil},
	}
	// The last two steps append, so their wants are built as they run.
	var e3, p6 Item
	steps[4].do = func() {
		clk.Add(2 * time.Second)
		e3 = mustAppend(t, q, Event, ts+6000)
		p6 = mustAppend(t, q, Telemetry, ts+6000)
	}
	for i, st := range steps {
		if st.do != nil {
			st.do()
		}
		switch i {
		case 4:
			st.want = []Item{e3, p6, p3, p4}
		case 5:
			// e1, e2 due again (oldest first, with e3); p6 newest and unsent;
			// then never-sent p3, p4; then the due ones oldest first: p1, p2
			// (p5 is no longer the newest: it is backlog now).
			st.want = []Item{e1, e2, e3, p6, p3, p4, p1, p2, p5}
		}
		got := q.Next(st.n, resend)
		if !slices.Equal(seqsOf(got), seqsOf(st.want)) {
			t.Fatalf("%s: got %v, want %v", st.name, seqsOf(got), seqsOf(st.want))
		}
		for j := range got {
			if !bytes.Equal(got[j].Payload, st.want[j].Payload) || got[j].TS != st.want[j].TS || got[j].Kind != st.want[j].Kind {
				t.Fatalf("%s: item %d is %+v, want %+v", st.name, j, got[j], st.want[j])
			}
		}
	}
	if q.Next(0, resend) != nil {
		t.Fatal("Next(0) returned items")
	}
}

// TestNewestIsByTime: the newest position is the latest by ts (then seq),
// as the hub's live marker is, not the last appended.
func TestNewestIsByTime(t *testing.T) {
	q := openQ(t, Config{Dir: t.TempDir()})
	ts := t0.UnixMilli()
	a := mustAppend(t, q, Telemetry, ts+5000)
	b := mustAppend(t, q, Telemetry, ts+1000) // a fix stamped earlier, appended later
	c := mustAppend(t, q, Telemetry, ts+3000)
	if got := seqsOf(q.Next(10, time.Minute)); !slices.Equal(got, []uint64{a.Seq, b.Seq, c.Seq}) {
		t.Fatalf("got %v, want newest-by-ts %d then %d, %d", got, a.Seq, b.Seq, c.Seq)
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		name   string
		ranges func(s []uint64) protocol.Ranges // s: the 8 queued seqs
		want   []int                            // indexes into s that remain
	}{
		{"nothing", func([]uint64) protocol.Ranges { return nil }, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"below everything", func(s []uint64) protocol.Ranges { return protocol.Ranges{{0, s[0] - 1}} }, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"above everything", func(s []uint64) protocol.Ranges { return protocol.Ranges{{s[7] + 1, math.MaxUint64}} }, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"everything", func([]uint64) protocol.Ranges { return protocol.Ranges{{0, math.MaxUint64}} }, nil},
		{"exactly the queue", func(s []uint64) protocol.Ranges { return protocol.Ranges{{s[0], s[7]}} }, nil},
		{"with gaps", func(s []uint64) protocol.Ranges {
			return protocol.Ranges{{s[0], s[1]}, {s[4], s[4]}, {s[6], s[7] + 100}}
		}, []int{2, 3, 5}},
		{"unsorted and overlapping", func(s []uint64) protocol.Ranges {
			return protocol.Ranges{{s[5], s[6]}, {s[1], s[2]}, {s[2], s[3]}, {s[6], s[6]}}
		}, []int{0, 4, 7}},
		{"from above to is ignored", func(s []uint64) protocol.Ranges {
			return protocol.Ranges{{s[3], s[1]}, {s[0], s[0]}}
		}, []int{1, 2, 3, 4, 5, 6, 7}},
		{"unknown seqs only", func(s []uint64) protocol.Ranges {
			return protocol.Ranges{{1, 1000}, {s[7] + 5, s[7] + 9}}
		}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := openQ(t, Config{Dir: t.TempDir()})
			var s []uint64
			for i := range 8 {
				kind := Telemetry
				if i%3 == 2 {
					kind = Event
				}
				s = append(s, mustAppend(t, q, kind, t0.UnixMilli()+int64(i)).Seq)
			}
			q.MarkSent(t0, s[0], s[2]) // sent or not makes no difference
			n, err := q.Ack(tc.ranges(s))
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, i := range tc.want {
				want = append(want, s[i])
			}
			if n != 8-len(want) {
				t.Errorf("Ack = %d, want %d", n, 8-len(want))
			}
			if got := seqsOf(stored(t, q)); !slices.Equal(got, want) {
				t.Errorf("left %v, want %v", got, want)
			}
			checkIndex(t, q)
			for _, seq := range s {
				if got := q.Has(seq); got != slices.Contains(want, seq) {
					t.Errorf("Has(%d) = %v after the ack", seq, got)
				}
			}
			// Acking the same again changes nothing.
			if n, err := q.Ack(tc.ranges(s)); err != nil || n != 0 {
				t.Errorf("second Ack = %d, %v", n, err)
			}
		})
	}
}

// TestThinningExact follows the documented rule step by step on ten slots.
func TestThinningExact(t *testing.T) {
	q := openQ(t, Config{Dir: t.TempDir(), MaxItems: 10})
	var p []uint64 // p[i] has ts i
	for i := range 16 {
		p = append(p, mustAppend(t, q, Telemetry, int64(1000+i)).Seq)
	}
	// 10 fit. Then, each Append drops one:
	//  p10: pass over the oldest half of p0..p9 (up to p4): keep p0, drop p1
	//  p11: keep p2, drop p3
	//  p12: keep p4, drop p5 — beyond p4: a new pass over p0 p2 p4 p5 .. p11,
	//       oldest half up to p6: keep p0, drop p2
	//  p13: keep p4, drop p5
	//  p14: keep p6, drop p7 — beyond p6: a new pass over p0 p4 p6 p7 .. p13,
	//       up to p8: keep p0, drop p4
	//  p15: keep p6, drop p7
	// The oldest point (where the gap began) stays throughout.
	want := []uint64{p[0], p[6], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]}
	if got := seqsOf(stored(t, q)); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	checkIndex(t, q)
}

// TestThinningKeepsEventsAndShape fills a small queue far past its bound.
func TestThinningKeepsEventsAndShape(t *testing.T) {
	logs := &logRec{}
	const max = 100
	q := openQ(t, Config{Dir: t.TempDir(), MaxItems: max, Logger: slog.New(logs)})
	var events []uint64
	var first, last Item
	for i := range 1000 {
		if i%20 == 10 {
			events = append(events, mustAppend(t, q, Event, int64(1000+i)).Seq)
			continue
		}
		last = mustAppend(t, q, Telemetry, int64(1000+i))
		if i == 0 {
			first = last
		}
		if q.Len() > max {
			t.Fatalf("after %d appends: %d items, bound %d", i+1, q.Len(), max)
		}
	}
	items := stored(t, q)
	var kept []Item
	for _, it := range items {
		if it.Kind == Event {
			if !slices.Contains(events, it.Seq) {
				t.Fatalf("unknown event %d", it.Seq)
			}
			continue
		}
		kept = append(kept, it)
	}
	if _, ev := q.Counts(); ev != len(events) {
		t.Fatalf("%d events kept, %d appended", ev, len(events))
	}
	if kept[len(kept)-1].Seq != last.Seq || kept[0].Seq != first.Seq {
		t.Fatalf("first and newest positions must stay: kept %d..%d, appended %d..%d",
			kept[0].Seq, kept[len(kept)-1].Seq, first.Seq, last.Seq)
	}
	// Older is sparser: the oldest quarter of the time span holds fewer
	// points than the newest quarter.
	span := last.TS - first.TS
	var old, recent int
	for _, it := range kept {
		switch {
		case it.TS < first.TS+span/4:
			old++
		case it.TS >= last.TS-span/4:
			recent++
		}
	}
	if old >= recent || recent < 20 {
		t.Fatalf("oldest quarter %d points, newest quarter %d: thinning should favour the recent track", old, recent)
	}
	if logs.count(slog.LevelWarn, "thinning") == 0 {
		t.Error("thinning was not logged")
	}
	checkIndex(t, q)
}

// TestFullOfEvents: events are never dropped; the newest position is kept
// even then, and the queue grows beyond MaxItems, loudly.
func TestFullOfEvents(t *testing.T) {
	logs := &logRec{}
	clk := newClock()
	q := openQ(t, Config{Dir: t.TempDir(), MaxItems: 5, Logger: slog.New(logs), Now: clk.Now})
	var events []uint64
	for i := range 5 {
		events = append(events, mustAppend(t, q, Event, int64(i+1)).Seq)
	}
	p1 := mustAppend(t, q, Telemetry, 10)
	if pos, ev := q.Counts(); pos != 1 || ev != 5 {
		t.Fatalf("counts %d, %d: the only position must be kept", pos, ev)
	}
	p2 := mustAppend(t, q, Telemetry, 11)
	if got := seqsOf(stored(t, q)); !slices.Equal(got, append(slices.Clone(events), p2.Seq)) {
		t.Fatalf("stored %v: want the events and the newest position %d (not %d)", got, p2.Seq, p1.Seq)
	}
	e := mustAppend(t, q, Event, 12)
	if q.Len() != 7 {
		t.Fatalf("len %d, want 7 (events are never dropped)", q.Len())
	}
	if n := logs.count(slog.LevelError, "events alone"); n != 1 {
		t.Fatalf("%d Error logs about events over the bound, want 1", n)
	}
	mustAppend(t, q, Event, 13) // within the minute: not logged again
	clk.Add(time.Minute)
	mustAppend(t, q, Event, 14)
	if n := logs.count(slog.LevelError, "events alone"); n != 2 {
		t.Fatalf("%d Error logs, want 2 (throttled to one a minute)", n)
	}
	if !slices.Contains(seqsOf(stored(t, q)), e.Seq) {
		t.Fatal("event lost")
	}
}

// corrupt inserts a garbage line between two records in the middle of the file.
func corrupt(t *testing.T, path string) { corruptWith(t, path, "#!garbage\r\n") }

func corruptWith(t *testing.T, path, garbage string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := []byte("*3\r\n$3\r\nset\r\n")
	i := bytes.Index(b[len(b)/2:], rec)
	if i < 0 {
		t.Fatal("no record boundary in the second half")
	}
	i += len(b) / 2
	b = slices.Concat(b[:i], []byte(garbage), b[i:])
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name      string
		damage    func(t *testing.T, dir string)
		setAside  bool // a corrupt file set aside, Error logged
		fromClock bool // seq from the clock in µs
		keepsAll  bool // items survive
		cause     string
	}{
		{"garbage mid-file, seq file kept", func(t *testing.T, dir string) {
			corrupt(t, filepath.Join(dir, dbFile))
		}, true, false, false, "invalid database"},
		{"a record that panics buntdb's loader", func(t *testing.T, dir string) {
			corruptWith(t, filepath.Join(dir, dbFile), "*1\r\n$0\r\n\r\n")
		}, true, false, false, "panicked"},
		{"a bad expiry in a record", func(t *testing.T, dir string) {
			corruptWith(t, filepath.Join(dir, dbFile), "*5\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nex\r\n$2\r\nxx\r\n")
		}, true, false, false, "invalid syntax"},
		{"garbage mid-file, seq file lost", func(t *testing.T, dir string) {
			corrupt(t, filepath.Join(dir, dbFile))
			os.Remove(filepath.Join(dir, seqFile))
		}, true, true, false, ""},
		{"database deleted, seq file kept", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, dbFile))
		}, false, false, false, ""},
		{"both deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, dbFile))
			os.Remove(filepath.Join(dir, seqFile))
		}, false, true, false, ""},
		{"seq file garbage, database fine", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, seqFile), []byte("12x\n"), 0o600)
		}, false, false, true, ""},
		{"torn last write", func(t *testing.T, dir string) {
			path := filepath.Join(dir, dbFile)
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-7)
		}, false, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock()
			q, err := Open(Config{Dir: dir, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			var before []Item
			for i := range 40 {
				kind := Telemetry
				if i%4 == 0 {
					kind = Event
				}
				before = append(before, mustAppend(t, q, kind, int64(i+1)))
			}
			q.Ack(protocol.Ranges{{before[0].Seq, before[5].Seq}})
			oldNext := q.NextSeq()
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)

			clk.Add(time.Hour) // a later start: the clock is above the old seqs
			logs := &logRec{}
			q = openQ(t, Config{Dir: dir, Now: clk.Now, Logger: slog.New(logs)})
			asides, _ := filepath.Glob(filepath.Join(dir, dbFile+".corrupt-*"))
			if got := len(asides) == 1 && q.Recovered() != "" && logs.count(slog.LevelError, "SET ASIDE") == 1; got != tc.setAside {
				t.Fatalf("set aside: files %v, Recovered %q, Error logs %d; want %v",
					asides, q.Recovered(), logs.count(slog.LevelError, "SET ASIDE"), tc.setAside)
			}
			if !strings.Contains(q.Recovered(), tc.cause) {
				t.Fatalf("Recovered %q, want it to say %q", q.Recovered(), tc.cause)
			}
			switch {
			case tc.fromClock:
				if want := uint64(clk.Now().UnixMicro()); q.NextSeq() != want {
					t.Fatalf("next seq %d, want the clock in µs %d", q.NextSeq(), want)
				}
			case tc.keepsAll:
				if q.NextSeq() != oldNext {
					t.Fatalf("next seq %d, want %d", q.NextSeq(), oldNext)
				}
			default:
				if q.NextSeq() < oldNext || q.NextSeq() > oldNext+seqLease {
					t.Fatalf("next seq %d, want in [%d, %d]", q.NextSeq(), oldNext, oldNext+seqLease)
				}
			}
			left := stored(t, q)
			switch {
			case tc.setAside && len(left) != 0:
				t.Fatalf("%d items after setting the file aside, want an empty queue", len(left))
			case tc.keepsAll && !slices.Equal(seqsOf(left), seqsOf(before[6:])):
				t.Fatalf("items %v, want %v", seqsOf(left), seqsOf(before[6:]))
			}
			for _, it := range left {
				if it.Seq >= q.NextSeq() {
					t.Fatalf("stored seq %d not below next seq %d", it.Seq, q.NextSeq())
				}
			}
			// The queue works, and seq goes on rising across one more restart.
			it := mustAppend(t, q, Telemetry, 99)
			checkIndex(t, q)
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q2 := openQ(t, Config{Dir: dir, Now: clk.Now})
			if q2.NextSeq() != it.Seq+1 || q2.Recovered() != "" {
				t.Fatalf("after reopening: next %d (want %d), recovered %q", q2.NextSeq(), it.Seq+1, q2.Recovered())
			}
			if v, ok, err := readSeqFile(filepath.Join(dir, seqFile)); !ok || err != nil || v <= it.Seq {
				t.Fatalf("seq file %d, %v, %v: want above %d", v, ok, err, it.Seq)
			}
		})
	}
}

// TestUndecodableItems: an item record that cannot be decoded cannot be
// sent; Open deletes it, loudly, and leaves records that are not items.
func TestUndecodableItems(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 100, 3, t0.UnixMilli())
	db, err := buntdb.Open(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *buntdb.Tx) error {
		tx.Set(itemKey(101), "\x07short", nil) // unknown kind
		tx.Set(itemKey(102), "\x01", nil)      // too short
		tx.Set("someone-else", "value", nil)   // not ours
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logRec{}
	q := openQ(t, Config{Dir: dir, Logger: slog.New(logs)})
	if got := seqsOf(stored(t, q)); !slices.Equal(got, []uint64{100}) || q.NextSeq() != 103 {
		t.Fatalf("items %v next %d, want [100] next 103", got, q.NextSeq())
	}
	if logs.count(slog.LevelError, "undecodable") != 1 || logs.count(slog.LevelWarn, "not queue items") != 1 {
		t.Fatal("undecodable or foreign records not logged")
	}
	checkIndex(t, q)
	q.Close()
	db, err = buntdb.Open(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *buntdb.Tx) error { _, err := tx.Get("someone-else"); return err }); err != nil {
		t.Fatalf("foreign record: %v", err)
	}
}

// TestSeqFileLease: the seq file is written before a seq beyond it is used,
// not on every append.
func TestSeqFileLease(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, Config{Dir: dir})
	first := mustAppend(t, q, Telemetry, 1)
	path := filepath.Join(dir, seqFile)
	v, ok, err := readSeqFile(path)
	if !ok || err != nil || v != first.Seq+seqLease {
		t.Fatalf("seq file %d, %v, %v: want %d", v, ok, err, first.Seq+seqLease)
	}
	fi1, _ := os.Stat(path)
	for range 10 {
		mustAppend(t, q, Telemetry, 2)
	}
	if fi2, _ := os.Stat(path); !os.SameFile(fi1, fi2) {
		t.Fatal("seq file rewritten within its lease")
	}
	// Simulate being at the end of the lease.
	q.mu.Lock()
	q.next = v
	q.mu.Unlock()
	it := mustAppend(t, q, Telemetry, 3)
	if v2, _, _ := readSeqFile(path); it.Seq != v || v2 != v+seqLease {
		t.Fatalf("at the lease: appended %d, file %d; want %d, %d", it.Seq, v2, v, v+seqLease)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open without a directory succeeded")
	}
	if _, err := Open(Config{Dir: t.TempDir(), MaxItems: -1}); err == nil {
		t.Error("Open with a negative bound succeeded")
	}
	q := openQ(t, Config{Dir: t.TempDir()})
	next := q.NextSeq()
	if _, err := q.Append(Kind(7), 1, payload(Telemetry, 1)); err == nil {
		t.Error("Append of an unknown kind succeeded")
	}
	boom := errors.New("boom")
	_, err := q.Append(Telemetry, 1, func(uint64) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) || q.Len() != 0 || q.NextSeq() != next {
		t.Errorf("failed build: err %v, len %d, next %d (want %d): must change nothing", err, q.Len(), q.NextSeq(), next)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := q.Append(Telemetry, 1, payload(Telemetry, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := q.Ack(protocol.Ranges{{0, 1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close: %v", err)
	}
	if q.Next(5, 0) != nil {
		t.Error("Next after Close returned items")
	}
	q.MarkSent(time.Now(), 1) // no panic
}

// TestCompaction: the file shrinks once it is mostly dead records, and
// nothing queued is lost by it, nor by appends and acks made meanwhile.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, Config{Dir: dir})
	q.mu.Lock()
	q.compactMin = 64 << 10
	q.mu.Unlock()
	compactions := func() (done int, busy bool) {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.compactions, q.compacting
	}
	var keep []uint64
	var largest int64
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		ts := t0.UnixMilli() + int64(i)
		it, err := q.Append(Telemetry, ts, telemetry(ts))
		if err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			keep = append(keep, it.Seq)
		} else if _, err := q.Ack(protocol.Ranges{{it.Seq, it.Seq}}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
			largest = max(largest, fi.Size())
		}
		if done, busy := compactions(); done >= 2 && !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no compaction after %d appends; file up to %d bytes", i, largest)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= largest {
		t.Fatalf("file %d bytes, was up to %d: not compacted", fi.Size(), largest)
	}
	next := q.NextSeq()
	q.Close()
	q = openQ(t, Config{Dir: dir})
	if got := seqsOf(stored(t, q)); !slices.Equal(got, keep) || q.NextSeq() != next {
		t.Fatalf("after compaction: %v next %d, want %v next %d", got, q.NextSeq(), keep, next)
	}
	t.Logf("file up to %d bytes, %d after compaction, %d items", largest, fi.Size(), len(keep))
}

// TestConcurrent runs a reporter and a sender at once (for -race).
func TestConcurrent(t *testing.T) {
	q := openQ(t, Config{Dir: t.TempDir(), MaxItems: 150})
	var wg sync.WaitGroup
	const appends = 400
	wg.Go(func() {
		for i := range appends {
			kind := Telemetry
			if i%10 == 0 {
				kind = Event
			}
			if _, err := q.Append(kind, int64(i), payload(kind, int64(i))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	acked := 0
	wg.Go(func() {
		for acked < appends/2 {
			items := q.Next(16, 50*time.Millisecond)
			if len(items) == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			q.MarkSent(time.Now(), seqsOf(items)...)
			n, err := q.Ack(rangesOf(seqsOf(items)))
			if err != nil {
				t.Error(err)
				return
			}
			acked += n
			q.Len()
			q.Counts()
		}
	})
	wg.Wait()
	checkIndex(t, q)
}

// TestMemoryPerItem keeps the resident cost of a queued position in check
// (the agent must stay under 20 MB with 10,000 queued).
func TestMemoryPerItem(t *testing.T) {
	perItem := queuedMemory(t, 10_000)
	t.Logf("%.0f heap bytes per queued position", perItem)
	if perItem > 1000 {
		t.Fatalf("%.0f bytes per queued position", perItem)
	}
}

// queuedMemory opens a queue holding n positions and returns the heap it
// takes per item, after garbage collection.
func queuedMemory(t testing.TB, n int) float64 {
	dir := t.TempDir()
	fill(t, dir, 1, n, t0.UnixMilli())
	var before, after runtime.MemStats
	runtime.GC() // twice: finalisers and sweeping of the last round settle
	runtime.GC()
	runtime.ReadMemStats(&before)
	q, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if q.Len() != n {
		t.Fatalf("len %d, want %d", q.Len(), n)
	}
	runtime.KeepAlive(q)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestInMemory: the simulator's queue works like the file one (order, acks,
// thinning) but writes nothing, and a new one starts above the old seqs.
func TestInMemory(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openQ(t, Config{Dir: dir, InMemory: true, MaxItems: 10, Now: clk.Now})
	var seqs []uint64
	for i := range 12 {
		seqs = append(seqs, mustAppend(t, q, Telemetry, t0.UnixMilli()+int64(i)).Seq)
	}
	ev := mustAppend(t, q, Event, t0.UnixMilli()+12)
	if first := seqs[0]; first != clockSeq(t0) {
		t.Errorf("first seq %d, want the clock in µs %d", first, clockSeq(t0))
	}
	if n := q.Len(); n != 10 {
		t.Errorf("Len = %d after thinning, want 10", n)
	}
	checkIndex(t, q)
	if got := q.Next(2, time.Minute); len(got) != 2 || got[0].Seq != ev.Seq || got[1].Seq != seqs[11] {
		t.Errorf("Next = %v, want the event then the newest position", seqsOf(got))
	}
	if n, err := q.Ack(protocol.Ranges{{seqs[0], ev.Seq}}); err != nil || n != 10 {
		t.Errorf("Ack = %d, %v; want 10", n, err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the directory holds %d entries (%v), want none", len(entries), err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Millisecond)
	q2 := openQ(t, Config{InMemory: true, Now: clk.Now})
	if q2.Len() != 0 || q2.NextSeq() <= ev.Seq {
		t.Errorf("reopened: %d items, next seq %d; want empty and above %d", q2.Len(), q2.NextSeq(), ev.Seq)
	}
}
