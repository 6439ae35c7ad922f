// Package city is the map the simulator plays on: districts as polygons,
// police stations, fixed posts, patrol routes and incident hot spots, in
// WGS-84 degrees. It loads a city from our JSON form or from GeoJSON and
// validates it; Changsha is built in (its districts are the hub's,
// kuaifan/protocol/districts/changsha; the rest is citydata/changsha.json).
// It also has the few distances and offsets on the sphere the patrols and
// the incident generator share. No I/O beyond reading a city file.
package city

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"kuaifan/protocol/districts"
	"kuaifan/protocol/districts/changsha"
	"kuaifan/simulator/citydata"
)

// Point is a WGS-84 position in degrees, {"lat":…,"lon":…} as JSON: the
// districts package's, so a district's polygon is a districts.Ring as it is.
type Point = districts.Point

// Area is a district: a name and a polygon, one ring whose last vertex joins
// the first (a repeated closing vertex is dropped on load). Holes are not
// modelled: a district with a lake in it still sends patrols across the lake.
type Area struct {
	Name    string  `json:"name"`
	Polygon []Point `json:"polygon"`
}

// Contains reports whether p lies inside the polygon: districts.Ring's
// Contains, the point-in-polygon test the hub and the dashboard use too, so
// a point exactly on an edge two districts share falls in exactly one of
// them, the same one everywhere.
func (a *Area) Contains(p Point) bool {
	return districts.Ring(a.Polygon).Contains(p)
}

// maxRejections bounds RandomPoint's attempts. A real district fills a good
// share of its bounding box, so this is never reached; a degenerate one
// (a sliver) gets its centroid rather than an endless loop.
const maxRejections = 1000

// RandomPoint returns a point uniformly distributed inside the polygon, by
// rejection sampling in its bounding box. Uniform in degrees is uniform in
// area to within the change of cos(latitude) across a district (< 0.5 % for
// a city), which no test or dispatcher can tell.
func (a *Area) RandomPoint(r *rand.Rand) Point {
	lo, hi := pointBounds(a.Polygon)
	for range maxRejections {
		p := Point{Lat: lo.Lat + r.Float64()*(hi.Lat-lo.Lat), Lon: lo.Lon + r.Float64()*(hi.Lon-lo.Lon)}
		if a.Contains(p) {
			return p
		}
	}
	return a.Centroid()
}

// Centroid returns the area-weighted centre of the polygon (the mean of its
// vertices if it has no area). It may lie outside a concave polygon.
func (a *Area) Centroid() Point {
	n := len(a.Polygon)
	if n == 0 {
		return Point{}
	}
	// Relative to the first vertex, so the products stay small and exact.
	o := a.Polygon[0]
	var area2, cx, cy float64
	for i := range n {
		p, q := a.Polygon[i], a.Polygon[(i+1)%n]
		x1, y1 := p.Lon-o.Lon, p.Lat-o.Lat
		x2, y2 := q.Lon-o.Lon, q.Lat-o.Lat
		cross := x1*y2 - x2*y1
		area2 += cross
		cx += (x1 + x2) * cross
		cy += (y1 + y2) * cross
	}
	if math.Abs(area2) < 1e-15 {
		var s Point
		for _, p := range a.Polygon {
			s.Lat += p.Lat
			s.Lon += p.Lon
		}
		return Point{Lat: s.Lat / float64(n), Lon: s.Lon / float64(n)}
	}
	return Point{Lat: o.Lat + cy/(3*area2), Lon: o.Lon + cx/(3*area2)}
}

// Place is a police station or a fixed post (a metro exit, a square).
type Place struct {
	Name string `json:"name"`
	Point
	District string `json:"district,omitempty"` // the full name of its district; filled in on load if absent
}

// Route is a patrol route: a polyline along a road, patrolled back and forth.
type Route struct {
	Name     string  `json:"name"`
	District string  `json:"district,omitempty"` // the district most of it lies in; filled in on load if absent
	Points   []Point `json:"points"`
}

// HotSpot is where incidents cluster: a commercial area, a station, a street
// of bars. Weight is its share relative to the other hot spots; Kinds are the
// incident kinds it attracts (none: any kind).
type HotSpot struct {
	Name string `json:"name"`
	Point
	Weight  float64  `json:"weight,omitempty"`   // 0 on load: 1
	RadiusM float64  `json:"radius_m,omitempty"` // 0 on load: 300
	Kinds   []string `json:"kinds,omitempty"`
}

