package report

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/hubapi/hubapitest"
	sim "kuaifan/simulator/internal/patrol"
	"kuaifan/simulator/internal/patrolplan"
	"kuaifan/simulator/internal/simclock"
)

// coverageOf is the hub's answer with the city's 3-minute shares.
func coverageOf(demand, area float64, units int) *api.Coverage {
	return &api.Coverage{TiersS: []float64{60, 180, 300}, CoverTier: 2, Units: units,
		City: api.CoverageShares{Demand: []float64{demand / 2, demand, 1}, Area: []float64{area / 2, area, 1}, Cells: 100}}
}

// The coverage section: the samples' lowest, mean and last 3-minute
// shares (by demand, by area) and units, every sample in the series, the
// tries before the hub's first computation counted apart.
func TestCoverageSection(t *testing.T) {
	f, srv := hubapitest.New(t, "tok")
	answers := []*api.Coverage{nil, coverageOf(0.6, 0.4, 10), coverageOf(0.9, 0.5, 30), coverageOf(0.75, 0.45, 20)}
	var mu sync.Mutex
	n := 0
	f.Coverage = func() (*api.Coverage, int) {
		mu.Lock()
		defer mu.Unlock()
		c := answers[min(n, len(answers)-1)] // the sampler may ask more before it stops
		n++
		return c, http.StatusServiceUnavailable
	}
	client := hubapi.New(srv.URL, "tok", nil)
	defer client.Close()
	s := NewCoverageSampler(client, simclock.New(10), 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); s.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); s.Report().Samples < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-ran

	c := s.Report()
	if c.Samples < 3 || c.Skipped != 1 || c.LastError != "" || c.Unavailable != "" || len(c.Series) != c.Samples {
		t.Fatalf("coverage %+v", c)
	}
	if c.CoverTier != 2 || c.CoverS != 180 || c.EveryS != 0.005 {
		t.Errorf("tier %d (%v s), every %v s", c.CoverTier, c.CoverS, c.EveryS)
	}
	// The first three samples are the answers; any more repeat the last.
	extra := float64(c.Samples - 3)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(c.Demand.Min, 0.6) || !near(c.Demand.Last, 0.75) || !near(c.Demand.Mean, (2.25+0.75*extra)/float64(c.Samples)) ||
		!near(c.Area.Min, 0.4) || !near(c.Area.Last, 0.45) ||
		c.Units.Min != 10 || c.Units.Last != 20 || !near(c.Units.Mean, (60+20*extra)/float64(c.Samples)) {
		t.Errorf("figures: demand %+v, area %+v, units %+v", c.Demand, c.Area, c.Units)
	}
	prev := -1.0
	for i, x := range c.Series {
		if x.AtS < prev {
			t.Errorf("sample %d at %v s, before %v s", i, x.AtS, prev)
		}
		prev = x.AtS
	}
	if x := c.Series[1]; x.Demand != 0.9 || x.Area != 0.5 || x.Units != 30 {
		t.Errorf("sample 2: %+v", x)
	}
	b := &strings.Builder{}
	c.text(b)
	if want := "coverage   3-min share of the city by demand min 60%, mean "; !strings.HasPrefix(strings.TrimSpace(b.String()), strings.TrimSpace(want)) ||
		!strings.Contains(b.String(), "last 75%") || !strings.Contains(b.String(), "free units counted min 10") {
		t.Errorf("text %q", b)
	}
	js, err := json.Marshal(Run{Coverage: c})
	if err != nil || !strings.Contains(string(js), `"coverage":{"every_s":0.005,`) || !strings.Contains(string(js), `"series":[{"at_s":`) {
		t.Errorf("JSON %s, %v", js, err)
	}
}

// A hub without coverage (404): sampling stops at once, and the section
// says why; so does one that never has it ready.
func TestCoverageUnavailable(t *testing.T) {
	_, srv := hubapitest.New(t, "tok")
	client := hubapi.New(srv.URL, "tok", nil)
	defer client.Close()
	s := NewCoverageSampler(client, simclock.New(1), time.Millisecond)
	start := time.Now()
	s.Run(context.Background()) // returns by itself
	c := s.Report()
	if c.Samples != 0 || !strings.Contains(c.Unavailable, "404") || time.Since(start) > 5*time.Second {
		t.Errorf("coverage %+v", c)
	}
	b := &strings.Builder{}
	c.text(b)
	if !strings.Contains(b.String(), "coverage   unavailable: GET /api/coverage: 404: not served by this hub") {
		t.Errorf("text %q", b)
	}

	f, srv2 := hubapitest.New(t, "tok")
	f.Coverage = func() (*api.Coverage, int) { return nil, http.StatusServiceUnavailable }
	client2 := hubapi.New(srv2.URL, "tok", nil)
	defer client2.Close()
	s = NewCoverageSampler(client2, simclock.New(1), time.Millisecond)
	for range 3 {
		if !s.Sample(context.Background()) {
			t.Fatal("a 503 stopped the sampling")
		}
	}
	b.Reset()
	s.Report().text(b)
	if !strings.Contains(b.String(), "no sample in 3 tries") {
		t.Errorf("text %q", b)
	}
}

