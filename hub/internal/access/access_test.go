package access

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	wire "kuaifan/protocol/api"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logRecords keeps what the service logs.
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Resolve().Any()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

// find answers the records with message msg and the attributes given.
func (l *logRecords) find(msg string, attrs map[string]any) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
next:
	for _, r := range l.recs {
		if r["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if r[k] != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

type rig struct {
	*Service
	clock *clock
	logs  *logRecords
	dir   string
}

const goodPW = "correct horse battery"

func newRig(t *testing.T) *rig {
	t.Helper()
	c, logs, dir := newClock(), &logRecords{}, t.TempDir()
	s, err := New(Config{Dir: dir, BootstrapToken: "boot-token", Hashing: cheap, Now: c.Now, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{Service: s, clock: c, logs: logs, dir: dir}
}

func (r *rig) addUser(t *testing.T, name string, role Role, mustChange bool) {
	t.Helper()
	if err := r.Accounts().AddUser(name, role, goodPW, mustChange, cheap); err != nil {
		t.Fatal(err)
	}
}

// signIn answers the error of a sign-in: nil, ErrWrongPassword, a *WaitError.
func (r *rig) signIn(name, pw, addr string) (Principal, string, error) {
	return r.SignIn(context.Background(), name, pw, addr)
}

func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(1000); got != 5*time.Minute {
		t.Errorf("backoff(1000) = %v, want the 5 min cap", got)
	}
}

// Three failures in a row for a name: each further attempt waits 2, 4, 8…
// s; the tenth locks the name for 15 min, whatever the password; every
// failure is logged with the name, the address and the count.
func TestSignInBackoffAndLock(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "wang", Dispatcher, false)
	const addr = "10.0.0.7:50123"
	wait := func(err error) *WaitError {
		t.Helper()
		var w *WaitError
		if !errors.As(err, &w) {
			t.Fatalf("err %v, want a WaitError", err)
		}
		return w
	}
	for i := 1; i <= 3; i++ {
		if _, _, err := r.signIn("wang", "wrong password", addr); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure %d: %v, want ErrWrongPassword", i, err)
		}
	}
	// Backing off: even the right password waits.
	w := wait(func() error { _, _, err := r.signIn("wang", goodPW, addr); return err }())
	if w.Locked || !w.At.Equal(r.clock.Now().Add(2*time.Second)) {
		t.Fatalf("after 3 failures: %+v, want a wait of 2 s, not locked", w)
	}
	// Each further failure doubles the wait, until the tenth locks.
	for i, d := range []time.Duration{2, 4, 8, 16, 32, 64} {
		r.clock.Add(d*time.Second - time.Millisecond)
		wait(func() error { _, _, err := r.signIn("wang", goodPW, addr); return err }())
		r.clock.Add(time.Millisecond)
		if _, _, err := r.signIn("WANG", "wrong password", addr); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure %d: %v", i+4, err)
		}
		w := wait(func() error { _, _, err := r.signIn("wang", "wrong password", addr); return err }())
		if w.Locked || !w.At.Equal(r.clock.Now().Add(2*d*time.Second)) {
			t.Fatalf("after %d failures: %+v, want a wait of %v", i+4, w, 2*d*time.Second)
		}
	}
	r.clock.Add(128 * time.Second)
	if _, _, err := r.signIn("wang", "wrong password", addr); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("failure 10: %v", err)
	}
	w = wait(func() error { _, _, err := r.signIn("wang", goodPW, addr); return err }())
	lockEnd := r.clock.Now().Add(DefaultLockFor)
	if !w.Locked || !w.At.Equal(lockEnd) || !strings.Contains(w.Error(), "locked") {
		t.Fatalf("after 10 failures: %+v (%v), want locked until %v", w, w, lockEnd)
	}
	if got := r.LockedUntil("wang"); !got.Equal(lockEnd) {
		t.Errorf("LockedUntil = %v, want %v", got, lockEnd)
	}
	u, _ := r.Accounts().User("wang")
	if info := r.UserInfo(u); info.LockedUntil != lockEnd.UnixMilli() {
		t.Errorf("the user's locked_until = %d, want %d", info.LockedUntil, lockEnd.UnixMilli())
	}
	r.clock.Add(DefaultLockFor - time.Second)
	wait(func() error { _, _, err := r.signIn("wang", goodPW, addr); return err }())

	if n := len(r.logs.find("sign-in failed", map[string]any{"user": "wang", "addr": "10.0.0.7"})); n != 9 {
		t.Errorf("%d failures logged with the name and the address, want 9 (and the 10th as the lock)", n)
	}
	if got := r.logs.find("sign-in failed", map[string]any{"user": "wang", "failures": int64(3)}); len(got) != 1 || got[0]["retry_after"] != 2*time.Second {
		t.Errorf("the third failure logged %v, want retry_after 2s", got)
	}
	if n := len(r.logs.find("sign-in locked after failures", map[string]any{"user": "wang", "failures": int64(10)})); n != 1 {
		t.Errorf("the lock logged %d times, want once", n)
	}

	// An admin's reset clears the lock at once.
	pw, err := r.ResetPassword(context.Background(), "wang", "")
	if err != nil {
		t.Fatal(err)
	}
	if !r.LockedUntil("wang").IsZero() {
		t.Error("still locked after the reset")
	}
	p, _, err := r.signIn("wang", pw, addr)
	if err != nil || !p.MustChange {
		t.Fatalf("sign-in with the reset password: %v (must change %v), want a session that must change it", err, p.MustChange)
	}
}

