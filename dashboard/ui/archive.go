package ui

import (
	"context"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// archivePage is the archive's state: the form, the results shown and the
// query they answer, and the requests in flight. A failed call leaves the
// results there, with the error above them.
type archivePage struct {
	Form  ArchiveForm
	Shown ArchiveQuery // the query of Rows (its first page)
	Rows  []api.ArchiveRow
	Total int
	Next  string // the cursor of the next page; "" on the last
	// Searched: Rows answer Shown (false until the first answer).
	Searched bool
	Err      string
	Saving   string // the format of the export being fetched, "" none

	search pageCalls // the search and its "more" pages
	files  pageCalls // an export
}

func newArchivePage(now time.Time, loc *time.Location) *archivePage {
	return &archivePage{Form: newArchiveForm(now, loc)}
}

// Busy reports whether a search (or a next page) is in flight.
func (p *archivePage) Busy() bool { return p.search.busy() }

// Search runs the form's search; a bad form is refused with a message
// before any call. A search in flight is cancelled.
func (p *archivePage) Search(ct *Controller, l Loop, lang Lang, loc *time.Location) {
	q, problem := p.Form.Query(lang, loc)
	if problem != "" {
		p.Err = problem
		return
	}
	var page *api.ArchivePage
	p.Err = ""
	p.search.run(ct, l, func(ctx context.Context, a *API) (err error) {
		page, err = a.SearchIncidents(ctx, q)
		return err
	}, func(err error) {
		if err != nil {
			p.Err = Tf(lang, "pages.err.call", err.Error())
			return
		}
		p.Shown, p.Rows, p.Total, p.Next, p.Searched = q, page.Incidents, page.Total, page.Next, true
	})
}

// More fetches the next page of the results shown and adds it to them.
func (p *archivePage) More(ct *Controller, l Loop, lang Lang) {
	if !p.Searched || p.Next == "" {
		return
	}
	q := p.Shown
	q.Cursor = p.Next
	var page *api.ArchivePage
	p.Err = ""
	p.search.run(ct, l, func(ctx context.Context, a *API) (err error) {
		page, err = a.SearchIncidents(ctx, q)
		return err
	}, func(err error) {
		if err != nil {
			p.Err = Tf(lang, "pages.err.call", err.Error())
			return
		}
		p.Rows = append(p.Rows, page.Incidents...)
		p.Total, p.Next = page.Total, page.Next
	})
}

// Export saves the incidents of the window searched (or, before any
// search, of the form's window) as a CSV or XLSX file.
func (p *archivePage) Export(ct *Controller, l Loop, lang Lang, loc *time.Location, format string) {
	from, to := p.Shown.From, p.Shown.To
	if !p.Searched {
		q, problem := p.Form.Query(lang, loc)
		if problem != "" {
			p.Err = problem
			return
		}
		from, to = q.From, q.To
	}
	path := IncidentExportPath(from, to, format)
	name := exportName("incidents", from, to, format, loc)
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

// stop cancels what is in flight (the screen is closing).
func (p *archivePage) stop() {
	p.search.stop()
	p.files.stop()
	p.Saving = ""
}

// replayFromPage opens an incident's replay from a page's row.
func (ct *Controller) replayFromPage(id string) {
	ct.OpenReplay(id)
	ct.redraw()
}

// openLiveFromPage opens an incident on the live map from a page's row.
func (ct *Controller) openLiveFromPage(id string) {
	ct.C.ShowScreen(ScreenLive)
	ct.OpenIncident(id)
	ct.redraw()
}

// redraw re-renders the whole dashboard now: a click on a page re-renders
// only the page's component, and the screen it switches to is the
// dashboard's to draw.
func (ct *Controller) redraw() {
	if ct.ui != nil {
		ct.ui.Dispatch(func() {})
	}
}

// ArchiveView is the archive screen: the search form, the results with
// their total and a "more" button, each row openable on the live map or
// in a replay, and the window's export.
type ArchiveView struct {
	app.Compo
	Ctl *Controller
	// Lang is the console's language: a field, so that switching it
	// redraws the page (go-app updates a child whose fields changed).
	Lang Lang

	page *archivePage
}

// OnInit makes the page's state (the form's default window).
func (v *ArchiveView) OnInit() {
	if v.page == nil {
		v.page = newArchivePage(time.Now(), time.Local)
	}
}

// OnMount runs the default search (the last 7 days).
func (v *ArchiveView) OnMount(ctx app.Context) {
	if !v.page.Searched {
		v.page.Search(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Local)
	}
}

// OnDismount cancels the calls in flight.
func (v *ArchiveView) OnDismount() { v.page.stop() }

// Render draws the view.
func (v *ArchiveView) Render() app.UI {
	p, ct := v.page, v.Ctl
	lang := ct.C.Lang
	ds := ct.C.Store.Districts
	opt := func(value, label, cur string) app.UI {
		return app.Option().Value(value).Selected(value == cur).Text(label)
	}
	statuses := []string{api.ArchiveStatusAll, api.ArchiveStatusOpen, api.ArchiveStatusClosed}
	kinds := append([]string{""}, api.Kinds...)
	districtIDs := []string{""}
	for _, d := range ds {
		districtIDs = append(districtIDs, d.ID)
	}
	districtIDs = append(districtIDs, "none")
	return app.Main().ID("view-archive").Class("view", "page", "view-archive").Body(
		app.H1().Class("page-title").Text(T(lang, "archive.title")),
		app.Form().ID("archive-form").Class("page-form").OnSubmit(v.onSearch).Body(
			pageField(T(lang, "pages.from"), app.Input().ID("archive-from").Type("date").Value(p.Form.From).OnChange(valueTo(&v.page.Form.From), app.EventScope("archive-from"))),
			pageField(T(lang, "pages.to"), app.Input().ID("archive-to").Type("date").Value(p.Form.To).OnChange(valueTo(&v.page.Form.To), app.EventScope("archive-to"))),
			pageField(T(lang, "archive.status"), app.Select().ID("archive-status").OnChange(valueTo(&v.page.Form.Status), app.EventScope("archive-status")).Body(
				app.Range(statuses).Slice(func(i int) app.UI {
					return opt(statuses[i], T(lang, "archive.status."+statuses[i]), p.Form.Status)
				}))),
			pageField(T(lang, "archive.district"), app.Select().ID("archive-district").OnChange(valueTo(&v.page.Form.District), app.EventScope("archive-district")).Body(
				app.Range(districtIDs).Slice(func(i int) app.UI {
					id := districtIDs[i]
					label := T(lang, "pages.all")
					if id != "" {
						label = districtName(lang, ds, id)
					}
					return opt(id, label, p.Form.District)
				}))),
			pageField(T(lang, "archive.kind"), app.Select().ID("archive-kind").OnChange(valueTo(&v.page.Form.Kind), app.EventScope("archive-kind")).Body(
				app.Range(kinds).Slice(func(i int) app.UI {
					label := T(lang, "pages.all")
					if kinds[i] != "" {
						label = KindName(lang, kinds[i])
					}
					return opt(kinds[i], label, p.Form.Kind)
				}))),
			pageField(T(lang, "archive.priority"), app.Select().ID("archive-priority").OnChange(valueTo(&v.page.Form.Priority), app.EventScope("archive-priority")).Body(
				opt("", T(lang, "pages.all"), p.Form.Priority),
				opt("1", Tf(lang, "inc.p", 1), p.Form.Priority),
				opt("2", Tf(lang, "inc.p", 2), p.Form.Priority),
				opt("3", Tf(lang, "inc.p", 3), p.Form.Priority),
			)),
			pageField(T(lang, "archive.unit"), app.Input().ID("archive-unit").Type("text").Value(p.Form.Unit).
				Attr("spellcheck", "false").OnInput(valueTo(&v.page.Form.Unit), app.EventScope("archive-unit"))),
			pageField(T(lang, "archive.text"), app.Input().ID("archive-text").Type("search").Value(p.Form.Text).
				Placeholder(T(lang, "archive.text.hint")).OnInput(valueTo(&v.page.Form.Text), app.EventScope("archive-text"))),
			app.Div().Class("page-actions").Body(
				app.Button().ID("archive-search").Type("submit").Text(T(lang, "archive.search")),
				app.Button().ID("archive-csv").Class("ghost", "export").Type("button").Disabled(p.Saving != "").
					Text(T(lang, "archive.export.csv")).OnClick(v.onExport(api.FormatCSV)),
				app.Button().ID("archive-xlsx").Class("ghost", "export").Type("button").Disabled(p.Saving != "").
					Text(T(lang, "archive.export.xlsx")).OnClick(v.onExport(api.FormatXLSX)),
			),
		),
		pageStatus(lang, p.Busy() || p.Saving != "", p.Err),
		app.If(p.Searched, func() app.UI { return v.results(lang, ds) }),
	)
}

// pageField is a labelled control of a page's form.
func pageField(label string, control app.UI) app.UI {
	return app.Label().Class("page-field").Body(app.Span().Text(label), control)
}

// pageStatus is a page's loading line and error.
func pageStatus(lang Lang, busy bool, errText string) app.UI {
	return app.Div().Class("page-status").Body(
		maybe(busy, app.Span().Class("page-loading").Text(T(lang, "pages.loading"))),
		maybe(errText != "", app.P().ID("page-error").Class("page-error", "error").Text(errText)),
	)
}

// results is the table of incidents found, with the total and "more".
func (v *ArchiveView) results(lang Lang, ds []District) app.UI {
	p, store := v.page, v.Ctl.C.Store
	heads := []string{"archive.col.time", "archive.col.id", "archive.col.kind", "archive.col.priority", "archive.col.district",
		"archive.col.summary", "archive.col.units", "archive.col.arrival", "archive.col.status", "archive.col.actions"}
	return app.Section().ID("archive-results").DataSet("total", p.Total).DataSet("shown", len(p.Rows)).Body(
		app.P().ID("archive-total").Class("page-total").Text(Tf(lang, "archive.total", len(p.Rows), p.Total)),
		app.If(len(p.Rows) == 0, func() app.UI { return app.P().Class("page-empty").Text(T(lang, "archive.empty")) }).Else(func() app.UI {
			return app.Table().ID("archive-table").Class("page-table").Body(
				app.THead().Body(app.Tr().Body(app.Range(heads).Slice(func(i int) app.UI { return app.Th().Text(T(lang, heads[i])) }))),
				app.TBody().Body(app.Range(p.Rows).Slice(func(i int) app.UI {
					r := p.Rows[i]
					cells := archiveCells(lang, r, ds, store.UnitName, time.Local)
					return app.Tr().Class("archive-row").DataSet("id", r.ID).DataSet("status", r.Status).Body(
						app.Range(cells).Slice(func(j int) app.UI { return app.Td().Text(cells[j]) }),
						app.Td().Class("row-actions").Body(
							app.Button().Class("replay").DataSet("id", r.ID).Text(T(lang, "pages.replay")).
								OnClick(func(ctx app.Context, e app.Event) { v.Ctl.replayFromPage(r.ID) }, app.EventScope("replay-"+r.ID)),
							app.Button().Class("open-live", "ghost").DataSet("id", r.ID).Text(T(lang, "archive.live")).
								OnClick(func(ctx app.Context, e app.Event) { v.Ctl.openLiveFromPage(r.ID) }, app.EventScope("live-"+r.ID)),
						),
					)
				})),
			)
		}),
		app.If(p.Next != "", func() app.UI {
			return app.Button().ID("archive-more").Disabled(p.Busy()).Text(T(lang, "archive.more")).OnClick(v.onMore)
		}),
	)
}

// archiveCells are a result's cells as the table shows them, in the
// columns' order (the last column, the buttons, aside).
func archiveCells(lang Lang, r api.ArchiveRow, ds []District, unitName func(string) string, loc *time.Location) []string {
	units := make([]string, len(r.Units))
	for i, u := range r.Units {
		units[i] = unitName(u)
	}
	arrival := T(lang, "pages.never")
	switch {
	case r.ToArrivalS != nil:
		arrival = FormatSeconds(lang, *r.ToArrivalS)
	case r.Status != api.IncidentClosed:
		arrival = T(lang, "pages.notyet") // still open: it may yet be reached
	}
	prio := ""
	if r.Priority > 0 {
		prio = Tf(lang, "inc.p", r.Priority)
	}
	return []string{
		formatWhen(r.Created, loc),
		r.ID,
		KindName(lang, r.Kind),
		prio,
		districtName(lang, ds, r.District),
		r.Summary,
		strings.Join(units, " "),
		arrival,
		lookup(lang, "inc.status.", r.Status),
	}
}

// formatWhen is a date and time of day, "2006-01-02 15:04".
func formatWhen(ms int64, loc *time.Location) string {
	if ms == 0 {
		return ""
	}
	if loc == nil {
		loc = time.Local
	}
	return time.UnixMilli(ms).In(loc).Format("2006-01-02 15:04")
}

func (v *ArchiveView) onSearch(ctx app.Context, e app.Event) {
	e.PreventDefault()
	v.readText()
	v.page.Search(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Local)
}

// readText takes the text fields from the page itself too: a test driver
// or an autofill may set them without an input event.
func (v *ArchiveView) readText() {
	for id, field := range map[string]*string{"archive-text": &v.page.Form.Text, "archive-unit": &v.page.Form.Unit,
		"archive-from": &v.page.Form.From, "archive-to": &v.page.Form.To} {
		if el := app.Window().GetElementByID(id); el.Truthy() {
			*field = el.Get("value").String()
		}
	}
}

func (v *ArchiveView) onMore(ctx app.Context, e app.Event) {
	v.page.More(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang)
}

func (v *ArchiveView) onExport(format string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		v.page.Export(v.Ctl, ctxLoop{ctx}, v.Ctl.C.Lang, time.Local, format)
	}
}
