package report

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/simclock"
)

// Patrol is the patrol plan the run loaded into the hub and, at the end,
// how the fleet kept it by the hub's compliance report (additive, 2026-12).
type Patrol struct {
	Plan  string `json:"plan"`  // its id
	Shift string `json:"shift"` // the shift the run is judged in
	Date  string `json:"date"`  // the date it starts on, in Zone
	Zone  string `json:"zone"`
	Start string `json:"start"` // "HH:MM": the shift's start (it lasts 24 h)
	// Tasks counts the plan's tasks by kind (point, line, area); Units
	// the units with one.
	Tasks   map[string]int `json:"tasks"`
	Units   int            `json:"units"`
	Targets Targets        `json:"targets"`
	// Lapsing are the units that do not keep it (patrol.Mover.Lapse), by
	// id: LapseShare of the fleet.
	LapseShare float64  `json:"lapse_share"`
	Lapsing    []string `json:"lapsing_units"`
	// Unavailable says why no plan was loaded (the hub does not serve
	// plans, the token may not edit them); then there is no compliance.
	Unavailable string      `json:"unavailable,omitempty"`
	Compliance  *Compliance `json:"compliance,omitempty"`
}

// Targets are what the plan asks, as the hub judges it: in real minutes
// (a run's simulated minutes ÷ its time scale).
type Targets struct {
	RadiusM        float64 `json:"radius_m,omitempty"`  // a point's
	DwellMin       float64 `json:"dwell_min,omitempty"` // a point's stay, at a stretch
	BufferM        float64 `json:"buffer_m,omitempty"`  // a line's
	CoverShare     float64 `json:"cover_share,omitempty"`
	MinPresenceMin float64 `json:"min_presence_min,omitempty"` // an area's
}

// Compliance is the hub's compliance report on the run's shift, summed:
// results met (one per task and unit assigned it), by kind, and for the
// lapsing units apart from the others. Units that moved up are among both:
// the plan judges them by their own tasks, though they patrol round their
// new spots.
type Compliance struct {
	Met     int              `json:"met"`
	Total   int              `json:"total"`
	Share   float64          `json:"share"`
	ByKind  map[string]Tally `json:"by_kind"`
	Lapsing Tally            `json:"lapsing"`
	Others  Tally            `json:"others"`
	MovedUp Tally            `json:"moved_up"`
	// NoFixes counts units with a task and no fix in the shift (never
	// connected, or their positions not stored).
	NoFixes int `json:"units_without_fixes,omitempty"`
	// JudgedS is the real time judged: from the shift's start to the
	// moment the hub computed the report.
	JudgedS     float64 `json:"judged_s"`
	Unavailable string  `json:"unavailable,omitempty"`
}

// Tally is results met of a total, and their share (0 of none).
type Tally struct {
	Met   int     `json:"met"`
	Total int     `json:"total"`
	Share float64 `json:"share"`
}

func (t *Tally) add(met bool) {
	t.Total++
	if met {
		t.Met++
	}
	t.Share = float64(t.Met) / float64(t.Total)
}

func (t Tally) String() string {
	if t.Total == 0 {
		return "0/0"
	}
	return fmt.Sprintf("%d/%d (%s)", t.Met, t.Total, pct(t.Share))
}

// NewPatrol is the section for a plan loaded into the hub: its tasks,
// targets and lapsing units (share of the fleet). The shift's date is
// the caller's.
func NewPatrol(p *patrol.Plan, lapsing map[string]bool, share float64) *Patrol {
	r := &Patrol{Plan: p.ID, Zone: p.Zone, Tasks: map[string]int{}, LapseShare: share, Lapsing: []string{}}
	if len(p.Shifts) > 0 {
		r.Shift, r.Start = p.Shifts[0].ID, p.Shifts[0].Start.String()
	}
	units := map[string]bool{}
	for _, t := range p.Tasks {
		r.Tasks[string(t.Kind)]++
		for _, u := range t.Units {
			units[u] = true
		}
		g := &r.Targets
		switch t.Kind {
		case patrol.KindPoint:
			g.RadiusM, g.DwellMin = t.RadiusM, t.DwellMin
		case patrol.KindLine:
			g.BufferM, g.CoverShare = t.BufferM, t.CoverShare
		case patrol.KindArea:
			g.MinPresenceMin = t.MinPresenceMin
		}
	}
	r.Units = len(units)
	for id := range lapsing {
		r.Lapsing = append(r.Lapsing, id)
	}
	slices.Sort(r.Lapsing)
	return r
}

