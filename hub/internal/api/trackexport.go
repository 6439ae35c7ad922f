package api

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"time"

	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

// GPX 1.1 of a unit's track (GET /api/units/{id}/track?format=gpx): one
// trk with one trkseg; speed (m/s) and course (degrees) go in Garmin's
// TrackPointExtension v2, which common readers know, when the unit sent
// them.
type gpxDoc struct {
	XMLName  xml.Name `xml:"gpx"`
	Xmlns    string   `xml:"xmlns,attr"`
	XmlnsTPX string   `xml:"xmlns:gpxtpx,attr"`
	Version  string   `xml:"version,attr"`
	Creator  string   `xml:"creator,attr"`
	Trk      gpxTrk   `xml:"trk"`
}

type gpxTrk struct {
	Name string `xml:"name"`
	Seg  gpxSeg `xml:"trkseg"`
}

type gpxSeg struct {
	Pts []gpxPt `xml:"trkpt"`
}

type gpxPt struct {
	Lat  float64     `xml:"lat,attr"`
	Lon  float64     `xml:"lon,attr"`
	Time string      `xml:"time"`
	Ext  *gpxPtExtra `xml:"extensions,omitempty"`
}

type gpxPtExtra struct {
	TPX gpxTPX `xml:"gpxtpx:TrackPointExtension"`
}

type gpxTPX struct {
	Speed  *float64 `xml:"gpxtpx:speed,omitempty"`
	Course *float64 `xml:"gpxtpx:course,omitempty"`
}

// geoJSONTrack is the GeoJSON of a unit's track
// (GET /api/units/{id}/track?format=geojson).
type geoJSONTrack struct {
	Type     string           `json:"type"` // FeatureCollection
	Features []geoJSONFeature `json:"features"`
}

type geoJSONFeature struct {
	Type       string          `json:"type"` // Feature
	Geometry   geoJSONGeometry `json:"geometry"`
	Properties geoJSONProps    `json:"properties"`
}

type geoJSONGeometry struct {
	Type        string `json:"type"`        // LineString, or Point for a single position
	Coordinates any    `json:"coordinates"` // [][2]float64 or [2]float64, [lon, lat]
}

type geoJSONProps struct {
	Unit   string            `json:"unit"`
	Times  []int64           `json:"times"`  // Unix ms, one per coordinate
	Status []protocol.Status `json:"status"` // one per coordinate
}

// exportTrack writes a track as GPX or GeoJSON, as a download named
// {unit}-{YYYY-MM-DD}.{gpx|geojson}: the UTC day of since when it was
// given, else of the first position, else of today.
func (s *server) exportTrack(w http.ResponseWriter, r *http.Request, format string, hasSince bool, since int64, track []store.Position) {
	unit := r.PathValue("id") // a unit id: [A-Za-z0-9_-], safe in a header
	day := s.Now()
	switch {
	case hasSince:
		day = time.UnixMilli(since)
	case len(track) > 0:
		day = time.UnixMilli(track[0].TS)
	}
	name := unit + "-" + day.UTC().Format("2006-01-02") + "." + format
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)

	if format == "gpx" {
		doc := gpxDoc{Xmlns: "http://www.topografix.com/GPX/1/1",
			XmlnsTPX: "http://www.garmin.com/xmlschemas/TrackPointExtension/v2",
			Version:  "1.1", Creator: "kuaifan hub", Trk: gpxTrk{Name: unit}}
		doc.Trk.Seg.Pts = make([]gpxPt, len(track))
		for i, p := range track {
			pt := gpxPt{Lat: p.Lat, Lon: p.Lon, Time: time.UnixMilli(p.TS).UTC().Format("2006-01-02T15:04:05.000Z")}
			if p.SpeedMPS != nil || p.HeadingDeg != nil {
				pt.Ext = &gpxPtExtra{TPX: gpxTPX{Speed: p.SpeedMPS, Course: p.HeadingDeg}}
			}
			doc.Trk.Seg.Pts[i] = pt
		}
		h.Set("Content-Type", "application/gpx+xml")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(xml.Header))
		enc := xml.NewEncoder(w)
		enc.Indent("", " ")
		_ = enc.Encode(doc)
		w.Write([]byte("\n"))
		return
	}

	fc := geoJSONTrack{Type: "FeatureCollection", Features: []geoJSONFeature{}}
	if len(track) > 0 {
		props := geoJSONProps{Unit: unit, Times: make([]int64, len(track)), Status: make([]protocol.Status, len(track))}
		coords := make([][2]float64, len(track))
		for i, p := range track {
			coords[i] = [2]float64{p.Lon, p.Lat}
			props.Times[i] = p.TS
			props.Status[i] = p.Status
		}
		g := geoJSONGeometry{Type: "LineString", Coordinates: coords}
		if len(track) == 1 {
			g = geoJSONGeometry{Type: "Point", Coordinates: coords[0]}
		}
		fc.Features = append(fc.Features, geoJSONFeature{Type: "Feature", Geometry: g, Properties: props})
	}
	h.Set("Content-Type", "application/geo+json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(fc)
}
