package coverage

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
)

// matchSpeeds are match.DefaultConfig's speeds (hub/internal/match/match.go).
func matchSpeeds() map[protocol.UnitType]float64 {
	return map[protocol.UnitType]float64{
		protocol.TypeCar:        8.3,
		protocol.TypeMotorcycle: 11.1,
		protocol.TypeFoot:       1.39,
		protocol.TypeVolunteer:  1.39,
	}
}

const matchDetour = 1.4

// bruteETA is the specification: the min over units of matching's ETA rule
// at the cell centre, +Inf beyond the last tier.
func bruteETA(lat, lon float64, units []Unit, cfg Config, last time.Duration) float64 {
	best := math.Inf(1)
	for _, u := range units {
		v, ok := cfg.Speeds[u.Type]
		if !ok || !protocol.ValidLatLon(u.Lat, u.Lon) {
			continue
		}
		eta := protocol.Haversine(u.Lat, u.Lon, lat, lon) * cfg.Detour / v
		best = math.Min(best, eta)
	}
	if best > last.Seconds() {
		return math.Inf(1)
	}
	return best
}

func bruteTier(eta float64, tiers []time.Duration) int {
	for i, b := range tiers {
		if eta <= b.Seconds() {
			return i + 1
		}
	}
	return 0
}

