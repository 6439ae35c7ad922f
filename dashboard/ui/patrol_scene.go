package ui

// The patrol layer on the canvas (patrol.go): areas as outlines with a
// light fill, routes as polylines, checkpoints as rings of their radius
// (never under patrolMinR pixels, so that they show on the whole city),
// each in its state's colour — met green, not met yet amber, no result
// grey — the grey ones first, under the others. From patrolLabelZoom each
// task in view is named. Each state and kind is one path: a frame costs a
// few style changes whatever the plan's size, and its shapes, kept in
// Mercator units, are only scaled and culled.

const (
	patrolLabelZoom = 14.0
	patrolMinR      = 3.0
)

// The kinds of shapes, in the order they are drawn.
const (
	shapeArea = iota
	shapeLine
	shapePoint
	numPatrolKinds
)

// The state's colours: the stroke, and the fill (translucent in the
// palette itself: one style paints both).
var (
	patrolColours = [numPatrolStates]int{colPatrolNone, colPatrolDue, colPatrolMet}
	patrolFills   = [numPatrolStates]int{colPatrolNoneFill, colPatrolDueFill, colPatrolMetFill}
)

// patrols draws the layer while it is shown, and says how many tasks it
// drew.
func (b *sceneBuf) patrols(m *MapScene, v View) int {
	if !m.PatrolOn || len(m.Patrol) == 0 {
		return 0
	}
	d := &b.d
	s := v.scale()
	ox, oy := v.origin()
	seen := func(p *patrolShape) bool {
		return p.box[2]*s-ox >= -cullPad && p.box[0]*s-ox <= v.W+cullPad && p.box[3]*s-oy >= -cullPad && p.box[1]*s-oy <= v.H+cullPad
	}
	n := 0
	for st := range numPatrolStates {
		for kind := range numPatrolKinds {
			styled := false
			for i := range m.Patrol {
				p := &m.Patrol[i]
				if p.state != st || p.kind != kind || !seen(p) {
					continue
				}
				if !styled {
					styled = true
					switch kind {
					case shapeArea:
						d.style(patrolFills[st], patrolColours[st], 1.5, 1, 0)
					case shapeLine:
						d.style(-1, patrolColours[st], 3, 0.9, 0)
					default:
						d.style(patrolFills[st], patrolColours[st], 2, 1, 0)
					}
				}
				n++
				if kind == shapePoint {
					d.op3(opCircle, p.m[0]*s-ox, p.m[1]*s-oy, max(patrolMinR, p.rm*s))
					continue
				}
				for k := 0; k+1 < len(p.m); k += 2 {
					op := opLine
					if k == 0 {
						op = opMove
					}
					d.op2(op, p.m[k]*s-ox, p.m[k+1]*s-oy)
				}
				if kind == shapeArea {
					d.op1(opClose)
				}
			}
			if styled {
				d.op1(opPaint)
			}
		}
	}
	if v.Zoom < patrolLabelZoom || n == 0 {
		return n
	}
	d.style(-1, -1, 1, 1, 0)
	for i := range m.Patrol {
		p := &m.Patrol[i]
		if !seen(p) {
			continue
		}
		x, y := p.anchor()
		x, y = x*s-ox, y*s-oy
		if p.kind == shapePoint {
			y -= max(patrolMinR, p.rm*s) + 8
		}
		d.text(x, y, p.label, 11, 1, patrolColours[p.state], colDark)
	}
	return n
}

// anchor is where a shape's label goes, in Mercator units: a checkpoint's
// centre (the label above it), a route's middle (its middle vertex, or the
// middle of its middle segment), an area's vertices' mean.
func (p *patrolShape) anchor() (x, y float64) {
	switch n := len(p.m) / 2; {
	case p.kind == shapeArea:
		for k := 0; k+1 < len(p.m); k += 2 {
			x, y = x+p.m[k], y+p.m[k+1]
		}
		return x / float64(n), y / float64(n)
	case p.kind == shapeLine:
		i, j := (n-1)/2*2, n/2*2
		return (p.m[i] + p.m[j]) / 2, (p.m[i+1] + p.m[j+1]) / 2
	}
	return p.m[0], p.m[1]
}
