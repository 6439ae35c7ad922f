// Package history keeps the hub's position and unit event history on disk.
//
// buntdb holds everything it stores in memory, which suits units, live
// records and incidents but not history: 10,000 units reporting every 10 s
// send 86 M positions a day. History therefore lives in pebble (an LSM
// store whose memory use does not grow with what it holds), ONE PEBBLE DB
// PER UTC DAY of the record's time, in two roots:
//
//	Dir/positions/2026-12-07/   positions of that day (and their area index)
//	Dir/events/2026-12-07/      unit events of that day
//
// A day per DB makes retention a matter of closing a DB and deleting its
// directory (the space comes back at once, with no compaction, and no
// write ever waits for it), lets positions and events be kept for
// different times, and keeps each DB small. Days are opened when first
// needed and closed again when idle; only the days being written hold
// memtables. One block cache and one table cache are shared by all days,
// so memory is bounded by Config, not by how much history there is:
// CacheSize (default 64 MB) plus, per day being written, up to
// MemTableStopWritesThreshold (4) × MemTableSize (default 16 MB); a day
// only read holds a 256 KB memtable at most.
//
// See codec.go for the key layout and the value encoding.
package history

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"kuaifan/protocol"
)

// Config says where the history lives and how much memory it may use.
type Config struct {
	Dir          string // created if missing; positions/ and events/ go under it
	Logger       *slog.Logger
	CacheSize    int64         // block cache shared by all days; default 64 MB
	MemTableSize uint64        // per day being written; default 16 MB
	MaxOpenFiles int           // sstables kept open, all days together; default 1000
	IdleClose    time.Duration // a day unused this long is closed; default 2 min
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 64 << 20
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = 16 << 20
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = 1000
	}
	if c.IdleClose <= 0 {
		c.IdleClose = 2 * time.Minute
	}
}

// Kind is what a root holds.
type Kind int

// The kinds of history.
const (
	Positions Kind = iota
	Events
)

func (k Kind) String() string {
	if k == Events {
		return "events"
	}
	return "positions"
}

// Position is one fix of a unit, as the unit sent it.
type Position struct {
	Unit       string          `json:"unit"`
	Seq        uint64          `json:"seq"`
	TS         int64           `json:"ts"` // Unix ms
	Lat        float64         `json:"lat"`
	Lon        float64         `json:"lon"`
	Status     protocol.Status `json:"status"`
	AccM       *float64        `json:"acc_m,omitempty"`
	SpeedMPS   *float64        `json:"speed_mps,omitempty"`
	HeadingDeg *float64        `json:"heading_deg,omitempty"`
	Battery    *float64        `json:"battery,omitempty"`
}

// PositionOf is the history form of a telemetry message.
func PositionOf(t protocol.Telemetry) Position {
	return Position{Unit: t.Unit, Seq: t.Seq, TS: t.TS, Lat: t.Lat, Lon: t.Lon, Status: t.Status,
		AccM: t.AccM, SpeedMPS: t.SpeedMPS, HeadingDeg: t.HeadingDeg, Battery: t.Battery}
}

// Batch is what one Append writes.
type Batch struct {
	Positions []Position
	Events    []protocol.Event
}

// Stats counts what the history had to leave out.
type Stats struct {
	Skipped     int64 // records Append did not keep: a dropped day, a time outside years 1–9999, or no unit
	Undecodable int64 // stored records that did not decode and were skipped by a read
	OpenDays    int   // day DBs open now
}

// The times a record may have: its day must have a directory name.
var (
	minTS = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // exclusive
)

const dayLayout = "2006-01-02"

// dayOf is the number of the UTC day holding ts (days since 1970-01-01).
func dayOf(ts int64) int64 {
	d := ts / msPerDay
	if ts%msPerDay < 0 {
		d--
	}
	return d
}

func dayName(day int64) string { return time.UnixMilli(day * msPerDay).UTC().Format(dayLayout) }

// History is the on-disk history. It is safe for concurrent use.
type History struct {
	cfg    Config
	fs     vfs.FS // the file system under the days (a test may wrap it)
	cache  *pebble.Cache
	tables *pebble.TableCache
	roots  [2]*root

	undecodable atomic.Int64
	skipped     atomic.Int64

	damageMu sync.Mutex
	damage   []string
	damaged  int

	stop   chan struct{}
	reaper sync.WaitGroup
	closed atomic.Bool
}

