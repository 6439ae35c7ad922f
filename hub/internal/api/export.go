package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
)

// Exports of the incidents (GET /api/incidents/export) and the KPIs
// (GET /api/kpi?format=): CSV (UTF-8 with a byte order mark, so Excel reads
// Chinese text right) or XLSX (github.com/xuri/excelize/v2; a bold header,
// column widths set, shares formatted as %). The columns are
// api.IncidentExportColumns and api.KPIExportColumns; a cell is empty where
// the JSON has null.

const (
	csvType  = "text/csv; charset=utf-8"
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	bom      = "\uFEFF"
)

// window reads the from= and to= (Unix ms, required) of a KPI or export
// request, answering 400 when they are missing or not numbers.
func window(w http.ResponseWriter, r *http.Request) (from, to int64, ok bool) {
	q := r.URL.Query()
	var bounds [2]int64
	for i, name := range []string{"from", "to"} {
		v := q.Get(name)
		if v == "" {
			writeError(w, http.StatusBadRequest, name+" is required: Unix ms")
			return 0, 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, name+" "+clip.Quote(v)+" is not Unix ms")
			return 0, 0, false
		}
		bounds[i] = n
	}
	return bounds[0], bounds[1], true
}

// format reads format=, one of formats; "" is the first. It answers 400
// listing the formats for another.
func format(w http.ResponseWriter, r *http.Request, formats ...string) (string, bool) {
	f := r.URL.Query().Get("format")
	if f == "" {
		return formats[0], true
	}
	if !slices.Contains(formats, f) {
		writeError(w, http.StatusBadRequest, "format "+clip.Quote(f)+" is not one of "+strings.Join(formats, ", "))
		return "", false
	}
	return f, true
}

// attach sets the headers of a download named name-<first day>-<last
// day>.ext: the local dates of from and of the window's last millisecond.
func attach(w http.ResponseWriter, contentType, name, ext string, from, to int64, loc *time.Location) {
	day := func(ms int64) string { return time.UnixMilli(ms).In(loc).Format(time.DateOnly) }
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.%s"`, name, day(from), day(to-1), ext))
}

// incidentsExport answers GET /api/incidents/export?from=&to=&format=csv|xlsx.
func (s *server) incidentsExport(w http.ResponseWriter, r *http.Request) {
	from, to, ok := window(w, r)
	if !ok {
		return
	}
	f, ok := format(w, r, api.FormatCSV, api.FormatXLSX)
	if !ok {
		return
	}
	if err := dispatch.CheckWindow(from, to); err != nil {
		s.dispatchError(w, r, err)
		return
	}
	loc := s.Dispatch.Location()
	if f == api.FormatXLSX {
		s.incidentsXLSX(w, r, from, to, loc)
		return
	}
	// CSV streams: the header goes out with the first row, so an error
	// before it is still an error status; one after it aborts the
	// response, so a client never takes a cut file for a whole one.
	cw := csv.NewWriter(w)
	started := false
	start := func() {
		started = true
		attach(w, csvType, "incidents", api.FormatCSV, from, to, loc)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(bom))
		cw.Write(api.IncidentExportColumns)
	}
	err := s.Dispatch.EachCreated(from, to, func(inc dispatch.Incident, fa kpi.Facts) error {
		if !started {
			start()
		}
		if err := cw.Write(csvCells(incidentCells(&inc, &fa, loc))); err != nil {
			return fmt.Errorf("%w: %w", errClient, err)
		}
		return nil
	})
	switch {
	case err == nil && !started:
		start()
	case errors.Is(err, errClient):
		return // the client went away
	case err != nil && !started:
		s.dispatchError(w, r, err)
		return
	case err != nil:
		s.Logger.Error("api: incident export cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
	cw.Flush()
}

var errClient = errors.New("api: writing to the client")

// incidentsXLSX answers the incidents as XLSX: one sheet, streamed to the
// file, which is written out once whole.
func (s *server) incidentsXLSX(w http.ResponseWriter, r *http.Request, from, to int64, loc *time.Location) {
	x := excelize.NewFile()
	defer x.Close()
	sw, bold, _, err := newSheet(x, "Incidents")
	if err == nil {
		widths := []float64{20, 26, 15, 12, 8, 11, 14, 11, 11, 48, 24, 14, 13, 11, 13, 11, 9, 9, 10, 26}
		for i, wd := range widths {
			if err = sw.SetColWidth(i+1, i+1, wd); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = sw.SetRow("A1", header(api.IncidentExportColumns, bold))
	}
	row := 2
	if err == nil {
		err = s.Dispatch.EachCreated(from, to, func(inc dispatch.Incident, fa kpi.Facts) error {
			cell, _ := excelize.CoordinatesToCellName(1, row)
			row++
			return sw.SetRow(cell, incidentCells(&inc, &fa, loc))
		})
	}
	if err == nil {
		err = sw.Flush()
	}
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	attach(w, xlsxType, "incidents", api.FormatXLSX, from, to, loc)
	x.Write(w)
}

// newSheet renames the new file's only sheet and opens a stream writer on
// it, with a bold style and a percent one.
func newSheet(x *excelize.File, name string) (sw *excelize.StreamWriter, bold, pct int, err error) {
	if err = x.SetSheetName(x.GetSheetName(0), name); err != nil {
		return nil, 0, 0, err
	}
	if bold, err = x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
		return nil, 0, 0, err
	}
	if pct, err = x.NewStyle(&excelize.Style{NumFmt: 10}); err != nil { // 0.00%
		return nil, 0, 0, err
	}
	sw, err = x.NewStreamWriter(name)
	return sw, bold, pct, err
}

func header(cols []string, style int) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = excelize.Cell{StyleID: style, Value: c}
	}
	return out
}