// Defaults for a hot spot's zero fields.
const (
	defaultHotSpotWeight  = 1
	defaultHotSpotRadiusM = 300
)

// Model is the map the simulator plays on: districts, where the police
// are (stations, posts, routes) and where incidents cluster.
type Model struct {
	Name      string    `json:"name"`
	Districts []Area    `json:"districts"`
	Stations  []Place   `json:"stations,omitempty"`
	Posts     []Place   `json:"posts,omitempty"`
	Routes    []Route   `json:"routes,omitempty"`
	HotSpots  []HotSpot `json:"hotspots,omitempty"`
}

// District returns the district of that name: its full name ("芙蓉区 Furong")
// or any one of its words, ignoring case ("芙蓉区", "furong"), so scenario
// files and flags need not spell out both scripts.
func (c *Model) District(name string) (*Area, bool) {
	for i := range c.Districts {
		if c.Districts[i].Name == name {
			return &c.Districts[i], true
		}
	}
	if name == "" {
		return nil, false
	}
	for i := range c.Districts {
		for _, w := range strings.Fields(c.Districts[i].Name) {
			if strings.EqualFold(w, name) {
				return &c.Districts[i], true
			}
		}
	}
	return nil, false
}

// DistrictOf returns the full name of the district containing p, "" if none
// does. Districts are meant not to overlap; if they do, the first one wins.
func (c *Model) DistrictOf(p Point) string {
	if a := c.AreaOf(p); a != nil {
		return a.Name
	}
	return ""
}

// AreaOf returns the district containing p (the first, if they overlap), or
// nil.
func (c *Model) AreaOf(p Point) *Area {
	for i := range c.Districts {
		if c.Districts[i].Contains(p) {
			return &c.Districts[i]
		}
	}
	return nil
}

// Bounds returns the south-west and north-east corners of everything in the
// city: districts, places, routes and hot spot centres.
func (c *Model) Bounds() (min, max Point) {
	min = Point{Lat: math.Inf(1), Lon: math.Inf(1)}
	max = Point{Lat: math.Inf(-1), Lon: math.Inf(-1)}
	add := func(p Point) {
		min.Lat, min.Lon = math.Min(min.Lat, p.Lat), math.Min(min.Lon, p.Lon)
		max.Lat, max.Lon = math.Max(max.Lat, p.Lat), math.Max(max.Lon, p.Lon)
	}
	for _, a := range c.Districts {
		for _, p := range a.Polygon {
			add(p)
		}
	}
	for _, p := range c.Stations {
		add(p.Point)
	}
	for _, p := range c.Posts {
		add(p.Point)
	}
	for _, r := range c.Routes {
		for _, p := range r.Points {
			add(p)
		}
	}
	for _, h := range c.HotSpots {
		add(h.Point)
	}
	if math.IsInf(min.Lat, 1) {
		return Point{}, Point{}
	}
	return min, max
}

// Changsha returns the built-in city: Changsha's six districts (芙蓉、天心、
// 岳麓、开福、雨花、望城) and the Xingsha part of 长沙县 (Changsha County),
// with police stations, metro-exit posts, patrol routes along main roads
// and incident hot spots. Each call decodes a fresh copy, so callers may
// change theirs.
//
// The districts are the hub's own (changsha.Districts(), what GET
// /api/districts serves and the dashboard draws): hand-drawn approximations
// of the built-up part of each district, sharing their edges so that no two
// overlap; the Xiang river is the line between Yuelu/Wangcheng (west) and
// the rest (east), 橘子洲 on the Yuelu side as it is administratively. The
// rest is citydata/changsha.json, which has no districts of its own.
func Changsha() *Model {
	c, err := parse(citydata.Changsha(), Areas(changsha.Districts()))
	if err != nil {
		// The file is part of the build and TestCityBuiltinValid checks it.
		panic("simulator: built-in city: " + err.Error())
	}
	return c
}

// Areas are a district set's districts as the city's: each district's full
// name ("芙蓉区 Furong") and its ring.
func Areas(s *districts.Set) []Area {
	out := make([]Area, len(s.Districts))
	for i, d := range s.Districts {
		out[i] = Area{Name: d.Name, Polygon: slices.Clone(d.Ring)}
	}
	return out
}
