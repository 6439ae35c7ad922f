package patrol

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/simulator/internal/city"
)

// moversOf makes n movers of type ty on the built-in city, seeded.
func moversOf(c *city.Model, ty protocol.UnitType, n int, seed uint64) []*Mover {
	r := rand.New(rand.NewPCG(seed, 42))
	out := make([]*Mover, n)
	for i := range out {
		out[i] = NewMover(c, ty, r)
	}
	return out
}

func TestPatternChoice(t *testing.T) {
	c := city.Changsha()
	for _, tc := range []struct {
		ty   protocol.UnitType
		want map[PatternKind][2]float64 // share range
	}{
		{protocol.TypeFoot, map[PatternKind][2]float64{PatternPost: {0.6, 0.8}, PatternArea: {0.2, 0.4}}},
		{protocol.TypeMotorcycle, map[PatternKind][2]float64{PatternRoute: {1, 1}}},
		{protocol.TypeCar, map[PatternKind][2]float64{PatternRoute: {0.5, 0.7}, PatternArea: {0.3, 0.5}}},
		{protocol.TypeVolunteer, map[PatternKind][2]float64{PatternArea: {1, 1}}},
	} {
		t.Run(string(tc.ty), func(t *testing.T) {
			const n = 400
			count := map[PatternKind]int{}
			for _, m := range moversOf(c, tc.ty, n, 1) {
				count[m.Pattern()]++
				if d := m.offPattern(m.Position()); d > 0.5 {
					t.Errorf("%s starts %.1f m off its pattern", m.PatternName(), d)
				}
				if c.DistrictOf(m.Position()) == "" && m.Pattern() != PatternRoute {
					t.Errorf("%s starts outside every district at %v", m.PatternName(), m.Position())
				}
				if m.Type() != tc.ty || m.PatternName() == "" {
					t.Errorf("type %q, pattern name %q", m.Type(), m.PatternName())
				}
			}
			for k, share := range tc.want {
				if got := float64(count[k]) / n; got < share[0] || got > share[1] {
					t.Errorf("%v: share %.2f; want %.2f … %.2f", k, got, share[0], share[1])
				}
			}
			if len(count) != len(tc.want) {
				t.Errorf("patterns %v; want only %v", count, tc.want)
			}
		})
	}
}

// TestPatternFallbacks: a city with nothing but a district still gets every
// type moving.
func TestPatternFallbacks(t *testing.T) {
	c := &city.Model{Name: "bare", Districts: []city.Area{{Name: "A", Polygon: []city.Point{{Lat: 28, Lon: 113}, {Lat: 28, Lon: 113.05}, {Lat: 28.05, Lon: 113.05}, {Lat: 28.05, Lon: 113}}}}}
	r := rand.New(rand.NewPCG(3, 3))
	for _, ty := range append(protocol.UnitTypes[:], "hovercraft") {
		m := NewMover(c, ty, r)
		if m.Pattern() == PatternRoute {
			t.Errorf("%s: a route in a city without routes", ty)
		}
		for range 600 {
			p, _, _ := m.Step(10 * time.Second)
			if !protocol.ValidLatLon(p.Lat, p.Lon) || m.offPattern(p) > 1 {
				t.Fatalf("%s: %v off its pattern %s", ty, p, m.PatternName())
			}
		}
	}
	if s := PatternKind(9).String(); s != "PatternKind(9)" {
		t.Errorf("String: %q", s)
	}
}

// TestMoverStaysOnPattern runs movers of every type for 8 simulated hours:
// never off their pattern, areas inside their district nearly always (a
// straight leg may cut a concave corner).
func TestMoverStaysOnPattern(t *testing.T) {
	c := city.Changsha()
	for _, ty := range protocol.UnitTypes {
		t.Run(string(ty), func(t *testing.T) {
			for _, m := range moversOf(c, ty, 12, 7) {
				steps, outside := 0, 0
				for range 8 * 3600 / 5 {
					p, v, h := m.Step(5 * time.Second)
					steps++
					if d := m.offPattern(p); d > 1 {
						t.Fatalf("%s: %v is %.1f m off the pattern", m.PatternName(), p, d)
					}
					if m.Pattern() == PatternArea && m.area != nil && !m.area.Contains(p) {
						outside++
					}
					if v < 0 || h < 0 || h >= 360 || math.IsNaN(v+h) {
						t.Fatalf("speed %v, heading %v", v, h)
					}
				}
				if float64(outside) > 0.05*float64(steps) {
					t.Errorf("%s: %d of %d positions outside its district", m.PatternName(), outside, steps)
				}
			}
		})
	}
}

