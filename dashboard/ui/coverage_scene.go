package ui

// The coverage layer on the canvas. A city's grid has up to ~26,000 cells;
// drawn one rectangle each, a frame would be 26,000 operations. Along a row,
// neighbouring cells mostly share a tier: each row's runs of one tier are
// one rectangle (a few thousand for a city), rebuilt only when the layer's
// cells change (CoverLayer.Ver), grouped by colour so that each colour is
// one path and one fill, and culled to the view.

// coverRun is the cells c0 … c1-1 of a row, all of one tier.
type coverRun struct {
	row, c0, c1 int32
	tier        byte
}

// Colour slots of the layer: beyond, then the tiers; later tiers take the
// third's colour. '-' (outside the city) is not drawn.
const numCoverSlots = 4

var coverColours = [numCoverSlots]int{colCoverBeyond, colCover1, colCover2, colCover3}

// coverAlpha: the tiers translucent, deepening with the tier, the holes
// more opaque so that they stand out on the dark map and on tiles.
var coverAlpha = [numCoverSlots]float64{0.45, 0.22, 0.26, 0.32}

func coverSlot(t byte) int {
	switch {
	case t == '0':
		return 0
	case t >= '1' && t <= '3':
		return int(t - '0')
	case t > '3' && t <= '9':
		return 3
	}
	return -1
}

// coverRuns caches a layer's runs, by colour slot, for version ver.
type coverRuns struct {
	ver    uint64
	slots  [numCoverSlots][]coverRun
	xs, ys []float64 // the grid's column and row edges on screen, per frame
}

// rebuild splits each row of cells (rows × cols, row 0 southernmost) into
// runs of one tier, dropping the cells outside the city.
func (r *coverRuns) rebuild(cells []byte, rows, cols int) {
	for i := range r.slots {
		r.slots[i] = r.slots[i][:0]
	}
	for row := range rows {
		line := cells[row*cols : (row+1)*cols]
		for c := 0; c < cols; {
			t := line[c]
			j := c + 1
			for j < cols && line[j] == t {
				j++
			}
			if k := coverSlot(t); k >= 0 {
				r.slots[k] = append(r.slots[k], coverRun{row: int32(row), c0: int32(c), c1: int32(j), tier: t})
			}
			c = j
		}
	}
}

// coverage draws the layer while it is shown, and says how many
// rectangles it drew.
func (b *sceneBuf) coverage(s *Store, m *MapScene, v View) int {
	l := s.Cover
	if !m.CoverOn || l == nil || !l.cellsOK() {
		return 0
	}
	g := l.Grid
	r := &b.cover
	if r.ver != l.Ver {
		r.rebuild(l.Tiers, g.Rows, g.Cols)
		r.ver = l.Ver
	}
	// A cell's edges: longitude → x, latitude → y (Mercator keeps a row a
	// row and a column a column). Row edge i is the latitude MinLat +
	// i × LatStep; edge rows is the grid's north.
	r.xs, r.ys = r.xs[:0], r.ys[:0]
	for c := 0; c <= g.Cols; c++ {
		x, _ := v.ToScreen(g.MinLat, g.MinLon+float64(c)*g.LonStep)
		r.xs = append(r.xs, x)
	}
	for i := 0; i <= g.Rows; i++ {
		_, y := v.ToScreen(g.MinLat+float64(i)*g.LatStep, g.MinLon)
		r.ys = append(r.ys, y)
	}
	d := &b.d
	n := 0
	for k, runs := range r.slots {
		if len(runs) == 0 {
			continue
		}
		d.style(coverColours[k], -1, 0, coverAlpha[k], 0)
		for _, run := range runs {
			x0, x1 := r.xs[run.c0], r.xs[run.c1]
			top, bottom := r.ys[run.row+1], r.ys[run.row]
			if x1 < 0 || x0 > v.W || bottom < 0 || top > v.H {
				continue
			}
			d.rect(x0, top, x1-x0, bottom-top)
			n++
		}
		d.op1(opPaint)
	}
	return n
}

// moveUps draws each unit on a move-up (from b.moving, gathered by units)
// with a dashed line to where it goes and a ring there, and, while the
// move-up list is open, each suggestion's unit with a fainter dashed line
// to the suggested place and a smaller ring. It says how many lines.
func (b *sceneBuf) moveUps(s *Store, m *MapScene, v View) int {
	d := &b.d
	n := 0
	if len(b.moving) > 0 {
		d.style(-1, colMoveUp, 2, 0.95, 5)
		for _, u := range b.moving {
			ux, uy := b.unitXY(v, u)
			x, y := v.ToScreen(u.Reposition.Lat, u.Reposition.Lon)
			d.op2(opMove, ux, uy)
			d.op2(opLine, x, y)
			d.op3(opCircle, x, y, 5)
			n++
		}
		d.op1(opPaint)
	}
	if len(m.MoveUps) > 0 {
		d.style(-1, colMoveUp, 1.5, 0.6, 3)
		for _, mu := range m.MoveUps {
			fx, fy := v.ToScreen(mu.FromLat, mu.FromLon)
			if u := s.Units[mu.Unit]; u != nil && u.HasFix {
				fx, fy = b.unitXY(v, u)
			}
			x, y := v.ToScreen(mu.ToLat, mu.ToLon)
			d.op2(opMove, fx, fy)
			d.op2(opLine, x, y)
			d.op3(opCircle, x, y, 4)
			n++
		}
		d.op1(opPaint)
	}
	return n
}
