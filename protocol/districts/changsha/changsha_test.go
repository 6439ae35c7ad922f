package changsha_test

import (
	"fmt"
	"reflect"
	"testing"

	"kuaifan/protocol/districts"
	"kuaifan/protocol/districts/changsha"
)

func TestDistricts(t *testing.T) {
	s := changsha.Districts()
	if len(s.Districts) != 7 || s.Name != "长沙 Changsha" {
		t.Fatalf("%q: %d districts", s.Name, len(s.Districts))
	}
	want := map[string]string{"furong": "芙蓉区", "tianxin": "天心区", "yuelu": "岳麓区", "kaifu": "开福区",
		"yuhua": "雨花区", "wangcheng": "望城区", "changsha_county": "长沙县"}
	for _, d := range s.Districts {
		if want[d.ID] != d.NameZH || d.NameEN == "" || d.NameEN == d.NameZH || d.Name != d.NameZH+" "+d.NameEN {
			t.Errorf("%+v", d)
		}
		if len(d.Ring) < 3 || d.Ring[0] == d.Ring[len(d.Ring)-1] {
			t.Errorf("%s: ring %v", d.ID, d.Ring)
		}
	}
	// What the API serves reads back as the same set.
	again, err := districts.Parse(s.GeoJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, s) {
		t.Errorf("round trip:\n%+v\n%+v", again.Districts, s.Districts)
	}
	// Each call is a fresh copy.
	s.Districts[0].Ring[0].Lat = 0
	if changsha.Districts().Districts[0].Ring[0].Lat == 0 {
		t.Error("a change to one Set shows in the next")
	}
}

func TestAt(t *testing.T) {
	s := changsha.Districts()
	for _, tc := range []struct {
		lat, lon float64
		want     string
	}{
		{28.1960, 112.9770, "furong"}, // Wuyi Square
		{28.1146, 112.9898, "tianxin"},
		{28.2353, 112.9311, "yuelu"},
		{28.2559, 112.9853, "kaifu"},
		{28.1354, 113.0354, "yuhua"},
		{28.19, 112.963, "furong"},  // the corner Furong, Tianxin and Yuelu share: east, then north
		{28.19, 112.98, "furong"},   // on the Furong–Tianxin line: north
		{28.17, 112.963, "tianxin"}, // a vertex of the Yuelu–Tianxin line (the Xiang): east
		{30.0, 114.0, ""},
	} {
		got := ""
		if i := s.At(districts.Point{Lat: tc.lat, Lon: tc.lon}); i >= 0 {
			got = s.Districts[i].ID
		}
		if got != tc.want {
			t.Errorf("%v,%v in %q, want %q", tc.lat, tc.lon, got, tc.want)
		}
	}
}

// No two districts overlap: no point of a fine grid over the city, nor any
// vertex or point along an edge, is in two of them.
func TestNoOverlap(t *testing.T) {
	s := changsha.Districts()
	in := func(p districts.Point) int {
		n := 0
		for i := range s.Districts {
			if s.Districts[i].Contains(p) {
				n++
			}
		}
		return n
	}
	var points []districts.Point
	for lat := 28.0013; lat < 28.4; lat += 0.0031 {
		for lon := 112.8017; lon < 113.2; lon += 0.0029 {
			points = append(points, districts.Point{Lat: lat, Lon: lon})
		}
	}
	for _, d := range s.Districts {
		for i, a := range d.Ring {
			b := d.Ring[(i+1)%len(d.Ring)]
			for f := 0.0; f < 1; f += 0.125 {
				points = append(points, districts.Point{Lat: a.Lat + f*(b.Lat-a.Lat), Lon: a.Lon + f*(b.Lon-a.Lon)})
			}
		}
	}
	for _, p := range points {
		if n := in(p); n > 1 {
			t.Fatalf("%v is in %d districts", p, n)
		}
	}
}

func ExampleDistricts() {
	s := changsha.Districts()
	if i := s.At(districts.Point{Lat: 28.196, Lon: 112.977}); i >= 0 {
		fmt.Println(s.Districts[i].NameEN)
	}
	// Output: Furong
}
