// Package patrol computes how a shift of a patrol plan was kept: from the
// units' stored tracks, for every task of the shift and every unit
// assigned to it, the figures of a kuaifan/protocol/patrol Report (the
// answer of GET /api/patrols/compliance).
//
// # What a track says
//
// A track is a unit's fixes in time order. A fix stands for where the unit
// was from its time until the next fix, but for at most MaxGap: time
// beyond that without a newer fix is time the unit was nowhere (a device
// off, a tunnel), so it counts for no task. MaxGap is 90 s because an
// agent standing still reports once a minute (agent/internal/report's
// Stationary interval) and the fix grid jitters: a unit waiting at a
// checkpoint must not be cut into one-minute stays. The last fix stands
// for up to MaxGap too, and nothing counts past the end of the time judged.
// A fix before the shift counts for the part of its time inside the shift,
// so pass fixes from MaxGap before the shift's start (Lookback). Fixes
// with a position that is not WGS-84 are dropped; GPS accuracy is not used.
//
// # The rules
//
// Point: a window is held when the unit stayed within radius_m of the
// checkpoint (great-circle distance, protocol.Haversine) for dwell_min
// minutes at a stretch, counting only time inside the window. A stretch
// (a stay) is consecutive fixes within the radius, each standing for its
// time as above; a fix outside, or a gap longer than MaxGap, ends it. A
// dwell_min of 0 is held by one fix within the radius during the window.
// Each window is one check (a task without windows has one: the whole
// shift), and the task is met when every window is held. A window's
// figures are its longest stay: when it began (clipped to the window) and
// its minutes within the window.
//
// Line: the route is cut into pieces of at most SampleM metres (each
// segment of the route into equal pieces); a piece is driven when its
// midpoint lies within buffer_m of the unit's track during the shift: of
// a fix, or of the straight line between two consecutive fixes at most
// MaxGap apart (a vehicle at 1 fix per 10 s moves well beyond a buffer
// between fixes). The share driven is the driven pieces' length ÷ the
// route's length (great-circle), and the task is met when it is at least
// cover_share. Distances to the track are measured in a local
// equirectangular projection centred on the route, which for routes up to
// MaxRouteM is within a fraction of a percent of the great circle.
//
// Area: presence is the time the fixes inside the polygon stand for
// (point in polygon as districts.Ring.Contains decides it), clipped to
// the shift; the task is met when it is at least min_presence_min
// minutes. Leaving the area, the fix outside ends the time inside, so the
// figure is right to the fix interval (10 s on patrol).
//
// Every unit a task names by id is in the report; one the hub did not pass
// has no track and meets nothing. Units assigned by type are those passed
// with the type.
//
// # Cost
//
// Compute costs about (units × tasks each) × (fixes ÷ 64): each track is
// cut into blocks of 64 fixes with a bounding box, and a task looks only
// inside blocks whose box meets its own. A route's pieces are in a grid,
// so a segment of the track is compared with the pieces near it only.
// One shift of 300 units with 24 h of fixes at 1 per 10 s and 300 tasks
// takes well under the 2 s budget on one core (BenchmarkComplianceShift300).
package patrol

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/districts"
	wire "kuaifan/protocol/patrol"
)

const (
	// MaxGap is the longest a fix stands for.
	MaxGap = 90 * time.Second
	// Lookback is how long before the shift's start the fixes passed
	// should begin: a fix that old may still stand for time in the shift.
	Lookback = MaxGap
	// SampleM is the longest piece a route is judged by.
	SampleM = 10.0
)

// Fix is one stored position of a unit.
type Fix struct {
	TS       int64 // Unix ms
	Lat, Lon float64
}

// Unit is a unit and its track: fixes in time order (Compute sorts a copy
// when they are not), from Lookback before the shift to its end.
type Unit struct {
	ID    string
	Type  protocol.UnitType
	Track []Fix
}

// Shift is the time judged: a shift of the plan from its start as
// wire.Plan.ShiftBounds gives it, to its end or, for a shift in progress,
// to now.
type Shift struct {
	ID         string
	Start, End time.Time
}

