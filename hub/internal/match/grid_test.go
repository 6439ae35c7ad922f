package match

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
)

// cellSizes are grid cells of odd sizes, in metres: a few metres puts many
// cells and many search steps between units; 3,000 km puts few bands with a
// handful of columns at the poles; 30,000 km one cell for the whole Earth.
var cellSizes = []float64{7, 300, cellM, 100_000, 3_000_000, 30_000_000}

func newIndexWithCells(tb testing.TB, cfg Config, cellSideM float64, units ...Unit) *Index {
	tb.Helper()
	ix, err := newIndexCell(cfg, cellSideM)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close() })
	mustUpsert(tb, ix, units...)
	return ix
}

// sameAsRank checks Query against the brute force on the same units.
func sameAsRank(tb testing.TB, ix *Index, units []Unit, q Query, cfg Config, where string) {
	tb.Helper()
	got, err := ix.Query(q)
	if err != nil {
		tb.Fatalf("%s: Query(%+v): %v", where, q, err)
	}
	if want := Rank(units, q, cfg); !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s: %d units, query %+v\n%s", where, len(units), q, diff(got, want))
	}
}

// The property test again, on grids of other cell sizes.
func TestQueryEqualsRankCellSizes(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (reproduce with: go test -run TestQueryEqualsRankCellSizes ./internal/match/ -args -seed=%d)", seed, seed)
	const fleetsPerRegion = 25
	for _, m := range cellSizes {
		newIx := func(cfg Config) (*Index, error) { return newIndexCell(cfg, m) }
		t.Run(fmt.Sprintf("cell=%gm", m), func(t *testing.T) {
			for ri, rg := range regions {
				for f := range fleetsPerRegion {
					checkFleet(t, newIx, seed, uint64(1_000_000+ri*fleetsPerRegion+f), rg, 3, 4)
					if t.Failed() {
						return
					}
				}
			}
		})
	}
}

// Units exactly on the edges of bands and columns, on ±180° and on the
// poles, and queries from the same places: bandOf, colOf and cover round the
// same way, so no unit falls between the cells a cap covers.
func TestCellBorders(t *testing.T) {
	cfg := DefaultConfig()
	for _, m := range cellSizes {
		t.Run(fmt.Sprintf("cell=%gm", m), func(t *testing.T) {
			g := newGrid(m)
			var places []pt
			for _, b := range []int32{0, 1, g.nb / 3, g.nb / 2, g.nb - 1, g.nb} {
				lat := math.Min(90, -90+float64(b)*g.dLat)
				for _, bb := range []int32{max(0, b-1), min(g.nb-1, b)} { // the columns of both bands it borders
					n := g.columns(bb)
					for _, c := range []int32{0, 1, n / 2, n - 1, n} {
						lon := math.Min(180, -180+float64(c)*360/float64(n))
						places = append(places, pt{lat, lon}, pt{lat, -lon})
					}
				}
			}
			places = append(places, pt{90, 0}, pt{-90, 0}, pt{90, 180}, pt{-90, -180}, pt{0, 180}, pt{0, -180})
			var units []Unit
			for i, p := range places {
				typ := protocol.UnitTypes[i%len(protocol.UnitTypes)]
				u := ready(fmt.Sprintf("u%03d", i), typ, p.lat, p.lon)
				if i%3 == 0 {
					u.Capabilities = []string{"medical"}
				}
				units = append(units, u)
			}
			ix := newIndexWithCells(t, cfg, m, units...)
			for i, p := range places {
				for _, d := range []float64{0, 1e-9, -1e-9, 1e-4} {
					lat := math.Max(-90, math.Min(90, p.lat+d))
					lon := math.Max(-180, math.Min(180, p.lon-d))
					for _, k := range []int{1, 4, MaxK} {
						q := Query{Lat: lat, Lon: lon, K: k, Now: now0}
						if i%2 == 0 {
							q.Needs = []string{"medical"}
						}
						sameAsRank(t, ix, units, q, cfg, fmt.Sprintf("place %d %+v", i, p))
					}
				}
			}
		})
	}
}

