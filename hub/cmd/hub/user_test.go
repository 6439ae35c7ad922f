package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kuaifan/hub/internal/access"
)

// cheap is a password hashing cost for tests: the hub's takes 50 ms a hash.
var cheap = access.Hashing{Time: 1, MemoryKiB: 256, Threads: 1}

func init() { passwordHashing = cheap }

// runUser runs hub user with stdin.
func runUser(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := userCmd(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

var passwordLine = regexp.MustCompile(`(?m)^password  (\S+)$`)

// signsIn reports whether name signs in to dir's accounts with password,
// and whether the password must change then.
func signsIn(t *testing.T, dir, name, password string) (ok, mustChange bool) {
	t.Helper()
	s, err := access.New(access.Config{Dir: dir, Hashing: cheap})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.SignIn(context.Background(), name, password, "127.0.0.1:1")
	if errors.Is(err, access.ErrWrongPassword) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true, p.MustChange
}

// hub user: each command in turn on one data directory, its refusals and
// their exit status; then the passwords it printed or was given sign in.
func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	d := []string{"-data", dir}
	with := func(args ...string) []string { return append(args, d...) }
	printed := map[string][]string{} // name: the passwords printed, in turn

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []string // in stdout (exit 0) or stderr
		not   string   // not in either
	}{
		{name: "-h", args: []string{"-h"}, code: 0, want: []string{"Usage: hub user add NAME -role ROLE", "Exit status"}},
		{name: "nothing to do", args: d, code: 2, want: []string{"say what to do: add, passwd"}},
		{name: "an unknown command", args: with("remove", "wang"), code: 2, want: []string{`no command "remove"`}},
		{name: "an unknown flag", args: with("list", "-all"), code: 2, want: []string{"flag provided but not defined: -all"}},
		{name: "no data directory", args: []string{"list", "-data", filepath.Join(dir, "absent")}, code: 1, want: []string{"no data directory"}},
		{name: "list, none", args: with("list"), code: 0, want: []string{"no accounts"}},

		{name: "add, made password", args: with("add", "Wang", "-role", "dispatcher"), code: 0,
			want: []string{"made account wang, role dispatcher", "password  ", "shown only this once; one-time"}},
		{name: "add, flags first, from stdin, kept", stdin: "li's own password\n", args: with("-password-stdin", "-keep", "add", "li", "-role", "admin"), code: 0,
			want: []string{"made account li, role admin", "it stands"}, not: "password  "},
		{name: "add, from stdin, one-time", stdin: "zhao's first password\r\nmore", args: with("add", "zhao", "-password-stdin", "-role", "viewer"), code: 0,
			want: []string{"made account zhao, role viewer", "one-time: zhao changes it"}, not: "password  "},
		{name: "add, a name taken", args: with("add", "WANG", "-role", "viewer"), code: 1, want: []string{`there is an account "wang"`}},
		{name: "add, an unknown role", args: with("add", "chen", "-role", "chief"), code: 2,
			want: []string{`no role "chief"`, "viewer, call-taker, dispatcher, supervisor or admin"}},
		{name: "add, no role", args: with("add", "chen"), code: 2, want: []string{"-role ROLE is required"}},
		{name: "add, no name", args: with("add", "-role", "viewer"), code: 2, want: []string{"want NAME"}},
		{name: "add, two names", args: with("add", "chen", "zhou", "-role", "viewer"), code: 2, want: []string{`unexpected ["zhou"]`}},
		{name: "add, a bad name", args: with("add", "chen wei", "-role", "viewer"), code: 1, want: []string{"a name is 1 to 32"}, not: "invalid:"},
		{name: "add, a short password", stdin: "short\n", args: with("add", "chen", "-role", "viewer", "-password-stdin"), code: 1,
			want: []string{"at least 10 characters"}},
		{name: "add, nothing on stdin", args: with("add", "chen", "-role", "viewer", "-password-stdin"), code: 1,
			want: []string{"no password on standard input"}},
		{name: "list", args: with("list"), code: 0, want: []string{"NAME  ROLE", "MUST CHANGE", "PASSWORD CHANGED"}},

		{name: "disable the last admin", args: with("disable", "li"), code: 1,
			want: []string{"li is the last enabled admin", "make another admin first"}, not: "conflict:"},
		{name: "demote the last admin", args: with("role", "li", "viewer"), code: 1, want: []string{"li is the last enabled admin"}},
		{name: "role, an unknown role", args: with("role", "wang", "chief"), code: 2, want: []string{`no role "chief"`, "supervisor or admin"}},
		{name: "role, no role", args: with("role", "wang"), code: 2, want: []string{"want NAME ROLE"}},
		{name: "role, with -role", args: with("role", "wang", "admin", "-role", "admin"), code: 2, want: []string{"-role is for add"}},
		{name: "role", args: with("role", "wang", "admin"), code: 0, want: []string{"wang has role admin"}},
		{name: "disable", args: with("disable", "li"), code: 0, want: []string{"li disabled"}},
		{name: "disable, unknown", args: with("disable", "nobody"), code: 1, want: []string{`no account "nobody"`}},
		{name: "disable, -keep", args: with("disable", "zhao", "-keep"), code: 2, want: []string{"are for add and passwd"}},
		{name: "enable", args: with("enable", "li"), code: 0, want: []string{"li enabled"}},
		{name: "enable, two names", args: with("enable", "li", "wang"), code: 2, want: []string{"unexpected"}},

		{name: "passwd, made", args: with("passwd", "wang"), code: 0,
			want: []string{"new password for wang; their sessions end", "password  ", "one-time"}},
		{name: "passwd, from stdin, kept", stdin: "zhao's second password\n", args: with("passwd", "zhao", "-password-stdin", "-keep"), code: 0,
			want: []string{"new password for zhao", "it stands"}, not: "password  "},
		{name: "passwd, unknown", args: with("passwd", "nobody"), code: 1, want: []string{`no account "nobody"`}},
		{name: "passwd, the same as the name", stdin: "zhaozhaozhao\n", args: with("add", "zhaozhaozhao", "-role", "viewer", "-password-stdin"), code: 1,
			want: []string{"may not be the name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runUser(tc.stdin, tc.args...)
			t.Logf("exit %d\n%s%s", code, out, errOut)
			got := errOut
			if code == 0 {
				got = out + errOut
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("without %q", w)
				}
			}
			if tc.not != "" && strings.Contains(out+errOut, tc.not) {
				t.Errorf("with %q", tc.not)
			}
			if m := passwordLine.FindStringSubmatch(out); m != nil && len(tc.args) > 1 {
				name := strings.ToLower(tc.args[1])
				printed[name] = append(printed[name], m[1])
			}
		})
	}

	// The table: each account as it is now.
	_, out, _ := runUser("", with("list")...)
	for _, row := range []string{
		`(?m)^li +admin +enabled +no +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d$`,
		`(?m)^wang +admin +enabled +yes `,
		`(?m)^zhao +viewer +enabled +no `,
	} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("list without a row like %s:\n%s", row, out)
		}
	}

	// The passwords sign in: the one printed last, the ones given.
	if len(printed["wang"]) != 2 {
		t.Fatalf("passwords printed for wang: %v", printed["wang"])
	}
	for _, c := range []struct {
		name, password string
		ok, mustChange bool
	}{
		{"wang", printed["wang"][1], true, true},
		{"wang", printed["wang"][0], false, false}, // replaced
		{"li", "li's own password", true, false},
		{"zhao", "zhao's second password", true, false},
		{"zhao", "zhao's first password", false, false},
	} {
		if ok, must := signsIn(t, dir, c.name, c.password); ok != c.ok || must != c.mustChange {
			t.Errorf("%s with %q: signs in %v, must change %v; want %v, %v", c.name, c.password, ok, must, c.ok, c.mustChange)
		}
	}
	acc, err := access.OpenAccounts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A new password and a disabling end the sessions: the generation moves on.
	if u, _ := acc.User("wang"); u.Gen != 2 {
		t.Errorf("wang's generation %d after a new password, want 2", u.Gen)
	}
	if u, _ := acc.User("li"); u.Gen != 2 || u.Disabled {
		t.Errorf("li after disable and enable: generation %d, disabled %v; want 2, false", u.Gen, u.Disabled)
	}
	if fi, err := os.Stat(acc.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("accounts file: %v %v", fi.Mode(), err)
	}
}

