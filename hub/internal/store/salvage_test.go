package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
)

// span is one command of a clean file, as a test reads it.
type span struct {
	off, end int64
	verb     string
	key      string
}

// spans reads a clean buntdb file command by command, independently of scan.
func spans(t testing.TB, data []byte) []span {
	t.Helper()
	var out []span
	i := 0
	line := func() int {
		j := bytes.Index(data[i:], []byte("\r\n"))
		if j < 0 {
			t.Fatalf("no CRLF after byte %d", i)
		}
		n, err := strconv.Atoi(string(data[i+1 : i+j]))
		if err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		i += j + 2
		return n
	}
	for i < len(data) {
		sp := span{off: int64(i)}
		if data[i] != '*' {
			t.Fatalf("byte %d: %q is not a command", i, data[i])
		}
		parts := make([]string, line())
		for p := range parts {
			n := line()
			parts[p] = string(data[i : i+n])
			i += n + 2
		}
		sp.end, sp.verb = int64(i), parts[0]
		if len(parts) > 1 {
			sp.key = parts[1]
		}
		out = append(out, sp)
	}
	return out
}

// seqKey names a stored position: unit and seq.
type seqKey struct {
	unit string
	seq  uint64
}

func (s span) position() (seqKey, bool) {
	if !strings.HasPrefix(s.key, positionPrefix) {
		return seqKey{}, false
	}
	_, seq, err := parseHistoryKey(s.key)
	if err != nil {
		return seqKey{}, false
	}
	return seqKey{s.key[len(positionPrefix) : len(s.key)-17], seq}, true
}

var fillUnits = []string{"car-1", "car-2", "moto-3", "foot-4"}

