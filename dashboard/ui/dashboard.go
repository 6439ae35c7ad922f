package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Dashboard is the page at "/": the sign-in form (or, with a one-time
// password, its change), then the console — top bar, incidents panel, map,
// units panel, status bar. It owns the Controller (and through it the
// session's stream and keep-alive) and a one-second ticker; both stop when
// it is dismounted. At mount it asks the hub whether the browser has a
// session already (a reload): then the console comes without the form.
type Dashboard struct {
	app.Compo

	ctl       *Controller
	tilesEdit string
	stopTick  chan struct{}
	keys      app.Func // the document's keydown listener
	saved     string   // the preferences last written to local storage
}

// newDashboard is the route's factory.
func newDashboard() app.Composer { return &Dashboard{} }

// OnInit runs in the browser and in the server's pre-render: no I/O here.
func (d *Dashboard) OnInit() {
	if d.ctl == nil {
		d.ctl = NewController(NewConsole(EN), "")
	}
}

// OnMount (browser only) reads the browser's language, origin and basemap
// setting, starts the ticker, and checks for a session.
func (d *Dashboard) OnMount(ctx app.Context) {
	d.ctl.Attach(ctxLoop{ctx})
	d.ctl.Base = browserOrigin()
	d.ctl.C.SetLang(browserLang())
	d.ctl.C.SetTiles(browserTiles(ctx))
	d.tilesEdit = d.ctl.C.Scene.Tiles
	var kept Prefs
	ctx.LocalStorage().Get(PrefsKey, &kept) // go-app stores values as JSON
	d.saved = encodePrefs(kept)
	d.ctl.C.Restore(kept)
	d.ctl.sound.init()
	d.keys = listenKeys(ctx, d.onKey)
	d.ctl.Resume()
	// The server pre-renders the same page: this says the app now runs it
	// (what a test waits for before typing into the form).
	app.Window().Get("document").Get("documentElement").Call("setAttribute", "data-app", "running")
	stop := make(chan struct{})
	d.stopTick = stop
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx.Dispatch(func(ctx app.Context) {
					d.keep(ctx)
					if !d.ctl.SignedIn() {
						ctx.PreventUpdate() // nothing on the sign-in page ages
						return
					}
					d.ctl.Tick()
					d.ctl.sound.tick(time.Now(), len(d.ctl.C.Alerts), len(d.ctl.C.SOS), d.ctl.C.Mute)
				})
			}
		}
	}()
}

// OnDismount stops the session's stream and keep-alive and the ticker. The
// hub's session stays: only Sign out ends it.
func (d *Dashboard) OnDismount() {
	if d.stopTick != nil {
		close(d.stopTick)
		d.stopTick = nil
	}
	if d.keys != nil {
		app.Window().Get("document").Call("removeEventListener", "keydown", d.keys)
		d.keys.Release()
		d.keys = nil
	}
	d.ctl.Stop()
}

// keep writes the preferences to local storage when they changed (once a
// second at most).
func (d *Dashboard) keep(ctx app.Context) {
	p := d.ctl.C.Prefs()
	if !d.ctl.SignedIn() {
		// Signed out, nothing is selected: keep the last selection for the
		// next sign-in.
		old := decodePrefs(d.saved)
		p.Incident, p.Unit = old.Incident, old.Unit
	}
	if s := encodePrefs(p); s != d.saved {
		d.saved = s
		ctx.LocalStorage().Set(PrefsKey, p)
	}
}

// onKey runs a key pressed anywhere on the page (KeyResult says what to do).
func (d *Dashboard) onKey(ctx app.Context, key, tag string, editable bool) {
	r := d.ctl.Key(key, tag, editable)
	if !r.Handled {
		ctx.PreventUpdate()
		return
	}
	if r.Focus != "" {
		id := r.Focus
		ctx.Defer(func(app.Context) {
			if el := app.Window().GetElementByID(id); el.Truthy() {
				el.Call("focus")
			}
		})
	}
}

