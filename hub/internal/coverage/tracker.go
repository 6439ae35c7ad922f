package coverage

import (
	"cmp"
	"math"
	"slices"
)

// Tracker keeps the coverage grid of a changing set of units up to date
// one unit at a time, so the hub need not run Compute after every fix.
//
// Its Result always equals Compute over the units it holds, exactly (the
// same ETAs, bit for bit, and tiers): Set paints the unit's new reach with
// the minimum, and the cells the unit was nearest for at its old position
// are recomputed from the units whose reach covers them, found through a
// bucket index, not from the whole fleet.
//
// A Tracker is not safe for concurrent use: one goroutine calls its
// methods. A Result it returns is never written again (the Tracker copies
// its arrays before the next change), so it may be handed to readers on
// other goroutines; they must not modify it either.
type Tracker struct {
	g     *Grid
	last  float64 // last tier bound in seconds
	ids   map[string]int32
	slots []slot
	free  []int32

	best  []float64 // per cell: smallest ETA of any unit, +Inf beyond the last tier
	owner []int32   // per cell: a unit (slot) with that ETA, -1 if none
	res   Result    // float32(best) and tiers; shared once Result returned it
	// shared is set when res has been handed out: the next change copies
	// its arrays first (copy on write).
	shared bool

	// Bucket index: bucket b lists the painted slots whose window overlaps
	// it, so a cell's candidates are its bucket's list.
	bEdge, bRows, bCols int
	buckets             [][]int32

	// Changes since the last Changes call: the cells written, each with the
	// ETA and tier it had before its first write.
	marked []bool
	dirty  []int32
	prevE  []float32
	prevT  []uint8

	s2, buf []float64 // scratch rows for visit
	redo    []int32   // scratch: cells to recompute
}

type slot struct {
	u       Unit
	p       probe
	w       window
	painted bool    // p is valid and w has cells: the unit is in the buckets
	bkts    []int32 // buckets the unit is listed in
}

// trackerBucketReach sets the bucket edge: a bucket is about the largest
// reach ÷ trackerBucketReach cells across. Smaller buckets mean fewer
// candidates per recomputed cell but more buckets to list each unit in;
// in BenchmarkTrackerMove10k anything from 1 to 3 ran alike (about 20 to
// 30 µs a move), 0.5 and 6 about twice as slow.
const trackerBucketReach = 1.5

// NewTracker returns an empty Tracker over g: every cell beyond the last
// tier until units are Set.
func NewTracker(g *Grid) *Tracker {
	n := g.Cells()
	t := &Tracker{
		g:      g,
		last:   g.boundS[len(g.boundS)-1],
		ids:    map[string]int32{},
		best:   make([]float64, n),
		owner:  make([]int32, n),
		res:    g.Compute(nil),
		marked: make([]bool, n),
		s2:     make([]float64, g.cols),
		buf:    make([]float64, g.cols),
	}
	for i := range t.best {
		t.best[i] = math.Inf(1)
		t.owner[i] = -1
	}
	maxSpeed := 0.0
	for _, v := range g.speeds {
		maxSpeed = max(maxSpeed, v)
	}
	reachCells := maxSpeed * t.last / g.detour / (g.latStep * MetresPerDegreeLat)
	t.bEdge = max(1, min(int(math.Ceil(reachCells/trackerBucketReach)), max(g.rows, g.cols)))
	t.bRows = (g.rows + t.bEdge - 1) / t.bEdge
	t.bCols = (g.cols + t.bEdge - 1) / t.bEdge
	t.buckets = make([][]int32, t.bRows*t.bCols)
	return t
}

// Grid returns the tracker's grid.
func (t *Tracker) Grid() *Grid { return t.g }

// Len returns the number of units held.
func (t *Tracker) Len() int { return len(t.ids) }

// Unit returns the unit held under id.
func (t *Tracker) Unit(id string) (Unit, bool) {
	i, ok := t.ids[id]
	if !ok {
		return Unit{}, false
	}
	return t.slots[i].u, true
}

