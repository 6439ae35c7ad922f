package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/internal/access"
)

const userUsage = `Usage: hub user add NAME -role ROLE [-password-stdin] [-keep] [-data DIR]
       hub user passwd NAME [-password-stdin] [-keep] [-data DIR]
       hub user disable NAME [-data DIR]
       hub user enable NAME [-data DIR]
       hub user role NAME ROLE [-data DIR]
       hub user list [-data DIR]

Manages the people who sign in to the dashboard, in <data>/accounts.json, on
the hub's machine: while the hub runs (it reads the change within a second)
or when it is stopped. Each change is made under the file's lock.

  add      makes an account. Without -password-stdin the hub makes a password
           and prints it, this once. It is one-time: the person changes it at
           the first sign-in (-keep: it stands, for an account a script uses).
  passwd   gives the account a new one-time password (printed if made here)
           and ends the person's sessions. A lockout after failed sign-ins
           (in the running hub's memory) ends by itself after 15 min, or at
           the next attempt after a new password is set, here or over the API.
  disable  stops the account signing in and ends its sessions; enable undoes it.
  role     gives the account another role, from its next call on.
  list     the accounts: name, role, state, whether the password must change,
           when the account was made and its password last set.

Roles, each allowed what the ones before it are: viewer, call-taker,
dispatcher, supervisor, admin. A name is 1 to 32 of a-z, 0-9, '.', '_', '-'
(given in any case, kept in lower case); a password at least 10 characters.
There is always an enabled admin: the last one cannot be disabled or given
another role.

Exit status: 0 done, 1 refused or failed (a bad name or password, an account
that exists or does not, the last admin, the file), 2 bad usage (flags,
arguments, an unknown role).

Flags:
`

// passwordHashing is the cost of the passwords the commands set: the hub's
// (tests make it cheap).
var passwordHashing = access.DefaultHashing

// userCmd runs `hub user` with args (after "user") and returns the exit status.
func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the hub's data `directory`")
	roleName := fs.String("role", "", "add: the account's `ROLE` (viewer, call-taker, dispatcher, supervisor, admin)")
	fromStdin := fs.Bool("password-stdin", false, "add, passwd: read the password from the first line of standard input instead of making one")
	keep := fs.Bool("keep", false, "add, passwd: the password stands: no change asked at the first sign-in")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), userUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "hub user: say what to do: add, passwd, disable, enable, role or list (hub user -h)")
		return 2
	}
	verb, pos := pos[0], pos[1:]
	want := map[string]int{"add": 1, "passwd": 1, "disable": 1, "enable": 1, "role": 2, "list": 0}
	n, known := want[verb]
	switch {
	case !known:
		fmt.Fprintf(stderr, "hub user: no command %q: want add, passwd, disable, enable, role or list (hub user -h)\n", verb)
		return 2
	case len(pos) != n:
		fmt.Fprintf(stderr, "hub user %s: %s\n", verb, argsWanted(verb, n, pos))
		return 2
	case *roleName != "" && verb != "add":
		fmt.Fprintf(stderr, "hub user %s: -role is for add (hub user role NAME ROLE changes one)\n", verb)
		return 2
	case (*fromStdin || *keep) && verb != "add" && verb != "passwd":
		fmt.Fprintf(stderr, "hub user %s: -password-stdin and -keep are for add and passwd\n", verb)
		return 2
	case verb == "add" && *roleName == "":
		fmt.Fprintln(stderr, "hub user add: -role ROLE is required: viewer, call-taker, dispatcher, supervisor or admin")
		return 2
	}
	var role access.Role
	if r := *roleName; verb == "add" || verb == "role" {
		if verb == "role" {
			r = pos[1]
		}
		var err error
		if role, err = access.ParseRole(r); err != nil {
			fmt.Fprintf(stderr, "hub user %s: %v\n", verb, err)
			return 2
		}
	}
	accounts, err := openAccounts(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "hub user %s: %v\n", verb, err)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hub user %s: %s\n", verb, explain(err))
		return 1
	}

	switch verb {
	case "list":
		listUsers(stdout, accounts.Users())
		return 0
	case "disable", "enable":
		disabled := verb == "disable"
		u, err := accounts.Update(pos[0], nil, &disabled)
		if err != nil {
			return fail(err)
		}
		if disabled {
			fmt.Fprintf(stdout, "%s disabled: no sign-in, and their sessions end (a running hub within a second)\n", u.Name)
		} else {
			fmt.Fprintf(stdout, "%s enabled: they sign in with their password\n", u.Name)
		}
		return 0
	case "role":
		u, err := accounts.Update(pos[0], &role, nil)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s has role %s from their next call\n", u.Name, u.Role)
		return 0
	}

	// add, passwd: a password.
	name := access.NormalName(pos[0])
	password, made := "", !*fromStdin
	if made {
		password = access.NewPassword()
	} else if password, err = readPassword(stdin); err != nil {
		fmt.Fprintf(stderr, "hub user %s: -password-stdin: %v\n", verb, err)
		return 1
	}
	if verb == "add" {
		if err := accounts.AddUser(name, role, password, !*keep, passwordHashing); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "made account %s, role %s\n", name, role)
		if !hasAdmin(accounts.Users()) {
			fmt.Fprintf(stderr, "hub user add: note: no account is an enabled admin (the hub makes its first admin only when there is no account): make one with hub user add NAME -role admin\n")
		}
	} else {
		if _, err := accounts.SetPassword(name, password, !*keep, passwordHashing); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "new password for %s; their sessions end (a running hub within a second)\n", name)
		if name == access.FirstAdmin {
			// The first admin's one-time password no longer works.
			if f := filepath.Join(*dir, access.FirstAdminFile); os.Remove(f) == nil {
				fmt.Fprintf(stdout, "removed %s: the password it held no longer works\n", f)
			}
		}
	}
	if made {
		fmt.Fprintf(stdout, "password  %s\n", password)
	}
	if *keep {
		fmt.Fprintln(stdout, "  it stands: no change is asked at the first sign-in")
	} else if made {
		fmt.Fprintf(stdout, "  shown only this once; one-time: %s changes it at the first sign-in\n", name)
	} else {
		fmt.Fprintf(stdout, "  one-time: %s changes it at the first sign-in\n", name)
	}
	return 0
}

