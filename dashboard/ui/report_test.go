package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

func dailyFixture() *api.DailyReport {
	from := time.Date(2026, 12, 6, 0, 0, 0, 0, cst).UnixMilli()
	at := func(h, m int) int64 { return from + int64(h*3600+m*60)*1000 }
	return &api.DailyReport{Date: "2026-12-06", Zone: "Asia/Shanghai", From: from, To: from + 86_400_000,
		Total:     api.KPIRow{Group: "total", Count: 12, Reached3: fp(0.75), ToArrivalP50: fp(130), ToArrivalP90: fp(290), Declines: 2, UncoveredShare: 0.25},
		Shifts:    []api.KPIRow{{Group: "day", Count: 9, Reached3: fp(5.0 / 6)}, {Group: "night", Count: 3}},
		Districts: []api.KPIRow{{Group: "yuelu", Count: 10, Reached3: fp(0.8)}, {Group: "none", Count: 2}},
		Worst: []api.ArchiveRow{
			{ID: "inc-3", Kind: "fire", District: "yuelu", Created: at(2, 15)},
			{ID: "inc-5", Kind: "robbery", District: "none", Created: at(14, 0), ToArrivalS: fp(610), Units: []string{"car-1", "moto-2"}},
		},
		Uncovered: []api.UncoveredPeriod{
			{From: at(2, 15), To: at(2, 40), Incidents: []string{"inc-3"}},
			{From: at(23, 50), To: from + 86_400_000, Open: true, Incidents: []string{"inc-8", "inc-9"}},
		},
	}
}

func TestReportFormatting(t *testing.T) {
	r := dailyFixture()
	loc := reportZone(r)
	if _, off := time.UnixMilli(r.From).In(loc).Zone(); off != 8*3600 {
		t.Errorf("the report's zone is %d s east", off)
	}
	if got := time.UnixMilli(r.From).In(loc).Format("2006-01-02 15:04"); got != "2026-12-06 00:00" {
		t.Errorf("the report starts at %s in its zone", got)
	}
	if reportZone(&api.DailyReport{Date: "junk"}) != time.Local {
		t.Error("a report without a date is read in local time")
	}
	ds := []District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}}
	unitName := func(id string) string { return strings.ToUpper(id) }

	if got := reportFigureCells(EN, r.Total); !slices.Equal(got, []string{"12", "75%", "2 min 10 s / 4 min 50 s", "— / —", "2", "0", "25%"}) {
		t.Errorf("total cells %q", got)
	}
	if got := reportFigureCells(ZH, r.Shifts[1]); got[1] != "—" || got[2] != "— / —" {
		t.Errorf("a shift without a base: %q", got)
	}
	if shiftName(ZH, "day") != "白班（08–20 时）" || shiftName(EN, "night") != "Night shift (20–08)" || shiftName(EN, "dusk") != "dusk" {
		t.Error("shift names")
	}
	for _, tc := range []struct {
		lang Lang
		row  api.ArchiveRow
		want []string
	}{
		{EN, r.Worst[0], []string{"inc-3", "fire", "Yuelu", "02:15:00", "never reached", "—"}},
		{ZH, r.Worst[0], []string{"inc-3", "火情", "岳麓区", "02:15:00", "未到场", "—"}},
		{EN, r.Worst[1], []string{"inc-5", "robbery", "Outside every district", "14:00:00", "10 min", "CAR-1 MOTO-2"}},
	} {
		if got := worstCells(tc.lang, tc.row, ds, unitName, loc); !slices.Equal(got, tc.want) {
			t.Errorf("worst %s:\n %q\nwant\n %q", tc.row.ID, got, tc.want)
		}
	}
	if got := uncoveredCells(EN, r.Uncovered[0], loc); !slices.Equal(got, []string{"02:15:00 – 02:40:00", "25 min", "inc-3"}) {
		t.Errorf("uncovered %q", got)
	}
	if got := uncoveredCells(ZH, r.Uncovered[1], loc); !slices.Equal(got, []string{"23:50:00 – 至今仍无人覆盖", "10分钟", "inc-8 inc-9"}) {
		t.Errorf("still uncovered %q", got)
	}
}

