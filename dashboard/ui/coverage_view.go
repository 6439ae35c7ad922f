package ui

import (
	"context"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// The coverage on the page: the layer's button under the map's controls
// (#coverage-toggle) and, while the layer shows, its box over the map
// (#coverage-box): the tiers' colours, the biggest holes (a click centres
// the map on one) and the hub's move-ups (fetched on demand; a dispatcher
// sends one through the confirmation). The status bar's figure is units.go's.

// coverageToggle is the layer's button, there only when the hub sends a
// layer.
func (m *MapView) coverageToggle(cv CoverView) app.UI {
	if !cv.Has {
		return nil
	}
	title := T(m.Lang, "cover.toggle")
	cls := "layer"
	if cv.On {
		cls += " on"
	}
	// A character, not an SVG icon: each SVG element's builder chain costs
	// app.wasm ~0.5 KB gzipped.
	return app.Button().ID("coverage-toggle").Class(cls).DataSet("on", cv.On).Title(title).
		Aria("label", title).Aria("pressed", cv.On).Text("▦").OnClick(m.onCoverage)
}

func (m *MapView) onCoverage(ctx app.Context, e app.Event) { m.Ctl.C.ToggleCoverage() }

// coverageBox is the layer's box: legend, holes, move-ups.
func (m *MapView) coverageBox(cv CoverView) app.UI {
	lang := m.Lang
	holes := cv.Holes
	mv := cv.Move
	legend := make([]app.UI, numCoverSlots)
	for i := range legend {
		k := (i + 1) % numCoverSlots // the tiers first, then beyond
		legend[i] = app.Span().Class("sw").Style("--c", Palette[coverColours[k]]).Text(T(lang, "tier."+string(rune('1'+i))))
	}
	moveKey := "mu.open"
	if mv.Open {
		moveKey = "mu.refresh"
	}
	return app.Div().ID("coverage-box").Class("card", "cover-box").Body(
		app.Div().Class("cover-legend").Body(legend...),
		para("", "head", Tf(lang, "cover.holes", cv.Label)),
		maybe(len(holes) == 0, para("", "empty", T(lang, "cover.noholes"))),
		app.Ol().ID("holes").Class("holes").Body(
			app.Range(holes).Slice(func(i int) app.UI {
				h := holes[i]
				return app.Li().Class("hole").DataSet("lat", h.Lat).DataSet("lon", h.Lon).
					OnClick(func(ctx app.Context, e app.Event) { m.Ctl.C.CenterOnHole(h.Lat, h.Lon) }, app.EventScope(h.Lat, h.Lon)).
					Body(textSpan("hole-district", h.District), app.Text(" · "+h.Area+" · "+h.Demand))
			}),
		),
		app.Div().Class("moveups-head").Body(
			app.Button().ID("moveups").Class("ghost").Disabled(mv.Busy).Text(T(lang, moveKey)).OnClick(m.onMoveUps),
			maybe(mv.Open, app.Button().ID("moveups-close").Class("ghost").Title(T(lang, "mu.close")).Text("×").OnClick(m.onMoveUpsClose)),
		),
		m.moveUpList(mv),
	)
}

// moveUpList is the hub's suggestions, the objective first; each row's
// Send (for a dispatcher) asks for the confirmation of exactly that move.
func (m *MapView) moveUpList(mv MoveUpsView) app.UI {
	lang := m.Lang
	rows := mv.Rows
	switch {
	case !mv.Open:
		return nil
	case mv.Busy && len(rows) == 0:
		return para("moveups-state", "muted", T(lang, "mu.loading"))
	case mv.NA:
		return para("moveups-na", "muted", T(lang, "mu.na"))
	case mv.Err != "":
		return para("moveups-error", "error", Tf(lang, "err.api", mv.Err))
	case mv.Objective == "":
		return nil
	}
	return app.Div().ID("moveups-list").Body(
		para("moveups-objective", "objective", mv.Objective),
		maybe(len(rows) == 0, para("", "empty", T(lang, "mu.none"))),
		app.Ol().Class("moveups").Body(
			app.Range(rows).Slice(func(i int) app.UI {
				r := rows[i]
				mu := r.MoveUp
				return app.Li().Class("moveup").DataSet("unit", r.Unit).DataSet("sent", r.Sent).Body(
					textSpan("glyph", r.Glyph),
					textSpan("callsign", r.Name),
					maybe(r.Name != r.Unit, textSpan("unit-id", r.Unit)),
					textSpan("route", r.From+" → "+r.To),
					textSpan("travel", r.Travel),
					textSpan("gain", r.Gain),
					maybe(r.Sent, textSpan("moveup-sent", T(lang, "mu.sent"))),
					maybe(mv.Send && !r.Sent, app.Button().Class("moveup-send").DataSet("unit", r.Unit).Text(T(lang, "mu.send")).
						OnClick(func(ctx app.Context, e app.Event) { m.Ctl.C.AskMoveUp(mu) }, app.EventScope(r.Unit, r.ToLat, r.ToLon))),
				)
			}),
		),
	)
}

// textSpan is <span class>text</span>, and para <p id class>text</p> (no id
// if ""): one call each instead of go-app's builder chain inlined at every
// site, which costs app.wasm.
//
//go:noinline
func textSpan(class, text string) app.UI { return app.Span().Class(class).Text(text) }

//go:noinline
func para(id, class, text string) app.UI {
	p := app.P().Class(class).Text(text)
	if id != "" {
		p = p.ID(id)
	}
	return p
}

func (m *MapView) onMoveUps(ctx app.Context, e app.Event) { m.Ctl.FetchMoveUps() }

func (m *MapView) onMoveUpsClose(ctx app.Context, e app.Event) { m.Ctl.C.CloseMoveUps() }

// FetchMoveUps opens the move-up list and asks the hub for its
// suggestions (GET /api/moveups) — again when it is open: a refresh. A hub
// that does not serve them (404) is said to.
func (ct *Controller) FetchMoveUps() {
	m := &ct.C.MoveUps
	if m.Busy || ct.api == nil {
		return
	}
	m.Open, m.Busy = true, true
	var list *api.MoveUps
	ct.call(func(ctx context.Context, a *API) (err error) {
		list, err = a.MoveUps(ctx)
		return err
	}, func(err error) { ct.C.setMoveUps(list, err) })
}

// MoveUp sends a unit on a suggested move-up (POST
// /api/units/{id}/reposition with the suggested place and the
// dispatcher's note for the officer); done hears the outcome (the
// confirmation shows a refusal).
func (ct *Controller) MoveUp(mu *api.MoveUp, note string, done func(error)) {
	if mu == nil {
		done(nil)
		return
	}
	lang := ct.C.Lang
	ct.call(func(ctx context.Context, a *API) error {
		_, err := a.Reposition(ctx, mu.Unit, api.RepositionRequest{Lat: mu.ToLat, Lon: mu.ToLon, Note: note})
		return err
	}, func(err error) {
		done(err)
		if err != nil {
			return
		}
		ct.C.MovedUp(mu.Unit)
		ct.C.Say(Tf(lang, "mu.sent.notice", ct.C.Store.UnitName(mu.Unit), ct.C.Store.districtName(mu.ToDistrict, lang)), false, ct.now())
	})
}

// moveUpText is the confirmation of a move-up: its title, the question
// (the unit, from where to where, the drive and the gain) and its button.
func moveUpText(c *Console, p *Pending) (title, question, ok string) {
	lang := c.Lang
	mu := p.MoveUp
	if mu == nil {
		return T(lang, "mu.confirm.title"), "", T(lang, "mu.send")
	}
	name := c.Store.UnitName(mu.Unit)
	var bound float64
	if l := c.MoveUps.List; l != nil {
		bound = l.CoverS
	}
	question = Tf(lang, "mu.confirm", name, mu.Unit, c.Store.districtName(mu.FromDistrict, lang), c.Store.districtName(mu.ToDistrict, lang)) +
		" " + Tf(lang, "mu.confirm.gain", FormatSeconds(lang, mu.TravelS), "+"+Percent(lang, mu.Gain)+" "+CoverLabel(lang, bound))
	return T(lang, "mu.confirm.title"), question, Tf(lang, "mu.send.unit", name)
}
