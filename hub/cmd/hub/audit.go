package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/internal/audit"
	wire "kuaifan/protocol/api"
)

const auditUsage = `Usage: hub audit [-data DIR] [-actor A] [-action PREFIX] [-since T] [-until T] [-n N] [-json]
       hub audit [-data DIR] -verify

Reads the hub's audit log, <data>/audit.log — one entry per write the API let
through (every POST, PUT, PATCH and DELETE under /api that passed the role
check, each sign-in and sign-out) — while the hub runs or when it is stopped.

By default it prints the newest 100 entries that match, newest first, as a
table: the time (local), actor, role, client address, action, target, the
HTTP status answered and its error. -json prints them as they are stored,
one JSON object a line (with the request's body), newest first too.

T is a time in RFC 3339 (2026-12-07T08:00:00+08:00), a local date
(2026-12-07: its midnight), or a span back from now (90m, 24h, 7d).

-verify checks the whole log instead: every line reads, no entry is missing
and each names the SHA-256 of the line before it, so a line edited or taken
out shows. It prints "N entries, chain intact", or where the chain breaks.

Exit status: 0 done (the chain intact), 1 the log does not read or the chain
is broken, 2 bad usage.

Flags:
`

// auditCmd runs `hub audit` with args (after "audit") and returns the exit status.
func auditCmd(args []string, stdout, stderr io.Writer) int {
	return auditAt(args, stdout, stderr, time.Now())
}

func auditAt(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("hub audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f audit.Filter
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the hub's data `directory`")
	fs.StringVar(&f.Actor, "actor", "", "only the entries of `A`: user:NAME or token:NAME")
	fs.StringVar(&f.Action, "action", "", "only the actions that begin with `PREFIX`: \"POST /api/incidents\", DELETE")
	fs.Func("since", "only the entries at `T` or later", func(s string) error {
		t, err := parseWhen(s, now)
		f.Since = t.UnixMilli()
		return err
	})
	fs.Func("until", "only the entries at `T` or earlier", func(s string) error {
		t, err := parseWhen(s, now)
		f.Until = t.UnixMilli()
		return err
	})
	n := fs.Int("n", audit.DefaultLimit, "at most `N` entries, the newest (0: all)")
	asJSON := fs.Bool("json", false, "one JSON object a line, as stored, instead of a table")
	verify := fs.Bool("verify", false, "check the whole log's hash chain instead of listing")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	switch {
	case *n < 0:
		fmt.Fprintln(stderr, "hub audit: -n is 0 (all) or more")
		return 2
	case f.Actor != "" && !strings.HasPrefix(f.Actor, wire.ActorUserPrefix) && !strings.HasPrefix(f.Actor, wire.ActorTokenPrefix):
		fmt.Fprintf(stderr, "hub audit: -actor %q: want user:NAME (a person) or token:NAME (an API token; token:admin, the admin token)\n", f.Actor)
		return 2
	case f.Since != 0 && f.Until != 0 && f.Since > f.Until:
		fmt.Fprintln(stderr, "hub audit: -since is after -until")
		return 2
	}
	if err := isDataDir(*dir); err != nil {
		fmt.Fprintln(stderr, "hub audit:", err)
		return 1
	}
	path := filepath.Join(*dir, audit.File)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if *verify {
			fmt.Fprintf(stderr, "hub audit: no audit log at %s\n", path)
			return 1
		}
		fmt.Fprintf(stdout, "no audit log at %s yet (the hub writes it from its first write call)\n", path)
		return 0
	}

	if *verify {
		count, err := audit.Verify(path)
		if err != nil {
			fmt.Fprintf(stderr, "hub audit: %s: the chain is broken: %v (the %d %s before it intact)\n",
				path, err, count, plural(count, "entry", "entries"))
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d %s, chain intact\n", path, count, plural(count, "entry", "entries"))
		return 0
	}

	var tw *tabwriter.Writer
	if !*asJSON {
		tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	}
	enc := json.NewEncoder(stdout)
	shown, more := 0, false
	for {
		f.Limit = audit.MaxLimit
		if *n > 0 {
			f.Limit = min(*n-shown, audit.MaxLimit)
		}
		page, err := audit.Query(path, f)
		if err != nil {
			fmt.Fprintln(stderr, "hub audit:", err)
			return 1
		}
		for _, e := range page.Entries {
			switch {
			case tw == nil:
				if err := enc.Encode(e); err != nil {
					fmt.Fprintln(stderr, "hub audit:", err)
					return 1
				}
			default:
				if shown == 0 {
					fmt.Fprintln(tw, "TIME\tACTOR\tROLE\tADDR\tACTION\tTARGET\tSTATUS\tERROR")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", time.UnixMilli(e.TS).Local().Format("2006-01-02 15:04:05"),
					cell(e.Actor), cell(e.Role), cell(e.Addr), cell(e.Action), cell(e.Target), e.Status, oneLine(e.Error))
			}
			shown++
		}
		if page.NextBefore == 0 {
			break
		}
		if *n > 0 && shown >= *n {
			more = true
			break
		}
		f.Before = page.NextBefore
	}
	if tw != nil {
		if shown == 0 {
			fmt.Fprintln(stdout, "no entries match")
		}
		tw.Flush()
	}
	if more {
		fmt.Fprintf(stderr, "(older entries left out: -n %d shows more, -n 0 all)\n", *n*10)
	}
	return 0
}

// parseWhen reads a time: RFC 3339, a local date, or a span back from now
// (a Go duration, or whole days: 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if v, err := strconv.ParseUint(d, 10, 16); err == nil {
			return now.Add(-time.Duration(v) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-12-07T08:00:00+08:00), a date (2026-12-07) or a span back from now (24h, 7d)")
}

// cell is a value for the table: "-" for none, on one line.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

// oneLine keeps a value on its line and in its column.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
