package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
)

// History is most of what the store holds, and buntdb holds everything in
// memory, so a position is stored compactly: the key carries the unit, the
// time and the sequence number in binary (and orders a unit's history by
// time), the value the rest as short text. Retention is enforced by Prune
// rather than per-record TTLs, which would cost every record an expiry entry.
const (
	positionPrefix = "p:"
	eventPrefix    = "e:"
)

// historyKey is {prefix}{unit}:{ts, 8 bytes big-endian}{seq, 8 bytes big-endian}.
// Unit ids never contain ':', so one unit's records form one contiguous range.
func historyKey(prefix, id string, ts int64, seq uint64) string {
	b := make([]byte, 0, len(prefix)+len(id)+1+16)
	b = append(b, prefix...)
	b = append(b, id...)
	b = append(b, ':')
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, seq)
	return string(b)
}

// parseHistoryKey returns the time and sequence number at the end of a history key.
func parseHistoryKey(key string) (ts int64, seq uint64, err error) {
	if len(key) < 16 {
		return 0, 0, fmt.Errorf("history key %q is too short", key)
	}
	tail := key[len(key)-16:]
	return int64(binary.BigEndian.Uint64([]byte(tail[:8]))), binary.BigEndian.Uint64([]byte(tail[8:])), nil
}

var statusCodes = map[protocol.Status]byte{
	protocol.StatusAvailable: 'a', protocol.StatusEnroute: 'e', protocol.StatusOnScene: 's',
	protocol.StatusBusy: 'b', protocol.StatusOffDuty: 'o',
}

func statusOf(code byte) (protocol.Status, bool) {
	for s, c := range statusCodes {
		if c == code {
			return s, true
		}
	}
	return "", false
}

// encodePosition writes "lat,lon,status,acc,speed,heading,battery" with the
// status as one letter and absent optional fields empty.
func encodePosition(p Position) string {
	b := make([]byte, 0, 48)
	b = strconv.AppendFloat(b, p.Lat, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.Lon, 'f', -1, 64)
	b = append(b, ',', statusCodes[p.Status])
	for _, v := range []*float64{p.AccM, p.SpeedMPS, p.HeadingDeg, p.Battery} {
		b = append(b, ',')
		if v != nil {
			b = strconv.AppendFloat(b, *v, 'f', -1, 64)
		}
	}
	return string(b)
}

func decodePosition(ts int64, seq uint64, val string) (Position, error) {
	f := strings.Split(val, ",")
	if len(f) != 7 || len(f[2]) != 1 {
		return Position{}, fmt.Errorf("position %q: want 7 fields", val)
	}
	p := Position{Seq: seq, TS: ts}
	var err1, err2 error
	p.Lat, err1 = strconv.ParseFloat(f[0], 64)
	p.Lon, err2 = strconv.ParseFloat(f[1], 64)
	status, ok := statusOf(f[2][0])
	if err := errors.Join(err1, err2); err != nil || !ok {
		return Position{}, fmt.Errorf("position %q: %v", val, errors.Join(err, errors.New("bad status")))
	}
	p.Status = status
	for i, dst := range []**float64{&p.AccM, &p.SpeedMPS, &p.HeadingDeg, &p.Battery} {
		if f[3+i] == "" {
			continue
		}
		v, err := strconv.ParseFloat(f[3+i], 64)
		if err != nil {
			return Position{}, fmt.Errorf("position %q: %w", val, err)
		}
		*dst = &v
	}
	return p, nil
}

// HasPosition reports whether the store holds the position a unit sent
// with this time and sequence number: how the hub recognises a resend it
// no longer remembers (see fleet's seq window).
func (s *Store) HasPosition(id string, ts int64, seq uint64) (bool, error) {
	return s.hasHistory(positionPrefix, id, ts, seq)
}

// HasEvent is HasPosition for a unit's events.
func (s *Store) HasEvent(id string, ts int64, seq uint64) (bool, error) {
	return s.hasHistory(eventPrefix, id, ts, seq)
}

func (s *Store) hasHistory(prefix, id string, ts int64, seq uint64) (bool, error) {
	var found bool
	err := s.db.View(func(tx *buntdb.Tx) error {
		_, err := tx.Get(historyKey(prefix, id, ts, seq))
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, buntdb.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: history of %s: %w", id, err)
	}
	return found, nil
}

// scanHistory visits a unit's records of one kind with since <= ts <= until,
// in time order, until visit returns false or an error.
func (s *Store) scanHistory(prefix, id string, since, until int64, visit func(ts int64, seq uint64, val string) (bool, error)) error {
	since = max(since, 0)
	if until < since {
		return nil
	}
	lo := historyKey(prefix, id, since, 0)
	var hi string
	if until == math.MaxInt64 {
		hi = prefix + id + ";" // ';' follows ':'
	} else {
		hi = historyKey(prefix, id, until+1, 0)
	}
	return s.db.View(func(tx *buntdb.Tx) error {
		var verr error
		err := tx.AscendRange("", lo, hi, func(key, val string) bool {
			ts, seq, err := parseHistoryKey(key)
			if err != nil {
				verr = err
				return false
			}
			var more bool
			more, verr = visit(ts, seq, val)
			return verr == nil && more
		})
		if err != nil {
			return err
		}
		return verr
	})
}

// Prune deletes positions and events older than their retention. A unit's
// history is ordered by time, so each unit costs one range scan of what goes.
func (s *Store) Prune(now time.Time) (deleted int, err error) {
	deleted, err = s.prune(now)
	if err != nil {
		return deleted, s.health.failed(OpPrune, err)
	}
	s.health.worked(OpPrune)
	return deleted, nil
}

func (s *Store) prune(now time.Time) (deleted int, err error) {
	units, err := s.Units()
	if err != nil {
		return 0, err
	}
	for _, kind := range []struct {
		prefix string
		keep   time.Duration
	}{{positionPrefix, s.cfg.Retention}, {eventPrefix, s.cfg.EventRetention}} {
		cutoff := now.Add(-kind.keep).UnixMilli()
		for _, u := range units {
			n, err := s.pruneUnit(kind.prefix, u.ID, cutoff)
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("store: prune %s: %w", u.ID, err)
			}
		}
	}
	return deleted, nil
}

// pruneUnit deletes one unit's records older than cutoff, a bounded number per
// transaction so ingest never waits long behind it.
func (s *Store) pruneUnit(prefix, id string, cutoff int64) (int, error) {
	const perTx = 4096
	total := 0
	for {
		var keys []string
		err := s.db.View(func(tx *buntdb.Tx) error {
			return tx.AscendRange("", prefix+id+":", historyKey(prefix, id, max(cutoff, 0), 0), func(key, _ string) bool {
				keys = append(keys, key)
				return len(keys) < perTx
			})
		})
		if err != nil || len(keys) == 0 {
			return total, err
		}
		err = s.db.Update(func(tx *buntdb.Tx) error {
			for _, k := range keys {
				if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		total += len(keys)
		if err != nil || len(keys) < perTx {
			return total, err
		}
	}
}
