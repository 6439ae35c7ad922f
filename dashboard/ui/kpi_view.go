package ui

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// The figures' windows: the last 7, 30 or 90 days, or dates chosen.
const (
	kpiLast7  = "7"
	kpiLast30 = "30"
	kpiLast90 = "90"
	kpiRange  = "range"
)

var kpiPresets = []string{kpiLast7, kpiLast30, kpiLast90, kpiRange}

// kpiExportBys are the groupings the figures export offers.
var kpiExportBys = []string{api.KPIByDay, api.KPIByHour, api.KPIByDistrict, api.KPIByKind, api.KPIByPriority, api.KPIByUnitType, api.KPIByShift}

// kpiPage is the figures screen's state: the window chosen, the three
// reports the charts are drawn from (by hour, by district, by day) and the
// window they answer. A failed call leaves the figures shown.
type kpiPage struct {
	Preset   string // kpiLast7…, kpiRange
	From, To string // the dates of kpiRange, "2006-01-02", both included
	By       string // the grouping of the export
	// The figures shown, of [WinFrom, WinTo).
	WinFrom, WinTo         int64
	Hours, Districts, Days *api.KPIReport
	Err                    string
	Saving                 string // the format of the export being fetched

	calls pageCalls
	files pageCalls
}

func newKPIPage(now time.Time, loc *time.Location) *kpiPage {
	from, to := lastDays(now, 30, loc)
	return &kpiPage{Preset: kpiLast7, From: from, To: to, By: api.KPIByDay}
}

// window is the window chosen, or why it cannot be asked for.
func (p *kpiPage) window(lang Lang, now time.Time, loc *time.Location) (from, to int64, problem string) {
	switch p.Preset {
	case kpiLast7, kpiLast30, kpiLast90:
		n, _ := strconv.Atoi(p.Preset)
		f, t := lastDays(now, n, loc)
		return dayWindow(lang, f, t, loc)
	case kpiRange:
		return dayWindow(lang, p.From, p.To, loc)
	}
	return 0, 0, Tf(lang, "kpi.err.window", p.Preset)
}

