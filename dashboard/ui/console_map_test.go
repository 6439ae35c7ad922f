package ui

import (
	"testing"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// farDistricts is a deployment elsewhere: two districts of Beijing, one long
// and thin, far from Changsha's box.
func farDistricts() []District {
	return []District{
		{ID: "dongcheng", EN: "Dongcheng", ZH: "东城", Ring: []LatLon{{Lat: 39.88, Lon: 116.38}, {Lat: 39.88, Lon: 116.44}, {Lat: 39.97, Lon: 116.44}, {Lat: 39.97, Lon: 116.38}}},
		{ID: "corridor", EN: "Corridor", ZH: "走廊", Ring: []LatLon{{Lat: 39.90, Lon: 116.44}, {Lat: 39.91, Lon: 116.70}, {Lat: 39.92, Lon: 116.44}}},
	}
}

// fitsAll checks that every vertex is drawn on the canvas, clear of its
// edges, and that the districts are not lost in a far view.
func fitsAll(t *testing.T, v View, ds []District) {
	t.Helper()
	minX, minY, maxX, maxY := v.W, v.H, 0.0, 0.0
	for _, d := range ds {
		for _, p := range d.Ring {
			x, y := v.ToScreen(p.Lat, p.Lon)
			if x < 0.04*v.W || x > 0.96*v.W || y < 0.04*v.H || y > 0.96*v.H {
				t.Errorf("%v×%v: %s's vertex %v at %.1f,%.1f: off the canvas or on its edge", v.W, v.H, d.ID, p, x, y)
			}
			minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
		}
	}
	if (maxX-minX)/v.W < 0.85 && (maxY-minY)/v.H < 0.85 {
		t.Errorf("%v×%v: the districts fill only %.0f%% × %.0f%%: zoomed out too far", v.W, v.H, 100*(maxX-minX)/v.W, 100*(maxY-minY)/v.H)
	}
}

// ⌂ fits every district (Changsha's box without any).
func TestHomeFitsDistricts(t *testing.T) {
	cityRing := []LatLon{{Lat: CityBox.MinLat, Lon: CityBox.MinLon}, {Lat: CityBox.MaxLat, Lon: CityBox.MaxLon}}
	for _, tc := range []struct {
		name string
		ds   []District
		want []District // what must fit
	}{
		{"Changsha's seven", mustChangsha(), mustChangsha()},
		{"elsewhere", farDistricts(), farDistricts()},
		{"none: Changsha's box", nil, []District{{ID: "citybox", Ring: cityRing}}},
	} {
		for _, size := range [][2]float64{{1024, 768}, {1600, 900}, {420, 800}, {2560, 600}} {
			c := NewConsole(EN)
			c.Store.SetDistricts(tc.ds)
			c.WithView(func(v *View) bool { v.W, v.H = size[0], size[1]; v.Pan(300, -200); v.Zoom = 5; return true })
			c.Home()
			fitsAll(t, c.View(), tc.want)
		}
	}
}

// The opening view fits the districts at the canvas's real size, and keeps
// fitting them until the dispatcher moves the map; then nothing jumps.
func TestOpeningView(t *testing.T) {
	now := int64(1_800_000_000_000)
	inBeijing := []Unit{unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 39.93, 116.40, now)}
	inChangsha := []Unit{unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)}
	for _, tc := range []struct {
		name   string
		steps  func(c *Console) // after sign-in set the districts
		moved  bool             // the dispatcher moved the map: it stays
		fleet  bool             // no unit in the districts' view: the fleet is shown
		resize [2]float64       // the size the map ends at
	}{
		{name: "districts at sign-in, then the canvas's size, then the snapshot", steps: func(c *Console) {
			c.Resize(1300, 700)
			c.ApplyFrames([]*Frame{snapshot(1, 1, inBeijing, nil)}, Link{}, false)
		}, resize: [2]float64{1300, 700}},
		{name: "a resize before anyone moved the map fits again", steps: func(c *Console) {
			c.Resize(1300, 700)
			c.ApplyFrames([]*Frame{snapshot(1, 1, inBeijing, nil)}, Link{}, false)
			c.Resize(500, 900)
		}, resize: [2]float64{500, 900}},
		{name: "the snapshot first, then the canvas's size", steps: func(c *Console) {
			c.ApplyFrames([]*Frame{snapshot(1, 1, inBeijing, nil)}, Link{}, false)
			c.Resize(1300, 700)
		}, resize: [2]float64{1300, 700}},
		{name: "moved before the snapshot: no jump", steps: func(c *Console) {
			c.Resize(1300, 700)
			c.WithView(func(v *View) bool { v.Pan(200, 50); return true })
			c.ApplyFrames([]*Frame{snapshot(1, 1, inBeijing, nil)}, Link{}, false)
			c.Resize(1200, 700)
		}, moved: true, resize: [2]float64{1200, 700}},
		{name: "no unit in the districts: the fleet", steps: func(c *Console) {
			c.Resize(1300, 700)
			c.ApplyFrames([]*Frame{snapshot(1, 1, inChangsha, nil)}, Link{}, false)
		}, fleet: true, resize: [2]float64{1300, 700}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConsole(EN)
			c.Store.SetDistricts(farDistricts()) // as the Controller does at sign-in
			var before View
			tc.steps(c)
			v := c.View()
			if v.W != tc.resize[0] || v.H != tc.resize[1] {
				t.Errorf("view %v×%v, want %v", v.W, v.H, tc.resize)
			}
			switch {
			case tc.moved:
				before = FitBox(Box{39.88, 39.97, 116.38, 116.70}, 1300, 700)
				before.Pan(200, 50)
				if v.Lat != before.Lat || v.Lon != before.Lon || v.Zoom != before.Zoom {
					t.Errorf("the map jumped to %+v from where the dispatcher left it, %+v", v, before)
				}
			case tc.fleet:
				if v.Zoom != 16 || !near(v.Lat, 28.2, 1e-9) || !near(v.Lon, 112.98, 1e-9) {
					t.Errorf("view %+v, want the one unit", v)
				}
			default:
				fitsAll(t, v, farDistricts())
			}
		})
	}
}

