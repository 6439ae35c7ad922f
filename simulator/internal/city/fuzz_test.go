package city_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/patrol"
)

// FuzzLoadCity feeds random bytes through the JSON and GeoJSON decoders:
// never a panic, and whatever loads is valid and usable by the patrols and
// the incident generator (hence a test package of its own: they import city).
func FuzzLoadCity(f *testing.F) {
	for _, file := range []string{"city.geojson", "city.json", "bad-coords.geojson", "bad-polygon.geojson", "bad-kind.geojson"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"FeatureCollection","features":[null,{},{"type":"Feature","geometry":null}]}`))
	f.Add([]byte(`{"districts":[{"name":"a","polygon":[{"lat":1,"lon":1},{"lat":1,"lon":2},{"lat":2,"lon":2}]}],"routes":[{"name":"r","points":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := city.Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded but invalid: %v", err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		lo, hi := c.Bounds()
		_ = c.DistrictOf(city.Point{Lat: (lo.Lat + hi.Lat) / 2, Lon: (lo.Lon + hi.Lon) / 2})
		for i := range c.Districts {
			_ = c.Districts[i].Centroid()
			_ = c.Districts[i].RandomPoint(r)
		}
		for _, ty := range protocol.UnitTypes {
			m := patrol.NewMover(c, ty, r)
			m.Step(time.Minute)
		}
		g := incident.NewGenerator(c, incident.DefaultMix(), r)
		if _, inc := g.Next(time.Unix(0, 0)); inc.Check() != nil {
			t.Fatalf("incident %+v: %v", inc, inc.Check())
		}
	})
}
