package store

// What survives damage to hub.db.
//
// buntdb's file is a log of commands in RESP form, the way Redis writes its
// append-only file:
//
//	*3\r\n$3\r\nset\r\n$<n>\r\n<key>\r\n$<n>\r\n<value>\r\n
//	*2\r\n$3\r\ndel\r\n$<n>\r\n<key>\r\n
//
// (and "set key value ex|ae <n>", "flushdb", which the hub does not write).
// buntdb refuses the whole file when one command in it does not parse
// (issue 72). Before buntdb reads the file, Open scans it here, command by
// command, and
//
//   - cuts off the end of the file after the last complete commit marker: a
//     write torn by a crash, or the part of a transaction that made it;
//   - salvages a file with unreadable bytes before that: every command that
//     reads is copied, in order, to a new file; at a command that does not,
//     the scan skips forward to the next place where a whole command reads.
//
// A command is readable when it frames: header, lengths, CRLFs, a verb
// buntdb knows with its arity. Junk inside a key or value that leaves the
// framing whole is not seen here: the store's readers (Units, Lives, Track,
// Events) skip a record that does not decode and report it (Damage).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidwall/buntdb"
)

// commitKey is the commit marker. Every write transaction is followed, in a
// write of its own, by a set of this key to an increasing counter: buntdb
// writes a transaction's commands in map order, so a marker inside it
// would not come last. A file cut after its last complete marker holds
// whole transactions only. The key sorts after every other key (no key of
// ours, and no UTF-8 text, starts with 0xff), so a compacted file — buntdb's
// Shrink writes the keys in order — ends its rewritten part with a marker too.
const commitKey = "\xffcommit"

// markedDB is buntdb with a commit marker after every Update: every durable
// write of the store (Commit, units, records, pruning) goes through it.
type markedDB struct {
	*buntdb.DB
	commits atomic.Uint64 // the last marker's counter
	wrote   func()        // after each transaction whose marker was written

	mu   sync.Mutex // one Update at a time, its marker included
	undo keyValues  // what the next transaction puts back (takeBack)
}

// Update runs fn in a write transaction, then writes the marker. The hub
// confirms or returns only after both (and a Sync), so a transaction whose
// marker is not on disk was never confirmed to anybody. What takeBack asked
// for is put back first, in the same transaction.
func (m *markedDB) Update(fn func(tx *buntdb.Tx) error) error {
	_, err := m.update(fn)
	return err
}

// update is Update, and says whether fn's transaction was written — in
// memory and to the file — even if its marker then was not.
func (m *markedDB) update(fn func(tx *buntdb.Tx) error) (applied bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	err = m.DB.Update(func(tx *buntdb.Tx) error {
		if err := m.applyUndo(tx); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return false, err
	}
	m.undo = nil
	err = m.DB.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(commitKey, strconv.FormatUint(m.commits.Add(1), 10), nil)
		return err
	})
	if err != nil {
		return true, err
	}
	if m.wrote != nil {
		m.wrote()
	}
	return true, nil
}

// loadCommits takes the marker's counter from the database.
func (m *markedDB) loadCommits() {
	_ = m.View(func(tx *buntdb.Tx) error {
		if v, err := tx.Get(commitKey); err == nil {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				m.commits.Store(n)
			}
		}
		return nil
	})
}

// Region is a run of bytes of the file that did not read.
type Region struct {
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
}

// Report is what a scan found in a database file, and what was done about it.
type Report struct {
	Path string `json:"path"`
	Size int64  `json:"size"` // bytes in the file as found

	Records    int    `json:"records"`     // readable commands kept (the markers among them)
	Commits    int    `json:"commits"`     // commit markers kept
	LastCommit uint64 `json:"last_commit"` // the last kept marker's counter

	// Damage before the end: unreadable regions, skipped.
	Regions      int      `json:"regions"`
	SkippedBytes int64    `json:"skipped_bytes"`
	Damaged      []Region `json:"damaged,omitempty"`
	// Units named in the damaged bytes: their unit records may be lost.
	UnitHints []string `json:"unit_hints,omitempty"`

	// The end of the file after the last complete commit marker (or, in a
	// file without markers, after the last whole command): a write torn by a
	// crash and the rest of its transaction.
	Keep        int64 `json:"keep"`         // bytes kept
	TornBytes   int64 `json:"torn_bytes"`   // bytes cut
	TornRecords int   `json:"torn_records"` // whole commands among them

	SetAside string `json:"set_aside,omitempty"` // where the damaged file was kept, if salvaged
	From     string `json:"from,omitempty"`      // after a salvage: "salvage", "snapshot" or "empty"
}