// TestMoverSpeeds measures the speed while moving on patrol against the
// type's, and checks each step's reported speed is its displacement ÷ dt.
func TestMoverSpeeds(t *testing.T) {
	c := city.Changsha()
	lo := map[protocol.UnitType]float64{"car": 5, "motorcycle": 6, "foot": 0.8, "volunteer": 0.8}
	hi := map[protocol.UnitType]float64{"car": 8, "motorcycle": 9, "foot": 1.3, "volunteer": 1.2}
	for _, ty := range protocol.UnitTypes {
		t.Run(string(ty), func(t *testing.T) {
			const dt = time.Second
			var sum float64
			var moving, still, total, turns int
			for _, m := range moversOf(c, ty, 10, 11) {
				prev := m.Position()
				for range 4 * 3600 {
					p, v, _ := m.Step(dt)
					total++
					// The reported speed is the path's: the straight
					// displacement is shorter in a step that turns a corner.
					switch d := city.DistanceM(prev, p); {
					case d > v*dt.Seconds()*(1+1e-6)+1e-6:
						t.Fatalf("reported %.3f m/s; moved %.3f m in %v", v, d, dt)
					case d < v*dt.Seconds()*(1-1e-6)-1e-6:
						turns++
					}
					if v > hi[ty]+1e-9 {
						t.Fatalf("%s: %.2f m/s on patrol; the range ends at %v", m.PatternName(), v, hi[ty])
					}
					// Steps with a pause or a turn in them are part-still:
					// count only the steps spent wholly on a leg.
					switch {
					case v == 0:
						still++
					case v >= lo[ty]-1e-9:
						sum += v
						moving++
					}
					prev = p
				}
			}
			if turns > total/50 {
				t.Errorf("%d of %d steps turned a corner", turns, total)
			}
			mean := sum / float64(moving)
			if want := Speed(ty); math.Abs(mean-want) > 0.1*want {
				t.Errorf("mean patrol speed %.3f m/s; want %.3f ± 10 %%", mean, want)
			}
			// A foot officer at a post mostly stands; the others mostly move.
			t.Logf("%s: mean %.2f m/s moving, still %.0f %% of the time", ty, mean, 100*float64(still)/float64(total))
			if ty != protocol.TypeFoot && float64(still) > 0.3*float64(total) {
				t.Errorf("still %d of %d steps", still, total)
			}
		})
	}
}

func TestSpeedsMatchHub(t *testing.T) {
	// hub/internal/match.DefaultConfig: the hub's ETAs assume these.
	for ty, want := range map[protocol.UnitType]float64{"car": 8.3, "motorcycle": 11.1, "foot": 1.39, "volunteer": 1.39} {
		if got := ResponseSpeed(ty); got != want {
			t.Errorf("ResponseSpeed(%s) = %v; want %v", ty, got, want)
		}
		if Speed(ty) >= ResponseSpeed(ty) {
			t.Errorf("%s patrols at %v, responds at %v", ty, Speed(ty), ResponseSpeed(ty))
		}
	}
}

// TestMoverGoTo: a straight line at the response speed arrives in
// distance ÷ speed (within a step), well inside the hub's ETA (× 1.4), and
// stays.
func TestMoverGoTo(t *testing.T) {
	c := city.Changsha()
	for _, tc := range []struct {
		ty      protocol.UnitType
		bearing float64
		distM   float64
		dt      time.Duration
	}{
		{protocol.TypeCar, 45, 3000, time.Second},
		{protocol.TypeCar, 200, 1234, 7 * time.Second},
		{protocol.TypeMotorcycle, 300, 4000, 2 * time.Second},
		{protocol.TypeFoot, 90, 600, time.Second},
		{protocol.TypeVolunteer, 170, 400, 3 * time.Second},
	} {
		m := moversOf(c, tc.ty, 1, 5)[0]
		m.Step(time.Minute)
		target := city.Offset(m.Position(), tc.distM, tc.bearing)
		d := m.DistanceTo(target)
		m.GoTo(target)
		if got, ok := m.Target(); !ok || got != target || m.Arrived() {
			t.Fatalf("%s: Target %v %v, Arrived %v", tc.ty, got, ok, m.Arrived())
		}
		want := d / ResponseSpeed(tc.ty)
		var elapsed float64
		for !m.Arrived() && elapsed < 2*want+60 {
			_, v, h := m.Step(tc.dt)
			elapsed += tc.dt.Seconds()
			if v > ResponseSpeed(tc.ty)+1e-9 {
				t.Fatalf("%s: %v m/s", tc.ty, v)
			}
			if !m.Arrived() && math.Abs(angleDiff(h, tc.bearing)) > 0.5 {
				t.Fatalf("%s: heading %v; want %v", tc.ty, h, tc.bearing)
			}
		}
		if elapsed < want || elapsed >= want+tc.dt.Seconds() {
			t.Errorf("%s: %.0f m in %.1f s; want %.1f s (within a step of %v)", tc.ty, d, elapsed, want, tc.dt)
		}
		if eta := d * 1.4 / ResponseSpeed(tc.ty); elapsed > eta {
			t.Errorf("%s: arrival %.1f s after the hub's ETA %.1f s", tc.ty, elapsed, eta)
		}
		for range 10 {
			if p, v, _ := m.Step(tc.dt); p != target || v != 0 {
				t.Fatalf("%s: after arrival at %v, speed %v", tc.ty, p, v)
			}
		}
	}
}