// A success clears the count: two failures, a success, two failures more
// do not back off.
func TestSignInSuccessResets(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "li", Viewer, false)
	fail := func() {
		t.Helper()
		if _, _, err := r.signIn("li", "wrong password", "10.0.0.8:1"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure: %v, want ErrWrongPassword", err)
		}
	}
	fail()
	fail()
	if _, _, err := r.signIn("li", goodPW, "10.0.0.8:1"); err != nil {
		t.Fatal(err)
	}
	fail()
	fail()
	if _, _, err := r.signIn("li", goodPW, "10.0.0.8:1"); err != nil {
		t.Fatalf("after 2 failures, a success, 2 failures: %v, want a sign-in (the count was cleared)", err)
	}
}

// An unknown name and a disabled account answer as a wrong password does,
// and back off and lock the same way.
func TestSignInSameAnswer(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "zhao", Viewer, false)
	r.addUser(t, "boss", Admin, false)
	disabled := true
	if _, err := r.Accounts().Update("zhao", nil, &disabled); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, pw string }{{"zhao", goodPW}, {"nobody", goodPW}, {"boss", "wrong password"}} {
		_, _, err := r.signIn(c.name, c.pw, "10.0.0.9:1")
		if !errors.Is(err, ErrWrongPassword) || err.Error() != ErrWrongPassword.Error() {
			t.Errorf("%s: %v, want %v", c.name, err, ErrWrongPassword)
		}
	}
	for range 2 {
		r.signIn("nobody", goodPW, "10.0.0.9:1")
	}
	var w *WaitError
	if _, _, err := r.signIn("nobody", goodPW, "10.0.0.9:1"); !errors.As(err, &w) {
		t.Errorf("an unknown name after 3 failures: %v, want it to back off as a known one", err)
	}
}

// Failures from one address, whatever the names, back off the address too
// (later than a name: a command centre signs in from one NAT), and another
// address is not held up.
func TestSignInAddressBackoff(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "qian", Viewer, false)
	for i := range DefaultBackoffAfter * addrFactor {
		name := "guess" + string(rune('a'+i))
		if _, _, err := r.signIn(name, "wrong password", "192.0.2.1:4000"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("failure %d from the address: %v", i+1, err)
		}
	}
	var w *WaitError
	if _, _, err := r.signIn("qian", goodPW, "192.0.2.1:4001"); !errors.As(err, &w) || w.Locked {
		t.Errorf("a 16th attempt from the address: %v, want it to wait", err)
	}
	if _, _, err := r.signIn("qian", goodPW, "192.0.2.2:4000"); err != nil {
		t.Errorf("another address: %v", err)
	}
	if len(r.logs.find("sign-ins from address backing off", map[string]any{"addr": "192.0.2.1"})) != 1 {
		t.Error("the address's backoff is not logged")
	}
}