// ErrBadShift is wrapped by the errors Compute returns for a shift the
// plan does not have or times that are not one of its shifts.
var ErrBadShift = errors.New("patrol: bad shift")

// Compute returns the compliance report of the shift: one result per task
// of the shift and unit assigned to it, and the summaries. The plan must be
// valid (Compute checks: wire.Plan.Validate). Units must have distinct
// ids.
func Compute(plan *wire.Plan, shift Shift, units []Unit) (*wire.Report, error) {
	// A plan the hub built itself may not have been through Parse; the
	// rules below divide by a route's length and index a polygon's edges.
	if err := plan.Validate(); err != nil {
		return nil, fmt.Errorf("patrol: plan %q: %w", plan.ID, err)
	}
	s, ok := plan.Shift(shift.ID)
	if !ok {
		return nil, fmt.Errorf("%w: plan %q has no shift %q", ErrBadShift, plan.ID, shift.ID)
	}
	loc, err := plan.Location()
	if err != nil {
		return nil, err
	}
	start := shift.Start.In(loc)
	y, m, d := start.Date()
	nominalStart, nominalEnd, _ := plan.ShiftBounds(s.ID, start)
	switch {
	case !start.Equal(nominalStart):
		return nil, fmt.Errorf("%w: %v is not the start of shift %q (%v) on %d-%02d-%02d", ErrBadShift, shift.Start, s.ID, s.Span(), y, m, d)
	case !shift.End.After(shift.Start) || shift.End.After(nominalEnd):
		return nil, fmt.Errorf("%w: end %v is not after the start %v and at most the shift's end %v", ErrBadShift, shift.End, shift.Start, nominalEnd)
	}
	c := &computer{
		from: shift.Start.UnixMilli(), to: shift.End.UnixMilli(), gap: MaxGap.Milliseconds(),
		shift: s, start: start,
	}
	report := &wire.Report{
		Plan: plan.ID, Shift: s.ID, Date: start.Format("2006-01-02"), Zone: plan.Zone,
		From: c.from, To: c.to, MaxGapS: MaxGap.Seconds(),
		Tasks: []wire.TaskSummary{}, Units: []wire.UnitSummary{}, Results: []wire.Result{},
	}

	all, assigned, err := assign(plan, s.ID, units)
	if err != nil {
		return nil, err
	}
	// Results in the report's order; per unit, its jobs: which task, which result.
	type job struct{ task, result int }
	jobs := make([][]job, len(all))
	var tasks []*task
	for i := range plan.Tasks {
		t := &plan.Tasks[i]
		if !t.InShift(s.ID) {
			continue
		}
		k := len(tasks)
		report.Tasks = append(report.Tasks, wire.TaskSummary{Task: t.ID, Kind: t.Kind, Name: t.Name, Total: len(assigned[k])})
		for _, u := range assigned[k] {
			jobs[u] = append(jobs[u], job{k, len(report.Results)})
			report.Results = append(report.Results, wire.Result{Task: t.ID, Unit: all[u].ID, Kind: t.Kind})
		}
		if len(assigned[k]) == 0 {
			tasks = append(tasks, nil) // nobody to judge: no route to cut
		} else {
			tasks = append(tasks, c.prepare(t))
		}
	}

	order := make([]int, 0, len(all))
	for u := range all {
		if len(jobs[u]) > 0 {
			order = append(order, u)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(all[a].ID, all[b].ID) })
	var tr track
	for _, u := range order {
		tr.load(all[u].Track, c.from, c.to, c.gap)
		sum := wire.UnitSummary{Unit: all[u].ID, Type: all[u].Type, Fixes: tr.inShift, Total: len(jobs[u])}
		for _, j := range jobs[u] {
			r := &report.Results[j.result]
			c.judge(tasks[j.task], &tr, r)
			if r.Met {
				sum.Met++
				report.Tasks[j.task].Met++
				report.Met++
			}
		}
		report.Total += len(jobs[u])
		report.Units = append(report.Units, sum)
	}
	return report, nil
}