// TestMoverRetarget: a sighting moves the job half-way; the unit turns from
// where it is.
func TestMoverRetarget(t *testing.T) {
	c := city.Changsha()
	m := moversOf(c, protocol.TypeCar, 1, 9)[0]
	a := city.Offset(m.Position(), 2000, 90)
	m.GoTo(a)
	var elapsed time.Duration
	for m.DistanceTo(a) > 1000 {
		m.Step(time.Second)
		elapsed += time.Second
	}
	mid := m.Position()
	b := city.Offset(mid, 1500, 0)
	m.GoTo(b)
	want := city.DistanceM(mid, b) / ResponseSpeed(protocol.TypeCar)
	var more time.Duration
	for !m.Arrived() {
		_, _, h := m.Step(time.Second)
		more += time.Second
		if !m.Arrived() && math.Abs(angleDiff(h, 0)) > 0.5 {
			t.Fatalf("heading %v after re-targeting north", h)
		}
		if more > time.Hour {
			t.Fatal("never arrived")
		}
	}
	if s := more.Seconds(); s < want || s >= want+1 {
		t.Errorf("re-targeted arrival after %.0f s; want %.1f", s, want)
	}
	if m.Position() != b || m.DistanceTo(a) < 1000 {
		t.Errorf("at %v", m.Position())
	}
}

func TestMoverHold(t *testing.T) {
	c := city.Changsha()
	m := moversOf(c, protocol.TypeMotorcycle, 1, 13)[0]
	target := city.Offset(m.Position(), 3000, 135)
	m.GoTo(target)
	m.Step(time.Minute)
	m.Hold()
	here := m.Position()
	for range 100 {
		if p, v, _ := m.Step(10 * time.Second); p != here || v != 0 {
			t.Fatalf("holding, yet at %v at %v m/s", p, v)
		}
	}
	if m.Arrived() {
		t.Error("arrived without getting there")
	}
	// GoTo after Hold resumes the job; GoTo to where it is arrives at once.
	m.GoTo(here)
	if !m.Arrived() {
		t.Error("GoTo(here) did not arrive")
	}
	if _, _, h := m.Step(0); h < 0 || h >= 360 {
		t.Errorf("heading %v", h)
	}
	if p, v, _ := m.Step(-time.Second); p != here || v != 0 {
		t.Errorf("negative step moved to %v at %v", p, v)
	}
}

// TestMoverPatrolReturns: after a job far off its pattern the unit goes
// back at patrol speed, reaches its pattern in the time that takes, and
// stays on it.
func TestMoverPatrolReturns(t *testing.T) {
	c := city.Changsha()
	for _, ty := range protocol.UnitTypes {
		for _, m := range moversOf(c, ty, 8, 17) {
			m.Step(10 * time.Minute)
			away := 1500.0
			if ty == protocol.TypeFoot || ty == protocol.TypeVolunteer {
				away = 300
			}
			target := city.Offset(m.Position(), away, 60)
			m.GoTo(target)
			for !m.Arrived() {
				m.Step(5 * time.Second)
			}
			m.Hold()
			m.Step(10 * time.Minute)
			off := m.offPattern(m.Position())
			m.Patrol()
			if _, ok := m.Target(); ok || m.Arrived() {
				t.Errorf("%s: still on a job after Patrol", m.PatternName())
			}
			lo, _ := patrolRange(ty)
			limit := time.Duration((off/lo + 5) * float64(time.Second))
			var took time.Duration
			for m.offPattern(m.Position()) > 1 {
				m.Step(time.Second)
				took += time.Second
				if took > limit {
					t.Fatalf("%s: %.0f m off, still not back after %v", m.PatternName(), off, took)
				}
			}
			for range 3600 {
				if p, _, _ := m.Step(5 * time.Second); m.offPattern(p) > 1 {
					t.Fatalf("%s: left the pattern after returning: %v", m.PatternName(), p)
				}
			}
			m.Patrol() // on patrol already: no change
		}
	}
}

