package patrol

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/districts"
	wire "kuaifan/protocol/patrol"
)

func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("PATROL_SEED"); v != "" { // replay a logged seed
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("PATROL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with PATROL_SEED=%d)", s, s)
	return s
}

// trials is how many random cases a brute-force test tries.
func trials() int {
	if testing.Short() {
		return 20
	}
	return 80
}

// randomTrack is a unit wandering around lat, lon: legs at speeds from
// standing to fast, fixes 1 to 60 s apart, now and then a gap beyond
// MaxGap or a jump.
func randomTrack(rng *rand.Rand, from, to int64, lat, lon, spread float64) []Fix {
	var out []Fix
	x, y := 0.0, 0.0
	for ts := from - rng.Int64N(120_000); ts < to; {
		out = append(out, Fix{TS: ts, Lat: lat + y/metresPerDegree, Lon: lon + x/(metresPerDegree*math.Cos(lat*math.Pi/180))})
		step := time.Duration(1+rng.IntN(60)) * time.Second
		if rng.IntN(40) == 0 {
			step = time.Duration(91+rng.IntN(600)) * time.Second
		}
		ts += step.Milliseconds()
		v := []float64{0, 1.4, 8, 15}[rng.IntN(4)]
		a := rng.Float64() * 2 * math.Pi
		x += v * step.Seconds() * math.Cos(a)
		y += v * step.Seconds() * math.Sin(a)
		if rng.IntN(50) == 0 || math.Hypot(x, y) > spread {
			x, y = (rng.Float64()*2-1)*spread, (rng.Float64()*2-1)*spread
		}
	}
	return out
}

func randomRoute(rng *rand.Rand, lat, lon, spread float64) []wire.Position {
	n := 2 + rng.IntN(14)
	r := make([]wire.Position, n)
	for i := range r {
		la, lo := moved(lat, lon, (rng.Float64()*2-1)*spread, (rng.Float64()*2-1)*spread)
		r[i] = wire.Position{lo, la}
	}
	return r
}

// The grid and the blocks only skip what cannot be near: a brute force
// over every piece and every segment of track finds the same pieces.
func TestLineMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 1))
	from, to := at(6, 8, 0, 0).UnixMilli(), at(6, 12, 0, 0).UnixMilli()
	c := &computer{from: from, to: to, gap: MaxGap.Milliseconds()}
	for trial := range trials() {
		spread := 200 + rng.Float64()*3000
		wt := &wire.Task{Kind: wire.KindLine, Route: randomRoute(rng, 28.2, 112.97, spread), BufferM: 5 + rng.Float64()*100, CoverShare: 0.8}
		if wire.RouteLength(wt.Route) == 0 {
			continue
		}
		p := &task{t: wt, box: emptyBox(), route: newRoute(wt.Route, wt.BufferM)}
		for _, pos := range wt.Route {
			p.box.extend(pos.Lat(), pos.Lon())
		}
		p.box = p.box.grow(wt.BufferM)
		var tr track
		tr.load(randomTrack(rng, from, to, 28.2, 112.97, spread), from, to, c.gap)
		got := c.line(p, &tr)

		rt := p.route
		want := 0.0
		for j := range rt.x {
			for i, a := range tr.fixes {
				if a.TS < from {
					continue
				}
				z := a
				if i+1 < len(tr.fixes) && tr.fixes[i+1].TS-a.TS <= c.gap {
					z = tr.fixes[i+1]
				}
				ax, ay := rt.project(a.Lat, a.Lon)
				zx, zy := rt.project(z.Lat, z.Lon)
				if dist2(rt.x[j], rt.y[j], ax, ay, zx, zy) <= wt.BufferM*wt.BufferM {
					want += rt.w[j]
					break
				}
			}
		}
		if math.Abs(got.DrivenM-want) > 1e-6*rt.length {
			t.Fatalf("trial %d: driven %v m, brute force %v m (route %v, buffer %v)", trial, got.DrivenM, want, wt.Route, wt.BufferM)
		}
	}
}

// Presence is what the fixes inside stand for, found without blocks.
func TestAreaMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 2))
	from, to := at(6, 8, 0, 0).UnixMilli(), at(6, 12, 0, 0).UnixMilli()
	gap := MaxGap.Milliseconds()
	c := &computer{from: from, to: to, gap: gap}
	for trial := range trials() {
		spread := 200 + rng.Float64()*3000
		poly := randomRoute(rng, 28.2, 112.97, spread)
		if len(poly) < 3 {
			continue
		}
		wt := &wire.Task{Kind: wire.KindArea, Polygon: poly, MinPresenceMin: 60}
		c.shift = wire.Shift{ID: "s", Start: 8 * 60, End: 12 * 60}
		p := c.prepare(wt)
		fixes := randomTrack(rng, from, to, 28.2, 112.97, spread)
		var tr track
		tr.load(fixes, from, to, gap)
		got := c.area(p, &tr)

		var ring districts.Ring
		for _, pos := range poly {
			ring = append(ring, districts.Point{Lat: pos.Lat(), Lon: pos.Lon()})
		}
		var want int64
		for i, f := range fixes {
			if f.TS >= to {
				break
			}
			end := min(f.TS+gap, to)
			if i+1 < len(fixes) {
				end = min(end, fixes[i+1].TS)
			}
			if ring.Contains(districts.Point{Lat: f.Lat, Lon: f.Lon}) && end > from {
				want += end - max(f.TS, from)
			}
		}
		if got.PresenceMin != float64(want)/60e3 {
			t.Fatalf("trial %d: presence %v min, brute force %v", trial, got.PresenceMin, float64(want)/60e3)
		}
	}
}

