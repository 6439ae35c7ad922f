package access

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A restart of the hub keeps the sessions that have not ended — and only
// those: one signed out, one past its idle time, one of a person whose
// password changed since stay ended. The file holds no cookie.
func TestSessionsSurviveRestart(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"wang", "li", "zhao", "qian"} {
		r.addUser(t, n, Dispatcher, false)
	}
	cookies := map[string]string{}
	for _, n := range []string{"wang", "li", "zhao", "qian"} {
		p, c, err := r.signIn(n, goodPW, "10.0.0.1:5000")
		if err != nil {
			t.Fatal(err)
		}
		cookies[n] = c
		if n == "li" {
			r.SignOut(p)
		}
	}
	if _, err := r.Accounts().SetPassword("zhao", "another good one", false, cheap); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(DefaultSessionIdle / 2)
	if _, err := r.Session(cookies["wang"]); err != nil { // activity: wang's idle time starts again
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	cancel()
	<-done // Run saves as it stops

	b, err := os.ReadFile(filepath.Join(r.dir, SessionsFile))
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range cookies {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("the sessions file holds %s's cookie", n)
		}
	}

	r.clock.Add(DefaultSessionIdle/2 + time.Minute) // qian idle past the timeout; wang not
	again, err := New(Config{Dir: r.dir, BootstrapToken: "boot-token", Hashing: cheap, Now: r.clock.Now, Logger: slog.New(r.logs)})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]bool{"wang": true, "li": false, "zhao": false, "qian": false} {
		p, err := again.Session(cookies[n])
		if got := err == nil; got != want {
			t.Errorf("%s's session after the restart: valid %v, want %v (err %v)", n, got, want, err)
		}
		if want && err == nil && (p.Name != n || !again.CSRFOK(p, r.csrfOf(t, cookies[n]))) {
			t.Errorf("%s's session came back as %+v, or without its CSRF token", n, p)
		}
	}
}

// csrfOf is the CSRF token of the session of cookie, read from the service
// that made it.
func (r *rig) csrfOf(t *testing.T, cookie string) string {
	t.Helper()
	p, err := r.Session(cookie)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return r.Describe(p).CSRF
}
