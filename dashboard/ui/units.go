package ui

import (
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
)

// UnitRows is how many unit rows the panel renders at first, and how many
// more each "show more" adds: the map shows every unit; the list is for
// finding one (search, filters, orders), and every row costs each
// once-a-second re-render of the page — 200 rows took ~60 ms of the page's
// one thread in the 5,000-unit benchmark, a frame dropped every second.
const UnitRows = 60

// UnitsPanel lists units with filters (status, type, district) and a search
// box; selecting one centres the map on it and draws its last ten minutes.
type UnitsPanel struct {
	app.Compo
	Ctl *Controller
	Rev int64
}

// Render draws the panel.
func (p *UnitsPanel) Render() app.UI {
	c := p.Ctl.C
	lang := c.Lang
	now := time.Now()
	hubNow := c.Store.HubNow(now)
	from := c.Selected()
	rows, total := FilterUnits(c.Store, c.Filter, hubNow, max(c.UnitRows, UnitRows), from)
	sel := c.Scene.SelUnit
	statuses := []string{"available", "enroute", "on_scene", "busy", "off_duty", "offline", "stale"}
	sorts := []string{SortID, SortStatus, SortDistance}
	return app.Section().ID("units").Class("panel", "units").Body(
		app.Header().Class("panel-head").Body(
			app.H2().Text(T(lang, "units.title")),
			app.Span().ID("unit-count").Class("count").Text(Tf(lang, "units.count", total, len(c.Store.Units))),
		),
		app.Div().Class("filters").Body(
			app.Input().ID("unit-search").Type("search").Placeholder(T(lang, "units.search")).Value(c.Filter.Search).
				Title(T(lang, "key.search")).OnInput(p.onSearch),
			app.Select().ID("unit-status").OnChange(p.set(&p.Ctl.C.Filter.Status)).Body(
				app.Option().Value("").Selected(c.Filter.Status == "").Text(T(lang, "units.all.status")),
				app.Range(statuses).Slice(func(i int) app.UI {
					return app.Option().Value(statuses[i]).Selected(c.Filter.Status == statuses[i]).
						Text(T(lang, "status."+statuses[i]))
				}),
			),
			app.Select().ID("unit-type").OnChange(p.set(&p.Ctl.C.Filter.Type)).Body(
				app.Option().Value("").Selected(c.Filter.Type == "").Text(T(lang, "units.all.type")),
				app.Range(protocol.UnitTypes[:]).Slice(func(i int) app.UI {
					t := string(protocol.UnitTypes[i])
					return app.Option().Value(t).Selected(c.Filter.Type == t).Text(T(lang, "type."+t))
				}),
			),
			app.Select().ID("unit-district").OnChange(p.set(&p.Ctl.C.Filter.District)).Body(
				app.Option().Value("").Selected(c.Filter.District == "").Text(T(lang, "units.all.district")),
				app.Range(c.Store.Districts).Slice(func(i int) app.UI {
					d := &c.Store.Districts[i]
					return app.Option().Value(d.ID).Selected(c.Filter.District == d.ID).Text(d.Name(lang))
				}),
				app.Option().Value("outside").Selected(c.Filter.District == "outside").Text(T(lang, "units.outside")),
			),
			app.Select().ID("unit-sort").Title(T(lang, "units.sort")).OnChange(p.set(&p.Ctl.C.Filter.Sort)).Body(
				app.Range(sorts).Slice(func(i int) app.UI {
					return app.Option().Value(sorts[i]).Selected(c.Filter.Sort == sorts[i]).
						Disabled(sorts[i] == SortDistance && from == nil).Text(T(lang, "units.sort."+sorts[i]))
				}),
			),
		),
		app.If(sel != "", func() app.UI {
			return app.Div().ID("unit-track").Class("track").DataSet("unit", sel).Title(sel).
				Text(c.Store.UnitName(sel) + " · " + Tf(lang, "units.track", len(c.Scene.Track)))
		}),
		app.If(total == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "units.empty"))
		}),
		app.Ul().ID("unit-list").Class("unit-list").Body(
			app.Range(rows).Slice(func(i int) app.UI { return p.row(rows[i], lang, hubNow, sel, from) }),
			app.If(total > len(rows), func() app.UI {
				return app.Li().Class("more").Body(
					app.Span().Text(Tf(lang, "units.more", total-len(rows))),
					app.Button().ID("units-more").Class("ghost").Text(Tf(lang, "units.showmore", min(UnitRows, total-len(rows)))).
						OnClick(p.onMore),
				)
			}),
		),
	)
}

func (p *UnitsPanel) onMore(ctx app.Context, e app.Event) {
	p.Ctl.C.UnitRows = max(p.Ctl.C.UnitRows, UnitRows) + UnitRows
}

func (p *UnitsPanel) onSearch(ctx app.Context, e app.Event) {
	p.Ctl.C.Filter.Search = ctx.JSSrc().Get("value").String()
}

// set stores a select's value in a filter field.
func (p *UnitsPanel) set(field *string) app.EventHandler {
	return func(ctx app.Context, e app.Event) { *field = ctx.JSSrc().Get("value").String() }
}

