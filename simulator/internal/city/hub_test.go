package city

import (
	"encoding/json"
	"slices"
	"testing"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/districts"
)

// The hub's built-in districts (GET /api/districts, what the dashboard
// draws) are the simulator's Changsha: the same names and polygons, so a
// unit patrolling a district is filed under it on the dashboard.
func TestHubDistrictsAreChangsha(t *testing.T) {
	h := hubtest.Start(t, nil)
	var raw json.RawMessage
	if code := h.Do("GET", "/api/districts", nil, &raw); code != 200 {
		t.Fatalf("GET /api/districts: %d", code)
	}
	hub, err := districts.Parse(raw)
	if err != nil {
		t.Fatalf("GET /api/districts: %v", err)
	}
	city := Changsha()
	if len(hub.Districts) != len(city.Districts) {
		t.Fatalf("the hub has %d districts, the simulator %d", len(hub.Districts), len(city.Districts))
	}
	for i, d := range city.Districts {
		if hd := hub.Districts[i]; d.Name != hd.Name || !slices.Equal(d.Polygon, hd.Ring) {
			t.Errorf("district %d: hub %q %v, simulator %q %v", i, hd.Name, hd.Ring, d.Name, d.Polygon)
		}
	}
}
