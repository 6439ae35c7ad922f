package districts_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"kuaifan/protocol/districts"
)

// P is a point, latitude first.
func P(lat, lon float64) districts.Point { return districts.Point{Lat: lat, Lon: lon} }

func TestRingContains(t *testing.T) {
	square := districts.Ring{P(0, 0), P(0, 1), P(1, 1), P(1, 0)}
	// A diamond: a ray from its centre runs through its east vertex, one
	// from west of it through both its west and east vertices.
	diamond := districts.Ring{P(0, 1), P(1, 2), P(2, 1), P(1, 0)}
	// A U: the notch is 1 < lon < 2, lat > 1; the rays at lat 1 and 3 run
	// along edges and through several vertices.
	u := districts.Ring{P(0, 0), P(0, 3), P(3, 3), P(3, 2), P(1, 2), P(1, 1), P(3, 1), P(3, 0)}
	// A pentagram, drawn point to point: its middle pentagon is crossed
	// twice (outside by the even-odd rule), its tips once.
	var star districts.Ring
	for k := range 5 {
		a := math.Pi/2 + float64(k*2%5)*2*math.Pi/5
		star = append(star, P(math.Sin(a), math.Cos(a)))
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		ring districts.Ring
		p    districts.Point
		want bool
	}{
		{"square: inside", square, P(0.5, 0.5), true},
		{"square: north of it", square, P(2, 0.5), false},
		{"square: south of it", square, P(-0.5, 0.5), false},
		{"square: west of it", square, P(0.5, -1), false},
		{"square: east of it", square, P(0.5, 1.5), false},
		{"square: on the south edge", square, P(0, 0.5), true},
		{"square: on the west edge", square, P(0.5, 0), true},
		{"square: on the north edge", square, P(1, 0.5), false},
		{"square: on the east edge", square, P(0.5, 1), false},
		{"square: south-west corner", square, P(0, 0), true},
		{"square: south-east corner", square, P(0, 1), false},
		{"square: north-west corner", square, P(1, 0), false},
		{"square: north-east corner", square, P(1, 1), false},
		{"square: west, in line with the south edge", square, P(0, -1), false},
		{"square: west, in line with the north edge", square, P(1, -1), false},
		{"square: east, in line with the south edge", square, P(0, 2), false},
		{"square: just inside", square, P(1-1e-12, 1-1e-12), true},
		{"square: just outside", square, P(-1e-12, 0.5), false},

		{"diamond: centre, the ray through a vertex", diamond, P(1, 1), true},
		{"diamond: west, the ray through two vertices", diamond, P(1, -1), false},
		{"diamond: east, in line with two vertices", diamond, P(1, 3), false},
		{"diamond: south vertex", diamond, P(0, 1), false},
		{"diamond: west vertex", diamond, P(1, 0), true},
		{"diamond: east vertex", diamond, P(1, 2), false},
		{"diamond: north vertex", diamond, P(2, 1), false},
		{"diamond: on the south-west edge", diamond, P(0.5, 0.5), true},
		{"diamond: on the north-west edge", diamond, P(1.5, 0.5), true},
		{"diamond: on the south-east edge", diamond, P(0.5, 1.5), false},
		{"diamond: on the north-east edge", diamond, P(1.5, 1.5), false},
		{"diamond: beyond a vertex's latitude", diamond, P(2, 0.5), false},

		{"U: the bottom", u, P(0.5, 1.5), true},
		{"U: the west arm", u, P(2, 0.5), true},
		{"U: the east arm", u, P(2, 2.5), true},
		{"U: in the notch", u, P(2, 1.5), false},
		{"U: the notch's floor", u, P(1, 1.5), false},
		{"U: the notch's west wall", u, P(2, 1), false},
		{"U: the notch's east wall", u, P(2, 2), true},
		{"U: the notch's south-west corner", u, P(1, 1), false},
		{"U: the notch's south-east corner", u, P(1, 2), true},
		{"U: west arm, in line with the notch's floor", u, P(1, 0.5), true},
		{"U: west of it, in line with the notch's floor", u, P(1, -1), false},
		{"U: top of the west arm", u, P(3, 0.5), false},
		{"U: above the notch, in line with the arms' tops", u, P(3, 1.5), false},

		{"pentagram: a tip", star, P(0.9, 0), true},
		{"pentagram: the middle", star, P(0, 0), false},
		{"pentagram: outside", star, P(0.9, 0.5), false},

		{"no vertices", nil, P(0, 0), false},
		{"one vertex", districts.Ring{P(0, 0)}, P(0, 0), false},
		{"two vertices", districts.Ring{P(0, 0), P(1, 1)}, P(0.5, 0.5), false},
		{"a flat ring", districts.Ring{P(0, 0), P(1, 1), P(2, 2)}, P(1, 1), false},
		{"NaN latitude", square, P(nan, 0.5), false},
		{"NaN longitude", square, P(0.5, nan), false},
	} {
		if got := tc.ring.Contains(tc.p); got != tc.want {
			t.Errorf("%s: Contains(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

// star is a random star-shaped ring around c: n vertices at rising angles,
// so it never crosses itself.
func star(r *rand.Rand, c districts.Point, size float64, n int) districts.Ring {
	angles := make([]float64, n)
	for i := range angles {
		angles[i] = r.Float64() * 2 * math.Pi
	}
	slices.Sort(angles)
	ring := make(districts.Ring, n)
	for i, a := range angles {
		rad := size * (0.2 + 0.8*r.Float64())
		ring[i] = P(c.Lat+rad*math.Sin(a), c.Lon+rad*math.Cos(a))
	}
	return ring
}

// winding is the brute force: the number of times the ring winds around p,
// from the angles its edges subtend (nonzero inside a simple ring).
func winding(ring districts.Ring, p districts.Point) int {
	var sum float64
	for i := range ring {
		a, b := ring[i], ring[(i+1)%len(ring)]
		ax, ay, bx, by := a.Lon-p.Lon, a.Lat-p.Lat, b.Lon-p.Lon, b.Lat-p.Lat
		sum += math.Atan2(ax*by-ay*bx, ax*bx+ay*by)
	}
	return int(math.Round(sum / (2 * math.Pi)))
}

// distance is how far p is from the ring's outline.
func distance(ring districts.Ring, p districts.Point) float64 {
	d := math.Inf(1)
	for i := range ring {
		a, b := ring[i], ring[(i+1)%len(ring)]
		dx, dy := b.Lon-a.Lon, b.Lat-a.Lat
		t := ((p.Lon-a.Lon)*dx + (p.Lat-a.Lat)*dy) / (dx*dx + dy*dy)
		t = max(0, min(1, t))
		d = min(d, math.Hypot(p.Lon-a.Lon-t*dx, p.Lat-a.Lat-t*dy))
	}
	return d
}

// Contains agrees with the winding number on random simple rings, for
// points not so near the outline that rounding could decide.
func TestRingContainsWinding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := P(28.2, 112.98)
	checked := 0
	for range 2000 {
		ring := star(r, c, 0.1, 3+r.IntN(30))
		for range 50 {
			p := P(c.Lat+0.2*(2*r.Float64()-1), c.Lon+0.2*(2*r.Float64()-1))
			if distance(ring, p) < 1e-9 {
				continue
			}
			checked++
			if got, want := ring.Contains(p), winding(ring, p) != 0; got != want {
				t.Fatalf("Contains(%v) = %v, winding number says %v; ring %v", p, got, want, ring)
			}
		}
	}
	if checked < 90_000 {
		t.Errorf("only %d points checked", checked)
	}
}

// Contains is the same for a ring whichever vertex it starts at, whichever
// way it runs and with or without a closing repeat, for every point: on
// vertices and edges too, where a coordinate of an integer grid puts many.
func TestRingContainsInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 1000 {
		ring := star(r, P(0, 0), 10, 3+r.IntN(12))
		if n%2 == 0 { // on a grid: points land on vertices, edges and their latitudes
			for i := range ring {
				ring[i] = P(math.Round(ring[i].Lat), math.Round(ring[i].Lon))
			}
		}
		var points []districts.Point
		for i, a := range ring {
			b := ring[(i+1)%len(ring)]
			points = append(points, a, P(a.Lat, a.Lon-1), P(a.Lat, a.Lon+0.5), P((a.Lat+b.Lat)/2, (a.Lon+b.Lon)/2))
		}
		for range 50 {
			points = append(points, P(math.Round(20*r.Float64()-10), math.Round(20*r.Float64()-10)),
				P(20*r.Float64()-10, 20*r.Float64()-10))
		}
		k := r.IntN(len(ring))
		rotated := append(slices.Clone(ring[k:]), ring[:k]...)
		reversed := slices.Clone(ring)
		slices.Reverse(reversed)
		closed := append(slices.Clone(ring), ring[0])
		for _, p := range points {
			want := ring.Contains(p)
			for _, other := range []districts.Ring{rotated, reversed, closed} {
				if other.Contains(p) != want {
					t.Fatalf("%v: %v in %v, %v in %v", p, want, ring, !want, other)
				}
			}
		}
	}
}

// Rings that tile a region, sharing their edges, claim each of its points
// exactly once, on edges and vertices too; of the region's own outline,
// only the south and west sides.
func TestRingContainsPartition(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const nx, ny = 7, 5
	lon0, lat0, dx, dy := 112.83, 28.06, 0.037, 0.051
	for range 50 {
		// A grid of quadrilaterals over a box, its inner vertices jittered.
		var v [nx + 1][ny + 1]districts.Point
		for i := range nx + 1 {
			for j := range ny + 1 {
				v[i][j] = P(lat0+float64(j)*dy, lon0+float64(i)*dx)
				if i > 0 && i < nx && j > 0 && j < ny {
					v[i][j].Lat += 0.4 * dy * (r.Float64() - 0.5)
					v[i][j].Lon += 0.4 * dx * (r.Float64() - 0.5)
				}
			}
		}
		var cells []districts.Ring
		for i := range nx {
			for j := range ny {
				cell := districts.Ring{v[i][j], v[i+1][j], v[i+1][j+1], v[i][j+1]}
				if r.IntN(2) == 0 {
					slices.Reverse(cell)
				}
				cells = append(cells, cell)
			}
		}
		owners := func(p districts.Point) int {
			n := 0
			for _, c := range cells {
				if c.Contains(p) {
					n++
				}
			}
			return n
		}
		south, north, west, east := v[0][0].Lat, v[0][ny].Lat, v[0][0].Lon, v[nx][0].Lon
		for i := range nx + 1 {
			for j := range ny + 1 {
				p, want := v[i][j], 1
				if i == nx || j == ny {
					want = 0 // the north and east sides, their corners too
				}
				if got := owners(p); got != want {
					t.Fatalf("vertex %d,%d %v: in %d cells, want %d", i, j, p, got, want)
				}
				// Along the edges to the east and north.
				for _, w := range []struct {
					ok   bool
					b    districts.Point
					want int
				}{
					{i < nx, v[min(i+1, nx)][j], 1 - b2i(j == ny)},
					{j < ny, v[i][min(j+1, ny)], 1 - b2i(i == nx)},
				} {
					if !w.ok {
						continue
					}
					for range 5 {
						f := r.Float64()
						q := P(p.Lat+f*(w.b.Lat-p.Lat), p.Lon+f*(w.b.Lon-p.Lon))
						if got := owners(q); got != w.want {
							t.Fatalf("%v, on the edge %v–%v: in %d cells, want %d", q, p, w.b, got, w.want)
						}
					}
				}
			}
		}
		for range 2000 {
			p := P(south+(north-south)*r.Float64(), west+(east-west)*r.Float64())
			if got := owners(p); got != 1 {
				t.Fatalf("%v: in %d cells", p, got)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
