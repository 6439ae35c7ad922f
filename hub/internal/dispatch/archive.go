package dispatch

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
)

// The archive (GET /api/incidents/search) and the daily report read the
// same table as the response figures: one indexed entry per stored
// incident, built by New's scan and refreshed by flush. A search never
// reads the store, and never holds the dispatcher longer than one pass
// over the table.

// indexed is what the dispatcher keeps of a stored incident: its facts,
// its archive row and the text a search matches.
type indexed struct {
	facts kpi.Facts
	row   api.ArchiveRow
	text  string // id, kind, summary and every note, lower-cased
}

// indexOf indexes an incident. Slices are fresh: an entry is replaced,
// never changed, so a row copied out of the table stays valid.
func (d *Dispatcher) indexOf(inc *Incident) *indexed {
	f := d.factsOf(inc)
	row := api.ArchiveRow{ID: inc.ID, Kind: inc.Kind, Priority: inc.Priority, Status: inc.Status,
		Summary: inc.Summary, District: f.District, Lat: inc.Lat, Lon: inc.Lon, Created: inc.Created,
		Uncovered: f.Uncovered}
	if inc.Status == StatusClosed {
		row.Closed = inc.Closed
	}
	if f.ToDispatchS >= 0 {
		row.ToDispatchS = &f.ToDispatchS
	}
	if f.ToArrivalS >= 0 {
		row.ToArrivalS = &f.ToArrivalS
	}
	var text strings.Builder
	text.WriteString(inc.ID + "\n" + inc.Kind + "\n" + inc.Summary)
	for _, a := range inc.Assignments {
		if !slices.Contains(row.Units, a.Unit) {
			row.Units = append(row.Units, a.Unit)
		}
	}
	for i := range inc.Timeline {
		if e := &inc.Timeline[i]; e.Params != nil && e.Params.Note != "" {
			text.WriteString("\n" + e.Params.Note)
		}
	}
	return &indexed{facts: f, row: row, text: strings.ToLower(text.String())}
}

// ArchiveQuery is a search of the stored incidents (GET
// /api/incidents/search): the created window and the filters, each
// ignored when zero.
type ArchiveQuery struct {
	From, To int64  // Unix ms of creation, checked as CheckWindow does
	Status   string // api.ArchiveStatus*; "" is all
	District string // a district's id; kpi.GroupNone: outside every district
	Kind     string
	Priority int
	Unit     string // ever assigned
	Text     string // in the id, kind, summary or a note, any case
	Limit    int    // 0: api.ArchiveDefaultLimit
	Cursor   string // the Next of the page before
}

// Search answers an archive query, newest first (ties by id, descending).
// Paging is by the last row's place in that order, so incidents created
// while a dispatcher pages do not shift the pages after the first.
func (d *Dispatcher) Search(q ArchiveQuery) (api.ArchivePage, error) {
	if err := CheckWindow(q.From, q.To); err != nil {
		return api.ArchivePage{}, err
	}
	switch q.Status {
	case "", api.ArchiveStatusAll, api.ArchiveStatusOpen, api.ArchiveStatusClosed:
	default:
		return api.ArchivePage{}, fmt.Errorf("%w: status %q is not all, open or closed", ErrInvalid, q.Status)
	}
	if q.Priority < 0 || q.Priority > 3 {
		return api.ArchivePage{}, fmt.Errorf("%w: priority %d is not 1, 2 or 3", ErrInvalid, q.Priority)
	}
	limit := cmp.Or(q.Limit, api.ArchiveDefaultLimit)
	if limit < 1 || limit > api.ArchiveMaxLimit {
		return api.ArchivePage{}, fmt.Errorf("%w: limit %d is not 1 to %d", ErrInvalid, limit, api.ArchiveMaxLimit)
	}
	after, afterID, paged, err := decodeCursor(q.Cursor)
	if err != nil {
		return api.ArchivePage{}, err
	}
	text := strings.ToLower(strings.TrimSpace(q.Text))

	// Entries are replaced, never changed: pointers taken under the lock
	// stay valid after it.
	var hits []*indexed
	d.mu.Lock()
	for _, x := range d.facts {
		if q.matches(x, text) {
			hits = append(hits, x)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(hits, newestFirst)
	page := api.ArchivePage{Total: len(hits), Incidents: []api.ArchiveRow{}}
	start := 0
	if paged {
		start, _ = slices.BinarySearchFunc(hits, &indexed{row: api.ArchiveRow{Created: after, ID: afterID}}, newestFirst)
		if start < len(hits) && hits[start].row.Created == after && hits[start].row.ID == afterID {
			start++
		}
	}
	end := min(start+limit, len(hits))
	for _, x := range hits[start:end] {
		page.Incidents = append(page.Incidents, x.row)
	}
	if end < len(hits) {
		last := hits[end-1].row
		page.Next = encodeCursor(last.Created, last.ID)
	}
	return page, nil
}

func (q *ArchiveQuery) matches(x *indexed, text string) bool {
	f := &x.facts
	switch {
	case f.Created < q.From || f.Created >= q.To:
		return false
	case q.Status == api.ArchiveStatusClosed && !f.Closed, q.Status == api.ArchiveStatusOpen && f.Closed:
		return false
	case q.District != "" && q.District != cmp.Or(f.District, kpi.GroupNone):
		return false
	case q.Kind != "" && q.Kind != f.Kind, q.Priority != 0 && q.Priority != f.Priority:
		return false
	case q.Unit != "" && !slices.Contains(x.row.Units, q.Unit):
		return false
	}
	return text == "" || strings.Contains(x.text, text)
}

func newestFirst(a, b *indexed) int {
	if c := cmp.Compare(b.row.Created, a.row.Created); c != 0 {
		return c
	}
	return strings.Compare(b.row.ID, a.row.ID)
}

// A cursor is the last row's creation time and id, base64url: opaque to
// a client, and a forged one only moves where a page starts.
func encodeCursor(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + "." + id))
}

