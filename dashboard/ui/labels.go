package ui

import (
	"slices"
	"strings"
)

// Callsign labels. From LabelZoom a dispatcher looks at streets and wants
// to know which car is which without clicking each: every unit in view gets
// its callsign (its id when it has none) beside its marker — right of it,
// else left, above or below, wherever the label covers no other marker,
// incident or label. A label is light text on a dark translucent box,
// which reads on the dark vector map and on any raster tile alike (a text
// halo alone gets lost on a busy street map).
//
// Limits keep a frame cheap and the map readable: only the maxLabels units
// nearest the view's centre are candidates (the selected unit always is;
// units as near as the last one too), at most maxLabels are drawn, the
// nearer the centre placed first (the middle of the map reads best), and a
// unit whose four places are all taken goes unlabelled. A pile of units
// (three cars at one station) thus shows up to four labels around its
// marker; the picker (pick.go) lists them all.

// Label limits and metrics, CSS px.
const (
	LabelZoom     = 15.0 // labels from this zoom on: ~4.2 m a pixel at Changsha, streets 20–100 px apart
	maxLabels     = 300  // candidates and labels per frame, nearest the centre first
	maxLabelRunes = 20   // a longer callsign is cut: one label must not hide a district
	labelSize     = 11.0 // font size
	labelPadX     = 3.0  // box padding left and right of the text
	labelH        = 15.0 // box height
	labelGap      = 4.0  // between the marker and its box
	cellPx        = 4    // the occupancy grid's cell
)

// Label fading: a stale or offline unit's label fades with its marker, but
// less, so that it stays legible.
var labelAlpha = [numAlpha]float64{alphaFresh: 1, alphaStale: 0.75, alphaOffline: 0.55}

// labelCand is a unit in view that may be labelled.
type labelCand struct {
	u    *UnitState
	x, y float32 // marker centre on the canvas
	d    float32 // squared distance to the view's centre; -1 for the selected unit
	a    uint8   // alpha slot
}

// labelBox is a placed label: its box and its text.
type labelBox struct {
	x0, y0, x1, y1 float32
	s              string
	a              uint8
}

// labelBuf is the labels' per-frame scratch, reused: no allocation once
// grown.
type labelBuf struct {
	cands  []labelCand
	placed []labelBox
	// occ is the canvas in cellPx cells, a bit set where a marker, an
	// incident or a placed label is: a label goes only where its cells are
	// free. A grid, not a list of boxes, so that a check costs the same
	// with 5,000 markers in view as with 5.
	occ        []uint64
	cols, rows int
	r          float32 // marker radius at this zoom
}

// reset empties the scratch and says whether the view is close enough for
// labels.
func (l *labelBuf) reset(v View) bool {
	clear(l.cands) // do not keep removed units alive
	l.cands = l.cands[:0]
	clear(l.placed)
	l.placed = l.placed[:0]
	if v.Zoom < LabelZoom {
		return false
	}
	l.r = float32(UnitRadius(v.Zoom))
	l.cols, l.rows = int(v.W)/cellPx+1, int(v.H)/cellPx+1
	n := (l.cols*l.rows + 63) / 64
	if cap(l.occ) < n {
		l.occ = make([]uint64, n)
	}
	l.occ = l.occ[:n]
	clear(l.occ)
	return true
}

// add records a unit drawn at x, y (units(), at close zoom): its marker
// takes its cells, and it is a candidate for a label.
func (l *labelBuf) add(u *UnitState, x, y float32, a int) {
	l.take(x-l.r, y-l.r, x+l.r, y+l.r)
	l.cands = append(l.cands, labelCand{u: u, x: x, y: y, a: uint8(a)})
}

