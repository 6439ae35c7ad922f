package ui

import (
	"cmp"
	"encoding/json"
	"fmt"

	"kuaifan/protocol"
)

// The city's districts, drawn on the vector background and used by the
// units panel's district filter, come from the hub (GET /api/districts,
// GeoJSON) after sign-in: the same polygons the hub is configured with and
// the simulator patrols.

// LatLon is a WGS-84 position.
type LatLon struct{ Lat, Lon float64 }

// District is one administrative district: names and outline (a closed ring,
// the last vertex joins the first).
type District struct {
	ID     string // stable, for filters
	ZH, EN string
	Ring   []LatLon
}

// districtAt is the index in ds of the district containing lat, lon, or -1
// outside all of them.
func districtAt(ds []District, lat, lon float64) int {
	for i := range ds {
		if inRing(ds[i].Ring, lat, lon) {
			return i
		}
	}
	return -1
}

// ParseDistricts reads the hub's GET /api/districts: a GeoJSON
// FeatureCollection of Polygons with properties id, name_zh and name_en
// (name when either is missing), rings of [lon, lat]. Only the outer ring
// is kept, without its closing repeat. A feature the dashboard cannot draw
// (another geometry, no id, fewer than three positions, a position that is
// not WGS-84) is an error: the hub validates the file it serves, so this
// means a hub and a dashboard that do not agree.
func ParseDistricts(data []byte) ([]District, error) {
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Properties struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				NameZH string `json:"name_zh"`
				NameEN string `json:"name_en"`
			} `json:"properties"`
			Geometry struct {
				Type        string        `json:"type"`
				Coordinates [][][]float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("districts: %w", err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("districts: GeoJSON type %q, want a FeatureCollection", fc.Type)
	}
	ds := make([]District, 0, len(fc.Features))
	for i, f := range fc.Features {
		p := f.Properties
		d := District{ID: p.ID, ZH: cmp.Or(p.NameZH, p.Name), EN: cmp.Or(p.NameEN, p.Name)}
		if d.ID == "" || f.Geometry.Type != "Polygon" || len(f.Geometry.Coordinates) == 0 {
			return nil, fmt.Errorf("districts: feature %d: want an id and a Polygon", i+1)
		}
		for _, pos := range f.Geometry.Coordinates[0] {
			if len(pos) < 2 || !protocol.ValidLatLon(pos[1], pos[0]) {
				return nil, fmt.Errorf("districts: %s: position %v is not [lon, lat]", d.ID, pos)
			}
			d.Ring = append(d.Ring, LatLon{Lat: pos[1], Lon: pos[0]})
		}
		if n := len(d.Ring); n > 1 && d.Ring[0] == d.Ring[n-1] {
			d.Ring = d.Ring[:n-1]
		}
		if len(d.Ring) < 3 {
			return nil, fmt.Errorf("districts: %s: %d positions, want at least 3", d.ID, len(d.Ring))
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// inRing is the even-odd rule: a ray from the point eastwards crosses the
// ring's edges an odd number of times if the point is inside.
func inRing(ring []LatLon, lat, lon float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a.Lat > lat) != (b.Lat > lat) {
			x := a.Lon + (lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
			if lon < x {
				in = !in
			}
		}
	}
	return in
}

// centroid is the vertex average: where the district's name is drawn.
func (d *District) centroid() LatLon {
	var c LatLon
	for _, p := range d.Ring {
		c.Lat += p.Lat
		c.Lon += p.Lon
	}
	n := float64(len(d.Ring))
	return LatLon{c.Lat / n, c.Lon / n}
}

// Name is the district's name in lang.
func (d *District) Name(lang Lang) string {
	if lang == ZH {
		return d.ZH
	}
	return d.EN
}
