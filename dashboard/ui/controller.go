package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/dashboard/webapp"
	"kuaifan/protocol/api"
)

// Loop is the UI goroutine as the Controller sees it: Async runs work off
// it, Dispatch runs a function on it and re-renders, Quiet runs one that
// says whether to re-render. ctxLoop adapts an app.Context; tests use their
// own.
type Loop interface {
	Async(func())
	Dispatch(func())
	Quiet(func() (render bool))
}

type ctxLoop struct{ ctx app.Context }

func (l ctxLoop) Async(f func())    { l.ctx.Async(f) }
func (l ctxLoop) Dispatch(f func()) { l.ctx.Dispatch(func(app.Context) { f() }) }
func (l ctxLoop) Quiet(f func() bool) {
	l.ctx.Dispatch(func(ctx app.Context) {
		if !f() {
			ctx.PreventUpdate()
		}
	})
}

// Controller does the dashboard's I/O: the session (sign-in, the check at
// load, the keep-alive, sign-out, the one-time password's change), the
// stream, the API calls behind the buttons. It runs calls off the UI
// goroutine and hands results to the Console on it. One per page.
type Controller struct {
	C    *Console
	Base string                                              // the hub's origin
	Dial func(ctx context.Context, url string) (Conn, error) // nil: the browser's WebSocket
	Now  func() time.Time
	// Jar stands for the browser's cookies on the host (tests, tools): the
	// session cookie lives there. nil in the browser, which keeps it.
	Jar webapp.Jar
	// KeepAlive is how often a signed-in page tells the hub it is still
	// open (GET /api/session); 0 is KeepAliveEvery.
	KeepAlive time.Duration

	ui       Loop
	sound    alarm           // the browser's alarm sound (idle on the host)
	api      *API            // the session's, once its console runs; nil otherwise
	who      api.Session     // who is signed in (without the CSRF token, which is api's)
	change   *PasswordChange // a one-time password to change before anything else
	stream   *Stream
	stop     context.CancelFunc
	sess     context.Context
	done     chan struct{}
	epoch    int  // bumped by Stop: an answer to an earlier sign-in is dropped
	signing  bool // a sign-in is being checked (the form waits)
	resuming bool // the session is being checked or loaded (no form)
	checked  bool // the hub has said once whether there is a session
	synced   bool // the session's first snapshot has been applied
	ticks    int
	// Timing of the last sign-in, in performance.now() ms (0 on the host):
	// where the wait for the live map goes (kuaifanStats.signin).
	Timing SignInTiming
}

// KeepAliveEvery is how often an open page keeps its session alive: well
// inside the hub's idle timeout (30 minutes by default).
const KeepAliveEvery = 2 * time.Minute

// MinPassword is the hub's shortest password, in characters.
const MinPassword = 10

// PasswordChange is the form a person with a one-time password fills in
// before anything else (api.Session.MustChange).
type PasswordChange struct {
	api  *API
	Busy bool
	Err  string
}

// SignInTiming marks the steps from Sign in to the live map.
type SignInTiming struct {
	Clicked, Accepted, Synced, Drawn float64
}

// The page's phases (Phase; #kuaifan[data-session]).
const (
	PhaseUnknown   = "unknown"     // not asked yet: the server's pre-render, the first moment
	PhaseChecking  = "checking"    // the session is being checked or its console loaded
	PhaseSignedOut = "signed-out"  // the sign-in form
	PhaseChange    = "must-change" // a one-time password to change first
	PhaseSignedIn  = "signed-in"   // the console
)

// NewController returns a signed-out controller for the hub at base.
func NewController(c *Console, base string) *Controller {
	return &Controller{C: c, Base: base}
}

// Attach gives the controller the UI loop (at mount).
func (ct *Controller) Attach(l Loop) { ct.ui = l }

func (ct *Controller) now() time.Time {
	if ct.Now != nil {
		return ct.Now()
	}
	return time.Now()
}

// SignedIn reports whether the console runs: a session was accepted (and
// its password need not be changed first).
func (ct *Controller) SignedIn() bool { return ct.api != nil }

// Signing reports whether a sign-in is being checked.
func (ct *Controller) Signing() bool { return ct.signing }