// root is the days of one kind.
type root struct {
	kind Kind
	dir  string

	mu    sync.Mutex
	days  map[int64]*day // the days on disk (open or not) and being created
	floor int64          // days before it are dropped: never opened or created again
}

// snapshot is the root's days as they are now, to visit without its lock.
func (r *root) snapshot() []*day {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.days))
}

// day is one day DB.
type day struct {
	num int64
	dir string

	// gate is held shared by everyone using db and exclusively to close it,
	// so a DB is never closed under a reader or writer.
	gate sync.RWMutex

	mu       sync.Mutex // guards what follows
	db       *pebble.DB
	readOnly bool         // db was opened read-only (the disk would take no write)
	gone     bool         // dropped or set aside: look the day up again
	lastUse  atomic.Int64 // Unix ns
}

// Open opens (creating if need be) the history under cfg.Dir. It lists the
// days there but opens none: a day is opened when it is first read or written.
func Open(cfg Config) (*History, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("history: no directory")
	}
	h := &History{cfg: cfg, fs: lockFS{vfs.Default}, stop: make(chan struct{})}
	for k := range h.roots {
		r := &root{kind: Kind(k), dir: filepath.Join(cfg.Dir, Kind(k).String()), days: map[int64]*day{}, floor: dayOf(minTS)}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		ents, err := os.ReadDir(r.dir)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		for _, e := range ents {
			t, err := time.Parse(dayLayout, e.Name())
			if err != nil || !e.IsDir() {
				continue // set aside, or not ours
			}
			n := dayOf(t.UnixMilli())
			r.days[n] = &day{num: n, dir: filepath.Join(r.dir, e.Name())}
		}
		h.roots[k] = r
	}
	h.cache = pebble.NewCache(cfg.CacheSize)
	h.tables = pebble.NewTableCache(h.cache, max(1, runtime.GOMAXPROCS(0)), cfg.MaxOpenFiles)
	h.reaper.Add(1)
	go h.reap()
	return h, nil
}

func (h *History) options(create bool) *pebble.Options {
	o := &pebble.Options{
		Cache:                       h.cache,
		TableCache:                  h.tables,
		MemTableSize:                h.cfg.MemTableSize,
		MemTableStopWritesThreshold: 4,
		MaxConcurrentCompactions:    func() int { return 1 },
		ErrorIfNotExists:            !create,
		Logger:                      pebbleLogger{h.cfg.Logger},
		// The plain file system: pebble's default wraps it in a disk health
		// checker whose goroutine outlives an Open that fails. Its locks are
		// our own (see lockFS).
		FS: h.fs,
	}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		l := &o.Levels[i]
		l.Compression = pebble.SnappyCompression
		l.BlockSize = 4 << 10
		l.TargetFileSize = 4 << 20 << i
	}
	o.EnsureDefaults()
	return o
}

// pebbleLogger sends pebble's chatter to the hub's log at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("history: pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("history: pebble: fatal: " + msg)
	panic("history: pebble: " + msg)
}

var errClosed = errors.New("history: closed")

// acquire returns day num of r open and held (release it), or nil when
// there is no such day and create is false, or the day has been dropped.
func (h *History) acquire(r *root, num int64, create bool) (*day, error) {
	for {
		r.mu.Lock()
		if h.closed.Load() { // checked under r.mu: Close sees every day made before
			r.mu.Unlock()
			return nil, errClosed
		}
		if num < r.floor {
			r.mu.Unlock()
			return nil, nil
		}
		d := r.days[num]
		if d == nil {
			if !create {
				r.mu.Unlock()
				return nil, nil
			}
			d = &day{num: num, dir: filepath.Join(r.dir, dayName(num))}
			r.days[num] = d
		}
		r.mu.Unlock()

		d.gate.RLock()
		d.mu.Lock()
		if d.gone {
			d.mu.Unlock()
			d.gate.RUnlock()
			continue
		}
		if d.db != nil && d.readOnly && create {
			// Opened for reading while the disk took no writes: a writer
			// needs it opened afresh.
			db := d.db
			d.mu.Unlock()
			d.gate.RUnlock()
			h.abandon(r, d, db, errors.New("opened read-only"))
			continue
		}
		if d.db == nil {
			if err := h.openDay(r, d, create); err != nil {
				d.mu.Unlock()
				d.gate.RUnlock()
				if errors.Is(err, errSetAside) {
					continue
				}
				return nil, err
			}
		}
		d.mu.Unlock()
		d.lastUse.Store(time.Now().UnixNano())
		return d, nil
	}
}

