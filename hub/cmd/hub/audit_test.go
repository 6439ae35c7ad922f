package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/hub/internal/audit"
	wire "kuaifan/protocol/api"
)

// t0 is when the hand-made log begins; the commands run at t0 + 5 h.
var t0 = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

// auditLog writes a log as the hub would: five entries an hour apart.
func auditLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := audit.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := func(h int) int64 { return t0.Add(time.Duration(h) * time.Hour).UnixMilli() }
	for _, e := range []wire.AuditEntry{
		{TS: at(0), Actor: "user:admin", Role: "admin", Addr: "10.0.0.2:5100", Action: "POST /api/users", Target: "wang", Status: 201},
		{TS: at(1), Actor: "user:wang", Role: "dispatcher", Addr: "10.0.0.7:5200", Action: "POST /api/incidents", Target: "inc-1", Status: 201,
			Body: `{"lat":28.2,"lon":112.9,"kind":"theft","priority":2}`},
		{TS: at(2), Actor: "user:wang", Role: "dispatcher", Addr: "10.0.0.7:5201", Action: "POST /api/incidents/{id}/assign", Target: "inc-1",
			Status: 409, Error: "car-1 is assigned\telsewhere"},
		{TS: at(3), Actor: "token:cad110", Role: "call-taker", Addr: "10.0.0.9:6000", Action: "POST /api/incidents", Target: "inc-2", Status: 201},
		{TS: at(4), Actor: "user:admin", Role: "admin", Addr: "10.0.0.2:5101", Action: "DELETE /api/tokens/{id}", Target: "yri4jumw", Status: 204},
	} {
		if _, err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runAudit(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := auditAt(args, &out, &errOut, t0.Add(5*time.Hour))
	return code, out.String(), errOut.String()
}

// seqs are the entries of -json output, in order.
func seqs(t *testing.T, out string) []uint64 {
	t.Helper()
	var got []uint64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e wire.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("a line that is not an entry: %q", sc.Text())
		}
		got = append(got, e.Seq)
	}
	return got
}

