package ui

import (
	"context"
	"errors"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// The session's calls against the fake hub: the cookie is kept (the jar
// stands for the browser), a write carries the CSRF token and a read does
// not, a 429 says how long to wait.
func TestAPISession(t *testing.T) {
	h := newFakeHub(t)
	ctx := context.Background()
	jar, _ := cookiejar.New(nil)
	a := &API{Base: h.srv.URL, Jar: jar}

	if _, err := a.Session(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no session yet: %v", err)
	}
	if _, err := a.SignIn(ctx, fakeName, "nope"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a wrong password: %v", err)
	}
	s, err := a.SignIn(ctx, "WANG", fakePassword) // names in any case
	if err != nil || s.Name != fakeName || s.Role != api.RoleSupervisor || s.CSRF == "" || s.IdleS != 1800 || s.Expires == 0 {
		t.Fatalf("sign-in: %+v %v", s, err)
	}
	// Without the CSRF token a write is refused; with it, it goes.
	var apiErr *APIError
	if _, err := a.CreateIncident(ctx, api.NewIncident{Lat: 28.2, Lon: 112.98, Kind: "theft", Priority: 2}); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Errorf("a write without the CSRF token: %v", err)
	}
	a.CSRF = s.CSRF
	if _, err := a.CreateIncident(ctx, api.NewIncident{Lat: 28.2, Lon: 112.98, Kind: "theft", Priority: 2}); err != nil {
		t.Errorf("a write with the CSRF token: %v", err)
	}
	if got, err := a.Session(ctx); err != nil || got.Name != fakeName || got.CSRF != s.CSRF {
		t.Errorf("who: %+v %v", got, err)
	}
	if _, err := a.Incidents(ctx, true); err != nil {
		t.Errorf("a read: %v", err)
	}
	if err := a.SignOut(ctx); err != nil {
		t.Errorf("sign-out: %v", err)
	}
	if _, err := a.Session(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("after the sign-out: %v", err)
	}
	for _, c := range h.callsSoFar() {
		write := c.Method != "GET"
		switch {
		case c.Path == "/api/session" && c.Method == "POST":
			if c.CSRF != "" {
				t.Errorf("the sign-in sent a CSRF token %q", c.CSRF)
			}
		case write && c.Status != 403 && c.CSRF != s.CSRF:
			t.Errorf("%s %s without the session's CSRF token (%q)", c.Method, c.Path, c.CSRF)
		case !write && c.CSRF != "":
			t.Errorf("a read sent the CSRF token: %s %s", c.Method, c.Path)
		}
	}

	// Three failures in a row, then the hub backs off: 429 with
	// Retry-After, which the error carries.
	for range 3 {
		a.SignIn(ctx, "wang", "nope")
	}
	_, err = a.SignIn(ctx, "wang", fakePassword)
	if !errors.As(err, &apiErr) || apiErr.Status != 429 || apiErr.RetryAfter != 2*time.Second || !strings.Contains(apiErr.Message, "too many") {
		t.Errorf("backing off: %#v", err)
	}
	h.tokenNeverInURLs(t)
}

// Sign-in: a wrong password, then the wait the hub imposes, said with the
// hub's words and the time to wait.
func TestControllerSignInBackoff(t *testing.T) {
	h := newFakeHub(t)
	ct, l := newTestController(t, h)
	for i := range 3 {
		ct.SignIn(fakeName, "wrong-password")
		l.until(t, "a refusal", func() bool { return !ct.Signing() })
		if ct.C.Notice.Text != T(EN, "signin.wrong") {
			t.Errorf("failure %d: %q", i+1, ct.C.Notice.Text)
		}
	}
	ct.SignIn(fakeName, fakePassword)
	l.until(t, "the wait", func() bool { return !ct.Signing() })
	want := Tf(EN, "signin.wait.for", "2 s") + " (too many failed sign-ins for wang: wait 2 s)"
	if ct.SignedIn() || !ct.C.Notice.Error || ct.C.Notice.Text != want || ct.Phase() != PhaseSignedOut {
		t.Errorf("429: signed in %v, notice %q, want %q", ct.SignedIn(), ct.C.Notice.Text, want)
	}
	// The same in Chinese.
	if got := waitText(ZH, &APIError{Status: 429, RetryAfter: 15 * time.Minute}); got != "登录失败次数过多，请在 "+FormatAge(ZH, 15*time.Minute)+" 后重试。" {
		t.Errorf("zh: %q", got)
	}
	if got := waitText(EN, &APIError{Status: 429}); got != T(EN, "signin.wait") {
		t.Errorf("without Retry-After: %q", got)
	}
}