// Who is who is signed in (the zero Session when no one is).
func (ct *Controller) Who() api.Session { return ct.who }

// Change is the one-time password's form, nil unless one waits.
func (ct *Controller) Change() *PasswordChange { return ct.change }

// Phase is what the page shows: one of the Phase constants.
func (ct *Controller) Phase() string {
	switch {
	case ct.api != nil:
		return PhaseSignedIn
	case ct.change != nil:
		return PhaseChange
	case ct.resuming:
		return PhaseChecking
	case !ct.checked:
		return PhaseUnknown
	}
	return PhaseSignedOut
}

func (ct *Controller) newAPI() *API { return &API{Base: ct.Base, Jar: ct.Jar} }

// Resume asks the hub whether this browser has a session already (its
// cookie: a reload, another tab) and carries on with it without asking for
// the password again; without one, the sign-in form shows.
func (ct *Controller) Resume() {
	if ct.ui == nil || ct.api != nil || ct.change != nil || ct.resuming || ct.signing {
		return
	}
	ct.resuming = true
	ct.Timing = SignInTiming{Clicked: perfNow()} // the live map's wait, from the check
	a, ep := ct.newAPI(), ct.epoch
	ct.ui.Async(func() {
		s, err := a.Session(context.Background())
		ct.ui.Dispatch(func() {
			if ct.epoch != ep {
				return
			}
			ct.checked = true
			switch {
			case err == nil && !s.Token:
				ct.enter(a, s)
			case err == nil, errors.Is(err, ErrUnauthorized):
				ct.resuming = false // no session: the form
			default:
				ct.resuming = false
				ct.C.Say(Tf(ct.C.Lang, "signin.unreach", err.Error()), true, ct.now())
			}
		})
	})
}

// SignIn signs a person in with their name and password (POST
// /api/session) and, once the hub accepts them, starts the console — or,
// with a one-time password, asks for a new one first. The password lives
// only in this call; the session is the hub's HttpOnly cookie, which the
// page never sees.
func (ct *Controller) SignIn(name, password string) {
	name = strings.TrimSpace(name)
	if name == "" || password == "" {
		ct.C.Say(T(ct.C.Lang, "signin.empty"), true, ct.now())
		return
	}
	if ct.signing || ct.resuming || ct.api != nil || ct.change != nil || ct.ui == nil {
		return
	}
	ct.signing = true
	ct.Timing = SignInTiming{Clicked: perfNow()}
	a, ep := ct.newAPI(), ct.epoch
	ct.ui.Async(func() {
		s, err := a.SignIn(context.Background(), name, password)
		ct.ui.Dispatch(func() {
			if ct.epoch != ep {
				return
			}
			ct.checked = true
			if err != nil {
				ct.signing = false
				ct.C.Say(refusal(ct.C.Lang, err, "signin.wrong", "signin.refused"), true, ct.now())
				return
			}
			ct.enter(a, s)
		})
	})
}

// refusal says why a sign-in or a password's change failed: a wrong
// password (the key wrong), a wait (the hub backs off after failures, and
// locks a name after many), the hub's own words (the key refused), or a hub
// out of reach.
func refusal(lang Lang, err error, wrong, refused string) string {
	var e *APIError
	switch {
	case errors.Is(err, ErrUnauthorized):
		return T(lang, wrong)
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return waitText(lang, e)
	case errors.As(err, &e) && e.Message != "":
		return Tf(lang, refused, e.Message)
	}
	return Tf(lang, "signin.unreach", err.Error())
}

