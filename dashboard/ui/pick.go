package ui

import (
	"cmp"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// The picker. Markers overlap — three cars at one station, the units on
// scene at their incident — and a click on the pile would pick one of them
// for the dispatcher. When a click lands on more than one marker within
// reach, a small list opens at the click instead: each incident (priority,
// kind, id) and each unit (type, callsign, id, status), incidents first,
// then nearest first. Choosing one selects it exactly as a direct click on
// it would. Esc, a click elsewhere on the map, a pan or a zoom close it.
// In "new incident" mode a click never opens it: it places the incident.

// HitTestAll lists everything within reach of canvas point x, y —
// incidents first, then units, each nearest first (equal distances by id)
// — appending to dst. Its first hit is HitTest's answer; Lat, Lon is the
// clicked position in each.
func HitTestAll(s *Store, v View, x, y float64, dst []Hit) []Hit {
	lat, lon := v.FromScreen(x, y)
	type near struct {
		h Hit
		d float64
	}
	var hits []near
	for _, inc := range s.Incidents {
		ix, iy := v.ToScreen(inc.Lat, inc.Lon)
		if d := sq(ix-x) + sq(iy-y); d <= hitIncidentPx*hitIncidentPx {
			hits = append(hits, near{Hit{Kind: HitIncident, ID: inc.ID, Lat: lat, Lon: lon}, d})
		}
	}
	reach := max(hitUnitPx, UnitRadius(v.Zoom)+4)
	scale := v.scale()
	ox, oy := v.origin()
	for _, u := range s.Units {
		if !u.HasFix {
			continue
		}
		if d := sq(u.MX*scale-ox-x) + sq(u.MY*scale-oy-y); d <= reach*reach {
			hits = append(hits, near{Hit{Kind: HitUnit, ID: u.ID, Lat: lat, Lon: lon}, d})
		}
	}
	slices.SortFunc(hits, func(a, b near) int {
		return cmp.Or(cmp.Compare(a.h.Kind, b.h.Kind), cmp.Compare(a.d, b.d), cmp.Compare(a.h.ID, b.h.ID))
	})
	for _, h := range hits {
		dst = append(dst, h.h)
	}
	return dst
}

// Pick is the picker open over the map.
type Pick struct {
	X, Y float64 // canvas CSS px where it opened
	Hits []Hit   // what was under the click, in HitTestAll's order
	view View    // the view it opened in: any other (pan, zoom, resize) closes it
}

// pickClick is Console.Click's part for the picker, under c.mu: it closes
// an open picker, and opens one when the click lands on several markers
// (never in "new incident" mode). h is the click's HitTest answer;
// handled says that the click is done — the picker opened (h becomes a
// HitPick), or a click on an empty spot closed it (and must not also open
// the new-incident form there).
func (c *Console) pickClick(h *Hit, x, y float64) (handled bool) {
	wasOpen := c.pick != nil
	c.pick = nil
	if c.Creating {
		return false
	}
	if hits := HitTestAll(c.Store, c.Scene.View, x, y, nil); len(hits) > 1 {
		c.pick = &Pick{X: x, Y: y, Hits: hits, view: c.Scene.View}
		h.Kind, h.ID = HitPick, ""
		return true
	}
	// Closing the picker with a click on a marker selects the marker: one
	// click, as without a picker. On nothing, the click only closed it.
	if wasOpen && h.Kind == HitNothing {
		return true
	}
	return false
}

// Picker is the open picker, if any (a copy: the caller may read it
// without the lock).
func (c *Console) Picker() (Pick, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pick == nil || c.pick.view != c.Scene.View {
		return Pick{}, false
	}
	p := *c.pick
	p.Hits = slices.Clone(p.Hits)
	return p, true
}

// ClosePick closes the picker; it reports whether one was open.
func (c *Console) ClosePick() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	open := c.pick != nil
	c.pick = nil
	return open
}

