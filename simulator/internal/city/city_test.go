package city

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// Short names of the built-in districts, as District accepts them.
const (
	furong         = "芙蓉区 Furong"
	tianxin        = "天心区 Tianxin"
	yuelu          = "岳麓区 Yuelu"
	kaifu          = "开福区 Kaifu"
	yuhua          = "雨花区 Yuhua"
	wangcheng      = "望城区 Wangcheng"
	changshaCounty = "长沙县 Changsha County"
)

func TestCityBuiltinValid(t *testing.T) {
	c := Changsha()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		what     string
		got, min int
	}{
		{"districts", len(c.Districts), 7}, {"stations", len(c.Stations), 24}, {"posts", len(c.Posts), 20},
		{"routes", len(c.Routes), 10}, {"hot spots", len(c.HotSpots), 8},
	} {
		if n.got < n.min {
			t.Errorf("%d %s; want at least %d", n.got, n.what, n.min)
		}
	}
	for _, want := range []string{furong, tianxin, yuelu, kaifu, yuhua, wangcheng} {
		if _, ok := c.District(want); !ok {
			t.Errorf("no district %q", want)
		}
	}

	inside := func(what, name string, p Point) {
		t.Helper()
		if !protocol.ValidLatLon(p.Lat, p.Lon) {
			t.Errorf("%s %q: %v out of range", what, name, p)
		}
		if c.DistrictOf(p) == "" {
			t.Errorf("%s %q: %v is in no district", what, name, p)
		}
	}
	stations := map[string]int{}
	for _, s := range c.Stations {
		inside("station", s.Name, s.Point)
		// Named like "芙蓉区 东湖派出所", in the district the name says.
		if got := c.DistrictOf(s.Point); got != s.District || !strings.HasPrefix(s.Name, strings.Fields(got + " ?")[0]+" ") {
			t.Errorf("station %q at %v: district %q, DistrictOf %q", s.Name, s.Point, s.District, got)
		}
		if !strings.HasSuffix(s.Name, "派出所") {
			t.Errorf("station %q: not a 派出所", s.Name)
		}
		stations[s.District]++
	}
	for _, a := range c.Districts {
		if stations[a.Name] == 0 {
			t.Errorf("district %q has no station", a.Name)
		}
	}
	for _, p := range c.Posts {
		inside("post", p.Name, p.Point)
		if got := c.DistrictOf(p.Point); got != p.District {
			t.Errorf("post %q: district %q, DistrictOf %q", p.Name, p.District, got)
		}
	}
	for _, r := range c.Routes {
		for _, p := range r.Points {
			inside("route", r.Name, p)
		}
		if l := PolylineLength(r.Points); l < 1000 {
			t.Errorf("route %q is %.0f m long; a patrol route is longer", r.Name, l)
		}
	}
	for _, h := range c.HotSpots {
		inside("hotspot", h.Name, h.Point)
		if h.Weight <= 0 || h.RadiusM <= 0 || len(h.Kinds) == 0 {
			t.Errorf("hotspot %+v: want weight, radius and kinds", h)
		}
	}
	for _, a := range c.Districts {
		// Non-degenerate and not absurd: between 10 and 1000 km².
		if km2 := areaKM2(a.Polygon); km2 < 10 || km2 > 1000 {
			t.Errorf("district %q: %.0f km²", a.Name, km2)
		}
		if !a.Contains(a.RandomPoint(rand.New(rand.NewPCG(1, 2)))) {
			t.Errorf("district %q: random point outside", a.Name)
		}
	}
}

// TestCityDistrictsDoNotOverlap samples a grid over the city: no point is in
// two districts, and the Xiang river (about lon 112.96) divides them: Yuelu
// and Wangcheng west, the rest east.
func TestCityDistrictsDoNotOverlap(t *testing.T) {
	c := Changsha()
	lo, hi := c.Bounds()
	west := map[string]bool{yuelu: true, wangcheng: true}
	for lat := lo.Lat; lat <= hi.Lat; lat += 0.00137 {
		for lon := lo.Lon; lon <= hi.Lon; lon += 0.00141 {
			p := Point{Lat: lat, Lon: lon}
			var in []string
			for _, a := range c.Districts {
				if a.Contains(p) {
					in = append(in, a.Name)
				}
			}
			if len(in) > 1 {
				t.Fatalf("%v is in %v", p, in)
			}
			if len(in) == 1 && (west[in[0]] && lon > 112.965 || !west[in[0]] && lon < 112.947) {
				t.Fatalf("%v is in %s, on the wrong bank", p, in[0])
			}
		}
	}
}