// A new password for the first admin removes the file that held its
// one-time password, which no longer works.
func TestUserPasswdFirstAdmin(t *testing.T) {
	dir := t.TempDir()
	s, err := access.New(access.Config{Dir: dir, Hashing: cheap})
	if err != nil {
		t.Fatal(err)
	}
	file, made, err := s.EnsureFirstAdmin()
	if err != nil || !made {
		t.Fatalf("first admin: %v %v", made, err)
	}
	code, out, errOut := runUser("", "passwd", "admin", "-data", dir)
	if code != 0 || !strings.Contains(out, "removed "+file) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", file, err)
	}
	m := passwordLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password printed:\n%s", out)
	}
	if ok, must := signsIn(t, dir, "admin", m[1]); !ok || !must {
		t.Errorf("the new one-time password: signs in %v, must change %v", ok, must)
	}
}

// Accounts made before the hub's first start leave it no admin: the
// command says so.
func TestUserAddWithoutAdmin(t *testing.T) {
	code, _, errOut := runUser("", "add", "wang", "-role", "dispatcher", "-data", t.TempDir())
	if code != 0 || !strings.Contains(errOut, "no account is an enabled admin") {
		t.Errorf("exit %d, %s", code, errOut)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		keep bool
		code int
		ok   bool
	}{
		{args: nil, pos: nil, ok: true},
		{args: []string{"add", "wang"}, pos: []string{"add", "wang"}, ok: true},
		{args: []string{"-keep", "add", "wang"}, pos: []string{"add", "wang"}, keep: true, ok: true},
		{args: []string{"add", "-keep", "wang"}, pos: []string{"add", "wang"}, keep: true, ok: true},
		{args: []string{"add", "wang", "-keep"}, pos: []string{"add", "wang"}, keep: true, ok: true},
		{args: []string{"add", "--", "-keep"}, pos: []string{"add", "-keep"}, ok: true},
		{args: []string{"add", "-nope"}, code: 2},
		{args: []string{"add", "-h"}, code: 0},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		keep := fs.Bool("keep", false, "")
		pos, code, ok := parseInterspersed(fs, tc.args)
		if ok != tc.ok || code != tc.code || strings.Join(pos, " ") != strings.Join(tc.pos, " ") || *keep != tc.keep {
			t.Errorf("%q: %q %d %v, keep %v; want %q %d %v, keep %v", tc.args, pos, code, ok, *keep, tc.pos, tc.code, tc.ok, tc.keep)
		}
	}
}
