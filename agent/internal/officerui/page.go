package officerui

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Limits of the page's exchanges with the agent.
const (
	requestTimeoutMS = 5000
	maxAnswer        = 1 << 20
	pollEvery        = time.Second // loopback: cheap, and simpler than a stream
)

// Local storage keys: the officer's language and the terminal's token.
const (
	langKey  = "kuaifan-officer-lang"
	tokenKey = "kuaifan-officer-token"
)

// Page is the officer's page at "/": the unit's status and link, the
// assignment card (or the move-up card), the patrol tasks while there is
// no assignment, the action buttons and the SOS button. It owns a poll
// loop (GET /v1/state every second) that stops when it is dismounted.
type Page struct {
	app.Compo

	lang  Lang
	st    State
	have  bool   // a state has been read
	down  string // why the last poll failed; "" when it worked
	token string
	// needToken: the agent answered 401; the page asks for the token.
	needToken bool
	tokenEdit string

	busy        bool // an action is on its way to the agent
	notice      string
	noticeErr   bool
	declineOpen bool
	reason      string
	hold        Hold

	// ctx is the page's own context, from OnMount: answers are dispatched
	// through it, because go-app drops a Dispatch whose source element is
	// gone (the decline form's button is, once pressed).
	ctx     app.Context
	polling bool // a GET /v1/state is on its way
	stop    chan struct{}
}

func newPage() app.Composer { return &Page{} }

// OnInit runs in the browser and in the server's pre-render: no I/O here.
func (p *Page) OnInit() {
	if p.lang == "" {
		p.lang = ZH
	}
	if p.reason == "" {
		p.reason = DeclineReasons[0]
	}
}

// OnMount (browser only) picks the language and the token and starts polling.
func (p *Page) OnMount(ctx app.Context) {
	var lang string
	ctx.LocalStorage().Get(langKey, &lang)
	switch Lang(lang) {
	case ZH, EN:
		p.lang = Lang(lang)
	default:
		p.lang = LangFor(app.Window().Get("navigator").Get("language").String())
	}
	p.token = tokenFromHash()
	if p.token != "" {
		ctx.LocalStorage().Set(tokenKey, p.token)
	} else {
		ctx.LocalStorage().Get(tokenKey, &p.token)
	}
	// The server pre-renders the same page: this says the app now runs it
	// (what a test waits for before pressing anything).
	app.Window().Get("document").Get("documentElement").Call("setAttribute", "data-app", "running")

	stop := make(chan struct{})
	p.stop, p.ctx = stop, ctx
	p.poll()
	ctx.Async(func() {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx.Dispatch(func(ctx app.Context) {
				ctx.PreventUpdate() // the answer updates the page
				p.poll()
			})
		}
	})
}

// poll reads GET /v1/state unless a read is still on its way (an agent
// that hangs gets one request at a time, not one a second).
func (p *Page) poll() {
	if p.polling || p.stop == nil {
		return
	}
	ctx := p.ctx
	p.polling = true
	token := p.token
	ctx.Async(func() {
		code, body, err := send("GET", "/v1/state", token, nil)
		ctx.Dispatch(func(ctx app.Context) {
			p.polling = false
			p.polled(code, body, err)
		})
	})
}

// tokenFromHash takes the token from a launch URL's fragment
// (http://127.0.0.1:8765/#token=…) and removes it from the address bar. A
// fragment never reaches a server, and the page the agent serves never
// contains the token (see agent/README.md, "The officer's page").
func tokenFromHash() string {
	loc := app.Window().Get("location")
	h := loc.Get("hash").String()
	v, ok := strings.CutPrefix(h, "#token=")
	if !ok {
		return ""
	}
	app.Window().Get("history").Call("replaceState", nil, "", loc.Get("pathname").String())
	tok, err := url.QueryUnescape(v)
	if err != nil {
		return ""
	}
	return tok
}

