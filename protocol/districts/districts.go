// Package districts is a city's administrative districts as kuaifan shares
// them: polygons with names in Chinese and English, read from GeoJSON (Parse,
// Load), written as the hub serves them at GET /api/districts (Set.GeoJSON),
// and the district a point is in (Set.At, Ring.Contains). The hub serves a
// Set, the dashboard reads the hub's answer with Parse to draw the districts
// and file units under them, and the simulator patrols the same polygons.
//
// It uses the standard library only, so the WebAssembly dashboard imports it
// too. Changsha's districts, built in, are the package
// kuaifan/protocol/districts/changsha, which a program that only reads the
// hub's answer does not need to carry.
package districts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// District is one district.
type District struct {
	ID     string // [a-z0-9_-]{1,64}, unique in its set
	Name   string // as given, e.g. "芙蓉区 Furong"
	NameZH string
	NameEN string
	Ring   Ring // the outline: at least 3 vertices, some area; without GeoJSON's closing repeat
}

// Contains reports whether p is in the district (Ring.Contains).
func (d *District) Contains(p Point) bool { return d.Ring.Contains(p) }

// Set is a city's districts and their GeoJSON. Make one with Parse (or Load,
// or None): a Set changed after that keeps serving the GeoJSON it was made
// from.
type Set struct {
	Name      string
	Districts []District
	geojson   []byte
}

// At returns the index in s.Districts of the district containing p, -1 if
// none does. Districts are meant not to overlap; if they do, the first one
// wins.
func (s *Set) At(p Point) int {
	for i := range s.Districts {
		if s.Districts[i].Contains(p) {
			return i
		}
	}
	return -1
}

// Limits that keep a file sane.
const (
	MaxDistricts = 1000
	MaxVertices  = 10_000
)

// None is a city without districts.
func None() *Set {
	s, _ := Parse([]byte(`{"type":"FeatureCollection","features":[]}`))
	return s
}

// Load reads a GeoJSON file (see Parse).
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("districts: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("districts: %s: %w", path, err)
	}
	return s, nil
}

type featureCollection struct {
	Type     string     `json:"type"`
	Name     string     `json:"name"`
	Features []*feature `json:"features"`
}

