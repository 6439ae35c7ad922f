package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"kuaifan/hub"
	"kuaifan/hub/internal/store"
)

const checkUsage = `Usage: hub check [-data DIR] [-repair]

Verifies a stopped hub's store offline: reads <data>/hub.db command by command
and prints what is damaged (unreadable regions and their bytes, the records
that still read, a write torn at the end), the units journal and the snapshot.
It takes the data directory's lock: while a hub runs on it, check refuses.

With -repair it does what the hub's start would: a torn end is cut off; a
damaged file is kept as hub.db.corrupt-<time> and what reads is salvaged into
a new hub.db (the records in the damaged bytes are lost).

It also decodes every unit and live record: one whose value is damaged is
listed (the hub skips it at start and takes the unit's enrolment from
units.log; -repair leaves it to the hub).

Then it reads the history (<data>/history: positions and events, a pebble
DB per day) record by record and lists each day that does not open, fails
partway (a damaged table: the records after it in that day do not read) or
holds records that do not decode. -repair sets a day that does not open
aside (<day>.corrupt-<time>), as the hub's first use of it would.

Exit status: 0 clean (or repaired), 1 damage found (without -repair; with
it, history days still damaged), 2 the check could not run (hub running, no
store, bad flags).

Flags:
`

// check runs `hub check` with args (after "check") and returns the exit status.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the stopped hub's data `directory`")
	repair := fs.Bool("repair", false, "cut off a torn end; set a damaged file aside and salvage what reads")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub check: unexpected %q\n", fs.Args())
		return 2
	}
	run := store.Check
	if *repair {
		run = store.Repair
	}
	rep, err := run(*dir)
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "hub check: %s is in use: a hub is running on it; stop it first (%v)\n", *dir, err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "hub check:", err)
		return 2
	}
	fmt.Fprint(stdout, rep)
	if (rep.Damaged() || len(rep.BadValues) > 0) && !*repair || rep.HistoryDamaged() {
		return 1
	}
	return 0
}