// Render draws the sign-in form, the one-time password's change, or the
// console. #kuaifan[data-session] says which (the Phase… constants).
func (d *Dashboard) Render() app.UI {
	c := d.ctl.C
	lang := c.Lang
	phase := d.ctl.Phase()
	if phase != PhaseSignedIn {
		in := &SignIn{Ctl: d.ctl, Lang: lang, Phase: phase, Busy: d.ctl.Signing(), Error: noticeText(c), Info: infoText(c)}
		if ch := d.ctl.Change(); ch != nil {
			in.Name, in.Busy, in.Error = d.ctl.Who().Name, ch.Busy, ch.Err
		}
		return app.Div().ID("kuaifan").Class("kf", "signed-out").DataSet("session", phase).Lang(string(lang)).Body(
			in,
			app.Div().Class("hidden").Body(linkBadge(c, time.Now())), // #link exists before sign-in too
		)
	}
	who := d.ctl.Who()
	now := time.Now()
	muteTitle := T(lang, "app.mute")
	if c.Mute {
		muteTitle = T(lang, "app.unmute")
	}
	tabs := []string{TabIncidents, TabMap, TabUnits}
	// Behind a confirmation the page is inert: nothing there takes a click
	// or the focus (a key pressed goes to the dialog, not to the button that
	// opened it).
	page := app.Div().ID("page").Class("page")
	if c.Confirm != nil {
		page = page.Attr("inert", true)
	}
	return app.Div().ID("kuaifan").Class("kf").DataSet("session", phase).Lang(string(lang)).Body(
		page.Body(
			app.Header().Class("topbar").Body(
				brandIcon(),
				app.Span().Class("brand").Text(T(lang, "app.title")),
				app.If(c.Notice.Text != "", func() app.UI {
					cls := "notice"
					if c.Notice.Error {
						cls += " error"
					}
					return app.Span().ID("notice").Class(cls).Text(c.Notice.Text)
				}),
				d.screenBar(lang),
				app.Span().Class("spacer"),
				app.Details().Class("settings").Body(
					app.Summary().Title(T(lang, "key.help")).Text("⚙"),
					app.Form().Class("tiles").OnSubmit(d.onTiles).Body(
						app.Label().For("tiles").Text(T(lang, "map.tiles")),
						app.Input().ID("tiles").Type("url").Value(d.tilesEdit).
							Placeholder("https://tiles.example/{z}/{x}/{y}.png").
							OnChange(valueTo(&d.tilesEdit), app.EventScope("tiles")),
						app.Button().Type("submit").Text("OK"),
						app.P().Class("keys").Text(T(lang, "key.help")),
					),
				),
				app.Button().ID("mute").Class("ghost").DataSet("muted", c.Mute).Title(muteTitle).Aria("label", muteTitle).
					Body(speakerIcon(c.Mute)).OnClick(d.onMute),
				app.Button().ID("lang").Class("ghost").Title(string(lang.Other())).
					Text(T(lang, "app.switch")).OnClick(d.onLang),
				app.Span().ID("who").Class("who").DataSet("name", who.Name).DataSet("role", who.Role).
					Title(T(lang, "who.title")).Text(who.Name+" · "+lookup(lang, "role.", who.Role)),
				app.Button().ID("signout").Class("ghost").Text(T(lang, "app.signout")).OnClick(d.onSignOut),
			),
			app.If(len(c.SOS) > 0, func() app.UI { return &SOSBanner{Ctl: d.ctl, Rev: now.UnixNano()} }),
			app.If(len(c.Alerts) > 0, func() app.UI { return &AlertBanner{Ctl: d.ctl, Rev: now.UnixNano()} }),
			app.If(c.Screen == ScreenLive, func() app.UI {
				return app.Nav().ID("tabs").Class("tabs").Body(
					app.Range(tabs).Slice(func(i int) app.UI {
						t := tabs[i]
						cls := "tab"
						if c.Tab == t {
							cls += " active"
						}
						return app.Button().Class(cls).DataSet("tab", t).Text(T(lang, "tab."+t)).
							OnClick(func(ctx app.Context, e app.Event) { d.ctl.C.Tab = t }, app.EventScope(t))
					}),
				)
			}),
			app.If(c.Screen == ScreenLive, func() app.UI {
				return app.Main().Class("console", "tab-"+c.Tab).Body(
					&IncidentsPanel{Ctl: d.ctl, Rev: now.UnixNano()},
					&MapView{Ctl: d.ctl, Lang: lang, Creating: c.Creating, Chase: c.MapChase(), Cover: c.CoverView(), Patrol: c.PatrolView()},
					&UnitsPanel{Ctl: d.ctl, Shown: c.UnitsView(c.Store.HubNow(now))},
				)
			}).Else(func() app.UI { return d.screenBody() }),
			&StatusBar{Ctl: d.ctl, Rev: now.UnixNano()},
		),
		app.If(c.Confirm != nil, func() app.UI { return &ConfirmDialog{Ctl: d.ctl, Rev: now.UnixNano()} }),
	)
}

