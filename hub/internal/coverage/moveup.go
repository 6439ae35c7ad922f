package coverage

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"kuaifan/protocol"
)

// ErrBadMoveUp is wrapped by every error SuggestMoveUps returns.
var ErrBadMoveUp = errors.New("coverage: bad move-up options")

// MoveUpOptions configures SuggestMoveUps.
type MoveUpOptions struct {
	// N is the most units to move; 0 suggests nothing.
	N int
	// Weights is the demand per cell (row-major, finite, >= 0); nil weighs
	// every cell 1 (the objective is then the share of the area).
	Weights []float64
	// CoverTier is the 1-based tier a cell must be within to count as
	// covered; 0 = the tier whose bound is 3 minutes (an error if the grid
	// has none).
	CoverTier int
	// District is the district index of each cell, -1 outside any; nil =
	// no districts. A unit's district is that of the cell it is in (-1 if
	// it is outside the grid).
	District []int
	// Floor is the fewest units (of those passed, whatever their type) a
	// district must keep: a unit may not leave its district if that leaves
	// fewer than Floor there. Floor > 0 needs District.
	Floor int
	// MaxTravel, if > 0, excludes moves whose travel ETA (matching's rule
	// from the unit to the destination centre) exceeds it.
	MaxTravel time.Duration
}

// MoveUp is one suggested repositioning.
type MoveUp struct {
	Unit                     int    // index in the units passed
	ID                       string // the unit's ID
	FromLat, FromLon         float64
	ToCell                   int     // destination cell; the unit goes to its centre
	ToLat, ToLon             float64 // the destination cell's centre
	FromDistrict, ToDistrict int     // -1 = none
	TravelS                  float64 // travel ETA in seconds, matching's rule
	// Gain is the objective's increase: covered weight gained minus lost,
	// as a share of the total weight.
	Gain float64
	// CellsGained and CellsLost count the cells (whatever their weight)
	// that become covered, and that lose their cover, with this move.
	CellsGained, CellsLost int
}

// MoveUpPlan is SuggestMoveUps' answer: the moves in the order chosen,
// each chosen with the earlier ones applied.
type MoveUpPlan struct {
	Moves     []MoveUp
	CoverTier int // the tier used, 1-based
	// Before and After are the objective without and with the moves:
	// g.Compute(units).Shares(Weights)[CoverTier-1], computed so.
	Before, After float64
}

// SuggestMoveUps proposes up to opts.N free units to reposition to raise
// the objective: the share of the total weight (opts.Weights; area if nil)
// in cells whose ETA is within the cover tier's bound, as
// Result.Shares(opts.Weights)[CoverTier-1] over the units with the moves
// applied.
//
// It is greedy: each step applies the single move with the largest exact
// gain, where moving unit u to destination d gains the weight of the cells
// that u would cover at d and no unit covers now, minus the weight of the
// cells only u covers now and that u would not cover at d. Ties go to the
// shorter travel ETA, then to the lower unit index, then to the lower cell.
// It stops after N moves or when no move gains more than 1e-12 of the
// total weight (rounding). Each unit moves at most once. Greedy is not
// optimal for N > 1, but each step is the best single move.
//
// Candidates: every unit not yet moved whose type has a speed and whose
// position is valid; and every destination cell with weight > 0 that no
// unit covers (at the step's state), the unit going to the cell's centre.
// Moves that break opts.Floor or exceed opts.MaxTravel are excluded.
//
// Cost: the uncovered weight each type would cover at each destination is
// computed once and then only near each move; a step then examines
// destinations from the most uncovered weight down, and stops when that
// bound cannot beat the best move found, so its cost grows with the
// uncovered cells and the units near the best destinations, not with
// units × cells. BenchmarkMoveUps10k measures the 10,000-unit city (see
// the package doc); a call allocates about 10 bytes a cell per unit type
// with units, 20 bytes a cell and 200 bytes a unit: some 4 MB there.
//
// SuggestMoveUps only reads g and units, so calls may run concurrently
// with each other and with Compute; units are not modified.
func SuggestMoveUps(g *Grid, units []Unit, opts MoveUpOptions) (MoveUpPlan, error) {
	m, err := newMover(g, units, opts)
	if err != nil {
		return MoveUpPlan{}, err
	}
	plan := MoveUpPlan{CoverTier: m.tier}
	plan.Before = g.Compute(units).Shares(opts.Weights)[m.tier-1]
	plan.After = plan.Before
	if opts.N == 0 {
		return plan, nil
	}
	m.start()
	for len(plan.Moves) < opts.N {
		c, ok := m.step()
		if !ok {
			break
		}
		plan.Moves = append(plan.Moves, m.apply(c))
	}
	if len(plan.Moves) > 0 {
		moved := slices.Clone(units)
		for _, mv := range plan.Moves {
			moved[mv.Unit].Lat, moved[mv.Unit].Lon = mv.ToLat, mv.ToLon
		}
		plan.After = g.Compute(moved).Shares(opts.Weights)[m.tier-1]
	}
	return plan, nil
}

