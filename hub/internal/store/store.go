// Package store is the hub's durable state in one buntdb file: enrolled units,
// each unit's latest position and committed sequence numbers, and the history
// of positions and events with a retention TTL.
//
// Writes reach the file at once and the disk at the next Sync: ingest applies
// one batch while the previous one is being fsynced, and confirms a message
// to its agent only after a Sync that covers it. Every other write (units,
// incidents) syncs before it returns. A crash loses only what was not yet
// confirmed, which agents still hold and resend.
//
// Every write transaction is followed by a commit marker, and Open cuts the
// file after its last one, so a transaction is on disk whole or not at all;
// a file damaged in the middle is salvaged, command by command (salvage.go).
package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/hub/internal/history"
)

// Errors returned by Store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrRevoked  = errors.New("revoked")
)

// FileName is the database file inside the data directory.
const FileName = "hub.db"

// Config says where the store lives and how long history is kept.
type Config struct {
	Dir              string        // data directory; created if missing
	Retention        time.Duration // positions; default 90 days
	EventRetention   time.Duration // unit events; default 1 year
	SnapshotInterval time.Duration // copy of the file for recovery; default 1 h, negative disables
	Logger           *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.EventRetention == 0 {
		c.EventRetention = DefaultEventRetention
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// The retentions a Config without them gets.
const (
	DefaultRetention      = 90 * 24 * time.Hour  // positions
	DefaultEventRetention = 365 * 24 * time.Hour // unit events
)

// Store is the hub's database. It is safe for concurrent use.
type Store struct {
	cfg         Config
	path        string
	db          *markedDB
	unlock      func() // releases the data directory's lock
	opened      Report // what Open found in the file before buntdb read it
	recovered   string // non-empty when Open had to salvage a damaged file
	compactedAt int64  // file size after the last compaction (or at open)

	syncMu     sync.Mutex
	syncFile   *os.File // the database file, for fsync (buntdb keeps its own handle private)
	rewriteDue bool     // an fsync failed: the next Sync rewrites the file first (writefaults.go)
	rewrite    backoff  // when a rewrite that failed may be tried again
	fsync      func(*os.File) error

	shrinkMu sync.Mutex // one rewrite of the file at a time: Compact, or Sync's after a failed fsync
	health   *writeHealth

	units *unitsJournal // every enrolment and revocation, a second time

	hist       *history.History          // positions and events, under <data>/history
	histAppend func(history.Batch) error // hist.Append; a variable for the tests

	damageMu sync.Mutex
	damage   []string // what Damage reports
	damaged  int      // damaged records met since Open
	reenrol  []string // units whose enrolment was lost
}

// Open opens (or creates) the store under cfg.Dir, which it locks (hub.lock)
// until Close. Before buntdb reads the file, Open checks it (salvage.go): the
// end of a transaction torn by a crash is cut off; a file with unreadable
// bytes in it (which buntdb refuses whole: issue 72) is set aside as
// hub.db.corrupt-<time> and every command that still reads is salvaged into
// a new hub.db. Only if nothing at all reads does the store start from the
// latest snapshot (salvaged the same way), or empty: loudly, never silently —
// Recovered and OpenReport report it.
func Open(cfg Config) (_ *Store, err error) {
	cfg.setDefaults()
	if cfg.Retention < 0 || cfg.EventRetention < 0 {
		return nil, fmt.Errorf("store: retention must be positive")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{cfg: cfg, path: filepath.Join(cfg.Dir, FileName), fsync: (*os.File).Sync,
		health: newWriteHealth(cfg.Logger.Warn)}
	if s.unlock, err = lockDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err != nil {
			s.unlockDir()
		}
	}()
	if err := s.prepare(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	db, err := buntdb.Open(s.path)
	if err != nil {
		// prepare accepts less than buntdb does: this is not damage but a bug.
		return nil, fmt.Errorf("store: open %s (which checks as readable): %w", s.path, err)
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
	s.db = &markedDB{DB: db, wrote: s.health.wrote}
	s.db.loadCommits()
	if s.syncFile, err = os.Open(s.path); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s for sync: %w", s.path, err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.compactedAt = fi.Size()
	}
	if s.units, err = openJournal(cfg.Dir); err == nil {
		err = s.reconcileUnits()
	}
	if err == nil {
		if s.hist, err = openHistory(cfg); err == nil {
			s.histAppend = s.hist.Append
			err = s.migrate()
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if s.opened.IsDamaged() {
		s.noteLostUnits()
	}
	return s, nil
}

// Sync flushes every write made so far to the disk. fsync applies to the
// file, not to the handle, so syncing our own handle covers buntdb's writes.
// A compaction puts a new file in place: then the new one is synced too, and
// kept for next time. After a failed fsync, the next Sync rewrites the file
// from memory first (writefaults.go). A failure is an ErrWriteFailed.
func (s *Store) Sync() error {
	if err := s.sync(); err != nil {
		return s.health.failed(OpSync, fmt.Errorf("store: sync: %w", err))
	}
	s.health.synced()
	return nil
}

func (s *Store) sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.rewriteDue {
		// A rewrite costs a copy of the whole database: while the disk
		// still fails, it is not tried at every sync.
		if wait := s.rewrite.wait(); wait > 0 {
			return fmt.Errorf("an fsync failed and the file is not yet rewritten (next try in %v): %w",
				wait.Round(time.Millisecond), s.rewrite.err)
		}
		if err := s.rewriteFile(); err != nil {
			s.rewrite.failed(err)
			return fmt.Errorf("rewriting the file after a failed fsync: %w", err)
		}
		s.rewriteDue, s.rewrite = false, backoff{}
		s.health.wrote() // the whole database, written and synced
		s.cfg.Logger.Warn("store: file rewritten from memory after a failed fsync", "file", s.path)
		return nil
	}
	if err := s.fsync(s.syncFile); err != nil {
		s.rewriteDue = true
		return err
	}
	cur, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if mine, err := s.syncFile.Stat(); err == nil && os.SameFile(cur, mine) {
		return nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	s.syncFile.Close()
	s.syncFile = f
	if err := s.fsync(f); err != nil {
		s.rewriteDue = true
		return err
	}
	return nil
}

// rewriteFile writes the database afresh from memory into a new file (buntdb's
// Shrink), fsyncs it and its directory, and syncs through it from now on:
// after a failed fsync the kernel may have dropped pages it could not write,
// and a later fsync of the same file would not say so. s.syncMu is held.
func (s *Store) rewriteFile() error {
	s.shrinkMu.Lock()
	defer s.shrinkMu.Unlock()
	if err := s.db.Shrink(); err != nil {
		return err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	if err := s.fsync(f); err != nil {
		f.Close()
		return err
	}
	if err := syncPath(filepath.Dir(s.path)); err != nil {
		f.Close()
		return err
	}
	s.syncFile.Close()
	s.syncFile = f
	if fi, err := f.Stat(); err == nil {
		s.compactedAt = fi.Size()
	}
	return nil
}

// update runs a write transaction and syncs it: for the rare writes that are
// durable when they return. keys are those fn may change: if the
// transaction is written but its marker or sync fails, the call answers an
// error (an ErrWriteFailed) and the next write transaction puts them back as
// they were. An error of fn's own is returned as it is, and changes nothing.
func (s *Store) update(keys []string, fn func(tx *buntdb.Tx) error) error {
	var (
		before keyValues
		fnErr  error
	)
	applied, err := s.db.update(func(tx *buntdb.Tx) error {
		before = valuesOf(tx, keys)
		fnErr = fn(tx)
		return fnErr
	})
	switch {
	case err != nil && fnErr != nil:
		return err
	case err != nil:
		err = s.health.failed(OpCommit, fmt.Errorf("store: commit: %w", err))
	default:
		err = s.Sync()
	}
	if err != nil && applied {
		s.db.takeBack(before)
	}
	return err
}

// compactMin is the file size below which compaction is not worth it (a
// variable for the tests).
var compactMin int64 = 64 << 20

// Compact rewrites the file without the records since overwritten or
// deleted, once it has doubled since the last time, and fsyncs the result.
// buntdb writes the new file beside the old one, reading the database in
// chunks, so ingest is held up only for the final swap.
func (s *Store) Compact() error {
	if err := s.compact(); err != nil {
		return s.health.failed(OpCompact, err)
	}
	s.health.worked(OpCompact)
	return nil
}

func (s *Store) compact() error {
	s.shrinkMu.Lock()
	defer s.shrinkMu.Unlock()
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
	// The rewritten file ends with the marker already (its key sorts last);
	// one more after what was appended meanwhile costs nothing.
	if err := s.db.Update(func(*buntdb.Tx) error { return nil }); err != nil {
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

// prepare checks hub.db before buntdb reads it (salvage.go): the end of a
// transaction torn by a crash is cut off, a damaged file is salvaged.
func (s *Store) prepare() error {
	rep, err := scanFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.opened = rep
	if rep.IsDamaged() {
		return s.recover()
	}
	if rep.TornBytes > 0 {
		// Never confirmed: a transaction is confirmed (or returns) only
		// after its marker is written and synced.
		if err := cutFile(s.path, rep.Keep); err != nil {
			return fmt.Errorf("cut off the torn end: %w", err)
		}
		s.cfg.Logger.Warn("store: cut off an unfinished transaction at the end of the file (a write torn by a crash; never confirmed)",
			"file", s.path, "bytes", rep.TornBytes, "whole_records", rep.TornRecords, "kept_bytes", rep.Keep)
	}
	return nil
}

// recover salvages the damaged hub.db: every command that reads, up to the
// last complete transaction, goes to a new file that takes its place; the
// damaged file is kept as hub.db.corrupt-<time>. Only if nothing reads at
// all does the store start from the snapshot (salvaged the same way), or
// empty.
func (s *Store) recover() error {
	tmp := s.path + ".salvage"
	rep, err := salvageFile(s.path, tmp)
	if err != nil {
		return err
	}
	from := "salvage"
	if rep.Records == 0 {
		from = "empty"
		snap := s.snapshotPath()
		srep, err := salvageFile(snap, tmp)
		switch {
		case err == nil && srep.Records > 0:
			from = "snapshot " + snap
			if !srep.Clean() {
				s.cfg.Logger.Error("store: the snapshot is damaged too; salvaged what reads", "snapshot", snap,
					"regions", srep.Regions, "skipped_bytes", srep.SkippedBytes, "torn_bytes", srep.TornBytes)
			}
		case err == nil:
			from = "empty (nothing in the snapshot reads either)"
		case errors.Is(err, os.ErrNotExist):
		default:
			s.cfg.Logger.Error("store: snapshot unusable", "snapshot", snap, "err", err)
		}
	}
	// The damaged file is linked aside before the salvaged one replaces it:
	// there is a hub.db at every moment, and a crash here only means
	// salvaging again.
	aside, err := s.setAside()
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if strings.HasPrefix(from, "empty") {
		os.Remove(tmp)
		err = os.Remove(s.path)
	} else {
		err = os.Rename(tmp, s.path)
	}
	if err == nil {
		err = syncPath(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("put the salvaged file in place: %w", err)
	}
	rep.SetAside, rep.From = aside, from
	s.opened = rep
	s.recovered = fmt.Sprintf("%s was damaged: %d unreadable %s, %d bytes skipped; %d records salvaged; "+
		"the damaged file is kept as %s", s.path, rep.Regions, plural(rep.Regions, "region", "regions"),
		rep.SkippedBytes, rep.Records, aside)
	if rep.TornBytes > 0 {
		s.recovered += fmt.Sprintf("; an unfinished transaction (%d bytes) cut off its end", rep.TornBytes)
	}
	if from != "salvage" {
		s.recovered += "; nothing read, started from " + from
	}
	s.cfg.Logger.Error("store: DATABASE DAMAGED — salvaged what reads; the records in the damaged bytes are lost",
		"file", s.path, "set_aside", aside, "regions", rep.Regions, "skipped_bytes", rep.SkippedBytes,
		"salvaged_records", rep.Records, "torn_bytes", rep.TornBytes,
		"started_from", from, "unit_records_hit", strings.Join(rep.UnitHints, ","))
	return nil
}

// setAside links (or copies) hub.db to a new hub.db.corrupt-<time>[.n].
func (s *Store) setAside() (string, error) {
	base := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405Z"))
	for i := 0; ; i++ {
		aside := base
		if i > 0 {
			aside = fmt.Sprintf("%s.%d", base, i)
		}
		if _, err := os.Lstat(aside); err == nil {
			continue
		}
		if err := os.Link(s.path, aside); err == nil {
			return aside, nil
		}
		if err := copyFile(s.path, aside); err != nil {
			return "", fmt.Errorf("set the damaged file aside: %w", err)
		}
		return aside, nil
	}
}

// noteLostUnits reports, after a salvage, the units whose enrolment neither
// the database nor the units journal holds any more (reconcileUnits has
// restored what the journal had): those named in the damaged bytes, and
// those with a live record but no unit record. Their devices cannot sign
// in until they are enrolled again.
func (s *Store) noteLostUnits() {
	cands := map[string]bool{}
	for _, id := range s.opened.UnitHints {
		cands[id] = true
	}
	var lost []string
	_ = s.db.View(func(tx *buntdb.Tx) error {
		_ = ascendPrefix(tx, "live:", func(key, _ string) error {
			cands[key[len("live:"):]] = true
			return nil
		})
		for id := range cands {
			if _, err := tx.Get(unitKey(id)); errors.Is(err, buntdb.ErrNotFound) {
				lost = append(lost, id)
			}
		}
		return nil
	})
	slices.Sort(lost)
	for _, id := range lost {
		s.noteDamage(fmt.Sprintf("unit %s: its record was in the damaged part of %s and is not in %s; it must be enrolled again",
			clipKey(id), FileName, JournalName))
	}
	s.damageMu.Lock()
	for _, id := range lost {
		if !slices.Contains(s.reenrol, id) {
			s.reenrol = append(s.reenrol, id)
		}
	}
	s.damageMu.Unlock()
	if len(lost) > 0 {
		s.cfg.Logger.Error("store: units lost to the damage must be enrolled again", "units", strings.Join(lost, ","))
	}
}

// Retention returns how long positions and events are kept.
func (s *Store) Retention() (positions, events time.Duration) {
	return s.cfg.Retention, s.cfg.EventRetention
}

// Recovered describes the salvage Open performed, or is empty.
func (s *Store) Recovered() string { return s.recovered }

// OpenReport is what Open found in hub.db before buntdb read it, and what
// it did about it (salvage.go).
func (s *Store) OpenReport() Report { return s.opened }

// Path is the database file.
func (s *Store) Path() string { return s.path }

func (s *Store) snapshotPath() string { return s.path + ".snapshot" }

// Snapshot copies the database file to hub.db.snapshot. buntdb's file is an
// append-only log, so a copy taken while it grows is a valid prefix; the copy
// is written beside and renamed into place so a crash never leaves half a snapshot.
func (s *Store) Snapshot() error {
	if err := copyFile(s.path, s.snapshotPath()); err != nil {
		return s.health.failed(OpSnapshot, fmt.Errorf("store: snapshot: %w", err))
	}
	s.health.worked(OpSnapshot)
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
	if err := os.Rename(tmp, to); err != nil {
		os.Remove(tmp) // not a copy of hub.db's size left on a disk that may be full
		return err
	}
	return nil
}

// PruneInterval is how often RunMaintenance drops history beyond retention
// and compacts the file if it has grown enough.
const PruneInterval = time.Minute

// RunMaintenance prunes history every PruneInterval and takes a snapshot
// every SnapshotInterval, until done is closed. While commits fail and
// nothing else tries one, it tries one every ProbeInterval.
func (s *Store) RunMaintenance(done <-chan struct{}) {
	prune := time.NewTicker(PruneInterval)
	defer prune.Stop()
	probe := time.NewTicker(ProbeInterval)
	defer probe.Stop()
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
		case <-probe.C:
			if s.health.probeDue() {
				s.probe()
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
	if s.units != nil {
		if jerr := s.units.close(); err == nil && jerr != nil {
			err = jerr
		}
	}
	if s.hist != nil {
		if herr := s.hist.Close(); err == nil && herr != nil {
			err = herr
		}
	}
	s.unlockDir()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// unlockDir releases the data directory, once.
func (s *Store) unlockDir() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}