func TestCenterOnIncident(t *testing.T) {
	now := int64(1_800_000_000_000)
	for _, tc := range []struct {
		name     string
		id       string
		zoom     float64
		lat, lon float64 // the centre after
		wantZoom float64
	}{
		{"far out: zoom in to 14", "i2", 11, 28.19, 112.97, 14},
		{"closer already: keep it", "i1", 16.5, 28.201, 112.981, 16.5},
		{"closed today", "old", 12, 28.25, 113.0, 14},
		{"unknown", "nope", 11, 28.3, 113.05, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConsole(EN)
			c.Store = testStore(now)
			c.Store.AddHistory([]Incident{{ID: "old", Status: api.IncidentClosed, Priority: 2, Lat: 28.25, Lon: 113.0, Created: now - 3600_000}})
			c.Scene.View = View{Lat: 28.3, Lon: 113.05, Zoom: tc.zoom, W: 1000, H: 800}
			rev := c.SceneRev()
			c.CenterOnIncident(tc.id)
			v := c.View()
			if v.Lat != tc.lat || v.Lon != tc.lon || v.Zoom != tc.wantZoom || v.W != 1000 || v.H != 800 {
				t.Errorf("view %+v, want %v,%v at %v", v, tc.lat, tc.lon, tc.wantZoom)
			}
			if changed := c.SceneRev() != rev; changed != (tc.id != "nope") {
				t.Errorf("redraw asked: %v", changed)
			}
			if x, y := v.ToScreen(tc.lat, tc.lon); !near(x, 500, 1e-6) || !near(y, 400, 1e-6) {
				t.Errorf("the incident is drawn at %v,%v", x, y)
			}
		})
	}
}