func badMoveUp(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadMoveUp}, args...)...)
}

// mover is SuggestMoveUps' state. Unit v's coverage is its cover
// footprint: the cells whose ETA from v is within the cover bound.
type mover struct {
	g          *Grid
	units      []Unit
	w          []float64 // per cell weight
	total      float64
	minGain    float64
	tier       int
	coverS     float64
	district   []int // per cell, or nil
	floor      int
	maxTravelS float64 // 0 = no limit

	up       []probe   // per unit: at its current position
	uw       []window  // per unit: its cover window
	ut       []int     // per unit: type index, -1 if it is skipped
	ud       []int     // per unit: district, -1 if none
	eligible []bool    // per unit: may still move
	loss     []float64 // per unit: weight only it covers
	dcount   []int     // per district: units in it

	cnt []int32 // per cell: units covering it
	xr  []int32 // per cell: XOR of the indices of the units covering it, so the unit when cnt is 1

	types  []protocol.UnitType
	tSpeed []float64
	tAngle []float64    // cover reach angle
	tReach []float64    // cover reach, metres
	tU     [][]float64  // per type with eligible units, per cell: uncovered weight it would cover there
	tValid [][]bool     // per type, per cell: tU is current
	tUnits [][]int32    // per type: eligible units, sorted by loss each step (no MaxTravel)
	heap   []destBound  // scratch
	nearOv []float64    // per unit: scratch overlap
	near   []int32      // scratch: units touched
	onNear []bool       // per unit: in near
	bEdge  int          // unit index for MaxTravel: bucket edge in cells
	bCols  int          //
	bkts   [][]int32    // per bucket: units in it
	outer  []int32      // units outside the grid
	xyz    [][3]float64 // per unit: its position on the unit sphere
	dxyz   [3]float64   // the destination being evaluated, on the unit sphere
	s2     []float64    // scratch rows
	buf    []float64    //
}

type destBound struct {
	u    float64
	cell int32
}

type moveCand struct {
	gain, travel float64
	unit, cell   int
}

// better orders candidates: larger gain, then shorter travel, then lower
// unit index, then lower cell.
func (a *moveCand) better(b *moveCand) bool {
	if a.gain != b.gain {
		return a.gain > b.gain
	}
	if a.travel != b.travel {
		return a.travel < b.travel
	}
	if a.unit != b.unit {
		return a.unit < b.unit
	}
	return a.cell < b.cell
}

