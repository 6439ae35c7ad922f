// Package kpi is the one definition of kuaifan's response figures: the
// hub answers GET /api/kpi with it, and the simulator's report computes its
// shared figures with it. It uses the standard library only (and
// kuaifan/protocol/api), so the WebAssembly dashboard can import it too.
//
// An incident is first reduced to its Facts (FactsOf); Compute groups facts
// and reduces each group to an api.KPIRow. The definitions:
//
//   - Count: the incidents of the group.
//   - Reached within 1, 3, 5 minutes: a unit's first arrival (the incident's
//     Figures.ToArrivalS) at most 60, 180, 300 s after creation. The shares'
//     denominator (ReachBase) is every incident of the group except one that
//     is still open, nobody has reached yet, and was created less than 5
//     minutes before now: it may still be reached in time, so it is left
//     out of all three shares. Every other incident never reached — closed
//     without an arrival, or open and 5 minutes old or more — counts as not
//     reached. One denominator for the three, so Reached1 ≤ Reached3 ≤
//     Reached5. A share is null when ReachBase is 0.
//   - P50, P90 to dispatch, ack, arrival, close: nearest-rank percentiles
//     (Percentile) of the seconds from creation to the first dispatch, first
//     ack, first arrival (the incident's Figures) and the close, over the
//     incidents that took that step; the close only for incidents closed now
//     (a reopened incident has no close until it closes again). Null without
//     data.
//   - Declines, Timeouts: the decline and timeout entries on the group's
//     timelines (one incident may have several).
//   - Uncovered share: the share of Count with an uncovered entry on its
//     timeline (flagged uncovered at least once).
//
// Groups (api.KPIBys): district — the id of the district containing the
// place first reported (the created entry's Params.Lat, Lon; else the
// incident's Lat, Lon), "none" outside every district; kind; priority ("1"
// to "3"); unit_type — the type of the first unit that arrived, "none" if
// nobody did, "unknown" if the caller could not tell; shift — "day" when
// created from 08:00 to before 20:00 local time, else "night"; day — the
// local date of creation, "2006-01-02"; hour — the local hour of day of
// creation, "00" to "23". Local time is the *time.Location
// given to Compute (the hub's own zone).
package kpi

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"kuaifan/protocol/api"
)

// Groups with no name of their own.
const (
	GroupNone    = "none"    // district: outside every district; unit_type: never reached
	GroupUnknown = "unknown" // unit_type: the unit's type is not known any more
	GroupTotal   = "total"   // the total row
	ShiftDay     = "day"     // 08:00 to before 20:00 local time
	ShiftNight   = "night"   // 20:00 to before 08:00
)

// The day shift's hours, local time: [DayShiftStart, DayShiftEnd).
const (
	DayShiftStart = 8
	DayShiftEnd   = 20
)

// ReachWindow is the longest of the response circles: an open incident not
// reached yet counts as not reached once it is this old.
const ReachWindow = 5 * time.Minute

// Facts are what the figures need of one incident: a few dozen bytes
// instead of its timeline, so a hub keeps them for every stored incident.
// A duration is seconds from creation, negative when the step has not
// happened.
type Facts struct {
	ID       string
	Created  int64 // Unix ms
	Closed   bool  // closed now
	District string
	Kind     string
	Priority int
	UnitType string // of the first unit that arrived; "" none did
	// Seconds from creation to the first dispatch, first ack, first
	// arrival, the close; negative: not (yet).
	ToDispatchS, ToAckS, ToArrivalS, ToCloseS float64
	Declines, Timeouts                        int
	Uncovered                                 bool // ever flagged uncovered
	// UncoveredSpans are the spans flagged uncovered, from an uncovered
	// entry to the next covered or closed entry (ToS negative: still
	// uncovered), seconds from creation; nil for most incidents.
	UncoveredSpans []Span
}

// Span is a stretch of an incident's life, seconds from its creation; ToS
// is negative while it lasts.
type Span struct{ FromS, ToS float64 }

// Reached reports whether a unit has arrived.
func (f *Facts) Reached() bool { return f.ToArrivalS >= 0 }

