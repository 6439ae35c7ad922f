package ui

import (
	"math"
	"testing"
)

func TestGestures(t *testing.T) {
	base := View{Lat: 28.2, Lon: 112.98, Zoom: 12, W: 800, H: 600}

	t.Run("drag pans", func(t *testing.T) {
		v := base
		var g Gestures
		g.Down(1, 100, 100)
		lat, lon := v.FromScreen(100, 100)
		g.Move(&v, 1, 103, 101) // within the slop: nothing yet
		if v != base {
			t.Error("moved within the click slop")
		}
		g.Move(&v, 1, 150, 130)
		g.Move(&v, 1, 160, 140)
		if click := g.Up(1, 160, 140); click {
			t.Error("a drag counted as a click")
		}
		if x, y := v.ToScreen(lat, lon); !near(x, 157, 1e-6) || !near(y, 139, 1e-6) {
			// The first 3,1 px inside the slop are not applied.
			t.Errorf("grabbed point at %v,%v", x, y)
		}
	})
	t.Run("tap is a click", func(t *testing.T) {
		v := base
		var g Gestures
		g.Down(7, 300, 200)
		g.Move(&v, 7, 302, 203)
		if !g.Up(7, 302, 203) {
			t.Error("a tap with jitter is a click")
		}
		if v != base {
			t.Error("a tap moved the map")
		}
	})
	t.Run("hover is not a drag", func(t *testing.T) {
		v := base
		var g Gestures
		if g.Move(&v, 1, 10, 10) || v != base {
			t.Error("hover panned")
		}
		if g.Up(1, 10, 10) {
			t.Error("an up without a down is a click")
		}
	})
	t.Run("pinch zooms about the fingers", func(t *testing.T) {
		v := base
		var g Gestures
		g.Down(1, 300, 300)
		g.Down(2, 500, 300)
		lat, lon := v.FromScreen(400, 300)
		g.Move(&v, 1, 200, 300)
		g.Move(&v, 2, 600, 300) // distance 200 → 400: twice the scale
		if !near(v.Zoom, 13, 1e-9) {
			t.Errorf("zoom %v, want 13", v.Zoom)
		}
		if x, y := v.ToScreen(lat, lon); !near(x, 400, 1e-6) || !near(y, 300, 1e-6) {
			t.Errorf("midpoint moved to %v,%v", x, y)
		}
		g.Up(1, 200, 300)
		if g.Up(2, 600, 300) {
			t.Error("a pinch ended as a click")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		var g Gestures
		g.Down(1, 1, 1)
		g.Cancel(1)
		if g.Up(1, 1, 1) {
			t.Error("a cancelled press clicked")
		}
	})
}

func TestWheelFactor(t *testing.T) {
	if f := WheelFactor(-100, 0); !near(f, math.Exp2(1.0/3), 1e-9) {
		t.Errorf("a notch up: %v", f)
	}
	if f := WheelFactor(3, 1); !near(f, WheelFactor(99, 0), 1e-9) {
		t.Error("line mode")
	}
	if WheelFactor(1e9, 0) != WheelFactor(500, 0) {
		t.Error("not clamped")
	}
	if WheelFactor(100, 0)*WheelFactor(-100, 0) != 1 {
		t.Error("up and down are not inverse")
	}
}