// The report as drawn: the title with the date and zone, the tables, the
// worst list with its Replay buttons, the print button.
func TestReportView(t *testing.T) {
	ct := consoleFixture(ZH)
	ct.C.Store.SetDistricts([]District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}})
	p := &reportPage{Date: "2026-12-06", Report: dailyFixture()}
	es := render(t, &ReportView{Ctl: ct, page: p})
	one(t, es, "h1", map[string]string{"id": "report-title"})
	if html := app.HTMLString(&ReportView{Ctl: ct, page: p}); !strings.Contains(html, ">2026-12-06 日报（Asia/Shanghai）<") {
		t.Errorf("no title with the date and zone in %s", html)
	}
	one(t, es, "button", map[string]string{"id": "report-print"})
	one(t, es, "table", map[string]string{"id": "report-shifts"})
	one(t, es, "table", map[string]string{"id": "report-districts"})
	worst := find(es, "tr", map[string]string{"class": "worst-row"})
	if len(worst) != 2 || worst[0].attrs["data-id"] != "inc-3" || worst[0].attrs["data-reached"] != "false" {
		t.Errorf("worst rows %v", worst)
	}
	if n := len(find(es, "button", map[string]string{"class": "replay"})); n != 2 {
		t.Errorf("%d replay buttons", n)
	}
	if n := len(find(es, "tr", map[string]string{"class": "uncovered-row"})); n != 2 {
		t.Errorf("%d uncovered rows", n)
	}
	if len(find(es, "", map[string]string{"id": "page-error"})) != 0 {
		t.Error("an error shown")
	}
	// A failure keeps the report, with the error above it.
	p.Err = "服务器返回：boom"
	es = render(t, &ReportView{Ctl: ct, page: p})
	one(t, es, "", map[string]string{"id": "page-error"})
	one(t, es, "h1", map[string]string{"id": "report-title"})
}

func TestArchiveView(t *testing.T) {
	ct := consoleFixture(EN)
	ct.C.Store.SetDistricts([]District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}})
	p := newArchivePage(time.Now(), time.Local)
	p.Searched, p.Total, p.Next = true, 120, "50"
	p.Rows = []api.ArchiveRow{{ID: "inc-1", Kind: "theft", Status: api.IncidentClosed, District: "yuelu"}, {ID: "inc-2", Kind: "fire", Status: api.IncidentOpen}}
	view := &ArchiveView{Ctl: ct, page: p}
	es := render(t, view)
	res := one(t, es, "section", map[string]string{"id": "archive-results"})
	if res.attrs["data-total"] != "120" || res.attrs["data-shown"] != "2" {
		t.Errorf("results %v", res.attrs)
	}
	one(t, es, "p", map[string]string{"id": "archive-total"})
	if html := app.HTMLString(view); !strings.Contains(html, ">Showing 2 of 120 incidents<") {
		t.Errorf("no total in %s", html)
	}
	one(t, es, "button", map[string]string{"id": "archive-more"})
	rows := find(es, "tr", map[string]string{"class": "archive-row"})
	if len(rows) != 2 || rows[1].attrs["data-id"] != "inc-2" {
		t.Errorf("rows %v", rows)
	}
	for _, cls := range []string{"replay", "open-live ghost"} {
		if n := len(find(es, "button", map[string]string{"class": cls})); n != 2 {
			t.Errorf("%d %s buttons", n, cls)
		}
	}
	// The district select offers names, not ids.
	if len(find(es, "option", map[string]string{"value": "yuelu"})) != 1 {
		t.Error("no district option")
	}
	for _, id := range []string{"archive-form", "archive-from", "archive-to", "archive-status", "archive-district", "archive-kind",
		"archive-priority", "archive-unit", "archive-text", "archive-search", "archive-csv", "archive-xlsx"} {
		one(t, es, "", map[string]string{"id": id})
	}
	p.Next = ""
	if es := render(t, &ArchiveView{Ctl: ct, page: p}); len(find(es, "button", map[string]string{"id": "archive-more"})) != 0 {
		t.Error("more on the last page")
	}
}

func TestKPIView(t *testing.T) {
	ct := consoleFixture(ZH)
	ct.C.Store.SetDistricts([]District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}})
	p := newKPIPage(time.Now(), time.Local)
	total := api.KPIRow{Group: "total", Count: 1234, Reached3: fp(0.5)}
	p.Hours = &api.KPIReport{Rows: []api.KPIRow{{Group: "08", Count: 5, Reached3: fp(0.6)}}, Total: total}
	p.Districts = &api.KPIReport{Rows: []api.KPIRow{{Group: "yuelu", Count: 5, Reached3: fp(0.6)}}, Total: total}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)
	p.Days = &api.KPIReport{Rows: []api.KPIRow{{Group: "2026-12-01", Count: 5}}, Total: total}
	p.WinFrom, p.WinTo = from.UnixMilli(), from.AddDate(0, 0, 7).UnixMilli()
	view := &KPIView{Ctl: ct, page: p}
	es := render(t, view)
	one(t, es, "div", map[string]string{"id": "kpi-count"})
	html := app.HTMLString(view)
	for _, want := range []string{">1,234<", `<h3 class="chart-title">按时段分布</h3>`, ">各辖区 3 分钟内到场率<", ">岳麓区<"} {
		if !strings.Contains(html, want) {
			t.Errorf("no %s in the figures", want)
		}
	}
	for _, id := range []string{"chart-hour", "chart-district", "chart-trend"} {
		one(t, es, "div", map[string]string{"id": id})
	}
	if n := len(find(es, "h3", map[string]string{"class": "chart-title"})); n != 3 {
		t.Errorf("%d chart titles", n)
	}
	if n := len(find(es, "svg", map[string]string{"class": "chart-svg"})); n != 3 {
		t.Errorf("%d charts' svg", n)
	}
	if n := len(find(es, "rect", nil)); n < 3 {
		t.Errorf("%d rects", n)
	}
	figs := kpiFigures(EN, total)
	var keys []string
	for _, f := range figs {
		keys = append(keys, f.Key)
	}
	if !slices.Equal(keys, []string{"count", "reached1", "reached3", "reached5", "dispatch", "ack", "arrival", "close", "declines", "timeouts", "uncovered"}) {
		t.Errorf("figures %v", keys)
	}
	if figs[2].Value != "50%" || figs[1].Value != "—" || figs[6].Value != "— / —" || figs[10].Value != "0%" {
		t.Errorf("figures %+v", figs)
	}
}