// Load fetches the window's figures: the three groupings at once.
func (p *kpiPage) Load(ct *Controller, l Loop, lang Lang, now time.Time, loc *time.Location) {
	from, to, problem := p.window(lang, now, loc)
	if problem != "" {
		p.Err = problem
		return
	}
	p.Err = ""
	var reps [3]*api.KPIReport
	bys := [3]string{api.KPIByHour, api.KPIByDistrict, api.KPIByDay}
	p.calls.run(ct, l, func(ctx context.Context, a *API) error {
		var wg sync.WaitGroup
		var errs [3]error
		for i, by := range bys {
			wg.Go(func() { reps[i], errs[i] = a.KPI(ctx, from, to, by) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}, func(err error) {
		if err != nil {
			p.Err = Tf(lang, "pages.err.call", err.Error())
			return
		}
		p.Hours, p.Districts, p.Days = reps[0], reps[1], reps[2]
		p.WinFrom, p.WinTo = from, to
	})
}

// Busy reports whether the figures are being fetched.
func (p *kpiPage) Busy() bool { return p.calls.busy() }

// Export saves the window's figures grouped by p.By as a CSV or XLSX file.
func (p *kpiPage) Export(ct *Controller, l Loop, lang Lang, now time.Time, loc *time.Location, format string) {
	from, to, problem := p.window(lang, now, loc)
	if problem != "" {
		p.Err = problem
		return
	}
	path := KPIPath(from, to, p.By, format)
	name := exportName("kpi-"+p.By, from, to, format, loc)
	p.Saving, p.Err = format, ""
	p.files.run(ct, l, func(ctx context.Context, a *API) error {
		return SaveFile(ctx, a, path, name)
	}, func(err error) {
		p.Saving = ""
		if err != nil {
			p.Err = Tf(lang, "pages.err.export", err.Error())
		}
	})
}

func (p *kpiPage) stop() {
	p.calls.stop()
	p.files.stop()
	p.Saving = ""
}

// kpiFigure is one headline figure: Key names it for tests and styles.
type kpiFigure struct{ Key, Label, Value string }

// kpiFigures are a window's headline figures in lang.
func kpiFigures(lang Lang, r api.KPIRow) []kpiFigure {
	pair := func(p50, p90 *float64) string {
		return Tf(lang, "kpi.p50p90", formatSecondsP(lang, p50), formatSecondsP(lang, p90))
	}
	uncovered := r.UncoveredShare
	return []kpiFigure{
		{"count", T(lang, "kpi.count"), formatCount(r.Count)},
		{"reached1", T(lang, "kpi.reached1"), formatShare(lang, r.Reached1)},
		{"reached3", T(lang, "kpi.reached3"), formatShare(lang, r.Reached3)},
		{"reached5", T(lang, "kpi.reached5"), formatShare(lang, r.Reached5)},
		{"dispatch", T(lang, "kpi.to.dispatch"), pair(r.ToDispatchP50, r.ToDispatchP90)},
		{"ack", T(lang, "kpi.to.ack"), pair(r.ToAckP50, r.ToAckP90)},
		{"arrival", T(lang, "kpi.to.arrival"), pair(r.ToArrivalP50, r.ToArrivalP90)},
		{"close", T(lang, "kpi.to.close"), pair(r.ToCloseP50, r.ToCloseP90)},
		{"declines", T(lang, "kpi.declines"), formatCount(r.Declines)},
		{"timeouts", T(lang, "kpi.timeouts"), formatCount(r.Timeouts)},
		{"uncovered", T(lang, "kpi.uncovered"), formatShare(lang, &uncovered)},
	}
}

// KPIView is the figures screen: the window, the headline figures, the
// charts by hour, by district and by day, and the export.
type KPIView struct {
	app.Compo
	Ctl *Controller
	// Lang is the console's language: a field, so that switching it
	// redraws the page (go-app updates a child whose fields changed).
	Lang Lang

	page *kpiPage
}

// OnInit makes the page's state.
func (v *KPIView) OnInit() {
	if v.page == nil {
		v.page = newKPIPage(time.Now(), time.Local)
	}
}

// OnMount fetches the default window's figures.
func (v *KPIView) OnMount(ctx app.Context) {
	if v.page.Days == nil {
		v.page.Load(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Now(), time.Local)
	}
}

// OnDismount cancels the calls in flight.
func (v *KPIView) OnDismount() { v.page.stop() }

// Render draws the view.
func (v *KPIView) Render() app.UI {
	p := v.page
	lang := v.Ctl.C.Lang
	return app.Main().ID("view-kpi").Class("view", "page", "view-kpi").Body(
		app.H1().Class("page-title").Text(T(lang, "kpi.title")),
		app.Form().ID("kpi-form").Class("page-form").OnSubmit(v.onLoad).Body(
			pageField(T(lang, "kpi.window"), app.Select().ID("kpi-window").OnChange(v.onPreset).Body(
				app.Range(kpiPresets).Slice(func(i int) app.UI {
					return app.Option().Value(kpiPresets[i]).Selected(p.Preset == kpiPresets[i]).Text(T(lang, "kpi.window."+kpiPresets[i]))
				}))),
			app.If(p.Preset == kpiRange, func() app.UI {
				return app.Div().Class("page-range").Body(
					pageField(T(lang, "pages.from"), app.Input().ID("kpi-from").Type("date").Value(p.From).OnChange(valueTo(&v.page.From), app.EventScope("kpi-from"))),
					pageField(T(lang, "pages.to"), app.Input().ID("kpi-to").Type("date").Value(p.To).OnChange(valueTo(&v.page.To), app.EventScope("kpi-to"))),
					app.Button().ID("kpi-load").Type("submit").Text(T(lang, "kpi.load")),
				)
			}),
			pageField(T(lang, "kpi.by"), app.Select().ID("kpi-by").OnChange(valueTo(&v.page.By), app.EventScope("kpi-by")).Body(
				app.Range(kpiExportBys).Slice(func(i int) app.UI {
					return app.Option().Value(kpiExportBys[i]).Selected(p.By == kpiExportBys[i]).Text(T(lang, "kpi.by."+kpiExportBys[i]))
				}))),
			app.Div().Class("page-actions").Body(
				app.Button().ID("kpi-csv").Class("ghost", "export").Type("button").Disabled(p.Saving != "").
					Text(T(lang, "kpi.export.csv")).OnClick(v.onExport(api.FormatCSV)),
				app.Button().ID("kpi-xlsx").Class("ghost", "export").Type("button").Disabled(p.Saving != "").
					Text(T(lang, "kpi.export.xlsx")).OnClick(v.onExport(api.FormatXLSX)),
			),
		),
		pageStatus(lang, p.Busy() || p.Saving != "", p.Err),
		app.If(p.Days != nil, func() app.UI { return v.figures(lang) }),
	)
}

// figures are the headline figures and the charts of the window shown.
func (v *KPIView) figures(lang Lang) app.UI {
	p := v.page
	figs := kpiFigures(lang, p.Days.Total)
	return app.Div().ID("kpi-figures").DataSet("from", p.WinFrom).DataSet("to", p.WinTo).Body(
		app.P().Class("page-window").Text(Tf(lang, "pages.window", formatDate(p.WinFrom), formatDate(p.WinTo-1))),
		app.Dl().ID("kpi-headline").Class("figures").Body(app.Range(figs).Slice(func(i int) app.UI {
			f := figs[i]
			return app.Div().ID("kpi-"+f.Key).Class("figure").DataSet("key", f.Key).Body(
				app.Dt().Text(f.Label), app.Dd().Text(f.Value))
		})),
		app.Div().Class("charts").Body(
			chartView(hourChart(lang, p.Hours.Rows)),
			chartView(districtChart(lang, p.Districts.Rows, v.Ctl.C.Store.Districts)),
			chartView(trendChart(lang, p.Days.Rows, p.WinFrom, p.WinTo, time.Local)),
		),
	)
}

// formatDate is the local date of a Unix-ms instant, "2006-01-02".
func formatDate(ms int64) string { return time.UnixMilli(ms).In(time.Local).Format(dateLayout) }

func (v *KPIView) onPreset(ctx app.Context, e app.Event) {
	v.page.Preset = ctx.JSSrc().Get("value").String()
	if v.page.Preset != kpiRange {
		v.page.Load(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Now(), time.Local)
	}
}

func (v *KPIView) onLoad(ctx app.Context, e app.Event) {
	e.PreventDefault()
	for id, field := range map[string]*string{"kpi-from": &v.page.From, "kpi-to": &v.page.To} {
		if el := app.Window().GetElementByID(id); el.Truthy() {
			*field = el.Get("value").String()
		}
	}
	v.page.Load(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Now(), time.Local)
}

func (v *KPIView) onExport(format string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		v.page.Export(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Now(), time.Local, format)
	}
}