// OnDismount stops the poll loop.
func (p *Page) OnDismount() {
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

// polled takes a GET /v1/state answer.
func (p *Page) polled(code int, body []byte, err error) {
	switch {
	case err != nil:
		p.down = err.Error()
		return
	case code == 401:
		p.down, p.needToken = "", true
		return
	case code != 200:
		p.down = errorText(code, body)
		return
	}
	var st State
	if err := json.Unmarshal(body, &st); err != nil {
		p.down = "bad answer: " + err.Error()
		return
	}
	p.st, p.have, p.down, p.needToken = st, true, "", false
	if st.Assignment == nil {
		p.declineOpen = false
	}
}

// errorText is an error answer's message.
func errorText(code int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return fmt.Sprintf("HTTP %d", code)
}

// act sends an action to the agent and polls at once when it answers.
func (p *Page) act(path string, body any) {
	if p.busy || p.stop == nil {
		return
	}
	ctx := p.ctx
	p.busy, p.notice = true, ""
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body) // plain structs: cannot fail
	}
	token := p.token
	ctx.Async(func() {
		code, ans, err := send("POST", path, token, b)
		ctx.Dispatch(func(ctx app.Context) {
			p.busy = false
			switch {
			case err != nil:
				p.notice, p.noticeErr = Tf(p.lang, "err.agent", err.Error()), true
			case code == 401:
				p.needToken = true
			case code == 404 || code == 409:
				p.notice, p.noticeErr = Tf(p.lang, "err.refused", errorText(code, ans)), true
			case code < 200 || code > 299:
				p.notice, p.noticeErr = Tf(p.lang, "err.action", errorText(code, ans)), true
			}
			p.poll()
		})
	})
}

func (p *Page) incidentPath(action string) string {
	return "/v1/incidents/" + url.PathEscape(p.st.Assignment.Incident) + "/" + action
}

func (p *Page) onAck(ctx app.Context, e app.Event) {
	if ButtonsFor(p.st.Assignment, p.busy).Ack {
		p.act(p.incidentPath("ack"), nil)
	}
}

func (p *Page) onArrived(ctx app.Context, e app.Event) {
	if ButtonsFor(p.st.Assignment, p.busy).Arrived {
		p.act(p.incidentPath("arrived"), nil)
	}
}

func (p *Page) onCleared(ctx app.Context, e app.Event) {
	if ButtonsFor(p.st.Assignment, p.busy).Cleared {
		p.act(p.incidentPath("cleared"), nil)
	}
}

// onDecline opens the reason form: a decline is never one press.
func (p *Page) onDecline(ctx app.Context, e app.Event) {
	if ButtonsFor(p.st.Assignment, p.busy).Decline {
		p.declineOpen = true
	}
}

func (p *Page) onDeclineConfirm(ctx app.Context, e app.Event) {
	if ButtonsFor(p.st.Assignment, p.busy).Decline {
		p.declineOpen = false
		p.act(p.incidentPath("decline"), map[string]string{"reason": p.reason})
	}
}

// onMoveUpArrived reports the unit at its move-up's spot, naming the
// move-up shown, so that a card the hub replaced meanwhile reports nothing.
func (p *Page) onMoveUpArrived(ctx app.Context, e app.Event) {
	if MoveUpArrived(p.st, p.busy) {
		p.act("/v1/reposition/arrived", map[string]string{"id": p.st.Reposition.ID})
	}
}

func (p *Page) onLang(ctx app.Context, e app.Event) {
	p.lang = p.lang.Other()
	ctx.LocalStorage().Set(langKey, string(p.lang))
}

func (p *Page) onToken(ctx app.Context, e app.Event) {
	e.PreventDefault()
	p.token = strings.TrimSpace(p.tokenEdit)
	p.tokenEdit = ""
	ctx.LocalStorage().Set(tokenKey, p.token)
	p.needToken = false
	p.poll()
}

