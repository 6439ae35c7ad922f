package ui

import (
	"fmt"

	"kuaifan/protocol/districts"
)

// The city's districts, drawn on the vector background and used by the
// units panel's district filter, come from the hub (GET /api/districts,
// GeoJSON) after sign-in: the same polygons the hub is configured with and
// the simulator patrols. Reading them and finding the district of a point
// is kuaifan/protocol/districts; what is here is the map's: names by
// language and where to write them.

// LatLon is a WGS-84 position.
type LatLon = districts.Point

// District is one administrative district: names and outline (the last
// vertex joins the first).
type District struct {
	ID     string // stable, for filters
	ZH, EN string
	Ring   districts.Ring
}

// districtAt is the index in ds of the district containing lat, lon, or -1
// outside all of them. On a border two districts share, it is exactly one
// of them (districts.Ring.Contains).
func districtAt(ds []District, lat, lon float64) int {
	for i := range ds {
		if ds[i].Ring.Contains(LatLon{Lat: lat, Lon: lon}) {
			return i
		}
	}
	return -1
}

// ParseDistricts reads the hub's GET /api/districts with the parser the hub
// reads its own file with (districts.Parse): an error means a hub and a
// dashboard that do not agree.
func ParseDistricts(data []byte) ([]District, error) {
	s, err := districts.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("districts: %w", err)
	}
	ds := make([]District, len(s.Districts))
	for i, d := range s.Districts {
		ds[i] = District{ID: d.ID, ZH: d.NameZH, EN: d.NameEN, Ring: d.Ring}
	}
	return ds, nil
}

// centroid is the vertex average: where the district's name is drawn.
func (d *District) centroid() LatLon {
	var c LatLon
	for _, p := range d.Ring {
		c.Lat += p.Lat
		c.Lon += p.Lon
	}
	n := float64(len(d.Ring))
	return LatLon{Lat: c.Lat / n, Lon: c.Lon / n}
}

// Name is the district's name in lang.
func (d *District) Name(lang Lang) string {
	if lang == ZH {
		return d.ZH
	}
	return d.EN
}
