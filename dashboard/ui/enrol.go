package ui

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The units screen: enrol a device (POST /api/units) and show, once, what
// the device needs to report — for the responder app on a phone, a QR code
// of its enrolment link; list the fleet, and revoke a unit. The secret lives
// only in this screen's state: never in local storage nor in the URL, and
// gone when the dispatcher closes the card or leaves the screen.

// How a device reports: the hub knows three protocols, and a kuaifan unit
// is either the agent or the responder app on a phone, which need
// different instructions.
const (
	HowAgent     = "agent"     // kuaifan's agent over MQTT
	HowResponder = "responder" // the responder web app on a phone
	HowOwnTracks = "owntracks" // the OwnTracks app
	HowTraccar   = "traccar"   // Traccar Client (the OsmAnd protocol)
)

// Hows lists them in the form's order: the phone app first, the usual case.
var Hows = []string{HowResponder, HowAgent, HowOwnTracks, HowTraccar}

// howProtocol is the protocol the hub enrols a device for.
func howProtocol(how string) api.ReportProtocol {
	switch how {
	case HowOwnTracks:
		return api.ReportOwnTracks
	case HowTraccar:
		return api.ReportOsmAnd
	}
	return api.ReportKuaifan
}

// howOf is how a listed unit reports, as far as the hub says (it does not
// tell the agent from the responder app).
func howOf(u *Unit) string {
	switch u.Protocol {
	case api.ReportOwnTracks:
		return HowOwnTracks
	case api.ReportOsmAnd:
		return HowTraccar
	}
	return HowAgent
}

// EnrolForm is the enrolment form as typed. Capabilities are separated by
// commas or spaces.
type EnrolForm struct {
	ID, Type, Callsign, Capabilities, How string
}

// maxCallsign is the hub's limit, in bytes.
const maxCallsign = 64

// Request is the body of POST /api/units, or the first thing wrong with the
// form (the hub's own checks, so that a typo costs no call).
func (f EnrolForm) Request(lang Lang) (api.Enrolment, string) {
	e := api.Enrolment{
		ID:           strings.TrimSpace(f.ID),
		Type:         protocol.UnitType(f.Type),
		Callsign:     strings.TrimSpace(f.Callsign),
		Capabilities: []string{},
		Protocol:     howProtocol(f.How),
	}
	if !protocol.ValidUnitID(e.ID) {
		return e, Tf(lang, "enrol.err.id", e.ID)
	}
	if !e.Type.Valid() {
		return e, T(lang, "enrol.err.type")
	}
	if len(e.Callsign) > maxCallsign {
		return e, Tf(lang, "enrol.err.callsign", maxCallsign)
	}
	if !slices.Contains(Hows, f.How) {
		return e, T(lang, "enrol.err.how")
	}
	for _, c := range strings.FieldsFunc(f.Capabilities, func(r rune) bool { return r == ',' || r == ' ' || r == '，' }) {
		if !protocol.ValidCapability(c) {
			return e, Tf(lang, "enrol.err.capability", c)
		}
		if !slices.Contains(e.Capabilities, c) {
			e.Capabilities = append(e.Capabilities, c)
		}
	}
	if len(e.Capabilities) > 16 {
		return e, T(lang, "enrol.err.capabilities")
	}
	return e, ""
}

// Setup is what a device needs to report, built from the hub's origin and
// the enrolment's answer.
type Setup struct {
	How    string
	Unit   string
	Secret string
	Link   string // HowResponder: the enrolment link, for the QR code
	URL    string // HowOwnTracks: the HTTP URL; HowTraccar: the server URL
	MQTT   string // HowOwnTracks: the MQTT alternative's host and port
	Agent  string // HowAgent: the agent's command line
}

// MQTTPort is the embedded broker's usual port (the hub's -mqtt): the
// console cannot see which one the hub listens on, so the card says so.
const MQTTPort = "1883"