// fill enrols fillUnits and commits batches of positions (perUnit for each
// unit a batch) with each unit's live record, as ingest does. It returns
// the file's size after each batch.
func fill(t testing.TB, dir string, batches, perUnit int) (sizes []int64) {
	t.Helper()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range fillUnits {
		if err := s.CreateUnit(testUnit(id, protocol.TypeCar)); err != nil {
			t.Fatal(err)
		}
	}
	seq := uint64(0)
	for range batches {
		b := &Batch{Lives: map[string]Live{}}
		for k, id := range fillUnits {
			for j := range perUnit {
				p := Position{Seq: seq + uint64(j) + 1, TS: now.UnixMilli() + int64(seq) + int64(j), Lat: 28.2 + float64(k)*1e-3,
					Lon: 112.9 + float64(j)*1e-5, Status: protocol.StatusAvailable}
				b.Points = append(b.Points, UnitPosition{Unit: id, Position: p})
				if j == perUnit-1 {
					b.Lives[id] = Live{Fix: &p, Status: protocol.StatusAvailable, Seqs: []protocol.Range{{1, p.Seq}}}
				}
			}
		}
		seq += uint64(perUnit)
		commitV1(t, s, b) // v1 history keys: records for salvage to work on
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	return sizes
}

// stored is every position the store holds, by unit and seq.
func stored(t testing.TB, s *Store) map[seqKey]bool {
	t.Helper()
	got := map[seqKey]bool{}
	for _, id := range fillUnits {
		track, err := s.Track(id, 0, math.MaxInt64, math.MaxInt32)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range track {
			got[seqKey{id, p.Seq}] = true
		}
	}
	return got
}

// survivors is what a damaged file must still give: every position whose
// command lies outside the damaged bytes [from, to) and before the last
// complete marker of the first size bytes.
func survivors(sps []span, from, to, size int64) (keep map[seqKey]bool, lost []seqKey) {
	hit := func(sp span) bool { return sp.off < to && sp.end > from }
	var lastMarker int64
	for _, sp := range sps {
		if sp.key == commitKey && sp.end <= size && !hit(sp) {
			lastMarker = sp.end
		}
	}
	keep = map[seqKey]bool{}
	for _, sp := range sps {
		if k, ok := sp.position(); ok {
			if !hit(sp) && sp.end <= lastMarker {
				keep[k] = true
			} else {
				lost = append(lost, k)
			}
		}
	}
	return keep, lost
}

// The damage a disk does: a few bytes of junk, a page of zeros, a torn end.
// Salvage keeps every record outside the damaged bytes and loses exactly
// those in them; the store starts, never empty.
func TestSalvage(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 200, 5) // 4,000 positions
	clean, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	sps := spans(t, clean)
	size := int64(len(clean))
	// The command holding the middle of the file.
	mid := sps[slices.IndexFunc(sps, func(sp span) bool { return sp.end > size/2 })]
	page := (size / 2) &^ 4095

	for _, tc := range []struct {
		name     string
		from, to int64  // damaged bytes
		size     int64  // the file's length after the damage
		with     []byte // what the damaged bytes become (nil: cut off)
		regions  int    // unreadable regions salvage must report
	}{
		// Across the end of one command and the start of the next.
		{"junk over two commands", mid.end - 10, mid.end + 10, size, []byte("\x8b\x01\xff junk junk junk \x00"), 1},
		{"zeroed 4 KiB page", page, page + 4096, size, make([]byte, 4096), 1},
		{"torn end", size - 100, size, size - 100, nil, 0},
		{"a torn end of zeros", size - 100, size, size, make([]byte, 100), 0},
		{"junk and a torn end", mid.end - 10, mid.end + 10, size - 100, []byte("\x8b\x01\xff junk junk junk \x00"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			data := slices.Clone(clean)
			copy(data[tc.from:], tc.with)
			data = data[:tc.size]
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			want, lost := survivors(sps, tc.from, tc.to, tc.size)

			s := open(t, dir)
			got := stored(t, s)
			rep := s.OpenReport()
			t.Logf("%d positions written, %d read back, %d lost %v; %d regions, %d bytes skipped; %d bytes cut off the end",
				len(want)+len(lost), len(got), len(lost), lost[:min(len(lost), 8)], rep.Regions, rep.SkippedBytes, rep.TornBytes)
			if len(got) == 0 {
				t.Fatal("the store started empty")
			}
			for k := range want {
				if !got[k] {
					t.Errorf("%v lost: it was outside the damage", k)
				}
			}
			for _, k := range lost {
				if got[k] {
					t.Errorf("%v read back: it was in the damage", k)
				}
			}
			if rep.Regions != tc.regions {
				t.Errorf("regions = %d, want %d (%+v)", rep.Regions, tc.regions, rep)
			}
			if tc.regions > 0 {
				// The region runs from the first damaged command to the next whole one.
				first := sps[slices.IndexFunc(sps, func(sp span) bool { return sp.end > tc.from })]
				next := sps[slices.IndexFunc(sps, func(sp span) bool { return sp.off >= tc.to })]
				if rep.Damaged[0] != (Region{first.off, next.off - first.off}) || rep.SkippedBytes != next.off-first.off {
					t.Errorf("damaged %+v, %d bytes; want from %d to %d", rep.Damaged, rep.SkippedBytes, first.off, next.off)
				}
				if s.Recovered() == "" {
					t.Error("Recovered() is empty after a salvage")
				}
				aside, _ := filepath.Glob(path + ".corrupt-*")
				if kept, _ := os.ReadFile(aside[0]); len(aside) != 1 || !bytes.Equal(kept, data) {
					t.Errorf("the damaged file is not kept as it was: %v", aside)
				}
			} else if s.Recovered() != "" {
				t.Errorf("a torn end is no damage, but Recovered() = %q", s.Recovered())
			}
			// Every enrolment survives; the store writes on; a restart reads it all.
			if units, err := s.Units(); err != nil || len(units) != len(fillUnits) {
				t.Errorf("units = %v, %v", units, err)
			}
			if _, err := s.Commit(&Batch{Points: []UnitPosition{point("car-1", 1_000_000, now.UnixMilli())}}, now); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = open(t, dir)
			if s.Recovered() != "" || !s.OpenReport().Clean() {
				t.Errorf("the salvaged file is not clean at the next start: %+v", s.OpenReport())
			}
			if again := stored(t, s); len(again) != len(got)+1 {
				t.Errorf("after a restart: %d positions, want %d", len(again), len(got)+1)
			}
		})
	}
}

