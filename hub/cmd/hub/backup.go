package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/internal/store"
)

const backupUsage = `Usage: hub backup [-data DIR] -to FILE

Copies the hub's durable state into one file, while the hub runs or when it
is stopped: hub.db up to its last complete commit (every report confirmed to
a unit and every enrolment made before the backup began is in it), units.log,
the history, and each of admin.token, admin.password (the first admin's
one-time password, while unchanged), accounts.json (people and API tokens),
audit.log (up to its last whole line) and -tls auto's tls-cert.pem and
tls-key.pem that the directory has, with a manifest saying what is in it
and every file's SHA-256; nothing transient (hub.lock, hub.db.snapshot,
*.corrupt-*). The copy of hub.db is scanned as the hub's start scans it, and
FILE is read back whole before it is renamed into place: a backup that fails
leaves nothing at FILE.

FILE is a tar archive, gzipped if its name ends in .gz or .tgz, created mode
0600: it holds the admin token, the units' secret hashes, the accounts'
password hashes and the TLS key — keep it as you keep the data directory.
Bring it back with hub restore.

Exit status: 0 written, 1 the backup failed, 2 bad flags.

Flags:
`

// backup runs `hub backup` with args (after "backup") and returns the exit status.
func backup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the hub's data `directory`")
	to := fs.String("to", "", "the backup `file` to write (.tar, or .tar.gz / .tgz to gzip it)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), backupUsage)
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	if *to == "" {
		fmt.Fprintln(stderr, "hub backup: -to FILE is required")
		return 2
	}
	start := time.Now()
	m, err := store.BackupFile(*dir, *to)
	if err != nil {
		fmt.Fprintln(stderr, "hub backup:", err)
		return 1
	}
	took := time.Since(start)
	size := int64(-1)
	if fi, err := os.Stat(*to); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d bytes in %v; read back and verified\n%s",
		*dir, *to, size, took.Round(time.Millisecond), m)
	return 0
}

const restoreUsage = `Usage: hub restore -from FILE [-data DIR] [-force]

Brings a backup (hub backup) back into the data directory DIR, which must be
absent or empty; with -force, a non-empty DIR's hub.db, hub.db.snapshot,
units.log, history, admin.token, admin.password, accounts.json, audit.log,
tls-cert.pem and tls-key.pem are kept as <name>.replaced-<time>. It takes
DIR's lock: while a hub runs on DIR, restore refuses.

The manifest, every file's size and SHA-256, and hub.db command by command
are verified before anything is put in place (a bad backup leaves DIR as it
was); then the store is checked as hub check does. Start the hub with
-data DIR afterwards: the units sign in with their secrets, people with their
accounts as backed up (sessions are not: everyone signs in again), and the
admin token is the one backed up (unless HUB_ADMIN_TOKEN sets one).

Exit status: 0 restored, 1 the backup is bad or the restore failed, 2 could
not start (a hub running on DIR, DIR not empty, bad flags).

Flags:
`

// restore runs `hub restore` with args (after "restore") and returns the exit status.
func restore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the data `directory` to restore into")
	from := fs.String("from", "", "the backup `file` (hub backup)")
	force := fs.Bool("force", false, "restore into a non-empty directory, keeping its files aside as <name>.replaced-<time>")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), restoreUsage)
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	if *from == "" {
		fmt.Fprintln(stderr, "hub restore: -from FILE is required")
		return 2
	}
	f, err := os.Open(*from)
	if err != nil {
		fmt.Fprintln(stderr, "hub restore:", err)
		return 1
	}
	defer f.Close()
	m, err := store.Restore(f, *dir, *force)
	switch {
	case errors.Is(err, store.ErrLocked):
		fmt.Fprintf(stderr, "hub restore: %s is in use: a hub is running on it; stop it first (%v)\n", *dir, err)
		return 2
	case errors.Is(err, store.ErrNotEmpty):
		fmt.Fprintf(stderr, "hub restore: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "hub restore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s; verified and checked clean\n%sstart the hub with -data %s\n", *from, *dir, m, *dir)
	return 0
}

// parse parses a subcommand's flags: ok, or the exit status (0 for -h).
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}
