package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kuaifan/hub/internal/history"
)

// LockName is the data directory's lock file: a store holds it while open
// (where the system has flock), and so does `hub check`.
const LockName = "hub.lock"

// ErrLocked is the data directory held by another store: a hub is running on it.
var ErrLocked = errors.New("locked by a running hub")

// CheckReport is what Check (or Repair) found in a data directory.
type CheckReport struct {
	Dir string
	// NoLock is set where the system has no flock: nothing proved that the
	// hub was stopped.
	NoLock bool

	DB       Report  // hub.db as found
	Repaired *Report // after Repair: hub.db as it is now

	Snapshot *Report // hub.db.snapshot, if there is one

	JournalUnits   int      // units in units.log
	JournalDamaged int      // damaged lines skipped in it
	HintsJournaled []string // of DB.UnitHints, those units.log holds (restored at start)

	// BadValues are unit and live records whose frame reads but whose value
	// does not decode or check: the hub skips them at start (a unit's record
	// then comes from units.log; a live record trusts no seq).
	BadValues []BadValue

	// History is the history's days, each read record by record.
	History []history.DayReport
}

// HistoryDamaged reports whether a day of the history is still damaged
// (one that Repair set aside no longer is).
func (c CheckReport) HistoryDamaged() bool {
	return slices.ContainsFunc(c.History, func(r history.DayReport) bool { return r.Damaged() && r.SetAside == "" })
}

// BadValue is one record whose value is damaged, and whether units.log
// holds the unit's enrolment (for a unit record).
type BadValue struct {
	Key       string
	Err       string
	Journaled bool
}

// Damaged reports whether hub.db needs what Repair (or the hub's start)
// does: a damaged region salvaged, or a torn end cut off.
func (c CheckReport) Damaged() bool { return !c.DB.Clean() }