// onSOSDown starts a hold; the SOS goes only if it lasts HoldToSend.
func (p *Page) onSOSDown(ctx app.Context, e app.Event) {
	e.PreventDefault() // no text selection or long-press menu on a touch screen
	if p.stop == nil {
		return // not mounted yet: the pre-rendered page
	}
	n := p.hold.Press(time.Now())
	p.ctx.After(HoldToSend, func(ctx app.Context) {
		if p.hold.Fire(n, time.Now()) {
			p.busy = false // an SOS goes even while another action is on its way
			p.act("/v1/sos", nil)
			p.notice, p.noticeErr = T(p.lang, "sos.sent"), false
		}
	})
}

func (p *Page) onSOSUp(ctx app.Context, e app.Event) { p.hold.Release() }

// Render draws the page.
func (p *Page) Render() app.UI {
	lang := p.lang
	link, linkText := "connected", T(lang, "link.up")
	switch {
	case p.down != "" || !p.have:
		link, linkText = "agent", T(lang, "link.agent")
	case !p.st.Connected:
		link, linkText = "offline", T(lang, "link.down")
	}
	status := p.st.Status
	return app.Div().ID("officer").Class("of").Lang(string(lang)).DataSet("link", link).Body(
		app.Header().Class("top").Body(
			app.Span().Class("brand").Text(T(lang, "app.title")),
			app.Span().ID("unit").Class("unit").Text(p.st.Unit),
			app.Span().ID("status").Class("status", "st-"+status).DataSet("status", status).
				Text(T(lang, "status."+status)),
			app.Span().Class("spacer"),
			app.Span().ID("link").Class("link", "link-"+link).DataSet("state", link).Title(p.down).Text(linkText),
			app.Span().ID("queue").Class("queue").DataSet("n", p.st.Queued).DataSet("events", p.st.QueuedEvents).
				Text(queueText(lang, p.st)),
			app.Button().ID("lang").Class("ghost").Text(T(lang, "app.switch")).OnClick(p.onLang),
		),
		app.If(p.needToken, func() app.UI { return p.renderToken() }),
		app.Main().Class("body").Body(
			p.renderCard(),
			app.If(TasksShown(p.st), func() app.UI { return p.renderTasks() }),
			p.renderButtons(),
			app.If(p.declineOpen, func() app.UI { return p.renderDecline() }),
			p.renderLastAction(),
			app.If(p.notice != "", func() app.UI {
				return app.P().ID("notice").Class("notice").DataSet("error", p.noticeErr).Text(p.notice)
			}),
		),
		app.Footer().Class("foot").Body(p.renderSOS()),
	)
}

func queueText(lang Lang, s State) string {
	if s.QueuedEvents > 0 {
		return Tf(lang, "queue.events", s.QueuedEvents)
	}
	return Tf(lang, "queue.n", s.Queued)
}

func (p *Page) renderCard() app.UI {
	lang := p.lang
	c, ok := CardFor(lang, p.st)
	if !ok {
		// A move-up takes the empty card's place: the unit is free, and
		// on its way to cover a spot.
		if m, ok := MoveUpFor(lang, p.st); ok {
			return p.renderMoveUp(m)
		}
		if TasksShown(p.st) {
			// "Stand by" would contradict the tasks below; one short line
			// leaves them the room.
			return app.Section().ID("card").Class("card", "empty", "with-tasks").Body(app.P().Text(T(lang, "card.none_tasks")))
		}
		return app.Section().ID("card").Class("card", "empty").Body(app.P().Text(T(lang, "card.none")))
	}
	as := p.st.Assignment
	fig := func(id, label, value string) app.UI {
		return app.Div().Class("fig").Body(
			app.Span().Class("label").Text(label),
			app.Span().ID(id).Class("value").Text(value),
		)
	}
	distance, eta := T(lang, "card.nofix"), "—"
	if c.HasFix {
		distance, eta = c.Distance+" · "+c.Direction, c.ETA
	}
	return app.Section().ID("card").Class("card", "p"+fmt.Sprint(c.Priority), "as-"+as.State).
		DataSet("incident", c.Incident).DataSet("state", as.State).Body(
		app.Div().Class("head").Body(
			app.Span().ID("priority").Class("prio").Text(Tf(lang, "card.priority", c.Priority)),
			app.Span().ID("kind").Class("kind").Text(c.Kind),
			app.Span().Class("incident").Text(c.Incident),
		),
		app.P().ID("summary").Class("summary").Text(c.Summary),
		app.Div().Class("figs").Body(
			fig("distance", T(lang, "card.distance"), distance),
			fig("eta", T(lang, "card.eta"), eta),
			fig("since", T(lang, "card.since"), c.Since),
			fig("place", T(lang, "card.place"), c.Place),
		),
		app.P().ID("card-state").Class("state").Text(c.State),
	)
}