// NewSetup builds a device's setup. The secret is base64url, which needs
// no escaping, but it is escaped where it sits in a query or fragment all
// the same: the link must survive whatever the hub makes secrets of.
func NewSetup(origin, how, unit, secret string) Setup {
	origin = strings.TrimRight(origin, "/")
	s := Setup{How: how, Unit: unit, Secret: secret}
	host := origin
	if u, err := url.Parse(origin); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	switch how {
	case HowResponder:
		s.Link = origin + "/responder/#u=" + url.QueryEscape(unit) + "&s=" + url.QueryEscape(secret)
	case HowOwnTracks:
		s.URL = origin + "/api/phones/owntracks"
		s.MQTT = host + ":" + MQTTPort
	case HowTraccar:
		s.URL = origin + "/api/phones/osmand?secret=" + url.QueryEscape(secret)
	default:
		s.Agent = "agent -unit " + unit + " -secret " + shellQuote(secret) + " -broker tcp://" + host + ":" + MQTTPort + " -gps gpsd:127.0.0.1:2947"
	}
	return s
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// enrolPage is the units screen's state.
type enrolPage struct {
	Form      EnrolForm
	Err       string // the form's problem or the hub's refusal
	Card      *Setup // the enrolment just made, shown once
	QR        QR     // Card's link as a QR code (HowResponder)
	Units     []Unit
	Listed    bool // Units answer a GET /api/units
	ListErr   string
	Revoke    string // the unit whose revocation waits for confirmation
	RevokeErr string

	enrol pageCalls
	list  pageCalls
	qr    pageCalls
}

func newEnrolPage() *enrolPage {
	return &enrolPage{Form: EnrolForm{Type: string(protocol.TypeFoot), How: HowResponder}}
}

// Submit enrols the form's device (an admin's); a bad form is refused
// before any call.
func (p *enrolPage) Submit(ct *Controller, l Loop, lang Lang) {
	if !ct.C.May(api.RoleAdmin) {
		return
	}
	e, problem := p.Form.Request(lang)
	if problem != "" {
		p.Err = problem
		return
	}
	how := p.Form.How
	var got *api.Enrolled
	p.Err, p.Card = "", nil
	p.enrol.run(ct, l, func(ctx context.Context, a *API) (err error) {
		got, err = a.Enrol(ctx, e)
		return err
	}, func(err error) {
		if err != nil {
			p.Err = Tf(lang, "enrol.err.hub", err.Error())
			return
		}
		s := NewSetup(ct.Base, how, got.ID, got.Secret)
		p.Card, p.QR = &s, QR{}
		if s.Link != "" {
			p.drawQR(ct, l, lang, &s)
		}
		p.Refresh(ct, l, lang)
	})
}

// drawQR asks the hub for the QR code of the card's link; the link shows
// as text meanwhile, and if the hub cannot draw it.
func (p *enrolPage) drawQR(ct *Controller, l Loop, lang Lang, card *Setup) {
	var c api.QRCode
	p.qr.run(ct, l, func(ctx context.Context, a *API) (err error) {
		c, err = a.QR(ctx, card.Link)
		return err
	}, func(err error) {
		if p.Card != card {
			return // closed, or another enrolment since
		}
		q, qerr := QRFrom(c)
		if err == nil {
			err = qerr
		}
		if err != nil {
			p.Err = Tf(lang, "enrol.err.qr", err.Error())
			return
		}
		p.QR = q
	})
}

// CloseCard forgets the secret.
func (p *enrolPage) CloseCard() {
	p.qr.stop()
	p.Card, p.QR = nil, QR{}
}

// Refresh lists the fleet.
func (p *enrolPage) Refresh(ct *Controller, l Loop, lang Lang) {
	var us []Unit
	p.list.run(ct, l, func(ctx context.Context, a *API) (err error) {
		us, err = a.Units(ctx)
		return err
	}, func(err error) {
		if err != nil {
			p.ListErr = Tf(lang, "pages.err.call", err.Error())
			return
		}
		p.Units, p.Listed, p.ListErr = us, true, ""
	})
}

// ConfirmRevoke revokes the unit waiting for confirmation.
func (p *enrolPage) ConfirmRevoke(ct *Controller, l Loop, lang Lang) {
	id := p.Revoke
	if id == "" || !ct.C.May(api.RoleAdmin) {
		return
	}
	p.RevokeErr = ""
	p.list.run(ct, l, func(ctx context.Context, a *API) error {
		return a.Revoke(ctx, id)
	}, func(err error) {
		if err != nil {
			p.RevokeErr = Tf(lang, "enrol.err.revoke", id, err.Error())
			return
		}
		p.Revoke = ""
		if p.Card != nil && p.Card.Unit == id {
			p.CloseCard()
		}
		p.Refresh(ct, l, lang)
	})
}

// stop cancels the calls and forgets the secret (the screen is closing).
func (p *enrolPage) stop() {
	p.enrol.stop()
	p.list.stop()
	p.CloseCard()
}

// EnrolView is the units screen.
type EnrolView struct {
	app.Compo
	Ctl  *Controller
	Lang Lang // a field, so that switching the language redraws the page

	page *enrolPage
	// loop is the view's own context from OnMount: a call's answer must
	// redraw the view even when the button that made it is gone (a
	// revocation's confirmation is, once answered).
	loop Loop
}

// OnInit makes the page's state.
func (v *EnrolView) OnInit() {
	if v.page == nil {
		v.page = newEnrolPage()
	}
}

// OnMount lists the fleet.
func (v *EnrolView) OnMount(ctx app.Context) {
	v.loop = ctxLoop{ctx}
	v.page.Refresh(v.Ctl, v.loop, v.Ctl.C.Lang)
}

// OnDismount cancels the calls and drops the card with its secret.
func (v *EnrolView) OnDismount() { v.page.stop() }

// Render draws the view: for an admin the enrolment form, its card and
// the revocations; for anyone the fleet.
func (v *EnrolView) Render() app.UI {
	p, lang := v.page, v.Ctl.C.Lang
	admin := v.Ctl.C.May(api.RoleAdmin)
	return app.Main().ID("view-units").Class("view", "page", "view-units").Body(
		app.H1().Class("page-title").Text(T(lang, "enrol.title")),
		maybe(admin, v.form(lang)),
		maybe(admin, pageStatus(lang, p.enrol.busy(), p.Err)),
		app.If(admin && p.Card != nil, func() app.UI { return v.card(lang) }),
		app.H2().Class("enrol-fleet").Body(
			app.Text(T(lang, "enrol.fleet")),
			app.Button().ID("enrol-refresh").Class("ghost").Type("button").Disabled(p.list.busy()).Text(T(lang, "enrol.refresh")).
				OnClick(func(ctx app.Context, e app.Event) { v.page.Refresh(v.Ctl, v.loop, v.Ctl.C.Lang) }),
		),
		maybe(p.ListErr != "", app.P().Class("page-error", "error").Text(p.ListErr)),
		maybe(p.RevokeErr != "", app.P().ID("revoke-error").Class("page-error", "error").Text(p.RevokeErr)),
		app.If(p.Listed, func() app.UI { return v.fleet(lang, admin) }),
	)
}

// form is the enrolment form (an admin's).
func (v *EnrolView) form(lang Lang) app.UI {
	p := v.page
	opt := func(value, label, cur string) app.UI {
		return app.Option().Value(value).Selected(value == cur).Text(label)
	}
	return app.Form().ID("enrol-form").Class("page-form").OnSubmit(v.onSubmit).Body(
		pageField(T(lang, "enrol.id"), app.Input().ID("enrol-id").Type("text").Value(p.Form.ID).MaxLength(32).
			Attr("spellcheck", "false").Attr("autocomplete", "off").Placeholder(T(lang, "enrol.id.hint")).OnInput(valueTo(&v.page.Form.ID), app.EventScope("enrol-id"))),
		pageField(T(lang, "enrol.type"), app.Select().ID("enrol-type").OnChange(valueTo(&v.page.Form.Type), app.EventScope("enrol-type")).Body(
			app.Range(protocol.UnitTypes[:]).Slice(func(i int) app.UI {
				t := string(protocol.UnitTypes[i])
				return opt(t, T(lang, "type."+t), p.Form.Type)
			}))),
		pageField(T(lang, "enrol.callsign"), app.Input().ID("enrol-callsign").Type("text").Value(p.Form.Callsign).
			Placeholder(T(lang, "enrol.callsign.hint")).OnInput(valueTo(&v.page.Form.Callsign), app.EventScope("enrol-callsign"))),
		pageField(T(lang, "enrol.capabilities"), app.Input().ID("enrol-capabilities").Type("text").Value(p.Form.Capabilities).
			Attr("spellcheck", "false").Placeholder(T(lang, "enrol.capabilities.hint")).OnInput(valueTo(&v.page.Form.Capabilities), app.EventScope("enrol-capabilities"))),
		pageField(T(lang, "enrol.how"), app.Select().ID("enrol-how").OnChange(valueTo(&v.page.Form.How), app.EventScope("enrol-how")).Body(
			app.Range(Hows).Slice(func(i int) app.UI { return opt(Hows[i], T(lang, "enrol.how."+Hows[i]), p.Form.How) }))),
		app.Div().Class("page-actions").Body(
			app.Button().ID("enrol-submit").Type("submit").Disabled(p.enrol.busy()).Text(T(lang, "enrol.submit")),
		),
	)
}

// card is the one-time card of the enrolment just made.
func (v *EnrolView) card(lang Lang) app.UI {
	s, q := v.page.Card, v.page.QR
	row := func(id, label, value string) app.UI {
		return app.Div().Class("enrol-kv").Body(
			app.Dt().Text(label),
			app.Dd().Body(app.Code().ID(id).Text(value)),
		)
	}
	var body []app.UI
	switch s.How {
	case HowResponder:
		if q.Size() > 0 {
			body = append(body, qrSVG("enrol-qr", q, 8*(q.Size()+2*QRQuiet)))
		}
		body = append(body, app.P().Text(T(lang, "enrol.card.responder")), app.Dl().Body(row("enrol-link", T(lang, "enrol.card.link"), s.Link)))
	case HowOwnTracks:
		body = append(body, app.P().Text(T(lang, "enrol.card.owntracks")), app.Dl().Body(
			row("enrol-url", T(lang, "enrol.card.url"), s.URL),
			row("enrol-user", T(lang, "enrol.card.user"), s.Unit),
			row("enrol-password", T(lang, "enrol.card.password"), s.Secret),
		), app.P().Class("enrol-note").Text(Tf(lang, "enrol.card.mqtt", s.MQTT, s.Unit)))
	case HowTraccar:
		body = append(body, app.P().Text(T(lang, "enrol.card.traccar")), app.Dl().Body(
			row("enrol-url", T(lang, "enrol.card.server"), s.URL),
			row("enrol-device", T(lang, "enrol.card.device"), s.Unit),
		))
	default:
		body = append(body, app.P().Text(T(lang, "enrol.card.agent")), app.Pre().ID("enrol-agent").Text(s.Agent),
			app.P().Class("enrol-note").Text(T(lang, "enrol.card.broker")))
	}
	return app.Section().ID("enrol-card").Class("enrol-card").DataSet("unit", s.Unit).DataSet("how", s.How).Body(
		app.H2().Text(Tf(lang, "enrol.card.title", s.Unit)),
		app.Dl().Body(row("enrol-secret", T(lang, "enrol.card.secret"), s.Secret)),
		app.P().Class("enrol-note", "enrol-once").Text(T(lang, "enrol.card.once")),
		app.Div().Class("enrol-setup").Body(body...),
		app.Button().ID("enrol-close").Type("button").Text(T(lang, "enrol.card.close")).OnClick(v.onClose),
	)
}

// fleet is the table of the enrolled units, each with its revocation for
// an admin.
func (v *EnrolView) fleet(lang Lang, admin bool) app.UI {
	p, ct := v.page, v.Ctl
	us := p.Units
	if len(us) == 0 {
		return app.P().Class("page-empty").Text(T(lang, "enrol.none"))
	}
	nowMS := ct.now().UnixMilli()
	heads := []string{"enrol.col.id", "enrol.col.callsign", "enrol.col.type", "enrol.col.how", "enrol.col.online", "enrol.col.fix", "enrol.col.actions"}
	if !admin {
		heads = heads[:len(heads)-1]
	}
	return app.Table().ID("enrol-units").Class("page-table").Body(
		app.THead().Body(app.Tr().Body(app.Range(heads).Slice(func(i int) app.UI { return app.Th().Text(T(lang, heads[i])) }))),
		app.TBody().Body(app.Range(us).Slice(func(i int) app.UI {
			u := &us[i]
			fix := T(lang, "enrol.nofix")
			if u.TS != nil {
				fix = FormatAge(lang, time.Duration(nowMS-*u.TS)*time.Millisecond)
			}
			online := T(lang, "enrol.offline")
			if u.Online {
				online = T(lang, "enrol.online")
			}
			return app.Tr().Class("enrol-unit").DataSet("unit", u.ID).DataSet("online", u.Online).Body(
				app.Td().Text(u.ID),
				app.Td().Text(u.Callsign),
				app.Td().Text(T(lang, "type."+string(u.Type))),
				app.Td().Text(T(lang, "enrol.how."+howOf(u))),
				app.Td().Text(online),
				app.Td().Text(fix),
				maybe(admin, app.Td().Class("row-actions").Body(v.revokeCell(lang, u.ID))),
			)
		})),
	)
}

// revokeCell is a row's Revoke button, or its confirmation step.
func (v *EnrolView) revokeCell(lang Lang, id string) app.UI {
	if v.page.Revoke != id {
		return app.Button().Class("ghost", "revoke").Type("button").Text(T(lang, "enrol.revoke")).
			OnClick(func(ctx app.Context, e app.Event) { v.page.Revoke, v.page.RevokeErr = id, "" }, app.EventScope("revoke-"+id))
	}
	return app.Span().Class("revoke-confirm").Body(
		app.Span().Text(Tf(lang, "enrol.revoke.ask", id)),
		app.Button().Class("danger", "revoke-yes").Type("button").Disabled(v.page.list.busy()).Text(T(lang, "enrol.revoke.yes")).
			OnClick(func(ctx app.Context, e app.Event) { v.page.ConfirmRevoke(v.Ctl, v.loop, v.Ctl.C.Lang) }, app.EventScope("yes-"+id)),
		app.Button().Class("ghost", "revoke-no").Type("button").Text(T(lang, "enrol.revoke.no")).
			OnClick(func(ctx app.Context, e app.Event) { v.page.Revoke = "" }, app.EventScope("no-"+id)),
	)
}

func (v *EnrolView) onSubmit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	v.page.Submit(v.Ctl, v.loop, v.Ctl.C.Lang)
}

func (v *EnrolView) onClose(ctx app.Context, e app.Event) { v.page.CloseCard() }