func newMover(g *Grid, units []Unit, o MoveUpOptions) (*mover, error) {
	if g == nil {
		return nil, badMoveUp("nil grid")
	}
	n := g.Cells()
	if o.N < 0 {
		return nil, badMoveUp("N is %d; want >= 0", o.N)
	}
	if o.Weights != nil && len(o.Weights) != n {
		return nil, badMoveUp("%d weights for %d cells", len(o.Weights), n)
	}
	for i, v := range o.Weights {
		if !(v >= 0) || math.IsInf(v, 1) {
			return nil, badMoveUp("weight of cell %d is %v; want finite and >= 0", i, v)
		}
	}
	tier := o.CoverTier
	if tier == 0 {
		tier = slices.Index(g.tiers, 3*time.Minute) + 1
		if tier == 0 {
			return nil, badMoveUp("the grid has no 3-minute tier (tiers %v): set CoverTier", g.tiers)
		}
	}
	if tier < 1 || tier > len(g.tiers) {
		return nil, badMoveUp("CoverTier is %d; want 1..%d", o.CoverTier, len(g.tiers))
	}
	if o.District != nil && len(o.District) != n {
		return nil, badMoveUp("%d districts for %d cells", len(o.District), n)
	}
	nd := 0
	for i, d := range o.District {
		if d < -1 || d >= n { // at most one district a cell
			return nil, badMoveUp("district of cell %d is %d; want -1..%d", i, d, n-1)
		}
		nd = max(nd, d+1)
	}
	if o.Floor < 0 {
		return nil, badMoveUp("Floor is %d; want >= 0", o.Floor)
	}
	if o.Floor > 0 && o.District == nil {
		return nil, badMoveUp("Floor is %d but District is nil", o.Floor)
	}
	if o.MaxTravel < 0 {
		return nil, badMoveUp("MaxTravel is %v; want >= 0 (0 = no limit)", o.MaxTravel)
	}
	if len(units) > math.MaxInt32 {
		return nil, badMoveUp("%d units", len(units))
	}
	m := &mover{
		g: g, units: units, tier: tier,
		coverS:     g.boundS[tier-1],
		district:   o.District,
		floor:      o.Floor,
		maxTravelS: o.MaxTravel.Seconds(),
		dcount:     make([]int, nd),
		ud:         make([]int, len(units)),
	}
	m.w = o.Weights
	if m.w == nil {
		m.w = make([]float64, n)
		for i := range m.w {
			m.w[i] = 1
		}
	}
	for _, v := range m.w {
		m.total += v
	}
	if math.IsInf(m.total, 1) {
		return nil, badMoveUp("the weights add up to more than %v", math.MaxFloat64)
	}
	m.minGain = 1e-12 * m.total
	for i := range units {
		m.ud[i] = -1
		if c, ok := g.CellAt(units[i].Lat, units[i].Lon); ok && m.district != nil {
			if d := m.district[c]; d >= 0 {
				m.ud[i] = d
				m.dcount[d]++
			}
		}
	}
	return m, nil
}

// start computes every unit's cover footprint and the cover counts.
func (m *mover) start() {
	g, n, nu := m.g, m.g.Cells(), len(m.units)
	m.types = slices.Sorted(maps.Keys(g.speeds))
	nt := len(m.types)
	m.tSpeed = make([]float64, nt)
	m.tAngle = make([]float64, nt)
	m.tReach = make([]float64, nt)
	for t, ty := range m.types {
		m.tSpeed[t] = g.speeds[ty]
		m.tReach[t] = m.tSpeed[t] * m.coverS / g.detour
		m.tAngle[t] = reachAngle(m.tReach[t])
	}
	m.tU = make([][]float64, nt)
	m.tValid = make([][]bool, nt)
	m.tUnits = make([][]int32, nt)
	m.up = make([]probe, nu)
	m.uw = make([]window, nu)
	m.ut = make([]int, nu)
	m.xyz = make([][3]float64, nu)
	m.eligible = make([]bool, nu)
	m.loss = make([]float64, nu)
	m.nearOv = make([]float64, nu)
	m.onNear = make([]bool, nu)
	m.cnt = make([]int32, n)
	m.xr = make([]int32, n)
	m.s2 = make([]float64, g.cols)
	m.buf = make([]float64, g.cols)
	for i := range m.units {
		m.ut[i] = -1
		p, ok := g.newProbe(&m.units[i])
		if !ok {
			continue
		}
		t, _ := slices.BinarySearch(m.types, m.units[i].Type)
		m.up[i], m.ut[i], m.eligible[i] = p, t, true
		m.xyz[i] = unitVector(p.lat, p.lon)
		m.uw[i] = g.window(p.lat, p.lon, m.tAngle[t])
		m.tUnits[t] = append(m.tUnits[t], int32(i))
		m.cover(int32(i), 1)
	}
	for t := range m.types {
		if len(m.tUnits[t]) > 0 {
			m.tU[t] = make([]float64, n)
			m.tValid[t] = make([]bool, n)
		}
	}
	if m.maxTravelS > 0 {
		m.index()
	}
}

