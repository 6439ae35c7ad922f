// Package changsha is kuaifan's built-in city: Changsha's districts, the
// hub's default for GET /api/districts and the polygons the simulator
// patrols.
package changsha

import (
	_ "embed"

	"kuaifan/protocol/districts"
)

//go:embed changsha.geojson
var geojson []byte

// Districts returns Changsha's six urban districts and Changsha County:
// coarse polygons along the Xiang river and the main district lines (enough
// to orient a dispatcher, not survey boundaries), sharing their edges so
// that no two overlap. Each call returns a fresh Set, so callers may change
// theirs.
func Districts() *districts.Set {
	s, err := districts.Parse(geojson)
	if err != nil {
		panic("changsha: the built-in districts are invalid: " + err.Error())
	}
	return s
}