// assign returns the units to judge — those passed, then those a task of
// the shift names that were not passed (with no track) — and for each task
// of the shift, in the plan's order, the indexes in all of its units,
// sorted by id.
func assign(plan *wire.Plan, shiftID string, units []Unit) (all []Unit, assigned [][]int, err error) {
	byID := make(map[string]int, len(units))
	byType := map[protocol.UnitType][]int{}
	for i, u := range units {
		if _, dup := byID[u.ID]; dup {
			return nil, nil, fmt.Errorf("patrol: unit %q given twice", u.ID)
		}
		byID[u.ID] = i
		byType[u.Type] = append(byType[u.Type], i)
	}
	all = slices.Clone(units)
	for i := range plan.Tasks {
		t := &plan.Tasks[i]
		if !t.InShift(shiftID) {
			continue
		}
		for _, id := range t.Units {
			if _, ok := byID[id]; !ok {
				byID[id] = len(all)
				all = append(all, Unit{ID: id})
			}
		}
	}
	mark := make([]int, len(all)) // the last task (counted from 1) a unit was taken for
	for i := range plan.Tasks {
		t := &plan.Tasks[i]
		if !t.InShift(shiftID) {
			continue
		}
		var these []int
		take := func(u int) {
			if mark[u] != len(assigned)+1 { // named and of a listed type: once
				mark[u] = len(assigned) + 1
				these = append(these, u)
			}
		}
		for _, id := range t.Units {
			take(byID[id])
		}
		for _, ty := range t.UnitTypes {
			for _, u := range byType[ty] {
				take(u)
			}
		}
		slices.SortFunc(these, func(a, b int) int { return cmp.Compare(all[a].ID, all[b].ID) })
		assigned = append(assigned, these)
	}
	return all, assigned, nil
}

// computer holds what every task's judgement shares, and scratch space
// reused from unit to unit.
type computer struct {
	from, to, gap int64 // Unix ms
	shift         wire.Shift
	start         time.Time // the shift's start in the plan's zone
	stays         []stay
	driven        []bool
}

// task is a task ready to be judged: its bounding box (grown by the
// radius or buffer) to skip blocks of track far away, and per kind what
// the rule needs.
type task struct {
	t       *wire.Task
	box     box
	windows []wire.Span // a point's, Unix ms; the whole shift for none
	route   *route
	area    *area
}

func (c *computer) prepare(t *wire.Task) *task {
	p := &task{t: t, box: emptyBox()}
	switch t.Kind {
	case wire.KindPoint:
		p.box.extend(t.Lat, t.Lon)
		p.box = p.box.grow(t.RadiusM)
		if len(t.Windows) == 0 {
			from, to := c.shift.WindowBounds(c.shift.Span(), c.start)
			p.windows = []wire.Span{{From: from.UnixMilli(), To: to.UnixMilli()}}
		}
		for _, w := range t.Windows {
			from, to := c.shift.WindowBounds(w, c.start)
			p.windows = append(p.windows, wire.Span{From: from.UnixMilli(), To: to.UnixMilli()})
		}
	case wire.KindLine:
		p.route = newRoute(t.Route, t.BufferM)
		for _, pos := range t.Route {
			p.box.extend(pos.Lat(), pos.Lon())
		}
		p.box = p.box.grow(t.BufferM)
	case wire.KindArea:
		ring := make(districts.Ring, len(t.Polygon))
		for i, pos := range t.Polygon {
			ring[i] = districts.Point{Lat: pos.Lat(), Lon: pos.Lon()}
			p.box.extend(pos.Lat(), pos.Lon())
		}
		p.area = newArea(ring)
	}
	return p
}

func (c *computer) judge(p *task, tr *track, r *wire.Result) {
	switch p.t.Kind {
	case wire.KindPoint:
		r.Point = c.point(p, tr)
		r.Met = r.Point.Held == len(r.Point.Windows)
	case wire.KindLine:
		r.Line = c.line(p, tr)
		r.Met = r.Line.DrivenShare >= p.t.CoverShare
	case wire.KindArea:
		r.Area = c.area(p, tr)
		r.Met = r.Area.PresenceMin >= p.t.MinPresenceMin
	}
}

