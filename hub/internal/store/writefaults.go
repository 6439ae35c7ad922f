package store

// What the store does when the disk refuses its writes: full, read-only,
// failing fsync.
//
// A write that fails changes nothing the hub relies on. buntdb rolls a
// transaction whose write to the file fails back out of memory (and cuts
// the bytes a partial write left), so ingest confirms nothing of its batch
// and the agents resend. A durable write (an enrolment, an incident) whose
// transaction reached the file but whose commit marker or fsync then failed
// answers an error too, and is taken back by the store's next write
// transaction (takeBack): a retry finds what was there before, not a unit
// "already enrolled" under a secret nobody was given.
//
// After a failed fsync the kernel may have dropped pages it could not
// write, and the next fsync would not say so ("fsyncgate"). So the next
// Sync rewrites the whole file from memory (buntdb's Shrink: a new file,
// renamed into place) and fsyncs that before it reports success: what is
// confirmed after a failed fsync is in a file known to be whole.
//
// Every failure is counted by operation (Failures) and, while it lasts,
// reported (Faults): the hub says so on /healthz and /metrics. A kind of
// write stops being reported when it works again: commits once a write
// transaction and a Sync after it have succeeded — while commits fail and
// nobody writes, the store tries one every second by itself (probe), so the
// report clears without waiting for a unit to report — snapshots,
// compaction and pruning at their next success.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tidwall/buntdb"
)

// Op is a kind of write the store makes; its failures are counted by it.
type Op string

// The store's writes.
const (
	OpCommit   Op = "commit"   // a write transaction: ingest's batches, enrolments, incidents, the probe
	OpSync     Op = "sync"     // the fsync that makes commits durable (and the rewrite after a failed one)
	OpSnapshot Op = "snapshot" // the copy to hub.db.snapshot
	OpCompact  Op = "compact"  // the rewrite of a file that has grown
	OpPrune    Op = "prune"    // deleting history beyond its retention
)

// Ops is every Op, in the order they are reported.
var Ops = []Op{OpCommit, OpSync, OpSnapshot, OpCompact, OpPrune}

// ErrWriteFailed is in the chain of every error of a write the store could
// not make durable (the disk is full, read-only or failing): nothing the
// call did will last, and it may be tried again.
var ErrWriteFailed = errors.New("the store cannot write")

// writeError is a failed write: its message is the cause's, and errors.Is
// finds both the cause (ENOSPC, EROFS…) and ErrWriteFailed.
type writeError struct{ err error }

func (e *writeError) Error() string   { return e.err.Error() }
func (e *writeError) Unwrap() []error { return []error{e.err, ErrWriteFailed} }

// Fault is a kind of write failing now, as /healthz reports it.
type Fault struct {
	Writes   string    // "commits", "snapshots", "compaction" or "pruning"
	Since    time.Time // its first failure since it last worked
	Failures int       // failures since then
	Err      error     // the latest
}

func (f Fault) String() string {
	s := fmt.Sprintf("store: %s failing since %s: %v (%d %s)", f.Writes, f.Since.UTC().Format(time.RFC3339),
		f.Err, f.Failures, plural(f.Failures, "failure", "failures"))
	if f.Writes == "commits" {
		s += "; nothing is confirmed to units, and nothing enrolled or saved, until a commit succeeds"
	}
	return s
}

// faultOf is the kind of write an Op's failure is reported as.
func faultOf(op Op) string {
	switch op {
	case OpCommit, OpSync:
		return "commits"
	case OpSnapshot:
		return "snapshots"
	case OpCompact:
		return "compaction"
	}
	return "pruning"
}

// writeHealth counts the store's failed writes and keeps the faults open.
type writeHealth struct {
	log func(msg string, args ...any)

	mu          sync.Mutex
	failures    map[Op]uint64
	faults      map[string]*Fault
	proven      bool      // a write transaction succeeded since commits began failing
	lastFailure time.Time // of a commit or sync
}

func newWriteHealth(logWarn func(msg string, args ...any)) *writeHealth {
	return &writeHealth{log: logWarn, failures: make(map[Op]uint64), faults: make(map[string]*Fault)}
}

