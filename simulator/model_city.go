package simulator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"kuaifan/protocol"
)

// Point is a WGS-84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Area is a district: a name and a polygon, one ring whose last vertex joins
// the first (a repeated closing vertex is dropped on load). Holes are not
// modelled: a district with a lake in it still sends patrols across the lake.
type Area struct {
	Name    string  `json:"name"`
	Polygon []Point `json:"polygon"`
}

// Contains reports whether p lies inside the polygon (even-odd ray casting,
// longitude as x). A point exactly on an edge two districts share falls in
// exactly one of them: the crossing test treats every edge as half-open.
func (a *Area) Contains(p Point) bool {
	in := false
	n := len(a.Polygon)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		pi, pj := a.Polygon[i], a.Polygon[j]
		if (pi.Lat > p.Lat) != (pj.Lat > p.Lat) {
			x := pj.Lon + (p.Lat-pj.Lat)*(pi.Lon-pj.Lon)/(pi.Lat-pj.Lat)
			if p.Lon < x {
				in = !in
			}
		}
	}
	return in
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

// CityModel is the map the simulator plays on: districts, where the police
// are (stations, posts, routes) and where incidents cluster.
type CityModel struct {
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
func (c *CityModel) District(name string) (*Area, bool) {
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
func (c *CityModel) DistrictOf(p Point) string {
	if a := c.areaOf(p); a != nil {
		return a.Name
	}
	return ""
}

func (c *CityModel) areaOf(p Point) *Area {
	for i := range c.Districts {
		if c.Districts[i].Contains(p) {
			return &c.Districts[i]
		}
	}
	return nil
}

// Bounds returns the south-west and north-east corners of everything in the
// city: districts, places, routes and hot spot centres.
func (c *CityModel) Bounds() (min, max Point) {
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

func pointBounds(ps []Point) (lo, hi Point) {
	if len(ps) == 0 {
		return Point{}, Point{}
	}
	lo, hi = ps[0], ps[0]
	for _, p := range ps[1:] {
		lo.Lat, lo.Lon = math.Min(lo.Lat, p.Lat), math.Min(lo.Lon, p.Lon)
		hi.Lat, hi.Lon = math.Max(hi.Lat, p.Lat), math.Max(hi.Lon, p.Lon)
	}
	return lo, hi
}

//go:embed citydata/changsha.json
var changshaJSON []byte

// ChangshaCity returns the built-in city: Changsha's six districts (芙蓉、天心、
// 岳麓、开福、雨花、望城) and the Xingsha part of 长沙县, with police stations,
// metro-exit posts, patrol routes along main roads and incident hot spots.
// Each call decodes a fresh copy, so callers may change theirs.
//
// The polygons are hand-drawn approximations of the built-up part of each
// district, sharing their edges so that no two overlap; the Xiang river is
// the line between Yuelu/Wangcheng (west) and the rest (east), 橘子洲 on the
// Yuelu side as it is administratively.
func ChangshaCity() *CityModel {
	c, err := ParseCity(changshaJSON)
	if err != nil {
		// The file is part of the build and TestCityBuiltinValid checks it.
		panic("simulator: built-in city: " + err.Error())
	}
	return c
}

// LoadCity reads a city from a file: our JSON form (the shape of CityModel,
// as in citydata/changsha.json) or a GeoJSON FeatureCollection, whose features
// carry properties.kind: Polygon "district" (outer ring only), Point
// "station", "post" or "hotspot" (with weight, radius_m, kinds), LineString
// "route"; every feature has properties.name, places and routes may name
// their district. GeoJSON coordinates are [lon, lat]. The model is validated
// (see CityModel.Validate); errors name the feature at fault.
func LoadCity(path string) (*CityModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simulator: city: %w", err)
	}
	c, err := parseCity(b)
	if err != nil {
		return nil, fmt.Errorf("simulator: city %s: %w", path, err)
	}
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return c, nil
}

// ParseCity is LoadCity on bytes already read.
func ParseCity(data []byte) (*CityModel, error) {
	c, err := parseCity(data)
	if err != nil {
		return nil, fmt.Errorf("simulator: city: %w", err)
	}
	return c, nil
}

func parseCity(data []byte) (*CityModel, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	var c *CityModel
	var err error
	switch probe.Type {
	case "":
		c, err = decodeCityJSON(data)
	case "FeatureCollection":
		c, err = decodeCityGeoJSON(data)
	default:
		return nil, fmt.Errorf("GeoJSON %q: want a FeatureCollection", probe.Type)
	}
	if err != nil {
		return nil, err
	}
	if err := c.normalise(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeCityJSON refuses unknown fields: in a hand-written file "station"
// for "stations" would otherwise silently leave the city without police.
func decodeCityJSON(data []byte) (*CityModel, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c CityModel
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil // trailing data was refused by parseCity's probe
}

type geoCollection struct {
	Name     string            `json:"name"` // a common foreign member
	Features []json.RawMessage `json:"features"`
}

type geoFeature struct {
	Type     string `json:"type"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	Properties struct {
		Kind     string   `json:"kind"`
		Name     string   `json:"name"`
		District string   `json:"district"`
		Weight   float64  `json:"weight"`
		RadiusM  float64  `json:"radius_m"`
		Kinds    []string `json:"kinds"`
	} `json:"properties"`
}

// decodeCityGeoJSON is lenient about foreign members (crs, bbox, styling
// properties), which GIS tools add freely, and strict about what it uses.
func decodeCityGeoJSON(data []byte) (*CityModel, error) {
	var fc geoCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, err
	}
	c := &CityModel{Name: fc.Name}
	for i, raw := range fc.Features {
		var f geoFeature
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("feature %d: %w", i, err)
		}
		label := fmt.Sprintf("feature %d", i)
		if strings.TrimSpace(f.Properties.Name) != "" {
			label = fmt.Sprintf("feature %d (%q)", i, f.Properties.Name)
		}
		if err := c.addFeature(&f); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
	}
	return c, nil
}

func (c *CityModel) addFeature(f *geoFeature) error {
	if f.Type != "Feature" {
		return fmt.Errorf("type %q: want Feature", f.Type)
	}
	if f.Geometry == nil {
		return errors.New("no geometry")
	}
	p := f.Properties
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("no properties.name")
	}
	want := map[string]string{"district": "Polygon", "station": "Point", "post": "Point", "hotspot": "Point", "route": "LineString"}[p.Kind]
	if want == "" {
		return fmt.Errorf("unknown kind %q: want district, station, post, hotspot or route", p.Kind)
	}
	if f.Geometry.Type != want {
		return fmt.Errorf("a %s is a %s, not a %s", p.Kind, want, f.Geometry.Type)
	}
	coords := f.Geometry.Coordinates
	switch want {
	case "Polygon":
		var rings [][][]float64
		if err := json.Unmarshal(coords, &rings); err != nil {
			return fmt.Errorf("coordinates: %w", err)
		}
		if len(rings) == 0 {
			return errors.New("polygon without a ring")
		}
		ring, err := geoPoints(rings[0])
		if err != nil {
			return err
		}
		c.Districts = append(c.Districts, Area{Name: p.Name, Polygon: ring})
	case "LineString":
		var line [][]float64
		if err := json.Unmarshal(coords, &line); err != nil {
			return fmt.Errorf("coordinates: %w", err)
		}
		pts, err := geoPoints(line)
		if err != nil {
			return err
		}
		c.Routes = append(c.Routes, Route{Name: p.Name, District: p.District, Points: pts})
	default:
		var pos []float64
		if err := json.Unmarshal(coords, &pos); err != nil {
			return fmt.Errorf("coordinates: %w", err)
		}
		pt, err := geoPoint(pos)
		if err != nil {
			return err
		}
		switch p.Kind {
		case "station":
			c.Stations = append(c.Stations, Place{Name: p.Name, Point: pt, District: p.District})
		case "post":
			c.Posts = append(c.Posts, Place{Name: p.Name, Point: pt, District: p.District})
		default:
			c.HotSpots = append(c.HotSpots, HotSpot{Name: p.Name, Point: pt, Weight: p.Weight, RadiusM: p.RadiusM, Kinds: p.Kinds})
		}
	}
	return nil
}

// geoPoint reads a GeoJSON position: [lon, lat] and perhaps an altitude,
// which a 2-D city ignores.
func geoPoint(pos []float64) (Point, error) {
	if len(pos) < 2 {
		return Point{}, fmt.Errorf("position %v: want [lon, lat]", pos)
	}
	return Point{Lat: pos[1], Lon: pos[0]}, nil
}

func geoPoints(ps [][]float64) ([]Point, error) {
	out := make([]Point, 0, len(ps))
	for _, pos := range ps {
		p, err := geoPoint(pos)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// normalise fills what a file may leave out: a polygon's closing vertex goes
// (Contains closes the ring itself), districts of places and routes are
// resolved to full names or found from their position, hot spots get their
// default weight and radius.
func (c *CityModel) normalise() error {
	for i := range c.Districts {
		a := &c.Districts[i]
		if n := len(a.Polygon); n > 1 && a.Polygon[0] == a.Polygon[n-1] {
			a.Polygon = a.Polygon[:n-1]
		}
	}
	for i := range c.HotSpots {
		h := &c.HotSpots[i]
		if h.Weight == 0 {
			h.Weight = defaultHotSpotWeight
		}
		if h.RadiusM == 0 {
			h.RadiusM = defaultHotSpotRadiusM
		}
	}
	// Coordinates before districts: a district lookup on a NaN is meaningless.
	if err := c.validateGeometry(); err != nil {
		return err
	}
	resolve := func(what, name, district string, at Point) (string, error) {
		if district == "" {
			return c.DistrictOf(at), nil
		}
		a, ok := c.District(district)
		if !ok {
			return "", fmt.Errorf("%s %q: unknown district %q", what, name, district)
		}
		return a.Name, nil
	}
	for _, list := range []struct {
		what   string
		places []Place
	}{{"station", c.Stations}, {"post", c.Posts}} {
		for i := range list.places {
			p := &list.places[i]
			d, err := resolve(list.what, p.Name, p.District, p.Point)
			if err != nil {
				return err
			}
			p.District = d
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		at := r.Points[0]
		for _, p := range r.Points {
			if c.DistrictOf(p) != "" {
				at = p
				break
			}
		}
		d, err := resolve("route", r.Name, r.District, at)
		if err != nil {
			return err
		}
		r.District = d
	}
	return nil
}

// Validate reports the first thing wrong with the city: at least one
// district; every name present and unique within its kind; coordinates
// finite WGS-84 degrees; polygons with three or more distinct vertices, an
// area and no crossing edges; routes of two or more points and some length;
// hot spots with a positive weight and radius and kinds of [a-z0-9_-]; the
// districts named by places and routes exist.
func (c *CityModel) Validate() error {
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

func (c *CityModel) validateGeometry() error {
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
		if err := validPoint(p.Point); err != nil {
			return fmt.Errorf("station %q: %w", p.Name, err)
		}
	}
	for _, p := range c.Posts {
		if err := validPoint(p.Point); err != nil {
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

func validPoint(p Point) error {
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
		if err := validPoint(p); err != nil {
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
		if err := validPoint(p); err != nil {
			return err
		}
	}
	if polylineLength(ps) < 1 {
		return errors.New("the route has no length")
	}
	return nil
}

func polylineLength(ps []Point) float64 {
	var s float64
	for i := 1; i < len(ps); i++ {
		s += distanceM(ps[i-1], ps[i])
	}
	return s
}

// maxHotSpotRadiusM keeps a hot spot a place, not a region.
const maxHotSpotRadiusM = 20000

func validateHotSpot(h HotSpot) error {
	if err := validPoint(h.Point); err != nil {
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

// distanceM is the great-circle distance the hub uses.
func distanceM(a, b Point) float64 {
	return protocol.Haversine(a.Lat, a.Lon, b.Lat, b.Lon)
}