// cells is the range of grid cells under a box, clipped to the canvas; ok
// is false for a box wholly off it.
func (l *labelBuf) cells(x0, y0, x1, y1 float32) (c0, r0, c1, r1 int, ok bool) {
	if x1 < 0 || y1 < 0 {
		return 0, 0, 0, 0, false
	}
	// Clipped to ≥ 0 first, so that int() truncates like floor.
	c0, r0 = int(max(0, x0))/cellPx, int(max(0, y0))/cellPx
	c1, r1 = min(l.cols-1, int(x1)/cellPx), min(l.rows-1, int(y1)/cellPx)
	return c0, r0, c1, r1, c0 <= c1 && r0 <= r1
}

// take marks the cells under a box as taken.
func (l *labelBuf) take(x0, y0, x1, y1 float32) {
	c0, r0, c1, r1, ok := l.cells(x0, y0, x1, y1)
	if !ok {
		return
	}
	for r := r0; r <= r1; r++ {
		// A row's cells are consecutive bits: whole words at a time.
		i0, i1 := r*l.cols+c0, r*l.cols+c1
		for w := i0 >> 6; w <= i1>>6; w++ {
			l.occ[w] |= spanMask(w, i0, i1)
		}
	}
}

// free reports whether every cell under a box is free. The box is shrunk
// by a pixel, so that a label labelGap px from its own marker never shares
// a cell with it.
func (l *labelBuf) free(x0, y0, x1, y1 float32) bool {
	c0, r0, c1, r1, ok := l.cells(x0+1, y0+1, x1-1, y1-1)
	if !ok {
		return true
	}
	for r := r0; r <= r1; r++ {
		i0, i1 := r*l.cols+c0, r*l.cols+c1
		for w := i0 >> 6; w <= i1>>6; w++ {
			if l.occ[w]&spanMask(w, i0, i1) != 0 {
				return false
			}
		}
	}
	return true
}

// spanMask is the bits of word w that fall in bits i0…i1 of the grid.
func spanMask(w, i0, i1 int) uint64 {
	lo, hi := max(i0, w<<6), min(i1, w<<6|63)
	return ^uint64(0) >> (63 - (hi - lo)) << (lo & 63)
}

// labels places and draws the candidates units() collected; it returns how
// many labels it drew.
func (b *sceneBuf) labels(s *Store, m *MapScene, v View) int {
	l := &b.lab
	c := l.cands
	if len(c) == 0 {
		return 0
	}
	// Incidents are drawn over labels: a label under one could not be read.
	const ir = float32(incRadius + 2)
	for _, inc := range s.Incidents {
		x, y := v.ToScreen(inc.Lat, inc.Lon)
		l.take(float32(x)-ir, float32(y)-ir, float32(x)+ir, float32(y)+ir)
	}
	cx, cy := float32(v.W/2), float32(v.H/2)
	for i := range c {
		if c[i].u.ID == m.SelUnit {
			c[i].d = -1
			continue
		}
		dx, dy := c[i].x-cx, c[i].y-cy
		c[i].d = dx*dx + dy*dy
	}
	c = c[:nearestFirst(c, maxLabels)]
	slices.SortFunc(c, compareLabel)
	for i := range c {
		str := labelText(&c[i].u.Unit)
		w := float32(labelWidth(str) + 2*labelPadX)
		x, y := c[i].x, c[i].y
		off := l.r + labelGap
		if c[i].d < 0 {
			off += 4 // clear of the selected unit's ring
		}
		// Right of the marker, left, above, below: the first that is free.
		// Above and below a cell further out, clear of a right or left
		// label's row (the grid would call 2 px apart overlapping).
		offV := off + cellPx
		places := [4][2]float32{
			{x + off, y - labelH/2},
			{x - off - w, y - labelH/2},
			{x - w/2, y - offV - labelH},
			{x - w/2, y + offV},
		}
		for _, p := range places {
			if l.free(p[0], p[1], p[0]+w, p[1]+labelH) {
				l.take(p[0], p[1], p[0]+w, p[1]+labelH)
				l.placed = append(l.placed, labelBox{x0: p[0], y0: p[1], x1: p[0] + w, y1: p[1] + labelH, s: str, a: c[i].a})
				break
			}
		}
		if len(l.placed) == maxLabels {
			break // ties with the last candidate may have brought more
		}
	}
	// One box path and one run of texts per fading level.
	d := &b.d
	for a := range uint8(numAlpha) {
		n := 0
		for i := range l.placed {
			if p := &l.placed[i]; p.a == a {
				if n == 0 {
					d.style(colPanel, -1, 1, labelAlpha[a], 0)
				}
				d.rect(float64(p.x0), float64(p.y0), float64(p.x1-p.x0), float64(p.y1-p.y0))
				n++
			}
		}
		if n == 0 {
			continue
		}
		d.op1(opPaint)
		d.style(-1, -1, 1, labelAlpha[a], 0)
		for i := range l.placed {
			if p := &l.placed[i]; p.a == a {
				d.text(float64(p.x0)+labelPadX, float64(p.y0+p.y1)/2, p.s, labelSize, 0, colText, -1)
			}
		}
	}
	return len(l.placed)
}

