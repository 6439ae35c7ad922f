package ui

import (
	"context"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// reportPage is the daily report screen's state: the date chosen and the
// report shown (kept when a later call fails).
type reportPage struct {
	Date   string // "2006-01-02", the hub's local date
	Report *api.DailyReport
	Err    string

	calls pageCalls
}

func newReportPage(now time.Time, loc *time.Location) *reportPage {
	_, today := lastDays(now, 1, loc)
	return &reportPage{Date: today}
}

// Load fetches the report of p.Date; a date that does not parse is refused
// before any call.
func (p *reportPage) Load(ct *Controller, l Loop, lang Lang) {
	date := strings.TrimSpace(p.Date)
	if _, err := time.Parse(dateLayout, date); err != nil {
		p.Err = Tf(lang, "pages.err.date", p.Date)
		return
	}
	p.Err = ""
	var r *api.DailyReport
	p.calls.run(ct, l, func(ctx context.Context, a *API) (err error) {
		r, err = a.DailyReport(ctx, date)
		return err
	}, func(err error) {
		if err != nil {
			p.Err = Tf(lang, "pages.err.call", err.Error())
			return
		}
		p.Report = r
	})
}

// Busy reports whether the report is being fetched.
func (p *reportPage) Busy() bool { return p.calls.busy() }

// reportZone is the hub's time zone as the report gives it: its name and
// the offset its date's midnight (From) shows. The browser has no zone
// database (app.wasm carries none), and the hub's zones keep one offset
// all day.
func reportZone(r *api.DailyReport) *time.Location {
	d, err := time.Parse(dateLayout, r.Date)
	if err != nil || r.From == 0 {
		return time.Local
	}
	return time.FixedZone(r.Zone, int((d.UnixMilli()-r.From)/1000))
}

// reportFigureHeads are the columns of the report's figure tables (after
// the group's name).
var reportFigureHeads = []string{"report.col.count", "report.col.reached3", "report.col.arrival", "report.col.dispatch",
	"report.col.declines", "report.col.timeouts", "report.col.uncovered"}

// reportFigureCells are a group's figures as the report's tables show
// them, after its name.
func reportFigureCells(lang Lang, r api.KPIRow) []string {
	uncovered := r.UncoveredShare
	return []string{
		formatCount(r.Count),
		formatShare(lang, r.Reached3),
		Tf(lang, "kpi.p50p90", formatSecondsP(lang, r.ToArrivalP50), formatSecondsP(lang, r.ToArrivalP90)),
		Tf(lang, "kpi.p50p90", formatSecondsP(lang, r.ToDispatchP50), formatSecondsP(lang, r.ToDispatchP90)),
		formatCount(r.Declines),
		formatCount(r.Timeouts),
		formatShare(lang, &uncovered),
	}
}

// shiftName is a shift's name ("day", "night") in lang.
func shiftName(lang Lang, group string) string {
	switch group {
	case "day":
		return T(lang, "report.shift.day")
	case "night":
		return T(lang, "report.shift.night")
	}
	return group
}

// worstCells are one of the worst responses as the report lists it: id,
// kind, district, created, time to arrival (or never reached), units.
func worstCells(lang Lang, r api.ArchiveRow, ds []District, unitName func(string) string, loc *time.Location) []string {
	units := make([]string, len(r.Units))
	for i, u := range r.Units {
		units[i] = unitName(u)
	}
	arrival := T(lang, "pages.never")
	if r.ToArrivalS != nil {
		arrival = FormatSeconds(lang, *r.ToArrivalS)
	}
	unitsText := strings.Join(units, " ")
	if unitsText == "" {
		unitsText = T(lang, "bar.none")
	}
	return []string{r.ID, KindName(lang, r.Kind), districtName(lang, ds, r.District), FormatClock(r.Created, loc), arrival, unitsText}
}

// uncoveredCells are an uncovered period as the report lists it: from–to,
// how long, and the incidents.
func uncoveredCells(lang Lang, u api.UncoveredPeriod, loc *time.Location) []string {
	span := Tf(lang, "report.span", FormatClock(u.From, loc), FormatClock(u.To, loc))
	if u.Open {
		span = Tf(lang, "report.span.open", FormatClock(u.From, loc))
	}
	return []string{span, FormatAge(lang, time.Duration(u.To-u.From)*time.Millisecond), strings.Join(u.Incidents, " ")}
}

// ReportView is the daily report screen: a date, the day's figures in
// total, by shift and by district, the worst responses and the uncovered
// periods; printable.
type ReportView struct {
	app.Compo
	Ctl *Controller
	// Lang is the console's language: a field, so that switching it
	// redraws the page (go-app updates a child whose fields changed).
	Lang Lang

	page *reportPage
}

// OnInit makes the page's state (today).
func (v *ReportView) OnInit() {
	if v.page == nil {
		v.page = newReportPage(time.Now(), time.Local)
	}
}

// OnMount fetches today's report.
func (v *ReportView) OnMount(ctx app.Context) {
	if v.page.Report == nil {
		v.page.Load(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang)
	}
}

// OnDismount cancels the call in flight.
func (v *ReportView) OnDismount() { v.page.calls.stop() }

// Render draws the view.
func (v *ReportView) Render() app.UI {
	p := v.page
	lang := v.Ctl.C.Lang
	return app.Main().ID("view-report").Class("view", "page", "view-report").Body(
		app.Form().ID("report-form").Class("page-form", "no-print").OnSubmit(v.onLoad).Body(
			pageField(T(lang, "report.date"), app.Input().ID("report-date").Type("date").Value(p.Date).OnChange(valueTo(&v.page.Date), app.EventScope("report-date"))),
			app.Div().Class("page-actions").Body(
				app.Button().ID("report-load").Type("submit").Text(T(lang, "report.load")),
				app.Button().ID("report-print").Class("ghost").Type("button").Text(T(lang, "report.print")).
					OnClick(func(ctx app.Context, e app.Event) { app.Window().Call("print") }),
			),
		),
		pageStatus(lang, p.Busy(), p.Err),
		app.If(p.Report != nil, func() app.UI { return v.report(lang, p.Report) }),
	)
}

// report is the report itself.
func (v *ReportView) report(lang Lang, r *api.DailyReport) app.UI {
	loc := reportZone(r)
	ds, store := v.Ctl.C.Store.Districts, v.Ctl.C.Store
	shifts := append([]api.KPIRow{r.Total}, r.Shifts...)
	shiftLabel := func(i int) string {
		if i == 0 {
			return T(lang, "report.total")
		}
		return shiftName(lang, shifts[i].Group)
	}
	worstHeads := []string{"report.col.id", "archive.col.kind", "archive.col.district", "report.col.created", "archive.col.arrival", "archive.col.units", "archive.col.actions"}
	return app.Section().ID("report").DataSet("date", r.Date).Body(
		app.H1().ID("report-title").Class("page-title").Text(Tf(lang, "report.title", r.Date, r.Zone)),
		app.H2().Text(T(lang, "report.shifts")),
		figureTable("report-shifts", lang, T(lang, "report.col.shift"), len(shifts), shiftLabel, func(i int) api.KPIRow { return shifts[i] }),
		app.H2().Text(T(lang, "report.districts")),
		app.If(len(r.Districts) == 0, func() app.UI { return app.P().Class("page-empty").Text(T(lang, "report.none")) }).Else(func() app.UI {
			return figureTable("report-districts", lang, T(lang, "archive.col.district"), len(r.Districts),
				func(i int) string { return districtName(lang, ds, r.Districts[i].Group) }, func(i int) api.KPIRow { return r.Districts[i] })
		}),
		app.H2().Text(T(lang, "report.worst")),
		app.If(len(r.Worst) == 0, func() app.UI { return app.P().Class("page-empty").Text(T(lang, "report.none")) }).Else(func() app.UI {
			return app.Table().ID("report-worst").Class("page-table").Body(
				app.THead().Body(app.Tr().Body(app.Range(worstHeads).Slice(func(i int) app.UI {
					cls := ""
					if i == len(worstHeads)-1 {
						cls = "no-print"
					}
					return app.Th().Class(cls).Text(T(lang, worstHeads[i]))
				}))),
				app.TBody().Body(app.Range(r.Worst).Slice(func(i int) app.UI {
					w := r.Worst[i]
					cells := worstCells(lang, w, ds, store.UnitName, loc)
					return app.Tr().Class("worst-row").DataSet("id", w.ID).DataSet("reached", w.ToArrivalS != nil).Body(
						app.Range(cells).Slice(func(j int) app.UI { return app.Td().Text(cells[j]) }),
						app.Td().Class("row-actions", "no-print").Body(
							app.Button().Class("replay").DataSet("id", w.ID).Text(T(lang, "pages.replay")).
								OnClick(func(ctx app.Context, e app.Event) { v.Ctl.replayFromPage(w.ID) }, app.EventScope("replay-"+w.ID)),
						),
					)
				})),
			)
		}),
		app.H2().Text(T(lang, "report.uncovered")),
		app.If(len(r.Uncovered) == 0, func() app.UI { return app.P().Class("page-empty").Text(T(lang, "report.uncovered.none")) }).Else(func() app.UI {
			heads := []string{"report.col.span", "report.col.duration", "report.col.incidents"}
			return app.Table().ID("report-uncovered").Class("page-table").Body(
				app.THead().Body(app.Tr().Body(app.Range(heads).Slice(func(i int) app.UI { return app.Th().Text(T(lang, heads[i])) }))),
				app.TBody().Body(app.Range(r.Uncovered).Slice(func(i int) app.UI {
					cells := uncoveredCells(lang, r.Uncovered[i], loc)
					return app.Tr().Class("uncovered-row").DataSet("open", r.Uncovered[i].Open).Body(
						app.Range(cells).Slice(func(j int) app.UI { return app.Td().Text(cells[j]) }))
				})),
			)
		}),
	)
}

// figureTable is a table of groups' figures: a name, then
// reportFigureCells.
func figureTable(id string, lang Lang, first string, n int, name func(int) string, row func(int) api.KPIRow) app.UI {
	return app.Table().ID(id).Class("page-table", "figures-table").Body(
		app.THead().Body(app.Tr().Body(
			app.Th().Text(first),
			app.Range(reportFigureHeads).Slice(func(i int) app.UI { return app.Th().Text(T(lang, reportFigureHeads[i])) }),
		)),
		app.TBody().Body(app.Range(make([]struct{}, n)).Slice(func(i int) app.UI {
			r := row(i)
			cells := reportFigureCells(lang, r)
			return app.Tr().DataSet("group", r.Group).Body(
				app.Th().Attr("scope", "row").Text(name(i)),
				app.Range(cells).Slice(func(j int) app.UI { return app.Td().Text(cells[j]) }),
			)
		})),
	)
}

func (v *ReportView) onLoad(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if el := app.Window().GetElementByID("report-date"); el.Truthy() {
		v.page.Date = el.Get("value").String()
	}
	v.page.Load(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang)
}