// badValues reads the latest unit and live records of the file at path and
// lists those whose value does not decode or check.
func badValues(path string) ([]BadValue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	latest := map[string][]byte{}
	_, err = scan(f, fi.Size(), func(raw []byte, marker bool) error {
		if marker {
			return nil
		}
		_, cmd, _ := parseCommand(raw, true)
		if cmd.n < 2 {
			return nil
		}
		key := string(cmd.parts[1])
		if !strings.HasPrefix(key, "unit:") && !strings.HasPrefix(key, "live:") {
			return nil
		}
		switch string(cmd.parts[0]) {
		case "set":
			latest[key] = slices.Clone(cmd.parts[2])
		case "del":
			delete(latest, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var bad []BadValue
	for key, val := range latest {
		var err error
		if strings.HasPrefix(key, "unit:") {
			var u Unit
			if err = json.Unmarshal(val, &u); err == nil {
				err = u.check()
			}
			if err == nil && unitKey(u.ID) != key {
				err = fmt.Errorf("record of unit %q", u.ID)
			}
		} else {
			var l Live
			err = json.Unmarshal(val, &l)
		}
		if err != nil {
			bad = append(bad, BadValue{Key: key, Err: err.Error()})
		}
	}
	slices.SortFunc(bad, func(a, b BadValue) int { return strings.Compare(a.Key, b.Key) })
	return bad, nil
}

// Check verifies the store in dir offline, changing nothing. It takes the
// directory's lock, so it fails with ErrLocked while a hub runs on it.
func Check(dir string) (CheckReport, error) {
	return check(dir, false)
}

// Repair does what the hub's start would: a torn end is cut off; a damaged
// file is set aside (hub.db.corrupt-<time>) and what reads is salvaged
// into a new hub.db. It takes the directory's lock like Check.
func Repair(dir string) (CheckReport, error) {
	return check(dir, true)
}

func check(dir string, repair bool) (CheckReport, error) {
	c := CheckReport{Dir: dir, NoLock: !dirLocking}
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	defer unlock()
	if c.DB, err = scanFile(path); err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	if snap, err := scanFile(path + ".snapshot"); err == nil {
		c.Snapshot = &snap
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("store: %w", err)
	}
	byID, damaged, err := readJournal(filepath.Join(dir, JournalName))
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	c.JournalUnits, c.JournalDamaged = len(byID), damaged
	if c.BadValues, err = badValues(path); err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	for i, b := range c.BadValues {
		_, c.BadValues[i].Journaled = byID[strings.TrimPrefix(b.Key, "unit:")]
	}
	for _, id := range c.DB.UnitHints {
		if _, ok := byID[id]; ok {
			c.HintsJournaled = append(c.HintsJournaled, id)
		}
	}
	slices.Sort(c.DB.UnitHints)
	slices.Sort(c.HintsJournaled)
	if c.History, err = history.Check(filepath.Join(dir, HistoryDir), repair); err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	if !repair || c.DB.Clean() {
		return c, nil
	}
	s := &Store{cfg: Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)}, path: path}
	if err := s.prepare(); err != nil {
		return c, fmt.Errorf("store: repair: %w", err)
	}
	c.DB.SetAside, c.DB.From = s.opened.SetAside, s.opened.From
	after, err := scanFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("store: %w", err)
	}
	c.Repaired = &after
	return c, nil
}

// String is the report as `hub check` prints it.
func (c CheckReport) String() string {
	var b strings.Builder
	if c.NoLock {
		b.WriteString("note: no directory lock on this system; the hub must be stopped\n")
	}
	b.WriteString(c.DB.String())
	if len(c.DB.UnitHints) > 0 {
		var lost []string
		for _, id := range c.DB.UnitHints {
			if !slices.Contains(c.HintsJournaled, id) {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			fmt.Fprintf(&b, "  of those, not in %s (to enrol again if their record is gone): %s\n", JournalName, strings.Join(lost, ", "))
		} else {
			fmt.Fprintf(&b, "  all of them are in %s: restored at start\n", JournalName)
		}
	}
	for _, v := range c.BadValues {
		switch {
		case strings.HasPrefix(v.Key, "live:"):
			fmt.Fprintf(&b, "  damaged value %s (%s): skipped at start; the unit's position is unknown until it reports\n", clipKey(v.Key), v.Err)
		case v.Journaled:
			fmt.Fprintf(&b, "  damaged value %s (%s): skipped at start; the enrolment in %s is used\n", clipKey(v.Key), v.Err, JournalName)
		default:
			fmt.Fprintf(&b, "  damaged value %s (%s): the unit must be enrolled again\n", clipKey(v.Key), v.Err)
		}
	}
	fmt.Fprintf(&b, "%s: %d %s, %d damaged %s\n", filepath.Join(c.Dir, JournalName),
		c.JournalUnits, plural(c.JournalUnits, "unit", "units"), c.JournalDamaged, plural(c.JournalDamaged, "line", "lines"))
	if c.Snapshot != nil {
		state := "clean"
		if !c.Snapshot.Clean() {
			state = fmt.Sprintf("%d damaged regions, %d bytes torn at the end", c.Snapshot.Regions, c.Snapshot.TornBytes)
		}
		fmt.Fprintf(&b, "%s: %d records readable; %s\n", c.Snapshot.Path, c.Snapshot.Records-c.Snapshot.Commits, state)
	}
	var days [2]int
	var records [2]int64
	for _, r := range c.History {
		days[r.Kind]++
		records[r.Kind] += r.Records
		if r.Damaged() || r.SetAside != "" {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	fmt.Fprintf(&b, "%s: %d %s of positions (%d positions), %d of events (%d events)\n", filepath.Join(c.Dir, HistoryDir),
		days[history.Positions], plural(days[history.Positions], "day", "days"), records[history.Positions], days[history.Events], records[history.Events])
	if c.HistoryDamaged() {
		b.WriteString("DAMAGED HISTORY (listed above): the hub serves what reads of those days; a day that does not open is set aside by -repair or the hub's first use of it\n")
	}
	switch {
	case c.Repaired != nil:
		if c.DB.SetAside != "" {
			fmt.Fprintf(&b, "repaired: the damaged file is kept as %s; hub.db now holds %d records (from %s)\n",
				c.DB.SetAside, c.Repaired.Records-c.Repaired.Commits, c.DB.From)
		} else {
			fmt.Fprintf(&b, "repaired: the torn end is cut off; hub.db now holds %d records\n", c.Repaired.Records-c.Repaired.Commits)
		}
	case c.DB.IsDamaged():
		b.WriteString("DAMAGED: `hub check -repair` (or the hub's next start) salvages what reads; the records in the damaged bytes are lost\n")
	case !c.DB.Clean():
		b.WriteString("TORN END: a write torn by a crash; `hub check -repair` (or the hub's next start) cuts it off\n")
	case len(c.BadValues) > 0:
		b.WriteString("DAMAGED VALUES: the hub starts without them and reports them on /healthz (listed above)\n")
	case c.HistoryDamaged():
	default:
		b.WriteString("ok\n")
	}
	return b.String()
}
