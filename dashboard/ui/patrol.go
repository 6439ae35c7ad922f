package ui

import (
	"cmp"
	"context"
	"errors"
	"math"
	"net/url"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/patrol"
)

// Patrol plans on the live map (hub/README.md, "Patrol plans and
// compliance"): the plans' points, lines and areas (点线面) as a toggleable
// layer coloured by how the shift running now is kept, and a box listing
// each unit's progress in it. The page computes nothing: the plans come
// from GET /api/patrols (once, and again each time the layer is turned
// on), each plan's compliance from GET /api/patrols/compliance?plan= every
// PatrolEvery while the layer shows. The types are kuaifan/protocol/patrol's
// (standard library only; its zones are built in for a browser without a
// zone database, and the dashboard never loads one). Every role may see it:
// it is read only.

// PatrolEvery is how often each plan's compliance is asked again while the
// layer shows.
const PatrolEvery = 30 * time.Second

// Patrols is the patrol layer's state: the plans, each one's last report,
// the units opened in the box.
type Patrols struct {
	Loaded bool // the plans were fetched since the layer was turned on
	Busy   bool
	NA     bool   // the hub serves no patrol plans (404)
	Err    string // the last fetch failed (what was shown stays)
	Plans  []patrol.Plan
	// Reports is each plan's compliance in the shift running now, by plan
	// id, as last fetched.
	Reports map[string]planReport
	At      time.Time       // when the last fetch started
	Open    map[string]bool // units whose tasks the box shows, by "plan/unit"
}

// planReport is a plan's compliance now, or why there is none.
type planReport struct {
	Rep     *patrol.Report
	NoShift bool   // the hub's 400: no shift of the plan runs now
	Err     string // the hub's words (a 400's too)
}

// Patrols is GET /api/patrols: every plan.
func (a *API) Patrols(ctx context.Context) ([]patrol.Plan, error) {
	var ps []patrol.Plan
	return ps, a.do(ctx, "GET", "/api/patrols", nil, &ps)
}