// An incident far from the whole fleet (the fleet's antipode, the poles, the
// other side of ±180°) still gets the fleet's nearest units, and K larger
// than the fleet gets every candidate.
func TestFarAwayIncidents(t *testing.T) {
	cfg := DefaultConfig()
	r := newRand(11, 0)
	units := benchFleet(r, 3000, now0)
	for _, m := range []float64{300, cellM, 100_000} {
		ix := newIndexWithCells(t, cfg, m, units...)
		for _, p := range []pt{
			{-changshaLat, changshaLon - 180}, // the antipode
			{90, 0}, {-90, 0}, {0, 180}, {0, -180}, {51.5, -0.1}, {-33.9, 151.2},
			{changshaLat + 1.5, changshaLon}, // just outside the city
		} {
			for _, needs := range [][]string{nil, {"medical"}, {"k9", "armed"}} {
				for _, k := range []int{1, 5, MaxK} {
					sameAsRank(t, ix, units, Query{Lat: p.lat, Lon: p.lon, K: k, Needs: needs, Now: now0}, cfg,
						fmt.Sprintf("cell %g m, at %+v", m, p))
				}
			}
		}
	}
}

// Only fresh, online, available units with a fix and every need are
// candidates, however many are asked for; an index with none answers with an
// empty list, not nil, as Rank does.
func TestFiltersWithLargeK(t *testing.T) {
	cfg := DefaultConfig()
	now := now0.UnixMilli()
	maxAge := cfg.MaxFixAge.Milliseconds()
	var units []Unit
	for i := range 40 {
		lat, lon := offset(changshaLat, changshaLon, float64(i)*150, float64(i%7)*-90)
		u := ready(fmt.Sprintf("u%02d", i), protocol.UnitTypes[i%4], lat, lon, "armed")
		switch i % 8 {
		case 1:
			u.Online = false
		case 2:
			u.Status = protocol.StatusBusy
		case 3:
			u.FixTS = now - maxAge - 1 // stale
		case 4:
			u.FixTS = now - maxAge // exactly as old as allowed
		case 5:
			u.FixTS = 0
		case 6:
			u.Capabilities = nil
		}
		units = append(units, u)
	}
	ix := newIndex(t, cfg, units...)
	for _, q := range []Query{
		{Lat: changshaLat, Lon: changshaLon, K: MaxK, Now: now0},
		{Lat: changshaLat, Lon: changshaLon, K: MaxK, Needs: []string{"armed"}, Now: now0},
		{Lat: changshaLat, Lon: changshaLon, K: MaxK, Now: now0, MaxFixAge: time.Hour},
		{Lat: changshaLat, Lon: changshaLon, K: MaxK, Now: now0.Add(time.Hour)}, // every fix stale
		{Lat: changshaLat, Lon: changshaLon, K: 3, Needs: []string{"k9"}, Now: now0},
	} {
		sameAsRank(t, ix, units, q, cfg, "filters")
	}
	if got := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: MaxK, Now: now0.Add(time.Hour)}); got == nil || len(got) != 0 {
		t.Fatalf("every fix stale: %#v, want an empty list", got)
	}
}