// cover adds (delta 1) or removes (-1) unit v's footprint to the counts
// and returns the cells, and weight, that became covered (adding) or
// uncovered (removing).
func (m *mover) cover(v int32, delta int32) (cells int, weight float64) {
	m.g.visit(&m.up[v], &m.uw[v], m.coverS, m.s2, m.buf, func(c int, _ float64) {
		m.cnt[c] += delta
		m.xr[c] ^= v
		if delta > 0 && m.cnt[c] == 1 || delta < 0 && m.cnt[c] == 0 {
			cells++
			weight += m.w[c]
		}
	})
	return cells, weight
}

// destProbe is a unit of type t at the centre of cell d.
func (m *mover) destProbe(t, d int) (probe, window) {
	u := Unit{Type: m.types[t]}
	u.Lat, u.Lon = m.g.Centre(d)
	p, _ := m.g.newProbe(&u)
	return p, m.g.window(p.lat, p.lon, m.tAngle[t])
}

// step returns the best move at the current state, or false if no move
// gains more than minGain.
func (m *mover) step() (moveCand, bool) {
	clear(m.loss)
	for c, k := range m.cnt {
		if k == 1 {
			m.loss[m.xr[c]] += m.w[c]
		}
	}
	best := moveCand{gain: m.minGain, unit: -1}
	for t := range m.types {
		units := m.tUnits[t]
		units = slices.DeleteFunc(units, func(v int32) bool { return !m.eligible[v] })
		m.tUnits[t] = units
		if len(units) == 0 {
			continue
		}
		if m.maxTravelS == 0 {
			slices.SortFunc(units, func(a, b int32) int {
				if m.loss[a] != m.loss[b] {
					if m.loss[a] < m.loss[b] {
						return -1
					}
					return 1
				}
				return int(a - b)
			})
		}
		// Destinations with their bound (the uncovered weight a unit of
		// this type would cover there), largest first.
		U, valid := m.tU[t], m.tValid[t]
		h := m.heap[:0]
		for d, k := range m.cnt {
			if k != 0 || m.w[d] <= 0 {
				continue
			}
			if !valid[d] {
				U[d] = m.uncovered(t, d)
				valid[d] = true
			}
			if U[d] >= best.gain && U[d] > m.minGain { // >=: a tie may travel less
				h = append(h, destBound{U[d], int32(d)})
			}
		}
		heapInit(h)
		for len(h) > 0 && h[0].u >= best.gain {
			top := h[0]
			h = heapPop(h)
			m.evaluate(t, int(top.cell), top.u, &best)
		}
		m.heap = h
	}
	return best, best.unit >= 0
}

// uncovered is the weight of the uncovered cells a unit of type t at the
// centre of cell d would cover.
func (m *mover) uncovered(t, d int) float64 {
	p, w := m.destProbe(t, d)
	sum := 0.0
	m.g.visit(&p, &w, m.coverS, m.s2, m.buf, func(c int, _ float64) {
		if m.cnt[c] == 0 {
			sum += m.w[c]
		}
	})
	return sum
}

