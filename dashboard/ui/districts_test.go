package ui

import (
	"os"
	"strings"
	"testing"
)

// hubDistricts is the hub's built-in Changsha, as GET /api/districts
// serves it.
const hubDistricts = "../../hub/internal/districts/changsha.geojson"

func changshaDistricts(t testing.TB) []District {
	t.Helper()
	data, err := os.ReadFile(hubDistricts)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ParseDistricts(data)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// mustChangsha is changshaDistricts for fixtures without a testing.TB.
func mustChangsha() []District {
	data, err := os.ReadFile(hubDistricts)
	if err != nil {
		panic(err)
	}
	ds, err := ParseDistricts(data)
	if err != nil {
		panic(err)
	}
	return ds
}

func TestDistrictAt(t *testing.T) {
	ds := changshaDistricts(t)
	if len(ds) != 7 {
		t.Fatalf("%d districts", len(ds))
	}
	ids := map[string]bool{}
	for _, d := range ds {
		if ids[d.ID] || d.ZH == "" || d.EN == "" || d.ZH == d.EN || len(d.Ring) < 3 || d.Ring[0] == d.Ring[len(d.Ring)-1] {
			t.Errorf("district %+v", d)
		}
		ids[d.ID] = true
	}
	for _, tc := range []struct {
		lat, lon float64
		want     string
	}{
		{28.1960, 112.9770, "furong"}, // Wuyi Square
		{28.1146, 112.9898, "tianxin"},
		{28.2353, 112.9311, "yuelu"},
		{28.2559, 112.9853, "kaifu"},
		{28.1354, 113.0354, "yuhua"},
		{30.0, 114.0, ""},
	} {
		got := ""
		if i := districtAt(ds, tc.lat, tc.lon); i >= 0 {
			got = ds[i].ID
		}
		if got != tc.want {
			t.Errorf("%v,%v in %q, want %q", tc.lat, tc.lon, got, tc.want)
		}
	}
	// No point of a fine grid over the city is in two districts.
	for lat := CityBox.MinLat + 0.0013; lat < CityBox.MaxLat; lat += 0.0031 {
		for lon := CityBox.MinLon + 0.0017; lon < CityBox.MaxLon; lon += 0.0029 {
			n := 0
			for i := range ds {
				if inRing(ds[i].Ring, lat, lon) {
					n++
				}
			}
			if n > 1 {
				t.Fatalf("%v,%v is in %d districts", lat, lon, n)
			}
		}
	}
}

func TestParseDistricts(t *testing.T) {
	const sq = `[[[112.9,28.1],[113.0,28.1],[113.0,28.2],[112.9,28.1]]]`
	ds, err := ParseDistricts([]byte(`{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","properties":{"id":"a","name":"甲 A"},"geometry":{"type":"Polygon","coordinates":` + sq + `}}]}`))
	if err != nil || len(ds) != 1 || ds[0].ZH != "甲 A" || ds[0].EN != "甲 A" || len(ds[0].Ring) != 3 || ds[0].Ring[1] != (LatLon{28.1, 113.0}) {
		t.Fatalf("%+v, %v", ds, err)
	}
	if ds, err := ParseDistricts([]byte(`{"type":"FeatureCollection","features":[]}`)); err != nil || len(ds) != 0 {
		t.Errorf("none: %+v, %v", ds, err)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{`, "districts: unexpected end"},
		{`[]`, "districts: json"},
		{`{"type":"Feature"}`, "want a FeatureCollection"},
		{`{"type":"FeatureCollection","features":[{"properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":` + sq + `}}]}`, "feature 1: want an id"},
		{`{"type":"FeatureCollection","features":[{"properties":{"id":"a"},"geometry":{"type":"Point","coordinates":[]}}]}`, "feature 1"},
		{`{"type":"FeatureCollection","features":[{"properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[28.1,112.9],[28,113],[28.2,113]]]}}]}`, "a: position [28.1 112.9] is not [lon, lat]"},
		{`{"type":"FeatureCollection","features":[{"properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,2],[1,1]]]}}]}`, "2 positions"},
	} {
		if _, err := ParseDistricts([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// FuzzParseDistricts: any answer is refused or gives districts the map can
// draw and look up.
func FuzzParseDistricts(f *testing.F) {
	if data, err := os.ReadFile(hubDistricts); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2]]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseDistricts(data)
		if err != nil {
			return
		}
		for i := range ds {
			if ds[i].ID == "" || len(ds[i].Ring) < 3 {
				t.Fatalf("district %+v", ds[i])
			}
			_ = ds[i].centroid()
			_ = districtAt(ds, ds[i].Ring[0].Lat, ds[i].Ring[0].Lon)
		}
	})
}
