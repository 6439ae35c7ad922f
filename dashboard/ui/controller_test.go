package ui

import (
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// testLoop plays go-app's UI goroutine: Dispatch queues, the test goroutine
// runs the queue (until), Async runs on goroutines.
type testLoop struct {
	wg      sync.WaitGroup
	q       chan func()
	renders int
	quiet   int
}

func newTestLoop() *testLoop { return &testLoop{q: make(chan func(), 4096)} }

func (l *testLoop) Async(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

func (l *testLoop) Dispatch(f func()) { l.q <- func() { f(); l.renders++ } }

func (l *testLoop) Quiet(f func() bool) {
	l.q <- func() {
		if f() {
			l.renders++
		} else {
			l.quiet++
		}
	}
}

// until runs dispatched functions on the calling goroutine until cond holds.
func (l *testLoop) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case f := <-l.q:
			f()
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// newTestController is a page on the fake hub, in a browser of its own (a
// cookie jar).
func newTestController(t *testing.T, h *fakeHub) (*Controller, *testLoop) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newTestPage(t, h, jar)
}

// newTestPage is a page on the fake hub in the browser whose cookies jar
// keeps: a second page in the same jar is a reload, or another tab.
func newTestPage(t *testing.T, h *fakeHub, jar http.CookieJar) (*Controller, *testLoop) {
	ct := NewController(NewConsole(EN), h.srv.URL)
	ct.Jar = jar
	l := newTestLoop()
	ct.Attach(l)
	t.Cleanup(func() {
		ct.SignOut()
		ct.Wait()
		l.wg.Wait()
	})
	return ct, l
}

func TestControllerSignIn(t *testing.T) {
	h := newFakeHub(t)
	ct, l := newTestController(t, h)

	ct.SignIn("   ", fakePassword)
	if !ct.C.Notice.Error || ct.Signing() {
		t.Errorf("empty name: %+v", ct.C.Notice)
	}
	ct.SignIn(fakeName, "")
	if ct.C.Notice.Text != T(EN, "signin.empty") || ct.Signing() {
		t.Errorf("empty password: %+v", ct.C.Notice)
	}
	ct.SignIn(fakeName, "wrong-password")
	if !ct.Signing() {
		t.Error("not signing")
	}
	l.until(t, "the refusal", func() bool { return !ct.Signing() })
	if ct.SignedIn() || ct.C.Notice.Text != T(EN, "signin.wrong") || ct.Phase() != PhaseSignedOut {
		t.Errorf("wrong password: signed in %v, notice %+v, phase %s", ct.SignedIn(), ct.C.Notice, ct.Phase())
	}
	// The admin's token is no password: the form does not take it.
	ct.SignIn("admin", h.token)
	l.until(t, "the token refused", func() bool { return !ct.Signing() })
	if ct.SignedIn() || ct.C.Notice.Text != T(EN, "signin.wrong") {
		t.Errorf("the admin token as a password: signed in %v, notice %+v", ct.SignedIn(), ct.C.Notice)
	}

	h.mu.Lock()
	h.incidents["old"] = &Incident{ID: "old", Status: api.IncidentClosed, Created: time.Now().UnixMilli(), Figures: api.Figures{ToArrivalS: fp(95)}}
	h.mu.Unlock()
	ct.SignIn(" "+fakeName+"\n", fakePassword)
	l.until(t, "signed in", ct.SignedIn)
	if w := ct.Who(); w.Name != fakeName || w.Role != api.RoleSupervisor || w.CSRF != "" || ct.C.Role != api.RoleSupervisor || ct.Phase() != PhaseSignedIn {
		t.Errorf("signed in as %+v, console role %q, phase %s", w, ct.C.Role, ct.Phase())
	}
	if ct.C.Notice.Text != "" || ct.C.Store.History["old"] == nil || len(ct.C.Store.Districts) != 7 {
		t.Errorf("after sign-in: notice %+v, history %v, %d districts", ct.C.Notice, ct.C.Store.History, len(ct.C.Store.Districts))
	}
	c := h.conn(t)
	now := time.Now().UnixMilli()
	before := l.renders
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 3, TS: now,
		Units:     []Unit{unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)},
		Incidents: []Incident{{ID: "inc-9", Status: api.IncidentOpen, Priority: 2, Lat: 28.21, Lon: 112.99, Created: now}}}})
	l.until(t, "the snapshot", func() bool { return ct.C.Link.State == LinkConnected && len(ct.C.Store.Units) == 1 })
	// The map draws the first snapshot by itself; the panels follow.
	l.until(t, "the panels after the first snapshot", func() bool { return l.renders > before })
	if u := ct.C.Store.Units["car-1"]; u.DistrictID != "furong" {
		t.Errorf("car-1 at 28.2, 112.98 filed under %q, want furong", u.DistrictID)
	}
	if len(ct.C.Store.Incidents) != 1 || ct.C.Store.History["old"] == nil {
		t.Errorf("store after snapshot: %d open, history %v", len(ct.C.Store.Incidents), ct.C.Store.History)
	}
	// A delta of units only does not re-render the page (the map redraws
	// itself; the panels follow on the next tick); incidents do.
	renders := l.renders
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 4, TS: now + 100,
		Units: []Unit{unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.201, 112.98, now+100)}}})
	l.until(t, "the unit delta", func() bool { return ct.C.Store.Units["car-1"].Lat == 28.201 })
	if l.renders != renders {
		t.Error("a unit-only delta re-rendered the page")
	}
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 5, TS: now + 200,
		Incidents: []Incident{{ID: "inc-9", Status: api.IncidentClosed, Priority: 2, Created: now}}}})
	l.until(t, "the incident delta", func() bool { return ct.C.Store.History["inc-9"] != nil })
	if l.renders == renders {
		t.Error("an incident delta did not re-render the page")
	}

	ct.SignOut()
	ct.Wait()
	if ct.SignedIn() || len(ct.C.Store.Units) != 0 || ct.C.Link.State != LinkOffline || ct.C.Role != "" || ct.Who().Name != "" {
		t.Errorf("after sign-out: %v, %d units, link %+v, role %q", ct.SignedIn(), len(ct.C.Store.Units), ct.C.Link, ct.C.Role)
	}
	l.wg.Wait() // the DELETE /api/session
	if n := h.sessionCount(); n != 0 {
		t.Errorf("the hub still holds %d sessions after the sign-out", n)
	}
	h.tokenNeverInURLs(t)
}

