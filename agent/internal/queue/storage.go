package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// File names inside Config.Dir.
const (
	dbFile  = "queue.db"
	seqFile = "queue.seq"
)

// Keys in buntdb. buntdb keeps every key and value in memory, so they are
// binary and short: an item is "q" + its seq as 8 big-endian bytes (9 bytes,
// and byte order equals seq order, so an ack range is one ordered scan); its
// value is the kind byte, ts as 8 big-endian bytes, then the payload as is.
// The prefix keeps the one meta key out of every item range.
const (
	itemPrefix = 'q'
	itemKeyLen = 9
	metaNext   = "m:next" // the next seq, written in every Append's transaction
	valHeader  = 9
)

// seqLease is how far ahead of the seq in use queue.seq runs. The file holds
// an upper bound, not the exact next seq: Append writes it only when the seq
// reaches it, one extra fsync+rename per seqLease appends instead of one per
// append. If the database is lost, seq resumes at the bound — a gap of at
// most seqLease, which the hub tolerates — and never goes backwards.
const seqLease = 1024

func itemKey(seq uint64) string {
	var b [itemKeyLen]byte
	b[0] = itemPrefix
	binary.BigEndian.PutUint64(b[1:], seq)
	return string(b[:])
}

func parseItemKey(k string) (uint64, bool) {
	if len(k) != itemKeyLen || k[0] != itemPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(k[1:])), true
}

func encodeValue(kind Kind, ts int64, payload []byte) string {
	b := make([]byte, valHeader+len(payload))
	b[0] = byte(kind)
	binary.BigEndian.PutUint64(b[1:], uint64(ts))
	copy(b[valHeader:], payload)
	return string(b)
}

// decodeHeader reads kind and ts without touching the payload.
func decodeHeader(v string) (Kind, int64, bool) {
	if len(v) < valHeader {
		return 0, 0, false
	}
	k := Kind(v[0])
	if !k.valid() {
		return 0, 0, false
	}
	return k, int64(binary.BigEndian.Uint64([]byte(v[1:valHeader]))), true
}

func encodeSeq(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

func decodeSeq(v string) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(v)), true
}

// recordSize estimates the bytes buntdb appends to its file for a set
// (RESP: *3 $3 set $9 key $n value) — used only to decide when to compact.
func recordSize(valLen int) int64 {
	return int64(4 + 9 + 4 + itemKeyLen + 2 + 1 + len(strconv.Itoa(valLen)) + 2 + valLen + 2)
}

// delRecordSize is the bytes of a del record for an item key.
const delRecordSize = 4 + 9 + 4 + itemKeyLen + 2

// openDB opens the buntdb file, setting it aside when buntdb refuses it
// (garbage in the middle: buntdb issue 72). It returns a description of the
// recovery, or "" when the file was fine.
func (q *Queue) openDB() (*buntdb.DB, string, error) {
	// A compaction killed half-way leaves its temporary file; buntdb
	// recreates it on the next one, so it is never needed.
	_ = os.Remove(q.path + ".tmp")
	db, err := openBunt(q.path)
	if err == nil {
		return db, "", nil
	}
	if !isCorrupt(err) {
		return nil, "", fmt.Errorf("queue: open %s: %w", q.path, err)
	}
	cause := err
	aside, err := q.setAside()
	if err != nil {
		return nil, "", fmt.Errorf("queue: open %s: %w; setting it aside: %w", q.path, cause, err)
	}
	db, err = buntdb.Open(q.path)
	if err != nil {
		return nil, "", fmt.Errorf("queue: open %s after setting the corrupt file aside: %w", q.path, err)
	}
	return db, fmt.Sprintf("%s was unreadable (%v); set aside as %s", q.path, cause, aside), nil
}

// errPanicked marks a file whose contents made buntdb's loader panic.
var errPanicked = errors.New("buntdb panicked loading it")