// stay is a time span [from, to) within a point's radius, Unix ms.
type stay struct{ from, to int64 }

func (c *computer) point(p *task, tr *track) *wire.PointResult {
	t := p.t
	c.stays = c.stays[:0]
	open := false // the last fix looked at was inside: a stay goes on
	for k, b := range tr.blocks {
		if !b.meets(p.box) {
			open = false
			continue
		}
		for i := k * blockLen; i < min((k+1)*blockLen, len(tr.fixes)); i++ {
			f := tr.fixes[i]
			if !p.box.contains(f.Lat, f.Lon) || protocol.Haversine(t.Lat, t.Lon, f.Lat, f.Lon) > t.RadiusM {
				open = false
				continue
			}
			if n := len(c.stays); open && c.stays[n-1].to == f.TS {
				c.stays[n-1].to = tr.until[i]
			} else {
				c.stays = append(c.stays, stay{f.TS, tr.until[i]})
			}
			open = true
		}
	}
	res := &wire.PointResult{RadiusM: t.RadiusM, DwellMin: t.DwellMin, Windows: make([]wire.WindowResult, len(p.windows))}
	for i, w := range p.windows {
		wr := &res.Windows[i]
		wr.Window = c.shift.Span()
		if len(t.Windows) > 0 {
			wr.Window = t.Windows[i]
		}
		wr.From, wr.To = w.From, w.To
		longest := int64(-1)
		for _, s := range c.stays {
			if s.from >= w.To || s.to <= w.From && s.from < w.From {
				continue // not in the window (a zero-length stay counts at its time)
			}
			from, to := max(s.from, w.From), min(s.to, w.To)
			if to-from > longest {
				longest, wr.Arrived = to-from, from
			}
		}
		if longest >= 0 {
			wr.DwellMin = float64(longest) / 60e3
			wr.Held = wr.DwellMin >= t.DwellMin
		}
		if wr.Held {
			res.Held++
		}
	}
	return res
}

func (c *computer) line(p *task, tr *track) *wire.LineResult {
	rt := p.route
	if cap(c.driven) < len(rt.x) {
		c.driven = make([]bool, len(rt.x))
	}
	driven := c.driven[:len(rt.x)]
	clear(driven)
	var drivenM float64
	left := len(driven)
	for k, b := range tr.blocks {
		if left == 0 {
			break // all of it driven
		}
		if !b.meets(p.box) {
			continue
		}
		for i := k * blockLen; i < min((k+1)*blockLen, len(tr.fixes)) && left > 0; i++ {
			a := tr.fixes[i]
			if a.TS < c.from {
				continue // the line counts the track during the shift only
			}
			z := a // the segment's far end: the next fix, or a itself
			if i+1 < len(tr.fixes) && tr.fixes[i+1].TS-a.TS <= c.gap {
				z = tr.fixes[i+1]
			}
			seg := emptyBox()
			seg.extend(a.Lat, a.Lon)
			seg.extend(z.Lat, z.Lon)
			if !seg.meets(p.box) {
				continue
			}
			rt.near(a, z, func(j int) {
				if !driven[j] {
					driven[j] = true
					drivenM += rt.w[j]
					left--
				}
			})
		}
	}
	share := drivenM / rt.length
	if left == 0 {
		share, drivenM = 1, rt.length // not a sum's rounding below 1
	}
	return &wire.LineResult{LengthM: rt.length, BufferM: p.t.BufferM, CoverShare: p.t.CoverShare, DrivenM: drivenM, DrivenShare: share}
}

