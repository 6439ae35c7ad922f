package match

import (
	"math"
	"slices"

	"kuaifan/protocol"
)

// cellM is the side of a grid cell in metres, roughly. City fleets hold 4 to
// 40 ready units per km², so a query for a handful of candidates reads a few
// cells of tens of units each: few cells to find, little to read in each.
const cellM = 1000

const (
	deg = 180 / math.Pi
	rad = math.Pi / 180
)

// grid holds the ready units in cells: latitude bands of equal height, each
// cut into columns about as wide as the band is high at its equatorward edge.
// So cells keep their size in metres up to the poles, where a band has a few
// columns only. Only cells holding units exist.
type grid struct {
	nb    int32   // bands from the south pole to the north pole
	dLat  float64 // band height, degrees: 180 / nb
	bands []*band // the bands with cells, by idx
}

type band struct {
	idx   int32
	n     int32   // columns around the Earth in this band
	cols  []int32 // the columns of cells, ascending
	cells []*cell // parallel to cols
}

type cell struct {
	band    *band
	col     int32
	x, y, z float64 // the centre on the unit sphere
	reach   float64 // no slot is farther from the centre (chord); grows only
	caps    uint64  // at least the union of the slots' capability bits
	slots   []slot
}

// slot is what a query reads of a ready unit, packed so that rejecting a unit
// touches nothing else.
type slot struct {
	x, y, z  float64 // position on the unit sphere
	lat, lon float64
	fixTS    int64
	caps     uint64 // capability bits, see Index.capBit
	typ      uint8  // index in protocol.UnitTypes
	id       string // the entry's, to write a candidate without reading the entry
	e        *entry
}

func newGrid(cellSideM float64) grid {
	nb := max(1, int32(math.Round(math.Pi*protocol.EarthRadiusM/cellSideM)))
	return grid{nb: nb, dLat: 180 / float64(nb)}
}

// bandOf and colOf place a position in the grid. cover uses the same
// arithmetic on the edges of a cap, so that a unit inside the cap falls in a
// band and column the cap covers: both are monotone in lat or lon.
func (g *grid) bandOf(lat float64) int32 {
	return min(g.nb-1, int32(math.Floor((lat+90)/g.dLat)))
}

func colOf(lon float64, n int32) int32 {
	return min(n-1, int32(math.Floor((lon+180)*float64(n)/360)))
}

// columns is how many columns band b has.
func (g *grid) columns(b int32) int32 {
	lo := -90 + float64(b)*g.dLat
	hi := lo + g.dLat
	var φ float64 // the equatorward edge
	switch {
	case hi < 0:
		φ = -hi
	case lo > 0:
		φ = lo
	}
	return max(1, int32(math.Floor(360*math.Cos(φ*rad)/g.dLat)))
}

// findBand returns the position of band b in g.bands, or where it would go.
func (g *grid) findBand(b int32) (int, bool) {
	return slices.BinarySearchFunc(g.bands, b, func(x *band, b int32) int { return int(x.idx - b) })
}

// insert adds e's slot to the cell of its position.
func (g *grid) insert(e *entry, s slot) {
	bi := g.bandOf(s.lat)
	i, ok := g.findBand(bi)
	if !ok {
		g.bands = slices.Insert(g.bands, i, &band{idx: bi, n: g.columns(bi)})
	}
	b := g.bands[i]
	col := colOf(s.lon, b.n)
	j, ok := slices.BinarySearch(b.cols, col)
	if !ok {
		b.cols = slices.Insert(b.cols, j, col)
		c := &cell{band: b, col: col}
		c.x, c.y, c.z = unitVector(-90+(float64(bi)+0.5)*g.dLat, -180+(float64(col)+0.5)*360/float64(b.n))
		b.cells = slices.Insert(b.cells, j, c)
	}
	c := b.cells[j]
	e.cell, e.slot = c, int32(len(c.slots))
	c.slots = append(c.slots, slot{})
	c.put(e.slot, s)
}