// Junk that leaves the framing whole is no salvage: the readers skip the
// record that does not decode and report it.
func TestJunkInsideAValueCostsThatRecord(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 20, 5)
	path := filepath.Join(dir, FileName)
	data, _ := os.ReadFile(path)
	sps := spans(t, data)
	var victim span
	for _, sp := range sps[len(sps)/2:] {
		if _, ok := sp.position(); ok {
			victim = sp
			break
		}
	}
	copy(data[victim.end-10:], "\x00\x01junk")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want, lost := survivors(sps, victim.end-10, victim.end-4, int64(len(data)))
	s := open(t, dir)
	got := stored(t, s)
	if len(lost) != 1 || len(got) != len(want) || s.Recovered() != "" {
		t.Errorf("lost %v; %d positions read back, want %d; recovered %q", lost, len(got), len(want), s.Recovered())
	}
	if len(s.Damage()) == 0 {
		t.Error("the damaged record is not reported")
	}
}

// Damage that hits a unit's record: the units journal restores it; without
// the journal the unit is named to be enrolled again.
func TestSalvageOverAUnitRecord(t *testing.T) {
	for _, journal := range []bool{true, false} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 10, 2)
			path := filepath.Join(dir, FileName)
			data, _ := os.ReadFile(path)
			sps := spans(t, data)
			i := slices.IndexFunc(sps, func(sp span) bool { return sp.key == unitKey("moto-3") })
			// Junk over the record's value and the start of the next command.
			copy(data[sps[i].end-20:], "\x00junk\x00junk\x00junk\x00junk\x00junk")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if !journal {
				os.Remove(filepath.Join(dir, JournalName))
			}
			s := open(t, dir)
			if s.Recovered() == "" {
				t.Fatal("no salvage")
			}
			if !slices.Contains(s.OpenReport().UnitHints, "moto-3") {
				t.Errorf("unit hints = %v", s.OpenReport().UnitHints)
			}
			units, _ := s.Units()
			var ids []string
			for _, u := range units {
				ids = append(ids, u.ID)
			}
			if journal {
				if len(ids) != 4 || len(s.Reenrol()) != 0 {
					t.Errorf("with the journal: units %v, to enrol again %v", ids, s.Reenrol())
				}
			} else if slices.Contains(ids, "moto-3") || !slices.Equal(s.Reenrol(), []string{"moto-3"}) {
				t.Errorf("without the journal: units %v, to enrol again %v; want moto-3 to enrol again", ids, s.Reenrol())
			}
		})
	}
}

// A transaction is on disk whole or not at all: a file cut at any byte of
// the last Commit gives that batch whole or none of it, and every unit's
// live record agrees with its history. (buntdb alone keeps the whole
// commands of a torn write: half a batch, a live record without its
// positions or positions beyond its live record.)
func TestCommitIsAtomicOnDisk(t *testing.T) {
	dir := t.TempDir()
	sizes := fill(t, dir, 3, 2)
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	sps := spans(t, data)
	from, size := sizes[len(sizes)-2], int64(len(data))
	var lastBatch []seqKey
	for _, sp := range sps {
		if k, ok := sp.position(); ok && sp.off >= from {
			lastBatch = append(lastBatch, k)
		}
	}
	if len(lastBatch) != 2*len(fillUnits) {
		t.Fatalf("last batch: %v", lastBatch)
	}
	journal, err := os.ReadFile(filepath.Join(dir, JournalName))
	if err != nil {
		t.Fatal(err)
	}
	whole, none := 0, 0
	cdir := t.TempDir()
	for cut := from; cut <= size; cut++ {
		if err := os.WriteFile(filepath.Join(cdir, FileName), data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cdir, JournalName), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Config{Dir: cdir, SnapshotInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		got := stored(t, s)
		n := 0
		for _, k := range lastBatch {
			if got[k] {
				n++
			}
		}
		switch n {
		case 0:
			none++
		case len(lastBatch):
			whole++
		default:
			t.Errorf("cut at %d of %d: %d of the last batch's %d positions", cut, size, n, len(lastBatch))
		}
		lives, err := s.Lives()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range fillUnits {
			var top uint64
			for k := range got {
				if k.unit == id {
					top = max(top, k.seq)
				}
			}
			l := lives[id]
			if l.Fix == nil || l.Fix.Seq != top || len(l.Seqs) != 1 || l.Seqs[0][1] != top {
				t.Errorf("cut at %d: %s's live record %+v, its history up to seq %d", cut, id, l, top)
			}
		}
		s.Close()
		if t.Failed() {
			break
		}
	}
	t.Logf("cut at each of %d bytes of the last batch: whole %d times, none %d times", size-from+1, whole, none)
	if whole != 1 {
		t.Errorf("the batch was whole %d times, want once (the file as written)", whole)
	}
}

// Compaction rewrites the file in key order: it must still end with a
// marker, or the next start would take its end for a torn write.
func TestCompactedFileEndsWithAMarker(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 5, 3)
	s := open(t, dir)
	s.Put(map[string][]byte{"zz:last-key": []byte("x"), "~tilde": []byte("y")})
	if err := s.db.Shrink(); err != nil { // no marker written after it
		t.Fatal(err)
	}
	before := stored(t, s)
	s.Close()
	s = open(t, dir)
	if rep := s.OpenReport(); !rep.Clean() {
		t.Fatalf("a compacted file is not clean: %+v", rep)
	}
	if got := stored(t, s); len(got) != len(before) {
		t.Errorf("%d positions after compaction, %d before", len(got), len(before))
	}
	if b, err := s.Get("~tilde"); err != nil || string(b) != "y" {
		t.Errorf("record after compaction: %q, %v", b, err)
	}
}

