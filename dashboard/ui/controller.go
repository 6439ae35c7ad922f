package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

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

// Controller does the dashboard's I/O: sign-in, the stream, the API calls
// behind the buttons. It runs calls off the UI goroutine and hands results
// to the Console on it. One per page.
type Controller struct {
	C    *Console
	Base string                                              // the hub's origin
	Dial func(ctx context.Context, url string) (Conn, error) // nil: the browser's WebSocket
	Now  func() time.Time

	ui      Loop
	sound   alarm // the browser's alarm sound (idle on the host)
	api     *API  // nil when signed out
	stream  *Stream
	stop    context.CancelFunc
	sess    context.Context
	done    chan struct{}
	signing bool
	synced  bool // the session's first snapshot has been applied
	ticks   int
	// Timing of the last sign-in, in performance.now() ms (0 on the host):
	// where the wait for the live map goes (kuaifanStats.signin).
	Timing SignInTiming
}

// SignInTiming marks the steps from Sign in to the live map.
type SignInTiming struct {
	Clicked, Accepted, Synced, Drawn float64
}

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

// SignedIn reports whether a token was accepted (and not since refused).
func (ct *Controller) SignedIn() bool { return ct.api != nil }

// Signing reports whether a sign-in is being checked.
func (ct *Controller) Signing() bool { return ct.signing }

// SignIn checks a token against the hub and, if accepted, starts the
// stream. The token lives only in this Controller (memory): never in a URL,
// local storage or a cookie.
func (ct *Controller) SignIn(token string) {
	token = strings.TrimSpace(token)
	if token == "" {
		ct.C.Say(T(ct.C.Lang, "signin.empty"), true, ct.now())
		return
	}
	if ct.signing || ct.ui == nil {
		return
	}
	ct.signing = true
	ct.Timing = SignInTiming{Clicked: perfNow()}
	var cams []api.Camera // the hub's camera set, fetched with the districts
	api := &API{Base: ct.Base, Token: token}
	ct.ui.Async(func() {
		// One call checks the token and loads today's closed incidents
		// (the stream's snapshot has only the open ones); the districts
		// and the cameras come at the same time, used only if the token
		// was accepted.
		var ds []District
		var dErr, cErr error
		var side sync.WaitGroup
		side.Go(func() { ds, dErr = api.Districts(context.Background()) })
		side.Go(func() { cams, cErr = api.Cameras(context.Background()) })
		incs, err := api.Incidents(context.Background(), true)
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			err = nil // a hub without dispatch: no history, still a hub
		}
		side.Wait()
		ct.ui.Dispatch(func() {
			ct.signing = false
			switch {
			case errors.Is(err, ErrUnauthorized):
				ct.C.Say(T(ct.C.Lang, "signin.wrong"), true, ct.now())
			case err != nil:
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
				ct.start(api)
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

// start runs the stream for a session. Its goroutine is the session's: it
// ends when SignOut cancels it.
func (ct *Controller) start(api *API) {
	ct.Timing.Accepted, ct.synced = perfNow(), false
	ctx, cancel := context.WithCancel(context.Background())
	st := &Stream{API: api, Dial: ct.Dial, Now: ct.Now}
	st.Notify = func() { ct.ui.Quiet(func() bool { return ct.drain(st) }) }
	ct.api, ct.stream, ct.stop, ct.sess = api, st, cancel, ctx
	done := make(chan struct{})
	ct.done = done
	ct.C.Link = Link{State: LinkConnecting, Since: ct.now()}
	go func() {
		defer close(done)
		if err := st.Run(ctx); errors.Is(err, ErrUnauthorized) {
			ct.ui.Dispatch(func() { ct.expired(st) })
		}
	}()
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

func (ct *Controller) expired(st *Stream) {
	if ct.stream != st {
		return
	}
	ct.SignOut()
	ct.C.Say(T(ct.C.Lang, "signin.expired"), true, ct.now())
}

// SignOut stops the stream and forgets the token and the hub's data.
func (ct *Controller) SignOut() {
	if ct.stop != nil {
		ct.stop()
	}
	ct.api, ct.stream, ct.stop, ct.sess = nil, nil, nil, nil
	ct.C.SignedOut(Link{State: LinkOffline, Since: ct.now()})
}

// Wait waits for the session's stream goroutine to end (after SignOut).
func (ct *Controller) Wait() {
	if ct.done != nil {
		<-ct.done
	}
}

// call runs an API call off the UI goroutine and its continuation on it. A
// refused token ends the session.
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
				ct.SignOut()
				ct.C.Say(T(ct.C.Lang, "signin.expired"), true, ct.now())
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

// Tick runs once a second: the panels' ages move, and a selected open
// incident's recommendations are refreshed every 5 s (units move).
func (ct *Controller) Tick() {
	ct.ticks++
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