func signedIn(t *testing.T, h *fakeHub) (*Controller, *testLoop, *hubConn) {
	ct, l := newTestController(t, h)
	ct.SignIn(fakeName, fakePassword)
	l.until(t, "signed in", ct.SignedIn)
	c := h.conn(t)
	now := time.Now().UnixMilli()
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now,
		Units:     []Unit{unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)},
		Incidents: []Incident{}}})
	l.until(t, "the snapshot", func() bool { return ct.C.Link.State == LinkConnected })
	return ct, l, c
}

func TestControllerDispatchFlow(t *testing.T) {
	h := newFakeHub(t)
	ct, l, c := signedIn(t, h)

	// Create by clicking the map.
	ct.C.OpenForm(28.2012, 112.9834)
	ct.C.Form.Kind, ct.C.Form.Priority, ct.C.Form.Summary, ct.C.Form.Needs = "robbery", 1, "持刀抢劫", "armed, Medical"
	ct.CreateIncident()
	if !ct.C.Form.Busy {
		t.Error("form not busy while posting")
	}
	l.until(t, "created", func() bool { return ct.C.Scene.SelInc != "" })
	h.mu.Lock()
	n := h.created[0]
	h.mu.Unlock()
	if n.Kind != "robbery" || n.Priority != 1 || n.Lat != 28.2012 || n.Summary != "持刀抢劫" || strings.Join(n.Needs, ",") != "armed,medical" {
		t.Errorf("posted %+v", n)
	}
	id := ct.C.Scene.SelInc
	if ct.C.Form.Open || ct.C.Scene.Pending != nil || ct.C.Detail == nil || len(ct.C.Detail.Recommendations) != 1 {
		t.Errorf("after create: form %+v, detail %+v", ct.C.Form, ct.C.Detail)
	}
	if ct.C.Store.Incidents[id] == nil {
		t.Error("the new incident is not in the queue before the stream shows it")
	}

	// Invalid needs stay in the form.
	ct.C.OpenForm(28.2, 112.98)
	ct.C.Form.Needs = "k9!"
	ct.CreateIncident()
	if !ct.C.Notice.Error || ct.C.Form.Busy || !ct.C.Form.Open {
		t.Errorf("bad need: notice %+v form %+v", ct.C.Notice, ct.C.Form)
	}
	ct.C.CancelForm()

	// Dispatch the first recommendation: the dialog names it, the
	// confirmation sends it and closes the dialog.
	ct.AskDispatch(id, "car-1")
	if p := ct.C.Confirm; p == nil || p.Action != ActDispatch || p.Incident != id || p.Unit != "car-1" {
		t.Fatalf("confirmation %+v", ct.C.Confirm)
	}
	ct.ConfirmPending()
	l.until(t, "assigned", func() bool {
		inc := ct.C.Store.Incidents[id]
		return inc != nil && len(inc.Assignments) == 1 && ct.C.Confirm == nil
	})
	if got := ct.C.Selected().Assignments[0]; got.Unit != "car-1" || got.State != api.AssignDispatched {
		t.Errorf("assignment %+v", got)
	}
	if ct.C.Notice.Error {
		t.Errorf("notice %+v", ct.C.Notice)
	}
	// The stream says the unit acked: the assignment turns enroute.
	inc := *ct.C.Selected()
	inc.Assignments = []api.Assignment{{Unit: "car-1", State: api.AssignEnroute}}
	inc.Timeline = append(append([]Entry{}, inc.Timeline...), Entry{Type: "ack", Unit: "car-1", Actor: "car-1"})
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: time.Now().UnixMilli(), Incidents: []Incident{inc}}})
	l.until(t, "enroute", func() bool { return ct.C.Selected().Assignments[0].State == api.AssignEnroute })

	// A refused dispatch says why, in the dialog, which stays.
	ct.AskDispatch(id, "busy-unit")
	ct.ConfirmPending()
	l.until(t, "the 409", func() bool { return ct.C.Notice.Error })
	if !strings.Contains(ct.C.Notice.Text, "not available") {
		t.Errorf("notice %q", ct.C.Notice.Text)
	}
	if p := ct.C.Confirm; p == nil || p.Busy || !strings.Contains(p.Err, "not available") {
		t.Errorf("the dialog after the 409: %+v", p)
	}
	ct.C.CancelConfirm()

	// Close it, with a note.
	ct.AskClose(id)
	ct.C.Confirm.Note = "  suspect detained  "
	ct.ConfirmPending()
	l.until(t, "closed", func() bool { return ct.C.Store.History[id] != nil })
	if ct.C.Store.Incidents[id] != nil || ct.C.Selected().Status != api.IncidentClosed || ct.C.Confirm != nil {
		t.Error("closed incident still open")
	}
	h.mu.Lock()
	closed, notes := h.closed, h.closeNotes
	h.mu.Unlock()
	if len(closed) != 1 || closed[0] != id || notes[0] != "suspect detained" {
		t.Errorf("the hub closed %v with notes %q", closed, notes)
	}

	// Reopen it: a reason is required.
	ct.AskReopen(id)
	ct.ConfirmPending()
	if p := ct.C.Confirm; p == nil || p.Busy || p.Err == "" {
		t.Fatalf("reopen without a reason: %+v", p)
	}
	ct.C.Confirm.Note = "caller rang again: the suspect is back"
	ct.ConfirmPending()
	l.until(t, "reopened", func() bool { return ct.C.Store.Incidents[id] != nil && ct.C.Confirm == nil })
	h.mu.Lock()
	reopened := h.reopened
	h.mu.Unlock()
	if len(reopened) != 1 || reopened[0] != id+"/caller rang again: the suspect is back" {
		t.Errorf("the hub reopened %v", reopened)
	}

	// Select a unit: its track since ten minutes ago (hub time).
	ct.SelectUnit("car-1", true)
	l.until(t, "the track", func() bool { return len(ct.C.Scene.Track) >= 2 })
	h.mu.Lock()
	req := h.trackSince[0]
	h.mu.Unlock()
	since, _ := strconv.ParseInt(strings.TrimPrefix(req, "car-1@"), 10, 64)
	if want := time.Now().Add(-TrackWindow).UnixMilli(); since < want-2000 || since > want+2000 {
		t.Errorf("track since %d, want about %d", since, want)
	}
	if v := ct.C.View(); !near(v.Lat, 28.2, 1e-9) || !near(v.Lon, 112.98, 1e-9) || v.Zoom < 14 {
		t.Errorf("map not centred on the unit: %+v", v)
	}
	h.tokenNeverInURLs(t)
}

