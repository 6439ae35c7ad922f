package patrol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// GeoJSONOptions are what a FeatureCollection of tasks does not say: the
// plan the tasks make.
type GeoJSONOptions struct {
	ID, Name string  // the plan's
	Zone     string  // "" for DefaultZone
	Shifts   []Shift // nil for DefaultShifts
	// IgnoreUnknownProperties drops properties that are not task fields
	// (the styling "stroke" or "fill" of geojson.io, QGIS's "fid")
	// instead of refusing them: a refused one may be a misspelt field.
	IgnoreUnknownProperties bool
}

// ParseGeoJSON reads the tasks of a plan from a GeoJSON FeatureCollection,
// one task per feature, and returns the plan they make with opts, checked
// as Parse checks one.
//
// A feature's geometry gives its kind and place: a Point is a point task,
// a LineString a line task's route, a Polygon an area task's outer ring
// (a polygon with holes, and every other geometry, is refused). Its
// properties are the task's other fields by their JSON names (id, name,
// units, unit_types, shifts, radius_m, dwell_min, windows, buffer_m,
// cover_share, min_presence_min); properties.kind may be given and must
// then agree with the geometry, and the id may be the feature's instead
// (a string or a number). Positions are [lon, lat] in WGS-84, an altitude
// is dropped. Errors name the feature by its number, from 1.
func ParseGeoJSON(data []byte, opts GeoJSONOptions) (*Plan, error) {
	if len(data) > MaxPlanBytes {
		return nil, &Error{Detail: fmt.Sprintf("%d bytes; at most %d", len(data), MaxPlanBytes)}
	}
	// GeoJSON allows foreign members: only properties are read strictly.
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		e := jsonError(err)
		e.Detail = "not GeoJSON: " + strings.TrimPrefix(e.Detail, "not JSON: ")
		return nil, e
	}
	if fc.Type != "FeatureCollection" {
		return nil, &Error{Detail: fmt.Sprintf("GeoJSON type %q: want a FeatureCollection", fc.Type)}
	}
	if len(fc.Features) > MaxTasks {
		return nil, fieldErr("features", "%d features; at most %d", len(fc.Features), MaxTasks)
	}
	p := &Plan{ID: opts.ID, Name: strings.TrimSpace(opts.Name), Zone: opts.Zone, Shifts: slices.Clone(opts.Shifts), Tasks: []Task{}}
	if p.Zone == "" {
		p.Zone = DefaultZone
	}
	if p.Shifts == nil {
		p.Shifts = DefaultShifts()
	}
	for i, raw := range fc.Features {
		t, err := featureTask(raw, opts.IgnoreUnknownProperties)
		if err != nil {
			where := fmt.Sprintf("feature %d", i+1)
			if validID(t.ID) {
				where = fmt.Sprintf("feature %d (%q)", i+1, t.ID)
			} else {
				t.ID = ""
			}
			return nil, err.at(where, t.ID)
		}
		p.Tasks = append(p.Tasks, t)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func featureTask(raw []byte, ignoreUnknown bool) (Task, *Error) {
	var f struct {
		Type       string          `json:"type"`
		ID         json.RawMessage `json:"id"`
		Properties json.RawMessage `json:"properties"`
		Geometry   *struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return Task{}, jsonError(err)
	}
	if f.Type != "Feature" {
		return Task{}, &Error{Detail: fmt.Sprintf("GeoJSON type %q: want a Feature", f.Type)}
	}
	var w wireTask
	if len(f.Properties) > 0 && !bytes.Equal(f.Properties, []byte("null")) {
		var err *Error
		if ignoreUnknown {
			if e := json.Unmarshal(f.Properties, &w); e != nil {
				err = jsonError(e)
			}
		} else {
			err = decodeStrict(f.Properties, &w)
		}
		if err != nil {
			err.Field = "properties." + err.Field
			err.Field = strings.TrimSuffix(err.Field, ".")
			return Task{ID: w.ID}, err
		}
	}
	if w.ID == "" && len(f.ID) > 0 {
		var id string
		if json.Unmarshal(f.ID, &id) == nil {
			w.ID = id
		} else {
			w.ID = string(bytes.TrimSpace(f.ID)) // a number; Validate judges it
		}
	}
	for _, g := range []struct {
		name    string
		present bool
	}{{"lat", w.Lat != nil}, {"lon", w.Lon != nil}, {"route", w.Route != nil}, {"polygon", w.Polygon != nil}} {
		if g.present {
			return Task{ID: w.ID}, fieldErr("properties."+g.name, "the geometry gives the place, not a property")
		}
	}
	if f.Geometry == nil {
		return Task{ID: w.ID}, fieldErr("geometry", "required: a Point, LineString or Polygon")
	}
	var kind Kind
	var err error
	switch f.Geometry.Type {
	case "Point":
		kind = KindPoint
		var pos []float64
		if err = json.Unmarshal(f.Geometry.Coordinates, &pos); err == nil {
			if len(pos) < 2 || len(pos) > 3 {
				return Task{ID: w.ID}, fieldErr("geometry", "a Point's coordinates: want [lon, lat]")
			}
			w.Lon, w.Lat = &pos[0], &pos[1]
		}
	case "LineString":
		kind = KindLine
		err = json.Unmarshal(f.Geometry.Coordinates, &w.Route)
		if err == nil && w.Route == nil {
			w.Route = [][]float64{}
		}
	case "Polygon":
		kind = KindArea
		var rings [][][]float64
		if err = json.Unmarshal(f.Geometry.Coordinates, &rings); err == nil {
			switch {
			case len(rings) == 0:
				return Task{ID: w.ID}, fieldErr("geometry", "a Polygon without a ring")
			case len(rings) > 1:
				return Task{ID: w.ID}, fieldErr("geometry", "a Polygon with %d holes: areas have none", len(rings)-1)
			}
			w.Polygon = rings[0]
			if w.Polygon == nil {
				w.Polygon = [][]float64{}
			}
		}
	default:
		return Task{ID: w.ID}, fieldErr("geometry", "type %q: want a Point, LineString or Polygon", f.Geometry.Type)
	}
	if err != nil {
		return Task{ID: w.ID}, fieldErr("geometry", "%s coordinates: %v", f.Geometry.Type, jsonError(err).Detail)
	}
	if w.Kind != "" && w.Kind != kind {
		return Task{ID: w.ID}, fieldErr("properties.kind", "%q, but a %s is a %s task", w.Kind, f.Geometry.Type, kind)
	}
	w.Kind = kind
	t, e := w.task()
	if e != nil {
		if e.Field == "route" || e.Field == "polygon" || e.Field == "lat" || e.Field == "lon" {
			e.Field = "geometry"
		} else if e.Field != "" {
			e.Field = "properties." + e.Field
		}
	}
	return t, e
}