// Nothing readable at all: the snapshot (salvaged the same way), else empty.
func TestNothingReadsStartsFromTheSnapshot(t *testing.T) {
	for _, withSnapshot := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot=%v", withSnapshot), func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, 10, 2)
			path := filepath.Join(dir, FileName)
			if withSnapshot {
				data, _ := os.ReadFile(path)
				// A snapshot taken mid-write: its end is torn.
				os.WriteFile(path+".snapshot", data[:len(data)-30], 0o600)
			}
			zeros := make([]byte, 8192)
			if err := os.WriteFile(path, zeros, 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, dir)
			rep := s.OpenReport()
			got := stored(t, s)
			switch {
			case withSnapshot && (!strings.HasPrefix(rep.From, "snapshot") || len(got) != 9*2*len(fillUnits)):
				t.Errorf("from %q, %d positions; want the snapshot's first 9 batches", rep.From, len(got))
			case !withSnapshot && (rep.From != "empty" || len(got) != 0):
				t.Errorf("from %q, %d positions", rep.From, len(got))
			}
			if !strings.Contains(s.Recovered(), "started from") {
				t.Errorf("Recovered() = %q", s.Recovered())
			}
			// The journal still has every enrolment.
			if units, _ := s.Units(); len(units) != len(fillUnits) {
				t.Errorf("units = %+v", units)
			}
		})
	}
}

// A store holds its directory: a second one (another hub, `hub check`) is refused.
func TestDirectoryLock(t *testing.T) {
	if !dirLocking {
		t.Skip("no flock here")
	}
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := Open(Config{Dir: dir, SnapshotInterval: -1}); !errors.Is(err, ErrLocked) {
		t.Errorf("a second Open: %v, want ErrLocked", err)
	}
	if _, err := Check(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("Check while open: %v, want ErrLocked", err)
	}
	s.Close()
	open(t, dir)
}

// Check reports and changes nothing; Repair does what a start would.
func TestCheckAndRepair(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 50, 5)
	path := filepath.Join(dir, FileName)
	data, _ := os.ReadFile(path)
	size := int64(len(data))
	copy(data[size/2:], make([]byte, 512))
	data = data[:size-50]
	os.WriteFile(path, data, 0o600)

	rep, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("check:\n%s", rep)
	if !rep.Damaged() || rep.DB.Regions != 1 || rep.DB.SkippedBytes < 512 || rep.DB.TornBytes == 0 || rep.JournalUnits != 4 {
		t.Errorf("check: %+v", rep)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
		t.Error("Check changed the file")
	}
	fixed, err := Repair(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repair:\n%s", fixed)
	if fixed.Repaired == nil || !fixed.Repaired.Clean() || fixed.Repaired.Records != rep.DB.Records || fixed.DB.SetAside == "" {
		t.Errorf("repair: %+v", fixed)
	}
	if again, err := Check(dir); err != nil || again.Damaged() {
		t.Errorf("check after repair: %+v, %v", again, err)
	}
}

