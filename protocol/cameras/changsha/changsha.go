// Package changsha is a sample camera set for Changsha: sixteen road
// cameras at junctions of the city centre, among them the five along the
// simulator's robbery-chase route (砂子塘, 东塘, 侯家塘, 天心阁, 南门口).
// It is made up for the simulator and the tests, not a real inventory; the
// file is cameras.geojson beside this one, for the hub's -cameras flag.
package changsha

import (
	_ "embed"

	"kuaifan/protocol/api"
	"kuaifan/protocol/cameras"
)

//go:embed cameras.geojson
var data []byte

// GeoJSON is the set as a GeoJSON file.
func GeoJSON() []byte { return data }

// Cameras is the set.
func Cameras() []api.Camera {
	cs, err := cameras.Parse(data)
	if err != nil {
		panic("changsha cameras: " + err.Error()) // part of the build; the test reads it
	}
	return cs
}
