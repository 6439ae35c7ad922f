package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
	wire "kuaifan/protocol/api"
)

// The lines after the banner say who signs in how: the first admin's
// one-time password on the start that made it, where it is kept on a later
// one, nothing once it changed; the admin token is for machines.
func TestSignInLines(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.AdminToken = "" })
	dir := h.Config.DataDir
	pwFile := filepath.Join(dir, access.FirstAdminFile)
	tokenLine := "  admin token        in " + filepath.Join(dir, hub.TokenFile) + ": for machines (scripts, the simulator, curl), not people\n"
	signInLine := "  sign in            at the dashboard with a name and password (accounts: hub user -h)\n"

	var password string
	for _, step := range []struct {
		name    string
		prepare func() // before the hub (re)starts
		want    func() []string
		not     []string
	}{
		{name: "first start", want: func() []string {
			b, err := os.ReadFile(pwFile)
			if err != nil {
				t.Fatal(err)
			}
			password = strings.TrimSpace(string(b))
			return []string{tokenLine, signInLine,
				"  first admin        admin / " + password + "\n" +
					"                     one-time: change it at the first sign-in; kept in " + pwFile + " until then\n"}
		}},
		{name: "restart, the password unchanged", prepare: func() {}, want: func() []string {
			return []string{tokenLine, signInLine,
				"  first admin        admin: its one-time password is in " + pwFile + " (change it at the first sign-in)\n"}
		}, not: []string{"admin / "}},
		{name: "restart, the password changed", prepare: func() {
			if code, out, errOut := runUser("", "passwd", "admin", "-data", dir); code != 0 {
				t.Fatalf("hub user passwd: exit %d\n%s%s", code, out, errOut)
			}
		}, want: func() []string { return []string{tokenLine, signInLine} }, not: []string{"first admin"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.prepare != nil {
				h.Stop()
				step.prepare()
				h = h.Restart()
			}
			var out bytes.Buffer
			signIn(&out, h.Hub)
			t.Logf("\n%s", out.String())
			for _, w := range step.want() {
				if !strings.Contains(out.String(), w) {
					t.Errorf("without %q", w)
				}
			}
			for _, n := range step.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("with %q", n)
				}
			}
			if step.prepare == nil {
				// The password printed signs in, once, to change it.
				resp, err := h.Client.Post(h.URL+"/api/session", "application/json",
					strings.NewReader(`{"name":"admin","password":"`+password+`"}`))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var s wire.Session
				if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK || !s.MustChange || s.Role != "admin" {
					t.Errorf("signing in with the password printed: %d %+v %v", resp.StatusCode, s, err)
				}
			}
		})
	}
}

// With HUB_ADMIN_TOKEN (hubtest's configured token) the line says so.
func TestSignInLinesTokenFromEnv(t *testing.T) {
	h := hubtest.Start(t, nil)
	var out bytes.Buffer
	signIn(&out, h.Hub)
	if want := "  admin token        from HUB_ADMIN_TOKEN: for machines"; !strings.Contains(out.String(), want) {
		t.Errorf("without %q:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), "  first admin        admin / ") {
		t.Errorf("a first start without the first admin's password:\n%s", out.String())
	}
}
