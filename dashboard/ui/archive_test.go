package ui

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol/api"
)

var cst = time.FixedZone("CST", 8*3600)

func TestArchiveQueryFromForm(t *testing.T) {
	day := func(y int, m time.Month, d int) int64 { return time.Date(y, m, d, 0, 0, 0, 0, cst).UnixMilli() }
	for _, tc := range []struct {
		name    string
		form    ArchiveForm
		want    url.Values // of the path; nil: refused
		problem string     // part of the message when refused
	}{
		{"the default", newArchiveForm(time.Date(2026, 12, 7, 15, 0, 0, 0, cst), cst),
			url.Values{"from": {i64(day(2026, 12, 1))}, "to": {i64(day(2026, 12, 8))}, "limit": {"50"}}, ""},
		{"every filter", ArchiveForm{From: "2026-11-01", To: "2026-11-30", Status: api.ArchiveStatusClosed, District: "yuelu",
			Kind: "robbery", Priority: "1", Unit: " car-7 ", Text: "  持刀 knife "},
			url.Values{"from": {i64(day(2026, 11, 1))}, "to": {i64(day(2026, 12, 1))}, "status": {"closed"}, "district": {"yuelu"},
				"kind": {"robbery"}, "priority": {"1"}, "unit": {"car-7"}, "q": {"持刀 knife"}, "limit": {"50"}}, ""},
		{"one day", ArchiveForm{From: "2026-12-07", To: "2026-12-07", Status: api.ArchiveStatusAll, District: "none"},
			url.Values{"from": {i64(day(2026, 12, 7))}, "to": {i64(day(2026, 12, 8))}, "district": {"none"}, "limit": {"50"}}, ""},
		{"backwards", ArchiveForm{From: "2026-12-07", To: "2026-12-01"}, nil, "before the start"},
		{"not a date", ArchiveForm{From: "7/12/2026", To: "2026-12-01"}, nil, "Not a date"},
		{"empty date", ArchiveForm{From: "", To: "2026-12-01"}, nil, "Not a date"},
		{"too long", ArchiveForm{From: "2025-01-01", To: "2026-12-01"}, nil, "at most 400"},
		{"bad priority", ArchiveForm{From: "2026-12-01", To: "2026-12-01", Priority: "4"}, nil, "1, 2 or 3"},
		{"bad status", ArchiveForm{From: "2026-12-01", To: "2026-12-01", Status: "lost"}, nil, "Unknown status"},
	} {
		q, problem := tc.form.Query(EN, cst)
		if tc.want == nil {
			if problem == "" || !strings.Contains(problem, tc.problem) {
				t.Errorf("%s: refused with %q, want a message with %q", tc.name, problem, tc.problem)
			}
			continue
		}
		if problem != "" {
			t.Errorf("%s: refused: %s", tc.name, problem)
			continue
		}
		path := q.Path()
		if !strings.HasPrefix(path, "/api/incidents/search?") {
			t.Errorf("%s: path %s", tc.name, path)
		}
		got, _ := url.ParseQuery(path[strings.IndexByte(path, '?')+1:])
		if got.Encode() != tc.want.Encode() {
			t.Errorf("%s: query\n %s\nwant\n %s", tc.name, got.Encode(), tc.want.Encode())
		}
	}
	// A refusal is in the dashboard's language.
	if _, p := (ArchiveForm{From: "2026-12-07", To: "2026-12-01"}).Query(ZH, cst); p != "结束日期早于开始日期。" {
		t.Errorf("Chinese refusal %q", p)
	}
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func TestPagePaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{KPIPath(1, 2, api.KPIByHour, ""), "/api/kpi?by=hour&from=1&to=2"},
		{KPIPath(1, 2, api.KPIByDistrict, api.FormatJSON), "/api/kpi?by=district&from=1&to=2"},
		{KPIPath(1, 2, api.KPIByDay, api.FormatXLSX), "/api/kpi?by=day&format=xlsx&from=1&to=2"},
		{IncidentExportPath(10, 20, api.FormatCSV), "/api/incidents/export?format=csv&from=10&to=20"},
		{DailyReportPath("2026-12-06"), "/api/report/daily?date=2026-12-06"},
		{DailyReportPath(""), "/api/report/daily"},
		{ArchiveQuery{From: 1, To: 2, Cursor: "abc=="}.Path(), "/api/incidents/search?cursor=abc%3D%3D&from=1&to=2"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s, want %s", tc.got, tc.want)
		}
	}
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, cst).UnixMilli()
	to := time.Date(2026, 12, 7, 0, 0, 0, 0, cst).UnixMilli()
	if got := exportName("incidents", from, to, "xlsx", cst); got != "incidents-2026-11-30_2026-12-06.xlsx" {
		t.Errorf("export name %q", got)
	}
}

func TestArchiveCells(t *testing.T) {
	ds := []District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}}
	names := map[string]string{"car-1": "湘A-001"}
	unitName := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	r := api.ArchiveRow{ID: "inc-7", Kind: "robbery", Priority: 1, Status: api.IncidentClosed, Summary: "持刀抢劫", District: "yuelu",
		Created: time.Date(2026, 12, 6, 9, 5, 0, 0, cst).UnixMilli(), Units: []string{"car-1", "moto-2"}, ToArrivalS: fp(200)}
	want := []string{"2026-12-06 09:05", "inc-7", "抢劫", "1级", "岳麓区", "持刀抢劫", "湘A-001 moto-2", "3分20秒", "已结束"}
	if got := archiveCells(ZH, r, ds, unitName, cst); !slices.Equal(got, want) {
		t.Errorf("cells\n %q\nwant\n %q", got, want)
	}
	r.ToArrivalS, r.District, r.Units = nil, "", nil
	got := archiveCells(EN, r, ds, unitName, cst)
	if got[4] != "Outside every district" || got[6] != "" || got[7] != "never reached" || got[8] != "closed" {
		t.Errorf("cells %q", got)
	}
	// Still open and not reached: it may yet be.
	r.Status = api.IncidentDispatched
	if got := archiveCells(EN, r, ds, unitName, cst); got[7] != "not yet" {
		t.Errorf("an open incident not reached yet: %q", got[7])
	}
	if districtName(EN, ds, "xiangjiang") != "xiangjiang" {
		t.Error("an unknown district shows as its id")
	}
}