// put stores s at slot i, keeping rad a bound on the slots' distances.
func (c *cell) put(i int32, s slot) {
	dx, dy, dz := s.x-c.x, s.y-c.y, s.z-c.z
	c.reach = max(c.reach, math.Sqrt(dx*dx+dy*dy+dz*dz))
	c.caps |= s.caps
	c.slots[i] = s
}

// holds reports whether c is the cell of lat, lon.
func (g *grid) holds(c *cell, lat, lon float64) bool {
	return c.band.idx == g.bandOf(lat) && c.col == colOf(lon, c.band.n)
}

// remove takes e's slot out of its cell, and drops the cell and its band when
// they become empty, so a fleet that moves on leaves nothing to search behind.
func (g *grid) remove(e *entry) {
	c, i := e.cell, e.slot
	last := len(c.slots) - 1
	if int(i) != last {
		c.slots[i] = c.slots[last]
		c.slots[i].e.slot = i
	}
	c.slots[last] = slot{} // drop the pointer
	c.slots = c.slots[:last]
	e.cell, e.slot = nil, 0
	if last > 0 {
		// Units come and go: without this, every cell would soon claim
		// every capability.
		c.caps = 0
		for i := range c.slots {
			c.caps |= c.slots[i].caps
		}
		return
	}
	b := c.band
	j, _ := slices.BinarySearch(b.cols, c.col)
	b.cols = slices.Delete(b.cols, j, j+1)
	b.cells = slices.Delete(b.cells, j, j+1)
	if len(b.cols) == 0 {
		k, _ := g.findBand(b.idx)
		g.bands = slices.Delete(g.bands, k, k+1)
	}
}

// coverEps pads a cap's extent, in degrees (about a centimetre), for the
// rounding in cover and in bandOf and colOf. A unit the pad wrongly takes in
// costs a look; one wrongly left out would be a wrong answer.
const coverEps = 1e-7

// cover is the set of cells a search has read: every cell meeting the cap of
// angular radius rho around the query, and a few more. Per band it is an
// interval of columns; the intervals of a larger cap contain those of a
// smaller one, so a search reads each cell once.
type cover struct {
	ok     bool // false: nothing read yet
	all    bool // the whole Earth
	b0, b1 int32
	allLon bool    // every column of bands b0..b1
	lon    float64 // the query's
	dLon   float64 // degrees either side of lon, when !allLon
}

func (g *grid) cover(lat, lon, rho float64) cover {
	if rho >= math.Pi {
		return cover{ok: true, all: true, b0: 0, b1: g.nb - 1, allLon: true}
	}
	c := cover{ok: true, lon: lon}
	r := rho * deg
	south, north := lat-r-coverEps, lat+r+coverEps
	c.b0, c.b1 = g.bandOf(max(south, -90)), g.bandOf(min(north, 90))
	if south <= -90 || north >= 90 {
		c.allLon = true // the cap holds a pole
		return c
	}
	// The cap reaches asin(sin rho / cos lat) either side in longitude. Near
	// 1 the asin is ill-conditioned, so take every column instead.
	s := math.Sin(rho) / math.Cos(lat*rad)
	if s > 1-1e-6 {
		c.allLon = true
		return c
	}
	c.dLon = math.Asin(s)*deg + coverEps
	return c
}

// columns returns the cover's columns in band b as an unwrapped interval
// lo..hi (column k stands for k mod n), or full.
func (c *cover) columns(b *band) (lo, hi int64, full bool) {
	if c.allLon {
		return 0, int64(b.n) - 1, true
	}
	n := float64(b.n)
	lo = int64(math.Floor((c.lon - c.dLon + 180) * n / 360))
	hi = int64(math.Floor((c.lon + c.dLon + 180) * n / 360))
	if hi-lo+1 >= int64(b.n) {
		return 0, int64(b.n) - 1, true
	}
	return lo, hi, false
}

// inBands reports whether the cover reaches band b.
func (c *cover) inBands(b int32) bool { return c.ok && c.b0 <= b && b <= c.b1 }
