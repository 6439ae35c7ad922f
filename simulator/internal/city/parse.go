package city

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a city from a file: our JSON form (the shape of Model, as in
// internal/city/testdata/city.json) or a GeoJSON FeatureCollection, whose
// features carry properties.kind: Polygon "district" (outer ring only), Point
// "station", "post" or "hotspot" (with weight, radius_m, kinds), LineString
// "route"; every feature has properties.name, places and routes may name
// their district. GeoJSON coordinates are [lon, lat]. The model is validated
// (see Model.Validate); errors name the feature at fault.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simulator: city: %w", err)
	}
	c, err := parse(b, nil)
	if err != nil {
		return nil, fmt.Errorf("simulator: city %s: %w", path, err)
	}
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return c, nil
}

// Parse is Load on bytes already read.
func Parse(data []byte) (*Model, error) {
	c, err := parse(data, nil)
	if err != nil {
		return nil, fmt.Errorf("simulator: city: %w", err)
	}
	return c, nil
}

// parse decodes a city; with shared districts (the built-in city's, from
// the hub's set), the file must have none of its own and gets those.
func parse(data []byte, shared []Area) (*Model, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	var c *Model
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
	if shared != nil {
		if len(c.Districts) > 0 {
			return nil, errors.New("districts of its own, where the shared set's are meant")
		}
		c.Districts = shared
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
func decodeCityJSON(data []byte) (*Model, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Model
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil // trailing data was refused by parse's probe
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
func decodeCityGeoJSON(data []byte) (*Model, error) {
	var fc geoCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, err
	}
	c := &Model{Name: fc.Name}
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

func (c *Model) addFeature(f *geoFeature) error {
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
func (c *Model) normalise() error {
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