func (d *day) release() {
	d.lastUse.Store(time.Now().UnixNano())
	d.gate.RUnlock()
}

var errSetAside = errors.New("set aside")

// openDay opens d.db (d.mu held). A DB pebble refuses for anything but a
// passing condition of the system (no file descriptors, no space, no
// permission) is set aside: its directory is renamed *.corrupt-<time>,
// reported by Damage, and the day is looked up again (errSetAside), so a
// write starts it afresh and a read finds nothing there.
func (h *History) openDay(r *root, d *day, create bool) error {
	if create {
		if err := makeDir(d.dir); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	db, err := pebble.Open(d.dir, h.options(create))
	if err == nil {
		d.db, d.readOnly = db, false
		return nil
	}
	if !create && transient(err) {
		// A disk that takes no writes (read-only, full, failing) may still
		// serve reads; pebble opened read-only replays its log in memory.
		o := h.options(false)
		o.ReadOnly = true
		if db, rerr := pebble.Open(d.dir, o); rerr == nil {
			d.db, d.readOnly = db, true
			return nil
		}
	}
	if transient(err) {
		return fmt.Errorf("history: open %s/%s: %w", r.kind, filepath.Base(d.dir), err)
	}
	if !create && errors.Is(err, pebble.ErrDBDoesNotExist) {
		// An empty directory (the hub stopped as it made it): nothing to
		// read, and the next write makes the DB.
		d.gone = true
		r.mu.Lock()
		if r.days[d.num] == d {
			delete(r.days, d.num)
		}
		r.mu.Unlock()
		return errSetAside
	}
	aside := fmt.Sprintf("%s.corrupt-%s", d.dir, time.Now().UTC().Format("20060102T150405.000Z"))
	if rerr := os.Rename(d.dir, aside); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("history: open %s/%s: %w; setting it aside: %v", r.kind, filepath.Base(d.dir), err, rerr)
	}
	h.noteDamage(fmt.Sprintf("%s/%s: %v; set aside as %s", r.kind, filepath.Base(d.dir), err, filepath.Base(aside)))
	h.cfg.Logger.Error("history: day set aside", "kind", r.kind.String(), "day", filepath.Base(d.dir), "aside", aside, "err", err)
	d.gone = true
	r.mu.Lock()
	if r.days[d.num] == d {
		delete(r.days, d.num)
	}
	r.mu.Unlock()
	return errSetAside
}

// makeDir makes a day's directory and syncs its parent, so that the day
// survives a crash along with what pebble syncs inside it.
func makeDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parent, err := os.Open(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer parent.Close()
	return parent.Sync()
}

// transient reports whether an error opening a DB says more about the
// system than about the DB.
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOSPC,
		syscall.EACCES, syscall.EPERM, syscall.EROFS, syscall.EDQUOT, syscall.EAGAIN, syscall.EINTR, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// daysIn lists r's days from..to (inclusive) it knows, in order.
