package city

import (
	"strings"
	"testing"

	"kuaifan/hub/hubtest"
)

// The hub's built-in districts (GET /api/districts, what the dashboard
// draws) are the simulator's Changsha: the same names and polygons, so a
// unit patrolling a district is filed under it on the dashboard.
func TestHubDistrictsAreChangsha(t *testing.T) {
	h := hubtest.Start(t, nil)
	var fc struct {
		Features []struct {
			Properties struct {
				NameZH string `json:"name_zh"`
			}
			Geometry struct {
				Coordinates [][][2]float64
			}
		}
	}
	if code := h.Do("GET", "/api/districts", nil, &fc); code != 200 {
		t.Fatalf("GET /api/districts: %d", code)
	}
	city := Changsha()
	if len(fc.Features) != len(city.Districts) {
		t.Fatalf("the hub has %d districts, the simulator %d", len(fc.Features), len(city.Districts))
	}
	for i, d := range city.Districts {
		f := fc.Features[i]
		if !strings.HasPrefix(d.Name, f.Properties.NameZH+" ") {
			t.Errorf("district %d: hub %q, simulator %q", i, f.Properties.NameZH, d.Name)
		}
		ring := f.Geometry.Coordinates[0]
		if len(ring) != len(d.Polygon)+1 {
			t.Errorf("%s: %d positions at the hub, %d in the simulator", d.Name, len(ring)-1, len(d.Polygon))
			continue
		}
		for j, p := range d.Polygon {
			if ring[j] != [2]float64{p.Lon, p.Lat} {
				t.Errorf("%s: vertex %d: hub %v, simulator %v", d.Name, j, ring[j], p)
			}
		}
	}
}
