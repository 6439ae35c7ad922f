package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/buntdb"

	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
)

// migrateBatch is how many v1 history records migrate moves per step.
var migrateBatch = 4096

// migrate moves the positions and events a v1 hub.db holds (keys p: and
// e:) to the history, a batch at a time: each batch is appended to the
// history (synced) before its keys are deleted from hub.db, so an
// interrupted migration is simply done again at the next start (writing a
// history record twice sets the same key to the same value). A record that
// does not decode stays in hub.db and is reported as damage. When anything
// moved, hub.db is compacted.
func (s *Store) migrate() error {
	moved, kept := 0, 0
	for _, prefix := range []string{positionPrefix, eventPrefix} {
		from := prefix
		for {
			var (
				keys []string
				hb   history.Batch
				last string
				seen int
			)
			err := s.db.View(func(tx *buntdb.Tx) error {
				return tx.AscendGreaterOrEqual("", from, func(key, val string) bool {
					if len(key) < len(prefix) || key[:len(prefix)] != prefix {
						return false
					}
					last = key
					seen++
					if ok := decodeV1(prefix, key, val, &hb); ok {
						keys = append(keys, key)
					} else {
						kept++
						s.noteDamage(fmt.Sprintf("v1 history record %s did not decode; left in %s", clipKey(key), FileName))
					}
					return seen < migrateBatch
				})
			})
			if err != nil {
				return fmt.Errorf("migrate history: %w", err)
			}
			if seen == 0 {
				break
			}
			if err := s.hist.Append(hb); err != nil {
				return fmt.Errorf("migrate history: %w", err)
			}
			err = s.db.Update(func(tx *buntdb.Tx) error {
				for _, k := range keys {
					if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("migrate history: %w", err)
			}
			moved += len(keys)
			if seen < migrateBatch {
				break
			}
			from = last + "\x00"
		}
	}
	if moved == 0 {
		return nil
	}
	// The moved records are deletions in the file now; rewrite it at once
	// unless it is too small to be worth it (buntdb waits before a rewrite).
	s.compactedAt = 0
	if err := s.compact(); err != nil {
		return fmt.Errorf("migrate history: %w", err)
	}
	s.cfg.Logger.Warn("store: history moved from hub.db to the history directory (upgrade from v1)",
		"records", moved, "undecodable_left", kept, "dir", HistoryDir)
	return nil
}

// decodeV1 adds the v1 record key=val to hb; false if it does not decode.
func decodeV1(prefix, key, val string, hb *history.Batch) bool {
	if len(key) < len(prefix)+1+16 || key[len(key)-17] != ':' {
		return false
	}
	unit := key[len(prefix) : len(key)-17]
	ts, seq, err := parseHistoryKey(key)
	if err != nil {
		return false
	}
	if prefix == positionPrefix {
		p, err := decodePosition(ts, seq, val)
		if err != nil {
			return false
		}
		hb.Positions = append(hb.Positions, toHistory(UnitPosition{Unit: unit, Position: p}))
		return true
	}
	var e protocol.Event
	if err := json.Unmarshal([]byte(val), &e); err != nil {
		return false
	}
	e.Unit, e.TS, e.Seq = unit, ts, seq
	hb.Events = append(hb.Events, e)
	return true
}