// speakerIcon is the alarm's mute button face: a speaker, struck through
// when muted (SVG: the machines here may have no emoji font).
func speakerIcon(muted bool) app.UI {
	wave := svgEl("path").Attr("d", "M15 9a4 4 0 0 1 0 6M17.5 6.5a8 8 0 0 1 0 11").Attr("fill", "none").
		Attr("stroke", "currentColor").Attr("stroke-width", "1.8").Attr("stroke-linecap", "round")
	if muted {
		wave = svgEl("path").Attr("d", "M15 9l6 6M21 9l-6 6").Attr("stroke", "currentColor").
			Attr("stroke-width", "1.8").Attr("stroke-linecap", "round")
	}
	return svgEl("svg").Attr("viewBox", "0 0 24 24").Attr("width", "18").Attr("height", "18").Aria("hidden", "true").Body(
		svgEl("path").Attr("d", "M4 9h4l5-4v14l-5-4H4z").Attr("fill", "currentColor"),
		wave,
	)
}

func (d *Dashboard) onMute(ctx app.Context, e app.Event) {
	d.ctl.C.Mute = !d.ctl.C.Mute
	d.ctl.sound.unlock() // a click may start the browser's audio
	d.keep(ctx)
}

func noticeText(c *Console) string {
	if c.Notice.Error {
		return c.Notice.Text
	}
	return ""
}

// infoText is a notice that is no error, for the sign-in form (the
// password was changed: sign in with the new one).
func infoText(c *Console) string {
	if !c.Notice.Error {
		return c.Notice.Text
	}
	return ""
}

func (d *Dashboard) onLang(ctx app.Context, e app.Event) {
	d.ctl.C.SetLang(d.ctl.C.Lang.Other())
	d.keep(ctx)
}

func (d *Dashboard) onSignOut(ctx app.Context, e app.Event) {
	d.ctl.SignOut()
}

func (d *Dashboard) onTiles(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if !d.ctl.C.SetTiles(d.tilesEdit) {
		d.ctl.C.Say(Tf(d.ctl.C.Lang, "map.tiles.bad", d.tilesEdit), true, time.Now())
		return
	}
	ctx.LocalStorage().Set(TilesKey, d.tilesEdit)
}

// SignIn is the signed-out page's card. Signed out, the sign-in form: a
// person's name (#signin-name) and password (#signin-password), and
// #signin (#signin-form, #signin-error); the hub's admin token is for
// machines: the form does not take it. With a one-time password
// (PhaseChange), its change before anything else: #pw-old, #pw-new,
// #pw-new2, #pw-change (#pw-form, #pw-error), and a way out, #signout.
// While the session is checked, a line saying so. The fields are read when
// the form is sent (no handler per keystroke: each costs app.wasm, and a
// password manager fills them without one). One component for the three:
// each component type costs app.wasm too.
type SignIn struct {
	app.Compo
	Ctl   *Controller
	Lang  Lang
	Phase string // PhaseSignedOut (or PhaseUnknown), PhaseChecking, PhaseChange
	Name  string // who must change their password
	Busy  bool
	Error string
	Info  string
}

// Render draws the card.
func (s *SignIn) Render() app.UI {
	lang := s.Lang
	if s.Phase == PhaseChecking {
		return app.Div().ID("signin-page").Body(
			app.Div().ID("signin-checking").Class("card").Body(brandLine(lang), app.P().Text(T(lang, "signin.checking"))))
	}
	form, title, submit, label, busy, errID := "signin-form", "signin.title", "signin", "signin.submit", "signin.busy", "signin-error"
	body := []app.UI{brandLine(lang), nil}
	if s.Phase == PhaseChange {
		form, title, submit, label, busy, errID = "pw-form", "pw.title", "pw-change", "pw.submit", "pw.busy", "pw-error"
		body = append(body,
			app.P().Class("note").Text(Tf(lang, "pw.why", s.Name, MinPassword)),
			field(lang, "pw-old", "pw.old", "password", "current-password"),
			field(lang, "pw-new", "pw.new", "password", "new-password"),
			field(lang, "pw-new2", "pw.new2", "password", "new-password"))
	} else {
		body = append(body,
			field(lang, "signin-name", "signin.name", "text", "username"),
			field(lang, "signin-password", "signin.password", "password", "current-password"))
	}
	body[1] = app.H2().Text(T(lang, title))
	if s.Busy {
		label = busy
	}
	body = append(body,
		app.Button().ID(submit).Type("submit").Disabled(s.Busy).Text(T(lang, label)),
		formMessage(errID, "error", s.Error))
	if s.Phase == PhaseChange {
		body = append(body, app.Button().ID("signout").Type("button").Class("ghost").Text(T(lang, "app.signout")).OnClick(s.onSignOut))
	} else {
		body = append(body,
			formMessage("signin-info", "note", s.Info),
			app.P().Class("note").Text(T(lang, "signin.note")),
			app.Button().ID("signin-lang").Type("button").Class("ghost").Text(T(lang, "app.switch")).OnClick(s.onLang))
	}
	return app.Div().ID("signin-page").Body(app.Form().ID(form).Class("card").OnSubmit(s.onSubmit).Body(body...))
}