// The archive against the hub: the first page with the total, "more"
// until the last page, a failure that keeps the rows, a bad form that
// calls nothing.
func TestArchivePages(t *testing.T) {
	h := newPagesHub(t, 120)
	ct, l := pagesController(t, h)
	p := newArchivePage(time.Now(), time.Local)
	p.Form.Text = "row"
	p.Search(ct, l, EN, time.Local)
	if !p.Busy() {
		t.Fatal("not busy while searching")
	}
	l.until(t, "the first page", func() bool { return p.Searched && !p.Busy() })
	if len(p.Rows) != 50 || p.Total != 120 || p.Next != "50" || p.Err != "" {
		t.Fatalf("first page: %d rows of %d, next %q, err %q", len(p.Rows), p.Total, p.Next, p.Err)
	}
	first := h.seen()[0]
	if !strings.Contains(first, "q=row") || !strings.Contains(first, "limit=50") || strings.Contains(first, "cursor") {
		t.Errorf("first request %s", first)
	}
	p.More(ct, l, EN)
	l.until(t, "the second page", func() bool { return len(p.Rows) == 100 && !p.Busy() })
	if last := h.seen()[1]; !strings.Contains(last, "cursor=50") || !strings.Contains(last, "q=row") {
		t.Errorf("the next page's request %s", last)
	}
	p.More(ct, l, EN)
	l.until(t, "the last page", func() bool { return len(p.Rows) == 120 && !p.Busy() })
	if p.Next != "" || p.Rows[119].ID != "inc-219" {
		t.Errorf("after the last page: next %q, last row %s", p.Next, p.Rows[119].ID)
	}
	n := len(h.seen())
	p.More(ct, l, EN) // nothing more to fetch
	if p.Busy() || len(h.seen()) != n {
		t.Error("more after the last page called the hub")
	}

	// A failed search keeps the rows, with the error.
	h.set(func(h *pagesHub) { h.fail = true })
	p.Search(ct, l, EN, time.Local)
	l.until(t, "the failure", func() bool { return !p.Busy() })
	if len(p.Rows) != 120 || !strings.Contains(p.Err, "the store is unwell") {
		t.Errorf("after a failure: %d rows, err %q", len(p.Rows), p.Err)
	}
	h.set(func(h *pagesHub) { h.fail = false })

	// A bad form: a message, no call.
	n = len(h.seen())
	p.Form.From, p.Form.To = "2026-12-07", "2026-12-01"
	p.Search(ct, l, EN, time.Local)
	if p.Busy() || p.Err == "" || len(h.seen()) != n {
		t.Errorf("a backwards window: busy %v, err %q, %d calls", p.Busy(), p.Err, len(h.seen())-n)
	}

	// The export of the window searched: fetched with the token (the host
	// cannot save it).
	p.Export(ct, l, EN, time.Local, api.FormatCSV)
	if p.Saving != api.FormatCSV {
		t.Error("not saving")
	}
	l.until(t, "the export", func() bool { return p.Saving == "" })
	if last := h.seen()[len(h.seen())-1]; !strings.HasPrefix(last, "/api/incidents/export?format=csv&from=") {
		t.Errorf("export request %s", last)
	}
	if !strings.Contains(p.Err, "needs a browser") {
		t.Errorf("the host's export error %q", p.Err)
	}
}

// A new search supersedes the one in flight: its answer, if it comes, is
// dropped.
func TestArchiveSearchSupersedes(t *testing.T) {
	h := newPagesHub(t, 3)
	ct, l := pagesController(t, h)
	block := make(chan struct{})
	h.set(func(h *pagesHub) { h.block = block })
	p := newArchivePage(time.Now(), time.Local)
	p.Form.Text = "old"
	p.Search(ct, l, EN, time.Local)
	old := p.search.seq
	p.Form.Text = "new"
	p.Search(ct, l, EN, time.Local)
	if p.search.seq == old {
		t.Fatal("the second search did not supersede the first")
	}
	h.set(func(h *pagesHub) { h.block = nil })
	close(block)
	l.until(t, "the search", func() bool { return p.Searched && !p.Busy() })
	if p.Shown.Text != "new" {
		t.Errorf("the rows shown answer %q", p.Shown.Text)
	}
	// The first call was cancelled, not left to finish.
	l.wg.Wait()
	for len(l.q) > 0 {
		(<-l.q)()
	}
	if p.Shown.Text != "new" || p.Err != "" {
		t.Errorf("a late answer changed the page: %q, err %q", p.Shown.Text, p.Err)
	}
}

// A refused token ends the session, as any call of the console does.
func TestPagesTokenRefused(t *testing.T) {
	h := newPagesHub(t, 3)
	ct, l := pagesController(t, h)
	ct.api.Token = "stale"
	p := newReportPage(time.Now(), time.Local)
	p.Load(ct, l, EN)
	l.until(t, "signed out", func() bool { return !ct.SignedIn() })
	if !ct.C.Notice.Error || !strings.Contains(ct.C.Notice.Text, "sign in again") {
		t.Errorf("notice %+v", ct.C.Notice)
	}
}