// Units returns a new slice of the units held, sorted by ID (for instance
// to pass to SuggestMoveUps).
func (t *Tracker) Units() []Unit {
	out := make([]Unit, 0, len(t.ids))
	for _, i := range t.ids {
		out = append(out, t.slots[i].u)
	}
	slices.SortFunc(out, func(a, b Unit) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Set adds u, or moves (or retypes) the unit held under u.ID. As in
// Compute, a unit whose type has no speed or whose position is invalid is
// held but reaches nothing. Cost: about two paints of the unit's reach
// plus, for each cell it was nearest for, the units whose reach covers
// that cell.
func (t *Tracker) Set(u Unit) {
	i, ok := t.ids[u.ID]
	if !ok {
		if n := len(t.free); n > 0 {
			i = t.free[n-1]
			t.free = t.free[:n-1]
		} else {
			i = int32(len(t.slots))
			t.slots = append(t.slots, slot{})
		}
		t.ids[u.ID] = i
	} else if t.slots[i].u == u {
		return
	} else {
		t.lift(i)
	}
	t.slots[i].u = u
	t.place(i)
}

// Remove removes the unit held under id and reports whether there was one.
func (t *Tracker) Remove(id string) bool {
	i, ok := t.ids[id]
	if !ok {
		return false
	}
	t.lift(i)
	delete(t.ids, id)
	t.slots[i].u = Unit{}
	t.free = append(t.free, i)
	return true
}

// Result returns the coverage of the units held, equal to Compute over
// them. It costs nothing: the Tracker hands out its arrays and copies them
// (about 5 bytes a cell) before its next change, so the Result returned is
// never written again.
func (t *Tracker) Result() Result {
	t.shared = true
	return t.res
}

// Changes returns, in increasing order, the cells whose ETA (as float32)
// or tier differs from what it was at the previous Changes call (or, at the
// first call, from an empty grid: ETA +Inf, tier 0). A cell changed and
// changed back is not reported. Its cost is proportional to the cells
// written since the previous call.
func (t *Tracker) Changes() []int {
	var out []int
	for k, c := range t.dirty {
		t.marked[c] = false
		if t.res.ETAs[c] != t.prevE[k] || t.res.tier[c] != t.prevT[k] {
			out = append(out, int(c))
		}
	}
	t.dirty, t.prevE, t.prevT = t.dirty[:0], t.prevE[:0], t.prevT[:0]
	slices.Sort(out)
	return out
}

// write sets a cell's best ETA and owner and, if its published ETA or tier
// changes, the Result, noting the change.
func (t *Tracker) write(cell int, eta float64, owner int32) {
	t.best[cell] = eta
	t.owner[cell] = owner
	e32, tier := float32(eta), t.g.tierOf(eta)
	if e32 == t.res.ETAs[cell] && tier == t.res.tier[cell] {
		return
	}
	if t.shared {
		t.res.ETAs = slices.Clone(t.res.ETAs)
		t.res.tier = slices.Clone(t.res.tier)
		t.shared = false
	}
	if !t.marked[cell] {
		t.marked[cell] = true
		t.dirty = append(t.dirty, int32(cell))
		t.prevE = append(t.prevE, t.res.ETAs[cell])
		t.prevT = append(t.prevT, t.res.tier[cell])
	}
	t.res.ETAs[cell] = e32
	t.res.tier[cell] = tier
}

// place paints slot i at its unit's position and lists it in the buckets.
func (t *Tracker) place(i int32) {
	s := &t.slots[i]
	p, ok := t.g.newProbe(&s.u)
	if !ok {
		return
	}
	s.p, s.w = p, t.g.window(p.lat, p.lon, p.δ)
	if s.w.n == 0 {
		return
	}
	s.painted = true
	s.bkts = t.bucketsOf(&s.w, s.bkts[:0])
	for _, b := range s.bkts {
		t.buckets[b] = append(t.buckets[b], i)
	}
	t.g.visit(&s.p, &s.w, t.last, t.s2, t.buf, func(cell int, eta float64) {
		if eta < t.best[cell] {
			t.write(cell, eta, i)
		}
	})
}

// lift takes slot i off the grid: out of the buckets, and every cell it
// owned recomputed from the units left.
func (t *Tracker) lift(i int32) {
	s := &t.slots[i]
	if !s.painted {
		return
	}
	s.painted = false
	for _, b := range s.bkts {
		l := t.buckets[b]
		k := slices.Index(l, i)
		l[k] = l[len(l)-1]
		t.buckets[b] = l[:len(l)-1]
	}
	t.redo = t.redo[:0]
	g := t.g
	for _, cr := range s.w.cols[:s.w.n] {
		for r := s.w.rLo; r <= s.w.rHi; r++ {
			base := r * g.cols
			for c := cr[0]; c <= cr[1]; c++ {
				if t.owner[base+c] == i {
					t.redo = append(t.redo, int32(base+c))
				}
			}
		}
	}
	for _, cell := range t.redo {
		t.recompute(int(cell))
	}
}

// recompute sets a cell from the units listed in its bucket.
func (t *Tracker) recompute(cell int) {
	g := t.g
	r, c := cell/g.cols, cell%g.cols
	best, owner := math.Inf(1), int32(-1)
	for _, j := range t.buckets[(r/t.bEdge)*t.bCols+c/t.bEdge] {
		s := &t.slots[j]
		if eta := g.cellETA(&s.p, &s.w, r, c); eta < best {
			best, owner = eta, j
		}
	}
	t.write(cell, best, owner)
}

// bucketsOf appends the buckets a window overlaps, each once.
func (t *Tracker) bucketsOf(w *window, dst []int32) []int32 {
	for _, cr := range w.cols[:w.n] {
		for br := w.rLo / t.bEdge; br <= w.rHi/t.bEdge; br++ {
			for bc := cr[0] / t.bEdge; bc <= cr[1]/t.bEdge; bc++ {
				dst = append(dst, int32(br*t.bCols+bc))
			}
		}
	}
	if w.n > 1 {
		slices.Sort(dst)
		dst = slices.Compact(dst)
	}
	return dst
}
