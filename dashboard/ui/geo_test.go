package ui

import (
	"math"
	"testing"

	"kuaifan/protocol"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

func TestMercator(t *testing.T) {
	if mercX(0) != 0.5 || !near(mercY(0), 0.5, 1e-15) || mercX(-180) != 0 {
		t.Error("Mercator origin")
	}
	for _, lat := range []float64{-80, -28.2, 0, 28.2, 60, 85} {
		if got := unmercY(mercY(lat)); !near(got, lat, 1e-9) {
			t.Errorf("lat %v round trip %v", lat, got)
		}
	}
	if mercY(89.9) != mercY(maxMercat) {
		t.Error("latitude beyond the Mercator square not clamped")
	}
}

func TestViewProjection(t *testing.T) {
	v := View{Lat: HomeLat, Lon: HomeLon, Zoom: 13, W: 800, H: 600}
	if x, y := v.ToScreen(HomeLat, HomeLon); !near(x, 400, 1e-6) || !near(y, 300, 1e-6) {
		t.Errorf("centre at %v,%v", x, y)
	}
	// Round trip anywhere on the canvas.
	for _, p := range [][2]float64{{0, 0}, {800, 600}, {123.4, 567.8}} {
		lat, lon := v.FromScreen(p[0], p[1])
		if x, y := v.ToScreen(lat, lon); !near(x, p[0], 1e-6) || !near(y, p[1], 1e-6) {
			t.Errorf("%v → %v,%v → %v,%v", p, lat, lon, x, y)
		}
	}
	// North is up, east is right.
	x1, y1 := v.ToScreen(HomeLat+0.01, HomeLon+0.01)
	if x1 <= 400 || y1 >= 300 {
		t.Errorf("north-east at %v,%v", x1, y1)
	}
	// A pixel on the ground at zoom 13, latitude 28.2: 19.1 m × cos = 16.8 m.
	if mpp := v.MetersPerPixel(); !near(mpp, 16.84, 0.05) {
		t.Errorf("metres per pixel %v", mpp)
	}
	// Screen distance matches haversine for a short east-west hop.
	m := protocol.Haversine(HomeLat, HomeLon, HomeLat, HomeLon+0.01)
	x2, _ := v.ToScreen(HomeLat, HomeLon+0.01)
	if got := v.MetersToPixels(m, HomeLat); !near(got, x2-400, 0.01) {
		t.Errorf("MetersToPixels %v, screen %v", got, x2-400)
	}
}

func TestPanZoom(t *testing.T) {
	v := View{Lat: HomeLat, Lon: HomeLon, Zoom: 12, W: 800, H: 600}
	lat, lon := v.FromScreen(100, 100)
	v.Pan(50, -20)
	if x, y := v.ToScreen(lat, lon); !near(x, 150, 1e-6) || !near(y, 80, 1e-6) {
		t.Errorf("after pan the point is at %v,%v, want 150,80", x, y)
	}
	lat, lon = v.FromScreen(620, 410)
	v.ZoomAt(2, 620, 410)
	if v.Zoom != 13 {
		t.Errorf("zoom %v", v.Zoom)
	}
	if x, y := v.ToScreen(lat, lon); !near(x, 620, 1e-6) || !near(y, 410, 1e-6) {
		t.Errorf("the point under the cursor moved to %v,%v", x, y)
	}
	v.ZoomAt(1e9, 0, 0)
	if v.Zoom != MaxZoom {
		t.Errorf("zoom not clamped: %v", v.Zoom)
	}
	v.ZoomAt(math.NaN(), 0, 0)
	if v.Zoom != MaxZoom {
		t.Error("NaN zoom factor applied")
	}
	// Panning across the antimeridian wraps.
	w := View{Lat: 0, Lon: 179.99, Zoom: 10, W: 800, H: 600}
	w.Pan(-400, 0)
	if w.Lon > -170 || w.Lon < -180 {
		t.Errorf("wrapped to %v", w.Lon)
	}
}

func TestFitBox(t *testing.T) {
	for _, size := range [][2]float64{{800, 600}, {1600, 900}, {400, 800}} {
		v := FitBox(CityBox, size[0], size[1])
		b := v.Bounds()
		if b.MinLat > CityBox.MinLat || b.MaxLat < CityBox.MaxLat || b.MinLon > CityBox.MinLon || b.MaxLon < CityBox.MaxLon {
			t.Errorf("%v: view %+v does not contain the city %+v", size, b, CityBox)
		}
		// …and is not much larger: the city fills at least half a side.
		if (CityBox.MaxLon-CityBox.MinLon)/(b.MaxLon-b.MinLon) < 0.5 && (CityBox.MaxLat-CityBox.MinLat)/(b.MaxLat-b.MinLat) < 0.5 {
			t.Errorf("%v: zoom %v too far out", size, v.Zoom)
		}
	}
	// One point: the zoom is capped, not infinite.
	if v := FitBox(Box{28, 28, 113, 113}, 800, 600); v.Zoom != 16 {
		t.Errorf("single point zoom %v", v.Zoom)
	}
}

func TestCircleRadius(t *testing.T) {
	// minutes × 60 s × 8.3 m/s ÷ 1.4
	for min, want := range map[float64]float64{1: 355.7, 3: 1067.1, 5: 1778.6} {
		if got := CircleRadiusM(min); !near(got, want, 0.1) {
			t.Errorf("%v min: %v m, want %v", min, got, want)
		}
	}
}

func TestScaleBarAndGrid(t *testing.T) {
	for _, zoom := range []float64{5, 9.3, 12, 13.7, 17, 19} {
		v := View{Lat: HomeLat, Lon: HomeLon, Zoom: zoom, W: 800, H: 600}
		m, px := v.ScaleBar(120)
		if px > 120 || px < 120/5.01 {
			t.Errorf("zoom %v: scale bar %v px", zoom, px)
		}
		if niceBelow(m) != m {
			t.Errorf("zoom %v: scale bar %v m is not 1-2-5", zoom, m)
		}
		step := v.GridStep(90)
		if gap := step * v.scale() / 360; gap < 90 || gap > 90*2.5+1 {
			t.Errorf("zoom %v: grid lines %v px apart", zoom, gap)
		}
	}
	for x, want := range map[float64]float64{7: 5, 1: 1, 0.3: 0.2, 1999: 1000, 0: 0} {
		if got := niceBelow(x); got != want {
			t.Errorf("niceBelow(%v) = %v", x, got)
		}
	}
	for x, want := range map[float64]float64{7: 10, 1: 1, 0.3: 0.5, 2001: 5000} {
		if got := niceAbove(x); got != want {
			t.Errorf("niceAbove(%v) = %v", x, got)
		}
	}
}

func TestTiles(t *testing.T) {
	v := View{Lat: HomeLat, Lon: HomeLon, Zoom: 12.4, W: 800, H: 600}
	tiles := v.Tiles(nil)
	if len(tiles) == 0 {
		t.Fatal("no tiles")
	}
	// Every canvas pixel is covered by exactly the tiles listed.
	for _, p := range [][2]float64{{0, 0}, {799, 599}, {400, 300}, {13, 577}} {
		n := 0
		for _, tl := range tiles {
			if tl.Z != 12 {
				t.Fatalf("tile zoom %d", tl.Z)
			}
			if p[0] >= tl.DX && p[0] < tl.DX+tl.Sz && p[1] >= tl.DY && p[1] < tl.DY+tl.Sz {
				n++
			}
		}
		if n != 1 {
			t.Errorf("pixel %v under %d tiles", p, n)
		}
	}
	// The tile under the centre is the one with Changsha in it at z12.
	lat, lon := HomeLat, HomeLon
	wantX, wantY := int(mercX(lon)*4096), int(mercY(lat)*4096)
	found := false
	for _, tl := range tiles {
		if tl.X == wantX && tl.Y == wantY && 400 >= tl.DX && 400 < tl.DX+tl.Sz && 300 >= tl.DY && 300 < tl.DY+tl.Sz {
			found = true
		}
	}
	if !found {
		t.Errorf("centre tile %d/%d not at the centre: %+v", wantX, wantY, tiles)
	}
	// Across the antimeridian x wraps.
	w := View{Lat: 0, Lon: 180, Zoom: 2, W: 800, H: 600}
	for _, tl := range w.Tiles(nil) {
		if tl.X < 0 || tl.X >= 4 || tl.Y < 0 || tl.Y >= 4 {
			t.Errorf("tile %+v out of range", tl)
		}
	}
}
