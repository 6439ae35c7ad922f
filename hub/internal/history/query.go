package history

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble"

	"kuaifan/protocol"
)

// HasPosition reports whether the history holds the position a unit sent
// with this time and sequence number: how the hub recognises a resend it
// no longer remembers (below its seq window). One key lookup.
func (h *History) HasPosition(unit string, ts int64, seq uint64) (bool, error) {
	return h.has(Positions, kindPosition, unit, ts, seq)
}

// HasEvent is HasPosition for a unit's events.
func (h *History) HasEvent(unit string, ts int64, seq uint64) (bool, error) {
	return h.has(Events, kindEvent, unit, ts, seq)
}

func (h *History) has(k Kind, kind byte, unit string, ts int64, seq uint64) (bool, error) {
	if !keepable(unit, ts) {
		return false, nil
	}
	d, err := h.acquire(h.roots[k], dayOf(ts), false)
	if err != nil || d == nil {
		return false, err
	}
	defer d.release()
	_, closer, err := d.db.Get(recordKey(nil, kind, unit, ts, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("history: %s of %s: %w", k, unit, err)
	}
	closer.Close()
	return true, nil
}

// Track returns a unit's positions with since <= ts <= until (Unix ms),
// oldest first, at most limit of them (all if limit <= 0).
func (h *History) Track(unit string, since, until int64, limit int) ([]Position, error) {
	track := []Position{}
	var slab []float64
	err := h.scanUnit(Positions, kindPosition, unit, since, until, func(ts int64, seq uint64, v []byte) (bool, error) {
		track = append(track, Position{Unit: unit, TS: ts, Seq: seq})
		if err := decodePosition(v, &track[len(track)-1], &slab); err != nil {
			track = track[:len(track)-1]
			h.undecodable.Add(1)
			h.noteDamage(fmt.Sprintf("position of %q at %d seq %d: %v", unit, ts, seq, err))
			return true, nil
		}
		return limit <= 0 || len(track) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: track of %s: %w", unit, err)
	}
	return track, nil
}

// Events returns a unit's events with since <= ts <= until (Unix ms),
// oldest first, at most limit of them (all if limit <= 0).
func (h *History) Events(unit string, since, until int64, limit int) ([]protocol.Event, error) {
	events := []protocol.Event{}
	err := h.scanUnit(Events, kindEvent, unit, since, until, func(ts int64, seq uint64, v []byte) (bool, error) {
		e := protocol.Event{Unit: unit, TS: ts, Seq: seq}
		if err := decodeEvent(v, &e); err != nil {
			h.undecodable.Add(1)
			h.noteDamage(fmt.Sprintf("event of %q at %d seq %d: %v", unit, ts, seq, err))
			return true, nil
		}
		events = append(events, e)
		return limit <= 0 || len(events) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: events of %s: %w", unit, err)
	}
	return events, nil
}

// scanUnit visits a unit's records of one kind with since <= ts <= until,
// in time order, until visit returns false or an error.
func (h *History) scanUnit(k Kind, kind byte, unit string, since, until int64, visit func(ts int64, seq uint64, v []byte) (bool, error)) error {
	since, until = max(since, minTS), min(until, maxTS-1)
	if until < since || unit == "" {
		return nil
	}
	r := h.roots[k]
	lo := recordKey(nil, kind, unit, since, 0)
	hi := append(recordKey(nil, kind, unit, until, math.MaxUint64), 0)
	for _, n := range r.daysIn(dayOf(since), dayOf(until)) {
		more, err := h.scanDay(r, n, lo, hi, visit)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (h *History) scanDay(r *root, n int64, lo, hi []byte, visit func(ts int64, seq uint64, v []byte) (bool, error)) (more bool, err error) {
	d, err := h.acquire(r, n, false)
	if err != nil || d == nil {
		return true, err
	}
	defer d.release()
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	more = true
	for ok := it.First(); ok && more && err == nil; ok = it.Next() {
		ts, seq, kok := parseRecordKey(it.Key())
		if !kok {
			h.undecodable.Add(1)
			continue
		}
		more, err = visit(ts, seq, it.Value())
	}
	return more, errors.Join(err, it.Close())
}

// AreaQuery asks for the positions inside a box during a time.
type AreaQuery struct {
	MinLat, MinLon, MaxLat, MaxLon float64 // inclusive
	Since, Until                   int64   // Unix ms, inclusive
	After                          Cursor  // resume after this position; zero: from the start
	Limit                          int     // positions per call; <= 0: all
}

// Cursor is where a paged Area query stopped: the last position it
// visited. Area visits positions by day, then unit, then time and sequence
// number, so the cursor says where to go on.
type Cursor struct {
	TS   int64
	Seq  uint64
	Unit string
}

// IsZero reports whether c is the zero cursor: the start, or nothing more.
func (c Cursor) IsZero() bool { return c.Unit == "" }

// String is c as a page token: "ts.seq.unit", or "" for the zero cursor.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.TS, 10) + "." + strconv.FormatUint(c.Seq, 10) + "." + c.Unit
}

// ParseCursor reads a page token made by Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	f := strings.SplitN(s, ".", 3)
	if len(f) != 3 || f[2] == "" {
		return Cursor{}, fmt.Errorf("history: bad cursor %q", s)
	}
	ts, err1 := strconv.ParseInt(f[0], 10, 64)
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Cursor{}, fmt.Errorf("history: bad cursor %q", s)
	}
	return Cursor{TS: ts, Seq: seq, Unit: f[2]}, nil
}

// Area visits the positions inside the box during [Since, Until], by day,
// then unit, then time: the order a cursor resumes in. It stops after
// q.Limit positions and returns the cursor of the last one (pass it as
// After for the next page; the page after the last may be empty), or when
// the positions run out and returns the zero cursor, or when visit returns
// an error and returns that. visit must not keep p past its return, nor
// call the History (it runs while a day is held).
//
// The cost is that of the area index entries of the box's cells during the
// time (about one per unit and minute and cell) plus the positions of the
// units found there during their minutes there.
func (h *History) Area(q AreaQuery, visit func(p *Position) error) (Cursor, error) {
	since, until := max(q.Since, minTS), min(q.Until, maxTS-1)
	if !(q.MinLat <= q.MaxLat && q.MinLon <= q.MaxLon) || until < since {
		return Cursor{}, nil
	}
	from := dayOf(since)
	if !q.After.IsZero() {
		from = max(from, dayOf(q.After.TS))
	}
	r := h.roots[Positions]
	visited := 0
	for _, n := range r.daysIn(from, dayOf(until)) {
		c, err := h.areaDay(r, n, &q, since, until, &visited, visit)
		if err != nil || !c.IsZero() {
			return c, err
		}
	}
	return Cursor{}, nil
}

// minutes is the first and last minute of the day a unit was in the box's cells.
type minutes struct{ first, last uint16 }

func (h *History) areaDay(r *root, n int64, q *AreaQuery, since, until int64, visited *int, visit func(*Position) error) (Cursor, error) {
	d, err := h.acquire(r, n, false)
	if err != nil || d == nil {
		return Cursor{}, err
	}
	defer d.release()
	dayStart := n * msPerDay
	lo, hi := max(since, dayStart), min(until, dayStart+msPerDay-1)
	mLo, mHi := uint16((lo-dayStart)/msPerMinute), uint16((hi-dayStart)/msPerMinute)
	rowLo, rowHi := latRow(q.MinLat), latRow(q.MaxLat)
	colLo, colHi := lonCol(q.MinLon), lonCol(q.MaxLon)
	var after string // units up to it are done (on the cursor's day)
	resume := !q.After.IsZero() && dayOf(q.After.TS) == n
	if resume {
		after = q.After.Unit
	}

	// Which units were in the box's cells, and during which minutes: a
	// skip-scan of the area index, seeking past the minutes and the
	// columns outside the query.
	hits := map[string]*minutes{}
	it, err := d.db.NewIter(&pebble.IterOptions{
		LowerBound: areaSeek(nil, cellOf(rowLo, colLo), 0),
		UpperBound: areaSeek(nil, cellOf(rowHi, colHi)+1, 0),
	})
	if err != nil {
		return Cursor{}, err
	}
	var seek []byte
	ok := it.SeekGE(areaSeek(seek[:0], cellOf(rowLo, colLo), mLo))
	for ok {
		cell, m, unit, kok := parseAreaKey(it.Key())
		row, col := cell>>16, cell&0xffff
		switch {
		case !kok:
			h.undecodable.Add(1)
			ok = it.Next()
		case row > rowHi:
			ok = false
		case col < colLo:
			seek = areaSeek(seek[:0], cellOf(row, colLo), mLo)
			ok = it.SeekGE(seek)
		case col > colHi:
			seek = areaSeek(seek[:0], cellOf(row+1, colLo), mLo)
			ok = it.SeekGE(seek)
		case m < mLo:
			seek = areaSeek(seek[:0], cell, mLo)
			ok = it.SeekGE(seek)
		case m > mHi:
			seek = areaSeek(seek[:0], cell+1, mLo)
			ok = it.SeekGE(seek)
		default:
			if resume && string(unit) < after {
				ok = it.Next()
				continue
			}
			if mm := hits[string(unit)]; mm != nil {
				mm.first, mm.last = min(mm.first, m), max(mm.last, m)
			} else {
				hits[string(unit)] = &minutes{m, m}
			}
			ok = it.Next()
		}
	}
	if err := it.Close(); err != nil {
		return Cursor{}, err
	}

	units := make([]string, 0, len(hits))
	for u := range hits {
		units = append(units, u)
	}
	slices.Sort(units)
	pit, err := d.db.NewIter(nil)
	if err != nil {
		return Cursor{}, err
	}
	defer pit.Close()
	var lower, upper []byte
	var p Position
	for _, u := range units {
		mm := hits[u]
		from := max(lo, dayStart+int64(mm.first)*msPerMinute)
		to := min(hi, dayStart+int64(mm.last+1)*msPerMinute-1)
		lower = recordKey(lower[:0], kindPosition, u, from, 0)
		if resume && u == after {
			c := append(recordKey(nil, kindPosition, u, q.After.TS, q.After.Seq), 0)
			if bytes.Compare(c, lower) > 0 {
				lower = c
			}
		}
		upper = append(recordKey(upper[:0], kindPosition, u, to, math.MaxUint64), 0)
		pit.SetBounds(lower, upper)
		for ok := pit.First(); ok; ok = pit.Next() {
			ts, seq, kok := parseRecordKey(pit.Key())
			p = Position{Unit: u, TS: ts, Seq: seq}
			if !kok {
				h.undecodable.Add(1)
				continue
			}
			if err := decodePosition(pit.Value(), &p, nil); err != nil {
				h.undecodable.Add(1)
				h.noteDamage(fmt.Sprintf("position of %q at %d seq %d: %v", u, ts, seq, err))
				continue
			}
			if !(p.Lat >= q.MinLat && p.Lat <= q.MaxLat && p.Lon >= q.MinLon && p.Lon <= q.MaxLon) {
				continue
			}
			if err := visit(&p); err != nil {
				return Cursor{}, err
			}
			*visited++
			if q.Limit > 0 && *visited >= q.Limit {
				return Cursor{TS: p.TS, Seq: p.Seq, Unit: u}, nil
			}
		}
		if err := pit.Error(); err != nil {
			return Cursor{}, err
		}
	}
	return Cursor{}, nil
}