// evaluate updates best with the best unit of type t to move to cell d,
// whose bound is u.
func (m *mover) evaluate(t, d int, u float64, best *moveCand) {
	p, w := m.destProbe(t, d)
	// Units whose sole cells d's footprint includes lose less than their
	// loss: find them from those cells.
	m.near = m.near[:0]
	m.g.visit(&p, &w, m.coverS, m.s2, m.buf, func(c int, _ float64) {
		if m.cnt[c] != 1 {
			return
		}
		v := m.xr[c]
		if !m.eligible[v] || m.ut[v] != t {
			return
		}
		if !m.onNear[v] {
			m.onNear[v] = true
			m.near = append(m.near, v)
		}
		m.nearOv[v] += m.w[c]
	})
	lat, lon := m.g.Centre(d)
	m.dxyz = unitVector(lat, lon)
	dd := -1
	if m.district != nil {
		dd = m.district[d]
	}
	for _, v := range m.near {
		m.consider(best, v, d, dd, u-math.Max(0, m.loss[v]-m.nearOv[v]), lat, lon)
	}
	// The others lose all their loss.
	if m.maxTravelS == 0 {
		for _, v := range m.tUnits[t] {
			if u-m.loss[v] < best.gain {
				break // sorted by loss
			}
			if !m.onNear[v] {
				m.consider(best, v, d, dd, u-m.loss[v], lat, lon)
			}
		}
	} else {
		m.nearby(lat, lon, reachAngle(m.tSpeed[t]*m.maxTravelS/m.g.detour), func(v int32) {
			if m.ut[v] == t && m.eligible[v] && !m.onNear[v] && u-m.loss[v] >= best.gain {
				m.consider(best, v, d, dd, u-m.loss[v], lat, lon)
			}
		})
	}
	for _, v := range m.near {
		m.onNear[v] = false
		m.nearOv[v] = 0
	}
}

// consider updates best with moving v to cell d (district dd, centre lat,
// lon) for gain, if the move is allowed and better.
func (m *mover) consider(best *moveCand, v int32, d, dd int, gain, lat, lon float64) {
	if gain < best.gain || best.unit < 0 && gain == best.gain {
		return
	}
	if from := m.ud[v]; from >= 0 && from != dd && m.dcount[from]-1 < m.floor {
		return
	}
	// The chord is shorter than the arc: a cheap lower bound on the travel
	// ETA (less a hair for rounding) that spares most haversines when
	// many units tie on gain.
	x, dx := &m.xyz[v], &m.dxyz
	e0, e1, e2 := x[0]-dx[0], x[1]-dx[1], x[2]-dx[2]
	lb := protocol.EarthRadiusM * math.Sqrt(e0*e0+e1*e1+e2*e2) * m.g.detour / m.up[v].speed * (1 - 1e-9)
	if m.maxTravelS > 0 && lb > m.maxTravelS || best.unit >= 0 && gain == best.gain && lb > best.travel {
		return
	}
	u := &m.units[v]
	travel := protocol.Haversine(u.Lat, u.Lon, lat, lon) * m.g.detour / m.up[v].speed
	if m.maxTravelS > 0 && !(travel <= m.maxTravelS) {
		return
	}
	if c := (moveCand{gain: gain, travel: travel, unit: int(v), cell: d}); best.unit < 0 || c.better(best) {
		*best = c
	}
}