// Sessions end after the idle time without a call, at the latest SessionMax
// after sign-in, when signed out, when the password changes, and when the
// account is disabled; a role change applies to the next call.
func TestSessionLifetime(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "sun", Dispatcher, false)
	session := func(cookie string) error { _, err := r.Session(cookie); return err }
	in := func() (Principal, string) {
		t.Helper()
		p, c, err := r.signIn("sun", goodPW, "10.1.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		return p, c
	}

	_, c := in()
	r.clock.Add(DefaultSessionIdle - time.Second)
	if err := session(c); err != nil {
		t.Fatalf("a call within the idle time: %v", err)
	}
	r.clock.Add(DefaultSessionIdle - time.Second) // counts from the last call
	if err := session(c); err != nil {
		t.Fatalf("a call within the idle time of the last: %v", err)
	}
	r.clock.Add(DefaultSessionIdle)
	if err := session(c); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("after the idle time: %v, want ErrSessionEnded", err)
	}

	_, c = in()
	for elapsed := time.Duration(0); elapsed < DefaultSessionMax-20*time.Minute; elapsed += 20 * time.Minute {
		r.clock.Add(20 * time.Minute)
		if err := session(c); err != nil {
			t.Fatalf("a busy session %v after sign-in: %v", elapsed, err)
		}
	}
	r.clock.Add(20 * time.Minute)
	if err := session(c); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("a busy session past SessionMax: %v, want ErrSessionEnded", err)
	}

	p, c := in()
	if d := r.Describe(p); d.Name != "sun" || d.Role != wire.RoleDispatcher || d.CSRF == "" || d.Token ||
		d.Expires != r.clock.Now().Add(DefaultSessionMax).UnixMilli() || d.IdleS != int64(DefaultSessionIdle/time.Second) {
		t.Errorf("Describe = %+v", d)
	}
	if !r.CSRFOK(p, r.Describe(p).CSRF) || r.CSRFOK(p, "") || r.CSRFOK(p, r.Describe(p).CSRF+"x") {
		t.Error("CSRFOK does not take exactly the session's token")
	}
	_, c2 := in()
	if c2 == c {
		t.Fatal("two sign-ins got the same cookie")
	}
	r.SignOut(p)
	if err := session(c); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("after sign-out: %v", err)
	}
	if err := session(c2); err != nil {
		t.Errorf("signing one session out ended another: %v", err)
	}

	supervisor := Supervisor
	if _, err := r.Accounts().Update("sun", &supervisor, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := r.Session(c2); err != nil || p.Role != Supervisor {
		t.Errorf("after a role change: %+v %v, want the new role at once", p, err)
	}
	disabled := true
	if _, err := r.Accounts().Update("sun", nil, &disabled); err != nil {
		t.Fatal(err)
	}
	if err := session(c2); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("after the account is disabled: %v", err)
	}
	enabled := false
	if _, err := r.Accounts().Update("sun", nil, &enabled); err != nil {
		t.Fatal(err)
	}
	if err := session(c2); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("enabling the account again revived a session: %v", err)
	}
}