// Choose selects an item of the picker as a direct click on it would, and
// closes the picker; the Controller then follows the returned hit
// (Controller.Clicked). It selects by id: a unit that moved since the
// picker opened is still the one chosen. An item whose incident or unit is
// gone (closed and forgotten, removed) is dropped from the picker instead,
// which stays open for the others (HitNothing).
func (c *Console) Choose(kind HitKind, id string) Hit {
	c.mu.Lock()
	p := c.pick
	if p == nil {
		c.mu.Unlock()
		return Hit{}
	}
	i := slices.IndexFunc(p.Hits, func(h Hit) bool { return h.Kind == kind && h.ID == id })
	if i < 0 {
		c.mu.Unlock()
		return Hit{}
	}
	h := p.Hits[i]
	if !c.pickExists(h) {
		p.Hits = slices.Delete(p.Hits, i, i+1)
		if len(p.Hits) == 0 {
			c.pick = nil
		}
		c.mu.Unlock()
		return Hit{Lat: h.Lat, Lon: h.Lon}
	}
	c.pick = nil
	c.mu.Unlock()
	switch kind {
	case HitIncident:
		c.SelectIncident(id)
	case HitUnit:
		c.SelectUnit(id, false)
	}
	return h
}

// pickExists reports whether a hit's incident or unit is still known,
// under c.mu.
func (c *Console) pickExists(h Hit) bool {
	switch h.Kind {
	case HitIncident:
		return c.Store.Incident(h.ID) != nil
	case HitUnit:
		return c.Store.Units[h.ID] != nil
	}
	return false
}

// pickStale reports whether the picker on screen no longer matches the
// state: closed, the view moved, or an item's incident or unit is gone.
// The map's frame loop asks, under c.mu, after anything changed.
func (c *Console) pickStale() bool {
	p := c.pick
	return p == nil || p.view != c.Scene.View || slices.ContainsFunc(p.Hits, func(h Hit) bool { return !c.pickExists(h) })
}

// tidyPick brings the picker in line with the state (see pickStale): it
// closes if the view moved or nothing in it is left, and drops what is
// gone.
func (c *Console) tidyPick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pick
	if p == nil {
		return
	}
	p.Hits = slices.DeleteFunc(p.Hits, func(h Hit) bool { return !c.pickExists(h) })
	if p.view != c.Scene.View || len(p.Hits) == 0 {
		c.pick = nil
	}
}

// pickRows is how many items the picker lists; a pile larger than this
// (a crowd at a far zoom) says how many more there are: zooming in parts it.
const pickRows = 20

// pickState is what the MapView keeps for its picker: whether its last
// render showed one (read by the frame loop) and the context to re-render
// with.
type pickState struct {
	shown atomic.Bool
	ctx   app.Context
}

// watchPick (at mount) keeps the context the frame loop closes a stale
// picker with. (Esc closes it through Controller.Key, the page's one
// keyboard handler.)
func (m *MapView) watchPick(ctx app.Context) {
	m.pk.ctx = ctx
}

// syncPick runs on every animation frame: if the picker on screen has gone
// stale (any pan, zoom or resize; a listed unit removed; closed), it
// re-renders the map's elements once to close or trim it. Panning is not a
// go-app event, so nothing else would.
func (m *MapView) syncPick() {
	if !m.pk.shown.Load() {
		return
	}
	c := m.Ctl.C
	c.Lock()
	stale := c.pickStale()
	c.Unlock()
	if stale {
		m.pk.shown.Store(false) // the render says again if it still shows one
		m.pk.ctx.Dispatch(func(app.Context) { c.tidyPick() })
	}
}