// waitText is a 429: how long to wait, and what the hub said.
func waitText(lang Lang, e *APIError) string {
	s := T(lang, "signin.wait")
	if e.RetryAfter > 0 {
		s = Tf(lang, "signin.wait.for", FormatAge(lang, e.RetryAfter))
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

// enter carries on with a session the hub accepted: the one-time
// password's form if it must be changed, else the console.
func (ct *Controller) enter(a *API, s *api.Session) {
	a.CSRF = s.CSRF // before a goes to any other goroutine
	ct.who = *s
	ct.who.CSRF = ""
	ct.C.Role = s.Role
	if s.MustChange {
		ct.signing, ct.resuming = false, false
		ct.change = &PasswordChange{api: a}
		ct.C.Say("", false, ct.now())
		return
	}
	ct.load(a)
}

// load fetches what the console shows besides the stream — today's closed
// incidents (the stream's snapshot has only the open ones), the districts
// and the cameras — then starts the stream.
func (ct *Controller) load(a *API) {
	var cams []api.Camera
	ep := ct.epoch
	ct.ui.Async(func() {
		var ds []District
		var dErr, cErr error
		var side sync.WaitGroup
		side.Go(func() { ds, dErr = a.Districts(context.Background()) })
		side.Go(func() { cams, cErr = a.Cameras(context.Background()) })
		incs, err := a.Incidents(context.Background(), true)
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			err = nil // a hub without dispatch: no history, still a hub
		}
		side.Wait()
		ct.ui.Dispatch(func() {
			if ct.epoch != ep {
				return
			}
			ct.signing, ct.resuming = false, false
			switch {
			case errors.Is(err, ErrUnauthorized):
				ct.Stop()
				ct.C.Say(T(ct.C.Lang, "signin.expired"), true, ct.now())
			case err != nil:
				ct.Stop()
				ct.C.Say(Tf(ct.C.Lang, "signin.unreach", err.Error()), true, ct.now())
			default:
				ct.C.Say("", false, ct.now())
				if dErr != nil {
					ct.C.Say(Tf(ct.C.Lang, "districts.failed", dErr.Error()), false, ct.now())
				}
				if cErr != nil {
					ct.C.Say(Tf(ct.C.Lang, "cameras.failed", cErr.Error()), false, ct.now())
				}
				ct.C.Lock()
				ct.C.Store.AddHistory(incs)
				ct.C.Store.SetDistricts(ds)
				ct.C.Store.SetCameras(cams)
				ct.C.Unlock()
				ct.start(a)
			}
		})
	})
}

// ChangePassword changes the one-time password (POST
// /api/session/password) and, once changed, carries on with the session.
// The form's own checks come first: both new ones the same, long enough
// (the hub refuses the old one again).
func (ct *Controller) ChangePassword(old, new1, new2 string) {
	ch := ct.change
	if ch == nil || ch.Busy || ct.ui == nil {
		return
	}
	lang := ct.C.Lang
	ch.Err = ""
	if new1 != new2 {
		ch.Err = T(lang, "pw.mismatch")
	} else if utf8.RuneCountInString(new1) < MinPassword {
		ch.Err = Tf(lang, "pw.short", MinPassword)
	}
	if ch.Err != "" {
		return
	}
	ch.Busy = true
	a := ch.api
	ct.ui.Async(func() {
		err := a.ChangePassword(context.Background(), old, new1)
		var s *api.Session
		var serr error
		if err == nil || errors.Is(err, ErrUnauthorized) {
			// Changed: who now (no longer must change). Refused with a
			// 401: a wrong old password if the session is still there,
			// else the session ended.
			s, serr = a.Session(context.Background())
		}
		ct.ui.Dispatch(func() {
			if ct.change != ch {
				return
			}
			ch.Busy = false
			switch {
			case errors.Is(serr, ErrUnauthorized):
				ct.Stop()
				ct.C.Say(T(lang, "signin.expired"), true, ct.now())
			case err != nil:
				ch.Err = refusal(lang, err, "pw.wrong", "pw.refused")
			case serr != nil || s.MustChange:
				// Changed, but the session cannot go on from here.
				ct.Stop()
				ct.C.Say(T(lang, "pw.changed"), false, ct.now())
			default:
				ct.change, ct.resuming = nil, true
				ct.enter(a, s)
			}
		})
	})
}

// Decoding is the session's stream's Decoding (zeros when signed out).
func (ct *Controller) Decoding() (frames uint64, took time.Duration) {
	if st := ct.stream; st != nil {
		return st.Decoding()
	}
	return 0, 0
}

// start runs the console of a session: the stream and the keep-alive.
// Their goroutines are the session's: they end when Stop cancels them.
func (ct *Controller) start(a *API) {
	ct.Timing.Accepted, ct.synced = perfNow(), false
	ct.signing, ct.resuming, ct.checked = false, false, true
	ctx, cancel := context.WithCancel(context.Background())
	st := &Stream{API: a, Dial: ct.Dial, Now: ct.Now}
	st.Notify = func() { ct.ui.Quiet(func() bool { return ct.drain(st) }) }
	ct.api, ct.stream, ct.stop, ct.sess = a, st, cancel, ctx
	done := make(chan struct{})
	ct.done = done
	ct.C.Link = Link{State: LinkConnecting, Since: ct.now()}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := st.Run(ctx); errors.Is(err, ErrUnauthorized) {
			ct.ui.Dispatch(func() { ct.ended(a) })
		}
	})
	wg.Go(func() { ct.keepAlive(ctx, a) })
	go func() {
		wg.Wait()
		close(done)
	}()
}

