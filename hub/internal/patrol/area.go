package patrol

import (
	"math"

	"kuaifan/protocol/districts"
)

// area is an area task's polygon with its edges filed in latitude bands,
// so that deciding whether a fix is inside looks at the edges its
// latitude crosses only: a district's outline imported from a survey has
// thousands of vertices, and a city-wide area may be every unit's.
//
// contains decides exactly as districts.Ring.Contains does: the same
// even-odd rule, the same arithmetic per edge; the edges it skips are
// those Ring.Contains passes over for that latitude.
type area struct {
	ring         districts.Ring
	lat0, height float64 // the first band's south edge, a band's height (degrees)
	bands        int
	start        []int32 // band k's edges: edges[start[k]:start[k+1]]
	edges        []int32 // edge i joins ring[i] and the vertex before it
}

// maxBandEntries bounds the index: edges × the bands each spans.
const maxBandEntriesPerEdge = 16

func newArea(ring districts.Ring) *area {
	a := &area{ring: ring}
	minLat, maxLat := math.Inf(1), math.Inf(-1)
	for _, p := range ring {
		minLat, maxLat = min(minLat, p.Lat), max(maxLat, p.Lat)
	}
	n := len(ring)
	a.lat0 = minLat
	// About one band per edge, fewer when long edges would be filed in
	// too many of them.
	for a.bands = max(1, min(n, 4096)); ; a.bands /= 2 {
		a.height = (maxLat - minLat) / float64(a.bands)
		if a.height == 0 || a.bands == 1 || a.entries() <= maxBandEntriesPerEdge*n {
			break
		}
	}
	if a.height == 0 {
		a.bands, a.height = 1, 1
	}
	a.start = make([]int32, a.bands+1)
	a.eachEdge(func(e, k int) { a.start[k+1]++ })
	for k := 1; k <= a.bands; k++ {
		a.start[k] += a.start[k-1]
	}
	a.edges = make([]int32, a.start[a.bands])
	fill := append([]int32(nil), a.start[:a.bands]...)
	a.eachEdge(func(e, k int) {
		a.edges[fill[k]] = int32(e)
		fill[k]++
	})
	return a
}

func (a *area) band(lat float64) int {
	return min(max(int(math.Floor((lat-a.lat0)/a.height)), 0), a.bands-1)
}

// eachEdge calls f with every edge and every band its latitudes span.
// floor((lat − lat0) ÷ height) does not decrease as lat grows, in floating
// point too, so a latitude between an edge's ends falls in one of them.
func (a *area) eachEdge(f func(edge, band int)) {
	for i := range a.ring {
		p, q := a.ring[(i+len(a.ring)-1)%len(a.ring)], a.ring[i]
		for k := a.band(min(p.Lat, q.Lat)); k <= a.band(max(p.Lat, q.Lat)); k++ {
			f(i, k)
		}
	}
}

func (a *area) entries() int {
	n := 0
	for i := range a.ring {
		p, q := a.ring[(i+len(a.ring)-1)%len(a.ring)], a.ring[i]
		n += a.band(max(p.Lat, q.Lat)) - a.band(min(p.Lat, q.Lat)) + 1
	}
	return n
}

// contains is districts.Ring.Contains over the edges of lat's band.
func (a *area) contains(lat, lon float64) bool {
	in := false
	k := a.band(lat)
	for _, e := range a.edges[a.start[k]:a.start[k+1]] {
		p, q := a.ring[(int(e)+len(a.ring)-1)%len(a.ring)], a.ring[e]
		if p.Lat > q.Lat {
			p, q = q, p
		}
		if p.Lat <= lat && lat < q.Lat {
			x := p.Lon + (lat-p.Lat)*(q.Lon-p.Lon)/(q.Lat-p.Lat)
			if lon < x {
				in = !in
			}
		}
	}
	return in
}