// IsDamaged reports whether the file had unreadable bytes before its end.
func (r Report) IsDamaged() bool { return r.Regions > 0 }

// Clean reports whether the file reads to its end and ends with a whole transaction.
func (r Report) Clean() bool { return r.Regions == 0 && r.TornBytes == 0 }

// maxRegions bounds the regions a Report lists; the counts go on.
const maxRegions = 100

// maxPart bounds one key or value: a length beyond it is damage. The hub's
// largest records are a few kilobytes.
const maxPart = 64 << 20

// scan reads the file command by command and calls emit (if not nil) with
// every readable one, in order, marker or not. What was emitted after the
// last marker is not kept (Report.Keep): the caller cuts it.
func scan(r io.ReaderAt, size int64, emit func(raw []byte, marker bool) error) (Report, error) {
	rep := Report{Size: size}
	w := window{r: r, size: size}
	var (
		off     int64
		badFrom int64 = -1 // start of the unreadable region being skipped
		// Totals at the last marker, and at the last readable command.
		atMarker, atGood   totals
		sinceMarker        int
		markerEnd, goodEnd int64
		regions            int
		skipped            int64
		list               []Region
		hints              [][]string // unit ids named in each listed region
	)
	closeRegion := func(end int64) error {
		if badFrom < 0 {
			return nil
		}
		regions++
		skipped += end - badFrom
		if len(list) < maxRegions {
			list = append(list, Region{badFrom, end - badFrom})
			ids, err := unitHints(r, badFrom, end)
			if err != nil {
				return err
			}
			hints = append(hints, ids)
		}
		badFrom = -1
		return nil
	}
	for off < size {
		b, err := w.at(off, 64<<10)
		if err != nil {
			return rep, err
		}
		n, c, st := parseCommand(b, off+int64(len(b)) == size)
		for st == short {
			if b, err = w.at(off, 2*len(b)); err != nil {
				return rep, err
			}
			n, c, st = parseCommand(b, off+int64(len(b)) == size)
		}
		if st == bad {
			if badFrom < 0 {
				badFrom = off
			}
			next, err := w.next(off + 1)
			if err != nil {
				return rep, err
			}
			off = next
			continue
		}
		if err := closeRegion(off); err != nil {
			return rep, err
		}
		marker := c.isMarker()
		if emit != nil {
			if err := emit(b[:n], marker); err != nil {
				return rep, err
			}
		}
		off += int64(n)
		rep.Records++
		goodEnd = off
		if marker {
			rep.Commits++
			rep.LastCommit, _ = strconv.ParseUint(string(c.parts[2]), 10, 64)
			markerEnd, sinceMarker = off, 0
			atMarker = totals{rep.Records, rep.Commits, rep.LastCommit, regions, skipped, len(list)}
		} else {
			sinceMarker++
		}
		atGood = totals{rep.Records, rep.Commits, rep.LastCommit, regions, skipped, len(list)}
	}
	// Whatever is still being skipped at the end has nothing readable after
	// it: it is part of the torn end, not damage.
	at := atGood
	rep.Keep = goodEnd
	if atMarker.commits > 0 {
		at, rep.Keep, rep.TornRecords = atMarker, markerEnd, sinceMarker
	}
	rep.Records, rep.Commits, rep.LastCommit = at.records, at.commits, at.lastCommit
	rep.Regions, rep.SkippedBytes = at.regions, at.skipped
	rep.Damaged = list[:at.listed]
	rep.TornBytes = size - rep.Keep
	hints = hints[:at.listed]
	if rep.Keep == 0 && size > 0 {
		// Nothing reads at all: not a torn write but a lost file.
		rep.Regions, rep.SkippedBytes, rep.TornBytes = 1, size, 0
		rep.Damaged = []Region{{0, size}}
		ids, err := unitHints(r, 0, size)
		if err != nil {
			return rep, err
		}
		hints = [][]string{ids}
	}
	for _, ids := range hints {
		for _, id := range ids {
			if !slices.Contains(rep.UnitHints, id) {
				rep.UnitHints = append(rep.UnitHints, id)
			}
		}
	}
	slices.Sort(rep.UnitHints)
	return rep, nil
}