// planOf builds the plan of a small fleet as a run does, with its lapsing
// units.
func planOf(t *testing.T, n int, share float64) (*patrol.Plan, map[string]bool) {
	t.Helper()
	c := city.Changsha()
	specs, err := fleet.Plan("sim", n)
	if err != nil {
		t.Fatal(err)
	}
	var units []patrolplan.Unit
	var ids []string
	for i, s := range specs {
		m := sim.NewMover(c, s.Type, rand.New(rand.NewPCG(3, uint64(i)+1)))
		units = append(units, patrolplan.Unit{ID: s.ID, Beat: m.Beat()})
		ids = append(ids, s.ID)
	}
	p, err := patrolplan.Build(units, patrolplan.Options{ID: "sim-changsha", Start: time.Now(), TimeScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p, patrolplan.Lapsing(ids, share, 3)
}

// The patrol section: the plan's tasks by kind, its targets and lapsing
// units; then the hub's compliance report summed — met of total, by kind,
// the lapsing units apart from the others, and those that moved up.
func TestPatrolSection(t *testing.T) {
	f, srv := hubapitest.New(t, "tok")
	f.Patrols = true
	plan, lapsing := planOf(t, 40, 0.25)
	// The hub's report: every lapsing unit misses its task, and one other
	// unit; the others meet theirs.
	var missed string
	f.Compliance = func(p *patrol.Plan, shift, date string) *patrol.Report {
		rep := &patrol.Report{Plan: p.ID, Shift: shift, Date: date, From: 1_000_000, To: 1_000_000 + 3_600_000}
		for _, task := range p.Tasks {
			for _, u := range task.Units {
				met := !lapsing[u]
				if met && missed == "" {
					missed, met = u, false
				}
				rep.Results = append(rep.Results, patrol.Result{Task: task.ID, Unit: u, Kind: task.Kind, Met: met})
				rep.Units = append(rep.Units, patrol.UnitSummary{Unit: u, Fixes: 100})
			}
		}
		rep.Units[0].Fixes = 0
		return rep
	}
	client := hubapi.New(srv.URL, "tok", nil)
	defer client.Close()
	ctx := context.Background()
	if _, err := client.PutPatrol(ctx, plan); err != nil {
		t.Fatal(err)
	}
	p := NewPatrol(plan, lapsing, 0.25)
	p.Date = "2026-12-07"
	if p.Plan != "sim-changsha" || p.Shift != patrolplan.ShiftID || p.Units != 40 || len(p.Lapsing) != 10 ||
		p.Tasks["point"]+p.Tasks["line"]+p.Tasks["area"] != len(plan.Tasks) || p.Targets.RadiusM != 60 || p.Targets.DwellMin != 5 ||
		p.Targets.BufferM != 35 || p.Targets.CoverShare != 0.6 || p.Targets.MinPresenceMin != 30 {
		t.Fatalf("patrol %+v", p)
	}
	rep, err := client.Compliance(ctx, p.Plan, p.Shift, p.Date)
	if err != nil {
		t.Fatal(err)
	}
	moved := []string{missed, p.Lapsing[0]}
	p.Judge(rep, nil, moved)
	c := p.Compliance
	if c == nil || c.Total != 40 || c.Met != 29 || c.Lapsing != (Tally{0, 10, 0}) || c.Others != (Tally{29, 30, 29.0 / 30}) ||
		c.MovedUp != (Tally{0, 2, 0}) || c.NoFixes != 1 || c.JudgedS != 3600 || c.Unavailable != "" {
		t.Fatalf("compliance %+v", c)
	}
	sum := 0
	for kind, k := range c.ByKind {
		sum += k.Total
		if k.Total != p.Tasks[kind] && kind == "area" {
			t.Errorf("%s: %+v for %d tasks", kind, k, p.Tasks[kind])
		}
	}
	if sum != 40 || len(c.ByKind) != 3 {
		t.Errorf("by kind %+v", c.ByKind)
	}
	b := &strings.Builder{}
	p.text(b)
	for _, want := range []string{
		"patrol     plan sim-changsha, shift run (24 h from ",
		" for 40 units; 10 lapse (25%)",
		"targets, real time: 5 min at a stretch within 60 m of a post; 60% of a route within 35 m; 30 min in an area",
		"compliance 29/40 (72%) met over 1:00:00 (real): point ",
		"; lapsing units 0/10 (0%), the others 29/30 (97%); moved up 0/2 (0%); 1 unit(s) without a fix",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b)
		}
	}
	js, _ := json.Marshal(Run{Patrol: p})
	for _, want := range []string{`"patrol":{"plan":"sim-changsha","shift":"run","date":"2026-12-07"`, `"lapsing":{"met":0,"total":10,"share":0}`, `"by_kind":{`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s: %s", want, js)
		}
	}
}

// A hub without patrol plans: no plan loaded, and no compliance, each
// saying why.
func TestPatrolSectionUnavailable(t *testing.T) {
	_, srv := hubapitest.New(t, "tok")
	client := hubapi.New(srv.URL, "tok", nil)
	defer client.Close()
	plan, lapsing := planOf(t, 5, 0.2)
	_, err := client.PutPatrol(context.Background(), plan)
	p := &Patrol{Plan: plan.ID, Unavailable: err.Error()}
	b := &strings.Builder{}
	p.text(b)
	if !strings.Contains(b.String(), "patrol     no plan loaded: PUT /api/patrols/sim-changsha: 404: not served by this hub") {
		t.Errorf("text %q", b)
	}
	p = NewPatrol(plan, lapsing, 0.2)
	rep, err := client.Compliance(context.Background(), plan.ID, "run", "2026-12-07")
	p.Judge(rep, err, nil)
	b.Reset()
	p.text(b)
	if p.Compliance == nil || !strings.Contains(b.String(), "compliance unavailable: GET /api/patrols/compliance?") {
		t.Errorf("text %q", b)
	}
}