// Compliance is GET /api/patrols/compliance?plan=: how the plan's shift
// running now is kept, judged up to now.
func (a *API) Compliance(ctx context.Context, plan string) (*patrol.Report, error) {
	var r patrol.Report
	if err := a.do(ctx, "GET", "/api/patrols/compliance?plan="+url.QueryEscape(plan), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TogglePatrols shows or hides the patrol layer (and its box); shown, the
// plans and their compliance are fetched again.
func (ct *Controller) TogglePatrols() {
	if ct.C.TogglePatrols() {
		ct.FetchPatrols(true)
	}
}

// patrolTick refreshes the compliance every PatrolEvery while the layer
// shows (and fetches the plans first if a reload restored the layer).
func (ct *Controller) patrolTick() {
	p := &ct.C.Patrols
	if !ct.C.Scene.PatrolOn || p.Busy || p.NA {
		return
	}
	if p.At.IsZero() || ct.now().Sub(p.At) >= PatrolEvery {
		ct.FetchPatrols(!p.Loaded)
	}
}

// FetchPatrols asks the hub for the plans (plans; else the ones known) and
// then for each plan's compliance now. A plan the hub refuses says why; a
// failed call keeps what was shown.
func (ct *Controller) FetchPatrols(plans bool) {
	p := &ct.C.Patrols
	if p.Busy || ct.api == nil {
		return
	}
	p.Busy, p.At = true, ct.now()
	list := p.Plans
	reps := map[string]planReport{}
	ct.call(func(ctx context.Context, a *API) error {
		if plans {
			var err error
			if list, err = a.Patrols(ctx); err != nil {
				return err
			}
		}
		for i := range list {
			rep, err := a.Compliance(ctx, list[i].ID)
			var e *APIError
			switch {
			case errors.As(err, &e):
				// The hub's refusal of this plan (no shift now: a 400).
				reps[list[i].ID] = planReport{NoShift: e.Status == 400, Err: e.Message}
			case err != nil:
				return err // signed out, or the hub out of reach: what was shown stays
			default:
				reps[list[i].ID] = planReport{Rep: rep}
			}
		}
		return nil
	}, func(err error) { ct.C.setPatrols(plans, list, reps, err) })
}

// setPatrols takes a fetch's outcome: the plans (if they were asked) and
// every plan's report; a failure keeps what was shown, a 404 says the hub
// has no patrol plans.
func (c *Console) setPatrols(plans bool, list []patrol.Plan, reps map[string]planReport, err error) {
	p := &c.Patrols
	p.Busy, p.Err = false, ""
	var e *APIError
	switch {
	case errors.As(err, &e) && e.Status == 404:
		p.NA, p.Plans, p.Reports = true, nil, nil
	case err != nil:
		p.Err = err.Error()
	default:
		if plans {
			p.Plans, p.Loaded = list, true
		}
		p.Reports = reps
	}
	shapes := patrolShapes(p.Plans, p.Reports)
	c.mu.Lock()
	c.Scene.Patrol = shapes
	c.mu.Unlock()
	c.Dirty()
}

// TogglePatrols shows or hides the layer and says whether it shows now.
func (c *Console) TogglePatrols() bool {
	c.mu.Lock()
	c.Scene.PatrolOn = !c.Scene.PatrolOn
	on := c.Scene.PatrolOn
	c.mu.Unlock()
	if on {
		c.Patrols.Loaded, c.Patrols.NA = false, false
	}
	c.Dirty()
	return on
}

// TogglePatrolUnit shows or hides a unit's tasks in the box.
func (c *Console) TogglePatrolUnit(plan, unit string) {
	p := &c.Patrols
	if p.Open == nil {
		p.Open = map[string]bool{}
	}
	k := plan + "/" + unit
	p.Open[k] = !p.Open[k]
}

// PatrolUnit selects a unit of the box and centres the map on it; the top
// bar says so when the page knows no position of it.
func (ct *Controller) PatrolUnit(unit string) {
	ct.SelectUnit(unit, true)
	if u := ct.C.Store.Units[unit]; u == nil || !u.HasFix {
		ct.C.Say(Tf(ct.C.Lang, "patrol.nofix", ct.C.Store.UnitName(unit)), true, ct.now())
	}
}

// Task states, as the layer colours them.
const (
	patrolNone = iota // no result in the report (no shift, no unit assigned): grey
	patrolDue         // not met yet by every unit assigned: amber
	patrolMet         // met by every unit assigned: green
	numPatrolStates
)

// taskState is a task's state in a report (nil: none).
func taskState(rep *patrol.Report, task string) int {
	if rep == nil {
		return patrolNone
	}
	for _, s := range rep.Tasks {
		if s.Task == task {
			switch {
			case s.Total == 0:
				return patrolNone
			case s.Met >= s.Total:
				return patrolMet
			}
			return patrolDue
		}
	}
	return patrolNone
}

// patrolShape is a task on the map: its geometry in Mercator units (cached:
// a frame only scales and shifts it), its state and its label.
type patrolShape struct {
	kind  int // shapeArea, shapeLine, shapePoint: the order they are drawn in
	state int
	label string
	m     []float64  // x, y pairs: a point's centre, a route's or a polygon's vertices
	rm    float64    // a point's radius in Mercator units
	box   [4]float64 // min x, min y, max x, max y, the radius included
}

// patrolShapes lays out every task of every plan, coloured by its plan's
// report.
func patrolShapes(plans []patrol.Plan, reps map[string]planReport) []patrolShape {
	var out []patrolShape
	for i := range plans {
		rep := reps[plans[i].ID].Rep
		for j := range plans[i].Tasks {
			t := &plans[i].Tasks[j]
			s := patrolShape{state: taskState(rep, t.ID), label: cmp.Or(t.Name, t.ID)}
			switch t.Kind {
			case patrol.KindPoint:
				s.kind = shapePoint
				s.m = []float64{mercX(t.Lon), mercY(t.Lat)}
				s.rm = t.RadiusM / (2 * math.Pi * protocol.EarthRadiusM * math.Cos(t.Lat*math.Pi/180))
			case patrol.KindLine:
				s.kind, s.m = shapeLine, mercOf(t.Route)
			case patrol.KindArea:
				s.kind, s.m = shapeArea, mercOf(t.Polygon)
			}
			if len(s.m) < 2 {
				continue
			}
			s.box = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
			for k := 0; k+1 < len(s.m); k += 2 {
				s.box[0], s.box[1] = min(s.box[0], s.m[k]-s.rm), min(s.box[1], s.m[k+1]-s.rm)
				s.box[2], s.box[3] = max(s.box[2], s.m[k]+s.rm), max(s.box[3], s.m[k+1]+s.rm)
			}
			out = append(out, s)
		}
	}
	return out
}

func mercOf(ps []patrol.Position) []float64 {
	out := make([]float64, 0, 2*len(ps))
	for _, p := range ps {
		out = append(out, mercX(p.Lon()), mercY(p.Lat()))
	}
	return out
}

// PatrolView is what the patrol box shows; the page hands it to the
// MapView as a prop, which go-app compares: the box re-renders when a
// figure changes, not on every tick.
type PatrolView struct {
	On, Busy, NA bool
	Err          string
	Plans        []PlanView
}

// PlanView is a plan's part of the box: its shift now and each unit's
// progress, the worst first.
type PlanView struct {
	ID, Name, Shift, Met, Err string
	Units                     []*PatrolUnitRow
}

// PatrolUnitRow is a unit's progress in a plan's shift: "湘A-017 3/4 ✓";
// opened, its tasks' figures.
type PatrolUnitRow struct {
	Plan, Unit, Name, Glyph string
	Met, Total              int
	NoFixes, Open           bool
	Tasks                   []PatrolTaskRow
}

// PatrolTaskRow is one task of a unit as the box shows it.
type PatrolTaskRow struct {
	Task, Name, Kind, Figure string
	Met                      bool
}

// PatrolView is the box's content now.
func (c *Console) PatrolView() PatrolView {
	p := &c.Patrols
	v := PatrolView{On: c.Scene.PatrolOn, Busy: p.Busy, NA: p.NA, Err: p.Err}
	if !v.On {
		return v
	}
	lang := c.Lang
	for i := range p.Plans {
		pl := &p.Plans[i]
		pv := PlanView{ID: pl.ID, Name: cmp.Or(pl.Name, pl.ID)}
		r := p.Reports[pl.ID]
		switch rep := r.Rep; {
		case r.NoShift:
			pv.Err = T(lang, "patrol.noshift")
		case r.Err != "":
			pv.Err = Tf(lang, "err.api", r.Err)
		case rep != nil:
			pv.Shift = rep.Shift
			if s, ok := pl.Shift(rep.Shift); ok {
				pv.Shift = cmp.Or(s.Name, s.ID) + " " + s.Start.String() + "–" + s.End.String()
			}
			pv.Met = Tf(lang, "patrol.met", rep.Met, rep.Total)
			pv.Units = c.patrolUnits(pl.ID, rep)
		}
		v.Plans = append(v.Plans, pv)
	}
	return v
}

// patrolUnits are a report's units, the worst first: the smallest share of
// tasks met, then the most tasks left, then by id.
func (c *Console) patrolUnits(plan string, rep *patrol.Report) []*PatrolUnitRow {
	lang := c.Lang
	rows := make([]*PatrolUnitRow, 0, len(rep.Units))
	for _, u := range rep.Units {
		r := &PatrolUnitRow{Plan: plan, Unit: u.Unit, Name: c.Store.UnitName(u.Unit), Glyph: typeGlyph(u.Type),
			Met: u.Met, Total: u.Total, NoFixes: u.Fixes == 0, Open: c.Patrols.Open[plan+"/"+u.Unit]}
		if r.Open {
			for i := range rep.Results {
				if res := &rep.Results[i]; res.Unit == u.Unit {
					r.Tasks = append(r.Tasks, PatrolTaskRow{Task: res.Task, Name: taskName(rep, res.Task),
						Kind: lookup(lang, "patrol.kind.", string(res.Kind)), Figure: resultFigure(lang, res), Met: res.Met})
				}
			}
		}
		rows = append(rows, r)
	}
	share := func(r *PatrolUnitRow) float64 { return float64(r.Met) / float64(max(1, r.Total)) }
	slices.SortFunc(rows, func(a, b *PatrolUnitRow) int {
		return cmp.Or(cmp.Compare(share(a), share(b)), cmp.Compare(b.Total-b.Met, a.Total-a.Met), naturalFold(a.Unit, b.Unit))
	})
	return rows
}

func taskName(rep *patrol.Report, task string) string {
	for _, s := range rep.Tasks {
		if s.Task == task {
			return cmp.Or(s.Name, s.Task)
		}
	}
	return task
}

// resultFigure is a result's figures in words: a checkpoint's windows held
// and its longest stay against the dwell asked, a route's share driven
// against the share asked, an area's minutes present against the minutes
// asked.
func resultFigure(lang Lang, r *patrol.Result) string {
	switch {
	case r.Point != nil:
		p := r.Point
		best := 0.0
		for _, w := range p.Windows {
			best = max(best, w.DwellMin)
		}
		if p.DwellMin <= 0 {
			return Tf(lang, "patrol.point.any", p.Held, len(p.Windows))
		}
		return Tf(lang, "patrol.point", p.Held, len(p.Windows), minutes(lang, best), minutes(lang, p.DwellMin))
	case r.Line != nil:
		return Tf(lang, "patrol.line", Percent(lang, r.Line.DrivenShare), Percent(lang, r.Line.CoverShare))
	case r.Area != nil:
		return Tf(lang, "patrol.area", minutes(lang, r.Area.PresenceMin), minutes(lang, r.Area.MinPresenceMin))
	}
	return ""
}

// minutes is a length in minutes as FormatAge writes it ("12 min").
func minutes(lang Lang, m float64) string {
	return FormatAge(lang, time.Duration(math.Round(m*60))*time.Second)
}
