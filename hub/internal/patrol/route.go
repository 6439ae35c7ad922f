package patrol

import (
	"math"

	"kuaifan/protocol"
	wire "kuaifan/protocol/patrol"
)

// route is a line task's route cut into pieces of at most SampleM metres,
// each judged by its midpoint, in a local equirectangular projection
// (metres east and north of the route's centre), with a grid over the
// midpoints so that a segment of track is compared with nearby pieces
// only.
type route struct {
	lat0, lon0 float64 // the projection's centre
	kx, ky     float64 // metres per degree of longitude and latitude there
	x, y       []float64
	w          []float64 // the piece's length, metres
	length     float64   // the route's, metres (the sum of w)
	buffer     float64

	// The grid: cells of cell metres from (gx, gy); cell (i, j) holds the
	// pieces items[start[j*nx+i]:start[j*nx+i+1]].
	gx, gy, cell float64
	nx, ny       int
	start, items []int32
}

// maxCellsPerPiece bounds the grid: a long diagonal route would otherwise
// have a box of mostly empty cells.
const maxCellsPerPiece = 4

func newRoute(positions []wire.Position, buffer float64) *route {
	b := emptyBox()
	for _, p := range positions {
		b.extend(p.Lat(), p.Lon())
	}
	r := &route{lat0: (b.minLat + b.maxLat) / 2, lon0: (b.minLon + b.maxLon) / 2, buffer: buffer}
	r.ky = metresPerDegree
	r.kx = metresPerDegree * math.Cos(r.lat0*math.Pi/180)
	for i := 1; i < len(positions); i++ {
		a, z := positions[i-1], positions[i]
		// Lengths are great-circle, as the report's; the projection only
		// places the pieces.
		l := protocol.Haversine(a.Lat(), a.Lon(), z.Lat(), z.Lon())
		if l == 0 {
			continue
		}
		ax, ay := r.project(a.Lat(), a.Lon())
		zx, zy := r.project(z.Lat(), z.Lon())
		n := int(math.Ceil(l / SampleM))
		for k := range n {
			f := (float64(k) + 0.5) / float64(n)
			r.x = append(r.x, ax+f*(zx-ax))
			r.y = append(r.y, ay+f*(zy-ay))
			r.w = append(r.w, l/float64(n))
		}
		r.length += l
	}
	r.index()
	return r
}

func (r *route) project(lat, lon float64) (x, y float64) {
	return (lon - r.lon0) * r.kx, (lat - r.lat0) * r.ky
}

// index builds the grid: cells about twice the buffer wide (at least 50 m),
// wider if the route's box would need more than maxCellsPerPiece cells per
// piece.
func (r *route) index() {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := range r.x {
		minX, maxX = min(minX, r.x[i]), max(maxX, r.x[i])
		minY, maxY = min(minY, r.y[i]), max(maxY, r.y[i])
	}
	r.cell = max(2*r.buffer, 50)
	if area, most := (maxX-minX+r.cell)*(maxY-minY+r.cell), float64(maxCellsPerPiece*len(r.x)+64); area/(r.cell*r.cell) > most {
		r.cell = math.Sqrt(area / most)
	}
	r.gx, r.gy = minX, minY
	r.nx = int((maxX-minX)/r.cell) + 1
	r.ny = int((maxY-minY)/r.cell) + 1
	r.start = make([]int32, r.nx*r.ny+1)
	cellOf := func(i int) int {
		cx := min(int((r.x[i]-r.gx)/r.cell), r.nx-1)
		cy := min(int((r.y[i]-r.gy)/r.cell), r.ny-1)
		return cy*r.nx + cx
	}
	for i := range r.x {
		r.start[cellOf(i)+1]++
	}
	for c := 1; c < len(r.start); c++ {
		r.start[c] += r.start[c-1]
	}
	r.items = make([]int32, len(r.x))
	fill := make([]int32, r.nx*r.ny)
	copy(fill, r.start)
	for i := range r.x {
		c := cellOf(i)
		r.items[fill[c]] = int32(i)
		fill[c]++
	}
}

// near calls found with every piece whose midpoint is within the buffer
// of the segment from a to z (a point when they are the same fix).
func (r *route) near(a, z Fix, found func(piece int)) {
	ax, ay := r.project(a.Lat, a.Lon)
	zx, zy := r.project(z.Lat, z.Lon)
	buf := r.buffer
	i0 := int(math.Floor((min(ax, zx) - buf - r.gx) / r.cell))
	i1 := int(math.Floor((max(ax, zx) + buf - r.gx) / r.cell))
	j0 := int(math.Floor((min(ay, zy) - buf - r.gy) / r.cell))
	j1 := int(math.Floor((max(ay, zy) + buf - r.gy) / r.cell))
	if i1 < 0 || j1 < 0 || i0 >= r.nx || j0 >= r.ny {
		return
	}
	i0, j0 = max(i0, 0), max(j0, 0)
	i1, j1 = min(i1, r.nx-1), min(j1, r.ny-1)
	buf2 := buf * buf
	for j := j0; j <= j1; j++ {
		row := j * r.nx
		for _, p := range r.items[r.start[row+i0]:r.start[row+i1+1]] {
			if dist2(r.x[p], r.y[p], ax, ay, zx, zy) <= buf2 {
				found(int(p))
			}
		}
	}
}

// dist2 is the squared distance from (px, py) to the segment from (ax, ay)
// to (zx, zy), a point when they are the same.
func dist2(px, py, ax, ay, zx, zy float64) float64 {
	px, py = px-ax, py-ay
	dx, dy := zx-ax, zy-ay
	if l2 := dx*dx + dy*dy; l2 > 0 {
		// The nearest point of the segment: the projection of p onto it,
		// kept between the ends.
		t := min(max((px*dx+py*dy)/l2, 0), 1)
		px, py = px-t*dx, py-t*dy
	}
	return px*px + py*py
}