// picker renders the open picker (#pick) at its click point, flipped
// left or up near the map's right or bottom edge; nothing when closed.
func (m *MapView) picker() app.UI {
	c := m.Ctl.C
	p, ok := c.Picker()
	if ok && (m.Creating || c.Sighting.Open) {
		ok = false // "new incident" or sighting mode: the next click places it
	}
	m.pk.shown.Store(ok)
	if !ok {
		return nil
	}
	lang := m.Lang
	c.Lock()
	rows := make([]app.UI, 0, min(len(p.Hits), pickRows))
	n := 0
	for _, h := range p.Hits {
		var row app.UI
		switch h.Kind {
		case HitIncident:
			if inc := c.Store.Incident(h.ID); inc != nil {
				row = m.pickIncident(inc, lang)
			}
		case HitUnit:
			if u := c.Store.Units[h.ID]; u != nil {
				row = m.pickUnit(u, lang)
			}
		}
		if row == nil {
			continue // gone since the click
		}
		n++
		if len(rows) < pickRows {
			rows = append(rows, row)
		}
	}
	c.Unlock()
	if n > len(rows) {
		rows = append(rows, app.Li().Class("pick-more").Style("color", "var(--muted)").Style("padding", "4px 6px").
			Text(Tf(lang, "map.pick.more", n-len(rows))))
	}
	// Open towards the middle of the map: its size is not known here.
	div := app.Div().ID("pick").Class("pick").DataSet("count", n).
		Attr("role", "dialog").Aria("label", Tf(lang, "map.pick", n)).
		Style("position", "absolute").Style("z-index", "5").Style("min-width", "200px").
		Style("max-width", "320px").Style("max-height", "min(50%, 360px)").Style("overflow", "auto").
		Style("background", "var(--card)").Style("border", "1px solid var(--line)").
		Style("border-radius", "6px").Style("padding", "4px").Style("box-shadow", "0 4px 16px rgba(0,0,0,.5)")
	if p.X > p.view.W/2 {
		div = div.Style("right", px(p.view.W-p.X+4))
	} else {
		div = div.Style("left", px(p.X+4))
	}
	if p.Y > p.view.H/2 {
		div = div.Style("bottom", px(p.view.H-p.Y+4))
	} else {
		div = div.Style("top", px(p.Y+4))
	}
	return div.Body(
		app.Div().Class("pick-head").Style("display", "flex").Style("align-items", "center").
			Style("gap", "6px").Style("padding", "2px 4px 4px").Style("color", "var(--muted)").Style("font-size", "12px").Body(
			app.Span().Style("flex", "1").Text(Tf(lang, "map.pick", n)),
			app.Button().ID("pick-close").Class("ghost").Title(T(lang, "map.pick.close")).
				Style("padding", "0 6px").Text("×").OnClick(m.closePick),
		),
		app.Ul().Class("pick-list").Style("list-style", "none").Style("margin", "0").Style("padding", "0").Body(rows...),
	)
}

func (m *MapView) closePick(ctx app.Context, e app.Event) { m.Ctl.C.ClosePick() }

// pickIncident is an incident's item: priority badge, kind, id.
func (m *MapView) pickIncident(inc *Incident, lang Lang) app.UI {
	id := inc.ID
	return pickItem("incident", id, m.choose(HitIncident, id),
		app.Span().Class("badge", "p"+strconv.Itoa(inc.Priority)).Text(Tf(lang, "inc.p", inc.Priority)),
		app.Span().Class("kind").Text(KindName(lang, inc.Kind)),
		app.Span().Class("pick-id").Style("color", "var(--muted)").Text(inc.ID),
	)
}

// pickUnit is a unit's item: type glyph in its status colour, callsign,
// id, status.
func (m *MapView) pickUnit(u *UnitState, lang Lang) app.UI {
	status := lookup(lang, "status.", string(u.Status))
	if u.Status == "" {
		status = T(lang, "status.unknown")
	}
	if !u.Online {
		status += " · " + T(lang, "status.offline")
	}
	id := u.ID
	return pickItem("unit", id, m.choose(HitUnit, id),
		app.Span().Class("glyph", "c-"+string(u.Status)).Title(T(lang, "type."+string(u.Type))).Text(typeGlyph(u.Type)),
		maybe(u.Callsign != "", app.Span().Class("callsign").Text(u.Callsign)),
		app.Span().Class("pick-id").Style("color", "var(--muted)").Text(u.ID),
		app.Span().Class("status").Style("margin-left", "auto").Style("font-size", "12px").Text(status),
	)
}

// pickItem is one row: a button, so that the keyboard reaches it too.
// go-app compares handlers by code pointer only: a row reused for another
// marker would keep the first one's handler — and id — without the scope.
func pickItem(kind, id string, h app.EventHandler, body ...app.UI) app.UI {
	return app.Li().Body(
		app.Button().Class("pick-item").DataSet("kind", kind).DataSet("id", id).Type("button").
			Style("display", "flex").Style("gap", "6px").Style("align-items", "center").
			Style("width", "100%").Style("text-align", "left").Style("margin", "1px 0").
			OnClick(h, app.EventScope(kind, id)).Body(body...),
	)
}

// choose is an item's click handler: select it as a direct click would.
func (m *MapView) choose(kind HitKind, id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) { m.Ctl.Clicked(m.Ctl.C.Choose(kind, id)) }
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "px" }