// A unit moving inside its cell, or changing capabilities in place, must be
// found where it is now: the cell's bounds are kept up to date, not only set
// when the unit arrived.
func TestChangesInsideACell(t *testing.T) {
	const m = 100_000
	cfg := DefaultConfig()
	g := newGrid(m)
	b := g.bandOf(0.1)
	n := g.columns(b)
	latMid := -90 + (float64(b)+0.5)*g.dLat
	dLon := 360 / float64(n)
	col := colOf(10, n)
	west, east := -180+float64(col)*dLon, -180+float64(col+1)*dLon // cell A; cell B lies east of it

	u := ready("u", protocol.TypeCar, latMid, west+dLon/2)          // the middle of A
	v := ready("v", protocol.TypeCar, latMid, east+0.35*dLon)       // in B
	q := Query{Lat: latMid, Lon: east + 0.05*dLon, K: 1, Now: now0} // in B, near A
	ix := newIndexWithCells(t, cfg, m, u, v)
	sameAsRank(t, ix, []Unit{u, v}, q, cfg, "start")

	u.Lat, u.Lon = latMid, east-0.01*dLon // still in A, now next to the query
	mustUpsert(t, ix, u)
	if got := query(t, ix, q); len(got) != 1 || got[0].Unit != "u" {
		t.Fatalf("after moving inside its cell: %v, want [u]", unitIDs(got))
	}
	sameAsRank(t, ix, []Unit{u, v}, q, cfg, "moved")

	q.Needs = []string{"medical"}
	v.Capabilities = []string{"medical"}
	mustUpsert(t, ix, v)
	sameAsRank(t, ix, []Unit{u, v}, q, cfg, "v medical")
	u.Capabilities = []string{"armed", "medical"} // same place, new capability
	mustUpsert(t, ix, u)
	if got := query(t, ix, q); len(got) != 1 || got[0].Unit != "u" {
		t.Fatalf("after gaining a capability in place: %v, want [u]", unitIDs(got))
	}
	v.Capabilities = nil
	mustUpsert(t, ix, v) // v leaves nothing behind in B's capabilities
	sameAsRank(t, ix, []Unit{u, v}, q, cfg, "v no longer medical")
}

// Past maxCapBits names, capabilities are matched by name; answers stay
// Rank's.
func TestManyCapabilityNames(t *testing.T) {
	cfg := DefaultConfig()
	r := newRand(5, 0)
	names := make([]string, maxCapBits+20)
	for i := range names {
		names[i] = fmt.Sprintf("cap-%03d", i)
	}
	units := benchFleet(r, 600, now0)
	for i := range units {
		units[i].Capabilities = nil
		for range r.IntN(4) {
			// Early units take the early names, so the late ones get no bit.
			units[i].Capabilities = append(units[i].Capabilities, names[min(len(names)-1, i/8+r.IntN(5))])
		}
	}
	ix := newIndex(t, cfg, units...)
	if len(ix.capBit) != maxCapBits {
		t.Fatalf("%d capability bits, want %d", len(ix.capBit), maxCapBits)
	}
	for i := range 300 {
		p := benchPoint(r)
		q := Query{Lat: p.lat, Lon: p.lon, K: 1 + r.IntN(10), Now: now0}
		for range 1 + r.IntN(2) {
			q.Needs = append(q.Needs, names[r.IntN(len(names))])
		}
		sameAsRank(t, ix, units, q, cfg, fmt.Sprintf("query %d, needs %s", i, strings.Join(q.Needs, ",")))
	}
}

// Removing every unit leaves no cells or bands behind, so a search over an
// emptied index costs nothing.
func TestGridEmptiesOut(t *testing.T) {
	r := newRand(3, 0)
	units := benchFleet(r, 500, now0)
	ix := newIndex(t, DefaultConfig(), units...)
	for i, u := range units {
		if i%2 == 0 {
			ix.Remove(u.ID)
			continue
		}
		u.Status = protocol.StatusBusy
		mustUpsert(t, ix, u)
	}
	if len(ix.grid.bands) != 0 || ix.ready != 0 || len(ix.capN) != 0 {
		t.Fatalf("after emptying: %d bands, ready %d, capN %v", len(ix.grid.bands), ix.ready, ix.capN)
	}
	if got := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 5, Now: now0}); got == nil || len(got) != 0 {
		t.Fatalf("empty index: %#v", got)
	}
	ids := slices.Collect(func(yield func(string) bool) {
		for id := range ix.units {
			if !yield(id) {
				return
			}
		}
	})
	if len(ids) != 250 {
		t.Fatalf("%d units known, want 250", len(ids))
	}
}