type totals struct {
	records, commits int
	lastCommit       uint64
	regions          int
	skipped          int64
	listed           int
}

// unitHints returns the unit ids named in the file's bytes [from, to): the
// text of a unit or live record's key. It reads at most 1 MiB.
func unitHints(r io.ReaderAt, from, to int64) ([]string, error) {
	b := make([]byte, min(to-from, 1<<20))
	if _, err := r.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var ids []string
	for _, prefix := range []string{"unit:", "live:"} {
		rest := b
		for {
			i := bytes.Index(rest, []byte(prefix))
			if i < 0 {
				break
			}
			rest = rest[i+len(prefix):]
			j := 0
			for j < len(rest) && j < 32 && idByte(rest[j]) {
				j++
			}
			// The key must end there, at its CRLF.
			if id := string(rest[:j]); j > 0 && j+1 < len(rest) && rest[j] == '\r' && rest[j+1] == '\n' && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// window is a buffered view of the file for the scan: the bytes from an
// offset, and the next place a command may start.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
}

const windowSize = 1 << 20

// at returns the file's bytes from off to the end of the window, which
// holds at least want of them (or all up to the end of the file).
func (w *window) at(off int64, want int) ([]byte, error) {
	end := min(off+int64(want), w.size)
	if off >= w.off && end <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off:], nil
	}
	n := int(min(int64(max(want, windowSize)), w.size-off))
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	w.buf = w.buf[:n]
	if _, err := w.r.ReadAt(w.buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read at %d: %w", off, err)
	}
	w.off = off
	return w.buf, nil
}

// next returns the offset of the next '*' at or after off (a command's
// first byte), or the end of the file.
func (w *window) next(off int64) (int64, error) {
	for off < w.size {
		b, err := w.at(off, 1) // what the window holds from off, else the next window
		if err != nil {
			return 0, err
		}
		if i := bytes.IndexByte(b, '*'); i >= 0 {
			return off + int64(i), nil
		}
		off += int64(len(b))
	}
	return w.size, nil
}

type parseStatus int

const (
	parsed parseStatus = iota
	bad                // not a command
	short              // b ends inside what may be a command: read more
)

// command is a parsed command, its parts slices of the scanned bytes.
type command struct {
	parts [5][]byte
	n     int
}

func (c *command) isMarker() bool {
	return c.n == 3 && string(c.parts[0]) == "set" && string(c.parts[1]) == commitKey
}

// parseCommand parses the command at the start of b, accepting what buntdb
// writes and nothing buntdb's reader would refuse: the verbs set (3 or 5
// parts, the last two "ex"|"ae" and an integer), del (2) and flushdb (1),
// in lower case as buntdb writes them. atEOF says b runs to the end of the file.
func parseCommand(b []byte, atEOF bool) (int, command, parseStatus) {
	var c command
	count, i, st := parseHeader(b, 0, '*', atEOF)
	if st != parsed {
		return 0, c, st
	}
	if count < 1 || count > 5 || count == 4 {
		return 0, c, bad
	}
	for p := 0; p < count; p++ {
		l, j, st := parseHeader(b, i, '$', atEOF)
		if st != parsed {
			return 0, c, st
		}
		if l > maxPart {
			return 0, c, bad
		}
		end := j + l + 2
		if end > len(b) {
			if atEOF {
				return 0, c, bad
			}
			return 0, c, short
		}
		if b[j+l] != '\r' || b[j+l+1] != '\n' {
			return 0, c, bad
		}
		c.parts[p] = b[j : j+l]
		i = end
	}
	c.n = count
	switch string(c.parts[0]) {
	case "set":
		switch count {
		case 3:
		case 5:
			if ex := strings.ToLower(string(c.parts[3])); ex != "ex" && ex != "ae" {
				return 0, c, bad
			}
			if _, err := strconv.ParseInt(string(c.parts[4]), 10, 64); err != nil {
				return 0, c, bad
			}
		default:
			return 0, c, bad
		}
	case "del":
		if count != 2 {
			return 0, c, bad
		}
	case "flushdb":
		if count != 1 {
			return 0, c, bad
		}
	default:
		return 0, c, bad
	}
	return i, c, parsed
}