// Judge sums the hub's compliance report (or says why there is none):
// movedUp are the units that moved up during the run.
func (p *Patrol) Judge(rep *patrol.Report, err error, movedUp []string) {
	c := &Compliance{ByKind: map[string]Tally{}}
	p.Compliance = c
	if err != nil || rep == nil {
		c.Unavailable = "no report"
		if err != nil {
			c.Unavailable = err.Error()
		}
		return
	}
	c.JudgedS = float64(rep.To-rep.From) / 1000
	moved := make(map[string]bool, len(movedUp))
	for _, u := range movedUp {
		moved[u] = true
	}
	for _, u := range rep.Units {
		if u.Fixes == 0 {
			c.NoFixes++
		}
	}
	for _, res := range rep.Results {
		c.Total++
		if res.Met {
			c.Met++
		}
		k := c.ByKind[string(res.Kind)]
		k.add(res.Met)
		c.ByKind[string(res.Kind)] = k
		if _, lapsing := slices.BinarySearch(p.Lapsing, res.Unit); lapsing {
			c.Lapsing.add(res.Met)
		} else {
			c.Others.add(res.Met)
		}
		if moved[res.Unit] {
			c.MovedUp.add(res.Met)
		}
	}
	if c.Total > 0 {
		c.Share = float64(c.Met) / float64(c.Total)
	}
}

// text writes the section's lines.
func (p *Patrol) text(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if p.Unavailable != "" {
		w("  patrol     no plan loaded: %s\n", p.Unavailable)
		return
	}
	w("  patrol     plan %s, shift %s (24 h from %s on %s, %s): %d point(s), %d line(s), %d area(s) for %d units; %d lapse (%s)\n",
		p.Plan, p.Shift, p.Start, p.Date, p.Zone, p.Tasks["point"], p.Tasks["line"], p.Tasks["area"], p.Units, len(p.Lapsing), pct(p.LapseShare))
	g := p.Targets
	var targets []string
	if p.Tasks["point"] > 0 {
		targets = append(targets, fmt.Sprintf("%g min at a stretch within %g m of a post", g.DwellMin, g.RadiusM))
	}
	if p.Tasks["line"] > 0 {
		targets = append(targets, fmt.Sprintf("%s of a route within %g m", pct(g.CoverShare), g.BufferM))
	}
	if p.Tasks["area"] > 0 {
		targets = append(targets, fmt.Sprintf("%g min in an area", g.MinPresenceMin))
	}
	if len(targets) > 0 {
		w("             targets, real time: %s\n", strings.Join(targets, "; "))
	}
	c := p.Compliance
	switch {
	case c == nil:
		return
	case c.Unavailable != "":
		w("  compliance unavailable: %s\n", c.Unavailable)
		return
	}
	w("  compliance %s met over %s (real): point %s, line %s, area %s; lapsing units %s, the others %s",
		Tally{c.Met, c.Total, c.Share}, HMS(c.JudgedS), c.ByKind["point"], c.ByKind["line"], c.ByKind["area"], c.Lapsing, c.Others)
	if c.MovedUp.Total > 0 {
		w("; moved up %s", c.MovedUp)
	}
	if c.NoFixes > 0 {
		w("; %d unit(s) without a fix", c.NoFixes)
	}
	w("\n")
}

