package api

import (
	"net/http"
	"strconv"

	"kuaifan/hub/internal/clip"
)

// kpi answers GET /api/kpi?from=&to=&by=: the response figures of the
// incidents created in [from, to) (Unix ms, at most 400 days apart), by
// district, kind, priority, unit_type, shift or day, with a total row
// (kuaifan/protocol/kpi has the definitions).
func (s *server) kpi(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bounds [2]int64
	for i, name := range []string{"from", "to"} {
		v := q.Get(name)
		if v == "" {
			writeError(w, http.StatusBadRequest, name+" is required: Unix ms")
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, name+" "+clip.Quote(v)+" is not Unix ms")
			return
		}
		bounds[i] = n
	}
	if q.Get("by") == "" {
		writeError(w, http.StatusBadRequest, "by is required: district, kind, priority, unit_type, shift or day")
		return
	}
	rep, err := s.Dispatch.KPI(bounds[0], bounds[1], q.Get("by"))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
