package api

import (
	"net/http"
	"strconv"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/dispatch"
)

// search answers GET /api/incidents/search?from=&to=[&status=&district=
// &kind=&priority=&unit=&q=&limit=&cursor=]: a page of the stored
// incidents created in [from, to), newest first (kuaifan/protocol/api's
// ArchivePage).
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	from, to, ok := window(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	aq := dispatch.ArchiveQuery{From: from, To: to, Status: q.Get("status"), District: q.Get("district"),
		Kind: q.Get("kind"), Unit: q.Get("unit"), Text: q.Get("q"), Cursor: q.Get("cursor")}
	for name, dst := range map[string]*int{"priority": &aq.Priority, "limit": &aq.Limit} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, name+" "+clip.Quote(v)+" is not a positive integer")
			return
		}
		*dst = n
	}
	page, err := s.Dispatch.Search(aq)
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// dailyReport answers GET /api/report/daily[?date=2006-01-02]: the report
// of one local date of the hub, today by default.
func (s *server) dailyReport(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Dispatch.DailyReport(r.URL.Query().Get("date"))
	if err != nil {
		s.dispatchError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