// Every write the console makes carries the session's CSRF token, with the
// cookie; no read does. The stream's ticket is a write too.
func TestCSRFOnEveryWrite(t *testing.T) {
	h := newFakeHub(t)
	ct, l, _ := signedIn(t, h)
	csrf := ct.api.CSRF
	if csrf == "" {
		t.Fatal("no CSRF token kept")
	}
	ct.C.OpenForm(28.2, 112.98)
	ct.CreateIncident()
	l.until(t, "created", func() bool { return ct.C.Scene.SelInc != "" })
	id := ct.C.Scene.SelInc
	ct.AskDispatch(id, "car-1")
	ct.ConfirmPending()
	l.until(t, "assigned", func() bool { return ct.C.Confirm == nil })
	ct.C.StartSighting()
	ct.C.PlaceSighting(28.21, 112.99)
	ct.ReportSighting()
	l.until(t, "sighted", func() bool { return !ct.C.Sighting.Open })
	ct.AskClose(id)
	ct.ConfirmPending()
	l.until(t, "closed", func() bool { return ct.C.Confirm == nil })
	ct.AskReopen(id)
	ct.C.Confirm.Note = "again"
	ct.ConfirmPending()
	l.until(t, "reopened", func() bool { return ct.C.Confirm == nil })
	ct.SelectUnit("car-1", false)
	l.until(t, "the track", func() bool { return len(ct.C.Scene.Track) >= 2 })
	ct.SignOut()
	l.wg.Wait()

	writes := map[string]bool{}
	for _, c := range h.callsSoFar() {
		if c.Method == "GET" {
			if c.CSRF != "" {
				t.Errorf("a read sent the CSRF token: %s %s", c.Method, c.Path)
			}
			continue
		}
		writes[c.Method+" "+c.Path] = true
		if c.Path == "/api/session" && c.Method == "POST" {
			continue // the sign-in: no session yet
		}
		if c.CSRF != csrf || !c.Cookie || c.Status != 0 {
			t.Errorf("%s %s: CSRF %q (want the session's), cookie %v, refused %d", c.Method, c.Path, c.CSRF, c.Cookie, c.Status)
		}
	}
	for _, w := range []string{"POST /api/session", "POST /api/stream/ticket", "POST /api/incidents", "POST /api/incidents/" + id + "/assign",
		"POST /api/incidents/" + id + "/sightings", "POST /api/incidents/" + id + "/close", "POST /api/incidents/" + id + "/reopen", "DELETE /api/session"} {
		if !writes[w] {
			t.Errorf("no %s among %v", w, writes)
		}
	}
	h.tokenNeverInURLs(t)
}

// A reload (a new page in the same browser) carries on with the session:
// no form, the stream starts. Another browser, or after a sign-out, gets
// the form.
func TestSessionSurvivesReload(t *testing.T) {
	h := newFakeHub(t)
	jar, _ := cookiejar.New(nil)
	first, l1 := newTestPage(t, h, jar)
	if first.Phase() != PhaseUnknown {
		t.Errorf("before asking: %s", first.Phase())
	}
	first.Resume()
	if first.Phase() != PhaseChecking {
		t.Errorf("while asking: %s", first.Phase())
	}
	l1.until(t, "no session", func() bool { return first.Phase() == PhaseSignedOut })
	if first.C.Notice.Text != "" {
		t.Errorf("no session is no error: %+v", first.C.Notice)
	}
	first.SignIn(fakeName, fakePassword)
	l1.until(t, "signed in", first.SignedIn)
	h.conn(t)
	first.Stop() // the page goes away; the hub's session stays
	first.Wait()
	if n := h.sessionCount(); n != 1 {
		t.Fatalf("%d sessions after the page went away", n)
	}

	reload, l2 := newTestPage(t, h, jar)
	reload.Resume()
	l2.until(t, "signed in again", reload.SignedIn)
	if w := reload.Who(); w.Name != fakeName || reload.C.Role != api.RoleSupervisor || reload.api.CSRF == "" {
		t.Errorf("after the reload: %+v, role %q", w, reload.C.Role)
	}
	h.conn(t) // the stream runs
	signIns := 0
	for _, c := range h.callsSoFar() {
		if c.Method == "POST" && c.Path == "/api/session" {
			signIns++
		}
	}
	if signIns != 1 {
		t.Errorf("%d sign-ins: the reload asked for the password again", signIns)
	}

	other, l3 := newTestController(t, h) // another browser: no cookie
	other.Resume()
	l3.until(t, "the form", func() bool { return other.Phase() == PhaseSignedOut })

	reload.SignOut()
	l2.wg.Wait()
	again, l4 := newTestPage(t, h, jar)
	again.Resume()
	l4.until(t, "the form after signing out", func() bool { return again.Phase() == PhaseSignedOut })

	// A hub that cannot be reached: the form, saying so.
	gone := NewController(NewConsole(EN), "http://127.0.0.1:1")
	lg := newTestLoop()
	gone.Attach(lg)
	gone.Resume()
	lg.until(t, "the hub unreachable", func() bool { return gone.Phase() == PhaseSignedOut })
	if !gone.C.Notice.Error || !strings.Contains(gone.C.Notice.Text, "cannot be reached") {
		t.Errorf("unreachable: %+v", gone.C.Notice)
	}
	lg.wg.Wait()
}