// keepAlive tells the hub every KeepAlive that the page is open (GET
// /api/session counts as activity), until ctx ends. The hub's answer may
// bring a new role (an admin changed it); a 401 means the session ended.
func (ct *Controller) keepAlive(ctx context.Context, a *API) {
	every := ct.KeepAlive
	if every <= 0 {
		every = KeepAliveEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := a.Session(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrUnauthorized):
			ct.ui.Dispatch(func() { ct.ended(a) })
			return
		case err == nil:
			ct.ui.Quiet(func() bool { return ct.refreshed(a, s) })
		}
		// Another error (the hub restarting, the network): the next
		// tick tries again; the stream's link says what is wrong.
	}
}

// refreshed takes the keep-alive's answer: a role an admin changed shows
// at once. It reports whether the page must re-render.
func (ct *Controller) refreshed(a *API, s *api.Session) bool {
	if ct.api != a || s.Role == ct.who.Role {
		return false
	}
	ct.who.Role, ct.C.Role = s.Role, s.Role
	ct.C.Confirm = nil // it may be an action no longer allowed
	return true
}

// drain moves the stream's queued frames into the console; it asks for a
// re-render when incidents or the link changed (the dispatcher acts on
// those), otherwise the once-a-second tick refreshes the panels, and the
// map redraws by itself.
func (ct *Controller) drain(st *Stream) bool {
	if ct.stream != st {
		return false // a stream of an earlier session
	}
	frames, link, linkChanged := st.Take()
	ch := ct.C.ApplyFrames(frames, link, linkChanged)
	first := !ct.synced && ct.C.Store.Synced
	if first {
		ct.synced = true
		ct.Timing.Synced = perfNow()
	}
	ct.restoreSelection()
	if first {
		// The map first: it draws the fleet at the next animation frame,
		// reading the store itself; the panels, a page of rows built over
		// the whole fleet, are rendered a moment later.
		ct.ui.Async(func() {
			time.Sleep(firstPanelsDelay)
			ct.ui.Dispatch(func() {})
		})
		return false
	}
	return linkChanged || ch&(ChangedIncidents|ChangedResync) != 0
}

// firstPanelsDelay is how long after the first snapshot the panels follow
// the map.
const firstPanelsDelay = 60 * time.Millisecond

// ended signs the page out after the hub said the session a uses is over
// (idle, at its end, signed out elsewhere, the account disabled), saying
// so.
func (ct *Controller) ended(a *API) {
	if ct.api != a {
		return
	}
	ct.Stop()
	ct.C.Say(T(ct.C.Lang, "signin.expired"), true, ct.now())
}

// SignOut signs the person out: the page forgets the session and
// everything the hub said at once, and the hub ends the session (DELETE
// /api/session, which clears its cookie). If the hub cannot be told, the
// sign-in form says so: the session then ends only at its timeout.
func (ct *Controller) SignOut() {
	a := ct.api
	if a == nil && ct.change != nil {
		a = ct.change.api
	}
	ct.Stop()
	if a == nil || ct.ui == nil {
		return
	}
	ct.ui.Async(func() {
		err := a.SignOut(context.Background())
		if err == nil || errors.Is(err, ErrUnauthorized) {
			return // ended, or already over
		}
		ct.ui.Dispatch(func() {
			if ct.Phase() == PhaseSignedOut {
				ct.C.Say(Tf(ct.C.Lang, "signout.failed", err.Error()), true, ct.now())
			}
		})
	})
}