func (r *root) daysIn(from, to int64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for n := range r.days {
		if n >= from && n <= to && n >= r.floor {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Append writes a batch durably (pebble.Sync). The records of one day go
// in one atomic pebble batch; a batch spanning midnight (or holding late
// records of earlier days) is one write per day, in day order. That is
// safe for the hub because every record is keyed by (unit, ts, seq): if
// the hub fails between the writes and sends the batch again, writing a
// record a second time sets the same key to the same value.
//
// Records Append cannot keep are skipped and counted in Stats: those of a
// day already dropped (DropBefore), with a time outside years 1–9999, or
// without a unit. Append returns the first error; days before it are written.
func (h *History) Append(b Batch) error {
	type perDay struct {
		pos []*Position
		ev  []*protocol.Event
	}
	days := map[int64]*perDay{}
	get := func(ts int64) *perDay {
		n := dayOf(ts)
		pd := days[n]
		if pd == nil {
			pd = &perDay{}
			days[n] = pd
		}
		return pd
	}
	for i := range b.Positions {
		p := &b.Positions[i]
		if !keepable(p.Unit, p.TS) {
			h.skipped.Add(1)
			continue
		}
		pd := get(p.TS)
		pd.pos = append(pd.pos, p)
	}
	for i := range b.Events {
		e := &b.Events[i]
		if !keepable(e.Unit, e.TS) {
			h.skipped.Add(1)
			continue
		}
		pd := get(e.TS)
		pd.ev = append(pd.ev, e)
	}
	nums := make([]int64, 0, len(days))
	for n := range days {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var kb, vb []byte
	for _, n := range nums {
		pd := days[n]
		if len(pd.pos) > 0 {
			err := h.write(h.roots[Positions], n, len(pd.pos), func(wb *pebble.Batch) error {
				dayStart := n * msPerDay
				for _, p := range pd.pos {
					kb = recordKey(kb[:0], kindPosition, p.Unit, p.TS, p.Seq)
					vb = encodePosition(vb[:0], p)
					if err := wb.Set(kb, vb, nil); err != nil {
						return err
					}
					minute := uint16((p.TS - dayStart) / msPerMinute)
					kb = areaKey(kb[:0], cellOf(latRow(p.Lat), lonCol(p.Lon)), minute, p.Unit)
					if err := wb.Set(kb, nil, nil); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(pd.ev) > 0 {
			err := h.write(h.roots[Events], n, len(pd.ev), func(wb *pebble.Batch) error {
				for _, e := range pd.ev {
					v, err := encodeEvent(e)
					if err != nil {
						return err
					}
					kb = recordKey(kb[:0], kindEvent, e.Unit, e.TS, e.Seq)
					if err := wb.Set(kb, v, nil); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func keepable(unit string, ts int64) bool {
	if unit == "" || ts < minTS || ts >= maxTS {
		return false
	}
	for i := 0; i < len(unit); i++ {
		if unit[i] == unitEnd {
			return false
		}
	}
	return true
}

// write commits what fill puts in a batch to day num of r.
func (h *History) write(r *root, num int64, n int, fill func(*pebble.Batch) error) error {
	d, err := h.acquire(r, num, true)
	if err != nil {
		return fmt.Errorf("history: append: %w", err)
	}
	if d == nil { // dropped while we came
		h.skipped.Add(int64(n))
		return nil
	}
	db := d.db
	wb := db.NewBatch()
	err = fill(wb)
	if err == nil {
		err = commitSync(wb)
		if err != nil {
			wb = nil // pebble may still hold it: not closed here
			defer h.abandon(r, d, db, err)
		}
	}
	if wb != nil {
		wb.Close()
	}
	d.release()
	if err != nil {
		return fmt.Errorf("history: append to %s/%s: %w", r.kind, dayName(num), err)
	}
	return nil
}

// commitSync commits wb synced. pebble treats a failed WAL write (a full
// disk, a file system turned read-only) as fatal and calls Logger.Fatalf,
// which panics: that becomes an error here, so a failing disk fails the
// commit instead of the hub.
func commitSync(wb *pebble.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return wb.Commit(pebble.Sync)
}

// abandon closes day d's DB after a write to it failed (pebble's commit
// pipeline does not recover from that) or when a writer needs a day opened
// read-only: the DB is closed without a flush, which would write again,
// and the next use opens it afresh, replaying its log — which holds every
// batch that was synced. Until the disk works again, that open fails and
// so does every write to the day; reads open it read-only.
func (h *History) abandon(r *root, d *day, db *pebble.DB, cause error) {
	d.gate.Lock()
	defer d.gate.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != db {
		return // someone was first
	}
	d.db, d.readOnly = nil, false
	h.cfg.Logger.Warn("history: the day is closed and opened again on its next use",
		"kind", r.kind.String(), "day", dayName(d.num), "err", cause)
	if err := closeDB(db, false); err != nil {
		h.cfg.Logger.Debug("history: closing a day after a failed write", "kind", r.kind.String(), "day", dayName(d.num), "err", err)
	}
}

// closeDB closes db, flushing it first if asked (so that the next open has
// no log to replay). A DB whose disk failed under it may panic instead of
// returning an error; that becomes the error.
func closeDB(db *pebble.DB, flush bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if flush {
		if err := db.Flush(); err != nil {
			return errors.Join(err, db.Close())
		}
	}
	return db.Close()
}

// DropBefore deletes the days of kind k that end at or before t: a day
// goes whole, by closing its DB and deleting its directory. Records of
// those days that Append meets later are skipped. It never holds a lock
// Append needs while it deletes files; it waits only for the readers of
// the days it drops. It returns the days dropped.
func (h *History) DropBefore(k Kind, t time.Time) ([]string, error) {
	if h.closed.Load() {
		return nil, errClosed
	}
	r := h.roots[k]
	floor := dayOf(t.UnixMilli())
	r.mu.Lock()
	if floor > r.floor {
		r.floor = floor
	}
	var victims []*day
	for n, d := range r.days {
		if n < r.floor {
			victims = append(victims, d)
			delete(r.days, n)
		}
	}
	r.mu.Unlock()
	sort.Slice(victims, func(i, j int) bool { return victims[i].num < victims[j].num })
	var dropped []string
	var errs []error
	for _, d := range victims {
		d.gate.Lock()
		d.mu.Lock()
		d.gone = true
		var err error
		if d.db != nil {
			err = closeDB(d.db, false)
			d.db = nil
		}
		d.mu.Unlock()
		d.gate.Unlock()
		if err != nil {
			h.cfg.Logger.Warn("history: closing a dropped day", "kind", k.String(), "day", dayName(d.num), "err", err)
		}
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped = append(dropped, filepath.Base(d.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return dropped, fmt.Errorf("history: drop %s: %w", k, err)
	}
	return dropped, nil
}

// Days lists the days of kind k on disk, oldest first.
func (h *History) Days(k Kind) []string {
	r := h.roots[k]
	var out []string
	for _, n := range r.daysIn(dayOf(minTS), dayOf(maxTS)) {
		out = append(out, dayName(n))
	}
	return out
}

// reap closes the days nobody has used for IdleClose, flushing them first
// so that the next open has no log to replay.
func (h *History) reap() {
	defer h.reaper.Done()
	tick := time.NewTicker(max(h.cfg.IdleClose/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
			h.closeIdle(time.Now().Add(-h.cfg.IdleClose))
		}
	}
}

// closeIdle closes the open days last used before cutoff that nobody uses now.
func (h *History) closeIdle(cutoff time.Time) {
	for _, r := range h.roots {
		open := r.snapshot()
		for _, d := range open {
			if d.lastUse.Load() > cutoff.UnixNano() || !d.gate.TryLock() {
				continue
			}
			d.mu.Lock()
			if d.db != nil && d.lastUse.Load() <= cutoff.UnixNano() {
				db := d.db
				d.db = nil
				if err := closeDB(db, true); err != nil {
					h.cfg.Logger.Warn("history: closing an idle day", "kind", r.kind.String(), "day", dayName(d.num), "err", err)
				}
			}
			d.mu.Unlock()
			d.gate.Unlock()
		}
	}
}

// Close flushes and closes every open day. Nothing may use the history after.
func (h *History) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	close(h.stop)
	h.reaper.Wait()
	var errs []error
	for _, r := range h.roots {
		days := r.snapshot()
		for _, d := range days {
			d.gate.Lock()
			d.mu.Lock()
			if d.db != nil {
				// Flushed, so that the next start replays no log.
				errs = append(errs, closeDB(d.db, d.db.Metrics().MemTable.Size > 256<<10))
				d.db = nil
			}
			d.gone = true
			d.mu.Unlock()
			d.gate.Unlock()
		}
	}
	errs = append(errs, h.tables.Unref())
	h.cache.Unref()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("history: close: %w", err)
	}
	return nil
}

// Stats reports what the history left out, and how many days are open.
func (h *History) Stats() Stats {
	s := Stats{Skipped: h.skipped.Load(), Undecodable: h.undecodable.Load()}
	for _, r := range h.roots {
		days := r.snapshot()
		for _, d := range days {
			d.mu.Lock()
			if d.db != nil {
				s.OpenDays++
			}
			d.mu.Unlock()
		}
	}
	return s
}

// maxDamageNotes bounds what Damage keeps: the count goes on.
const maxDamageNotes = 100

func (h *History) noteDamage(note string) {
	h.damageMu.Lock()
	defer h.damageMu.Unlock()
	if slices.Contains(h.damage, note) {
		return
	}
	h.damaged++
	if len(h.damage) < maxDamageNotes {
		h.damage = append(h.damage, note)
	}
}

// Damage lists the damage the history has met since it opened: days set
// aside, records that did not decode. Empty when all is well.
func (h *History) Damage() []string {
	h.damageMu.Lock()
	defer h.damageMu.Unlock()
	return slices.Clone(h.damage)
}

// Damaged is how much damage the history has met since it opened.
func (h *History) Damaged() int {
	h.damageMu.Lock()
	defer h.damageMu.Unlock()
	return h.damaged
}
