package store

import (
	"fmt"
	"path/filepath"
	"time"

	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
)

// HistoryDir is the directory of the position and event history inside the
// data directory (package history: one pebble DB per UTC day).
const HistoryDir = "history"

func openHistory(cfg Config) (*history.History, error) {
	return history.Open(history.Config{Dir: filepath.Join(cfg.Dir, HistoryDir), Logger: cfg.Logger})
}

// History is the store's position and event history, for the queries the
// store does not wrap (History.Area).
func (s *Store) History() *history.History { return s.hist }

func toHistory(p UnitPosition) history.Position {
	return history.Position{Unit: p.Unit, Seq: p.Seq, TS: p.TS, Lat: p.Lat, Lon: p.Lon, Status: p.Status,
		AccM: p.AccM, SpeedMPS: p.SpeedMPS, HeadingDeg: p.HeadingDeg, Battery: p.Battery}
}

// FromHistory is the store form of a history position.
func FromHistory(p history.Position) Position {
	return Position{Seq: p.Seq, TS: p.TS, Lat: p.Lat, Lon: p.Lon, Status: p.Status,
		AccM: p.AccM, SpeedMPS: p.SpeedMPS, HeadingDeg: p.HeadingDeg, Battery: p.Battery}
}

// HasPosition reports whether the history holds the position a unit sent
// with this time and sequence number: how the hub recognises a resend it
// no longer remembers (see fleet's seq window).
func (s *Store) HasPosition(id string, ts int64, seq uint64) (bool, error) {
	ok, err := s.hist.HasPosition(id, ts, seq)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return ok, nil
}

// HasEvent is HasPosition for a unit's events.
func (s *Store) HasEvent(id string, ts int64, seq uint64) (bool, error) {
	ok, err := s.hist.HasEvent(id, ts, seq)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return ok, nil
}

// Track returns a unit's stored positions with since <= ts <= until (Unix ms),
// oldest first, at most limit of them (all if limit <= 0).
func (s *Store) Track(id string, since, until int64, limit int) ([]Position, error) {
	ps, err := s.hist.Track(id, since, until, limit)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	track := make([]Position, len(ps))
	for i, p := range ps {
		track[i] = FromHistory(p)
	}
	return track, nil
}

// Events returns a unit's stored events with since <= ts <= until, oldest
// first, at most limit of them (all if limit <= 0).
func (s *Store) Events(id string, since, until int64, limit int) ([]protocol.Event, error) {
	evs, err := s.hist.Events(id, since, until, limit)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return evs, nil
}

// Prune drops the days of history older than their retention: whole day
// DBs, closed and deleted, so it never holds up ingest (a day goes once it
// ends before now - retention: up to a day more than the retention is kept).
// It returns how many day DBs it dropped.
func (s *Store) Prune(now time.Time) (dropped int, err error) {
	for _, k := range []struct {
		kind history.Kind
		keep time.Duration
	}{{history.Positions, s.cfg.Retention}, {history.Events, s.cfg.EventRetention}} {
		days, derr := s.hist.DropBefore(k.kind, now.Add(-k.keep))
		dropped += len(days)
		if derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		return dropped, s.health.failed(OpPrune, fmt.Errorf("store: prune: %w", err))
	}
	s.health.worked(OpPrune)
	return dropped, nil
}

// historyReserve is the free space below which the store writes no more
// history (a variable for the tests).
var historyReserve int64 = 4 << 20

// appendHistory writes a batch of history, synced. pebble (v1) cannot go
// on after a failed write to its log — it treats it as fatal and its
// commit pipeline stays broken — so a disk nearly full fails the commit
// here, before pebble sees it: nothing is confirmed, and commits resume
// once there is space again.
func (s *Store) appendHistory(b history.Batch) error {
	if free, ok := diskFree(filepath.Join(s.cfg.Dir, HistoryDir)); ok && free < historyReserve {
		return fmt.Errorf("history: %d bytes free, less than the %d kept in reserve: %w", free, historyReserve, errNoSpace)
	}
	return s.histAppend(b)
}
