package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	papi "kuaifan/protocol/api"
)

// pagesHub is the hub's API of the page screens as far as the dashboard
// uses it: the archive's search (paged by a cursor, with the total), the
// figures, the daily report and the exports, behind the Bearer token.
// block, when set, holds every answer until it is closed (requests in
// flight); fail makes every answer a 500.
type pagesHub struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	rows     []papi.ArchiveRow
	requests []string // the URL of every /api request
	fail     bool
	block    chan struct{}
}

func newPagesHub(t *testing.T, n int) *pagesHub {
	h := &pagesHub{token: "pages-token"}
	for i := range n {
		h.rows = append(h.rows, papi.ArchiveRow{ID: "inc-" + strconv.Itoa(100+i), Kind: "theft", Priority: 2,
			Status: papi.IncidentClosed, Summary: "row " + strconv.Itoa(i), District: "yuelu", Created: int64(1_000_000 + i),
			Units: []string{"car-1"}, ToArrivalS: fp(float64(60 + i))})
	}
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }
	mux.HandleFunc("GET /api/incidents/search", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit <= 0 {
			limit = papi.ArchiveDefaultLimit
		}
		start, _ := strconv.Atoi(q.Get("cursor"))
		h.mu.Lock()
		rows := h.rows
		h.mu.Unlock()
		page := papi.ArchivePage{Incidents: []papi.ArchiveRow{}, Total: len(rows)}
		end := min(len(rows), start+limit)
		page.Incidents = append(page.Incidents, rows[min(start, end):end]...)
		if end < len(rows) {
			page.Next = strconv.Itoa(end)
		}
		write(w, page)
	})
	mux.HandleFunc("GET /api/kpi", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
		to, _ := strconv.ParseInt(q.Get("to"), 10, 64)
		if f := q.Get("format"); f != "" {
			w.Header().Set("Content-Type", "text/csv")
			w.Write([]byte("\ufeffgroup,count\ntotal,7\n"))
			return
		}
		rep := papi.KPIReport{From: from, To: to, By: q.Get("by"), Total: papi.KPIRow{Group: "total", Count: 7, Reached3: fp(0.5)}}
		switch rep.By {
		case papi.KPIByHour:
			rep.Rows = []papi.KPIRow{{Group: "08", Count: 5, Reached3: fp(0.6)}, {Group: "21", Count: 2, Reached3: fp(0.25)}}
		case papi.KPIByDistrict:
			rep.Rows = []papi.KPIRow{{Group: "yuelu", Count: 7, Reached3: fp(0.5)}}
		case papi.KPIByDay:
			rep.Rows = []papi.KPIRow{{Group: "2026-12-01", Count: 7, ToArrivalP50: fp(100), ToArrivalP90: fp(200)}}
		}
		write(w, rep)
	})
	mux.HandleFunc("GET /api/report/daily", func(w http.ResponseWriter, r *http.Request) {
		write(w, papi.DailyReport{Date: r.URL.Query().Get("date"), Zone: "Asia/Shanghai", Total: papi.KPIRow{Group: "total", Count: 3},
			Worst: []papi.ArchiveRow{{ID: "inc-9", Kind: "fire"}}})
	})
	mux.HandleFunc("GET /api/incidents/export", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("\ufeffid,created\ninc-1,2026-12-01T08:00:00+08:00\n"))
	})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests = append(h.requests, r.URL.String())
		fail, block := h.fail, h.block
		h.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		if r.Header.Get("Authorization") != "Bearer "+h.token {
			w.WriteHeader(http.StatusUnauthorized)
			write(w, papi.Error{Error: "missing or wrong Bearer token"})
			return
		}
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			write(w, papi.Error{Error: "the store is unwell"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

func (h *pagesHub) set(f func(h *pagesHub)) {
	h.mu.Lock()
	f(h)
	h.mu.Unlock()
}

func (h *pagesHub) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.requests...)
}

// pagesController is a controller signed in to h as far as the pages go
// (no stream): the session's API and context, and a test loop.
func pagesController(t *testing.T, h *pagesHub) (*Controller, *testLoop) {
	ct := NewController(NewConsole(EN), h.srv.URL)
	l := newTestLoop()
	ct.Attach(l)
	sess, cancel := context.WithCancel(context.Background())
	ct.api, ct.sess, ct.stop = &API{Base: h.srv.URL, Token: h.token}, sess, cancel
	ct.C.Store.SetDistricts([]District{{ID: "yuelu", EN: "Yuelu", ZH: "岳麓区"}})
	t.Cleanup(func() {
		ct.SignOut()
		h.set(func(h *pagesHub) {
			if h.block != nil {
				close(h.block)
				h.block = nil
			}
		})
		l.wg.Wait()
	})
	return ct, l
}
