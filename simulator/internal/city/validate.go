package city

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"kuaifan/protocol"
)

// Validate reports the first thing wrong with the city: at least one
// district; every name present and unique within its kind; coordinates
// finite WGS-84 degrees; polygons with three or more distinct vertices, an
// area and no crossing edges; routes of two or more points and some length;
// hot spots with a positive weight and radius and kinds of [a-z0-9_-]; the
// districts named by places and routes exist.
func (c *Model) Validate() error {
	if err := c.validateGeometry(); err != nil {
		return err
	}
	for _, p := range c.Stations {
		if _, ok := c.District(p.District); p.District != "" && !ok {
			return fmt.Errorf("station %q: unknown district %q", p.Name, p.District)
		}
	}
	for _, p := range c.Posts {
		if _, ok := c.District(p.District); p.District != "" && !ok {
			return fmt.Errorf("post %q: unknown district %q", p.Name, p.District)
		}
	}
	for _, r := range c.Routes {
		if _, ok := c.District(r.District); r.District != "" && !ok {
			return fmt.Errorf("route %q: unknown district %q", r.Name, r.District)
		}
	}
	return nil
}

// maxCityItems bounds each list: a city file is hand-made or exported from a
// GIS; a million stations is a mistake, and would make loading quadratic.
const maxCityItems = 10000

func (c *Model) validateGeometry() error {
	if len(c.Districts) == 0 {
		return errors.New("no districts")
	}
	for _, n := range []int{len(c.Districts), len(c.Stations), len(c.Posts), len(c.Routes), len(c.HotSpots)} {
		if n > maxCityItems {
			return fmt.Errorf("more than %d items of one kind", maxCityItems)
		}
	}
	names := func(what string, n int, name func(int) string) error {
		seen := make(map[string]bool, n)
		for i := range n {
			s := name(i)
			if strings.TrimSpace(s) == "" {
				return fmt.Errorf("%s %d: no name", what, i)
			}
			if seen[s] {
				return fmt.Errorf("%s %q: name used twice", what, s)
			}
			seen[s] = true
		}
		return nil
	}
	for _, err := range []error{
		names("district", len(c.Districts), func(i int) string { return c.Districts[i].Name }),
		names("station", len(c.Stations), func(i int) string { return c.Stations[i].Name }),
		names("post", len(c.Posts), func(i int) string { return c.Posts[i].Name }),
		names("route", len(c.Routes), func(i int) string { return c.Routes[i].Name }),
		names("hotspot", len(c.HotSpots), func(i int) string { return c.HotSpots[i].Name }),
	} {
		if err != nil {
			return err
		}
	}
	for _, a := range c.Districts {
		if err := validatePolygon(a.Polygon); err != nil {
			return fmt.Errorf("district %q: %w", a.Name, err)
		}
	}
	for _, p := range c.Stations {
		if err := ValidPoint(p.Point); err != nil {
			return fmt.Errorf("station %q: %w", p.Name, err)
		}
	}
	for _, p := range c.Posts {
		if err := ValidPoint(p.Point); err != nil {
			return fmt.Errorf("post %q: %w", p.Name, err)
		}
	}
	for _, r := range c.Routes {
		if err := validateRoute(r.Points); err != nil {
			return fmt.Errorf("route %q: %w", r.Name, err)
		}
	}
	for _, h := range c.HotSpots {
		if err := validateHotSpot(h); err != nil {
			return fmt.Errorf("hotspot %q: %w", h.Name, err)
		}
	}
	return nil
}

// ValidPoint returns an error unless p is a finite WGS-84 position.
func ValidPoint(p Point) error {
	if !protocol.ValidLatLon(p.Lat, p.Lon) {
		return fmt.Errorf("lat, lon %v, %v are not WGS-84 degrees", p.Lat, p.Lon)
	}
	return nil
}

// maxPolygonVertices keeps the crossing check (quadratic) cheap; a district
// needs far fewer vertices for a simulation.
const maxPolygonVertices = 2000

func validatePolygon(ps []Point) error {
	if len(ps) > maxPolygonVertices {
		return fmt.Errorf("%d vertices; at most %d", len(ps), maxPolygonVertices)
	}
	for _, p := range ps {
		if err := ValidPoint(p); err != nil {
			return err
		}
	}
	distinct := make(map[Point]bool, len(ps))
	for _, p := range ps {
		distinct[p] = true
	}
	if len(distinct) < 3 {
		return fmt.Errorf("%d distinct vertices; a polygon needs at least 3", len(distinct))
	}
	if math.Abs(polygonArea2(ps)) < 1e-12 {
		return errors.New("the polygon has no area (its vertices are on one line)")
	}
	n := len(ps)
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing edge
			}
			if segmentsCross(ps[i], ps[(i+1)%n], ps[j], ps[(j+1)%n]) {
				return fmt.Errorf("edges %d and %d cross", i, j)
			}
		}
	}
	return nil
}

// polygonArea2 is twice the signed area in square degrees (shoelace).
func polygonArea2(ps []Point) float64 {
	o := ps[0]
	var s float64
	for i := range ps {
		p, q := ps[i], ps[(i+1)%len(ps)]
		s += (p.Lon-o.Lon)*(q.Lat-o.Lat) - (q.Lon-o.Lon)*(p.Lat-o.Lat)
	}
	return s
}

// segmentsCross reports a proper crossing of segments ab and cd: touching at
// an end or overlapping along a line is not counted, so shared vertices of a
// traced outline pass.
func segmentsCross(a, b, c, d Point) bool {
	orient := func(p, q, r Point) float64 {
		return (q.Lon-p.Lon)*(r.Lat-p.Lat) - (q.Lat-p.Lat)*(r.Lon-p.Lon)
	}
	d1, d2 := orient(c, d, a), orient(c, d, b)
	d3, d4 := orient(a, b, c), orient(a, b, d)
	return (d1 > 0 && d2 < 0 || d1 < 0 && d2 > 0) && (d3 > 0 && d4 < 0 || d3 < 0 && d4 > 0)
}

func validateRoute(ps []Point) error {
	if len(ps) < 2 {
		return fmt.Errorf("%d points; a route needs at least 2", len(ps))
	}
	for _, p := range ps {
		if err := ValidPoint(p); err != nil {
			return err
		}
	}
	if PolylineLength(ps) < 1 {
		return errors.New("the route has no length")
	}
	return nil
}

// maxHotSpotRadiusM keeps a hot spot a place, not a region.
const maxHotSpotRadiusM = 20000

func validateHotSpot(h HotSpot) error {
	if err := ValidPoint(h.Point); err != nil {
		return err
	}
	if !(h.Weight > 0) || math.IsInf(h.Weight, 1) {
		return fmt.Errorf("weight %v; want a finite weight > 0", h.Weight)
	}
	if !(h.RadiusM > 0 && h.RadiusM <= maxHotSpotRadiusM) {
		return fmt.Errorf("radius_m %v; want 0 < radius ≤ %d", h.RadiusM, maxHotSpotRadiusM)
	}
	for _, k := range h.Kinds {
		if !protocol.ValidCapability(k) {
			return fmt.Errorf("kind %q is not [a-z0-9_-]{1,32}", k)
		}
	}
	return nil
}
