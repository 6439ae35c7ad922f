// Package audit is the hub's audit log: one JSON line per write the API
// accepted for authorisation — who, with which role, from where, what, and
// what came of it. The file is only ever appended to; each line carries the
// SHA-256 of the line before it, so a line edited or taken out shows
// (Verify). A line is on disk (fsync) before Append returns; appends that
// arrive together share one sync.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	wire "kuaifan/protocol/api"
)

// File is the audit log's name in the data directory.
const File = "audit.log"

// tail is how much of the file's end Open reads to find the last line:
// lines are small (a body is clipped to 1 KiB).
const tail = 64 << 10

// Log appends to the audit log.
type Log struct {
	path string
	now  func() time.Time

	mu   sync.Mutex // the write position: seq, prev, the file's end
	f    *os.File
	seq  uint64
	prev string
	err  error // the last append's failure; nil once one succeeds

	syncMu sync.Mutex // one fsync at a time, covering every line written before it
	synced uint64
}

// Open opens <dir>/audit.log for appending, made if missing. A last line cut
// short by a crash is ended, so it stays a line of its own that readers skip
// and Verify reports.
func Open(dir string, now func() time.Time) (*Log, error) {
	if now == nil {
		now = time.Now
	}
	path := filepath.Join(dir, File)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{path: path, now: now, f: f}
	if err := l.findEnd(); err != nil {
		f.Close()
		return nil, err
	}
	l.synced = l.seq
	return l, nil
}

func (l *Log) findEnd() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	from := max(size-tail, 0)
	buf := make([]byte, size-from)
	if _, err := l.f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("audit: read %s: %w", l.path, err)
	}
	if buf[len(buf)-1] != '\n' {
		if _, err := l.f.Write([]byte("\n")); err != nil {
			return fmt.Errorf("audit: end a torn line: %w", err)
		}
		buf = append(buf, '\n')
	}
	lines := bytes.Split(buf[:len(buf)-1], []byte("\n"))
	if from > 0 {
		lines = lines[1:] // the first may be a part of a line
	}
	for i := len(lines) - 1; i >= 0; i-- {
		var e wire.AuditEntry
		if json.Unmarshal(lines[i], &e) == nil && e.Seq > 0 {
			l.seq, l.prev = e.Seq, lineHash(lines[i])
			return nil
		}
	}
	return nil
}

func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// Append writes e as the next line — its Seq, Prev and (when zero) TS set
// here — and returns once it is on disk.
func (l *Log) Append(e wire.AuditEntry) (wire.AuditEntry, error) {
	l.mu.Lock()
	e.Seq = l.seq + 1
	e.Prev = l.prev
	if e.TS == 0 {
		e.TS = l.now().UnixMilli()
	}
	line, err := json.Marshal(e)
	if err == nil {
		_, err = l.f.Write(append(line, '\n'))
	}
	if err != nil {
		l.err = err
		l.mu.Unlock()
		return e, fmt.Errorf("audit: append: %w", err)
	}
	l.seq, l.prev = e.Seq, lineHash(line)
	l.mu.Unlock()

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= e.Seq {
		return e, nil // another append's sync covered this line
	}
	l.mu.Lock()
	upTo := l.seq
	l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		return e, fmt.Errorf("audit: sync: %w", err)
	}
	l.synced = upTo
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	return e, nil
}

// Err is the last append's failure, or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Filter selects entries of Query.
type Filter struct {
	Actor  string // exactly; "": any
	Action string // a prefix; "": any
	Since  int64  // TS at least (Unix ms); 0: any
	Until  int64  // TS at most; 0: any
	Before uint64 // Seq below; 0: any
	Limit  int    // at most; 0: DefaultLimit
}

// Limits of Query.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func (f Filter) match(e *wire.AuditEntry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) && strings.HasPrefix(e.Action, f.Action) &&
		(f.Since == 0 || e.TS >= f.Since) && (f.Until == 0 || e.TS <= f.Until) &&
		(f.Before == 0 || e.Seq < f.Before)
}

// Query reads the log at path (while a hub appends to it, too) and answers
// the newest entries that match, newest first; NextBefore, when not zero,
// pages on.
func Query(path string, f Filter) (wire.AuditPage, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	f.Limit = min(f.Limit, MaxLimit)
	page := wire.AuditPage{Entries: []wire.AuditEntry{}}
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return page, nil
	}
	if err != nil {
		return page, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	// The last Limit+1 matches, in a ring: one more says there is a next page.
	ring := make([]wire.AuditEntry, f.Limit+1)
	n := 0
	err = scan(file, func(e wire.AuditEntry, _ []byte, ok bool) error {
		if ok && f.match(&e) {
			ring[n%len(ring)] = e
			n++
		}
		return nil
	})
	if err != nil {
		return page, err
	}
	for i := n - 1; i >= 0 && i >= n-f.Limit; i-- {
		page.Entries = append(page.Entries, ring[i%len(ring)])
	}
	if n > f.Limit {
		page.NextBefore = page.Entries[len(page.Entries)-1].Seq
	}
	return page, nil
}

// scan calls each for every line: the entry, the line, and whether it reads.
func scan(r io.Reader, each func(e wire.AuditEntry, line []byte, ok bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
			var e wire.AuditEntry
			ok := json.Unmarshal(line, &e) == nil && e.Seq > 0
			if cerr := each(e, line, ok); cerr != nil {
				return cerr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil // a last line without its end is being written: not yet one
		}
		if err != nil {
			return fmt.Errorf("audit: read: %w", err)
		}
	}
}

// Verify checks the log at path: every line reads, the sequence has no gap
// and each line names the hash of the one before. It answers how many
// entries it checked, and the first break it found.
func Verify(path string) (int, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	n, lineNo := 0, 0
	var seq uint64
	prev := ""
	err = scan(file, func(e wire.AuditEntry, line []byte, ok bool) error {
		lineNo++
		switch {
		case !ok:
			return fmt.Errorf("line %d does not read as an entry (cut short by a crash, or edited)", lineNo)
		case e.Seq != seq+1:
			return fmt.Errorf("line %d: entry %d follows entry %d: entries are missing", lineNo, e.Seq, seq)
		case e.Prev != prev:
			return fmt.Errorf("line %d: entry %d does not follow the line before it (edited or removed)", lineNo, e.Seq)
		}
		n++
		seq, prev = e.Seq, lineHash(line)
		return nil
	})
	return n, err
}
