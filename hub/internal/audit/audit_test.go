package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wire "kuaifan/protocol/api"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func open(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(dir, func() time.Time { return time.UnixMilli(1_800_000_000_000) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func entry(i int) wire.AuditEntry {
	return wire.AuditEntry{Actor: fmt.Sprintf("user:u%d", i%3), Role: "dispatcher", Addr: "127.0.0.1:1",
		Action: "POST /api/incidents", Target: fmt.Sprintf("inc-%d", i), Status: 201, Body: `{"kind":"theft"}`}
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := l.Append(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func lines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func writeLines(t testing.TB, path string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, append(bytes.Join(ls, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

func verifyOK(t testing.TB, path string, want int) {
	t.Helper()
	if n, err := Verify(path); err != nil || n != want {
		t.Fatalf("Verify = %d, %v; want %d entries, intact", n, err, want)
	}
}

// Each entry gets the next seq and the hash of the line before; a log
// opened again goes on where it ended.
func TestAppendAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	e, err := l.Append(entry(0))
	if err != nil || e.Seq != 1 || e.Prev != "" || e.TS != 1_800_000_000_000 {
		t.Fatalf("first entry %+v %v: want seq 1, no prev, the log's time", e, err)
	}
	e.TS = 42
	e, _ = l.Append(wire.AuditEntry{TS: 42, Actor: "token:admin", Action: "DELETE /api/units/{id}", Status: 204})
	if e.Seq != 2 || e.TS != 42 || e.Prev != lineHash(lines(t, l.Path())[0]) {
		t.Fatalf("second entry %+v: want seq 2, its own TS, prev the first line's SHA-256", e)
	}
	appendN(t, l, 2, 3)
	l.Close()
	if st, err := os.Stat(filepath.Join(dir, File)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the log's mode: %v", err)
	}

	l = open(t, dir)
	e, err = l.Append(entry(9))
	ls := lines(t, l.Path())
	if err != nil || e.Seq != 6 || e.Prev != lineHash(ls[4]) || len(ls) != 6 {
		t.Fatalf("after reopening: %+v %v (%d lines), want seq 6 chained to line 5", e, err, len(ls))
	}
	verifyOK(t, l.Path(), 6)
	// What Append answered is what the file holds.
	var got wire.AuditEntry
	if err := json.Unmarshal(ls[5], &got); err != nil || got != e {
		t.Errorf("line 6 %s, Append answered %+v", ls[5], e)
	}
}

// A log longer than the tail Open reads still continues its chain.
func TestReopenLongLog(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	big := entry(0)
	big.Body = strings.Repeat("x", 1000)
	for range 150 { // about 150 KiB
		if _, err := l.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l = open(t, dir)
	if e, _ := l.Append(entry(1)); e.Seq != 151 {
		t.Fatalf("after reopening a %d-line log: seq %d, want 151", 150, e.Seq)
	}
	verifyOK(t, l.Path(), 151)
}

// A last line cut short by a crash: Open ends it; the next entry follows
// the last whole one; Query skips the torn line; Verify reports it.
func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 3)
	l.Close()
	path := filepath.Join(dir, File)
	b, _ := os.ReadFile(path)
	cut := len(b) - 20
	if err := os.WriteFile(path, b[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader while the line is being written: not yet a line.
	if page, err := Query(path, Filter{}); err != nil || len(page.Entries) != 2 {
		t.Fatalf("Query of a log with a line half written: %d entries, %v; want 2", len(page.Entries), err)
	}

	l = open(t, dir)
	if b2, _ := os.ReadFile(path); len(b2) != cut+1 || b2[cut] != '\n' {
		t.Fatalf("Open did not end the torn line: %q", b2[max(0, cut-10):])
	}
	e, err := l.Append(entry(7))
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(t, path)
	if e.Seq != 3 || e.Prev != lineHash(ls[1]) || len(ls) != 4 {
		t.Fatalf("after a torn line: %+v (%d lines), want seq 3 chained to line 2", e, len(ls))
	}
	page, err := Query(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if seqs := seqsOf(page.Entries); !slices.Equal(seqs, []uint64{3, 2, 1}) || page.Entries[0].Target != "inc-7" {
		t.Errorf("Query after a torn line: %v, want 3 (the new), 2, 1", seqs)
	}
	n, err := Verify(path)
	if err == nil || n != 2 || !strings.Contains(err.Error(), "line 3 ") {
		t.Errorf("Verify = %d, %v; want the torn line 3 reported after 2 entries", n, err)
	}
}

func seqsOf(es []wire.AuditEntry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// A line edited or taken out shows: Verify names where the chain breaks.
func TestVerifyFindsTampering(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 5)
	l.Close()
	path := filepath.Join(dir, File)
	orig := lines(t, path)
	verifyOK(t, path, 5)

	edit := func(i int, f func(*wire.AuditEntry)) [][]byte {
		var e wire.AuditEntry
		if err := json.Unmarshal(orig[i], &e); err != nil {
			t.Fatal(err)
		}
		f(&e)
		b, _ := json.Marshal(e)
		out := slices.Clone(orig)
		out[i] = b
		return out
	}
	for _, c := range []struct {
		name string
		ls   [][]byte
		n    int    // entries checked before the break
		want string // in the error
	}{
		{"status edited", edit(1, func(e *wire.AuditEntry) { e.Status = 403 }), 2, "line 3: entry 3 does not follow"},
		{"actor edited", edit(0, func(e *wire.AuditEntry) { e.Actor = "user:nobody" }), 1, "line 2: entry 2 does not follow"},
		{"edited and re-chained", edit(2, func(e *wire.AuditEntry) { e.Actor = "user:x"; e.Prev = strings.Repeat("0", 64) }), 2,
			"line 3: entry 3 does not follow"},
		{"a byte edited", func() [][]byte {
			out := slices.Clone(orig)
			out[2] = bytes.Replace(orig[2], []byte("inc-2"), []byte("inc-9"), 1)
			return out
		}(), 3, "line 4: entry 4 does not follow"},
		{"middle removed", slices.Delete(slices.Clone(orig), 2, 3), 2, "line 3: entry 4 follows entry 2: entries are missing"},
		{"first removed", orig[1:], 0, "line 1: entry 2 follows entry 0"},
		{"two swapped", [][]byte{orig[0], orig[2], orig[1], orig[3], orig[4]}, 1, "line 2: entry 3 follows entry 1"},
		{"not JSON", func() [][]byte { out := slices.Clone(orig); out[3] = []byte("hello"); return out }(), 3,
			"line 4 does not read"},
		{"a line inserted", slices.Insert(slices.Clone(orig), 2, orig[1]), 2, "line 3: entry 2 follows entry 2"},
	} {
		path := filepath.Join(t.TempDir(), File)
		writeLines(t, path, c.ls)
		n, err := Verify(path)
		if err == nil || n != c.n || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Verify = %d, %v; want %d then %q", c.name, n, err, c.n, c.want)
		}
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Verify of a missing file: no error")
	}
	if page, err := Query(filepath.Join(t.TempDir(), "none"), Filter{}); err != nil || page.Entries == nil || len(page.Entries) != 0 {
		t.Errorf("Query of a missing file: %+v %v, want no entries", page, err)
	}
}

// Paging through Query with NextBefore gives every matching entry once,
// newest first — the brute force's answer — for random logs and filters.
func TestQueryPaging(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	actors := []string{"user:wang", "user:li", "token:cad", "token:admin"}
	actions := []string{"POST /api/incidents", "POST /api/incidents/{id}/assign", "POST /api/units", "DELETE /api/units/{id}", "POST /api/session"}
	for round := range 15 {
		// Written as Append writes them, without a sync a line: Query reads
		// lines, not the chain.
		dir := t.TempDir()
		var all []wire.AuditEntry
		var file bytes.Buffer
		n := rng.IntN(200)
		ts := int64(1_800_000_000_000)
		for i := range n {
			ts += rng.Int64N(3) // equal times too
			e := wire.AuditEntry{Seq: uint64(i + 1), TS: ts, Actor: actors[rng.IntN(len(actors))],
				Action: actions[rng.IntN(len(actions))], Status: 200}
			b, _ := json.Marshal(e)
			file.Write(append(b, '\n'))
			if rng.IntN(20) == 0 {
				file.WriteString("not an entry\n") // skipped
			}
			all = append(all, e)
		}
		if err := os.WriteFile(filepath.Join(dir, File), file.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			f := Filter{Limit: []int{0, 1, 3, 7, 50, 1000, 5000}[rng.IntN(7)]}
			if f.Limit == 1 && n > 40 {
				f.Limit = 4 // a page an entry: the small logs
			}
			if rng.IntN(2) == 0 {
				f.Actor = actors[rng.IntN(len(actors))]
			}
			if rng.IntN(2) == 0 {
				a := actions[rng.IntN(len(actions))]
				f.Action = a[:rng.IntN(len(a))+1] // a prefix
			}
			if rng.IntN(3) == 0 && n > 0 {
				f.Since = all[rng.IntN(n)].TS
			}
			if rng.IntN(3) == 0 && n > 0 {
				f.Until = all[rng.IntN(n)].TS
			}
			if rng.IntN(3) == 0 {
				f.Before = uint64(rng.IntN(n + 2))
			}
			var want []wire.AuditEntry
			for i := len(all) - 1; i >= 0; i-- {
				e := all[i]
				if (f.Actor == "" || e.Actor == f.Actor) && strings.HasPrefix(e.Action, f.Action) &&
					(f.Since == 0 || e.TS >= f.Since) && (f.Until == 0 || e.TS <= f.Until) && (f.Before == 0 || e.Seq < f.Before) {
					want = append(want, e)
				}
			}
			limit := f.Limit
			if limit == 0 {
				limit = DefaultLimit
			}
			limit = min(limit, MaxLimit)
			var got []wire.AuditEntry
			q := f
			for pages := 0; ; pages++ {
				page, err := Query(filepath.Join(dir, File), q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Entries) > limit || (page.NextBefore != 0 && len(page.Entries) != limit) {
					t.Fatalf("round %d, filter %+v: a page of %d entries (next %d), limit %d", round, q, len(page.Entries), page.NextBefore, limit)
				}
				got = append(got, page.Entries...)
				if page.NextBefore == 0 {
					break
				}
				if pages > n {
					t.Fatalf("round %d, filter %+v: paging does not end", round, f)
				}
				q.Before = page.NextBefore
			}
			if !slices.Equal(seqsOf(got), seqsOf(want)) {
				t.Fatalf("round %d, filter %+v over %d entries: pages give %v, want %v", round, f, n, seqsOf(got), seqsOf(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("entry %d: %+v, want %+v", got[i].Seq, got[i], want[i])
				}
			}
		}
	}
}

// Appends from many goroutines at once get distinct seqs in one intact
// chain, each on disk when Append returns.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	const workers, each = 8, 40
	var mu sync.Mutex
	var seqs []uint64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e, err := l.Append(entry(w*each + i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs = append(seqs, e.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs %v: not 1…%d once each", seqs, workers*each)
		}
	}
	verifyOK(t, l.Path(), workers*each)
	if err := l.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

// FuzzQuery reads arbitrary files: no panic, and what it answers are
// entries, newest first, within the limit.
func FuzzQuery(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint64(0), 3)
	}
	// One file, rewritten by each call (they run one at a time): a new
	// directory a call makes the file system, not the code, the bottleneck.
	path := filepath.Join(f.TempDir(), File)
	f.Fuzz(func(t *testing.T, content []byte, before uint64, limit int) {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		page, err := Query(path, Filter{Before: before, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		want := limit
		if want <= 0 {
			want = DefaultLimit
		}
		if len(page.Entries) > min(want, MaxLimit) {
			t.Fatalf("%d entries, limit %d", len(page.Entries), limit)
		}
		for _, e := range page.Entries {
			if e.Seq == 0 || (before != 0 && e.Seq >= before) {
				t.Fatalf("entry %+v answered (before %d)", e, before)
			}
		}
	})
}

// FuzzVerify checks arbitrary files: no panic, and no more entries counted
// than the file has lines.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), File) // as in FuzzQuery
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := Verify(path)
		if lines := bytes.Count(content, []byte("\n")); n > lines {
			t.Fatalf("%d entries verified in %d lines", n, lines)
		}
		if err == nil && n != bytes.Count(content, []byte("\n")) {
			t.Fatalf("intact, but %d entries of %d lines", n, bytes.Count(content, []byte("\n")))
		}
		// Open ends whatever it finds, and an intact log goes on after its
		// last entry. (A last line without its end is one being written, to
		// Verify; Open ends it, and it counts if it reads.) Not Append: its
		// fsync would slow the fuzzing a hundredfold; Open's position is
		// what it would use.
		l, oerr := Open(filepath.Dir(path), nil)
		if oerr != nil {
			t.Fatal(oerr)
		}
		defer l.Close()
		if err == nil && bytes.HasSuffix(content, []byte("\n")) && l.seq != uint64(n) {
			t.Fatalf("an intact log of %d entries goes on after seq %d", n, l.seq)
		}
		if b, _ := os.ReadFile(path); len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("Open left the last line unended")
		}
	})
}

func fuzzSeeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	l, err := Open(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, l, 0, 4)
	l.Close()
	good, _ := os.ReadFile(filepath.Join(dir, File))
	return [][]byte{good, good[:len(good)-7], []byte("\n\n{}\n"), []byte(`{"seq":1}` + "\n" + `{"seq":1}` + "\n"),
		[]byte(`{"seq":-1}` + "\n"), []byte(`{"seq":1}`), []byte(`{"seq":18446744073709551615,"prev":""}` + "\n"), {}}
}