func TestCityContainsKnownPlaces(t *testing.T) {
	c := Changsha()
	for _, tc := range []struct {
		place string
		p     Point
		want  string
	}{
		{"五一广场", Point{Lat: 28.1960, Lon: 112.9770}, furong},
		{"长沙火车站", Point{Lat: 28.1955, Lon: 113.0110}, furong},
		{"东湖", Point{Lat: 28.2000, Lon: 113.0600}, furong},
		{"岳麓山", Point{Lat: 28.1850, Lon: 112.9350}, yuelu},
		// 橘子洲, the island in the Xiang, belongs to Yuelu district.
		{"橘子洲", Point{Lat: 28.1850, Lon: 112.9590}, yuelu},
		{"梅溪湖", Point{Lat: 28.1990, Lon: 112.8950}, yuelu},
		{"溁湾镇", Point{Lat: 28.1955, Lon: 112.9460}, yuelu},
		{"南门口", Point{Lat: 28.1840, Lon: 112.9770}, tianxin},
		{"侯家塘", Point{Lat: 28.1760, Lon: 112.9860}, tianxin},
		{"雨花亭", Point{Lat: 28.1555, Lon: 113.0125}, yuhua},
		{"东塘", Point{Lat: 28.1750, Lon: 113.0040}, yuhua},
		{"长沙火车南站", Point{Lat: 28.1480, Lon: 113.0640}, yuhua},
		{"开福寺", Point{Lat: 28.2290, Lon: 112.9800}, kaifu},
		{"开福万达", Point{Lat: 28.2045, Lon: 112.9725}, kaifu},
		{"高塘岭", Point{Lat: 28.3630, Lon: 112.8250}, wangcheng},
		{"星沙", Point{Lat: 28.2420, Lon: 113.0800}, changshaCounty},
		{"北京", Point{Lat: 39.9042, Lon: 116.4074}, ""},
		{"湘江 mid-river south of the city", Point{Lat: 28.0000, Lon: 112.9600}, ""},
	} {
		if got := c.DistrictOf(tc.p); got != tc.want {
			t.Errorf("%s %v: DistrictOf %q; want %q", tc.place, tc.p, got, tc.want)
		}
		for _, a := range c.Districts {
			if got := a.Contains(tc.p); got != (a.Name == tc.want) {
				t.Errorf("%s: %s.Contains = %v", tc.place, a.Name, got)
			}
		}
	}
}

func TestCityDistrictLookup(t *testing.T) {
	c := Changsha()
	for _, tc := range []struct {
		name, want string
	}{
		{furong, furong}, {"芙蓉区", furong}, {"Furong", furong}, {"furong", furong},
		{"YUHUA", yuhua}, {"望城区", wangcheng}, {"长沙县", changshaCounty},
		{"", ""}, {"Nowhere", ""}, {"芙蓉", ""}, {"区", ""},
	} {
		a, ok := c.District(tc.name)
		if ok != (tc.want != "") || ok && a.Name != tc.want {
			t.Errorf("District(%q) = %v, %v; want %q", tc.name, a, ok, tc.want)
		}
	}
}

// theL is an L: the square (0,0)-(2,2) without its north-east quarter.
var theL = []Point{{Lat: 0, Lon: 0}, {Lat: 0, Lon: 2}, {Lat: 1, Lon: 2}, {Lat: 1, Lon: 1}, {Lat: 2, Lon: 1}, {Lat: 2, Lon: 0}}

