package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
}

// Damaged reports whether hub.db needs what Repair (or the hub's start)
// does: a damaged region salvaged, or a torn end cut off.
func (c CheckReport) Damaged() bool { return !c.DB.Clean() }

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
	for _, id := range c.DB.UnitHints {
		if _, ok := byID[id]; ok {
			c.HintsJournaled = append(c.HintsJournaled, id)
		}
	}
	slices.Sort(c.DB.UnitHints)
	slices.Sort(c.HintsJournaled)
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
	fmt.Fprintf(&b, "%s: %d %s, %d damaged %s\n", filepath.Join(c.Dir, JournalName),
		c.JournalUnits, plural(c.JournalUnits, "unit", "units"), c.JournalDamaged, plural(c.JournalDamaged, "line", "lines"))
	if c.Snapshot != nil {
		state := "clean"
		if !c.Snapshot.Clean() {
			state = fmt.Sprintf("%d damaged regions, %d bytes torn at the end", c.Snapshot.Regions, c.Snapshot.TornBytes)
		}
		fmt.Fprintf(&b, "%s: %d records readable; %s\n", c.Snapshot.Path, c.Snapshot.Records-c.Snapshot.Commits, state)
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
	default:
		b.WriteString("ok\n")
	}
	return b.String()
}