// ChangePassword: the old password must match (a wrong one counts as a
// failed sign-in); the person's other sessions end, this one stays and no
// longer must change; the first admin's password file goes.
func TestChangePassword(t *testing.T) {
	r := newRig(t)
	file, made, err := r.EnsureFirstAdmin()
	if err != nil || !made {
		t.Fatalf("first admin: %v %v", made, err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 || file != filepath.Join(r.dir, FirstAdminFile) {
		t.Fatalf("first admin's password file %s: %v", file, err)
	}
	b, _ := os.ReadFile(file)
	first := strings.TrimSpace(string(b))
	if _, again, _ := r.EnsureFirstAdmin(); again {
		t.Error("a second start made the first admin again")
	}
	p, c, err := r.signIn("admin", first, "10.2.0.1:1")
	if err != nil || !p.MustChange || p.Role != Admin {
		t.Fatalf("the first admin's sign-in: %+v %v", p, err)
	}
	_, other, err := r.signIn("admin", first, "10.2.0.2:1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.ChangePassword(ctx, p, first, "short", "10.2.0.1:1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a short new password: %v", err)
	}
	if err := r.ChangePassword(ctx, p, first, first, "10.2.0.1:1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("the same password: %v", err)
	}
	for range DefaultBackoffAfter {
		if err := r.ChangePassword(ctx, p, "not the old one", "a new password!", "10.2.0.1:1"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("a wrong old password: %v", err)
		}
	}
	var w *WaitError
	if err := r.ChangePassword(ctx, p, first, "a new password!", "10.2.0.1:1"); !errors.As(err, &w) {
		t.Fatalf("after 3 wrong old passwords: %v, want to wait as a sign-in does", err)
	}
	r.clock.Add(2 * time.Second)
	if err := r.ChangePassword(ctx, p, first, "a new password!", "10.2.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if q, err := r.Session(c); err != nil || q.MustChange {
		t.Errorf("the session that changed it: %+v %v, want it alive and no longer must change", q, err)
	}
	if _, err := r.Session(other); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("another session of the person: %v, want ended", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the first admin's password file is still there: %v", err)
	}
	if _, _, err := r.signIn("admin", "a new password!", "10.2.0.3:1"); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
}

// Authenticate: the bootstrap token, API tokens (revoked: refused at the
// next call), the session cookie, and every malformed credential.
func TestAuthenticate(t *testing.T) {
	r := newRig(t)
	tok, rec, err := r.Accounts().AddToken("CAD110", CallTaker)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "kft_"+rec.ID+"_") || rec.Name != "cad110" {
		t.Errorf("token %q, record %+v", tok, rec)
	}
	r.addUser(t, "zhou", Viewer, false)
	_, cookie, err := r.signIn("zhou", goodPW, "10.3.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	req := func(auth, cookie string) *http.Request {
		q, _ := http.NewRequest("GET", "/api/units", nil)
		if auth != "" {
			q.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			q.AddCookie(&http.Cookie{Name: wire.SessionCookie, Value: cookie})
		}
		return q
	}
	for _, c := range []struct {
		auth, cookie string
		actor, role  string
		err          error
	}{
		{"Bearer boot-token", "", "token:admin", "admin", nil},
		{"bearer boot-token", "", "token:admin", "admin", nil},
		{"Bearer " + tok, "", "token:cad110", "call-taker", nil},
		{"", cookie, "user:zhou", "viewer", nil},
		{"Bearer " + tok, "not-a-session", "token:cad110", "call-taker", nil}, // the token decides
		{"", "", "", "", ErrNoCredentials},
		{"Bearer", "", "", "", ErrBadToken},
		{"Basic Ym9vdC10b2tlbg==", "", "", "", ErrBadToken},
		{"Bearer boot-token2", "", "", "", ErrBadToken},
		{"Bearer " + tok + "x", "", "", "", ErrBadToken},
		{"Bearer kft_" + rec.ID, "", "", "", ErrBadToken},
		{"Bearer kft_nosuch_" + strings.SplitN(tok, "_", 3)[2], "", "", "", ErrBadToken},
		{"Bearer not-a-session", cookie, "", "", ErrBadToken}, // a bad token is not saved by a cookie
		{"", cookie + "x", "", "", ErrSessionEnded},
	} {
		p, err := r.Authenticate(req(c.auth, c.cookie))
		if !errors.Is(err, c.err) || p.Actor() != c.actor || (c.err == nil && p.Role.String() != c.role) {
			t.Errorf("Authorization %q cookie %q: %s %s %v; want %s %s %v", c.auth, c.cookie, p.Actor(), p.Role, err, c.actor, c.role, c.err)
		}
	}
	if _, err := r.Accounts().RevokeToken(rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(req("Bearer "+tok, "")); !errors.Is(err, ErrBadToken) {
		t.Errorf("a revoked token: %v", err)
	}
	if _, err := r.Accounts().RevokeToken("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown id: %v", err)
	}
	// The name is free again once revoked.
	if _, _, err := r.Accounts().AddToken("cad110", Viewer); err != nil {
		t.Errorf("a new token of a revoked one's name: %v", err)
	}
	if _, _, err := r.Accounts().AddToken("cad110", Viewer); !errors.Is(err, ErrExists) {
		t.Errorf("a second live token of one name: %v", err)
	}
}

// Another process's edit of accounts.json (the hub user command) is read
// by Reload; a file that does not read keeps what was there.
func TestAccountsReload(t *testing.T) {
	dir := t.TempDir()
	mine, err := OpenAccounts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mine.AddUser("wu", Viewer, goodPW, false, cheap); err != nil {
		t.Fatal(err)
	}
	other, err := OpenAccounts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.AddUser("zheng", Dispatcher, goodPW, true, cheap); err != nil {
		t.Fatal(err)
	}
	if _, ok := mine.User("zheng"); ok {
		t.Fatal("seen before a reload")
	}
	if changed, err := mine.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v %v, want a change", changed, err)
	}
	if u, ok := mine.User("zheng"); !ok || u.Role != Dispatcher || !u.MustChange {
		t.Errorf("after the reload: %+v %v", u, ok)
	}
	if changed, _ := mine.Reload(); changed {
		t.Error("a second reload without a change says changed")
	}
	// Edits by both keep both: each is made on what the file holds.
	if err := mine.AddUser("feng", Viewer, goodPW, false, cheap); err != nil {
		t.Fatal(err)
	}
	other.Reload()
	if len(other.Users()) != 3 {
		t.Errorf("users %v, want wu, zheng, feng", other.Users())
	}
	if st, err := os.Stat(mine.Path()); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("accounts file mode: %v", err)
	}
	if err := os.WriteFile(mine.Path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mine.Reload(); err == nil {
		t.Error("a broken file reloads without an error")
	}
	if _, ok := mine.User("wu"); !ok {
		t.Error("a broken file dropped the accounts")
	}
}