// Stop ends the page's side of the session: the stream and the keep-alive
// stop, and the page forgets who is signed in and what the hub said. The
// hub's session stays — the page is going away, and a reload carries on
// with it; SignOut ends it.
func (ct *Controller) Stop() {
	if ct.stop != nil {
		ct.stop()
	}
	ct.epoch++
	ct.api, ct.stream, ct.stop, ct.sess = nil, nil, nil, nil
	ct.change, ct.who = nil, api.Session{}
	ct.signing, ct.resuming = false, false
	ct.C.SignedOut(Link{State: LinkOffline, Since: ct.now()})
}

// Wait waits for the session's goroutines (the stream, the keep-alive) to
// end (after Stop or SignOut).
func (ct *Controller) Wait() {
	if ct.done != nil {
		<-ct.done
	}
}

// call runs an API call off the UI goroutine and its continuation on it. A
// 401 means the session ended: the page signs out, saying so.
func (ct *Controller) call(f func(ctx context.Context, api *API) error, then func(err error)) {
	api, ctx := ct.api, ct.sess
	if api == nil || ct.ui == nil {
		return
	}
	ct.ui.Async(func() {
		err := f(ctx, api)
		ct.ui.Dispatch(func() {
			if ct.api != api {
				return // signed out meanwhile
			}
			if errors.Is(err, ErrUnauthorized) {
				ct.ended(api)
				return
			}
			if err != nil && ctx.Err() != nil {
				return
			}
			then(err)
		})
	})
}

func (ct *Controller) fail(err error) {
	ct.C.Say(Tf(ct.C.Lang, "err.api", err.Error()), true, ct.now())
}

// Tick runs once a second: the panels' ages move, a selected open
// incident's recommendations are refreshed every 5 s (units move), and the
// patrol plans' compliance every PatrolEvery while their layer shows.
func (ct *Controller) Tick() {
	ct.ticks++
	ct.patrolTick()
	if ct.ticks%5 == 0 {
		if inc := ct.C.Selected(); inc != nil && inc.Status != api.IncidentClosed {
			ct.RefreshDetail()
		}
	}
}

// CreateIncident posts the new-incident form.
func (ct *Controller) CreateIncident() {
	n, bad := ct.C.FormRequest()
	if bad != "" {
		ct.C.Say(Tf(ct.C.Lang, "err.api", "need "+bad), true, ct.now())
		return
	}
	if ct.C.Form.Busy {
		return
	}
	ct.C.Form.Busy = true
	var inc *Incident
	ct.call(func(ctx context.Context, api *API) (err error) {
		inc, err = api.CreateIncident(ctx, n)
		return err
	}, func(err error) {
		ct.C.Form.Busy = false
		if err != nil {
			ct.fail(err)
			return
		}
		ct.C.Created(inc)
		ct.C.Say(Tf(ct.C.Lang, "inc.created", inc.ID), false, ct.now())
	})
}

// SelectIncident selects an incident and fetches its recommendations.
func (ct *Controller) SelectIncident(id string) {
	ct.C.SelectIncident(id)
	if id != "" {
		ct.RefreshDetail()
	}
}

// RefreshDetail fetches the selected incident with fresh recommendations.
func (ct *Controller) RefreshDetail() {
	id := ct.C.Scene.SelInc
	if id == "" {
		return
	}
	ct.detailCall(func(ctx context.Context, api *API) (*Incident, error) {
		return api.Incident(ctx, id)
	}, nil, nil)
}

// detailCall runs an API call that answers with an incident and shows the
// answer as the selected incident's detail, then runs then (if any); an
// error goes to the notice. done, if set, hears the outcome (a dialog
// waiting on it).
func (ct *Controller) detailCall(do func(ctx context.Context, api *API) (*Incident, error), then func(*Incident), done func(error)) {
	var inc *Incident
	ct.call(func(ctx context.Context, api *API) (err error) {
		inc, err = do(ctx, api)
		return err
	}, func(err error) {
		if done != nil {
			done(err)
		}
		if err != nil {
			ct.fail(err)
			return
		}
		ct.C.SetDetail(inc, ct.now())
		if then != nil {
			then(inc)
		}
	})
}

// AskDispatch asks the dispatcher to confirm sending unit to an incident.
func (ct *Controller) AskDispatch(incID, unit string) {
	ct.C.Ask(Pending{Action: ActDispatch, Incident: incID, Unit: unit})
}