// TestMoverLongStep: one long step covers many legs and stays on pattern.
func TestMoverLongStep(t *testing.T) {
	c := city.Changsha()
	for _, ty := range protocol.UnitTypes {
		for _, m := range moversOf(c, ty, 5, 23) {
			p, v, _ := m.Step(3 * time.Hour)
			if m.offPattern(p) > 1 || v > Speed(ty)*2 {
				t.Errorf("%s: after 3 h at %v, %v m/s", m.PatternName(), p, v)
			}
		}
	}
}

func TestMoverDeterministic(t *testing.T) {
	c := city.Changsha()
	run := func() city.Point {
		m := moversOf(c, protocol.TypeCar, 3, 99)[2]
		for range 1000 {
			m.Step(3 * time.Second)
		}
		return m.Position()
	}
	if a, b := run(), run(); a != b {
		t.Errorf("same seed, different places: %v, %v", a, b)
	}
}

func TestBearingAndOffset(t *testing.T) {
	o := city.Point{Lat: 28.2, Lon: 112.97}
	for _, b := range []float64{0, 45, 90, 135, 180, 270, 359} {
		p := city.Offset(o, 1000, b)
		if d := city.DistanceM(o, p); math.Abs(d-1000) > 1 {
			t.Errorf("bearing %v: %v m", b, d)
		}
		if got := bearingDeg(o, p); math.Abs(angleDiff(got, b)) > 0.1 {
			t.Errorf("bearing %v: got %v", b, got)
		}
	}
	q, i := nearestOnPolyline([]city.Point{{Lat: 0, Lon: 0}, {Lat: 0, Lon: 1}, {Lat: 1, Lon: 1}}, city.Point{Lat: 0.5, Lon: 1.2})
	if i != 1 || math.Abs(q.Lat-0.5) > 1e-9 || q.Lon != 1 {
		t.Errorf("nearest %v on segment %d", q, i)
	}
}

func angleDiff(a, b float64) float64 {
	return math.Mod(a-b+540, 360) - 180
}

// TestMoverReposition: a move-up (additive, 2026-12) drives to its spot by
// a straight line at the type's response speed, in the time that takes, is
// no job (no Target, no Arrived), and from then on the unit patrols round
// the spot — a post for those on foot, a 1 km beat for vehicles — and goes
// back there after a job.
func TestMoverReposition(t *testing.T) {
	c := city.Changsha()
	for _, tc := range []struct {
		ty      protocol.UnitType
		bearing float64
		distM   float64
		dt      time.Duration
		zoneM   float64 // how far round the spot it patrols
		kind    PatternKind
	}{
		{protocol.TypeCar, 30, 3000, time.Second, moveUpZoneVehicleM, PatternArea},
		{protocol.TypeMotorcycle, 250, 5000, 2 * time.Second, moveUpZoneVehicleM, PatternArea},
		{protocol.TypeFoot, 120, 700, time.Second, postWalkM, PatternPost},
		{protocol.TypeVolunteer, 350, 500, 3 * time.Second, postWalkM, PatternPost},
	} {
		t.Run(string(tc.ty), func(t *testing.T) {
			m := moversOf(c, tc.ty, 1, 23)[0]
			m.Step(time.Minute)
			spot := city.Offset(m.Position(), tc.distM, tc.bearing)
			d := m.DistanceTo(spot)
			m.Reposition(spot)
			if p, ok := m.MovingUp(); !ok || p != spot {
				t.Fatalf("MovingUp %v %v", p, ok)
			}
			if _, ok := m.Target(); ok || m.Arrived() {
				t.Fatal("a move-up is a job")
			}
			want := d / ResponseSpeed(tc.ty)
			var elapsed float64
			for {
				_, v, h := m.Step(tc.dt)
				elapsed += tc.dt.Seconds()
				if v > ResponseSpeed(tc.ty)+1e-9 {
					t.Fatalf("%v m/s", v)
				}
				if _, ok := m.MovingUp(); !ok {
					break
				}
				if math.Abs(angleDiff(h, tc.bearing)) > 0.5 {
					t.Fatalf("heading %v; want %v", h, tc.bearing)
				}
				if elapsed > 2*want+60 {
					t.Fatalf("not there after %.0f s", elapsed)
				}
			}
			if elapsed < want || elapsed >= want+tc.dt.Seconds() {
				t.Errorf("%.0f m in %.1f s; want %.1f s (within a step of %v)", d, elapsed, want, tc.dt)
			}
			if m.Pattern() != tc.kind || m.PatternName() == "" || m.Arrived() {
				t.Errorf("pattern %v %q, arrived %v", m.Pattern(), m.PatternName(), m.Arrived())
			}
			// Patrolling round the spot, and moving: not parked on it.
			far := 0.0
			for range 2000 {
				p, _, _ := m.Step(5 * time.Second)
				dd := city.DistanceM(p, spot)
				if dd > tc.zoneM+1 {
					t.Fatalf("%s: %.0f m from the spot", m.PatternName(), dd)
				}
				far = math.Max(far, dd)
			}
			if far < 20 {
				t.Errorf("%s: never more than %.0f m from the spot", m.PatternName(), far)
			}
			// A job, and back to the spot's pattern after it.
			m.GoTo(city.Offset(spot, 2*tc.zoneM, 90))
			for !m.Arrived() {
				m.Step(5 * time.Second)
			}
			m.Patrol()
			var took time.Duration
			for m.offPattern(m.Position()) > 1 {
				m.Step(time.Second)
				if took += time.Second; took > 2*time.Hour {
					t.Fatalf("%s: not back round the spot", m.PatternName())
				}
			}
		})
	}
}