// area.contains is districts.Ring.Contains, on random points and on
// points at the vertices' latitudes and longitudes, where the half-open
// rule decides.
func TestAreaContainsIsRingContains(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 3))
	for trial := range 2 * trials() {
		var ring districts.Ring
		for _, p := range randomRoute(rng, 28.2, 112.97, 100+rng.Float64()*5000) {
			ring = append(ring, districts.Point{Lat: p.Lat(), Lon: p.Lon()})
		}
		if trial%3 == 0 { // many vertices: many bands
			ring = ring[:0]
			n := 3 + rng.IntN(3000)
			for i := range n {
				a := 2 * math.Pi * float64(i) / float64(n)
				r := 1000 + 800*rng.Float64()
				la, lo := moved(28.2, 112.97, r*math.Sin(a), r*math.Cos(a))
				ring = append(ring, districts.Point{Lat: la, Lon: lo})
			}
		}
		a := newArea(ring)
		for range 1000 {
			la, lo := moved(28.2, 112.97, (rng.Float64()*2-1)*6000, (rng.Float64()*2-1)*6000)
			if rng.IntN(2) == 0 {
				v, w := ring[rng.IntN(len(ring))], ring[rng.IntN(len(ring))]
				la = v.Lat
				if rng.IntN(2) == 0 {
					lo = w.Lon
				}
			}
			if got, want := a.contains(la, lo), ring.Contains(districts.Point{Lat: la, Lon: lo}); got != want {
				t.Fatalf("trial %d: contains(%v, %v) = %v, Ring.Contains %v", trial, la, lo, got, want)
			}
		}
	}
}

// benchScenario is issue's target load: one 24-hour shift of 300 units
// with a fix every 10 s (8,640 each), and 300 tasks — a third each points
// (with up to 3 windows), lines (2 to 15 positions across up to 3 km) and
// areas (up to 15 positions) — near the units they are assigned to: three
// units each by id, every tenth task instead a unit type (75 units).
// Units wander up to 1.5 km from home at their type's speed, with pauses,
// and head for their tasks' places a third of the time.
func benchScenario(tb testing.TB) (*wire.Plan, Shift, []Unit) {
	rng := rand.New(rand.NewPCG(17, 2026))
	const nUnits, nTasks = 300, 300
	type home struct{ lat, lon float64 }
	homes := make([]home, nUnits)
	units := make([]Unit, nUnits)
	for i := range units {
		la, lo := moved(28.2, 112.97, (rng.Float64()*2-1)*10_000, (rng.Float64()*2-1)*10_000)
		homes[i] = home{la, lo}
		units[i] = Unit{ID: fmt.Sprintf("unit-%03d", i), Type: protocol.UnitTypes[i%4]}
	}
	plan := &wire.Plan{ID: "bench", Zone: "Asia/Shanghai", Shifts: []wire.Shift{{ID: "all", Start: 0, End: 0}}}
	places := make([][]wire.Position, nUnits) // where each unit's tasks are
	for k := range nTasks {
		u := k % nUnits
		h := homes[u]
		t := wire.Task{ID: fmt.Sprintf("task-%03d", k)}
		if k%10 == 9 {
			t.UnitTypes = []protocol.UnitType{protocol.UnitTypes[k%4]}
		} else {
			t.Units = []string{units[u].ID, units[(u+1)%nUnits].ID, units[(u+2)%nUnits].ID}
		}
		var at []wire.Position
		switch k % 3 {
		case 0:
			la, lo := moved(h.lat, h.lon, (rng.Float64()*2-1)*1000, (rng.Float64()*2-1)*1000)
			t.Kind, t.Lat, t.Lon, t.RadiusM, t.DwellMin = wire.KindPoint, la, lo, 50, 10
			for w := range rng.IntN(4) {
				start := wire.Clock(60 * (1 + 7*w + rng.IntN(6)))
				t.Windows = append(t.Windows, wire.Window{Start: start, End: start + 60})
			}
			at = []wire.Position{{lo, la}}
		case 1:
			t.Kind, t.Route, t.BufferM, t.CoverShare = wire.KindLine, randomRoute(rng, h.lat, h.lon, 1500), 30, 0.8
			at = t.Route
		case 2:
			t.Kind, t.MinPresenceMin = wire.KindArea, 120
			c := randomRoute(rng, h.lat, h.lon, 1000)[0]
			n, r := 4+rng.IntN(12), 300+rng.Float64()*700
			for i := range n {
				a := 2 * math.Pi * float64(i) / float64(n)
				la, lo := moved(c.Lat(), c.Lon(), r*math.Sin(a), r*math.Cos(a))
				t.Polygon = append(t.Polygon, wire.Position{lo, la})
			}
			at = []wire.Position{c}
		}
		plan.Tasks = append(plan.Tasks, t)
		for _, id := range t.Units {
			var v int
			fmt.Sscanf(id, "unit-%d", &v)
			places[v] = append(places[v], at...)
		}
	}
	if err := plan.Validate(); err != nil {
		tb.Fatal(err)
	}
	start, end, err := plan.ShiftBounds("all", time.Date(2026, 12, 6, 12, 0, 0, 0, cst))
	if err != nil {
		tb.Fatal(err)
	}
	speed := map[protocol.UnitType]float64{protocol.TypeCar: 8, protocol.TypeMotorcycle: 10, protocol.TypeFoot: 1.4, protocol.TypeVolunteer: 1.2}
	for i := range units {
		h := homes[i]
		lat, lon := h.lat, h.lon
		fixes := make([]Fix, 0, 8640)
		var toLat, toLon float64
		pause := 0
		pick := func() {
			if len(places[i]) > 0 && rng.IntN(3) == 0 {
				p := places[i][rng.IntN(len(places[i]))]
				toLat, toLon = p.Lat(), p.Lon()
			} else {
				toLat, toLon = moved(h.lat, h.lon, (rng.Float64()*2-1)*1500, (rng.Float64()*2-1)*1500)
			}
		}
		pick()
		for ts := start.UnixMilli(); ts < end.UnixMilli(); ts += 10_000 {
			fixes = append(fixes, Fix{TS: ts, Lat: lat, Lon: lon})
			if pause > 0 {
				pause--
				continue
			}
			d := protocol.Haversine(lat, lon, toLat, toLon)
			step := speed[units[i].Type] * 10
			if d <= step {
				lat, lon = toLat, toLon
				pause = rng.IntN(90) // up to 15 minutes
				pick()
				continue
			}
			lat += (toLat - lat) * step / d
			lon += (toLon - lon) * step / d
		}
		units[i].Track = fixes
	}
	return plan, Shift{ID: "all", Start: start, End: end}, units
}