// incidentCells is an incident's row (api.IncidentExportColumns): nil for
// an empty cell, numbers as numbers.
func incidentCells(inc *dispatch.Incident, fa *kpi.Facts, loc *time.Location) []any {
	stamp := func(ms int64) string { return time.UnixMilli(ms).In(loc).Format(time.RFC3339) }
	var units []string
	first, firstAt := "", int64(0)
	for _, a := range inc.Assignments {
		if !slices.Contains(units, a.Unit) {
			units = append(units, a.Unit)
		}
		if a.Arrived > 0 && (firstAt == 0 || a.Arrived < firstAt) {
			first, firstAt = a.Unit, a.Arrived
		}
	}
	secs := func(v float64) any {
		if v < 0 {
			return nil
		}
		return v
	}
	district := fa.District
	if district == "" {
		district = kpi.GroupNone
	}
	uncovered, closed := "no", ""
	if fa.Uncovered {
		uncovered = "yes"
	}
	if inc.Status == dispatch.StatusClosed && inc.Closed > 0 {
		closed = stamp(inc.Closed)
	}
	return []any{inc.ID, stamp(inc.Created), inc.Created, inc.Kind, inc.Priority, inc.Status, district,
		inc.Lat, inc.Lon, inc.Summary, strings.Join(units, " "), first,
		secs(fa.ToDispatchS), secs(fa.ToAckS), secs(fa.ToArrivalS), secs(fa.ToCloseS),
		fa.Declines, fa.Timeouts, uncovered, closed}
}

// kpiCells is a KPI row (api.KPIExportColumns); the shares in style pct.
func kpiCells(row *api.KPIRow, pct int) []any {
	opt := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	share := func(v any) any {
		if pct == 0 || v == nil {
			return v
		}
		return excelize.Cell{StyleID: pct, Value: v}
	}
	return []any{row.Group, row.Count, row.ReachBase, share(opt(row.Reached1)), share(opt(row.Reached3)), share(opt(row.Reached5)),
		opt(row.ToDispatchP50), opt(row.ToDispatchP90), opt(row.ToAckP50), opt(row.ToAckP90),
		opt(row.ToArrivalP50), opt(row.ToArrivalP90), opt(row.ToCloseP50), opt(row.ToCloseP90),
		row.Declines, row.Timeouts, share(row.UncoveredShare)}
}

// csvCells formats cells as CSV fields: numbers in the shortest form that
// reads back the same, nil as empty, text made inert for spreadsheets.
func csvCells(cells []any) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case nil:
		case string:
			out[i] = inertText(v)
		case int:
			out[i] = strconv.Itoa(v)
		case int64:
			out[i] = strconv.FormatInt(v, 10)
		case float64:
			out[i] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// kpiExport writes a KPI report as CSV or XLSX: the groups, then the total.
func (s *server) kpiExport(w http.ResponseWriter, r *http.Request, f string, rep *api.KPIReport) {
	loc := s.Dispatch.Location()
	rows := append(slices.Clone(rep.Rows), rep.Total)
	name := "kpi-" + rep.By
	if f == api.FormatCSV {
		attach(w, csvType, name, api.FormatCSV, rep.From, rep.To, loc)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(bom))
		cw := csv.NewWriter(w)
		cw.Write(api.KPIExportColumns)
		for i := range rows {
			cw.Write(csvCells(kpiCells(&rows[i], 0)))
		}
		cw.Flush()
		return
	}
	x := excelize.NewFile()
	defer x.Close()
	sw, bold, pct, err := newSheet(x, "KPI")
	if err == nil {
		err = sw.SetColWidth(1, 1, 14)
	}
	if err == nil {
		err = sw.SetColWidth(2, len(api.KPIExportColumns), 17)
	}
	if err == nil {
		err = sw.SetRow("A1", header(api.KPIExportColumns, bold))
	}
	for i := 0; err == nil && i < len(rows); i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		err = sw.SetRow(cell, kpiCells(&rows[i], pct))
	}
	if err == nil {
		err = sw.Flush()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	attach(w, xlsxType, name, api.FormatXLSX, rep.From, rep.To, loc)
	x.Write(w)
}

// inertText keeps a spreadsheet from running text as a formula: a summary
// is a caller's words, and Excel or WPS would take "=HYPERLINK(…)" or
// "@SUM(…)" in a CSV cell for a formula. Text starting with = + - @, a tab
// or a carriage return gets a leading apostrophe, as OWASP advises (the
// apostrophe shows in the cell). Numbers are not text and stay as they are.
func inertText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
