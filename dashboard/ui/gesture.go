package ui

import "math"

// Gestures turns pointer events (mouse, pen, touch) into pans, pinch zooms
// and clicks on the map. One pointer drags; two pinch (zoom about their
// midpoint, pan with it); a press released without moving more than
// ClickSlop is a click.
type Gestures struct {
	ptrs    map[int]point
	start   point // where the first pointer went down
	moved   bool  // beyond the slop since the first pointer went down
	multi   bool  // two pointers were down at some point: not a click
	pinchD  float64
	pinchMd point
}

type point struct{ X, Y float64 }

// ClickSlop is how far (CSS px) a press may move and still be a click.
const ClickSlop = 6.0

// Down records a pointer going down.
func (g *Gestures) Down(id int, x, y float64) {
	if g.ptrs == nil {
		g.ptrs = make(map[int]point, 2)
	}
	if len(g.ptrs) == 0 {
		g.start, g.moved, g.multi = point{x, y}, false, false
	}
	g.ptrs[id] = point{x, y}
	if len(g.ptrs) >= 2 {
		g.multi = true
		g.pinchD, g.pinchMd = g.pinch()
	}
}

// Move applies a pointer's move to v. It reports whether v changed.
func (g *Gestures) Move(v *View, id int, x, y float64) bool {
	p, ok := g.ptrs[id]
	if !ok {
		return false // a hover, not a drag
	}
	if !g.moved && math.Hypot(x-g.start.X, y-g.start.Y) > ClickSlop {
		g.moved = true
	}
	g.ptrs[id] = point{x, y}
	switch len(g.ptrs) {
	case 1:
		if !g.moved {
			return false
		}
		v.Pan(x-p.X, y-p.Y)
		return true
	default:
		d, md := g.pinch()
		if g.pinchD > 0 && d > 0 {
			v.Pan(md.X-g.pinchMd.X, md.Y-g.pinchMd.Y)
			v.ZoomAt(d/g.pinchD, md.X, md.Y)
		}
		g.pinchD, g.pinchMd = d, md
		return true
	}
}

// Up records a pointer going up; click is true if the whole press was a
// click (one pointer, not moved), at x, y.
func (g *Gestures) Up(id int, x, y float64) (click bool) {
	if _, ok := g.ptrs[id]; !ok {
		return false
	}
	delete(g.ptrs, id)
	if len(g.ptrs) == 1 {
		// Back to one finger: it drags from where it is.
		g.pinchD = 0
	}
	return len(g.ptrs) == 0 && !g.moved && !g.multi
}

// Cancel forgets a pointer (the browser took it over).
func (g *Gestures) Cancel(id int) {
	delete(g.ptrs, id)
	g.multi = true // whatever it was, it was not a click
}

// pinch is the distance between the two pointers with the smallest ids
// (a third finger is ignored) and their midpoint.
func (g *Gestures) pinch() (float64, point) {
	a, b := -1, -1
	for id := range g.ptrs {
		switch {
		case a < 0 || id < a:
			a, b = id, a
		case b < 0 || id < b:
			b = id
		}
	}
	p, q := g.ptrs[a], g.ptrs[b]
	return math.Hypot(p.X-q.X, p.Y-q.Y), point{(p.X + q.X) / 2, (p.Y + q.Y) / 2}
}

// WheelFactor converts a wheel event's deltaY (in deltaMode units: 0 pixels,
// 1 lines, 2 pages) to a zoom factor: a notch of a mouse wheel (100 px, or
// 3 lines) is about ×1.26, a trackpad's small deltas zoom smoothly.
func WheelFactor(deltaY float64, deltaMode int) float64 {
	switch deltaMode {
	case 1:
		deltaY *= 33
	case 2:
		deltaY *= 400
	}
	deltaY = max(-500, min(500, deltaY))
	return math.Exp2(-deltaY / 300)
}