// TestMoverRepositionInterrupted: a dispatch (GoTo) ends the move-up, and
// the job's end sends the unit back to its old pattern; a move-up called
// off (Patrol) does the same; one to where the unit is settles at once.
func TestMoverRepositionInterrupted(t *testing.T) {
	c := city.Changsha()
	for _, stop := range []string{"job", "called off"} {
		m := moversOf(c, protocol.TypeCar, 1, 29)[0]
		m.Step(time.Minute)
		name := m.PatternName()
		home := m.Position()
		spot := city.Offset(home, 4000, 180)
		m.Reposition(spot)
		m.Step(time.Minute) // 500 m on the way
		switch stop {
		case "job":
			m.GoTo(city.Offset(m.Position(), 300, 90))
			if _, ok := m.MovingUp(); ok {
				t.Fatal("still moving up with a job")
			}
			for !m.Arrived() {
				m.Step(time.Second)
			}
			m.Patrol()
		case "called off":
			m.Patrol()
		}
		if _, ok := m.MovingUp(); ok || m.PatternName() != name {
			t.Errorf("%s: pattern %q, want the old %q", stop, m.PatternName(), name)
		}
		for range 600 {
			m.Step(10 * time.Second)
		}
		if m.offPattern(m.Position()) > 1 || city.DistanceM(m.Position(), spot) < 1000 {
			t.Errorf("%s: at %v, %.0f m off the old pattern", stop, m.Position(), m.offPattern(m.Position()))
		}
	}
	m := moversOf(c, protocol.TypeFoot, 1, 31)[0]
	here := m.Position()
	m.Reposition(here)
	if _, moving := m.MovingUp(); moving || m.Pattern() != PatternPost || m.offPattern(here) != 0 {
		t.Errorf("a move-up to where it is: moving %v, %v", moving, m.PatternName())
	}
}

// moverOf is the first of a seed's movers of type ty on pattern kind.
func moverOf(t *testing.T, c *city.Model, ty protocol.UnitType, kind PatternKind, seed uint64) *Mover {
	t.Helper()
	for _, m := range moversOf(c, ty, 40, seed) {
		if m.Pattern() == kind {
			return m
		}
	}
	t.Fatalf("no %s on a %v among 40", ty, kind)
	return nil
}

