package patrolplan

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/fleet"
	sim "kuaifan/simulator/internal/patrol"
)

// fleetOf is n units of the simulator's fleet mix with their movers, made
// as the fleet makes them (one random source per unit from the seed).
func fleetOf(t *testing.T, c *city.Model, n int, seed uint64) ([]Unit, []*sim.Mover) {
	t.Helper()
	specs, err := fleet.Plan("sim", n)
	if err != nil {
		t.Fatal(err)
	}
	units := make([]Unit, n)
	movers := make([]*sim.Mover, n)
	for i, s := range specs {
		movers[i] = sim.NewMover(c, s.Type, rand.New(rand.NewPCG(seed, uint64(i)+1)))
		units[i] = Unit{ID: s.ID, Beat: movers[i].Beat()}
	}
	return units, movers
}

var kindOf = map[sim.PatternKind]patrol.Kind{sim.PatternPost: patrol.KindPoint, sim.PatternRoute: patrol.KindLine, sim.PatternArea: patrol.KindArea}

// TestBuild: the plan from a fleet's beats is valid as the hub reads it,
// has every unit in exactly one task of its beat's kind — at its post,
// along its route, round its zone — with the targets, and one shift of
// 24 h from the run's start minute.
func TestBuild(t *testing.T) {
	c := city.Changsha()
	units, _ := fleetOf(t, c, 300, 42)
	loc, _ := (&patrol.Plan{Zone: patrol.DefaultZone}).Location()
	start := time.Date(2026, 12, 7, 23, 41, 37, 0, loc)
	p, err := Build(units, Options{ID: ID("sim", c.Name), Name: "test", Start: start, TimeScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	// What the hub is sent reads back as the same plan.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := patrol.Parse(b)
	if err != nil {
		t.Fatalf("the plan does not parse: %v", err)
	}
	if b2, _ := json.Marshal(again); string(b2) != string(b) {
		t.Errorf("the plan changes through Parse:\n%s\n%s", b, b2)
	}
	if p.ID != "sim-changsha" || p.Zone != "Asia/Shanghai" || len(p.Shifts) != 1 {
		t.Fatalf("plan %s in %s, shifts %+v", p.ID, p.Zone, p.Shifts)
	}
	if s := p.Shifts[0]; s.ID != ShiftID || s.Start.String() != "23:41" || s.Minutes() != 24*60 {
		t.Errorf("shift %+v (%d min)", s, s.Minutes())
	}
	from, to, err := p.ShiftBounds(ShiftID, start)
	if err != nil || start.Before(from) || !to.Equal(from.Add(24*time.Hour)) || start.Sub(from) >= time.Minute {
		t.Errorf("the shift on the start's date runs %v to %v (%v)", from, to, err)
	}
	if d, err := ShiftDate(p, start.UTC()); err != nil || d != "2026-12-07" {
		t.Errorf("shift date %q %v", d, err)
	}

	byUnit := map[string]*patrol.Task{}
	for i := range p.Tasks {
		task := &p.Tasks[i]
		for _, u := range task.Units {
			if byUnit[u] != nil {
				t.Errorf("%s has tasks %s and %s", u, byUnit[u].ID, task.ID)
			}
			byUnit[u] = task
		}
		if len(task.UnitTypes) > 0 || len(task.Shifts) > 0 || len(task.Windows) > 0 {
			t.Errorf("task %s: by type %v, shifts %v, windows %v", task.ID, task.UnitTypes, task.Shifts, task.Windows)
		}
	}
	kinds := map[patrol.Kind]int{}
	for _, u := range units {
		task := byUnit[u.ID]
		if task == nil {
			t.Errorf("%s has no task", u.ID)
			continue
		}
		kinds[task.Kind]++
		if task.Kind != kindOf[u.Beat.Kind] || task.Name != u.Beat.Name {
			t.Errorf("%s on %s: task %s %q", u.ID, u.Beat.Name, task.Kind, task.Name)
		}
		switch task.Kind {
		case patrol.KindPoint:
			if task.Lat != u.Beat.Anchor.Lat || task.Lon != u.Beat.Anchor.Lon || task.RadiusM != RadiusM || task.DwellMin != 5 {
				t.Errorf("%s: point %+v at post %v", u.ID, *task, u.Beat.Anchor)
			}
		case patrol.KindLine:
			if len(task.Route) != len(u.Beat.Route) || task.BufferM != BufferM || task.CoverShare != CoverShare {
				t.Errorf("%s: line %+v", u.ID, *task)
			}
			for i, q := range u.Beat.Route {
				if task.Route[i] != (patrol.Position{q.Lon, q.Lat}) {
					t.Errorf("%s: route point %d %v, want %v", u.ID, i, task.Route[i], q)
				}
			}
		case patrol.KindArea:
			if task.MinPresenceMin != 30 || len(task.Units) != 1 {
				t.Errorf("%s: area %+v", u.ID, *task)
			}
			// The zone's disc, and its margin, are inside the polygon.
			ring := polygonArea(task.Polygon)
			for b := 0.0; b < 360; b += 7.5 {
				if q := city.Offset(u.Beat.Anchor, u.Beat.RadiusM+AreaMarginM-1, b); !ring.Contains(q) {
					t.Fatalf("%s: %v, in its zone, is outside the area task's polygon", u.ID, q)
				}
			}
		}
	}
	// Units on the same route or at the same post share its task.
	if kinds[patrol.KindPoint] == 0 || kinds[patrol.KindLine] == 0 || kinds[patrol.KindArea] == 0 ||
		len(p.Tasks) >= len(units) || len(p.Tasks) > len(c.Posts)+len(c.Stations)+len(c.Routes)+kinds[patrol.KindArea] {
		t.Errorf("%d tasks for %d units: %v", len(p.Tasks), len(units), kinds)
	}
}

func polygonArea(ring []patrol.Position) *city.Area {
	a := &city.Area{}
	for _, q := range ring {
		a.Polygon = append(a.Polygon, city.Point{Lat: q.Lat(), Lon: q.Lon()})
	}
	return a
}

// TestBuildRefuses: a plan the hub would refuse is not built.
func TestBuildRefuses(t *testing.T) {
	c := city.Changsha()
	units, _ := fleetOf(t, c, 3, 1)
	units[1].ID = "not a unit id"
	_, err := Build(units, Options{ID: "sim-changsha", Start: time.Now(), TimeScale: 1})
	if err == nil || !strings.Contains(err.Error(), "not a unit id") {
		t.Errorf("err = %v", err)
	}
	if _, err := Build(units[:1], Options{ID: "Sim Changsha", Start: time.Now(), TimeScale: 1}); err == nil {
		t.Error("a bad plan id accepted")
	}
	if _, err := Build(units[:1], Options{ID: "sim", Start: time.Now()}); err == nil {
		t.Error("no time scale accepted")
	}
}

// TestTargets: simulated minutes become the real minutes the hub judges;
// an area's presence is half of a short run.
func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		scale          float64
		duration       time.Duration
		dwell, present float64
	}{
		{1, 0, 5, 30},
		{1, 2 * time.Hour, 5, 30},
		{1, 20 * time.Minute, 5, 10},
		{20, 0, 0.25, 1.5},
		{30, 15 * time.Minute, 0.167, 0.25},
		{0.01, 0, 500, 1440},
		{1e6, 0, 0, 0.001},
	} {
		d, p := Targets(tc.scale, tc.duration)
		if math.Abs(d-tc.dwell) > 1e-9 || math.Abs(p-tc.present) > 1e-9 {
			t.Errorf("×%g for %v: dwell %v, presence %v; want %v, %v", tc.scale, tc.duration, d, p, tc.dwell, tc.present)
		}
	}
}