// failed records a failed write and returns it as a writeError.
func (h *writeHealth) failed(op Op, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures[op]++
	kind := faultOf(op)
	f := h.faults[kind]
	if f == nil {
		f = &Fault{Writes: kind, Since: time.Now()}
		h.faults[kind] = f
	}
	f.Failures++
	f.Err = err
	if kind == "commits" {
		h.proven, h.lastFailure = false, time.Now()
	}
	var we *writeError
	if errors.As(err, &we) {
		return err
	}
	return &writeError{err}
}

// wrote records a write transaction (and its marker) that succeeded.
func (h *writeHealth) wrote() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.faults["commits"] != nil {
		h.proven = true
	}
}

// synced records a Sync that succeeded: commits work again if a write
// transaction succeeded since they failed.
func (h *writeHealth) synced() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.faults["commits"]; f != nil && h.proven {
		h.clear(f)
	}
}

// worked records a snapshot, compaction or pruning that succeeded.
func (h *writeHealth) worked(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.faults[faultOf(op)]; f != nil {
		h.clear(f)
	}
}

func (h *writeHealth) clear(f *Fault) {
	delete(h.faults, f.Writes)
	h.log("store: "+f.Writes+" work again", "failures", f.Failures, "failing_for", time.Since(f.Since).Round(time.Millisecond).String(),
		"last_err", f.Err.Error())
}

// probeDue says whether commits fail and nobody has tried one for half a
// ProbeInterval. While ingest's commits keep failing, only they can say
// that commits work again: a probe's few bytes may still fit in the last
// page of a full disk, where a batch does not.
func (h *writeHealth) probeDue() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.faults["commits"] != nil && time.Since(h.lastFailure) >= ProbeInterval/2
}

// Faults are the kinds of write failing now, commits first; none when the
// store writes as it should.
func (s *Store) Faults() []Fault {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Fault
	for _, kind := range []string{"commits", "snapshots", "compaction", "pruning"} {
		if f := h.faults[kind]; f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// Failures counts the failed writes of each Op since Open.
func (s *Store) Failures() map[Op]uint64 {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[Op]uint64, len(Ops))
	for _, op := range Ops {
		out[op] = h.failures[op]
	}
	return out
}

// backoff spaces the tries of something costly that fails: 1 s after the
// first failure, doubling up to a minute.
type backoff struct {
	next  time.Time
	delay time.Duration
	err   error // the last failure
}

// wait is how long until the next try; 0: now.
func (b *backoff) wait() time.Duration { return max(time.Until(b.next), 0) }

func (b *backoff) failed(err error) {
	b.delay = min(max(2*b.delay, time.Second), time.Minute)
	b.next, b.err = time.Now().Add(b.delay), err
}

// ProbeInterval is how often, while commits fail and nothing else tries
// one, the store tries an empty write transaction and a sync of its own
// (RunMaintenance), so it sees the disk work again without waiting for a
// unit's report.
const ProbeInterval = time.Second

// probe tries a write transaction (a commit marker) and a sync.
func (s *Store) probe() {
	if err := s.db.Update(func(*buntdb.Tx) error { return nil }); err != nil {
		s.health.failed(OpCommit, fmt.Errorf("store: probe: %w", err))
		return
	}
	_ = s.Sync()
}

// keyValues are some keys' values (nil: not set) before a transaction
// changes them, to take it back.
type keyValues map[string]*string

func valuesOf(tx *buntdb.Tx, keys []string) keyValues {
	kv := make(keyValues, len(keys))
	for _, k := range keys {
		if v, err := tx.Get(k); err == nil {
			kv[k] = &v
		} else {
			kv[k] = nil
		}
	}
	return kv
}

// takeBack has the next write transaction put the keys back as they were:
// the transaction that changed them answered an error (its marker or its
// sync failed), so what it did must not last.
func (m *markedDB) takeBack(kv keyValues) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.undo == nil {
		m.undo = make(keyValues, len(kv))
	}
	for k, v := range kv {
		if _, ok := m.undo[k]; !ok { // an older value to go back to is older still
			m.undo[k] = v
		}
	}
}

// applyUndo puts back what takeBack asked for, inside tx; m.mu is held.
func (m *markedDB) applyUndo(tx *buntdb.Tx) error {
	for k, v := range m.undo {
		if v == nil {
			if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
			continue
		}
		if _, _, err := tx.Set(k, *v, nil); err != nil {
			return err
		}
	}
	return nil
}