// The keep-alive asks GET /api/session while signed in; a role changed
// meanwhile shows; a 401 (the session ended on the hub) signs the page out
// with the reason.
func TestKeepAlive(t *testing.T) {
	h := newFakeHub(t)
	ct, l := newTestController(t, h)
	ct.KeepAlive = 20 * time.Millisecond
	ct.SignIn(fakeName, fakePassword)
	l.until(t, "signed in", ct.SignedIn)
	h.conn(t)
	gets := func() int {
		n := 0
		for _, c := range h.callsSoFar() {
			if c.Method == "GET" && c.Path == "/api/session" {
				n++
			}
		}
		return n
	}
	l.until(t, "three keep-alives", func() bool { return gets() >= 3 })

	h.setRole(fakeName, api.RoleViewer)
	ct.AskReopen("inc-1")
	l.until(t, "the new role", func() bool { return ct.C.Role == api.RoleViewer })
	if ct.Who().Role != api.RoleViewer || ct.C.May(api.RoleCallTaker) {
		t.Errorf("after the role change: %+v", ct.Who())
	}

	h.endSessions()
	l.until(t, "signed out", func() bool { return !ct.SignedIn() })
	if ct.C.Notice.Text != T(EN, "signin.expired") || !ct.C.Notice.Error || ct.Phase() != PhaseSignedOut || ct.C.Role != "" {
		t.Errorf("after the session ended: notice %+v, phase %s", ct.C.Notice, ct.Phase())
	}
	ct.Wait() // the stream and the keep-alive ended
	n := gets()
	time.Sleep(100 * time.Millisecond)
	if gets() != n {
		t.Error("the keep-alive goes on after the sign-out")
	}
}

// The stream's next ticket refused (the session ended while the stream was
// down) signs the page out too.
func TestSessionEndedUnderTheStream(t *testing.T) {
	h := newFakeHub(t)
	ct, l, c := signedIn(t, h)
	h.endSessions()
	c.end() // the connection drops; the reconnection's ticket gets a 401
	l.until(t, "signed out", func() bool { return !ct.SignedIn() })
	if ct.C.Notice.Text != T(EN, "signin.expired") {
		t.Errorf("notice %+v", ct.C.Notice)
	}
	ct.Wait()
}

