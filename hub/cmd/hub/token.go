package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"kuaifan/hub"
	"kuaifan/hub/internal/access"
)

const tokenUsage = `Usage: hub token add NAME -role ROLE [-data DIR]
       hub token list [-data DIR]
       hub token revoke ID [-data DIR]

Manages the API tokens of machines (a 110 call-taking system, a script), in
<data>/accounts.json, on the hub's machine: while the hub runs (it reads the
change within a second) or when it is stopped.

  add      makes a token named NAME with one role and prints it, this once:
           the hub keeps only its SHA-256. A machine sends it as
           Authorization: Bearer kft_…. NAME is unique among the tokens not
           revoked.
  list     the tokens: id, name, role, when made, whether revoked (when each
           was last used is in the running hub's memory: GET /api/tokens).
  revoke   the token ID stops working (a running hub within a second).

Roles: viewer, call-taker, dispatcher, supervisor, admin. A name is 1 to 32
of a-z, 0-9, '.', '_', '-'.

Exit status: 0 done, 1 refused or failed (a bad or taken name, an unknown id,
the file), 2 bad usage (flags, arguments, an unknown role).

Flags:
`

// tokenCmd runs `hub token` with args (after "token") and returns the exit status.
func tokenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", hub.DefaultConfig().DataDir, "the hub's data `directory`")
	roleName := fs.String("role", "", "add: the token's `ROLE` (viewer, call-taker, dispatcher, supervisor, admin)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tokenUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "hub token: say what to do: add, list or revoke (hub token -h)")
		return 2
	}
	verb, pos := pos[0], pos[1:]
	want := map[string]int{"add": 1, "list": 0, "revoke": 1}
	n, known := want[verb]
	switch {
	case !known:
		fmt.Fprintf(stderr, "hub token: no command %q: want add, list or revoke (hub token -h)\n", verb)
		return 2
	case len(pos) != n:
		what := "want NAME"
		if verb == "revoke" {
			what = "want ID (hub token list shows them)"
		}
		if len(pos) > n {
			what = fmt.Sprintf("unexpected %q", pos[n:])
		}
		fmt.Fprintf(stderr, "hub token %s: %s\n", verb, what)
		return 2
	case *roleName != "" && verb != "add":
		fmt.Fprintf(stderr, "hub token %s: -role is for add\n", verb)
		return 2
	case verb == "add" && *roleName == "":
		fmt.Fprintln(stderr, "hub token add: -role ROLE is required: viewer, call-taker, dispatcher, supervisor or admin")
		return 2
	}
	var role access.Role
	if verb == "add" {
		var err error
		if role, err = access.ParseRole(*roleName); err != nil {
			fmt.Fprintf(stderr, "hub token add: %v\n", err)
			return 2
		}
	}
	accounts, err := openAccounts(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "hub token %s: %v\n", verb, err)
		return 1
	}
	switch verb {
	case "add":
		tok, rec, err := accounts.AddToken(pos[0], role)
		if err != nil {
			fmt.Fprintf(stderr, "hub token add: %s\n", explain(err))
			return 1
		}
		fmt.Fprintf(stdout, "made token %s (id %s), role %s\n%s\n", rec.Name, rec.ID, rec.Role, tok)
		fmt.Fprintf(stdout, "  shown only this once: send it as Authorization: Bearer …; hub token revoke %s ends it\n", rec.ID)
	case "list":
		listTokens(stdout, accounts.Tokens())
	case "revoke":
		before, known := findToken(accounts.Tokens(), pos[0])
		rec, err := accounts.RevokeToken(pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "hub token revoke: %s (hub token list shows the ids)\n", explain(err))
			return 1
		}
		if known && before.Revoked != 0 {
			fmt.Fprintf(stdout, "token %s (%s) was revoked already, at %s\n", rec.ID, rec.Name, localTime(rec.Revoked))
		} else {
			fmt.Fprintf(stdout, "token %s (%s, role %s) revoked: refused from now on (a running hub within a second)\n", rec.ID, rec.Name, rec.Role)
		}
	}
	return 0
}

func findToken(tokens []access.TokenRecord, id string) (access.TokenRecord, bool) {
	for _, t := range tokens {
		if t.ID == id {
			return t, true
		}
	}
	return access.TokenRecord{}, false
}

// listTokens writes the tokens as a table, oldest first.
func listTokens(w io.Writer, tokens []access.TokenRecord) {
	if len(tokens) == 0 {
		fmt.Fprintln(w, "no API tokens")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tSTATE")
	for _, t := range tokens {
		state := "active"
		if t.Revoked != 0 {
			state = "revoked " + localTime(t.Revoked)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, localTime(t.Created), state)
	}
	tw.Flush()
}