// Coverage is the hub's live coverage of the city (GET /api/coverage),
// sampled through the run (additive, 2026-12): the share of the city within
// the cover tier (3 minutes), weighted by demand and by area, and the free
// units the hub counted — lowest, mean and last, and every sample.
type Coverage struct {
	EveryS    float64 `json:"every_s"` // real seconds between samples
	Samples   int     `json:"samples"`
	CoverTier int     `json:"cover_tier"`
	CoverS    float64 `json:"cover_s"` // the cover tier's bound, seconds (180)
	Demand    Stat    `json:"demand"`
	Area      Stat    `json:"area"`
	Units     Stat    `json:"units"`
	// Series is every sample (the first maxSeries of them).
	Series []CoverageSample `json:"series,omitempty"`
	// Skipped counts tries without a sample: before the hub's first
	// computation, or failed (LastError).
	Skipped     int    `json:"skipped,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	Unavailable string `json:"unavailable,omitempty"` // the hub does not serve it
}

// Stat is a series' lowest, mean and last value.
type Stat struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	Last float64 `json:"last"`
}

// CoverageSample is one reading of the hub's coverage.
type CoverageSample struct {
	AtS    float64 `json:"at_s"`   // simulated seconds since the run's start
	Demand float64 `json:"demand"` // share of the city's demand within the cover tier
	Area   float64 `json:"area"`   // share of its area
	Units  int     `json:"units"`  // free units counted
}

// maxSeries bounds Coverage.Series: a day at one sample every 10 s.
const maxSeries = 8640

// DefaultCoverageEvery is how often (real time) a run samples the hub's
// coverage.
const DefaultCoverageEvery = 10 * time.Second

// CoverageSampler reads the hub's coverage every so often while the run
// goes on, for the report's coverage section.
type CoverageSampler struct {
	client *hubapi.Client
	clock  *simclock.Clock
	every  time.Duration

	mu        sync.Mutex
	cov       Coverage
	sum       [3]float64 // of demand, area, units: for the means
	notServed error
}

// NewCoverageSampler samples through client every so often (real time);
// the samples' times are clock's.
func NewCoverageSampler(client *hubapi.Client, clock *simclock.Clock, every time.Duration) *CoverageSampler {
	return &CoverageSampler{client: client, clock: clock, every: every, cov: Coverage{EveryS: every.Seconds()}}
}

// Run samples every so often until ctx ends, or until the hub turns out
// not to serve its coverage. The first sample is one interval in: at the
// start the units have only just connected, and the hub has counted few.
func (s *CoverageSampler) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.Sample(ctx) {
			return
		}
	}
}

// Sample reads the coverage once; it reports whether sampling should go
// on (not when ctx has ended or the hub does not serve it).
func (s *CoverageSampler) Sample(ctx context.Context) bool {
	c, err := s.client.Coverage(ctx)
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, hubapi.ErrNotServed):
		s.notServed = err
		return false
	case err != nil:
		s.cov.Skipped++
		if !errors.Is(err, hubapi.ErrNotReady) {
			s.cov.LastError = err.Error()
		}
		return true
	}
	tier := c.CoverTier
	if tier < 1 || tier > len(c.City.Demand) || tier > len(c.City.Area) {
		s.cov.Skipped++
		s.cov.LastError = fmt.Sprintf("coverage without shares for its cover tier %d", tier)
		return true
	}
	x := CoverageSample{AtS: s.clock.Elapsed().Seconds(), Demand: c.City.Demand[tier-1], Area: c.City.Area[tier-1], Units: c.Units}
	v := &s.cov
	v.CoverTier = tier
	if tier <= len(c.TiersS) {
		v.CoverS = c.TiersS[tier-1]
	}
	for i, stat := range []*Stat{&v.Demand, &v.Area, &v.Units} {
		val := [3]float64{x.Demand, x.Area, float64(x.Units)}[i]
		if v.Samples == 0 || val < stat.Min {
			stat.Min = val
		}
		s.sum[i] += val
		stat.Mean = s.sum[i] / float64(v.Samples+1)
		stat.Last = val
	}
	v.Samples++
	if len(v.Series) < maxSeries {
		v.Series = append(v.Series, x)
	}
	return true
}

// Report is the coverage section so far.
func (s *CoverageSampler) Report() *Coverage {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cov
	c.Series = slices.Clone(c.Series)
	if s.notServed != nil && c.Samples == 0 {
		c.Unavailable = s.notServed.Error()
	}
	return &c
}

// text writes the section's line.
func (c *Coverage) text(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	switch {
	case c.Unavailable != "":
		w("  coverage   unavailable: %s\n", c.Unavailable)
		return
	case c.Samples == 0:
		w("  coverage   no sample in %d tries", c.Skipped)
		if c.LastError != "" {
			w(" (%s)", c.LastError)
		}
		w("\n")
		return
	}
	w("  coverage   %s share of the city by demand %s, by area %s; free units counted %s (%d samples every %g s",
		tierName(c.CoverS), c.Demand.pcts(), c.Area.pcts(), c.Units.counts(), c.Samples, c.EveryS)
	if c.Skipped > 0 {
		w(", %d tries without one", c.Skipped)
	}
	w(")\n")
}

// tierName is "3-min" for 180 s.
func tierName(s float64) string {
	if s <= 0 {
		return "cover-tier"
	}
	if m := s / 60; m == math.Trunc(m) {
		return fmt.Sprintf("%g-min", m)
	}
	return fmt.Sprintf("%g-s", s)
}

func (s Stat) pcts() string {
	return fmt.Sprintf("min %s, mean %s, last %s", pct(s.Min), pct(s.Mean), pct(s.Last))
}

func (s Stat) counts() string {
	return fmt.Sprintf("min %.0f, mean %.0f, last %.0f", s.Min, s.Mean, s.Last)
}