// destination is the point d radians from lat, lon on the initial bearing θ.
func destination(lat, lon, d, θ float64) pt {
	φ1, λ1 := lat*rad, lon*rad
	φ2 := math.Asin(math.Max(-1, math.Min(1, math.Sin(φ1)*math.Cos(d)+math.Cos(φ1)*math.Sin(d)*math.Cos(θ))))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(d)*math.Cos(φ1), math.Cos(d)-math.Sin(φ1)*math.Sin(φ2))
	lon2 := math.Remainder(λ2*deg, 360)
	return pt{math.Max(-90, math.Min(90, φ2*deg)), math.Max(-180, math.Min(180, lon2))}
}

// Every point of a cap lies in a cell its cover takes in, whatever the cap's
// size and wherever it is: near the poles, across ±180°, wider than a
// hemisphere.
func TestCoverHoldsCap(t *testing.T) {
	r := newRand(17, 0)
	for _, m := range cellSizes {
		g := newGrid(m)
		for i := range 4000 {
			var q pt
			switch i % 4 {
			case 0:
				q = worldPoint(r)
			case 1:
				q = pt{between(r, 80, 90) * []float64{1, -1}[r.IntN(2)], between(r, -180, 180)}
			case 2:
				q = pt{between(r, -60, 60), []float64{180, -180}[r.IntN(2)] - between(r, -1, 1)}
				q.lon = math.Max(-180, math.Min(180, q.lon))
			default:
				q = pt{between(r, -2, 2), between(r, -180, 180)}
			}
			var rho float64
			switch r.IntN(3) {
			case 0:
				rho = math.Exp(between(r, math.Log(1/protocol.EarthRadiusM), math.Log(math.Pi)))
			case 1:
				rho = between(r, 0, math.Pi)
			default: // about as far as the nearer pole, or the farther one
				rho = (90 - math.Abs(q.lat)) * rad * (1 + between(r, -1e-3, 1e-3))
				if r.IntN(2) == 0 {
					rho = math.Min(math.Pi, (90+math.Abs(q.lat))*rad*(1+between(r, -1e-3, 1e-3)))
				}
			}
			c := g.cover(q.lat, q.lon, rho)
			rim := rho
			// Where the rim reaches farthest east (west, by symmetry): the
			// longitude offset is unimodal in the bearing over 0..π.
			lonOff := func(θ float64) float64 {
				return math.Abs(math.Remainder(destination(q.lat, q.lon, rim, θ).lon-q.lon, 360))
			}
			lo, hi := 0.0, math.Pi
			for range 100 {
				a, b := lo+(hi-lo)/3, hi-(hi-lo)/3
				if lonOff(a) < lonOff(b) {
					lo = a
				} else {
					hi = b
				}
			}
			extremes := []float64{0, math.Pi, lo, -lo}
			for j := range 24 {
				var p pt
				switch {
				case j < len(extremes):
					p = destination(q.lat, q.lon, rim, extremes[j])
				case j%4 == 0:
					p = destination(q.lat, q.lon, rim, between(r, 0, 2*math.Pi))
				default:
					p = destination(q.lat, q.lon, rim*math.Sqrt(r.Float64()), between(r, 0, 2*math.Pi))
				}
				b := g.bandOf(p.lat)
				if b < c.b0 || b > c.b1 {
					t.Fatalf("cell %g m: cap at %+v radius %v rad: point %+v in band %d, cover %d..%d", m, q, rho, p, b, c.b0, c.b1)
				}
				bd := &band{idx: b, n: g.columns(b)}
				lo, hi, _ := c.columns(bd)
				col := int64(colOf(p.lon, bd.n))
				n := int64(bd.n)
				if ((col-lo)%n+n)%n > hi-lo {
					t.Fatalf("cell %g m: cap at %+v radius %v rad: point %+v in column %d of %d, cover %d..%d", m, q, rho, p, col, n, lo, hi)
				}
			}
		}
	}
}