// A one-time password: the change comes before anything else; the form's
// own checks; a wrong current password; then the console.
func TestMustChangePassword(t *testing.T) {
	h := newFakeHub(t)
	h.addUser("li", api.RoleCallTaker, "one-time-pw-1", true)
	ct, l := newTestController(t, h)
	ct.SignIn("li", "one-time-pw-1")
	l.until(t, "the change", func() bool { return ct.Phase() == PhaseChange })
	if ct.SignedIn() || ct.Who().Name != "li" || ct.Change() == nil {
		t.Fatalf("phase %s, who %+v", ct.Phase(), ct.Who())
	}
	es := render(t, &Dashboard{ctl: ct})
	for _, id := range []string{"pw-form", "pw-old", "pw-new", "pw-new2", "pw-change", "signout"} {
		one(t, es, "", map[string]string{"id": id})
	}
	for _, id := range []string{"signin-form", "map", "queue", "new-incident"} {
		if len(find(es, "", map[string]string{"id": id})) != 0 {
			t.Errorf("#%s shows before the password is changed", id)
		}
	}
	one(t, es, "div", map[string]string{"id": "kuaifan", "data-session": PhaseChange})

	for _, c := range []struct{ old, new1, new2, want string }{
		{"one-time-pw-1", "long-enough-1", "long-enough-2", T(EN, "pw.mismatch")},
		{"one-time-pw-1", "short", "short", Tf(EN, "pw.short", MinPassword)},
		{"one-time-pw-1", "", "", Tf(EN, "pw.short", MinPassword)},
		{"one-time-pw-1", "长度不够的密码", "长度不够的密码", Tf(EN, "pw.short", MinPassword)}, // 7 characters, 21 bytes
	} {
		ct.ChangePassword(c.old, c.new1, c.new2)
		if ch := ct.Change(); ch.Err != c.want || ch.Busy {
			t.Errorf("%q/%q/%q: %q, want %q", c.old, c.new1, c.new2, ch.Err, c.want)
		}
	}
	ct.ChangePassword("not-the-password", "my-own-password", "my-own-password")
	l.until(t, "the refusal", func() bool { return !ct.Change().Busy })
	if ct.Change().Err != T(EN, "pw.wrong") || ct.Phase() != PhaseChange {
		t.Errorf("a wrong current password: %q, phase %s", ct.Change().Err, ct.Phase())
	}
	// The same password again: the hub's refusal, in its words.
	ct.ChangePassword("one-time-pw-1", "one-time-pw-1", "one-time-pw-1")
	l.until(t, "the refusal", func() bool { return !ct.Change().Busy })
	if want := Tf(EN, "pw.refused", "the new password is too short or the same"); ct.Change().Err != want {
		t.Errorf("the same password: %q, want %q", ct.Change().Err, want)
	}
	ct.ChangePassword("one-time-pw-1", "my-own-password", "my-own-password")
	l.until(t, "signed in", ct.SignedIn)
	h.conn(t)
	if ct.Change() != nil || ct.C.Role != api.RoleCallTaker {
		t.Errorf("after the change: %+v, role %q", ct.Change(), ct.C.Role)
	}
	// Nothing but the session's own calls before the change.
	for _, c := range h.callsSoFar() {
		if c.Path != "/api/session" && c.Path != "/api/session/password" {
			break
		}
		if c.Status == 403 {
			t.Errorf("%s %s refused before the change", c.Method, c.Path)
		}
	}
	calls := h.callsSoFar()
	firstOther := -1
	lastChange := -1
	for i, c := range calls {
		if c.Path == "/api/session/password" {
			lastChange = i
		}
		if firstOther < 0 && !strings.HasPrefix(c.Path, "/api/session") {
			firstOther = i
		}
	}
	if firstOther < lastChange {
		t.Errorf("a call before the password was changed: %+v", calls[firstOther])
	}
	h.mu.Lock()
	pw, must := h.users["li"].password, h.users["li"].mustChange
	h.mu.Unlock()
	if pw != "my-own-password" || must {
		t.Errorf("the hub has %q, must change %v", pw, must)
	}
}

// Sign-out from the one-time password's form ends the session on the hub.
func TestMustChangeSignOut(t *testing.T) {
	h := newFakeHub(t)
	h.addUser("li", api.RoleCallTaker, "one-time-pw-1", true)
	ct, l := newTestController(t, h)
	ct.SignIn("li", "one-time-pw-1")
	l.until(t, "the change", func() bool { return ct.Phase() == PhaseChange })
	ct.SignOut()
	if ct.Phase() != PhaseSignedOut || ct.Who().Name != "" {
		t.Errorf("phase %s, who %+v", ct.Phase(), ct.Who())
	}
	l.wg.Wait()
	if n := h.sessionCount(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// The timeline and the assignments name the person or the token that
// acted; entries from before accounts still say dispatcher.
func TestActorNames(t *testing.T) {
	name := func(id string) string {
		if id == "car-9" {
			return "湘A-009"
		}
		return id
	}
	for _, c := range []struct {
		lang        Lang
		actor, want string
	}{
		{EN, "user:wang", "wang"},
		{ZH, "user:wang", "wang"},
		{EN, "token:cad110", "cad110 (token)"},
		{ZH, "token:cad110", "cad110（令牌）"},
		{EN, "token:admin", "admin (token)"},
		{EN, "dispatcher", "dispatcher"},
		{ZH, "dispatcher", "调度员"},
		{EN, "auto", "hub"},
		{EN, "car-9", "湘A-009"},
		{EN, "", ""},
	} {
		if got := ActorName(c.lang, c.actor, name); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.lang, c.actor, got, c.want)
		}
	}
	s := app.HTMLString(entry(Entry{Type: api.EntryDispatched, Unit: "car-9", Actor: "user:wang"}, EN, name, nil))
	one(t, parseElems(s), "li", map[string]string{"class": "entry", "data-actor": "user:wang"})
	if !strings.Contains(s, `<span class="actor">wang</span>`) {
		t.Errorf("the person is not named: %s", s)
	}
	s = app.HTMLString(entry(Entry{Type: api.EntryClosed, Actor: "token:cad110"}, ZH, name, nil))
	if !strings.Contains(s, `<span class="actor">cad110（令牌）</span>`) {
		t.Errorf("the token is not named: %s", s)
	}
}
