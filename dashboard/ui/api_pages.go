package ui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"kuaifan/protocol/api"
)

// The page screens' calls: the archive's search, the response figures, the
// daily report, and the exports (files, saved by SaveFile).

// ArchiveQuery is one GET /api/incidents/search: the window in Unix ms
// ([From, To)) and the filters; a zero value leaves a filter out.
type ArchiveQuery struct {
	From, To int64
	Status   string // api.ArchiveStatus*; "" is all
	District string // a district's id, or "none"
	Kind     string
	Priority int
	Unit     string
	Text     string
	Limit    int
	Cursor   string
}

// Path is the query's URL path with its parameters (in a stable order, so
// that tests can compare them).
func (q ArchiveQuery) Path() string {
	v := url.Values{}
	v.Set("from", strconv.FormatInt(q.From, 10))
	v.Set("to", strconv.FormatInt(q.To, 10))
	set := func(k, s string) {
		if s = strings.TrimSpace(s); s != "" {
			v.Set(k, s)
		}
	}
	if q.Status != api.ArchiveStatusAll {
		set("status", q.Status)
	}
	set("district", q.District)
	set("kind", q.Kind)
	if q.Priority > 0 {
		v.Set("priority", strconv.Itoa(q.Priority))
	}
	set("unit", q.Unit)
	set("q", q.Text)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return "/api/incidents/search?" + v.Encode() // Encode sorts by key
}

// SearchIncidents is GET /api/incidents/search.
func (a *API) SearchIncidents(ctx context.Context, q ArchiveQuery) (*api.ArchivePage, error) {
	var p api.ArchivePage
	if err := a.do(ctx, "GET", q.Path(), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// KPIPath is GET /api/kpi for a window and a grouping; format "" is JSON,
// api.FormatCSV or api.FormatXLSX a file.
func KPIPath(from, to int64, by, format string) string {
	v := url.Values{}
	v.Set("from", strconv.FormatInt(from, 10))
	v.Set("to", strconv.FormatInt(to, 10))
	v.Set("by", by)
	if format != "" && format != api.FormatJSON {
		v.Set("format", format)
	}
	return "/api/kpi?" + v.Encode()
}

// KPI is GET /api/kpi?from=&to=&by=.
func (a *API) KPI(ctx context.Context, from, to int64, by string) (*api.KPIReport, error) {
	var r api.KPIReport
	if err := a.do(ctx, "GET", KPIPath(from, to, by, ""), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// IncidentExportPath is GET /api/incidents/export for a window, as a CSV
// or an XLSX file.
func IncidentExportPath(from, to int64, format string) string {
	v := url.Values{}
	v.Set("from", strconv.FormatInt(from, 10))
	v.Set("to", strconv.FormatInt(to, 10))
	v.Set("format", format)
	return "/api/incidents/export?" + v.Encode()
}

// DailyReportPath is GET /api/report/daily for a local date of the hub
// ("2006-01-02"; "" is the hub's today).
func DailyReportPath(date string) string {
	if date == "" {
		return "/api/report/daily"
	}
	return "/api/report/daily?" + url.Values{"date": {date}}.Encode()
}

// DailyReport is GET /api/report/daily?date=.
func (a *API) DailyReport(ctx context.Context, date string) (*api.DailyReport, error) {
	var r api.DailyReport
	if err := a.do(ctx, "GET", DailyReportPath(date), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// File fetches a file the hub makes (an export) in the session, as bytes:
// the page saves it itself (download_js.go).
func (a *API) File(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	resp, err := a.send(ctx, "GET", strings.TrimRight(a.Base, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	status, data := resp.Status, resp.Body
	if status == 401 {
		return nil, ErrUnauthorized
	}
	if status/100 != 2 {
		e := &APIError{Status: status}
		if msg := strings.TrimSpace(string(data)); msg != "" && len(msg) < 500 {
			e.Message = msg
		}
		return nil, e
	}
	if len(data) == 0 {
		return nil, errors.New("the hub sent an empty file")
	}
	return data, nil
}

// fileType is the MIME type of an export by its format.
func fileType(format string) string {
	switch format {
	case api.FormatCSV:
		return "text/csv;charset=utf-8"
	case api.FormatXLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}

// SaveFile fetches path from the hub in the session (API.File) and hands
// it to the browser as a download named filename. It blocks until the
// file is fetched: call it off the UI goroutine (app.Context.Async).
// saveDownload (download_js.go, download_host.go) hands the bytes to the
// browser; on the host (tests, tools) nothing can be saved and it returns
// an error once the file was fetched. Any screen that saves an export can
// use it.
func SaveFile(ctx context.Context, a *API, path, filename string) error {
	data, err := a.File(ctx, path)
	if err != nil {
		return err
	}
	ext := filename[strings.LastIndexByte(filename, '.')+1:]
	return saveDownload(filename, fileType(ext), data)
}

// pageCalls runs a page's requests one at a time: a new one cancels the
// one before, whose answer, if it still comes, is dropped. It lives on the
// UI goroutine (run and the answers' continuations run there).
type pageCalls struct {
	seq    uint64
	cancel context.CancelFunc
}

// busy reports whether a request is in flight.
func (p *pageCalls) busy() bool { return p.cancel != nil }

// stop cancels the request in flight (the page is going away).
func (p *pageCalls) stop() {
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.seq++
}

// run calls f off the UI goroutine with the session's API, then then(err)
// on it through l — the page's own loop, so that the page re-renders. A
// refused session ends it (on the dashboard's loop, which redraws
// the sign-in form). Signed out, it does nothing and reports false.
func (p *pageCalls) run(ct *Controller, l Loop, f func(ctx context.Context, a *API) error, then func(err error)) bool {
	a, sess := ct.api, ct.sess
	if a == nil || sess == nil || l == nil {
		return false
	}
	p.stop()
	ctx, cancel := context.WithCancel(sess)
	p.cancel = cancel
	seq := p.seq
	l.Async(func() {
		err := f(ctx, a)
		l.Dispatch(func() {
			cancel()
			if p.seq != seq {
				return // superseded or stopped
			}
			p.cancel = nil
			if ct.api != a {
				return // signed out meanwhile
			}
			if errors.Is(err, ErrUnauthorized) {
				expire := func() { ct.ended(a) }
				if ct.ui != nil {
					ct.ui.Dispatch(expire)
				} else {
					expire()
				}
				return
			}
			then(err)
		})
	})
	return true
}