// apply moves c.unit to the centre of c.cell and updates the state.
func (m *mover) apply(c moveCand) MoveUp {
	v, g := int32(c.unit), m.g
	t := m.ut[v]
	u := &m.units[v]
	mv := MoveUp{
		Unit: c.unit, ID: u.ID,
		FromLat: u.Lat, FromLon: u.Lon,
		ToCell:       c.cell,
		FromDistrict: m.ud[v], ToDistrict: -1,
		TravelS: c.travel,
	}
	mv.ToLat, mv.ToLon = g.Centre(c.cell)
	if m.district != nil {
		mv.ToDistrict = m.district[c.cell]
	}
	// Add the new footprint before removing the old, so a cell in both
	// is neither gained nor lost.
	old, oldW := m.up[v], m.uw[v]
	m.up[v], m.uw[v] = m.destProbe(t, c.cell)
	gained, gw := m.cover(v, 1)
	m.up[v], m.uw[v] = old, oldW
	lost, lw := m.cover(v, -1)
	m.up[v], m.uw[v] = m.destProbe(t, c.cell)
	mv.CellsGained, mv.CellsLost = gained, lost
	if m.total > 0 {
		mv.Gain = (gw - lw) / m.total
	}
	// Destinations whose footprint may hold a cell that flipped: within
	// the two reaches of either position.
	for tt, valid := range m.tValid {
		if valid == nil {
			continue
		}
		for _, pos := range [2][2]float64{{mv.FromLat, mv.FromLon}, {mv.ToLat, mv.ToLon}} {
			w := g.window(pos[0], pos[1], reachAngle(m.tReach[t]+m.tReach[tt]))
			for _, cr := range w.cols[:w.n] {
				for r := w.rLo; r <= w.rHi; r++ {
					clear(valid[r*g.cols+cr[0] : r*g.cols+cr[1]+1])
				}
			}
		}
	}
	if mv.FromDistrict != mv.ToDistrict {
		if mv.FromDistrict >= 0 {
			m.dcount[mv.FromDistrict]--
		}
		if mv.ToDistrict >= 0 {
			m.dcount[mv.ToDistrict]++
		}
	}
	m.ud[v] = mv.ToDistrict
	m.eligible[v] = false
	return mv
}

// moveUpBucketM is the edge of the buckets of the unit index that finds
// the units within MaxTravel of a destination.
const moveUpBucketM = 2000

// index buckets the units by cell, for nearby.
func (m *mover) index() {
	g := m.g
	m.bEdge = max(1, int(moveUpBucketM/(g.latStep*MetresPerDegreeLat)))
	m.bCols = (g.cols + m.bEdge - 1) / m.bEdge
	m.bkts = make([][]int32, ((g.rows+m.bEdge-1)/m.bEdge)*m.bCols)
	for i := range m.units {
		if m.ut[i] < 0 {
			continue
		}
		c, ok := g.CellAt(m.units[i].Lat, m.units[i].Lon)
		if !ok {
			m.outer = append(m.outer, int32(i))
			continue
		}
		b := (c/g.cols/m.bEdge)*m.bCols + c%g.cols/m.bEdge
		m.bkts[b] = append(m.bkts[b], int32(i))
	}
}

// nearby calls f for every unit that may be within angle δ of lat, lon
// (a superset: the units in the buckets of the window's cells, and those
// outside the grid), some of them twice.
func (m *mover) nearby(lat, lon, δ float64, f func(v int32)) {
	w := m.g.window(lat, lon, δ)
	// A bucket column in two ranges (a reach wrapping around the globe)
	// is visited twice: harmless, consider is idempotent.
	for _, cr := range w.cols[:w.n] {
		for br := w.rLo / m.bEdge; br <= w.rHi/m.bEdge; br++ {
			for bc := cr[0] / m.bEdge; bc <= cr[1]/m.bEdge; bc++ {
				for _, v := range m.bkts[br*m.bCols+bc] {
					f(v)
				}
			}
		}
	}
	for _, v := range m.outer {
		f(v)
	}
}

// heapInit and heapPop keep h a max-heap by bound, then by lower cell.
func heapInit(h []destBound) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i)
	}
}

func heapPop(h []destBound) []destBound {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	heapDown(h, 0)
	return h
}

func heapAbove(a, b destBound) bool { return a.u > b.u || a.u == b.u && a.cell < b.cell }

func heapDown(h []destBound, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && heapAbove(h[r], h[l]) {
			c = r
		}
		if !heapAbove(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// unitVector is lat, lon (degrees) as a point on the unit sphere.
func unitVector(lat, lon float64) [3]float64 {
	φ, λ := lat*rad, lon*rad
	return [3]float64{math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)}
}