// The scan never panics and never reads past the end, whatever the bytes.
func FuzzScan(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\ndel\r\n$1\r\nk\r\n"))
	f.Add([]byte("*3\r\n$3\r\nset\r\n$8\r\n\xffcommit\r\n$1\r\n1\r\n*5\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nex\r\n$2\r\n10\r\n"))
	f.Add([]byte("junk*1\r\n$7\r\nflushdb\r\n*3\r\n$3\r\nset\r\n$99999999999\r\n"))
	f.Add([]byte("0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var emitted []byte
		rep, err := scan(bytes.NewReader(data), int64(len(data)), func(raw []byte, _ bool) error {
			emitted = append(emitted, raw...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		nothing := rep.Records == 0 && rep.SkippedBytes == int64(len(data)) // a lost file: all damage
		if !nothing && (rep.Keep+rep.TornBytes != int64(len(data)) || rep.SkippedBytes > rep.Keep) {
			t.Fatalf("keep %d, torn %d, skipped %d of %d bytes", rep.Keep, rep.TornBytes, rep.SkippedBytes, len(data))
		}
		// What was emitted reads again, whole, and buntdb takes it.
		again, err := scan(bytes.NewReader(emitted), int64(len(emitted)), nil)
		if err != nil || again.Regions != 0 || again.Records < rep.Records {
			t.Fatalf("emitted bytes scan as %+v, %v", again, err)
		}
		path := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(path, emitted, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := buntdb.Open(path)
		if err != nil {
			t.Fatalf("buntdb refuses what the scan accepts: %v", err)
		}
		db.Close()
	})
}

// BenchmarkSalvage200MB salvages a 200 MB file with damage in the middle:
// 20 bytes of junk, or 20 MB of random bytes. It is what a damaged hub's
// start (or `hub check -repair`) adds to the scan every start makes
// (BenchmarkScan200MB).
func BenchmarkSalvage200MB(b *testing.B) {
	for _, tc := range []struct {
		name  string
		junk  int
		bytes func(n int) []byte
	}{
		{"junk-20B", 20, func(n int) []byte { return []byte("\x00\x01\x02 twenty junk bytes")[:n] }},
		{"random-20MB", 20 << 20, func(n int) []byte {
			junk := make([]byte, n)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			return junk
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := bigFile(b, 200<<20, tc.bytes(tc.junk))
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				rep, err := salvageFile(path, path+".salvage")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s/salvage")
				b.ReportMetric(float64(rep.Regions), "regions")
				b.ReportMetric(float64(rep.SkippedBytes), "skipped-bytes")
				b.ReportMetric(float64(rep.Records-rep.Commits), "records")
			}
			b.SetBytes(200 << 20)
		})
	}
}

// BenchmarkScan200MB is the check every start makes of a clean 200 MB file.
func BenchmarkScan200MB(b *testing.B) {
	path := bigFile(b, 200<<20, nil)
	b.ResetTimer()
	for range b.N {
		if _, err := scanFile(path); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(200 << 20)
}

// bigFile writes a buntdb file of about size bytes as the store writes it
// (positions of 1,000 units in batches of 1,000, a live record each, a
// marker after each batch), with junk written over its middle.
func bigFile(b *testing.B, size int, junk []byte) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), FileName)
	var buf []byte
	set := func(k, v string) {
		buf = fmt.Appendf(buf, "*3\r\n$3\r\nset\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for batch := uint64(1); len(buf) < size; batch++ {
		for u := range 1000 {
			p := Position{Seq: batch, TS: now.UnixMilli() + int64(batch)*1000, Lat: 28 + rng.Float64(), Lon: 112 + rng.Float64(),
				Status: protocol.StatusAvailable}
			set(historyKey(positionPrefix, fmt.Sprintf("unit-%04d", u), p.TS, p.Seq), encodePosition(p))
		}
		set(liveKey("unit-0001"), fmt.Sprintf(`{"seqs":[[1,%d]]}`, batch))
		set(commitKey, strconv.FormatUint(batch, 10))
	}
	copy(buf[len(buf)/2:], junk)
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}