// hub audit's filters, newest first, as JSON lines; and its refusals.
func TestAuditFilters(t *testing.T) {
	dir := auditLog(t)
	rfc := func(h int) string { return t0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	for _, tc := range []struct {
		name string
		args []string
		want []uint64
		more bool // stderr says older entries were left out
	}{
		{"all", nil, []uint64{5, 4, 3, 2, 1}, false},
		{"an actor", []string{"-actor", "user:wang"}, []uint64{3, 2}, false},
		{"a token", []string{"-actor", "token:cad110"}, []uint64{4}, false},
		{"an action's prefix", []string{"-action", "POST /api/incidents"}, []uint64{4, 3, 2}, false},
		{"a method", []string{"-action", "DELETE"}, []uint64{5}, false},
		{"an actor and an action", []string{"-actor", "user:wang", "-action", "POST /api/incidents/"}, []uint64{3}, false},
		{"since a span back", []string{"-since", "2h30m"}, []uint64{5, 4}, false},
		{"since days back", []string{"-since", "1d"}, []uint64{5, 4, 3, 2, 1}, false},
		{"until a time", []string{"-until", rfc(1)}, []uint64{2, 1}, false},
		{"between two times", []string{"-since", rfc(1), "-until", rfc(3)}, []uint64{4, 3, 2}, false},
		{"between, in another zone", []string{"-since", t0.Add(time.Hour).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339), "-until", rfc(1)}, []uint64{2}, false},
		{"none match", []string{"-actor", "user:nobody"}, nil, false},
		{"-n", []string{"-n", "2"}, []uint64{5, 4}, true},
		{"-n, all there are", []string{"-n", "5"}, []uint64{5, 4, 3, 2, 1}, false},
		{"-n 0: all", []string{"-n", "0"}, []uint64{5, 4, 3, 2, 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runAudit(append([]string{"-data", dir, "-json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := seqs(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
			if more := strings.Contains(errOut, "older entries left out"); more != tc.more {
				t.Errorf("stderr %q", errOut)
			}
		})
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"-h", []string{"-h"}, 0, "Usage: hub audit"},
		{"an actor without its kind", []string{"-actor", "wang"}, 2, "want user:NAME"},
		{"a time that does not read", []string{"-since", "yesterday"}, 2, "want RFC 3339"},
		{"a negative -n", []string{"-n", "-1"}, 2, "-n is 0 (all) or more"},
		{"since after until", []string{"-since", rfc(3), "-until", rfc(1)}, 2, "-since is after -until"},
		{"an argument", []string{"wang"}, 2, "unexpected"},
		{"no data directory", []string{"-data", filepath.Join(dir, "absent")}, 1, "no data directory"},
		{"no log", []string{"-data", t.TempDir()}, 0, "no audit log at"},
		{"no log to verify", []string{"-data", t.TempDir(), "-verify"}, 1, "no audit log at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runAudit(tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
}

// The table: a header, then a row an entry, newest first, the time in the
// local zone; a tab in a value does not break the columns.
func TestAuditTable(t *testing.T) {
	dir := auditLog(t)
	code, out, errOut := runAudit("-data", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Logf("\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want a header and 5 rows", len(lines))
	}
	if f := strings.Fields(lines[0]); !slices.Equal(f, []string{"TIME", "ACTOR", "ROLE", "ADDR", "ACTION", "TARGET", "STATUS", "ERROR"}) {
		t.Errorf("header %q", lines[0])
	}
	at := func(h int) string { return t0.Add(time.Duration(h) * time.Hour).Local().Format("2006-01-02 15:04:05") }
	for i, want := range [][]string{
		{at(4), "user:admin", "admin", "10.0.0.2:5101", "DELETE", "/api/tokens/{id}", "yri4jumw", "204"},
		{at(3), "token:cad110", "call-taker", "10.0.0.9:6000", "POST", "/api/incidents", "inc-2", "201"},
		{at(2), "user:wang", "dispatcher", "10.0.0.7:5201", "POST", "/api/incidents/{id}/assign", "inc-1", "409", "car-1", "is", "assigned", "elsewhere"},
		{at(1), "user:wang", "dispatcher", "10.0.0.7:5200", "POST", "/api/incidents", "inc-1", "201"},
		{at(0), "user:admin", "admin", "10.0.0.2:5100", "POST", "/api/users", "wang", "201"},
	} {
		want = append(strings.Fields(want[0]), want[1:]...)
		if got := strings.Fields(lines[i+1]); !slices.Equal(got, want) {
			t.Errorf("row %d: %q, want %q", i+1, got, want)
		}
	}
	// The columns line up: every row's ACTION starts where the header's does.
	col := strings.Index(lines[0], "ACTION")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "POST ") && !strings.HasPrefix(l[col:], "DELETE ") {
			t.Errorf("ACTION not in its column: %q", l)
		}
	}
	if code, out, _ := runAudit("-data", dir, "-actor", "user:nobody"); code != 0 || out != "no entries match\n" {
		t.Errorf("no match: exit %d, %q", code, out)
	}
}

// -verify: the chain intact, then a line edited and a line taken out.
func TestAuditVerify(t *testing.T) {
	dir := auditLog(t)
	path := filepath.Join(dir, audit.File)
	intact, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(intact), "\n")
	for _, tc := range []struct {
		name string
		log  string
		code int
		want string
	}{
		{"intact", string(intact), 0, "5 entries, chain intact"},
		{"a line edited", strings.Replace(string(intact), `"status":409`, `"status":200`, 1), 1,
			"the chain is broken: line 4: entry 4 does not follow the line before it (edited or removed) (the 3 entries before it intact)"},
		{"a line taken out", strings.Join(slices.Delete(slices.Clone(lines), 1, 2), ""), 1, "entry 3 follows entry 1: entries are missing"},
		{"a line that does not read", lines[0] + "{\"seq\":2,\n" + strings.Join(lines[2:], ""), 1, "line 2 does not read as an entry"},
		{"empty", "", 0, "0 entries, chain intact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runAudit("-data", dir, "-verify")
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
}

// More entries than a page of audit.Query (1000): -n pages on, -n 0 reads
// them all.
func TestAuditPages(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1205
	// Appends made together share their syncs.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := l.Append(wire.AuditEntry{Actor: "user:wang", Role: "dispatcher", Action: "POST /api/incidents",
					Target: fmt.Sprintf("inc-%d", i), Status: 201}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	for _, c := range []struct {
		args []string
		want int
		more bool
	}{
		{[]string{"-n", "0"}, n, false},
		{[]string{"-n", "1100"}, 1100, true},
		{[]string{"-n", "2000"}, n, false},
		{nil, audit.DefaultLimit, true},
	} {
		code, out, errOut := runAudit(append([]string{"-data", dir, "-json"}, c.args...)...)
		got := seqs(t, out)
		if code != 0 || len(got) != c.want || strings.Contains(errOut, "left out") != c.more {
			t.Errorf("%q: exit %d, %d entries, %q; want %d", c.args, code, len(got), errOut, c.want)
			continue
		}
		for i, s := range got {
			if s != uint64(n-i) {
				t.Errorf("%q: entry %d is #%d, want #%d (newest first, none twice)", c.args, i, s, n-i)
				break
			}
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-12-07T08:00:00+08:00", want: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{in: "2026-12-06T23:00:00Z", want: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)},
		{in: "2026-12-01", want: time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)},
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "0s", want: now},
		{in: "-1h", bad: true},
		{in: "yesterday", bad: true},
		{in: "d", bad: true},
		{in: "2026-13-01", bad: true},
	} {
		got, err := parseWhen(tc.in, now)
		if (err != nil) != tc.bad || !tc.bad && !got.Equal(tc.want) {
			t.Errorf("%q: %v %v, want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