// FactsOf reduces an incident to its facts. districtOf names the district
// of a place ("" outside every district; nil: no districts); unitType names
// a unit's type ("" unknown; nil: unknown).
func FactsOf(inc api.Incident, districtOf func(lat, lon float64) string, unitType func(unit string) string) Facts {
	f := Facts{ID: inc.ID, Created: inc.Created, Closed: inc.Status == api.IncidentClosed, Kind: inc.Kind,
		Priority: inc.Priority, ToDispatchS: secs(inc.Figures.ToDispatchS), ToAckS: secs(inc.Figures.ToAckS),
		ToArrivalS: secs(inc.Figures.ToArrivalS), ToCloseS: -1}
	if f.Closed {
		f.ToCloseS = secs(inc.Figures.ToCloseS)
	}
	lat, lon := inc.Lat, inc.Lon
	created := false
	for i := range inc.Timeline {
		e := &inc.Timeline[i]
		switch e.Type {
		case api.EntryCreated:
			if !created && e.Params != nil && e.Params.Lat != nil && e.Params.Lon != nil {
				lat, lon = *e.Params.Lat, *e.Params.Lon
			}
			created = true
		case api.EntryDecline:
			f.Declines++
		case api.EntryTimeout:
			f.Timeouts++
		case api.EntryUncovered:
			f.Uncovered = true
			if n := len(f.UncoveredSpans); n == 0 || f.UncoveredSpans[n-1].ToS >= 0 {
				f.UncoveredSpans = append(f.UncoveredSpans, Span{FromS: sinceCreated(inc.Created, e.TS), ToS: -1})
			}
		case api.EntryCovered, api.EntryClosed:
			if n := len(f.UncoveredSpans); n > 0 && f.UncoveredSpans[n-1].ToS < 0 {
				f.UncoveredSpans[n-1].ToS = sinceCreated(inc.Created, e.TS)
			}
		}
	}
	f.Uncovered = f.Uncovered || inc.Uncovered
	if n := len(f.UncoveredSpans); n > 0 && f.UncoveredSpans[n-1].ToS < 0 && f.Closed && f.ToCloseS >= 0 {
		f.UncoveredSpans[n-1].ToS = max(f.UncoveredSpans[n-1].FromS, f.ToCloseS) // closed: no longer uncovered
	}
	if districtOf != nil {
		f.District = districtOf(lat, lon)
	}
	if f.Reached() {
		first := int64(math.MaxInt64)
		unit := ""
		for _, a := range inc.Assignments {
			if a.Arrived > 0 && a.Arrived < first {
				first, unit = a.Arrived, a.Unit
			}
		}
		f.UnitType = GroupUnknown
		if unit != "" && unitType != nil {
			if t := unitType(unit); t != "" {
				f.UnitType = t
			}
		}
	}
	return f
}

// sinceCreated is the seconds from created to ts (Unix ms), never negative.
func sinceCreated(created, ts int64) float64 { return max(0, float64(ts-created)/1000) }

func secs(p *float64) float64 {
	if p == nil || *p < 0 {
		return -1
	}
	return *p
}

// ValidBy reports whether by is one of api.KPIBys.
func ValidBy(by string) bool { return slices.Contains(api.KPIBys, by) }

// GroupOf is the group of f under by, local time in loc.
func GroupOf(f *Facts, by string, loc *time.Location) string {
	switch by {
	case api.KPIByDistrict:
		if f.District == "" {
			return GroupNone
		}
		return f.District
	case api.KPIByKind:
		return f.Kind
	case api.KPIByPriority:
		return strconv.Itoa(f.Priority)
	case api.KPIByUnitType:
		if f.UnitType == "" {
			return GroupNone
		}
		return f.UnitType
	case api.KPIByShift:
		if h := time.UnixMilli(f.Created).In(loc).Hour(); h >= DayShiftStart && h < DayShiftEnd {
			return ShiftDay
		}
		return ShiftNight
	case api.KPIByDay:
		return time.UnixMilli(f.Created).In(loc).Format(time.DateOnly)
	case api.KPIByHour:
		return fmt.Sprintf("%02d", time.UnixMilli(f.Created).In(loc).Hour())
	}
	return ""
}

