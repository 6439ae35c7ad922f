package api

import (
	"net/http"
	"strings"

	"kuaifan/protocol/api"
)

// kpi answers GET /api/kpi?from=&to=&by=: the response figures of the
// incidents created in [from, to) (Unix ms, at most 400 days apart), by
// district, kind, priority, unit_type, shift, day or hour, with a total row
// (kuaifan/protocol/kpi has the definitions); format=csv or xlsx exports
// the rows instead of the JSON (export.go).
func (s *server) kpi(w http.ResponseWriter, r *http.Request) {
	from, to, ok := window(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("by") == "" {
		writeError(w, http.StatusBadRequest, "by is required: one of "+strings.Join(api.KPIBys, ", "))
		return
	}
	f, ok := format(w, r, api.FormatJSON, api.FormatCSV, api.FormatXLSX)
	if !ok {
		return
	}
	rep, err := s.Dispatch.KPI(from, to, q.Get("by"))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	if f != api.FormatJSON {
		s.kpiExport(w, r, f, &rep)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
