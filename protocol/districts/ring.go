package districts

// Point is a WGS-84 position in degrees. As JSON it is {"lat":…,"lon":…},
// as kuaifan's messages write positions; GeoJSON's [lon, lat] is Parse's and
// GeoJSON's business.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Ring is a polygon's outline: its vertices in order, the last joined to the
// first. Either direction will do, and a closing repeat of the first vertex
// is allowed (it changes nothing; Parse drops GeoJSON's). Longitude
// is x and latitude y, in degrees: fine for a city, not for a polygon across
// the antimeridian or around a pole.
type Ring []Point

// Contains reports whether p lies inside the ring, by the even-odd rule: a
// ray from p eastwards crosses the outline an odd number of times. A
// self-crossing ring is inside where the rule says so; fewer than three
// vertices or a NaN coordinate contain nothing.
//
// A point on the outline is decided as a point an infinitesimal step east of
// it would be, or if that is on the outline too (an east–west edge), a yet
// smaller step north: every edge is half-open, like an interval [a, b). So
// the square with corners (0,0) and (1,1) contains exactly the points with
// 0 ≤ lat < 1 and 0 ≤ lon < 1: of its outline, the south and west edges
// without their far ends. On a slanted edge rounding may decide either way,
// but an edge is computed the same whichever way a ring runs along it, so
// when rings share an edge (the same two vertices) exactly one of them has
// a point on it: districts that share their borders and cover a region
// without overlapping claim each of its points once, vertices included.
func (r Ring) Contains(p Point) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		a, b := r[j], r[i]
		if a.Lat > b.Lat {
			a, b = b, a // south to north, so the crossing is the same for both rings of a shared edge
		}
		// The edge counts for a ray at a latitude in [a.Lat, b.Lat): an
		// east–west edge never, a vertex once for the edge leaving it
		// northwards.
		if a.Lat <= p.Lat && p.Lat < b.Lat {
			x := a.Lon + (p.Lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
			if p.Lon < x {
				in = !in
			}
		}
	}
	return in
}