// row is one unit: callsign first, as people know it; a click selects it
// and centres the map on it. from is the selected incident (nil: none): its
// distance is shown.
func (p *UnitsPanel) row(u *UnitState, lang Lang, hubNow int64, sel string, from *Incident) app.UI {
	fresh := u.Fresh(hubNow)
	cls := []string{"unit", "s-" + string(u.Status)}
	switch {
	case !u.Online:
		cls = append(cls, "offline")
	case !fresh:
		cls = append(cls, "stale")
	}
	if u.ID == sel {
		cls = append(cls, "selected")
	}
	status := lookup(lang, "status.", string(u.Status))
	if u.Status == "" {
		status = T(lang, "status.unknown")
	}
	if !u.Online {
		status += " · " + T(lang, "status.offline")
	}
	fix := T(lang, "unit.nofix")
	if u.HasFix {
		fix = Tf(lang, "unit.lastfix", FormatAge(lang, u.FixAge(hubNow)))
		if !fresh {
			fix += " · " + T(lang, "status.stale")
		}
	}
	district := p.Ctl.C.Store.DistrictName(u, lang)
	dist := ""
	if from != nil && u.HasFix {
		dist = FormatDistance(lang, protocol.Haversine(u.Lat, u.Lon, from.Lat, from.Lon))
	}
	id := u.ID
	return app.Li().Class(cls...).DataSet("id", u.ID).DataSet("status", string(u.Status)).
		DataSet("type", string(u.Type)).DataSet("online", u.Online).DataSet("fresh", fresh).
		OnClick(func(ctx app.Context, e app.Event) { p.Ctl.SelectUnit(id, true) }, app.EventScope(id)).Body(
		app.Span().Class("glyph", "c-"+string(u.Status)).Title(T(lang, "type."+string(u.Type))).Text(typeGlyph(u.Type)),
		app.If(u.Callsign != "", func() app.UI {
			return app.Span().Class("callsign").Title(u.ID).Text(u.Callsign)
		}),
		app.Span().Class("unit-id").Text(u.ID),
		app.Span().Class("status").Text(status),
		app.If(dist != "", func() app.UI { return app.Span().Class("dist").Text(dist) }),
		app.If(u.Incident != "", func() app.UI {
			return app.Span().Class("incident-ref").Text(Tf(lang, "units.assigned", u.Incident))
		}),
		app.Span().Class("fix").Text(fix),
		app.If(district != "", func() app.UI { return app.Span().Class("district").Text(district) }),
	)
}

// typeGlyph is the marker shape of a unit type as a character, for lists.
func typeGlyph(t protocol.UnitType) string {
	switch shapeOf(t) {
	case shapeSquare:
		return "■"
	case shapeTri:
		return "▲"
	case shapeDiamond:
		return "◆"
	default:
		return "●"
	}
}

// StatusBar is the bottom line: dispatchable units by type, open and
// uncovered incidents, today's median time to arrival, and the link
// (#link, data-state connected / connecting / reconnecting / offline) with
// the age of the newest data.
type StatusBar struct {
	app.Compo
	Ctl *Controller
	Rev int64
}

// Render draws the bar.
func (b *StatusBar) Render() app.UI {
	c := b.Ctl.C
	lang := c.Lang
	now := time.Now()
	st := ComputeStats(c.Store, c.Store.HubNow(now), DayStart(now, c.Store.Skew))
	arrival := T(lang, "bar.none")
	if st.Arrivals > 0 {
		arrival = FormatSeconds(lang, st.MedianArrivalS) + " (" + strconv.Itoa(st.Arrivals) + ")"
	}
	uncCls := "stat"
	if st.Uncovered > 0 {
		uncCls += " alert"
	}
	return app.Footer().ID("statusbar").Class("statusbar").Body(
		app.Span().ID("available").Class("stat").Body(
			app.Span().Class("label").Text(T(lang, "bar.available")),
			app.Range(protocol.UnitTypes[:]).Slice(func(i int) app.UI {
				t := protocol.UnitTypes[i]
				return app.Span().Class("avail").DataSet("type", string(t)).Title(T(lang, "type."+string(t))).
					Text(typeGlyph(t) + " " + strconv.Itoa(st.Available[i]))
			}),
		),
		app.Span().ID("open").Class("stat").DataSet("count", st.Open).Body(
			app.Span().Class("label").Text(T(lang, "bar.open")), app.Text(" "+strconv.Itoa(st.Open))),
		app.Span().ID("uncovered").Class(uncCls).DataSet("count", st.Uncovered).Body(
			app.Span().Class("label").Text(T(lang, "bar.uncovered")), app.Text(" "+strconv.Itoa(st.Uncovered))),
		app.Span().ID("arrival").Class("stat").Body(
			app.Span().Class("label").Text(T(lang, "bar.arrival")), app.Text(" "+arrival)),
		app.Span().ID("fleet").Class("stat", "muted").Text(Tf(lang, "bar.units", st.Units, st.Online)),
		app.Span().Class("spacer"),
		linkBadge(c, now),
	)
}

// linkBadge is #link: the stream's state and the age of the newest data.
func linkBadge(c *Console, now time.Time) app.UI {
	lang := c.Lang
	l := c.Link
	text := LinkText(lang, l, c.Store.DataAge(now), !c.Store.Received.IsZero())
	return app.Span().ID("link").Class("link", l.State).DataSet("state", l.State).
		DataSet("attempt", l.Attempt).Title(l.Err).Text(text)
}

// LinkText is what #link says: "live · data 2 s old", "reconnecting since
// 14:03:07 · data 45 s old", …
func LinkText(lang Lang, l Link, age time.Duration, haveData bool) string {
	var s string
	switch l.State {
	case LinkConnected:
		s = T(lang, "link.connected")
	case LinkConnecting:
		s = T(lang, "link.connecting")
	case LinkReconnecting:
		s = Tf(lang, "link.reconnecting", l.Since.Format("15:04:05"))
	default:
		s = T(lang, "link.offline")
	}
	if l.State == LinkOffline {
		return s
	}
	if haveData {
		return s + " · " + Tf(lang, "link.age", FormatAge(lang, age))
	}
	return s + " · " + T(lang, "link.nodata")
}