func checkAgainstBrute(t *testing.T, g *Grid, units []Unit, cfg Config) {
	t.Helper()
	res := g.Compute(units)
	tiers := g.Tiers()
	last := tiers[len(tiers)-1]
	if len(res.ETAs) != g.Cells() {
		t.Fatalf("%d ETAs for %d cells", len(res.ETAs), g.Cells())
	}
	bad := 0
	for cell := range g.Cells() {
		lat, lon := g.Centre(cell)
		want := bruteETA(lat, lon, units, cfg, last)
		got := res.ETAs[cell]
		okETA := math.IsInf(want, 1) && math.IsInf(float64(got), 1) ||
			!math.IsInf(want, 1) && math.Abs(float64(got)-want) <= 1e-3
		wantTier := bruteTier(want, tiers)
		if !okETA || res.Tier(cell) != wantTier {
			bad++
			if bad <= 5 {
				t.Errorf("cell %d (%v, %v): ETA %v tier %d; brute force %v tier %d", cell, lat, lon, got, res.Tier(cell), want, wantTier)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d cells disagree with the brute force", bad, g.Cells())
	}
}

func TestComputeMatchesBruteForce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COVERAGE_SEED"); s != "" { // replay a logged seed
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COVERAGE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with COVERAGE_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	trials := 60
	if testing.Short() {
		trials = 15
	}
	types := protocol.UnitTypes[:]
	for trial := range trials {
		cfg := Config{
			CellM:  100 + rng.Float64()*400,
			Speeds: map[protocol.UnitType]float64{},
			Detour: 1 + rng.Float64(),
		}
		for _, ty := range types {
			if rng.IntN(5) > 0 { // sometimes a type has no speed: its units are skipped
				cfg.Speeds[ty] = 0.5 + rng.Float64()*20
			}
		}
		if len(cfg.Speeds) == 0 {
			cfg.Speeds[protocol.TypeCar] = 8.3
		}
		if rng.IntN(10) == 0 {
			cfg.Speeds[protocol.TypeCar] = 1000 // reach far beyond the box: the arcsine path, all columns
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
		h := 0.01 + rng.Float64()*0.06 // degrees: about 1..8 km
		w := h / math.Cos(lat0*math.Pi/180)
		g, err := NewGrid(lat0, lon0, lat0+h, lon0+w, cfg)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		units := make([]Unit, rng.IntN(150))
		for i := range units {
			// inside the box and up to 30 % beyond each edge
			units[i] = Unit{
				ID:   "u",
				Type: types[rng.IntN(len(types))],
				Lat:  lat0 - 0.3*h + rng.Float64()*1.6*h,
				Lon:  lon0 - 0.3*w + rng.Float64()*1.6*w,
			}
			if rng.IntN(20) == 0 { // exactly on a cell centre: ETA 0
				units[i].Lat, units[i].Lon = g.Centre(rng.IntN(g.Cells()))
			}
		}
		checkAgainstBrute(t, g, units, cfg)
	}
}

func TestComputeEdgeCases(t *testing.T) {
	base := Config{Speeds: matchSpeeds(), Detour: matchDetour}
	cases := []struct {
		name                           string
		minLat, minLon, maxLat, maxLon float64
		cfg                            Config
		units                          []Unit
	}{
		{"empty fleet", 28.1, 112.9, 28.2, 113.0, base, nil},
		{"far away unit", 28.1, 112.9, 28.2, 113.0, base, []Unit{{Type: protocol.TypeCar, Lat: 40, Lon: 100}}},
		{"unit without speed skipped", 28.1, 112.9, 28.2, 113.0,
			Config{Speeds: map[protocol.UnitType]float64{protocol.TypeCar: 8.3}, Detour: 1.4},
			[]Unit{{Type: protocol.TypeFoot, Lat: 28.15, Lon: 112.95}, {Type: protocol.TypeCar, Lat: 28.12, Lon: 112.91}}},
		{"invalid position skipped", 28.1, 112.9, 28.2, 113.0, base,
			[]Unit{{Type: protocol.TypeCar, Lat: math.NaN(), Lon: 112.95}, {Type: protocol.TypeCar, Lat: 95, Lon: 112.95}}},
		{"antimeridian neighbour", 10, 179.95, 10.05, 180, base,
			[]Unit{{Type: protocol.TypeMotorcycle, Lat: 10.02, Lon: -179.99}}},
		{"near the pole, huge reach", 80, 10, 80.05, 10.3,
			Config{Speeds: map[protocol.UnitType]float64{protocol.TypeCar: 3000}, Detour: 1, CellM: 500},
			[]Unit{{Type: protocol.TypeCar, Lat: 89.9, Lon: -170}}},
		{"one cell", 28.1, 112.9, 28.1001, 112.9001, base, []Unit{{Type: protocol.TypeFoot, Lat: 28.1, Lon: 112.9}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGrid(tc.minLat, tc.minLon, tc.maxLat, tc.maxLon, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg
			if len(cfg.Tiers) == 0 {
				cfg.Tiers = DefaultTiers()
			}
			checkAgainstBrute(t, g, tc.units, cfg)
		})
	}
}

func TestShares(t *testing.T) {
	// Foot at 1 m/s, detour 1, tiers 100 s and 300 s, 100 m cells: a unit on
	// a cell centre reaches the cells whose centres are within 100 m / 300 m.
	cfg := Config{
		CellM:  100,
		Speeds: map[protocol.UnitType]float64{protocol.TypeFoot: 1},
		Detour: 1,
		Tiers:  []time.Duration{100 * time.Second, 300 * time.Second},
	}
	g, err := NewGrid(28.0, 113.0, 28.0+11*100.0/MetresPerDegreeLat, 113.0+0.0125, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g.Rows() != 11 {
		t.Fatalf("rows %d; want 11", g.Rows())
	}
	mid := (g.Rows()/2)*g.Cols() + g.Cols()/2
	lat, lon := g.Centre(mid)
	res := g.Compute([]Unit{{ID: "f1", Type: protocol.TypeFoot, Lat: lat, Lon: lon}})

	// Count by the definition, then check Shares against the counts.
	n1, n2 := 0, 0
	for c := range g.Cells() {
		la, lo := g.Centre(c)
		d := protocol.Haversine(lat, lon, la, lo)
		if d <= 100 {
			n1++
		}
		if d <= 300 {
			n2++
		}
		if want := bruteTier(func() float64 {
			if d > 300 {
				return math.Inf(1)
			}
			return d
		}(), cfg.Tiers); res.Tier(c) != want {
			t.Errorf("cell %d at %.1f m: tier %d; want %d", c, d, res.Tier(c), want)
		}
	}
	if res.Tier(mid) != 1 || res.ETAs[mid] != 0 {
		t.Errorf("unit's own cell: tier %d ETA %v; want 1, 0", res.Tier(mid), res.ETAs[mid])
	}
	// The 100 m circle holds the centre and its 4 neighbours (diagonals are
	// ~141 m); cells are only about 100 m wide, so count rather than assume
	// more than that.
	if n1 != 5 {
		t.Errorf("%d cells within 100 m; want 5", n1)
	}
	cells := float64(g.Cells())
	approx(t, "by area", res.Shares(nil), []float64{float64(n1) / cells, float64(n2) / cells})

	// All demand on the unit's cell: everything within tier 1.
	w := make([]float64, g.Cells())
	w[mid] = 7
	approx(t, "demand on the unit", res.Shares(w), []float64{1, 1})
	// Demand split between the unit's cell and a far corner (beyond).
	w[0] = 7
	approx(t, "half beyond", res.Shares(w), []float64{0.5, 0.5})
	// Demand on the unit's cell and on one tier-2 cell.
	w = make([]float64, g.Cells())
	for c := range g.Cells() {
		if res.Tier(c) == 2 {
			w[c] = 1
			break
		}
	}
	w[mid] = 1
	approx(t, "tier 1 and tier 2", res.Shares(w), []float64{0.5, 1})
	// Zero weights: all 0.
	approx(t, "zero weights", res.Shares(make([]float64, g.Cells())), []float64{0, 0})
	if got := res.Shares(make([]float64, 3)); got != nil {
		t.Errorf("weights of the wrong length: %v; want nil", got)
	}

	empty := g.Compute(nil)
	approx(t, "empty fleet by area", empty.Shares(nil), []float64{0, 0})
	approx(t, "empty fleet weighted", empty.Shares(w), []float64{0, 0})
	for c, e := range empty.ETAs {
		if !math.IsInf(float64(e), 1) || empty.Tier(c) != 0 {
			t.Fatalf("empty fleet: cell %d ETA %v tier %d", c, e, empty.Tier(c))
		}
	}
}

func approx(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: shares %v; want %v", name, got, want)
		return
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("%s: shares %v; want %v", name, got, want)
			return
		}
	}
}

func TestNewGridErrors(t *testing.T) {
	ok := Config{Speeds: matchSpeeds(), Detour: matchDetour}
	with := func(f func(*Config)) Config {
		c := ok
		c.Speeds = matchSpeeds()
		f(&c)
		return c
	}
	cases := []struct {
		name                           string
		minLat, minLon, maxLat, maxLon float64
		cfg                            Config
		want                           string // in the error
	}{
		{"inverted latitudes", 28.3, 112.8, 28.1, 113.1, ok, "min latitude 28.3"},
		{"inverted longitudes", 28.1, 113.1, 28.3, 112.8, ok, "min longitude 113.1"},
		{"empty box", 28.1, 112.8, 28.1, 113.1, ok, "min latitude 28.1"},
		{"latitude out of range", -91, 112.8, 28.1, 113.1, ok, "-91"},
		{"NaN corner", 28.1, 112.8, math.NaN(), 113.1, ok, "NaN"},
		{"negative cell", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.CellM = -5 }), "-5 m"},
		{"NaN cell", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.CellM = math.NaN() }), "NaN m"},
		{"infinite cell", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.CellM = math.Inf(1) }), "+Inf m"},
		{"detour below 1", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Detour = 0.9 }), "detour factor is 0.9"},
		{"detour unset", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Detour = 0 }), "detour factor is 0"},
		{"no speeds", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Speeds = nil }), "no unit speeds"},
		{"zero speed", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Speeds[protocol.TypeFoot] = 0 }), `speed of "foot" is 0`},
		{"NaN speed", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Speeds[protocol.TypeCar] = math.NaN() }), `speed of "car" is NaN`},
		{"zero tier", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.Tiers = []time.Duration{0} }), "tier 1 bound is 0s"},
		{"tiers not increasing", 28.1, 112.8, 28.3, 113.1,
			with(func(c *Config) { c.Tiers = []time.Duration{time.Minute, time.Minute} }), "tier 2 bound 1m0s is not above"},
		{"too many cells", 20, 100, 40, 120, ok, "more than 4000000 cells"},
		{"too many cells, tiny cell", 28.1, 112.8, 28.3, 113.1, with(func(c *Config) { c.CellM = 0.5 }), "more than 4000000 cells"},
		{"pole", 89.9999999, 0, 90, 10, ok, "pole"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGrid(tc.minLat, tc.minLon, tc.maxLat, tc.maxLon, tc.cfg)
			if err == nil {
				t.Fatalf("NewGrid = %d×%d grid; want an error containing %q", g.Rows(), g.Cols(), tc.want)
			}
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want ErrBadConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestNewGridShape(t *testing.T) {
	// Changsha, 40 km × 40 km at 250 m: 160 × 160 cells.
	minLat, minLon, maxLat, maxLon := box40km(28.2, 112.95)
	g, err := NewGrid(minLat, minLon, maxLat, maxLon, Config{Speeds: matchSpeeds(), Detour: matchDetour})
	if err != nil {
		t.Fatal(err)
	}
	if g.Rows() != 160 || g.Cols() != 160 || g.Cells() != 25_600 {
		t.Fatalf("%d × %d = %d cells; want 160 × 160 = 25600", g.Rows(), g.Cols(), g.Cells())
	}
	if got := g.Tiers(); len(got) != 3 || got[2] != 5*time.Minute {
		t.Fatalf("default tiers %v", got)
	}
	for _, cell := range []int{0, 161, 25_599} {
		lat, lon := g.Centre(cell)
		if c, ok := g.CellAt(lat, lon); !ok || c != cell {
			t.Errorf("CellAt(Centre(%d)) = %d, %v", cell, c, ok)
		}
	}
	if _, ok := g.CellAt(minLat-0.01, minLon); ok {
		t.Error("CellAt outside the grid reported a cell")
	}
	// Adjacent centres are about 250 m apart both ways.
	la0, lo0 := g.Centre(80*160 + 80)
	la1, lo1 := g.Centre(80*160 + 81)
	la2, lo2 := g.Centre(81*160 + 80)
	for _, d := range []float64{protocol.Haversine(la0, lo0, la1, lo1), protocol.Haversine(la0, lo0, la2, lo2)} {
		if math.Abs(d-250) > 2 {
			t.Errorf("neighbouring centres %.2f m apart; want about 250", d)
		}
	}
}

// box40km returns a 40 km × 40 km box (in the grid's own metres per degree)
// centred on lat, lon.
func box40km(lat, lon float64) (minLat, minLon, maxLat, maxLon float64) {
	dLat := 20_000.0 / MetresPerDegreeLat
	dLon := dLat / math.Cos(lat*math.Pi/180)
	return lat - dLat, lon - dLon, lat + dLat, lon + dLon
}

func benchFleet(n int, minLat, minLon, maxLat, maxLon float64) []Unit {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []protocol.UnitType{protocol.TypeCar, protocol.TypeMotorcycle, protocol.TypeFoot}
	units := make([]Unit, n)
	for i := range units {
		units[i] = Unit{
			ID:   "u",
			Type: kinds[i%len(kinds)],
			Lat:  minLat + rng.Float64()*(maxLat-minLat),
			Lon:  minLon + rng.Float64()*(maxLon-minLon),
		}
	}
	return units
}

// BenchmarkCompute10k is issue 17's target: 10,000 units over a 40 km ×
// 40 km city at 250 m cells, < 50 ms on one core (run with -cpu 1).
func BenchmarkCompute10k(b *testing.B) {
	minLat, minLon, maxLat, maxLon := box40km(28.2, 112.95)
	g, err := NewGrid(minLat, minLon, maxLat, maxLon, Config{Speeds: matchSpeeds(), Detour: matchDetour})
	if err != nil {
		b.Fatal(err)
	}
	units := benchFleet(10_000, minLat, minLon, maxLat, maxLon)
	b.ReportAllocs()
	b.ResetTimer()
	var res Result
	for b.Loop() {
		res = g.Compute(units)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
	b.ReportMetric(100*res.Shares(nil)[1], "%3min")
}
