// Package queue is the agent's store-and-forward queue: every report the
// agent makes — telemetry and events, numbered by one seq per unit — is put
// on disk here first, and leaves only when the hub's ack covers its seq.
// A broker's PUBACK is not enough (design.md: brokers drop QoS 1 messages to
// slow subscribers), so the queue, not the MQTT client, is the durable copy.
//
// Durability: the queue is one buntdb file, Dir/queue.db, with SyncPolicy
// Always, so an Append is on disk before it returns and an agent killed with
// SIGKILL loses nothing it had queued. A file buntdb refuses (garbage in the
// middle, buntdb issue 72) is set aside as queue.db.corrupt-<time> and the
// queue starts empty, logged at Error level. The seq must never go backwards
// even then — the hub would take the new reports for duplicates — so a small
// second file, Dir/queue.seq, holds a bound above every seq used; with both
// files lost, seq starts from the clock in microseconds, the contract's rule.
//
// Ordering (Next): SOS events first, then the other events, then the newest position, then the backlog
// oldest first, skipping what is in flight; see Next. The sender decides the
// pace; since every call puts events and the newest position first, live
// reports never queue behind the backlog however big it is.
//
// Size: the queue holds at most MaxItems (while offline it fills up).
// Events are never dropped; positions are thinned, one per Append beyond the
// bound, in the Append's own transaction, by this rule: drop every other
// position among the oldest half of the positions (keeping the oldest of
// each pair), and when that half is done begin again over the oldest half
// of what remains. The newest position is never dropped. Why:
//   - the track keeps its shape: within a thinned stretch the points are
//     evenly decimated, so turns and stops remain, at half the rate, and the
//     first point of the gap (where the unit was when the link went) stays;
//   - older is sparser: after k passes the oldest stretch holds about 1/2^k
//     of its points, while the recent track — what the dispatcher and an
//     open incident's timeline care about — stays dense: a resolution
//     roughly logarithmic in age;
//   - one delete per Append costs O(log n) and never a pause for a batch.
//
// If events alone fill MaxItems the queue grows beyond it (logged at Error,
// at most once a minute) and keeps, besides the events, only the newest
// position: an Append of a position then drops the previous one. Thinned
// seqs are never acked; the hub tolerates the gaps.
//
// Resends: send times are compared on the monotonic clock whenever Now and
// MarkSent's t carry it (time.Now does), so a patrol device whose wall clock
// is set from GPS after boot, or stepped by NTP, neither freezes nor floods
// resends.
//
// The file: buntdb's append-only log grows with every item that comes and
// goes; the queue compacts it in the background once it is four times its
// live size (and at least 8 MB), and fsyncs the result, which buntdb's own
// shrink does not.
//
// A Queue is safe for concurrent use.
package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
)

// Kind is what a queued report is.
type Kind uint8

// The kinds of report. They are stored as one byte: do not renumber.
const (
	Telemetry Kind = 1 // a position report (thinned when the queue is full)
	Event     Kind = 2 // an officer's or the agent's event (never dropped)
	// SOS is an officer's sos event (additive, 2026-12): an event that goes
	// before every other report, whatever is queued.
	SOS Kind = 3
)

func (k Kind) valid() bool { return k == Telemetry || k == Event || k == SOS }

// IsEvent reports whether the kind is an event (an SOS is one): never
// thinned, sent on the events topic.
func (k Kind) IsEvent() bool { return k == Event || k == SOS }