// The KPI window: the presets end today; a range is checked before any
// call; the three groupings are fetched for the same window.
func TestKPIPageLoad(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, cst)
	p := newKPIPage(now, cst)
	for preset, days := range map[string]int{kpiLast7: 7, kpiLast30: 30, kpiLast90: 90} {
		p.Preset = preset
		from, to, problem := p.window(EN, now, cst)
		if problem != "" || to != time.Date(2026, 12, 8, 0, 0, 0, 0, cst).UnixMilli() || (to-from)/86_400_000 != int64(days) {
			t.Errorf("%s: %d..%d %q", preset, from, to, problem)
		}
	}
	p.Preset, p.From, p.To = kpiRange, "2026-12-05", "2026-12-01"
	if _, _, problem := p.window(EN, now, cst); problem == "" {
		t.Error("a backwards range accepted")
	}
	p.Preset = "week"
	if _, _, problem := p.window(EN, now, cst); problem == "" {
		t.Error("an unknown preset accepted")
	}

	h := newPagesHub(t, 0)
	ct, l := pagesController(t, h)
	p = newKPIPage(time.Now(), time.Local)
	p.Preset, p.From, p.To = kpiRange, "2026-12-05", "2026-12-01"
	p.Load(ct, l, EN, time.Now(), time.Local)
	if p.Busy() || p.Err == "" || len(h.seen()) != 0 {
		t.Fatalf("a bad range: busy %v err %q calls %v", p.Busy(), p.Err, h.seen())
	}
	p.Preset = kpiLast7
	p.Load(ct, l, EN, time.Now(), time.Local)
	l.until(t, "the figures", func() bool { return p.Days != nil && !p.Busy() })
	if p.Err != "" || p.Hours.By != api.KPIByHour || p.Districts.By != api.KPIByDistrict || p.Days.By != api.KPIByDay {
		t.Errorf("reports %v %v %v err %q", p.Hours.By, p.Districts.By, p.Days.By, p.Err)
	}
	if p.Hours.From != p.WinFrom || p.Days.To != p.WinTo {
		t.Errorf("window %d..%d, reports %d..%d", p.WinFrom, p.WinTo, p.Hours.From, p.Days.To)
	}
	if n := len(h.seen()); n != 3 {
		t.Errorf("%d calls", n)
	}
	// A failure keeps the figures shown.
	h.set(func(h *pagesHub) { h.fail = true })
	shown := p.Days
	p.Preset = kpiLast30
	p.Load(ct, l, EN, time.Now(), time.Local)
	l.until(t, "the failure", func() bool { return !p.Busy() })
	if p.Days != shown || !strings.Contains(p.Err, "unwell") {
		t.Errorf("after a failure: %v, err %q", p.Days == shown, p.Err)
	}
	h.set(func(h *pagesHub) { h.fail = false })
	p.By = api.KPIByShift
	p.Export(ct, l, EN, time.Now(), time.Local, api.FormatXLSX)
	l.until(t, "the export", func() bool { return p.Saving == "" })
	if last := h.seen()[len(h.seen())-1]; !strings.Contains(last, "by=shift") || !strings.Contains(last, "format=xlsx") {
		t.Errorf("export %s", last)
	}
}

// Keys the pages build from a vocabulary (not literal T calls) are in
// both languages.
func TestPagesBuiltKeys(t *testing.T) {
	var keys []string
	for _, s := range []string{api.ArchiveStatusAll, api.ArchiveStatusOpen, api.ArchiveStatusClosed} {
		keys = append(keys, "archive.status."+s)
	}
	for _, p := range kpiPresets {
		keys = append(keys, "kpi.window."+p)
	}
	for _, b := range kpiExportBys {
		keys = append(keys, "kpi.by."+b)
	}
	keys = append(keys, reportFigureHeads...)
	keys = append(keys, "archive.col.time", "archive.col.id", "archive.col.kind", "archive.col.priority", "archive.col.district",
		"archive.col.summary", "archive.col.units", "archive.col.arrival", "archive.col.status", "archive.col.actions",
		"report.col.id", "report.col.created", "report.col.span", "report.col.duration", "report.col.incidents")
	for _, k := range keys {
		for _, l := range []Lang{EN, ZH} {
			if _, ok := messages[l][k]; !ok {
				t.Errorf("%s lacks %q", l, k)
			}
		}
	}
	for _, b := range api.KPIBys {
		if !slices.Contains(kpiExportBys, b) {
			t.Errorf("the export does not offer by=%s", b)
		}
	}
}