func (s *SignIn) onSubmit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if s.Phase == PhaseChange {
		s.Ctl.ChangePassword(fieldValue("pw-old", false), fieldValue("pw-new", false), fieldValue("pw-new2", false))
		return
	}
	name := fieldValue("signin-name", false)
	password := fieldValue("signin-password", true)
	s.Ctl.sound.unlock() // the click lets the page sound the alarm later
	s.Ctl.SignIn(name, password)
}

func (s *SignIn) onLang(ctx app.Context, e app.Event) { s.Ctl.C.SetLang(s.Ctl.C.Lang.Other()) }

func (s *SignIn) onSignOut(ctx app.Context, e app.Event) { s.Ctl.SignOut() }

// brandLine is the signed-out cards' head: the mark and the name.
func brandLine(lang Lang) app.UI {
	return app.Div().Class("brandline").Body(brandIcon(), app.H1().Text(T(lang, "app.title")))
}

// field is a labelled input of a signed-out card, read when the card's
// form is sent (fieldValue).
func field(lang Lang, id, key, typ, autocomplete string) app.UI {
	in := app.Input().ID(id).Type(typ).Attr("autocomplete", autocomplete)
	if typ == "text" {
		in = in.Attr("autocapitalize", "none").Attr("spellcheck", "false").AutoFocus(true)
	}
	return app.Div().Class("field").Body(app.Label().For(id).Text(T(lang, key)), in)
}

// formMessage is a card's error or note (#id), when there is one.
func formMessage(id, class, text string) app.UI {
	if text == "" {
		return nil
	}
	return app.P().ID(id).Class(class).Attr("role", "alert").Text(text)
}

// fieldValue reads a field of the page (and empties it, if clear).
func fieldValue(id string, clear bool) string {
	v := app.Window().GetElementByID(id)
	if !v.Truthy() {
		return ""
	}
	s := v.Get("value").String()
	if clear {
		v.Set("value", "")
	}
	return s
}

const svgNS = "http://www.w3.org/2000/svg"

// svgEl makes an SVG element. Every SVG element needs the SVG namespace
// (XMLNS): go-app creates elements with createElementNS, and an <svg> or
// <path> in the HTML namespace is an unknown element that draws nothing.
// TestSVGNamespace checks that no SVG element is made any other way.
func svgEl(tag string) app.HTMLElem { return app.Elem(tag).XMLNS(svgNS) }

// brandIcon is the app's mark: a response circle with a unit in it. SVG
// elements need their namespace (XMLNS) or the browser draws nothing.
func brandIcon() app.UI {
	return svgEl("svg").Class("brand-icon").Attr("viewBox", "0 0 24 24").
		Attr("width", "22").Attr("height", "22").Aria("hidden", "true").Body(
		svgEl("circle").Attr("cx", "12").Attr("cy", "12").Attr("r", "10").
			Attr("fill", "none").Attr("stroke", "#38bdf8").Attr("stroke-width", "2"),
		svgEl("circle").Attr("cx", "12").Attr("cy", "12").Attr("r", "5").
			Attr("fill", "none").Attr("stroke", "#38bdf8").Attr("stroke-width", "1.5").Attr("stroke-dasharray", "2 2"),
		svgEl("path").Attr("d", "M12 7 L16 15 L8 15 Z").Attr("fill", "#fb923c"),
	)
}

// valueTo is app.Compo.ValueTo for a string field, made once: go-app's is
// inlined at each call site, every copy ~1.2 KB of app.wasm. Its callers
// scope it by the field's element id (app.EventScope), so that the handler
// of one field is never kept for another.
//
//go:noinline
func valueTo(dst *string) app.EventHandler {
	return func(ctx app.Context, e app.Event) { *dst = ctx.JSSrc().Get("value").String() }
}

// maybe is ui if ok, else nothing: an element only some roles are offered
// (cheaper in app.wasm than app.If's closure).
//
//go:noinline
func maybe(ok bool, ui app.UI) app.UI {
	if ok {
		return ui
	}
	return nil
}
