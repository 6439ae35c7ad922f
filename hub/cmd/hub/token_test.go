package main

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
)

var tokenLine = regexp.MustCompile(`(?m)^(kft_\S+)$`)
var tokenID = regexp.MustCompile(`\(id (\S+)\)`)

// hub token: add, list, revoke and their refusals, in turn on one data
// directory; the token printed is one the hub takes until it is revoked.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	with := func(args ...string) []string { return append(args, "-data", dir) }
	var tok, id string

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
		then func(t *testing.T, out string)
	}{
		{name: "-h", args: []string{"-h"}, code: 0, want: []string{"Usage: hub token add NAME -role ROLE", "Exit status"}},
		{name: "nothing to do", args: with(), code: 2, want: []string{"say what to do: add, list or revoke"}},
		{name: "an unknown command", args: with("delete", "x"), code: 2, want: []string{`no command "delete"`}},
		{name: "no data directory", args: []string{"list", "-data", dir + "/absent"}, code: 1, want: []string{"no data directory"}},
		{name: "list, none", args: with("list"), code: 0, want: []string{"no API tokens"}},
		{name: "add", args: with("add", "CAD110", "-role", "call-taker"), code: 0,
			want: []string{"made token cad110 (id ", "role call-taker", "\nkft_", "shown only this once"},
			then: func(t *testing.T, out string) {
				m, n := tokenLine.FindStringSubmatch(out), tokenID.FindStringSubmatch(out)
				if m == nil || n == nil {
					t.Fatalf("no token or id printed:\n%s", out)
				}
				tok, id = m[1], n[1]
			}},
		{name: "add, the name taken", args: with("add", "cad110", "-role", "viewer"), code: 1, want: []string{`there is a token "cad110"`}},
		{name: "add, an unknown role", args: with("add", "script", "-role", "root"), code: 2,
			want: []string{`no role "root"`, "viewer, call-taker, dispatcher, supervisor or admin"}},
		{name: "add, no role", args: with("add", "script"), code: 2, want: []string{"-role ROLE is required"}},
		{name: "add, a bad name", args: with("add", "cad/110", "-role", "viewer"), code: 1, want: []string{"a name is 1 to 32"}},
		{name: "list", args: with("list"), code: 0, want: []string{"ID", "NAME", "ROLE", "CREATED", "STATE"},
			then: func(t *testing.T, out string) {
				if !regexp.MustCompile(`(?m)^` + id + ` +cad110 +call-taker +\d{4}-\d\d-\d\d \d\d:\d\d +active$`).MatchString(out) {
					t.Errorf("no active row for %s:\n%s", id, out)
				}
			}},
		{name: "revoke, no id", args: with("revoke"), code: 2, want: []string{"want ID"}},
		{name: "revoke, -role", args: with("revoke", "x", "-role", "admin"), code: 2, want: []string{"-role is for add"}},
		{name: "revoke, unknown", args: with("revoke", "nosuchid"), code: 1, want: []string{`no token "nosuchid"`, "hub token list"}},
		{name: "revoke", args: nil, code: 0, want: []string{"(cad110, role call-taker) revoked"}},
		{name: "revoke again", args: nil, code: 0, want: []string{"was revoked already"}},
		{name: "list, revoked", args: with("list"), code: 0, want: []string{"cad110", "revoked 2"}},
		{name: "add, the name of a revoked one", args: with("add", "cad110", "-role", "dispatcher"), code: 0, want: []string{"made token cad110"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = with("revoke", id)
			}
			var out, errOut bytes.Buffer
			code := tokenCmd(args, &out, &errOut)
			t.Logf("exit %d\n%s%s", code, out.String(), errOut.String())
			got := errOut.String()
			if code == 0 {
				got = out.String() + errOut.String()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("without %q", w)
				}
			}
			if tc.then != nil && code == 0 {
				tc.then(t, out.String())
			}
		})
	}
	if tok == "" {
		t.Fatal("no token made")
	}
	s, err := access.New(access.Config{Dir: dir, Hashing: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bearer(tok); err == nil {
		t.Error("the revoked token still authenticates")
	}
}

// The commands edit the accounts of a running hub: it takes an account, a
// token and a revocation within a second or so.
func TestCommandsOnARunningHub(t *testing.T) {
	h := hubtest.Start(t, nil)
	dir := h.Config.DataDir
	call := func(method, path, bearer, body string) int {
		req, _ := http.NewRequest(method, h.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := h.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	within := func(what string, want int, f func() int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := f()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d", what, got, want)
			}
			// Slower than the hub's reloads (every second): a name is
			// backed off after 3 failed sign-ins in a row.
			time.Sleep(600 * time.Millisecond)
		}
	}

	if code, out, errOut := runUser("wang's password 1\n", "add", "wang", "-role", "dispatcher", "-password-stdin", "-keep", "-data", dir); code != 0 {
		t.Fatalf("user add: exit %d\n%s%s", code, out, errOut)
	}
	within("wang signs in", http.StatusOK, func() int {
		return call("POST", "/api/session", "", `{"name":"wang","password":"wang's password 1"}`)
	})

	var out, errOut bytes.Buffer
	if code := tokenCmd([]string{"add", "script", "-role", "viewer", "-data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("token add: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	tok, id := tokenLine.FindStringSubmatch(out.String())[1], tokenID.FindStringSubmatch(out.String())[1]
	within("the new token", http.StatusOK, func() int { return call("GET", "/api/units", tok, "") })
	if got := call("POST", "/api/incidents", tok, `{"lat":28.2,"lon":112.9,"kind":"theft","priority":2}`); got != http.StatusForbidden {
		t.Errorf("a viewer's token creating an incident: %d, want 403", got)
	}
	out.Reset()
	if code := tokenCmd([]string{"revoke", id, "-data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("token revoke: exit %d\n%s", code, errOut.String())
	}
	within("the revoked token", http.StatusUnauthorized, func() int { return call("GET", "/api/units", tok, "") })

	if code, out, errOut := runUser("", "disable", "wang", "-data", dir); code != 0 {
		t.Fatalf("user disable: exit %d\n%s%s", code, out, errOut)
	}
	within("wang disabled", http.StatusUnauthorized, func() int {
		return call("POST", "/api/session", "", `{"name":"wang","password":"wang's password 1"}`)
	})
}
