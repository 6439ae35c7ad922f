package ui

import (
	"os"
	"strings"
	"testing"
)

// hubDistricts is the hub's built-in Changsha (kuaifan/protocol/districts/changsha),
// as GET /api/districts serves it but for the spacing.
const hubDistricts = "../../protocol/districts/changsha/changsha.geojson"

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
		{28.19, 112.98, "furong"}, // on the Furong–Tianxin line: one of them
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
	if i := districtAt(nil, 28.196, 112.977); i != -1 {
		t.Errorf("no districts: %d", i)
	}
}

func TestParseDistricts(t *testing.T) {
	const sq = `[[[112.9,28.1],[113.0,28.1],[113.0,28.2],[112.9,28.1]]]`
	ds, err := ParseDistricts([]byte(`{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","properties":{"id":"a","name":"甲 A"},"geometry":{"type":"Polygon","coordinates":` + sq + `}},` +
		`{"type":"Feature","id":"b","properties":{"id":"b","name":"乙区 B","name_zh":"乙区","name_en":"B"},"geometry":{"type":"Polygon","coordinates":` + sq + `}}]}`))
	if err != nil || len(ds) != 2 || ds[0].ZH != "甲 A" || ds[0].EN != "甲 A" || len(ds[0].Ring) != 3 || ds[0].Ring[1] != (LatLon{Lat: 28.1, Lon: 113.0}) ||
		ds[1].ID != "b" || ds[1].Name(ZH) != "乙区" || ds[1].Name(EN) != "B" {
		t.Fatalf("%+v, %v", ds, err)
	}
	if ds, err := ParseDistricts([]byte(`{"type":"FeatureCollection","features":[]}`)); err != nil || len(ds) != 0 {
		t.Errorf("none: %+v, %v", ds, err)
	}
	// The hub's own parser: what it would refuse from its file, the
	// dashboard refuses from its answer (kuaifan/protocol/districts has
	// every case).
	for _, tc := range []struct{ doc, want string }{
		{`{`, "districts: not GeoJSON: unexpected end"},
		{`[]`, "districts: not GeoJSON: json"},
		{`{"type":"Feature"}`, "want a FeatureCollection"},
		{`{"type":"FeatureCollection","features":[{"properties":{"id":"a","name":"a"},"geometry":{"type":"Polygon","coordinates":` + sq + `}}]}`, "feature 1: not a Feature"},
		{`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","name":"a"},"geometry":{"type":"Point","coordinates":[]}}]}`, "feature 1"},
		{`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","name":"a"},"geometry":{"type":"Polygon","coordinates":[[[28.1,112.9],[28,113],[28.2,113]]]}}]}`, "a: position 1: [28.1, 112.9] is not WGS-84"},
		{`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","name":"a"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,2],[1,1]]]}}]}`, "2 positions"},
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
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","name":"a"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2]]]}}]}`))
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