// BenchmarkComplianceShift300 is the target: the compliance of one
// shift of 300 units with 24 h of positions at 1 per 10 s in under 2 s
// (run with -cpu 1; Compute uses one core anyway).
func BenchmarkComplianceShift300(b *testing.B) {
	plan, shift, units := benchScenario(b)
	b.ReportAllocs()
	b.ResetTimer()
	var r *wire.Report
	for b.Loop() {
		var err error
		if r, err = Compute(plan, shift, units); err != nil {
			b.Fatal(err)
		}
	}
	ms := float64(b.Elapsed().Nanoseconds()) / 1e6 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	b.ReportMetric(100*ms/2000, "%of2s")
	b.ReportMetric(float64(r.Total), "results")
	b.ReportMetric(float64(r.Met), "met")
}

// BenchmarkComplianceCityWide is the target load with 8 tasks that concern
// every unit of a type wherever it is: 4 areas with 5,000-vertex outlines
// around the whole city, and 4 routes of about 95 km spiralling through it.
func BenchmarkComplianceCityWide(b *testing.B) {
	plan, shift, units := benchScenario(b)
	for k := range 4 {
		t := wire.Task{ID: "big-" + string(rune('a'+k)), Kind: wire.KindArea, MinPresenceMin: 60, UnitTypes: []protocol.UnitType{protocol.UnitTypes[k]}}
		n := 5000
		for i := range n {
			a := 2 * math.Pi * float64(i) / float64(n)
			r := 9000 + 500*math.Sin(7*a)
			la, lo := moved(28.2, 112.97, r*math.Sin(a), r*math.Cos(a))
			t.Polygon = append(t.Polygon, wire.Position{lo, la})
		}
		plan.Tasks = append(plan.Tasks, t)
	}
	for k := range 4 {
		t := wire.Task{ID: "long-" + string(rune('a'+k)), Kind: wire.KindLine, BufferM: 30, CoverShare: 0.8, UnitTypes: []protocol.UnitType{protocol.UnitTypes[k]}}
		// a spiral through the city, 95 km
		n := 3000
		for i := range n {
			f := float64(i) / float64(n)
			a := 2 * math.Pi * 3 * f
			r := 1000 + 8000*f
			la, lo := moved(28.2, 112.97, r*math.Sin(a), r*math.Cos(a))
			t.Route = append(t.Route, wire.Position{lo, la})
		}
		plan.Tasks = append(plan.Tasks, t)
	}
	if err := plan.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Compute(plan, shift, units)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
}