// AskClose asks the dispatcher to confirm closing an incident.
func (ct *Controller) AskClose(incID string) {
	ct.C.Ask(Pending{Action: ActClose, Incident: incID})
}

// AskReopen asks for the reason to reopen a closed incident.
func (ct *Controller) AskReopen(incID string) {
	ct.C.Ask(Pending{Action: ActReopen, Incident: incID})
}

// ConfirmPending carries out the action the dialog shows. The dialog stays,
// with the hub's answer, if the hub refuses it (a unit taken meanwhile, an
// incident closed by someone else).
func (ct *Controller) ConfirmPending() {
	p := ct.C.Confirm
	if p == nil || p.Busy {
		return
	}
	note := strings.TrimSpace(p.Note)
	if len(note) > MaxNote {
		p.Err = Tf(ct.C.Lang, "confirm.note.long", MaxNote)
		return
	}
	if p.Action == ActReopen && note == "" {
		p.Err = T(ct.C.Lang, "confirm.reason.needed")
		return
	}
	p.Busy, p.Err = true, ""
	done := func(err error) {
		if ct.C.Confirm != p {
			return
		}
		if err != nil {
			p.Busy, p.Err = false, err.Error()
			return
		}
		ct.C.Confirm = nil
	}
	switch p.Action {
	case ActDispatch:
		ct.Assign(p.Incident, p.Unit, done)
	case ActClose:
		ct.CloseIncident(p.Incident, note, done)
	case ActReopen:
		ct.ReopenIncident(p.Incident, note, done)
	case ActDismiss:
		ct.DismissOffer(p.Incident, note, done)
	case ActMoveUp:
		ct.MoveUp(p.MoveUp, note, done)
	default:
		ct.C.Confirm = nil
	}
}

// Assign dispatches a unit to an incident, then refreshes the incident;
// done (if set) hears the outcome.
func (ct *Controller) Assign(incID, unit string, done func(error)) {
	ct.detailCall(func(ctx context.Context, api *API) (*Incident, error) {
		return api.Assign(ctx, incID, unit)
	}, func(*Incident) {
		ct.C.Say(Tf(ct.C.Lang, "inc.dispatched", ct.C.Store.UnitName(unit), incID), false, ct.now())
		ct.RefreshDetail()
	}, done)
}

// CloseIncident closes an incident, with an optional note.
func (ct *Controller) CloseIncident(id, note string, done func(error)) {
	ct.detailCall(func(ctx context.Context, api *API) (*Incident, error) {
		return api.CloseIncident(ctx, id, note)
	}, func(*Incident) {
		ct.C.Say(Tf(ct.C.Lang, "inc.closed", id), false, ct.now())
	}, done)
}

// ReopenIncident reopens a closed incident for a reason, and shows it again
// with fresh recommendations.
func (ct *Controller) ReopenIncident(id, reason string, done func(error)) {
	ct.detailCall(func(ctx context.Context, api *API) (*Incident, error) {
		return api.ReopenIncident(ctx, id, reason)
	}, func(*Incident) {
		ct.C.Say(Tf(ct.C.Lang, "inc.reopened", id), false, ct.now())
	}, done)
}

// TrackWindow is how much of a selected unit's history the map draws.
const TrackWindow = 10 * time.Minute

// SelectUnit selects a unit; center puts it mid-map. Its last minutes of
// track are fetched.
func (ct *Controller) SelectUnit(id string, center bool) {
	ct.C.SelectUnit(id, center)
	if id == "" {
		return
	}
	since := ct.C.Store.HubNow(ct.now()) - TrackWindow.Milliseconds()
	var pts []api.TrackPoint
	ct.call(func(ctx context.Context, api *API) (err error) {
		pts, err = api.Track(ctx, id, since)
		return err
	}, func(err error) {
		if err != nil {
			ct.fail(err)
			return
		}
		ct.C.SetTrack(id, pts)
	})
}

// Clicked follows a click on the map (Console.Click already handled it):
// fetch what the selection needs.
func (ct *Controller) Clicked(h Hit) {
	switch h.Kind {
	case HitIncident:
		ct.RefreshDetail()
	case HitUnit:
		ct.SelectUnit(h.ID, false)
	}
}