// renderMoveUp is the move-up card (调防): the spot, its figures as on the
// assignment card, and its own Arrived; the unit stays available.
func (p *Page) renderMoveUp(m MoveUp) app.UI {
	lang := p.lang
	fig := func(id, label, value string) app.UI {
		return app.Div().Class("fig").Body(
			app.Span().Class("label").Text(label),
			app.Span().ID(id).Class("value").Text(value),
		)
	}
	distance, eta := T(lang, "card.nofix"), "—"
	if m.HasFix {
		distance, eta = m.Distance+" · "+m.Direction, m.ETA
	}
	return app.Section().ID("moveup").Class("card", "moveup").DataSet("id", m.ID).Body(
		app.Div().Class("head").Body(
			app.Span().ID("mu-title").Class("tag").Text(T(lang, "mu.title")),
			app.Span().Class("incident").Text(m.ID),
		),
		app.If(m.Summary != "", func() app.UI {
			return app.P().ID("mu-summary").Class("summary").Text(m.Summary)
		}),
		app.Div().Class("figs").Body(
			fig("mu-distance", T(lang, "card.distance"), distance),
			fig("mu-eta", T(lang, "card.eta"), eta),
			fig("mu-since", T(lang, "mu.since"), m.Since),
			fig("mu-place", T(lang, "card.place"), m.Place),
		),
		app.Div().Class("mu-foot").Body(
			app.P().ID("mu-hint").Class("state").Text(T(lang, "mu.hint")),
			app.Button().ID("mu-arrived").Class("act", "act-arrived").Disabled(!MoveUpArrived(p.st, p.busy)).
				Text(T(lang, "btn.mu_arrived")).OnClick(p.onMoveUpArrived),
		),
	)
}

// renderTasks is the patrol tasks' card (巡逻任务): one row per task, its
// kind and name, then what it asks and where it is. Rows are read, not
// pressed; they keep the cards' big type all the same, for a glance from
// the driver's seat.
func (p *Page) renderTasks() app.UI {
	lang := p.lang
	rows := TasksFor(lang, p.st, time.Local) // the browser's zone: Go's js/wasm takes it from Date
	return app.Section().ID("tasks").Class("tasks").DataSet("n", len(rows)).Body(
		app.H2().ID("tasks-title").Class("tasks-title").Text(T(lang, "tasks.title")),
		app.Ul().Class("task-list").Body(
			app.Range(rows).Slice(func(i int) app.UI {
				r := rows[i]
				return app.Li().Class("task", "task-"+r.Kind).DataSet("plan", r.Plan).DataSet("id", r.ID).
					DataSet("kind", r.Kind).DataSet("window", r.WindowState).Body(
					app.Div().Class("task-head").Body(
						app.Span().Class("task-kind").Text(r.KindName),
						app.Span().Class("task-name").Text(r.Name),
						app.If(r.When != "", func() app.UI {
							return app.Span().Class("task-when", "w-"+r.WindowState).Text(r.When)
						}),
					),
					app.Div().Class("task-figs").Body(
						app.If(r.Window != "", func() app.UI {
							return app.Span().Class("task-window").Text(r.Window)
						}),
						app.Span().Class("task-detail").Text(r.Detail),
						app.Span().Class("task-where").Text(r.Where),
					),
				)
			}),
		),
	)
}

