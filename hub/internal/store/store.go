// Package store is the hub's durable state in one buntdb file: enrolled units,
// each unit's latest position and committed sequence numbers, and the history
// of positions and events with a retention TTL.
//
// Writes reach the file at once and the disk at the next Sync: ingest applies
// one batch while the previous one is being fsynced, and confirms a message
// to its agent only after a Sync that covers it. Every other write (units,
// incidents) syncs before it returns. A crash loses only what was not yet
// confirmed, which agents still hold and resend.
package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tidwall/buntdb"
)

// Errors returned by Store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// FileName is the database file inside the data directory.
const FileName = "hub.db"

// Config says where the store lives and how long history is kept.
type Config struct {
	Dir              string        // data directory; created if missing
	Retention        time.Duration // positions; default 24 h
	EventRetention   time.Duration // unit events; default 30 days
	SnapshotInterval time.Duration // copy of the file for recovery; default 1 h, negative disables
	Logger           *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	if c.EventRetention == 0 {
		c.EventRetention = 30 * 24 * time.Hour
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the hub's database. It is safe for concurrent use.
type Store struct {
	cfg         Config
	path        string
	db          *buntdb.DB
	recovered   string // non-empty when Open had to set a corrupt file aside
	compactedAt int64  // file size after the last compaction (or at open)

	syncMu   sync.Mutex
	syncFile *os.File // the database file, for fsync (buntdb keeps its own handle private)
}

// Open opens (or creates) the store under cfg.Dir. A file that buntdb refuses
// (garbage in the middle: buntdb issue 72) is set aside as hub.db.corrupt-<time>
// and the store starts again from the latest snapshot, or empty: loudly, never
// silently — Recovered reports it.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.Retention < 0 || cfg.EventRetention < 0 {
		return nil, fmt.Errorf("store: retention must be positive")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{cfg: cfg, path: filepath.Join(cfg.Dir, FileName)}
	db, err := buntdb.Open(s.path)
	if errors.Is(err, buntdb.ErrInvalid) {
		db, err = s.recover()
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	// Always: a commit is on disk before the hub confirms it to an agent.
	// buntdb ignores the result of fsync, so a failing disk shows up only
	// on the next write error.
	// Never: Sync flushes, so the fsync can run beside the next write. And
	// buntdb's own shrink renames its rewritten file into place without
	// fsync; Compact does the same and then fsyncs.
	if err := db.SetConfig(buntdb.Config{SyncPolicy: buntdb.Never, AutoShrinkDisabled: true}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: configure: %w", err)
	}
	s.db = db
	if s.syncFile, err = os.Open(s.path); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s for sync: %w", s.path, err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.compactedAt = fi.Size()
	}
	return s, nil
}

// Sync flushes every write made so far to the disk. fsync applies to the
// file, not to the handle, so syncing our own handle covers buntdb's writes.
// A compaction puts a new file in place: then the new one is synced too, and
// kept for next time.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.syncFile.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	cur, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	if mine, err := s.syncFile.Stat(); err == nil && os.SameFile(cur, mine) {
		return nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	s.syncFile.Close()
	s.syncFile = f
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// update runs a write transaction and syncs it: for the rare writes that are
// durable when they return.
func (s *Store) update(fn func(tx *buntdb.Tx) error) error {
	if err := s.db.Update(fn); err != nil {
		return err
	}
	return s.Sync()
}

// compactMin is the file size below which compaction is not worth it.
const compactMin = 64 << 20

// Compact rewrites the file without the records since overwritten or
// deleted, once it has doubled since the last time, and fsyncs the result.
// buntdb writes the new file beside the old one, reading the database in
// chunks, so ingest is held up only for the final swap.
func (s *Store) Compact() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if fi.Size() < compactMin || fi.Size() < 2*s.compactedAt {
		return nil
	}
	if err := s.db.Shrink(); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := syncPath(s.path); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := syncPath(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.compactedAt = fi.Size()
	}
	return nil
}

// syncPath fsyncs a file or directory by name.
func syncPath(path string) error {
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

// recover sets the unreadable file aside and opens the latest snapshot in its place.
func (s *Store) recover() (*buntdb.DB, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(s.path, aside); err != nil {
		return nil, fmt.Errorf("set corrupt file aside: %w", err)
	}
	snap := s.snapshotPath()
	from := "empty"
	if err := copyFile(snap, s.path); err == nil {
		from = "snapshot " + snap
	} else if !errors.Is(err, os.ErrNotExist) {
		s.cfg.Logger.Error("store: snapshot unusable", "snapshot", snap, "err", err)
	}
	db, err := buntdb.Open(s.path)
	if errors.Is(err, buntdb.ErrInvalid) && from != "empty" {
		// The snapshot is damaged too: keep it aside as well and start empty.
		_ = os.Rename(s.path, aside+".snapshot")
		from = "empty (snapshot also unreadable)"
		db, err = buntdb.Open(s.path)
	}
	if err != nil {
		return nil, err
	}
	s.recovered = fmt.Sprintf("%s was unreadable; set aside as %s; started from %s", s.path, aside, from)
	s.cfg.Logger.Error("store: DATABASE RECOVERED — data since the snapshot is missing",
		"file", s.path, "set_aside", aside, "started_from", from)
	return db, nil
}

// Retention returns how long positions and events are kept.
func (s *Store) Retention() (positions, events time.Duration) {
	return s.cfg.Retention, s.cfg.EventRetention
}

// Recovered describes the recovery Open performed, or is empty.
func (s *Store) Recovered() string { return s.recovered }

// Path is the database file.
func (s *Store) Path() string { return s.path }

func (s *Store) snapshotPath() string { return s.path + ".snapshot" }

// Snapshot copies the database file to hub.db.snapshot. buntdb's file is an
// append-only log, so a copy taken while it grows is a valid prefix; the copy
// is written beside and renamed into place so a crash never leaves half a snapshot.
func (s *Store) Snapshot() error {
	if err := copyFile(s.path, s.snapshotPath()); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, to)
}

// PruneInterval is how often RunMaintenance drops history beyond retention
// and compacts the file if it has grown enough.
const PruneInterval = time.Minute

// RunMaintenance prunes history every PruneInterval and takes a snapshot
// every SnapshotInterval, until done is closed.
func (s *Store) RunMaintenance(done <-chan struct{}) {
	prune := time.NewTicker(PruneInterval)
	defer prune.Stop()
	var snapshots <-chan time.Time
	if s.cfg.SnapshotInterval > 0 {
		t := time.NewTicker(s.cfg.SnapshotInterval)
		defer t.Stop()
		snapshots = t.C
	}
	for {
		select {
		case <-done:
			return
		case now := <-prune.C:
			if n, err := s.Prune(now); err != nil {
				s.cfg.Logger.Error("store: pruning history failed", "err", err)
			} else if n > 0 {
				s.cfg.Logger.Debug("store: history pruned", "records", n)
			}
			if err := s.Compact(); err != nil {
				s.cfg.Logger.Error("store: compaction failed; the file keeps growing until the next try", "err", err)
			}
		case <-snapshots:
			if err := s.Snapshot(); err != nil {
				s.cfg.Logger.Error("store: snapshot failed", "err", err)
			}
		}
	}
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	err := s.db.Close() // buntdb syncs on close
	s.syncMu.Lock()
	s.syncFile.Close()
	s.syncMu.Unlock()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