// openBunt is buntdb.Open, surviving its loader's panics: a record with an
// empty or one-letter command (e.g. "*1\r\n$0\r\n\r\n") indexes past the
// end of a string. Such a file is corrupt like any other. (The file
// descriptor buntdb opened is lost then; it happens once per bad file.)
func openBunt(path string) (db *buntdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return buntdb.Open(path)
}

// isCorrupt tells a damaged file from an I/O or permission problem. buntdb
// reports bad framing as ErrInvalid, and a bad expiry number as the raw
// strconv error; our values never carry an expiry.
func isCorrupt(err error) bool {
	var num *strconv.NumError
	return errors.Is(err, buntdb.ErrInvalid) || errors.Is(err, errPanicked) || errors.As(err, &num)
}

// setAside renames the unreadable file to queue.db.corrupt-<time>, keeping
// it for whoever investigates, and never overwriting an earlier one.
func (q *Queue) setAside() (string, error) {
	stamp := q.cfg.Now().UTC().Format("20060102T150405Z")
	aside := fmt.Sprintf("%s.corrupt-%s", q.path, stamp)
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%s-%d", q.path, stamp, i)
	}
	if err := os.Rename(q.path, aside); err != nil {
		return "", err
	}
	return aside, syncDir(q.cfg.Dir)
}

// readSeqFile returns the seq bound stored in queue.seq. ok is false when
// the file is missing or unreadable (then err says why, if it was there).
func readSeqFile(path string) (v uint64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	s, found := strings.CutSuffix(string(b), "\n")
	if !found {
		return 0, false, fmt.Errorf("%q is not a sequence number", b)
	}
	v, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, err
	}
	return v, true, nil
}

// writeSeqFile replaces queue.seq with v: written beside, fsynced, renamed
// over, and the directory fsynced, so a crash leaves the old or the new
// value, never a torn one.
func writeSeqFile(dir, path string, v uint64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(v, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFile fsyncs the file at path: any descriptor of the inode will do, so
// this makes buntdb's freshly renamed file durable after a compaction.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// clockSeq is the contract's starting point for an agent without storage:
// the current Unix time in microseconds, above any sequence an earlier
// incarnation can have reached.
func clockSeq(now time.Time) uint64 {
	us := now.UnixMicro()
	if us < 0 {
		return 0
	}
	return uint64(us)
}

// plausibleClock is a date before which the device's clock is surely unset
// (an embedded board without a real-time clock boots in 1970).
var plausibleClock = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// compaction: buntdb's file is an append-only log of sets and dels, growing
// with every item that comes and goes. Its own automatic shrink renames a
// rewritten file into place without fsync, so the queue does it itself and
// fsyncs the result.
const defaultCompactMin = 8 << 20

// maybeCompact starts a compaction when the file is well over its live size.
// Called with q.mu held.
func (q *Queue) maybeCompact() {
	if q.cfg.InMemory {
		return // no file to compact; acked items leave memory at once
	}
	if q.compacting || q.closed || q.fileBytes < q.compactMin || q.fileBytes < 4*q.liveBytes {
		return
	}
	q.compacting = true
	q.wg.Add(1)
	go q.compact()
}

func (q *Queue) compact() {
	defer q.wg.Done()
	err := q.db.Shrink()
	if err == nil {
		err = syncFile(q.path)
	}
	if err == nil {
		err = syncDir(q.cfg.Dir)
	}
	size := int64(-1)
	if fi, serr := os.Stat(q.path); serr == nil {
		size = fi.Size()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.compacting = false
	if size >= 0 {
		q.fileBytes = size
	}
	if err != nil && !errors.Is(err, buntdb.ErrDatabaseClosed) {
		// Not fatal: the file keeps growing until the next attempt.
		q.cfg.Logger.Error("queue: compacting the database failed", "file", q.path, "err", err)
		q.fileBytes = 0 // retry only after as much growth again
		return
	}
	q.compactions++
	q.cfg.Logger.Debug("queue: database compacted", "file", q.path, "bytes", size)
}

// satSub is a - b, saturating instead of wrapping.
func satSub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	if b < 0 && a > math.MaxInt64+b {
		return math.MaxInt64
	}
	return a - b
}
