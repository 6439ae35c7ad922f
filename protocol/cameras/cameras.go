// Package cameras reads a camera inventory — the way a 天网 (Skynet) road
// camera network is exported: GeoJSON Point features with properties id and
// name — into the cameras the hub serves at GET /api/cameras and a sighting
// can be reported from. It uses the standard library only. Changsha's
// sample set, built in, is kuaifan/protocol/cameras/changsha.
package cameras

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"unicode/utf8"

	"kuaifan/protocol/api"
)

// MaxCameras bounds a set: an inventory larger than this is refused.
const MaxCameras = 100_000

// Load reads a camera set from a GeoJSON file (Parse).
func Load(path string) ([]api.Camera, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cameras: %w", err)
	}
	cs, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

// Parse reads a GeoJSON FeatureCollection of Point features, each with
// properties "id" (a string or a number; [A-Za-z0-9_.:-]{1,64}, unique) and
// "name" (at most 128 bytes, optional). Anything else is refused with the
// feature's index, so an operator can find it in the file.
func Parse(data []byte) ([]api.Camera, error) {
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry *struct {
				Type        string          `json:"type"`
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("cameras: not GeoJSON: %w", err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, errors.New(`cameras: want a GeoJSON "FeatureCollection"`)
	}
	if len(fc.Features) > MaxCameras {
		return nil, fmt.Errorf("cameras: %d cameras, at most %d", len(fc.Features), MaxCameras)
	}
	out := make([]api.Camera, 0, len(fc.Features))
	seen := map[string]bool{}
	for i, f := range fc.Features {
		fail := func(format string, args ...any) ([]api.Camera, error) {
			return nil, fmt.Errorf("cameras: feature %d: %s", i, fmt.Sprintf(format, args...))
		}
		if f.Type != "Feature" || f.Geometry == nil || f.Geometry.Type != "Point" {
			return fail(`want a "Feature" with a "Point" geometry`)
		}
		var pos []float64
		if err := json.Unmarshal(f.Geometry.Coordinates, &pos); err != nil || len(pos) < 2 {
			return fail("coordinates must be [lon, lat]")
		}
		lon, lat := pos[0], pos[1]
		if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return fail("coordinates [%v, %v] are not a longitude and a latitude", pos[0], pos[1])
		}
		id, ok := idOf(f.Properties["id"])
		if !ok {
			return fail("properties.id must be [A-Za-z0-9_.:-]{1,64}")
		}
		if seen[id] {
			return fail("id %q is used twice", id)
		}
		seen[id] = true
		name, _ := f.Properties["name"].(string)
		if len(name) > 128 || !utf8.ValidString(name) {
			return fail("properties.name must be text of at most 128 bytes")
		}
		out = append(out, api.Camera{ID: id, Name: name, Lat: lat, Lon: lon})
	}
	return out, nil
}

func idOf(v any) (string, bool) {
	var id string
	switch x := v.(type) {
	case string:
		id = x
	case float64:
		if x != math.Trunc(x) || x < 0 || x > 1e15 {
			return "", false
		}
		id = fmt.Sprintf("%.0f", x)
	default:
		return "", false
	}
	return id, ValidID(id)
}

// ValidID reports whether id is a camera id: [A-Za-z0-9_.:-]{1,64}.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