func TestID(t *testing.T) {
	for _, tc := range []struct{ prefix, city, want string }{
		{"sim", "长沙 Changsha", "sim-changsha"},
		{"Night_Shift", "Wuhan 2 (test)", "night_shift-wuhan-2-test"},
		{"sim", "长沙", "sim-city"},
		{strings.Repeat("p", 30), strings.Repeat("long name ", 10), "ppppppppppppppppppppppppppppp" + "p-long-name-long-name-long-name-lon"},
	} {
		if got := ID(tc.prefix, tc.city); got != tc.want || len(got) > 64 {
			t.Errorf("ID(%q, %q) = %q; want %q", tc.prefix, tc.city, got, tc.want)
		}
	}
}

// TestLapsing: the share of units is kept (rounded), the same seed picks
// the same units, another seed others.
func TestLapsing(t *testing.T) {
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = "u" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	for _, tc := range []struct {
		n     int
		share float64
		want  int
	}{{300, 0.1, 30}, {300, 0, 0}, {300, 1, 300}, {20, 0.25, 5}, {7, 0.1, 1}, {3, 0.1, 0}, {300, -1, 0}, {300, 2, 300}} {
		got := Lapsing(ids[:tc.n], tc.share, 42)
		if len(got) != tc.want {
			t.Errorf("%d units, share %v: %d lapse; want %d", tc.n, tc.share, len(got), tc.want)
		}
		for id := range got {
			if !slices.Contains(ids[:tc.n], id) {
				t.Errorf("%s is not a unit", id)
			}
		}
	}
	a, b, other := Lapsing(ids, 0.1, 42), Lapsing(ids, 0.1, 42), Lapsing(ids, 0.1, 43)
	if !equalSets(a, b) || equalSets(a, other) {
		t.Errorf("seed 42 twice: %v, %v; seed 43: %v", a, b, other)
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestLapsesMissThePlan runs units of every beat for two simulated hours,
// a fix every 10 s as the agents report on patrol, and judges the tracks
// by the plan's rules (hub/internal/patrol's, simplified): the units that
// keep their beats meet their tasks, the lapsing ones do not — so the
// compliance report shows the gap.
func TestLapsesMissThePlan(t *testing.T) {
	c := city.Changsha()
	units, movers := fleetOf(t, c, 120, 7)
	lapsing := Lapsing(unitIDs(units), 0.5, 7)
	for i, u := range units {
		if lapsing[u.ID] {
			movers[i].Lapse(c)
		}
	}
	p, err := Build(units, Options{ID: "sim-changsha", Start: time.Now(), TimeScale: 1, Duration: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]*patrol.Task{}
	for i := range p.Tasks {
		for _, u := range p.Tasks[i].Units {
			tasks[u] = &p.Tasks[i]
		}
	}
	const every = 10 * time.Second
	type tally struct{ met, total int }
	got := map[bool]map[patrol.Kind]*tally{true: {}, false: {}}
	for i, u := range units {
		var fixes []city.Point
		for range int(2 * time.Hour / every) {
			q, _, _ := movers[i].Step(every)
			fixes = append(fixes, q)
		}
		task := tasks[u.ID]
		var met bool
		var figure float64
		switch task.Kind {
		case patrol.KindPoint:
			figure = longestStayMin(fixes, city.Point{Lat: task.Lat, Lon: task.Lon}, task.RadiusM, every)
			met = figure >= task.DwellMin
		case patrol.KindLine:
			figure = drivenShare(fixes, task.Route, task.BufferM)
			met = figure >= task.CoverShare
		case patrol.KindArea:
			figure = presenceMin(fixes, polygonArea(task.Polygon), every)
			met = figure >= task.MinPresenceMin
		}
		if met == lapsing[u.ID] {
			t.Errorf("%s (%s, lapsing %v): %s %.2f, met %v", u.ID, movers[i].PatternName(), lapsing[u.ID], task.Kind, figure, met)
		}
		k := got[lapsing[u.ID]][task.Kind]
		if k == nil {
			k = &tally{}
			got[lapsing[u.ID]][task.Kind] = k
		}
		k.total++
		if met {
			k.met++
		}
	}
	for _, l := range []bool{false, true} {
		for _, kind := range []patrol.Kind{patrol.KindPoint, patrol.KindLine, patrol.KindArea} {
			if k := got[l][kind]; k == nil || k.total < 3 {
				t.Errorf("lapsing %v, %s: too few to judge: %+v", l, kind, k)
			} else {
				t.Logf("lapsing %-5v %-5s met %d of %d", l, kind, k.met, k.total)
			}
		}
	}
}

func unitIDs(units []Unit) []string {
	ids := make([]string, len(units))
	for i, u := range units {
		ids[i] = u.ID
	}
	return ids
}

// longestStayMin is the longest run of consecutive fixes within radius of
// p, each standing for every.
func longestStayMin(fixes []city.Point, p city.Point, radiusM float64, every time.Duration) float64 {
	best, run := 0, 0
	for _, f := range fixes {
		if city.DistanceM(f, p) <= radiusM {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return float64(best) * every.Minutes()
}

// presenceMin is the time the fixes inside a stand for.
func presenceMin(fixes []city.Point, a *city.Area, every time.Duration) float64 {
	n := 0
	for _, f := range fixes {
		if a.Contains(f) {
			n++
		}
	}
	return float64(n) * every.Minutes()
}

// drivenShare cuts the route into pieces of at most 10 m and counts those
// whose midpoint is within buffer of the track (a fix, or the line to the
// next one), by length.
func drivenShare(fixes []city.Point, route []patrol.Position, bufferM float64) float64 {
	var driven, total float64
	for i := 0; i+1 < len(route); i++ {
		a := city.Point{Lat: route[i].Lat(), Lon: route[i].Lon()}
		b := city.Point{Lat: route[i+1].Lat(), Lon: route[i+1].Lon()}
		l := city.DistanceM(a, b)
		n := max(1, int(math.Ceil(l/10)))
		for k := range n {
			f := (float64(k) + 0.5) / float64(n)
			mid := city.Point{Lat: a.Lat + f*(b.Lat-a.Lat), Lon: a.Lon + f*(b.Lon-a.Lon)}
			total += l / float64(n)
			for j := range fixes {
				next := fixes[min(j+1, len(fixes)-1)]
				if segmentDistanceM(mid, fixes[j], next) <= bufferM {
					driven += l / float64(n)
					break
				}
			}
		}
	}
	return driven / total
}

// segmentDistanceM is p's distance to the segment a–b, in a flat frame at p.
func segmentDistanceM(p, a, b city.Point) float64 {
	const m = 111_195.0 // metres per degree
	kx := math.Cos(p.Lat * math.Pi / 180)
	ax, ay := (a.Lon-p.Lon)*kx*m, (a.Lat-p.Lat)*m
	bx, by := (b.Lon-p.Lon)*kx*m, (b.Lat-p.Lat)*m
	dx, dy := bx-ax, by-ay
	s := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		s = max(0, min(1, -(ax*dx+ay*dy)/l2))
	}
	return math.Hypot(ax+s*dx, ay+s*dy)
}