// compareLabel orders candidates nearest the centre first; equal distances
// by id, so that which of two stacked units gets the label does not depend
// on map order (and does not flicker from frame to frame).
func compareLabel(a, b labelCand) int {
	switch {
	case a.d < b.d:
		return -1
	case a.d > b.d:
		return 1
	}
	return strings.Compare(a.u.ID, b.u.ID)
}

// nearestFirst moves the k candidates nearest the centre to the front of c,
// in no particular order, together with every other candidate as near as
// the k-th (stacked units are equally near: taking all of them keeps the
// choice independent of map order, so labels do not flicker from frame to
// frame). It returns how many it moved: k or more. A quickselect on the
// distance alone, O(len(c)): sorting 5,000 candidates to keep 300 would
// cost more than the rest of the frame.
func nearestFirst(c []labelCand, k int) int {
	if k >= len(c) {
		return len(c)
	}
	lo, hi := 0, len(c)-1
	for lo < hi {
		// Median of three as the pivot, moved to hi.
		mid := lo + (hi-lo)/2
		if c[mid].d < c[lo].d {
			c[mid], c[lo] = c[lo], c[mid]
		}
		if c[hi].d < c[lo].d {
			c[hi], c[lo] = c[lo], c[hi]
		}
		if c[mid].d < c[hi].d {
			c[mid], c[hi] = c[hi], c[mid]
		}
		pivot, p := c[hi].d, lo
		for i := lo; i < hi; i++ {
			if c[i].d < pivot {
				c[i], c[p] = c[p], c[i]
				p++
			}
		}
		c[p], c[hi] = c[hi], c[p]
		switch {
		case p == k:
			lo = k
		case p < k:
			lo = p + 1
			continue
		default:
			hi = p - 1
			continue
		}
		break
	}
	// c[:k] are the nearest, c[k] the next; bring its ties forward.
	last := c[0].d
	for i := 1; i < k; i++ {
		last = max(last, c[i].d)
	}
	n := k
	for i := k; i < len(c); i++ {
		if c[i].d <= last {
			c[i], c[n] = c[n], c[i]
			n++
		}
	}
	return n
}

// labelText is what a unit's label says: its callsign, else its id, cut to
// maxLabelRunes (a substring: no allocation).
func labelText(u *Unit) string {
	s := u.Callsign
	if s == "" {
		s = u.ID
	}
	n := 0
	for i := range s {
		if n == maxLabelRunes {
			return s[:i]
		}
		n++
	}
	return s
}

// labelWidth estimates the text's width at labelSize without asking the
// browser (the scene is built in Go, measured nowhere): Latin letters and
// digits ~0.62 em in the system UI fonts, CJK and other wide characters
// 1 em. It errs wide, so the box covers the text.
func labelWidth(s string) float64 {
	em := 0.0
	for _, r := range s {
		switch {
		case r < 0x80:
			em += 0.62
		case r >= 0x2e80: // CJK, kana, Hangul, full-width forms
			em += 1
		default:
			em += 0.75
		}
	}
	return em * labelSize
}