func (p *Page) renderButtons() app.UI {
	lang := p.lang
	b := ButtonsFor(p.st.Assignment, p.busy)
	btn := func(id, key string, on bool, h app.EventHandler) app.UI {
		return app.Button().ID(id).Class("act", "act-"+id).Disabled(!on).Text(T(lang, key)).OnClick(h)
	}
	return app.Nav().ID("actions").Class("actions").DataSet("busy", p.busy).Body(
		btn("ack", "btn.ack", b.Ack, p.onAck),
		btn("decline", "btn.decline", b.Decline && !p.declineOpen, p.onDecline),
		btn("arrived", "btn.arrived", b.Arrived, p.onArrived),
		btn("cleared", "btn.cleared", b.Cleared, p.onCleared),
	)
}

func (p *Page) renderDecline() app.UI {
	lang := p.lang
	return app.Div().ID("decline-form").Class("decline").Body(
		app.Label().For("reason").Text(T(lang, "decline.title")),
		app.Select().ID("reason").OnChange(p.ValueTo(&p.reason)).Body(
			app.Range(DeclineReasons).Slice(func(i int) app.UI {
				r := DeclineReasons[i]
				return app.Option().Value(r).Selected(r == p.reason).Text(T(lang, "reason."+r))
			}),
		),
		app.Button().ID("decline-confirm").Class("act", "act-decline").Text(T(lang, "btn.confirm_decline")).
			OnClick(p.onDeclineConfirm),
		app.Button().ID("decline-cancel").Class("act", "ghost").Text(T(lang, "btn.cancel")).
			OnClick(func(ctx app.Context, e app.Event) { p.declineOpen = false }),
	)
}

func (p *Page) renderLastAction() app.UI {
	a, ok := LastAction(p.st)
	if !ok {
		return app.Div().ID("last-action").Class("last", "none")
	}
	state, key := "queued", "act.queued"
	if a.Confirmed {
		state, key = "confirmed", "act.confirmed"
	}
	what := T(p.lang, "act."+a.Type)
	if a.Incident != "" {
		what += " " + a.Incident
	}
	return app.Div().ID("last-action").Class("last", "la-"+state).
		DataSet("action", a.Type).DataSet("incident", a.Incident).DataSet("state", state).Body(
		app.Span().Class("what").Text(what),
		app.Span().Class("how").Text(T(p.lang, key)),
	)
}

func (p *Page) renderSOS() app.UI {
	label := T(p.lang, "sos.hold")
	if p.hold.Holding() {
		label = T(p.lang, "sos.holding")
	}
	return app.Button().ID("sos").Class("sos").DataSet("holding", p.hold.Holding()).
		Style("--hold", fmt.Sprintf("%dms", HoldToSend.Milliseconds())).
		On("pointerdown", p.onSOSDown).
		On("pointerup", p.onSOSUp).
		On("pointerleave", p.onSOSUp).
		On("pointercancel", p.onSOSUp).
		On("contextmenu", func(ctx app.Context, e app.Event) { e.PreventDefault() }).
		Body(
			app.Span().Class("fill"),
			app.Span().Class("label").Text(label),
		)
}

func (p *Page) renderToken() app.UI {
	lang := p.lang
	return app.Form().ID("token-form").Class("token").OnSubmit(p.onToken).Body(
		app.Label().For("token").Text(T(lang, "token.title")),
		app.P().Text(T(lang, "token.hint")),
		app.Input().ID("token").Type("password").Value(p.tokenEdit).OnChange(p.ValueTo(&p.tokenEdit)),
		app.Button().ID("token-save").Type("submit").Class("act").Text(T(lang, "token.save")),
	)
}