// A session the hub ended (a 401 on a call) signs the dispatcher out, with
// a reason.
func TestControllerTokenRevoked(t *testing.T) {
	h := newFakeHub(t)
	ct, l, _ := signedIn(t, h)
	h.endSessions()
	ct.C.SelectIncident("inc-1")
	ct.RefreshDetail()
	l.until(t, "signed out", func() bool { return !ct.SignedIn() })
	if ct.C.Notice.Text != T(EN, "signin.expired") || ct.C.Link.State != LinkOffline || ct.C.Scene.SelInc != "" {
		t.Errorf("notice %+v link %+v", ct.C.Notice, ct.C.Link)
	}
	ct.Wait() // the stream goroutine ended
}

// The tick refreshes a selected open incident's recommendations every 5 s.
func TestControllerTick(t *testing.T) {
	h := newFakeHub(t)
	ct, l, _ := signedIn(t, h)
	h.mu.Lock()
	h.incidents["inc-7"] = &Incident{ID: "inc-7", Status: api.IncidentOpen, Priority: 1,
		Recommendations: []api.Recommendation{{Candidate: api.Candidate{Unit: "car-1", ETAS: 30, Tier: 1}}}}
	h.mu.Unlock()
	ct.C.SelectIncident("inc-7")
	ct.C.Lock()
	ct.C.Store.Merge(&Incident{ID: "inc-7", Status: api.IncidentOpen, Priority: 1})
	ct.C.Unlock()
	for range 4 {
		ct.Tick()
	}
	if ct.C.Detail != nil {
		t.Error("refreshed before 5 s")
	}
	ct.Tick()
	l.until(t, "the refresh", func() bool { return ct.C.Detail != nil })
	if len(ct.C.Detail.Recommendations) != 1 {
		t.Errorf("detail %+v", ct.C.Detail)
	}
}