func decodeCursor(c string) (created int64, id string, ok bool, err error) {
	if c == "" {
		return 0, "", false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		ms, rest, found := strings.Cut(string(b), ".")
		if created, err = strconv.ParseInt(ms, 10, 64); err == nil && found && rest != "" {
			return created, rest, true, nil
		}
	}
	return 0, "", false, fmt.Errorf("%w: cursor %q is not one a page gave", ErrInvalid, c)
}

// DailyReport is the report of one local date of the hub ("2006-01-02";
// "" is today): the figures of the incidents created that day, in total,
// by shift and by district, its worst responses, and the periods when an
// incident was uncovered.
func (d *Dispatcher) DailyReport(date string) (api.DailyReport, error) {
	loc, now := d.cfg.Location, d.cfg.Now()
	if loc == nil {
		loc = time.UTC
	}
	if date == "" {
		date = now.In(loc).Format(time.DateOnly)
	}
	day, err := time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		return api.DailyReport{}, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrInvalid, date)
	}
	zone := loc.String()
	if zone == "Local" {
		// The hub runs on the machine's zone (no TZ): name it by what it is.
		zone = day.Format("MST-07:00")
	}
	rep := api.DailyReport{Date: date, Zone: zone, From: day.UnixMilli(), To: day.AddDate(0, 0, 1).UnixMilli()}
	facts := d.Facts(rep.From, rep.To)
	for _, by := range []string{api.KPIByShift, api.KPIByDistrict} {
		r, err := kpi.Compute(facts, by, now, loc)
		if err != nil {
			return api.DailyReport{}, err
		}
		rep.Total = r.Total
		if by == api.KPIByShift {
			rep.Shifts = r.Rows
		} else {
			rep.Districts = r.Rows
		}
	}
	rep.Worst = d.worst(facts, now)
	// An incident created the day before may still be uncovered after
	// midnight: look a day back for spans reaching into the date.
	rep.Uncovered = uncoveredPeriods(d.Facts(rep.From-24*time.Hour.Milliseconds(), rep.To), rep.From, rep.To, now.UnixMilli())
	return rep, nil
}

// worst picks the report's worst responses: never reached (those that
// count as not reached in the KPIs, the oldest first), then the slowest
// first arrivals.
func (d *Dispatcher) worst(facts []kpi.Facts, now time.Time) []api.ArchiveRow {
	cut := now.Add(-kpi.ReachWindow).UnixMilli()
	var unreached, slow []kpi.Facts
	for _, f := range facts {
		switch {
		case f.Reached():
			slow = append(slow, f)
		case f.Closed || f.Created <= cut:
			unreached = append(unreached, f)
		}
	}
	slices.SortFunc(unreached, func(a, b kpi.Facts) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), strings.Compare(a.ID, b.ID))
	})
	slices.SortFunc(slow, func(a, b kpi.Facts) int {
		return cmp.Or(cmp.Compare(b.ToArrivalS, a.ToArrivalS), strings.Compare(a.ID, b.ID))
	})
	out := []api.ArchiveRow{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range slices.Concat(unreached, slow) {
		if len(out) == api.ReportWorst {
			break
		}
		if x, ok := d.facts[f.ID]; ok {
			out = append(out, x.row)
		}
	}
	return out
}

// uncoveredPeriods merges the incidents' uncovered spans into periods,
// clipped to [from, to); a span still open lasts until now.
func uncoveredPeriods(facts []kpi.Facts, from, to, now int64) []api.UncoveredPeriod {
	type span struct {
		from, to int64
		open     bool
		id       string
	}
	var spans []span
	for _, f := range facts {
		for _, s := range f.UncoveredSpans {
			sp := span{from: f.Created + int64(s.FromS*1000), to: f.Created + int64(s.ToS*1000), id: f.ID}
			if s.ToS < 0 {
				sp.to, sp.open = now, true
			}
			sp.from, sp.to = max(sp.from, from), min(sp.to, to)
			if sp.to > sp.from || sp.open && sp.to == sp.from && sp.from < to {
				spans = append(spans, sp)
			}
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Or(cmp.Compare(a.from, b.from), strings.Compare(a.id, b.id)) })
	out := []api.UncoveredPeriod{}
	for _, s := range spans {
		if n := len(out); n > 0 && s.from <= out[n-1].To {
			p := &out[n-1]
			p.To = max(p.To, s.to)
			p.Open = p.Open || s.open && s.to >= now
			if !slices.Contains(p.Incidents, s.id) {
				p.Incidents = append(p.Incidents, s.id)
			}
			continue
		}
		out = append(out, api.UncoveredPeriod{From: s.from, To: s.to, Open: s.open && s.to >= now, Incidents: []string{s.id}})
	}
	return out
}