// No change leaves the hub without an enabled admin; a person cannot
// disable themselves or give up their own admin role.
func TestLastAdmin(t *testing.T) {
	r := newRig(t)
	r.addUser(t, "chief", Admin, false)
	r.addUser(t, "wei", Viewer, false)
	viewer, yes := Viewer, true
	if _, err := r.Accounts().Update("chief", &viewer, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if _, err := r.Accounts().Update("chief", nil, &yes); !errors.Is(err, ErrConflict) {
		t.Errorf("disabling the last admin: %v", err)
	}
	admin := Admin
	if _, err := r.Accounts().Update("wei", &admin, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := r.signIn("chief", goodPW, "10.4.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.UpdateUser(p, "chief", &viewer, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("an admin taking their own admin role: %v", err)
	}
	if _, err := r.UpdateUser(p, "chief", nil, &yes); !errors.Is(err, ErrConflict) {
		t.Errorf("an admin disabling themselves: %v", err)
	}
	if _, err := r.UpdateUser(p, "wei", &viewer, nil); err != nil {
		t.Errorf("an admin demoting another admin: %v", err)
	}
	if _, err := r.UpdateUser(p, "nobody", &viewer, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown account: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for i, name := range wire.Roles {
		r, err := ParseRole(name)
		if err != nil || r != Role(i+1) || r.String() != name {
			t.Errorf("ParseRole(%q) = %v %v", name, r, err)
		}
		b, _ := r.MarshalText()
		var back Role
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("%v does not round-trip as text: %q %v", r, b, err)
		}
		for j, other := range wire.Roles {
			if got, want := r.Allows(Role(j+1)), wire.RoleAtLeast(name, other); got != want || got != (i >= j) {
				t.Errorf("%s allows %s: %v, wire says %v", name, other, got, want)
			}
		}
	}
	for _, bad := range []string{"", "public", "Admin", "ADMIN", " viewer", "calltaker", "root"} {
		if r, err := ParseRole(bad); err == nil || r != Public {
			t.Errorf("ParseRole(%q) = %v %v, want an error", bad, r, err)
		}
	}
	var r Role
	if err := r.UnmarshalText([]byte("public")); err == nil {
		t.Error(`"public" reads as a role`)
	}
	if s := Role(9).String(); s != "role(9)" {
		t.Errorf("Role(9) = %q", s)
	}
}

// The hub reloads the file (Run, every second) while its API edits it: no
// data race, and an edit is seen at once by the one who made it — a reload
// that read the file before the edit must not put the old accounts back.
func TestAccountsReloadWhileEditing(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenAccounts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for i := range 40 {
		name := "user" + strconv.Itoa(i)
		if err := a.AddUser(name, Viewer, goodPW, false, cheap); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.User(name); !ok {
			t.Fatalf("%s is not there right after AddUser returned: a reload put older accounts back", name)
		}
		tok, _, err := a.AddToken("tok"+strconv.Itoa(i), Viewer)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.token(tok); !ok {
			t.Fatalf("token %d does not work right after AddToken returned", i)
		}
	}
}

// The session that changes its password stays, even when it is used while
// the change is being made (the dashboard polls): the new password's Gen
// must not end it between the accounts file taking it and the session
// learning it.
func TestChangePasswordKeepsABusySession(t *testing.T) {
	for round := range 20 {
		r := newRig(t)
		r.addUser(t, "kim", Viewer, false)
		p, c, err := r.signIn("kim", goodPW, "10.9.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					r.Session(c)
				}
			}
		})
		err = r.ChangePassword(context.Background(), p, goodPW, "another password "+strconv.Itoa(round), "10.9.0.1:1")
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Session(c); err != nil {
			t.Fatalf("round %d: the session that changed its password: %v", round, err)
		}
	}
}
