package cameras

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","geometry":{"type":"Point","coordinates":[112.9775,28.184]},"properties":{"id":"cs-tx-003","name":"黄兴南路·南门口"}},
	 {"type":"Feature","geometry":{"type":"Point","coordinates":[112.98,28.19,35]},"properties":{"id":4301020001}}]}`
	cs, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].ID != "cs-tx-003" || cs[0].Lat != 28.184 || cs[0].Lon != 112.9775 || cs[0].Name != "黄兴南路·南门口" ||
		cs[1].ID != "4301020001" || cs[1].Name != "" {
		t.Errorf("%+v", cs)
	}
	feature := func(geom, props string) string {
		return `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":` + geom + `,"properties":` + props + `}]}`
	}
	pt := `{"type":"Point","coordinates":[112.9,28.1]}`
	for _, tc := range []struct{ name, in, want string }{
		{"not json", `{`, "not GeoJSON"},
		{"not a collection", `{"type":"Feature"}`, "FeatureCollection"},
		{"polygon", feature(`{"type":"Polygon","coordinates":[]}`, `{"id":"a"}`), "Point"},
		{"no geometry", feature(`null`, `{"id":"a"}`), "Point"},
		{"one coordinate", feature(`{"type":"Point","coordinates":[112.9]}`, `{"id":"a"}`), "[lon, lat]"},
		{"lat 91", feature(`{"type":"Point","coordinates":[112.9,91]}`, `{"id":"a"}`), "not a longitude"},
		{"lon 181", feature(`{"type":"Point","coordinates":[181,28]}`, `{"id":"a"}`), "not a longitude"},
		{"no id", feature(pt, `{"name":"x"}`), "properties.id"},
		{"bad id", feature(pt, `{"id":"a b"}`), "properties.id"},
		{"fractional id", feature(pt, `{"id":1.5}`), "properties.id"},
		{"long name", feature(pt, `{"id":"a","name":"`+strings.Repeat("x", 129)+`"}`), "properties.name"},
		{"twice", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":` + pt + `,"properties":{"id":"a"}},{"type":"Feature","geometry":` + pt + `,"properties":{"id":"a"}}]}`, "used twice"},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[112.9,28.1]},"properties":{"id":"a","name":"b"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := Parse(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if !ValidID(c.ID) || seen[c.ID] || c.Lat < -90 || c.Lat > 90 || c.Lon < -180 || c.Lon > 180 || len(c.Name) > 128 {
				t.Fatalf("accepted %+v", c)
			}
			seen[c.ID] = true
		}
	})
}