func (k Kind) String() string {
	switch k {
	case Telemetry:
		return "telemetry"
	case Event:
		return "event"
	case SOS:
		return "sos"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Item is one queued report.
type Item struct {
	Seq     uint64
	Kind    Kind
	TS      int64  // the message's own ts (Unix ms), for ordering positions by time
	Payload []byte // the encoded protocol message, sent as is
}

// DefaultMaxItems bounds the queue when Config.MaxItems is 0: at the fastest
// reporting rate (1 Hz) that is more than two days of positions before any
// is thinned. Everything queued is also in memory (buntdb's way): about
// 330 bytes per ~160-byte position, so a full default queue takes some
// 65 MB; a device with less to spare should set a smaller bound.
const DefaultMaxItems = 200_000

// Config says where the queue lives and how big it may grow.
type Config struct {
	Dir      string // the agent's data directory; the queue is Dir/queue.db
	MaxItems int    // bound while offline; default DefaultMaxItems
	// InMemory keeps the queue in memory only (buntdb ":memory:"), with no
	// file and no queue.seq; Dir is not used. For simulated units, of which
	// one process runs thousands: nothing survives Close or a crash, and the
	// seq starts from the clock in microseconds at every Open (the
	// contract's rule for a device without storage), so it still never goes
	// backwards across restarts a microsecond apart.
	InMemory bool
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now
}

// ErrClosed is returned by a Queue's methods after Close.
var ErrClosed = errors.New("queue: closed")

// Queue is the agent's durable outbox.
type Queue struct {
	cfg       Config
	path      string
	seqPath   string
	db        *buntdb.DB
	base      time.Time // send times are kept as durations since this
	recovered string

	mu          sync.Mutex
	closed      bool
	next        uint64 // the seq the next Append gets
	lease       uint64 // no seq at or above it has been used (queue.seq)
	idx         index
	liveBytes   int64 // estimated size of the live records in the file
	fileBytes   int64 // estimated size of the file
	compactMin  int64
	compacting  bool
	compactions int            // completed, for tests
	wg          sync.WaitGroup // a compaction in progress
	overLogged  time.Time      // last Error about events beyond MaxItems
}

// Open opens (or creates) the queue in cfg.Dir. A database buntdb refuses
// is set aside (queue.db.corrupt-<time>, logged at Error, see Recovered) and
// the queue starts empty. The next seq comes from the database; if it has
// none (lost or set aside), from queue.seq, which is above every seq ever
// used; if that is gone too, from the clock in microseconds.
func Open(cfg Config) (*Queue, error) {
	if cfg.Dir == "" && !cfg.InMemory {
		return nil, errors.New("queue: no directory")
	}
	if cfg.MaxItems < 0 {
		return nil, fmt.Errorf("queue: MaxItems %d is negative", cfg.MaxItems)
	}
	if cfg.MaxItems == 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InMemory {
		return openMemory(cfg)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &Queue{
		cfg:        cfg,
		path:       filepath.Join(cfg.Dir, dbFile),
		seqPath:    filepath.Join(cfg.Dir, seqFile),
		base:       cfg.Now(),
		idx:        newIndex(),
		compactMin: defaultCompactMin,
	}
	log := cfg.Logger

	lease, leaseOK, err := readSeqFile(q.seqPath)
	if err != nil {
		log.Error("queue: sequence file unreadable, ignoring it", "file", q.seqPath, "err", err)
	}
	db, recovered, err := q.openDB()
	if err != nil {
		return nil, err
	}
	if recovered != "" {
		q.recovered = recovered
		log.Error("queue: DATABASE SET ASIDE — the reports it held are not in the queue; starting empty",
			"detail", recovered)
	}
	// Always: a report is on disk before Append returns. buntdb ignores
	// fsync's result, so a failing disk shows only as a later write error.
	// Its own shrink is off: compact does it and fsyncs the result.
	if err := db.SetConfig(buntdb.Config{SyncPolicy: buntdb.Always, AutoShrinkDisabled: true}); err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: configure %s: %w", q.path, err)
	}
	q.db = db
	st, err := q.load(true)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The file may be new: make its directory entry durable too.
	if err := syncDir(cfg.Dir); err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: sync %s: %w", cfg.Dir, err)
	}
	if fi, err := os.Stat(q.path); err == nil {
		q.fileBytes = fi.Size()
	}

	switch {
	case st.hasMeta || st.items > 0:
		// The database is authoritative. maxSeq+1 also covers a
		// transaction torn between the item and the meta record.
		q.next = st.meta
		if st.items > 0 && st.maxSeq >= q.next {
			q.next = st.maxSeq + 1
		}
		if !st.hasMeta && leaseOK && lease > q.next {
			q.next = lease
		}
	case leaseOK:
		// The database has no sequence: it was lost or set aside. The
		// bound is above anything it can have held.
		q.next = lease
		log.Warn("queue: sequence resumed from the sequence file", "file", q.seqPath, "seq", q.next)
	default:
		now := cfg.Now()
		q.next = clockSeq(now)
		log.Warn("queue: no stored sequence, starting from the clock in microseconds",
			"seq", q.next, "dir", cfg.Dir)
		if now.Before(plausibleClock) {
			log.Error("queue: the clock looks unset; a sequence started from it may be below one the hub has seen, "+
				"and the hub would drop those reports as duplicates", "now", now, "seq", q.next)
		}
	}
	if leaseOK {
		q.lease = lease
	}
	return q, nil
}

// openMemory opens a queue that lives in memory only (Config.InMemory).
func openMemory(cfg Config) (*Queue, error) {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("queue: open in memory: %w", err)
	}
	q := &Queue{
		cfg:        cfg,
		path:       ":memory:",
		db:         db,
		base:       cfg.Now(),
		idx:        newIndex(),
		compactMin: defaultCompactMin,
		next:       clockSeq(cfg.Now()),
		// Append never writes queue.seq: its lease is never reached.
		lease: math.MaxUint64,
	}
	return q, nil
}

