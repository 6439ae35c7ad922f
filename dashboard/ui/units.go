package ui

import (
	"math"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// UnitRows is how many unit rows the panel renders at first, and how many
// more each "show more" adds: the map shows every unit; the list is for
// finding one (search, filters, orders), and every row costs each
// once-a-second re-render of the page — 200 rows took ~60 ms of the page's
// one thread in the 5,000-unit benchmark, a frame dropped every second.
const UnitRows = 60

// UnitsPanel lists units with filters (status, type, district), a search
// box and an order; selecting one centres the map on it and draws its last
// ten minutes.
//
// The page hands it Shown, what it shows now (UnitsView): go-app compares
// props with reflect.DeepEqual, so the panel re-renders only when something
// it shows changed, not on every tick of the page's clock. Fix ages are
// shown to the minute for that reason (a unit reporting every few seconds
// reads "fix < 1 min" until it stops).
type UnitsPanel struct {
	app.Compo
	Ctl   *Controller
	Shown UnitsView
}

// UnitsView is what the units panel shows.
type UnitsView struct {
	Lang        Lang
	Filter      UnitFilter
	Districts   []DistrictOption
	Total       int // units passing the filter
	Known       int // units in all
	HasIncident bool
	Sel         string // the selected unit, its name and track length
	SelName     string
	Track       int
	SelReport   string // how the selected unit reports: the hub's interval, and the phone app
	Rows        []UnitRow
}

// DistrictOption is a district in the filter.
type DistrictOption struct{ ID, Name string }

// UnitRow is one unit as the list shows it.
type UnitRow struct {
	ID, Type, Status, Callsign      string
	StatusText, Fix, Dist, District string
	Incident                        string
	Online, Fresh, Selected         bool
	// ReportS is the interval the hub last commanded (0: the unit's own
	// default); Protocol how it reports ("" kuaifan's agent, owntracks,
	// osmand: a phone).
	ReportS  float64
	Protocol string
	// MoveUp is the unit's move-up under way, in words ("" none).
	MoveUp string
}

// UnitsView is the units panel's content at hub time nowMS.
func (c *Console) UnitsView(nowMS int64) UnitsView {
	lang := c.Lang
	from := c.Selected()
	units, total := FilterUnits(c.Store, c.Filter, nowMS, max(c.UnitRows, UnitRows), from)
	v := UnitsView{Lang: lang, Filter: c.Filter, Total: total, Known: len(c.Store.Units), HasIncident: from != nil,
		Sel: c.Scene.SelUnit, Track: len(c.Scene.Track), Rows: make([]UnitRow, len(units))}
	if v.Sel != "" {
		v.SelName = c.Store.UnitName(v.Sel)
		if u := c.Store.Units[v.Sel]; u != nil {
			v.SelReport = ReportText(lang, u.ReportS, string(u.Protocol))
		}
	}
	for i := range c.Store.Districts {
		d := &c.Store.Districts[i]
		v.Districts = append(v.Districts, DistrictOption{ID: d.ID, Name: d.Name(lang)})
	}
	for i, u := range units {
		v.Rows[i] = c.unitRow(u, nowMS, from)
	}
	return v
}

func (c *Console) unitRow(u *UnitState, nowMS int64, from *Incident) UnitRow {
	lang := c.Lang
	r := UnitRow{ID: u.ID, Type: string(u.Type), Status: string(u.Status), Callsign: u.Callsign,
		Incident: u.Incident, Online: u.Online, Fresh: u.Fresh(nowMS), Selected: u.ID == c.Scene.SelUnit,
		District: c.Store.DistrictName(u, lang), ReportS: u.ReportS, Protocol: string(u.Protocol),
		MoveUp: c.Store.movingUp(u, lang)}
	r.StatusText = lookup(lang, "status.", r.Status)
	if r.Status == "" {
		r.StatusText = T(lang, "status.unknown")
	}
	if !u.Online {
		r.StatusText += " · " + T(lang, "status.offline")
	}
	r.Fix = T(lang, "unit.nofix")
	if u.HasFix {
		if age := u.FixAge(nowMS); age < time.Minute {
			r.Fix = T(lang, "unit.fix.recent")
		} else {
			r.Fix = Tf(lang, "unit.fix.min", int(age/time.Minute))
		}
		if !r.Fresh {
			r.Fix += " · " + T(lang, "status.stale")
		}
		if from != nil {
			// To 10 m: the row changes when the distance does, not with GPS noise.
			r.Dist = FormatDistance(lang, math.Round(protocol.Haversine(u.Lat, u.Lon, from.Lat, from.Lon)/10)*10)
		}
	}
	return r
}

// Render draws the panel from what the console holds now.
func (p *UnitsPanel) Render() app.UI {
	c := p.Ctl.C
	v := c.UnitsView(c.Store.HubNow(time.Now()))
	lang := v.Lang
	rows := v.Rows
	statuses := []string{"available", "enroute", "on_scene", "busy", "off_duty", "offline", "stale"}
	sorts := []string{SortID, SortStatus, SortDistance}
	return app.Section().ID("units").Class("panel", "units").Body(
		app.Header().Class("panel-head").Body(
			app.H2().Text(T(lang, "units.title")),
			app.Span().ID("unit-count").Class("count").Text(Tf(lang, "units.count", v.Total, v.Known)),
		),
		app.Div().Class("filters").Body(
			app.Input().ID("unit-search").Type("search").Placeholder(T(lang, "units.search")).Value(v.Filter.Search).
				Title(T(lang, "key.search")).OnInput(p.onSearch),
			app.Select().ID("unit-status").OnChange(p.set(&p.Ctl.C.Filter.Status)).Body(
				app.Option().Value("").Selected(v.Filter.Status == "").Text(T(lang, "units.all.status")),
				app.Range(statuses).Slice(func(i int) app.UI {
					return app.Option().Value(statuses[i]).Selected(v.Filter.Status == statuses[i]).
						Text(T(lang, "status."+statuses[i]))
				}),
			),
			app.Select().ID("unit-type").OnChange(p.set(&p.Ctl.C.Filter.Type)).Body(
				app.Option().Value("").Selected(v.Filter.Type == "").Text(T(lang, "units.all.type")),
				app.Range(protocol.UnitTypes[:]).Slice(func(i int) app.UI {
					t := string(protocol.UnitTypes[i])
					return app.Option().Value(t).Selected(v.Filter.Type == t).Text(T(lang, "type."+t))
				}),
			),
			app.Select().ID("unit-district").OnChange(p.set(&p.Ctl.C.Filter.District)).Body(
				app.Option().Value("").Selected(v.Filter.District == "").Text(T(lang, "units.all.district")),
				app.Range(v.Districts).Slice(func(i int) app.UI {
					d := v.Districts[i]
					return app.Option().Value(d.ID).Selected(v.Filter.District == d.ID).Text(d.Name)
				}),
				app.Option().Value("outside").Selected(v.Filter.District == "outside").Text(T(lang, "units.outside")),
			),
			app.Select().ID("unit-sort").Title(T(lang, "units.sort")).OnChange(p.set(&p.Ctl.C.Filter.Sort)).Body(
				app.Range(sorts).Slice(func(i int) app.UI {
					return app.Option().Value(sorts[i]).Selected(v.Filter.Sort == sorts[i]).
						Disabled(sorts[i] == SortDistance && !v.HasIncident).Text(T(lang, "units.sort."+sorts[i]))
				}),
			),
		),
		app.If(v.Sel != "", func() app.UI {
			sel := v.Sel
			return app.Div().ID("unit-track").Class("track").DataSet("unit", v.Sel).Title(v.Sel).Body(
				app.Text(v.SelName+" · "+Tf(lang, "units.track", v.Track)+" · "+v.SelReport+" "),
				app.Button().ID("unitday-open").Class("day-open").DataSet("unit", sel).Text(T(lang, "unitday.open")).
					OnClick(func(ctx app.Context, e app.Event) { p.Ctl.OpenUnitDay(sel, time.Now()) }, app.EventScope(sel)),
			)
		}),
		app.If(v.Total == 0, func() app.UI {
			return app.P().Class("empty").Text(T(lang, "units.empty"))
		}),
		app.Ul().ID("unit-list").Class("unit-list").Body(
			app.Range(rows).Slice(func(i int) app.UI { return p.row(rows[i], lang) }),
			app.If(v.Total > len(rows), func() app.UI {
				return app.Li().Class("more").Body(
					app.Span().Text(Tf(lang, "units.more", v.Total-len(rows))),
					app.Button().ID("units-more").Class("ghost").Text(Tf(lang, "units.showmore", min(UnitRows, v.Total-len(rows)))).
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
// and centres the map on it.
func (p *UnitsPanel) row(r UnitRow, lang Lang) app.UI {
	cls := []string{"unit", "s-" + r.Status}
	switch {
	case !r.Online:
		cls = append(cls, "offline")
	case !r.Fresh:
		cls = append(cls, "stale")
	}
	if r.Selected {
		cls = append(cls, "selected")
	}
	id := r.ID
	return app.Li().Class(cls...).DataSet("id", r.ID).DataSet("status", r.Status).
		DataSet("type", r.Type).DataSet("online", r.Online).DataSet("fresh", r.Fresh).
		DataSet("report-s", r.ReportS).DataSet("protocol", r.Protocol).
		OnClick(func(ctx app.Context, e app.Event) { p.Ctl.SelectUnit(id, true) }, app.EventScope(id)).Body(
		app.Span().Class("glyph", "c-"+r.Status).Title(T(lang, "type."+r.Type)).Text(typeGlyph(protocol.UnitType(r.Type))),
		app.If(r.Callsign != "", func() app.UI {
			return app.Span().Class("callsign").Title(r.ID).Text(r.Callsign)
		}),
		app.Span().Class("unit-id").Text(r.ID),
		app.Span().Class("status").Text(r.StatusText),
		maybe(r.Dist != "", app.Span().Class("dist").Text(r.Dist)),
		app.If(r.Incident != "", func() app.UI {
			return app.Span().Class("incident-ref").Text(Tf(lang, "units.assigned", r.Incident))
		}),
		maybe(r.MoveUp != "", app.Span().Class("moveup").Text(r.MoveUp)),
		// How it reports goes on the fix's line: the two read together.
		app.Span().Class("fix").Body(
			app.Text(r.Fix),
			app.If(r.ReportS > 0, func() app.UI {
				return app.Span().Class("report").Title(Tf(lang, "unit.report", Interval(lang, r.ReportS))).
					Text("↻ " + Interval(lang, r.ReportS))
			}),
			app.If(Phone(r.Protocol), func() app.UI {
				return app.Span().Class("phone").DataSet("protocol", r.Protocol).Title(T(lang, "unit.proto."+r.Protocol)).Text("📱")
			}),
		),
		maybe(r.District != "", app.Span().Class("district").Text(r.District)),
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
// uncovered incidents, the city's coverage (#coverage, when the hub sends
// it: coverage.go), today's median time to arrival, and the link
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
	cb := c.CoverBar()
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
		maybe(cb.OK, app.Span().ID("coverage").Class("stat").DataSet("share", cb.Share).Title(cb.Title).Text(cb.Text)),
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

// Phone reports whether a unit reporting by protocol p is a phone app
// (OwnTracks, Traccar Client) rather than kuaifan's agent.
func Phone(p string) bool {
	return p == string(api.ReportOwnTracks) || p == string(api.ReportOsmAnd)
}

// ReportText says how a unit reports: the interval the hub commanded it
// (reportS seconds; 0, none: the unit's own default), and which phone app
// if it is one.
func ReportText(lang Lang, reportS float64, protocol string) string {
	s := T(lang, "unit.report.default")
	if reportS > 0 {
		s = Tf(lang, "unit.report", Interval(lang, reportS))
	}
	if Phone(protocol) {
		s += " · " + T(lang, "unit.proto."+protocol)
	}
	return s
}

// Interval is a reporting interval: "1 s", "2.5 s", "1 min 00 s"; a commanded
// interval is a whole number of seconds, mostly, and "1.0 s" reads as a
// measurement.
func Interval(lang Lang, sec float64) string {
	if sec >= 60 || sec != math.Trunc(sec) {
		return FormatSeconds(lang, sec)
	}
	return Tf(lang, "unit.report.s", int(sec))
}