// argsWanted says what arguments a verb takes, having got got.
func argsWanted(verb string, n int, got []string) string {
	switch {
	case n == 0:
		return fmt.Sprintf("unexpected %q", got)
	case len(got) > n:
		return fmt.Sprintf("unexpected %q", got[n:])
	case verb == "role":
		return "want NAME ROLE"
	}
	return "want NAME"
}

// openAccounts opens the accounts of the data directory dir, which must
// exist: a mistyped -data makes no new one.
func openAccounts(dir string) (*access.Accounts, error) {
	if err := isDataDir(dir); err != nil {
		return nil, err
	}
	return access.OpenAccounts(dir, nil)
}

// isDataDir fails unless dir is a directory.
func isDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no data directory %s (start the hub once, or give -data DIR)", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// explain is an accounts error as the command says it: without the
// sentinel's word before the reason.
func explain(err error) string {
	msg := err.Error()
	for _, kind := range []error{access.ErrInvalid, access.ErrExists, access.ErrNotFound, access.ErrConflict} {
		if errors.Is(err, kind) {
			msg = strings.Replace(msg, kind.Error()+": ", "", 1)
		}
	}
	if errors.Is(err, access.ErrConflict) {
		msg += ": make another admin first (hub user add NAME -role admin)"
	}
	return msg
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

func hasAdmin(users []access.UserRecord) bool {
	for _, u := range users {
		if u.Role == access.Admin && !u.Disabled {
			return true
		}
	}
	return false
}

// listUsers writes the accounts as a table.
func listUsers(w io.Writer, users []access.UserRecord) {
	if len(users) == 0 {
		fmt.Fprintln(w, "no accounts (the hub makes the first admin at its start)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tMUST CHANGE\tCREATED\tPASSWORD CHANGED")
	for _, u := range users {
		state, must := "enabled", "no"
		if u.Disabled {
			state = "disabled"
		}
		if u.MustChange {
			must = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, state, must, localTime(u.Created), localTime(u.PasswordChanged))
	}
	tw.Flush()
}

// localTime is Unix ms in the local zone, to the minute.
func localTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04")
}

// parseInterspersed parses fs's flags wherever they are among args (before,
// between or after the arguments; all after "--" are arguments) and answers
// the arguments: ok, or the exit status (0 for -h).
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), 0, true
		}
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
