package history

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"kuaifan/protocol"
)

// DayReport is what Check found in one day DB.
type DayReport struct {
	Kind        Kind
	Day         string
	Records     int64  // positions or events that decode
	AreaEntries int64  // area index entries (positions' days)
	Undecodable int64  // records whose key or value does not decode
	Err         string // the day does not open or read to its end; "" when it does
	SetAside    string // with repair: where a day that does not open was moved
	Empty       bool   // a directory without a DB (the hub stopped as it made it)
}

// Damaged reports whether the day needs attention.
func (r DayReport) Damaged() bool { return r.Err != "" || r.Undecodable > 0 }

// Check reads every day of the history under dir (a stopped hub's: it
// takes no lock) record by record, decoding each, and reports day by day.
// With repair, a day that pebble does not open is set aside
// (<day>.corrupt-<time>), as the hub would on its first use of it; a day
// that opens but fails partway (a damaged table) is reported and left.
func Check(dir string, repair bool) ([]DayReport, error) {
	var out []DayReport
	for _, kind := range []Kind{Positions, Events} {
		root := filepath.Join(dir, kind.String())
		ents, err := os.ReadDir(root)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("history: check: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			if _, err := time.Parse(dayLayout, e.Name()); err != nil {
				continue // set aside before, or not ours
			}
			r := checkDay(kind, filepath.Join(root, e.Name()))
			if repair && r.opensNot {
				aside := fmt.Sprintf("%s.corrupt-%s", filepath.Join(root, e.Name()), time.Now().UTC().Format("20060102T150405.000Z"))
				if err := os.Rename(filepath.Join(root, e.Name()), aside); err != nil {
					return out, fmt.Errorf("history: check: setting %s/%s aside: %w", kind, e.Name(), err)
				}
				r.SetAside = filepath.Base(aside)
			}
			out = append(out, r.DayReport)
		}
	}
	return out, nil
}

type dayCheck struct {
	DayReport
	opensNot bool
}

func checkDay(kind Kind, dir string) (r dayCheck) {
	r.Kind, r.Day = kind, filepath.Base(dir)
	o := &pebble.Options{ReadOnly: true, FS: lockFS{vfs.Default}, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}}
	db, err := openChecked(dir, o)
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		r.Empty = true // made as the hub stopped: nothing in it
		return r
	}
	if err != nil {
		r.Err, r.opensNot = err.Error(), true
		return r
	}
	defer func() {
		db.Close()
		os.Remove(filepath.Join(dir, "LOCK"))
	}()
	it, err := db.NewIter(nil)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	var p Position
	var slab []float64
	var e protocol.Event
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) == 0 {
			r.Undecodable++
			continue
		}
		switch {
		case k[0] == kindArea && kind == Positions:
			if _, _, _, ok := parseAreaKey(k); ok {
				r.AreaEntries++
			} else {
				r.Undecodable++
			}
			continue
		case k[0] == kindPosition && kind == Positions:
			_, _, kok := parseRecordKey(k)
			if !kok || decodePosition(v, &p, &slab) != nil {
				r.Undecodable++
				continue
			}
		case k[0] == kindEvent && kind == Events:
			_, _, kok := parseRecordKey(k)
			if !kok || decodeEvent(v, &e) != nil {
				r.Undecodable++
				continue
			}
		default:
			r.Undecodable++
			continue
		}
		r.Records++
		slab = slab[:0]
	}
	if err := it.Close(); err != nil {
		r.Err = err.Error()
	}
	return r
}

// openChecked opens a DB for Check; pebble's panics on a damaged DB are errors.
func openChecked(dir string, o *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return pebble.Open(dir, o)
}

// String is the report of a day as `hub check` prints it.
func (r DayReport) String() string {
	var b strings.Builder
	if r.Empty {
		return fmt.Sprintf("%s/%s: empty", r.Kind, r.Day)
	}
	fmt.Fprintf(&b, "%s/%s: %d %s", r.Kind, r.Day, r.Records, r.Kind)
	if r.Kind == Positions {
		fmt.Fprintf(&b, ", %d area entries", r.AreaEntries)
	}
	if r.Undecodable > 0 {
		fmt.Fprintf(&b, "; %d records do not decode (skipped when read)", r.Undecodable)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, "; DAMAGED: %s", r.Err)
	}
	if r.SetAside != "" {
		fmt.Fprintf(&b, "; set aside as %s", r.SetAside)
	}
	return b.String()
}