// parseHeader parses "<prefix><digits>\r\n" at b[i:], returning the number
// and the offset after the line.
func parseHeader(b []byte, i int, prefix byte, atEOF bool) (int, int, parseStatus) {
	more := short
	if atEOF {
		more = bad
	}
	if i >= len(b) {
		return 0, 0, more
	}
	if b[i] != prefix {
		return 0, 0, bad
	}
	n, j := 0, i+1
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		if j-i > 10 {
			return 0, 0, bad
		}
		n = n*10 + int(b[j]-'0')
	}
	if j+1 >= len(b) {
		return 0, 0, more
	}
	if j == i+1 || b[j] != '\r' || b[j+1] != '\n' {
		return 0, 0, bad
	}
	return n, j + 2, parsed
}

// scanFile scans the file at path without changing it.
func scanFile(path string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{Path: path}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Report{Path: path}, err
	}
	rep, err := scan(f, fi.Size(), nil)
	rep.Path = path
	if err != nil {
		return rep, fmt.Errorf("scan %s: %w", path, err)
	}
	return rep, nil
}

// salvageFile writes every readable command of the file at from, in order
// and up to its last complete marker, to a new file at to, fsynced.
func salvageFile(from, to string) (Report, error) {
	src, err := os.Open(from)
	if err != nil {
		return Report{Path: from}, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return Report{Path: from}, err
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return Report{Path: from}, err
	}
	out := bufio.NewWriterSize(dst, 1<<20)
	var written, atMarker int64
	rep, err := scan(src, fi.Size(), func(raw []byte, marker bool) error {
		n, err := out.Write(raw)
		written += int64(n)
		if marker {
			atMarker = written
		}
		return err
	})
	rep.Path = from
	keep := written
	if rep.Commits > 0 {
		keep = atMarker
	}
	if err == nil {
		err = out.Flush()
	}
	if err == nil {
		err = dst.Truncate(keep)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return rep, fmt.Errorf("salvage %s: %w", from, err)
	}
	return rep, nil
}

// cutFile truncates the file at path to keep bytes and fsyncs it.
func cutFile(path string, keep int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(keep)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// String is the report as `hub check` prints it.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bytes; %d records readable and %d commit markers (the last #%d)\n",
		r.Path, r.Size, r.Records-r.Commits, r.Commits, r.LastCommit)
	if r.Regions == 0 {
		b.WriteString("  damage: none\n")
	} else {
		fmt.Fprintf(&b, "  damage: %d unreadable %s, %d bytes skipped\n",
			r.Regions, plural(r.Regions, "region", "regions"), r.SkippedBytes)
		for _, reg := range r.Damaged {
			fmt.Fprintf(&b, "    at byte %d: %d bytes\n", reg.Offset, reg.Bytes)
		}
		if r.Regions > len(r.Damaged) {
			fmt.Fprintf(&b, "    … and %d more\n", r.Regions-len(r.Damaged))
		}
		if len(r.UnitHints) > 0 {
			fmt.Fprintf(&b, "  unit records possibly in the damage: %s\n", strings.Join(r.UnitHints, ", "))
		}
	}
	if r.TornBytes == 0 {
		b.WriteString("  end: a whole transaction\n")
	} else {
		fmt.Fprintf(&b, "  end: %d bytes after the last complete commit (a torn write: %d whole records of an unfinished transaction), cut at byte %d\n",
			r.TornBytes, r.TornRecords, r.Keep)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