// Compute groups the facts by by (one of api.KPIBys) and reduces each group
// and all of them to a row, as of now, local time in loc (nil: UTC). The
// report's From and To are the caller's to fill in; Rows are sorted by
// group.
func Compute(facts []Facts, by string, now time.Time, loc *time.Location) (api.KPIReport, error) {
	if !ValidBy(by) {
		return api.KPIReport{}, fmt.Errorf("kpi: by %q is not one of %v", by, api.KPIBys)
	}
	if loc == nil {
		loc = time.UTC
	}
	groups := make(map[string][]int)
	for i := range facts {
		g := GroupOf(&facts[i], by, loc)
		groups[g] = append(groups[g], i)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.SortFunc(names, func(a, b string) int {
		if by == api.KPIByPriority {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		}
		if a < b {
			return -1
		} else if a > b {
			return 1
		}
		return 0
	})
	nowMS := now.UnixMilli()
	var sc scratch
	rep := api.KPIReport{By: by, Rows: make([]api.KPIRow, 0, len(names))}
	for _, g := range names {
		rep.Rows = append(rep.Rows, sc.row(g, facts, groups[g], nowMS))
	}
	rep.Total = sc.row(GroupTotal, facts, nil, nowMS)
	return rep, nil
}

// Total is the total row alone of the facts, as of now.
func Total(facts []Facts, now time.Time) api.KPIRow {
	var sc scratch
	return sc.row(GroupTotal, facts, nil, now.UnixMilli())
}

// scratch is the sample buffers a row's percentiles sort, reused from row
// to row.
type scratch struct{ dispatch, ack, arrival, close []float64 }

// row reduces facts[idx] (every fact if idx is nil) to a row.
func (sc *scratch) row(group string, facts []Facts, idx []int, nowMS int64) api.KPIRow {
	r := api.KPIRow{Group: group}
	sc.dispatch, sc.ack, sc.arrival, sc.close = sc.dispatch[:0], sc.ack[:0], sc.arrival[:0], sc.close[:0]
	var r1, r3, r5, uncovered int
	n := len(idx)
	if idx == nil {
		n = len(facts)
	}
	for k := 0; k < n; k++ {
		f := &facts[k]
		if idx != nil {
			f = &facts[idx[k]]
		}
		r.Count++
		r.Declines += f.Declines
		r.Timeouts += f.Timeouts
		if f.Uncovered {
			uncovered++
		}
		if f.ToDispatchS >= 0 {
			sc.dispatch = append(sc.dispatch, f.ToDispatchS)
		}
		if f.ToAckS >= 0 {
			sc.ack = append(sc.ack, f.ToAckS)
		}
		if f.ToCloseS >= 0 && f.Closed {
			sc.close = append(sc.close, f.ToCloseS)
		}
		if !f.Reached() {
			if !f.Closed && nowMS-f.Created < ReachWindow.Milliseconds() {
				continue // may still be reached in time
			}
			r.ReachBase++
			continue
		}
		r.ReachBase++
		sc.arrival = append(sc.arrival, f.ToArrivalS)
		if f.ToArrivalS <= 60 {
			r1++
		}
		if f.ToArrivalS <= 180 {
			r3++
		}
		if f.ToArrivalS <= 300 {
			r5++
		}
	}
	if r.ReachBase > 0 {
		b := float64(r.ReachBase)
		r.Reached1, r.Reached3, r.Reached5 = ptr(float64(r1)/b), ptr(float64(r3)/b), ptr(float64(r5)/b)
	}
	if r.Count > 0 {
		r.UncoveredShare = float64(uncovered) / float64(r.Count)
	}
	r.ToDispatchP50, r.ToDispatchP90 = p5090(sc.dispatch)
	r.ToAckP50, r.ToAckP90 = p5090(sc.ack)
	r.ToArrivalP50, r.ToArrivalP90 = p5090(sc.arrival)
	r.ToCloseP50, r.ToCloseP90 = p5090(sc.close)
	return r
}

func p5090(xs []float64) (*float64, *float64) {
	if len(xs) == 0 {
		return nil, nil
	}
	slices.Sort(xs)
	return ptr(Percentile(xs, 0.5)), ptr(Percentile(xs, 0.9))
}

// Percentile is the nearest-rank p-percentile (0 < p ≤ 1) of sorted: the
// smallest value with at least p of the values at or below it; 0 for none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ptr(f float64) *float64 { return &f }