func TestAreaContains(t *testing.T) {
	l := Area{Name: "L", Polygon: theL}
	for _, tc := range []struct {
		p    Point
		want bool
	}{
		{Point{Lat: 0.5, Lon: 0.5}, true}, {Point{Lat: 1.5, Lon: 0.5}, true}, {Point{Lat: 0.5, Lon: 1.5}, true},
		{Point{Lat: 1.5, Lon: 1.5}, false}, {Point{Lat: -0.1, Lon: 0.5}, false}, {Point{Lat: 0.5, Lon: 2.1}, false},
		{Point{Lat: 3, Lon: 3}, false}, {Point{Lat: math.NaN(), Lon: 0.5}, false},
	} {
		if got := l.Contains(tc.p); got != tc.want {
			t.Errorf("Contains(%v) = %v; want %v", tc.p, got, tc.want)
		}
	}
	// A point on an edge two areas share is in exactly one.
	c, err := Load(filepath.Join("testdata", "city.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p      Point
		shared bool // on the edge West and East share; else on the outer edge
	}{
		{Point{Lat: 28.01, Lon: 113.0}, true}, {Point{Lat: 28.005, Lon: 113.0}, true},
		{Point{Lat: 28.0, Lon: 113.01}, false}, {Point{Lat: 28.02, Lon: 112.99}, false}, {Point{Lat: 28.0, Lon: 113.0}, false},
	} {
		n := 0
		for _, a := range c.Districts {
			if a.Contains(tc.p) {
				n++
			}
		}
		if n > 1 || tc.shared && n != 1 {
			t.Errorf("%v (shared edge: %v) is in %d districts", tc.p, tc.shared, n)
		}
	}
}

func TestAreaRandomPointUniform(t *testing.T) {
	l := Area{Name: "L", Polygon: theL}
	r := rand.New(rand.NewPCG(1, 1))
	const n = 30000
	var quarter [3]int // south-west, south-east, north-west: equal areas
	for range n {
		p := l.RandomPoint(r)
		if !l.Contains(p) {
			t.Fatalf("%v outside", p)
		}
		switch {
		case p.Lat < 1 && p.Lon < 1:
			quarter[0]++
		case p.Lat < 1:
			quarter[1]++
		default:
			quarter[2]++
		}
	}
	for i, q := range quarter {
		// Binomial(n, 1/3): σ ≈ 82.
		if math.Abs(float64(q)-n/3.0) > 400 {
			t.Errorf("quarter %d has %d of %d points", i, q, n)
		}
	}
	// A sliver with no area gives its centroid rather than looping.
	sliver := Area{Polygon: []Point{{Lat: 0, Lon: 0}, {Lat: 1, Lon: 1}, {Lat: 2, Lon: 2}}}
	if p := sliver.RandomPoint(r); p != (Point{Lat: 1, Lon: 1}) {
		t.Errorf("sliver: %v", p)
	}
}

func TestAreaCentroid(t *testing.T) {
	for _, tc := range []struct {
		name string
		poly []Point
		want Point
	}{
		{"square", []Point{{Lat: 28, Lon: 113}, {Lat: 28, Lon: 113.02}, {Lat: 28.02, Lon: 113.02}, {Lat: 28.02, Lon: 113}}, Point{Lat: 28.01, Lon: 113.01}},
		{"clockwise square", []Point{{Lat: 28, Lon: 113}, {Lat: 28.02, Lon: 113}, {Lat: 28.02, Lon: 113.02}, {Lat: 28, Lon: 113.02}}, Point{Lat: 28.01, Lon: 113.01}},
		{"triangle", []Point{{Lat: 0, Lon: 0}, {Lat: 0, Lon: 3}, {Lat: 3, Lon: 0}}, Point{Lat: 1, Lon: 1}},
		{"L", theL, Point{Lat: 5.0 / 6, Lon: 5.0 / 6}},
		{"line", []Point{{Lat: 0, Lon: 0}, {Lat: 1, Lon: 1}, {Lat: 2, Lon: 2}}, Point{Lat: 1, Lon: 1}},
		{"empty", nil, Point{}},
	} {
		a := Area{Polygon: tc.poly}
		got := a.Centroid()
		if math.Abs(got.Lat-tc.want.Lat) > 1e-9 || math.Abs(got.Lon-tc.want.Lon) > 1e-9 {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestCityBounds(t *testing.T) {
	c := Changsha()
	lo, hi := c.Bounds()
	// The built-in city: Wangcheng's north-west corner to Xingsha's east.
	if lo.Lat > 28.07 || lo.Lon > 112.77 || hi.Lat < 28.41 || hi.Lon < 113.13 ||
		lo.Lat < 28.0 || lo.Lon < 112.7 || hi.Lat > 28.5 || hi.Lon > 113.2 {
		t.Errorf("bounds %v – %v", lo, hi)
	}
	if lo, hi := (&Model{}).Bounds(); lo != (Point{}) || hi != (Point{}) {
		t.Errorf("empty city: %v – %v", lo, hi)
	}
}

// TestLoadCity reads the same small city in both forms.
func TestLoadCity(t *testing.T) {
	for _, file := range []string{"city.geojson", "city.json"} {
		t.Run(file, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != "测试城 Testville" || len(c.Districts) != 2 || len(c.Stations) != 2 ||
				len(c.Posts) != 2 || len(c.Routes) != 1 || len(c.HotSpots) != 2 {
				t.Fatalf("loaded %+v", c)
			}
			// The closing vertex is dropped; GeoJSON's [lon, lat] (and an
			// altitude) are read the right way round.
			for _, a := range c.Districts {
				if len(a.Polygon) != 4 {
					t.Errorf("district %q: %d vertices", a.Name, len(a.Polygon))
				}
			}
			if p := c.Districts[0].Polygon[1]; p != (Point{Lat: 28.00, Lon: 113.00}) {
				t.Errorf("west's second vertex: %v", p)
			}
			// Districts named by a word are resolved; absent ones found.
			for i, want := range []string{"西区 West", "东区 East"} {
				if c.Stations[i].District != want {
					t.Errorf("station %q: district %q; want %q", c.Stations[i].Name, c.Stations[i].District, want)
				}
			}
			if c.Posts[0].District != "东区 East" || c.Posts[1].District != "西区 West" {
				t.Errorf("posts: %+v", c.Posts)
			}
			if r := c.Routes[0]; r.District != "西区 West" || len(r.Points) != 3 || r.Points[1] != (Point{Lat: 28.011, Lon: 113.0}) {
				t.Errorf("route: %+v", r)
			}
			// Hot spot defaults.
			if h := c.HotSpots[0]; h.Weight != 2 || h.RadiusM != 400 || len(h.Kinds) != 2 {
				t.Errorf("hotspot 0: %+v", h)
			}
			if h := c.HotSpots[1]; h.Weight != defaultHotSpotWeight || h.RadiusM != defaultHotSpotRadiusM || h.Point != (Point{Lat: 28.005, Lon: 112.99}) {
				t.Errorf("hotspot 1: %+v", h)
			}
		})
	}
	// A file without a name is named after itself.
	dir := t.TempDir()
	file := filepath.Join(dir, "hamlet.json")
	if err := os.WriteFile(file, []byte(`{"districts":[{"name":"a","polygon":[{"lat":1,"lon":1},{"lat":1,"lon":2},{"lat":2,"lon":2}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(file); err != nil || c.Name != "hamlet" {
		t.Errorf("Load(%s) = %v, %v", file, c, err)
	}
}

func TestLoadCityErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // in the message
	}{
		{"bad-coords.geojson", []string{"testdata/bad-coords.geojson", `station "月球派出所"`, "95"}},
		{"bad-polygon.geojson", []string{`district "线区 Line"`, "2 distinct vertices"}},
		{"bad-kind.geojson", []string{`feature 1 ("电视塔")`, `unknown kind "tower"`}},
		{"missing.json", []string{"simulator: city", "no such file"}},
	} {
		_, err := Load(filepath.Join("testdata", tc.file))
		if err == nil {
			t.Errorf("%s: no error", tc.file)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want %q in it", tc.file, err, w)
			}
		}
	}
}

func TestParseCityErrors(t *testing.T) {
	square := `[{"lat":28,"lon":113},{"lat":28,"lon":113.01},{"lat":28.01,"lon":113.01},{"lat":28.01,"lon":113}]`
	district := `{"name":"A","polygon":` + square + `}`
	feature := func(kind, geom, coords, extra string) string {
		return `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"district","name":"A"},
			"geometry":{"type":"Polygon","coordinates":[[[113,28],[113.01,28],[113.01,28.01],[113,28.01]]]}},
			{"type":"Feature","properties":{"kind":"` + kind + `","name":"X"` + extra + `},"geometry":{"type":"` + geom + `","coordinates":` + coords + `}}]}`
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not JSON", `{`, "unexpected end"},
		{"not an object", `[1,2]`, "cannot unmarshal"},
		{"no districts", `{"name":"x"}`, "no districts"},
		{"unknown field", `{"districts":[` + district + `],"station":[]}`, `unknown field "station"`},
		{"trailing data", `{"districts":[` + district + `]} {}`, "after top-level value"},
		{"nameless district", `{"districts":[{"polygon":` + square + `}]}`, "district 0: no name"},
		{"duplicate district", `{"districts":[` + district + `,` + district + `]}`, `district "A": name used twice`},
		{"collinear polygon", `{"districts":[{"name":"A","polygon":[{"lat":0,"lon":0},{"lat":1,"lon":1},{"lat":2,"lon":2}]}]}`, "no area"},
		{"bow tie", `{"districts":[{"name":"A","polygon":[{"lat":0,"lon":0},{"lat":2,"lon":2},{"lat":2,"lon":0},{"lat":0,"lon":1}]}]}`, "edges 0 and 2 cross"},
		{"longitude out of range", `{"districts":[{"name":"A","polygon":[{"lat":0,"lon":0},{"lat":1,"lon":190},{"lat":1,"lon":0}]}]}`, "not WGS-84"},
		{"unknown district", `{"districts":[` + district + `],"posts":[{"name":"p","lat":28.005,"lon":113.005,"district":"B"}]}`, `post "p": unknown district "B"`},
		{"duplicate station", `{"districts":[` + district + `],"stations":[{"name":"s","lat":28,"lon":113},{"name":"s","lat":28,"lon":113}]}`, `station "s": name used twice`},
		{"one-point route", `{"districts":[` + district + `],"routes":[{"name":"r","points":[{"lat":28,"lon":113}]}]}`, `route "r": 1 points`},
		{"zero-length route", `{"districts":[` + district + `],"routes":[{"name":"r","points":[{"lat":28,"lon":113},{"lat":28,"lon":113}]}]}`, "no length"},
		{"negative weight", `{"districts":[` + district + `],"hotspots":[{"name":"h","lat":28,"lon":113,"weight":-1}]}`, `hotspot "h": weight -1`},
		{"huge radius", `{"districts":[` + district + `],"hotspots":[{"name":"h","lat":28,"lon":113,"radius_m":1e9}]}`, "radius_m"},
		{"bad hot spot kind", `{"districts":[` + district + `],"hotspots":[{"name":"h","lat":28,"lon":113,"kinds":["Theft!"]}]}`, `kind "Theft!"`},
		{"a single Feature", `{"type":"Feature"}`, "want a FeatureCollection"},
		{"geometry mismatch", feature("station", "LineString", `[[113,28],[113.01,28]]`, ""), `feature 1 ("X"): a station is a Point, not a LineString`},
		{"no geometry", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"post","name":"X"}}]}`, `feature 0 ("X"): no geometry`},
		{"short position", feature("post", "Point", `[113]`, ""), `feature 1 ("X"): position [113]`},
		{"bad coordinates", feature("post", "Point", `"here"`, ""), `feature 1 ("X"): coordinates`},
		{"bad property", feature("hotspot", "Point", `[113,28]`, `,"weight":"heavy"`), "feature 1: json"},
		{"nameless feature", feature("post", "Point", `[113,28]`, `,"name":" "`), `feature 1: no properties.name`},
		{"not a feature", `{"type":"FeatureCollection","features":[{"type":"Point"}]}`, `feature 0: type "Point": want Feature`},
		{"empty ring list", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"district","name":"A"},"geometry":{"type":"Polygon","coordinates":[]}}]}`, "polygon without a ring"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "simulator: city: ") {
			t.Errorf("%s: %v; want %q in it", tc.name, err, tc.want)
		}
	}
}

// areaKM2 is a polygon's area in km², on a local flat projection.
func areaKM2(ps []Point) float64 {
	lat := ps[0].Lat * math.Pi / 180
	return math.Abs(polygonArea2(ps)) / 2 * metresPerDegree * metresPerDegree * math.Cos(lat) / 1e6
}