func (c *computer) area(p *task, tr *track) *wire.AreaResult {
	var inside int64 // ms
	for k, b := range tr.blocks {
		if !b.meets(p.box) {
			continue
		}
		for i := k * blockLen; i < min((k+1)*blockLen, len(tr.fixes)); i++ {
			f := tr.fixes[i]
			if tr.until[i] <= c.from || !p.box.contains(f.Lat, f.Lon) || !p.area.contains(f.Lat, f.Lon) {
				continue
			}
			inside += tr.until[i] - max(f.TS, c.from)
		}
	}
	return &wire.AreaResult{MinPresenceMin: p.t.MinPresenceMin, PresenceMin: float64(inside) / 60e3,
		PresenceShare: float64(inside) / float64(c.to-c.from)}
}

// blockLen is the number of fixes behind one bounding box of a track.
const blockLen = 64

// track is a unit's fixes prepared for the tasks: in time order, valid,
// from Lookback before the shift to its end, each with the end of the time
// it stands for, and cut into blocks with bounding boxes.
type track struct {
	fixes   []Fix
	until   []int64 // per fix: the end of its time (MaxGap, the next fix, the end judged)
	blocks  []box   // block k: fixes k×blockLen to (k+1)×blockLen, and the next one, the segment to which it starts
	inShift int     // fixes from the shift's start on
}

func (tr *track) load(fixes []Fix, from, to, gap int64) {
	tr.fixes = tr.fixes[:0]
	for _, f := range fixes {
		if f.TS >= from-gap && f.TS < to && protocol.ValidLatLon(f.Lat, f.Lon) {
			tr.fixes = append(tr.fixes, f)
		}
	}
	byTime := func(a, b Fix) int { return cmp.Compare(a.TS, b.TS) }
	if !slices.IsSortedFunc(tr.fixes, byTime) {
		slices.SortStableFunc(tr.fixes, byTime)
	}
	n := len(tr.fixes)
	tr.until = slices.Grow(tr.until[:0], n)[:n]
	tr.inShift = 0
	for i, f := range tr.fixes {
		end := min(f.TS+gap, to)
		if i+1 < n {
			end = min(end, tr.fixes[i+1].TS)
		}
		tr.until[i] = end
		if f.TS >= from {
			tr.inShift++
		}
	}
	nb := (n + blockLen - 1) / blockLen
	tr.blocks = slices.Grow(tr.blocks[:0], nb)[:nb]
	for k := range tr.blocks {
		b := emptyBox()
		for _, f := range tr.fixes[k*blockLen : min((k+1)*blockLen+1, n)] {
			b.extend(f.Lat, f.Lon)
		}
		tr.blocks[k] = b
	}
}

// box is a bounding box in degrees. The plan's places do not cross the
// antimeridian (a city's do not).
type box struct{ minLat, minLon, maxLat, maxLon float64 }

func emptyBox() box { return box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)} }

func (b *box) extend(lat, lon float64) {
	b.minLat, b.maxLat = min(b.minLat, lat), max(b.maxLat, lat)
	b.minLon, b.maxLon = min(b.minLon, lon), max(b.maxLon, lon)
}

func (b box) meets(o box) bool {
	return b.minLat <= o.maxLat && o.minLat <= b.maxLat && b.minLon <= o.maxLon && o.minLon <= b.maxLon
}

func (b box) contains(lat, lon float64) bool {
	return b.minLat <= lat && lat <= b.maxLat && b.minLon <= lon && lon <= b.maxLon
}

// grow widens the box by at least m metres on every side (1% more, so that
// the box never decides what the exact distance should).
func (b box) grow(m float64) box {
	dLat := m * 1.01 / metresPerDegree
	coslat := math.Cos(max(math.Abs(b.minLat), math.Abs(b.maxLat)) * math.Pi / 180)
	dLon := 180.0
	if coslat > 1e-6 {
		dLon = min(dLat/coslat, 180)
	}
	return box{b.minLat - dLat, b.minLon - dLon, b.maxLat + dLat, b.maxLon + dLon}
}

// metresPerDegree is a degree of latitude (and of longitude on the
// equator) on the sphere of protocol.EarthRadiusM.
const metresPerDegree = protocol.EarthRadiusM * math.Pi / 180
