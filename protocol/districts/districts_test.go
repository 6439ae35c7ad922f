package districts_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"kuaifan/protocol/districts"
)

func TestNone(t *testing.T) {
	s := districts.None()
	if n := len(s.Districts); n != 0 || !strings.Contains(string(s.GeoJSON()), `"features":[]`) {
		t.Errorf("None: %d, %s", n, s.GeoJSON())
	}
	if i := s.At(districts.Point{Lat: 28.2, Lon: 113}); i != -1 {
		t.Errorf("None().At: %d", i)
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
		s, err := districts.Parse([]byte(fc(
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
		// Rings are kept without GeoJSON's closing repeat.
		if r := s.Districts[0].Ring; len(r) != 4 || r[3] != (districts.Point{Lat: 28.2, Lon: 112.9}) {
			t.Errorf("the closed ring: %v", r)
		}
		if r := s.Districts[1].Ring; len(r) != 3 || r[1] != (districts.Point{Lat: 28.1, Lon: 113.1}) {
			t.Errorf("the open ring with altitudes: %v", r)
		}
		// The API's GeoJSON closes every ring again.
		if !strings.Contains(string(s.GeoJSON()), `"coordinates":[[[113,28.1],[113.1,28.1],[113.1,28.2],[113,28.1]]]`) {
			t.Errorf("GeoJSON: %s", s.GeoJSON())
		}
		if s.At(districts.Point{Lat: 28.15, Lon: 113.05}) != 1 || s.At(districts.Point{Lat: 28.15, Lon: 112.95}) != 0 ||
			s.At(districts.Point{Lat: 28.3, Lon: 113}) != -1 {
			t.Error("At")
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
		{"id too long", fc(poly(`{"name":"a","id":"`+strings.Repeat("a", 65)+`"}`, sq)), `want [a-z0-9_-]{1,64}`},
		{"no id from a Chinese name", fc(poly(`{"name":"芙蓉区"}`, sq)), `id ""`},
		{"same id", fc(poly(`{"name":"a"}`, sq), poly(`{"name":"A"}`, sq)), `feature 2: id "a" used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := districts.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("longest id", func(t *testing.T) {
		id := strings.Repeat("a-_0", 16)
		if s, err := districts.Parse([]byte(fc(poly(`{"name":"a","id":"`+id+`"}`, sq)))); err != nil || s.Districts[0].ID != id {
			t.Errorf("%v", err)
		}
	})
}

func TestLoad(t *testing.T) {
	if _, err := districts.Load("testdata/missing.geojson"); err == nil || !strings.Contains(err.Error(), "missing.geojson") {
		t.Errorf("missing file: %v", err)
	}
	s, err := districts.Load("changsha/changsha.geojson")
	if err != nil || len(s.Districts) != 7 {
		t.Errorf("changsha.geojson: %v", err)
	}
}

// FuzzParse: whatever the file, Parse refuses it or gives a set whose
// GeoJSON reads back as the same set.
func FuzzParse(f *testing.F) {
	changsha, err := os.ReadFile("changsha/changsha.geojson")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(changsha)
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"properties":{"name":"a b"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2]]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := districts.Parse(data)
		if err != nil {
			return
		}
		again, err := districts.Parse(s.GeoJSON())
		if err != nil {
			t.Fatalf("its own GeoJSON is refused: %v\n%s", err, s.GeoJSON())
		}
		if !reflect.DeepEqual(again.Districts, s.Districts) {
			t.Fatalf("round trip differs:\n%+v\n%+v", again.Districts, s.Districts)
		}
		for _, d := range s.Districts {
			if len(d.Ring) < 3 {
				t.Fatalf("%s: ring %v", d.ID, d.Ring)
			}
		}
	})
}
