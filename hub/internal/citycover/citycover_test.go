package citycover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"kuaifan/hub/internal/coverage"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/districts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// twoDistricts is a city of two squares side by side, west and east, with
// a sliver of grid outside both (the box is theirs, the east one is shorter).
func twoDistricts(t testing.TB) *districts.Set {
	t.Helper()
	set, err := districts.Parse([]byte(`{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"west","name":"West"},"geometry":{"type":"Polygon","coordinates":[[[112.90,28.10],[112.95,28.10],[112.95,28.15],[112.90,28.15],[112.90,28.10]]]}},
{"type":"Feature","properties":{"id":"east","name":"East"},"geometry":{"type":"Polygon","coordinates":[[[112.95,28.10],[113.00,28.10],[113.00,28.13],[112.95,28.13],[112.95,28.10]]]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func gridConfig() coverage.Config {
	return coverage.Config{CellM: 500, Detour: 1.4, Speeds: map[protocol.UnitType]float64{
		protocol.TypeCar: 8.3, protocol.TypeMotorcycle: 11.1, protocol.TypeFoot: 1.39}}
}

// fleet is a settable list of free units.
type fleet struct {
	mu    sync.Mutex
	units []coverage.Unit
	calls atomic.Int64
}

func (f *fleet) set(units ...coverage.Unit) {
	f.mu.Lock()
	f.units = append([]coverage.Unit(nil), units...)
	f.mu.Unlock()
}

func (f *fleet) list(time.Time) []coverage.Unit {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]coverage.Unit(nil), f.units...)
}

func newLive(t *testing.T, f *fleet, edit func(*Config)) *Live {
	t.Helper()
	cfg := Config{Districts: twoDistricts(t), Grid: gridConfig(), Units: f.list,
		Now: func() time.Time { return time.UnixMilli(1_800_000_000_000) }}
	if edit != nil {
		edit(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func randomUnits(r *rand.Rand, n int) []coverage.Unit {
	types := []protocol.UnitType{protocol.TypeCar, protocol.TypeMotorcycle, protocol.TypeFoot, protocol.TypeVolunteer}
	units := make([]coverage.Unit, n)
	for i := range units {
		units[i] = coverage.Unit{ID: string(rune('a' + i%26)), Type: types[r.IntN(len(types))],
			Lat: 28.09 + r.Float64()*0.07, Lon: 112.89 + r.Float64()*0.12}
	}
	return units
}

// The layer's cells, shares and unit counts agree with the grid's own
// computation and with a count made cell by cell here.
func TestLayerAgreesWithGrid(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	for round := range 20 {
		f := &fleet{}
		units := randomUnits(r, r.IntN(12))
		f.set(units...)
		var incidents [][2]float64
		for range r.IntN(30) {
			incidents = append(incidents, [2]float64{28.10 + r.Float64()*0.05, 112.90 + r.Float64()*0.10})
		}
		l := newLive(t, f, func(c *Config) {
			c.Demand = func(from, to int64, visit func(lat, lon float64)) error {
				for _, p := range incidents {
					visit(p[0], p[1])
				}
				return nil
			}
		})
		l.Refresh()
		cov := l.Current()
		res := l.Grid().Compute(units)
		set := twoDistricts(t)
		nt := len(cov.TiersS)
		type acc struct {
			cells, covered []float64
			w, wCovered    []float64
		}
		newAcc := func() *acc {
			return &acc{cells: make([]float64, 1), covered: make([]float64, nt), w: make([]float64, 1), wCovered: make([]float64, nt)}
		}
		city, per := newAcc(), []*acc{newAcc(), newAcc()}
		weights := l.Weights()
		floor := wantFloor(l, incidents)
		for i := range l.Grid().Cells() {
			lat, lon := l.Grid().Centre(i)
			d := set.At(districts.Point{Lat: lat, Lon: lon})
			if d < 0 {
				if cov.Cells[i] != '-' {
					t.Fatalf("round %d: cell %d outside the city is %q", round, i, cov.Cells[i])
				}
				continue
			}
			tier := res.Tier(i)
			if want := byte('0' + tier); cov.Cells[i] != want {
				t.Fatalf("round %d: cell %d is %q, grid says tier %d", round, i, cov.Cells[i], tier)
			}
			// Weight: incidents in the cell plus the floor.
			var n float64
			for _, p := range incidents {
				if c, ok := l.Grid().CellAt(p[0], p[1]); ok && c == i {
					n++
				}
			}
			for _, a := range []*acc{city, per[d]} {
				a.cells[0]++
				a.w[0] += weights[i]
				for k := 1; k <= nt; k++ {
					if tier >= 1 && tier <= k {
						a.covered[k-1]++
						a.wCovered[k-1] += weights[i]
					}
				}
			}
			if floor == 0 && weights[i] != 1 {
				t.Fatalf("round %d: no incidents in the city, cell %d weighs %v, want 1", round, i, weights[i])
			}
			if floor > 0 && math.Abs(weights[i]-n-floor) > 1e-9 {
				t.Fatalf("round %d: cell %d weighs %v, want %v incidents + floor %v", round, i, weights[i], n, floor)
			}
		}
		check := func(name string, got api.CoverageShares, a *acc) {
			if got.Cells != int(a.cells[0]) {
				t.Fatalf("round %d %s: %d cells, counted %d", round, name, got.Cells, int(a.cells[0]))
			}
			for k := range nt {
				if want := round4(a.covered[k] / a.cells[0]); got.Area[k] != want {
					t.Fatalf("round %d %s: area share tier %d = %v, counted %v", round, name, k+1, got.Area[k], want)
				}
				if want := round4(a.wCovered[k] / a.w[0]); got.Demand[k] != want {
					t.Fatalf("round %d %s: demand share tier %d = %v, counted %v", round, name, k+1, got.Demand[k], want)
				}
			}
		}
		check("city", cov.City, city)
		for d := range per {
			check(cov.Districts[d].ID, cov.Districts[d].CoverageShares, per[d])
		}
		// Units: volunteers have no speed and are not counted by the
		// grid, but every unit handed in is counted as free.
		if cov.Units != len(units) {
			t.Fatalf("round %d: %d units, handed %d", round, cov.Units, len(units))
		}
	}
}

// wantFloor is the floor the package doc promises: DemandFloor × the mean
// count per city cell (0: no incident in the city).
func wantFloor(l *Live, incidents [][2]float64) float64 {
	n := 0
	for _, p := range incidents {
		if c, ok := l.Grid().CellAt(p[0], p[1]); ok && l.District()[c] >= 0 {
			n++
		}
	}
	return DefaultDemandFloor * float64(n) / float64(l.city)
}

// Changes lists exactly the cells whose tier changed, and applying them to
// the previous layer gives the current one; many changes send it whole.
func TestChangesAreExact(t *testing.T) {
	f := &fleet{}
	l := newLive(t, f, nil)
	l.Refresh()
	first := l.Changes()
	if first == nil || first.Cells == "" || first.Grid == nil {
		t.Fatalf("first changes: want the whole layer, got %+v", first)
	}
	if got := l.Changes(); len(got.Changes) != 0 || got.Cells != "" {
		t.Fatalf("no change since: got %d changes, cells %q", len(got.Changes), got.Cells)
	}
	before := l.Current().Cells
	f.set(coverage.Unit{ID: "m1", Type: protocol.TypeFoot, Lat: 28.12, Lon: 112.92})
	l.Refresh()
	ch := l.Changes()
	after := l.Current().Cells
	if ch.Cells != "" || len(ch.Changes) == 0 {
		t.Fatalf("one foot patrol: want a list of changes, got %d changes, cells %d bytes", len(ch.Changes), len(ch.Cells))
	}
	cells := []byte(before)
	for _, c := range ch.Changes {
		if cells[c[0]] == byte('0'+c[1]) {
			t.Fatalf("cell %d listed but unchanged", c[0])
		}
		cells[c[0]] = byte('0' + c[1])
	}
	if string(cells) != after {
		t.Fatal("the previous layer with the changes applied is not the current one")
	}
	if ch.City.Area[2] == 0 || ch.Units != 1 {
		t.Fatalf("figures in the delta: %+v", ch.City)
	}
	// A car in each district changes most cells: the whole layer again.
	f.set(coverage.Unit{ID: "c1", Type: protocol.TypeCar, Lat: 28.125, Lon: 112.925},
		coverage.Unit{ID: "c2", Type: protocol.TypeCar, Lat: 28.115, Lon: 112.975})
	l.Refresh()
	if ch := l.Changes(); ch.Cells != l.Current().Cells || ch.Grid == nil {
		t.Fatal("many changes: want the whole layer")
	}
}

// Holes are where uncovered demand concentrates: the first is the
// HoleM square with the most uncovered demand (checked against every
// square), the others do not overlap it, and none counts a covered cell.
func TestHoles(t *testing.T) {
	f := &fleet{}
	var incidents [][2]float64
	for range 20 { // a hot spot in the east district
		incidents = append(incidents, [2]float64{28.115, 112.985})
	}
	l := newLive(t, f, func(c *Config) {
		c.Demand = func(from, to int64, visit func(lat, lon float64)) error {
			for _, p := range incidents {
				visit(p[0], p[1])
			}
			return nil
		}
	})
	// Motorcycles along the middle of the city cover a band from south to
	// north; the hot spot stays uncovered.
	var band []coverage.Unit
	for lat := 28.10; lat < 28.165; lat += 0.015 {
		band = append(band, coverage.Unit{ID: fmt.Sprint("m", len(band)), Type: protocol.TypeMotorcycle, Lat: lat, Lon: 112.95})
	}
	f.set(band...)
	l.Refresh()
	cov := l.Current()
	if len(cov.Holes) < 2 || len(cov.Holes) > api.MaxCoverageHoles {
		t.Fatalf("holes: %+v", cov.Holes)
	}
	first := cov.Holes[0]
	if first.District != "east" || math.Abs(first.CentreLat-28.115) > 0.003 || math.Abs(first.CentreLon-112.985) > 0.003 {
		t.Fatalf("the biggest hole is not at the hot spot: %+v", first)
	}
	// Brute force: no square around an uncovered cell holds more
	// uncovered demand than the first hole's.
	g := l.Grid()
	weights := l.Weights()
	half := int(math.Round(HoleM / 500 / 2))
	var total float64
	for i, w := range weights {
		if l.District()[i] >= 0 {
			total += w
		}
	}
	open := func(i int) bool { c := cov.Cells[i]; return c == '0' || c == '3' }
	best := 0.0
	for i := range g.Cells() {
		if !open(i) {
			continue
		}
		var sum float64
		r, c := i/g.Cols(), i%g.Cols()
		for rr := max(0, r-half); rr <= min(g.Rows()-1, r+half); rr++ {
			for cc := max(0, c-half); cc <= min(g.Cols()-1, c+half); cc++ {
				if j := rr*g.Cols() + cc; open(j) {
					sum += weights[j]
				}
			}
		}
		best = max(best, sum/total)
	}
	if math.Abs(first.DemandShare-round4(best)) > 1e-4 {
		t.Fatalf("first hole holds %v of the demand, the best square %v", first.DemandShare, best)
	}
	var share float64
	west := false
	for i, h := range cov.Holes {
		share += h.DemandShare
		west = west || h.District == "west"
		if i > 0 && h.DemandShare > cov.Holes[i-1].DemandShare {
			t.Fatalf("holes not ordered by demand: %+v", cov.Holes)
		}
		if h.Cells == 0 || h.AreaKM2 <= 0 {
			t.Fatalf("hole %d: %+v", i, h)
		}
	}
	if !west {
		t.Fatalf("no hole west of the band: %+v", cov.Holes)
	}
	if uncovered := 1 - cov.City.Demand[1]; share > uncovered+1e-3 {
		t.Fatalf("holes hold %v of the demand, only %v is uncovered", share, uncovered)
	}
	// Everything covered: no hole.
	var all []coverage.Unit
	for lat := 28.10; lat <= 28.15; lat += 0.01 {
		for lon := 112.90; lon <= 113.00; lon += 0.01 {
			all = append(all, coverage.Unit{ID: fmt.Sprint("c", len(all)), Type: protocol.TypeMotorcycle, Lat: lat, Lon: lon})
		}
	}
	f.set(all...)
	l.Refresh()
	if h := l.Current().Holes; len(h) != 0 || l.Current().City.Area[1] != 1 {
		t.Fatalf("a covered city: holes %+v, shares %+v", h, l.Current().City)
	}
}

func TestConfigErrors(t *testing.T) {
	f := &fleet{}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"no districts", func(c *Config) { c.Districts = districts.None() }, ErrNoCity},
		{"cover tier", func(c *Config) { c.CoverTier = 4 }, nil},
		{"floor", func(c *Config) { c.DemandFloor = -1 }, nil},
		{"cell", func(c *Config) { c.Grid.CellM = -5 }, coverage.ErrBadConfig},
		{"units", func(c *Config) { c.Units = nil }, nil},
	} {
		cfg := Config{Districts: twoDistricts(t), Grid: gridConfig(), Units: f.list}
		tc.edit(&cfg)
		_, err := New(cfg)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Run recomputes soon after the fleet changes, no more than once per
// Settle, and tells OnChange; it stops with its context.
func TestRunFollowsTheFleet(t *testing.T) {
	f := &fleet{}
	changed := make(chan struct{}, 16)
	l := newLive(t, f, func(c *Config) {
		c.Now = time.Now
		c.Settle = 50 * time.Millisecond
		c.Every = time.Hour
		c.OnChange = func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	<-changed // the first computation
	f.set(coverage.Unit{ID: "c1", Type: protocol.TypeCar, Lat: 28.12, Lon: 112.93})
	for range 100 {
		l.UnitsChanged("c1") // a burst of positions
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no recomputation after the fleet changed")
	}
	if got := l.Current().Units; got != 1 {
		t.Fatalf("units %d, want 1", got)
	}
	if calls := f.calls.Load(); calls > 3 {
		t.Fatalf("a burst of 100 changes cost %d computations", calls)
	}
}

// Refreshes after a few units changed (painted one by one) and after many
// (the grid rebuilt) both give exactly the layer a full computation gives.
func TestRefreshEqualsCompute(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	f := &fleet{}
	units := randomUnits(r, 200)
	for i := range units {
		units[i].ID = fmt.Sprint("u", i)
	}
	f.set(units...)
	l := newLive(t, f, nil)
	for step := range 40 {
		changes := 1 + r.IntN(5)
		if step%7 == 6 {
			changes = 150 // most of the fleet: rebuilt
		}
		for range changes {
			i := r.IntN(len(units))
			units[i].Lat += (r.Float64() - 0.5) * 0.01
			units[i].Lon += (r.Float64() - 0.5) * 0.01
		}
		free := units[:len(units)-r.IntN(20)] // some taken, some freed again
		f.set(free...)
		l.Refresh()
		res := l.Grid().Compute(free)
		cells := l.Current().Cells
		for i := range l.Grid().Cells() {
			if cells[i] != '-' && cells[i] != byte('0'+res.Tier(i)) {
				t.Fatalf("step %d (%d changes): cell %d is %q, Compute says tier %d", step, changes, i, cells[i], res.Tier(i))
			}
		}
	}
}
