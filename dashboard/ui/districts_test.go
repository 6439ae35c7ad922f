package ui

import "testing"

func TestDistrictAt(t *testing.T) {
	// The simulator's landmarks (simulator/city.go) land in their districts.
	for _, tc := range []struct {
		lat, lon float64
		want     string
	}{
		{28.1960, 112.9770, "furong"}, // Wuyi Square
		{28.1852, 113.0328, "furong"},
		{28.1146, 112.9898, "tianxin"},
		{28.2353, 112.9311, "yuelu"},
		{28.2559, 112.9853, "kaifu"},
		{28.1354, 113.0354, "yuhua"},
		{28.2372, 113.0800, "changsha_county"}, // Xingsha
		{28.45, 112.85, "wangcheng"},
		{30.0, 114.0, ""},
	} {
		got := ""
		if i := DistrictAt(tc.lat, tc.lon); i >= 0 {
			got = Districts[i].ID
		}
		if got != tc.want {
			t.Errorf("%v,%v in %q, want %q", tc.lat, tc.lon, got, tc.want)
		}
	}
}

// The polygons tile the city: no point of a fine grid over the simulator's
// box is in two districts, and none falls in a gap.
func TestDistrictsTile(t *testing.T) {
	ids := map[string]bool{}
	for _, d := range Districts {
		if ids[d.ID] || d.ZH == "" || d.EN == "" || len(d.Ring) < 3 {
			t.Errorf("district %+v", d)
		}
		ids[d.ID] = true
	}
	for lat := CityBox.MinLat + 0.0013; lat < CityBox.MaxLat; lat += 0.0031 {
		for lon := CityBox.MinLon + 0.0017; lon < CityBox.MaxLon; lon += 0.0029 {
			n := 0
			for i := range Districts {
				if inRing(Districts[i].Ring, lat, lon) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%v,%v is in %d districts", lat, lon, n)
			}
		}
	}
}
