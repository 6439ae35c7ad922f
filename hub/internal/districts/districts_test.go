package districts

import (
	"reflect"
	"strings"
	"testing"
)

func TestChangsha(t *testing.T) {
	s := Changsha()
	if len(s.Districts) != 7 {
		t.Fatalf("%d districts", len(s.Districts))
	}
	want := map[string]string{"furong": "芙蓉区", "tianxin": "天心区", "yuelu": "岳麓区", "kaifu": "开福区",
		"yuhua": "雨花区", "wangcheng": "望城区", "changsha_county": "长沙县"}
	for _, d := range s.Districts {
		if want[d.ID] != d.NameZH || d.NameEN == "" || d.NameEN == d.NameZH {
			t.Errorf("%+v", d)
		}
		if d.Ring[0] != d.Ring[len(d.Ring)-1] {
			t.Errorf("%s: ring not closed", d.ID)
		}
	}
	// What the API serves reads back as the same set.
	again, err := Parse(s.GeoJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, s) {
		t.Errorf("round trip:\n%+v\n%+v", again.Districts, s.Districts)
	}
	if n := len(None().Districts); n != 0 || !strings.Contains(string(None().GeoJSON()), `"features":[]`) {
		t.Errorf("None: %d, %s", n, None().GeoJSON())
	}
}

func TestParse(t *testing.T) {
	const sq = `[[[112.9,28.1],[113.0,28.1],[113.0,28.2],[112.9,28.2],[112.9,28.1]]]`
	fc := func(features ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
	}
	poly := func(props, coords string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":{"type":"Polygon","coordinates":` + coords + `}}`
	}
	t.Run("ids and names", func(t *testing.T) {
		s, err := Parse([]byte(fc(
			poly(`{"name":"西区 West Side"}`, sq),
			`{"type":"Feature","id":7,"properties":{"name":"东区","name_en":"East"},"geometry":{"type":"Polygon","coordinates":[[[113,28.1,40],[113.1,28.1,40],[113.1,28.2,40]]]}}`,
			`{"type":"Feature","id":"n-1","properties":{"name":"北区","id":"north","name_zh":"北区","name_en":"North","fill":"#ccc"},"geometry":{"type":"Polygon","coordinates":`+sq+`}}`,
		)))
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, d := range s.Districts {
			got = append(got, d.ID+"|"+d.NameZH+"|"+d.NameEN)
		}
		want := []string{"west_side|西区 West Side|西区 West Side", "7|东区|East", "north|北区|North"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if r := s.Districts[1].Ring; len(r) != 4 || r[0] != r[3] || r[1] != [2]float64{113.1, 28.1} {
			t.Errorf("the open ring with altitudes: %v", r)
		}
	})
	for _, tc := range []struct{ name, doc, want string }{
		{"not JSON", `{`, "not GeoJSON"},
		{"not a collection", `{"type":"Feature"}`, `want a FeatureCollection`},
		{"no name", fc(poly(`{"id":"a"}`, sq)), "feature 1: no properties.name"},
		{"no properties", fc(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":` + sq + `}}`), "no properties.name"},
		{"not a feature", fc(`{"type":"Point"}`), "feature 1: not a Feature"},
		{"null feature", fc(`null`), "feature 1: not a Feature"},
		{"no geometry", fc(`{"type":"Feature","properties":{"name":"a"}}`), "no geometry"},
		{"multipolygon", fc(`{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"MultiPolygon","coordinates":[` + sq + `]}}`), `"MultiPolygon": want a Polygon`},
		{"bad coordinates", fc(poly(`{"name":"a"}`, `[["x"]]`)), "polygon coordinates"},
		{"no ring", fc(poly(`{"name":"a"}`, `[]`)), "without a ring"},
		{"too few", fc(poly(`{"name":"a"}`, `[[[1,1],[2,2],[1,1]]]`)), "at least 3 distinct"},
		{"lat lon swapped", fc(poly(`{"name":"a"}`, `[[[28.1,112.9],[28.1,113],[28.2,113]]]`)), "position 1: [28.1, 112.9] is not WGS-84"},
		{"one number", fc(poly(`{"name":"a"}`, `[[[1],[2,2],[3,1]]]`)), "position 1: want [lon, lat]"},
		{"flat", fc(poly(`{"name":"a"}`, `[[[1,1],[2,2],[3,3]]]`)), "no area"},
		{"bad id", fc(poly(`{"name":"a","id":"A B"}`, sq)), `id "A B"`},
		{"no id from a Chinese name", fc(poly(`{"name":"芙蓉区"}`, sq)), `id ""`},
		{"same id", fc(poly(`{"name":"a"}`, sq), poly(`{"name":"A"}`, sq)), `feature 2: id "a" used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/missing.geojson"); err == nil || !strings.Contains(err.Error(), "missing.geojson") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParse: whatever the file, Parse refuses it or gives a set whose
// GeoJSON reads back as the same set.
func FuzzParse(f *testing.F) {
	f.Add(changsha)
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"properties":{"name":"a b"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2]]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(s.GeoJSON())
		if err != nil {
			t.Fatalf("its own GeoJSON is refused: %v\n%s", err, s.GeoJSON())
		}
		if !reflect.DeepEqual(again.Districts, s.Districts) {
			t.Fatalf("round trip differs:\n%+v\n%+v", again.Districts, s.Districts)
		}
	})
}