// TestMoverLapse: a lapsing unit (additive, 2026-12) keeps its Beat as
// given but not its pattern — at a post it is mostly 300–600 m away; on a
// route it keeps to a quarter to two fifths of it; from an area it has
// wandered beyond the zone's edge — and a move-up ends the lapse.
func TestMoverLapse(t *testing.T) {
	c := city.Changsha()
	for _, tc := range []struct {
		ty   protocol.UnitType
		kind PatternKind
	}{
		{protocol.TypeFoot, PatternPost},
		{protocol.TypeCar, PatternRoute},
		{protocol.TypeMotorcycle, PatternRoute},
		{protocol.TypeVolunteer, PatternArea},
		{protocol.TypeCar, PatternArea},
	} {
		t.Run(string(tc.ty)+"/"+tc.kind.String(), func(t *testing.T) {
			m := moverOf(t, c, tc.ty, tc.kind, 5)
			beat := m.Beat()
			if beat.Kind != tc.kind || beat.Name != m.PatternName() || beat.Anchor != m.anchor || beat.RadiusM != m.radiusM || len(beat.Route) != len(m.route) {
				t.Fatalf("beat %+v of %s", beat, m.PatternName())
			}
			m.Lapse(c)
			m.Lapse(c) // once is enough
			if !m.Lapsing() || m.PatternName() == beat.Name || !reflect.DeepEqual(m.Beat(), beat) {
				t.Fatalf("lapsing %v, %q, beat %+v", m.Lapsing(), m.PatternName(), m.Beat())
			}
			if tc.kind == PatternRoute {
				share := city.PolylineLength(m.route) / city.PolylineLength(beat.Route)
				if share < lapseRouteMin-0.01 || share > lapseRouteMax+0.01 {
					t.Errorf("drives %.2f of its route", share)
				}
				for _, p := range m.route {
					if q, _ := nearestOnPolyline(beat.Route, p); city.DistanceM(p, q) > 1 {
						t.Fatalf("its part of the route leaves the route at %v", p)
					}
				}
			}
			const dt = 10 * time.Second
			steps, off := 0, 0
			for range int(4 * time.Hour / dt) {
				p, _, _ := m.Step(dt)
				steps++
				switch tc.kind {
				case PatternPost:
					if city.DistanceM(p, beat.Anchor) > 100 {
						off++
					}
				case PatternRoute:
					if d := m.offPattern(p); d > 1 {
						t.Fatalf("%.0f m off its part of the route", d)
					}
				case PatternArea:
					if city.DistanceM(p, beat.Anchor) > beat.RadiusM {
						off++
					}
				}
			}
			switch {
			case tc.kind == PatternPost && float64(off) < 0.7*float64(steps),
				tc.kind == PatternArea && off != steps: // wandered out, and no job brought it back
				t.Errorf("%s: off its beat %d of %d steps", m.PatternName(), off, steps)
			}
			// A move-up is an order: the unit patrols round the spot.
			spot := city.Offset(m.Position(), 2000, 45)
			m.Reposition(spot)
			for range 1000 {
				if _, moving := m.MovingUp(); !moving {
					break
				}
				m.Step(dt)
			}
			if m.Lapsing() || !m.MovedUp() || m.offPattern(m.Position()) > 1 || !reflect.DeepEqual(m.Beat(), beat) {
				t.Errorf("after the move-up: lapsing %v, moved up %v, %s", m.Lapsing(), m.MovedUp(), m.PatternName())
			}
		})
	}
}

// TestMoverLapseDeterministic: the same seed lapses the same way.
func TestMoverLapseDeterministic(t *testing.T) {
	c := city.Changsha()
	run := func() city.Point {
		m := moversOf(c, protocol.TypeVolunteer, 3, 77)[1]
		m.Lapse(c)
		for range 1000 {
			m.Step(3 * time.Second)
		}
		return m.Position()
	}
	if a, b := run(), run(); a != b {
		t.Errorf("same seed, different places: %v, %v", a, b)
	}
}

func TestSubPolyline(t *testing.T) {
	line := []city.Point{{Lat: 28, Lon: 113}, {Lat: 28, Lon: 113.01}, {Lat: 28.01, Lon: 113.01}}
	total := city.PolylineLength(line)
	first := city.DistanceM(line[0], line[1])
	for _, tc := range []struct{ from, to float64 }{{0, total}, {100, 200}, {first - 50, first + 50}, {0, first}, {first, total}} {
		sub := subPolyline(line, tc.from, tc.to)
		if got := city.PolylineLength(sub); math.Abs(got-(tc.to-tc.from)) > 0.5 {
			t.Errorf("%v…%v: %v m long", tc.from, tc.to, got)
		}
		if d := city.DistanceM(sub[0], pointAlong(line, tc.from)); d > 0.01 || len(sub) < 2 {
			t.Errorf("%v…%v: %v", tc.from, tc.to, sub)
		}
	}
	if p := pointAlong(line, 2*total); p != line[2] {
		t.Errorf("beyond the end: %v", p)
	}
}