type feature struct {
	Type       string          `json:"type"`
	ID         json.RawMessage `json:"id,omitempty"`
	Properties *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		NameZH string `json:"name_zh"`
		NameEN string `json:"name_en"`
	} `json:"properties"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
}

// Parse reads a GeoJSON FeatureCollection whose features are Polygons with
// properties.name (required), and optionally properties.id (else the
// feature's id, else made from the name: [a-z0-9_-]), name_zh and name_en
// (else both are the name). A polygon's outer ring is used; holes are not
// modelled. Positions are [lon, lat] in WGS-84 (a third number, an
// altitude, is ignored); a ring left open is closed. Anything else is
// refused with the feature's number.
func Parse(data []byte) (*Set, error) {
	var fc featureCollection
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %w", err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("GeoJSON type %q: want a FeatureCollection", fc.Type)
	}
	if len(fc.Features) > MaxDistricts {
		return nil, fmt.Errorf("%d districts; at most %d", len(fc.Features), MaxDistricts)
	}
	s := &Set{Name: fc.Name, Districts: []District{}}
	seen := map[string]bool{}
	for i, f := range fc.Features {
		d, err := district(f)
		if err != nil {
			return nil, fmt.Errorf("feature %d: %w", i+1, err)
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("feature %d: id %q used twice", i+1, d.ID)
		}
		seen[d.ID] = true
		s.Districts = append(s.Districts, d)
	}
	s.geojson = s.encode()
	return s, nil
}

func district(f *feature) (District, error) {
	var d District
	switch {
	case f == nil || f.Type != "Feature":
		return d, errors.New("not a Feature")
	case f.Properties == nil || strings.TrimSpace(f.Properties.Name) == "":
		return d, errors.New("no properties.name")
	case f.Geometry == nil:
		return d, errors.New("no geometry")
	case f.Geometry.Type != "Polygon":
		return d, fmt.Errorf("geometry %q: want a Polygon (one per district)", f.Geometry.Type)
	}
	var rings [][][]float64
	if err := json.Unmarshal(f.Geometry.Coordinates, &rings); err != nil {
		return d, fmt.Errorf("polygon coordinates: %w", err)
	}
	if len(rings) == 0 {
		return d, errors.New("a polygon without a ring")
	}
	p := f.Properties
	d.Name, d.NameZH, d.NameEN = strings.TrimSpace(p.Name), strings.TrimSpace(p.NameZH), strings.TrimSpace(p.NameEN)
	if d.NameZH == "" {
		d.NameZH = d.Name
	}
	if d.NameEN == "" {
		d.NameEN = d.Name
	}
	d.ID = p.ID
	if d.ID == "" && len(f.ID) > 0 {
		var id string
		if json.Unmarshal(f.ID, &id) == nil {
			d.ID = id
		} else {
			d.ID = string(bytes.TrimSpace(f.ID)) // a number
		}
	}
	if d.ID == "" {
		d.ID = slug(d.NameEN)
	}
	if !validID(d.ID) {
		return d, fmt.Errorf("%s: id %q: want [a-z0-9_-]{1,64}", d.Name, d.ID)
	}
	ring := rings[0]
	if len(ring) > MaxVertices {
		return d, fmt.Errorf("%s: %d vertices; at most %d", d.Name, len(ring), MaxVertices)
	}
	closed := make(Ring, 0, len(ring)+1)
	for j, pos := range ring {
		if len(pos) < 2 || len(pos) > 3 {
			return d, fmt.Errorf("%s: position %d: want [lon, lat]", d.Name, j+1)
		}
		lon, lat := pos[0], pos[1]
		if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
			return d, fmt.Errorf("%s: position %d: [%v, %v] is not WGS-84 [lon, lat]", d.Name, j+1, lon, lat)
		}
		closed = append(closed, Point{Lat: lat, Lon: lon})
	}
	if n := len(closed); n > 0 && closed[0] != closed[n-1] {
		closed = append(closed, closed[0]) // GeoJSON closes rings; accept one left open
	}
	if len(closed) < 4 {
		return d, fmt.Errorf("%s: %d positions; a ring needs at least 3 distinct ones", d.Name, len(closed)-1)
	}
	if area(closed) == 0 {
		return d, fmt.Errorf("%s: the polygon has no area", d.Name)
	}
	d.Ring = closed[:len(closed)-1] // without the closing repeat
	return d, nil
}

// validID is the pattern [a-z0-9_-]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// slug makes an id from a name: lower case ASCII letters and digits, other
// runs as "_"; "" when nothing is left (the caller refuses it).
func slug(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// area is twice the signed area of a closed ring (shoelace), in degrees².
func area(ring Ring) float64 {
	var a float64
	for i := 0; i+1 < len(ring); i++ {
		a += ring[i].Lon*ring[i+1].Lat - ring[i+1].Lon*ring[i].Lat
	}
	return a
}

// GeoJSON returns the set as the API serves it (application/geo+json): a
// FeatureCollection with the set's name, each feature a Polygon of one
// closed ring of [lon, lat], with its id and properties id, name, name_zh
// and name_en. Parse reads it back as the same set. The bytes are the set's
// own: do not modify them.
func (s *Set) GeoJSON() []byte { return s.geojson }

func (s *Set) encode() []byte {
	type props struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		NameZH string `json:"name_zh"`
		NameEN string `json:"name_en"`
	}
	type geometry struct {
		Type        string         `json:"type"`
		Coordinates [][][2]float64 `json:"coordinates"`
	}
	type feat struct {
		Type       string   `json:"type"`
		ID         string   `json:"id"`
		Properties props    `json:"properties"`
		Geometry   geometry `json:"geometry"`
	}
	out := struct {
		Type     string `json:"type"`
		Name     string `json:"name,omitempty"`
		Features []feat `json:"features"`
	}{Type: "FeatureCollection", Name: s.Name, Features: []feat{}}
	for _, d := range s.Districts {
		ring := make([][2]float64, 0, len(d.Ring)+1)
		for _, p := range d.Ring {
			ring = append(ring, [2]float64{p.Lon, p.Lat})
		}
		ring = append(ring, ring[0])
		out.Features = append(out.Features, feat{Type: "Feature", ID: d.ID,
			Properties: props{ID: d.ID, Name: d.Name, NameZH: d.NameZH, NameEN: d.NameEN},
			Geometry:   geometry{Type: "Polygon", Coordinates: [][][2]float64{ring}}})
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err) // finite numbers and strings only
	}
	return b
}
