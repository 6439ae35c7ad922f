package coverage

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/protocol"
)

// testSeed returns COVERAGE_SEED if set (to replay a logged seed), else a
// fresh one, and logs it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COVERAGE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COVERAGE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with COVERAGE_SEED=%d)", seed, seed)
	return seed
}

// randomGrid is TestComputeMatchesBruteForce's random city: random cell
// size, speeds (some types without), detour, tiers and place on Earth.
func randomGrid(t *testing.T, rng *rand.Rand) (*Grid, Config, float64, float64, float64, float64) {
	t.Helper()
	cfg := Config{
		CellM:  100 + rng.Float64()*400,
		Speeds: map[protocol.UnitType]float64{},
		Detour: 1 + rng.Float64(),
	}
	for _, ty := range protocol.UnitTypes {
		if rng.IntN(5) > 0 {
			cfg.Speeds[ty] = 0.5 + rng.Float64()*20
		}
	}
	if len(cfg.Speeds) == 0 {
		cfg.Speeds[protocol.TypeCar] = 8.3
	}
	if rng.IntN(10) == 0 {
		cfg.Speeds[protocol.TypeCar] = 1000 // reach far beyond the box
	}
	if rng.IntN(4) > 0 {
		b := time.Duration(0)
		for range 1 + rng.IntN(4) {
			b += time.Duration(10+rng.IntN(200)) * time.Second
			cfg.Tiers = append(cfg.Tiers, b)
		}
	}
	lat0 := -60 + rng.Float64()*120
	lon0 := -170 + rng.Float64()*340
	if rng.IntN(8) == 0 { // against the antimeridian: reaches wrap
		lon0 = 180 - 0.08
	}
	h := 0.01 + rng.Float64()*0.06 // degrees: about 1..8 km
	w := math.Min(h/math.Cos(lat0*math.Pi/180), 180-lon0)
	g, err := NewGrid(lat0, lon0, lat0+h, lon0+w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, cfg, lat0, lon0, h, w
}

// randomUnit places a unit in the box or up to 30 % beyond each edge
// (wrapped across the antimeridian), sometimes on a cell centre, sometimes
// with an invalid position.
func randomUnit(rng *rand.Rand, g *Grid, id string, lat0, lon0, h, w float64) Unit {
	types := protocol.UnitTypes[:]
	u := Unit{
		ID:   id,
		Type: types[rng.IntN(len(types))],
		Lat:  lat0 - 0.3*h + rng.Float64()*1.6*h,
		Lon:  lon0 - 0.3*w + rng.Float64()*1.6*w,
	}
	if u.Lon > 180 {
		u.Lon -= 360
	}
	switch rng.IntN(25) {
	case 0:
		u.Lat, u.Lon = g.Centre(rng.IntN(g.Cells()))
	case 1:
		u.Lat = math.NaN()
	}
	return u
}

// sameResult fails unless got and want agree exactly, cell by cell.
func sameResult(t *testing.T, g *Grid, what string, got, want Result) {
	t.Helper()
	bad := 0
	for c := range g.Cells() {
		if got.ETAs[c] != want.ETAs[c] || got.Tier(c) != want.Tier(c) {
			bad++
			if bad <= 5 {
				t.Errorf("%s: cell %d: ETA %v tier %d; Compute %v tier %d", what, c, got.ETAs[c], got.Tier(c), want.ETAs[c], want.Tier(c))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d cells differ from Compute", what, bad, g.Cells())
	}
}

func snapshot(r Result) Result {
	return Result{ETAs: slices.Clone(r.ETAs), tier: slices.Clone(r.tier), tiers: r.tiers}
}

func TestTrackerMatchesCompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 23))
	trials := 40
	if testing.Short() {
		trials = 10
	}
	for trial := range trials {
		g, _, lat0, lon0, h, w := randomGrid(t, rng)
		tr := NewTracker(g)
		held := map[string]Unit{}
		ids := make([]string, 1+rng.IntN(60))
		for i := range ids {
			ids[i] = "u" + strconv.Itoa(i)
		}
		units := func() []Unit {
			out := make([]Unit, 0, len(held))
			for _, id := range ids {
				if u, ok := held[id]; ok {
					out = append(out, u)
				}
			}
			return out
		}
		prev := snapshot(g.Compute(nil)) // what the last Changes saw
		var old []Result                 // snapshots handed out, with copies
		var oldCopies []Result
		for op := range 300 {
			id := ids[rng.IntN(len(ids))]
			switch k := rng.IntN(10); {
			case k < 5: // add or jump anywhere
				u := randomUnit(rng, g, id, lat0, lon0, h, w)
				tr.Set(u)
				held[id] = u
			case k < 8: // a short move, the usual update
				u, ok := held[id]
				if !ok || math.IsNaN(u.Lat) {
					continue
				}
				u.Lat += (rng.Float64() - 0.5) * h / 10
				u.Lon += (rng.Float64() - 0.5) * w / 10
				if rng.IntN(10) == 0 {
					u.Type = protocol.UnitTypes[rng.IntN(len(protocol.UnitTypes))]
				}
				tr.Set(u)
				held[id] = u
			case k < 9:
				_, want := held[id]
				if got := tr.Remove(id); got != want {
					t.Fatalf("trial %d op %d: Remove(%q) = %v; want %v", trial, op, id, got, want)
				}
				delete(held, id)
			default: // set again unchanged
				if u, ok := held[id]; ok {
					tr.Set(u)
				}
			}
			if tr.Len() != len(held) {
				t.Fatalf("trial %d op %d: Len %d; want %d", trial, op, tr.Len(), len(held))
			}
			if rng.IntN(15) > 0 && op != 299 {
				continue
			}
			got := tr.Result()
			sameResult(t, g, "trial "+strconv.Itoa(trial)+" op "+strconv.Itoa(op), got, g.Compute(units()))
			if rng.IntN(2) == 0 {
				old = append(old, got)
				oldCopies = append(oldCopies, snapshot(got))
			}
			// Changes must name exactly the cells that differ from the
			// previous call's state.
			var want []int
			for c := range g.Cells() {
				if got.ETAs[c] != prev.ETAs[c] || got.Tier(c) != prev.Tier(c) {
					want = append(want, c)
				}
			}
			if ch := tr.Changes(); !slices.Equal(ch, want) {
				t.Fatalf("trial %d op %d: Changes %v; want %v", trial, op, ch, want)
			}
			if ch := tr.Changes(); len(ch) != 0 {
				t.Fatalf("trial %d op %d: a second Changes reported %v", trial, op, ch)
			}
			prev = snapshot(got)
		}
		// Results handed out were never written afterwards.
		for k := range old {
			sameResult(t, g, "old snapshot", old[k], oldCopies[k])
		}
		gotUnits := tr.Units()
		wantUnits := units()
		slices.SortFunc(wantUnits, func(a, b Unit) int { return strings.Compare(a.ID, b.ID) })
		if len(gotUnits) != len(wantUnits) {
			t.Fatalf("trial %d: Units %d; want %d", trial, len(gotUnits), len(wantUnits))
		}
		for k := range gotUnits {
			a, b := gotUnits[k], wantUnits[k]
			if a.ID != b.ID || a.Type != b.Type || !sameFloat(a.Lat, b.Lat) || !sameFloat(a.Lon, b.Lon) {
				t.Fatalf("trial %d: Units[%d] = %+v; want %+v", trial, k, a, b)
			}
		}
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestTrackerSnapshotRace hands each Result to a reader goroutine while the
// tracker keeps moving units: with -race, a write to a handed-out Result
// would be reported.
func TestTrackerSnapshotRace(t *testing.T) {
	minLat, minLon, maxLat, maxLon := box40km(28.2, 112.95)
	g, err := NewGrid(minLat, minLon, maxLat, maxLon, Config{Speeds: matchSpeeds(), Detour: matchDetour, CellM: 1000})
	if err != nil {
		t.Fatal(err)
	}
	units := trackerFleet(300, minLat, minLon, maxLat, maxLon)
	tr := NewTracker(g)
	for _, u := range units {
		tr.Set(u)
	}
	ch := make(chan Result)
	var wg sync.WaitGroup
	wg.Go(func() {
		for r := range ch {
			sum := 0.0
			for c, e := range r.ETAs {
				sum += float64(e) + float64(r.Tier(c))
			}
			_ = r.Shares(nil)
			_ = sum
		}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		i := rng.IntN(len(units))
		units[i] = moveUnit(rng, units[i])
		tr.Set(units[i])
		ch <- tr.Result()
	}
	close(ch)
	wg.Wait()
	sameResult(t, g, "after the moves", tr.Result(), g.Compute(units))
}

func TestTrackerEmptyAndRemoveAll(t *testing.T) {
	g, err := NewGrid(28.1, 112.9, 28.2, 113.0, Config{Speeds: matchSpeeds(), Detour: matchDetour})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(g)
	sameResult(t, g, "empty", tr.Result(), g.Compute(nil))
	if ch := tr.Changes(); len(ch) != 0 {
		t.Fatalf("empty tracker changed %d cells", len(ch))
	}
	if tr.Remove("nobody") {
		t.Fatal("Remove of an unknown id reported true")
	}
	a := Unit{ID: "a", Type: protocol.TypeCar, Lat: 28.15, Lon: 112.95}
	b := Unit{ID: "b", Type: protocol.TypeCar, Lat: 28.15, Lon: 112.95} // same place: ties everywhere
	tr.Set(a)
	tr.Set(b)
	first := tr.Changes()
	if len(first) == 0 {
		t.Fatal("no changes after adding units")
	}
	tr.Remove("a") // b still gives every cell the same ETA
	if ch := tr.Changes(); len(ch) != 0 {
		t.Fatalf("removing one of two tied units changed %d cells", len(ch))
	}
	sameResult(t, g, "b alone", tr.Result(), g.Compute([]Unit{b}))
	tr.Remove("b")
	if ch := tr.Changes(); !slices.Equal(ch, first) {
		t.Fatalf("removing the last unit changed %d cells; want the %d it covered", len(ch), len(first))
	}
	sameResult(t, g, "all removed", tr.Result(), g.Compute(nil))
	if tr.Len() != 0 || len(tr.Units()) != 0 {
		t.Fatalf("Len %d after removing every unit", tr.Len())
	}
	if _, ok := tr.Unit("b"); ok {
		t.Fatal("Unit found after Remove")
	}
}

// trackerFleet is benchFleet with distinct IDs.
func trackerFleet(n int, minLat, minLon, maxLat, maxLon float64) []Unit {
	units := benchFleet(n, minLat, minLon, maxLat, maxLon)
	for i := range units {
		units[i].ID = "u" + strconv.Itoa(i)
	}
	return units
}

// moveUnit moves u 100 m to 1 km in a random direction.
func moveUnit(rng *rand.Rand, u Unit) Unit {
	d := 100 + rng.Float64()*900
	θ := rng.Float64() * 2 * math.Pi
	u.Lat += d * math.Cos(θ) / MetresPerDegreeLat
	u.Lon += d * math.Sin(θ) / (MetresPerDegreeLat * math.Cos(u.Lat*math.Pi/180))
	return u
}

// BenchmarkTrackerMove10k is the incremental target: one unit of
// BenchmarkCompute10k's fleet (10,000 units, 40 km × 40 km, 250 m cells)
// moves 100 m to 1 km per op; the target is < 1 ms per move. The
// "×target" metric is ms/op ÷ 1 ms.
func BenchmarkTrackerMove10k(b *testing.B) {
	benchTracker(b, false)
}

// BenchmarkTrackerMovePublish10k is BenchmarkTrackerMove10k with the
// hub's publishing after every move: Changes, and Result (whose arrays the
// next move then copies, 128 KB).
func BenchmarkTrackerMovePublish10k(b *testing.B) {
	benchTracker(b, true)
}

func benchTracker(b *testing.B, publish bool) {
	minLat, minLon, maxLat, maxLon := box40km(28.2, 112.95)
	g, err := NewGrid(minLat, minLon, maxLat, maxLon, Config{Speeds: matchSpeeds(), Detour: matchDetour})
	if err != nil {
		b.Fatal(err)
	}
	units := trackerFleet(10_000, minLat, minLon, maxLat, maxLon)
	tr := NewTracker(g)
	for _, u := range units {
		tr.Set(u)
	}
	tr.Changes()
	rng := rand.New(rand.NewPCG(5, 6))
	changed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		i := rng.IntN(len(units))
		units[i] = moveUnit(rng, units[i])
		tr.Set(units[i])
		if publish {
			changed += len(tr.Changes())
			_ = tr.Result()
		}
	}
	ms := float64(b.Elapsed().Nanoseconds()) / 1e6 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	b.ReportMetric(ms/1, "×target")
	if publish {
		b.ReportMetric(float64(changed)/float64(b.N), "cells/op")
	}
	b.StopTimer()
	if got, want := tr.Result(), g.Compute(units); !slices.Equal(got.ETAs, want.ETAs) {
		b.Fatal("tracker disagrees with Compute after the moves")
	}
}

// BenchmarkTrackerLoad10k is the cost of starting a Tracker with
// BenchmarkCompute10k's fleet: NewTracker and 10,000 Sets.
func BenchmarkTrackerLoad10k(b *testing.B) {
	minLat, minLon, maxLat, maxLon := box40km(28.2, 112.95)
	g, err := NewGrid(minLat, minLon, maxLat, maxLon, Config{Speeds: matchSpeeds(), Detour: matchDetour})
	if err != nil {
		b.Fatal(err)
	}
	units := trackerFleet(10_000, minLat, minLon, maxLat, maxLon)
	b.ReportAllocs()
	for b.Loop() {
		tr := NewTracker(g)
		for _, u := range units {
			tr.Set(u)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
}