// loadState is what load found in the file.
type loadState struct {
	meta    uint64
	hasMeta bool
	maxSeq  uint64
	items   int
}

// load builds the in-memory index from the database. At Open (clean) it also
// deletes item records it cannot decode — they cannot be sent — loudly.
// Keys that are not the queue's are left alone.
func (q *Queue) load(clean bool) (loadState, error) {
	var st loadState
	var bad []string
	foreign := 0
	err := q.db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool {
			if k == metaNext {
				st.meta, st.hasMeta = decodeSeq(v)
				return true
			}
			seq, ok := parseItemKey(k)
			if !ok {
				foreign++
				return true
			}
			kind, ts, ok := decodeHeader(v)
			if !ok {
				bad = append(bad, k)
				return true
			}
			q.idx.add(seq, kind, ts)
			q.liveBytes += recordSize(len(v))
			st.items++
			st.maxSeq = max(st.maxSeq, seq)
			return true
		})
	})
	if err != nil {
		return st, fmt.Errorf("queue: read %s: %w", q.path, err)
	}
	if foreign > 0 && clean {
		q.cfg.Logger.Warn("queue: the database holds records that are not queue items; ignoring them",
			"file", q.path, "records", foreign)
	}
	if len(bad) > 0 && clean {
		q.cfg.Logger.Error("queue: deleting undecodable queue items", "file", q.path, "items", len(bad))
		err := q.db.Update(func(tx *buntdb.Tx) error {
			for _, k := range bad {
				if _, err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("queue: delete undecodable items: %w", err)
		}
	}
	return st, nil
}

// rebuild makes the index equal to the database again after a failed
// commit (buntdb rolled back; the index may have moved ahead). Send marks
// of items still queued are kept. Called with q.mu held.
func (q *Queue) rebuild() {
	sent := make(map[uint64]int64, len(q.idx.sentAt))
	for seq, at := range q.idx.sentAt {
		sent[seq] = at
	}
	q.idx = newIndex()
	q.liveBytes = 0
	if _, err := q.load(false); err != nil {
		q.cfg.Logger.Error("queue: rebuilding the index failed", "err", err)
		return
	}
	_ = q.db.View(func(tx *buntdb.Tx) error {
		for seq, at := range sent {
			if v, err := tx.Get(itemKey(seq)); err == nil {
				if kind, ts, ok := decodeHeader(v); ok {
					q.idx.markSent(seq, kind, ts, at)
				}
			}
		}
		return nil
	})
}

// Recovered describes how Open had to set a corrupt file aside, or is "".
func (q *Queue) Recovered() string { return q.recovered }

// Append assigns the next seq, builds the payload with it, and stores the
// item and the next seq in one fsynced transaction: when Append returns
// without error the report is on disk. build must be deterministic (it may
// be called for a seq that then fails to commit and is used again) and must
// not call the Queue. When the queue is full, one position is thinned in the
// same transaction (the rule is in the package doc); events are never
// dropped: if they alone fill MaxItems, the queue grows beyond it, logged
// at Error level.
func (q *Queue) Append(kind Kind, ts int64, build func(seq uint64) ([]byte, error)) (Item, error) {
	if !kind.valid() {
		return Item{}, fmt.Errorf("queue: append: invalid kind %d", kind)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return Item{}, ErrClosed
	}
	seq := q.next
	payload, err := build(seq)
	if err != nil {
		return Item{}, fmt.Errorf("queue: append: build payload for seq %d: %w", seq, err)
	}
	if seq >= q.lease {
		// The bound on disk must be above every seq that reaches the
		// database, before it does.
		lease := seq + seqLease
		if err := writeSeqFile(q.cfg.Dir, q.seqPath, lease); err != nil {
			return Item{}, fmt.Errorf("queue: append: write %s: %w", q.seqPath, err)
		}
		q.lease = lease
	}

	// Thinning changes the index first; a failed commit rebuilds it.
	incoming := posKey{ts, seq}
	var victims []posKey
	for q.idx.len()+1 > q.cfg.MaxItems {
		v, newPass, ok := q.idx.thinVictim(incoming, kind == Telemetry)
		if !ok {
			break
		}
		if newPass {
			pos, ev := q.idx.pos.Len(), q.idx.events
			q.cfg.Logger.Warn("queue: full, thinning the oldest positions",
				"max_items", q.cfg.MaxItems, "positions", pos, "events", ev)
		}
		q.idx.remove(v.seq, Telemetry, v.ts)
		victims = append(victims, v)
	}

	key, val := itemKey(seq), encodeValue(kind, ts, payload)
	var freed int64
	err = q.db.Update(func(tx *buntdb.Tx) error {
		if _, _, err := tx.Set(key, val, nil); err != nil {
			return err
		}
		if _, _, err := tx.Set(metaNext, encodeSeq(seq+1), nil); err != nil {
			return err
		}
		for _, v := range victims {
			old, err := tx.Delete(itemKey(v.seq))
			if err != nil {
				return fmt.Errorf("thin seq %d: %w", v.seq, err)
			}
			freed += recordSize(len(old))
		}
		return nil
	})
	if err != nil {
		if len(victims) > 0 {
			q.rebuild()
		}
		return Item{}, fmt.Errorf("queue: append seq %d: %w", seq, err)
	}
	q.next = seq + 1
	q.idx.add(seq, kind, ts)
	size := recordSize(len(val))
	q.liveBytes += size - freed
	q.fileBytes += size + recordSize(8) + int64(len(victims))*delRecordSize
	if n := q.idx.len(); n > q.cfg.MaxItems {
		if now := q.cfg.Now(); now.Sub(q.overLogged) >= time.Minute || now.Before(q.overLogged) {
			q.overLogged = now
			q.cfg.Logger.Error("queue: events alone fill the queue; growing beyond MaxItems rather than drop an event",
				"items", n, "max_items", q.cfg.MaxItems, "events", q.idx.events)
		}
	}
	q.maybeCompact()
	return Item{Seq: seq, Kind: kind, TS: ts, Payload: payload}, nil
}

// Ack removes every item whose seq the ranges cover, in one fsynced
// transaction, and returns how many. The ranges need not be sorted or
// disjoint; seqs not in the queue (acked before, thinned) are ignored.
func (q *Queue) Ack(acked protocol.Ranges) (int, error) {
	rs := make(protocol.Ranges, 0, len(acked))
	for _, r := range acked {
		if r[0] <= r[1] {
			rs = append(rs, r)
		}
	}
	rs = rs.Union(nil)

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	type gone struct {
		seq  uint64
		kind Kind
		ts   int64
		size int64
	}
	var drop []gone
	err := q.db.Update(func(tx *buntdb.Tx) error {
		drop = drop[:0]
		for _, r := range rs {
			// Keys sort as seqs do: one ordered scan per range, visiting
			// only what is queued, however wide the range.
			err := tx.AscendGreaterOrEqual("", itemKey(r[0]), func(k, v string) bool {
				seq, ok := parseItemKey(k)
				if !ok || seq > r[1] {
					return false
				}
				kind, ts, _ := decodeHeader(v) // load admitted only decodable items
				drop = append(drop, gone{seq, kind, ts, recordSize(len(v))})
				return true
			})
			if err != nil {
				return err
			}
		}
		for _, g := range drop {
			if _, err := tx.Delete(itemKey(g.seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: ack: %w", err)
	}
	for _, g := range drop {
		q.idx.remove(g.seq, g.kind, g.ts)
		q.liveBytes -= g.size
	}
	q.fileBytes += int64(len(drop)) * delRecordSize
	q.maybeCompact()
	return len(drop), nil
}

// Next returns up to n items to send now, in the order they should go:
//  0. SOS events not in flight, oldest first — an officer in trouble waits
//     for nothing, not even the other events of an outage's backlog;
//  1. events that are not in flight, oldest (lowest seq) first — an officer's
//     ack or arrival never waits behind positions, not even when resent;
//  2. the newest position (by ts, then seq), if it is not in flight — the
//     dispatcher needs where the unit is now before where it was;
//  3. the other positions oldest first (by ts, then seq): those never sent,
//     then those sent more than resendAfter ago.
//
// An item sent within resendAfter (MarkSent) is in flight and skipped.
// Next does not mark anything sent. A negative resendAfter counts as 0.
func (q *Queue) Next(n int, resendAfter time.Duration) []Item {
	if n <= 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	now := int64(q.cfg.Now().Sub(q.base))
	q.idx.setHorizon(satSub(now, int64(max(resendAfter, 0))))
	seqs := q.idx.next(n)
	items := make([]Item, 0, len(seqs))
	err := q.db.View(func(tx *buntdb.Tx) error {
		for _, seq := range seqs {
			v, err := tx.Get(itemKey(seq))
			if err != nil {
				return fmt.Errorf("seq %d is indexed but not stored: %w", seq, err)
			}
			kind, ts, _ := decodeHeader(v)
			items = append(items, Item{Seq: seq, Kind: kind, TS: ts, Payload: []byte(v[valHeader:])})
		}
		return nil
	})
	if err != nil {
		// Cannot happen while the index mirrors the database; if it
		// does, mirror it again rather than hand out a bad batch.
		q.cfg.Logger.Error("queue: index out of step with the database, rebuilding", "err", err)
		q.rebuild()
		return nil
	}
	return items
}

// MarkSent records that items were handed to the MQTT client at t. It lives
// in memory only: after a restart everything is unsent. Unknown seqs are
// ignored.
func (q *Queue) MarkSent(t time.Time, seqs ...uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(seqs) == 0 {
		return
	}
	at := int64(t.Sub(q.base))
	_ = q.db.View(func(tx *buntdb.Tx) error {
		for _, seq := range seqs {
			v, err := tx.Get(itemKey(seq))
			if err != nil {
				continue // acked or thinned meanwhile
			}
			if kind, ts, ok := decodeHeader(v); ok {
				q.idx.markSent(seq, kind, ts, at)
			}
		}
		return nil
	})
}

// ResetSent forgets every MarkSent, as a restart does. A sender may call it
// on reconnect, when what was in flight on the old connection is presumed
// lost, so that Next's order (events, newest position, backlog) starts over
// at once instead of after resendAfter.
func (q *Queue) ResetSent() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.idx.resetSent()
	}
}

// Len is the number of queued items.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idx.len()
}

// Counts returns the number of queued positions and events.
func (q *Queue) Counts() (positions, events int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idx.pos.Len(), q.idx.events
}

// Has reports whether seq is still queued: appended and not yet confirmed
// by the hub (nor thinned). The officer's page shows an action as queued
// until it is not.
func (q *Queue) Has(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	found := false
	_ = q.db.View(func(tx *buntdb.Tx) error {
		_, err := tx.Get(itemKey(seq))
		found = err == nil
		return nil
	})
	return found
}

// NextSeq is the seq the next Append will get.
func (q *Queue) NextSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next
}

// Close waits for a compaction in progress and closes the database. Calling
// it again does nothing.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	q.wg.Wait()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("queue: close %s: %w", q.path, err)
	}
	return nil
}
