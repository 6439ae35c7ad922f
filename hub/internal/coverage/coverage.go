// Package coverage computes the live coverage grid of the 1-3-5 city: a
// fixed lat/lon grid over the city's bounding box and, for every cell, the
// ETA of the nearest free, fresh unit, so each cell falls in a response tier
// (within 1, 3 or 5 minutes, or beyond), and the share of the city (by area
// or weighted by demand) reached within each tier.
//
// The ETA rule is matching's (package match), applied to the cell centre:
//
//	ETA seconds = Haversine(unit, centre) × Detour ÷ Speeds[unit type]
//
// and tier bounds are inclusive, as in matching: an ETA of exactly 60 s is
// within the 1-minute tier. Compute evaluates protocol.Haversine's formula
// term for term (only the final arcsine is a series when the reach is short,
// which agrees to far below a microsecond), and the tests check it against a
// brute force calling protocol.Haversine for every cell and unit.
//
// Compute paints: each unit touches only the cells within its reach (its
// speed × the last tier ÷ the detour factor), so a full recomputation costs
// about units × cells-per-reach, not units × cells. Cells no unit reaches
// within the last tier have ETA +Inf and tier 0.
//
// The caller chooses the units: only free units with a fresh fix should be
// passed. A unit whose type has no speed in the Config, or whose position is
// not valid WGS-84, is skipped. A Grid is immutable after NewGrid and safe
// for concurrent use; each Compute returns a new Result.
//
// # Incremental updates
//
// A Tracker holds the current units and a live Result equal to Compute's
// over them, bit for bit, and updates it one unit at a time: Set (add or
// move) and Remove. A move paints the unit's new reach with the minimum;
// the cells the unit was nearest for at its old position are recomputed
// from the units whose reach covers them, found in a bucket index (each
// unit is listed in the buckets of cells its reach overlaps), so a move
// costs the units nearby, not the fleet. Changes lists the cells whose ETA
// or tier changed since its last call, for streaming to dashboards.
//
// The Tracker is for one goroutine. Result hands out the live arrays and
// the Tracker copies them (copy on write, about 5 bytes a cell) before its
// next change, so a Result once returned is never written again and may be
// passed to readers on other goroutines, which must not modify it either.
//
// Measured (BenchmarkTrackerMove10k: BenchmarkCompute10k's 10,000 units,
// 40 km × 40 km, 250 m cells, one unit moving 100 m to 1 km): about 0.02
// ms a move (0.016 to 0.026 ms on a busy 2-core machine), some 40 times
// under the 1 ms target; 0.05 to 0.1 ms with Changes and Result after
// every move, most of it the copy on write. Loading the 10,000 units into
// a new Tracker costs about two Computes (some 35 ms).
//
// # Move-up suggestions
//
// SuggestMoveUps proposes repositioning up to N free units to raise the
// demand-weighted share of cells within a cover tier (3 minutes by default):
// a greedy maximum coverage, each step the single move with the largest
// exact gain, under a per-district floor of units and a travel limit. The
// uncovered weight a unit of each type would cover at each candidate
// destination is kept and refreshed only near each move, and a step
// examines destinations from the largest such bound down until the bound
// cannot beat the best move found. Measured (BenchmarkMoveUps10k: 10,000
// units around six demand hotspots, 16 districts with a floor of 100
// units, moves of at most 15 minutes, N = 5): 60 to 80 ms, 0.12 to 0.16 of
// the 500 ms target, of which some 35 ms are the two Computes of the
// objective before and after. By area with no travel limit (many exact
// ties, settled by the shortest travel): 110 to 130 ms.
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

// DefaultCellM is the cell edge used when Config.CellM is zero.
const DefaultCellM = 250

// MaxCells bounds the grid: rows × cols above this is an error from NewGrid.
const MaxCells = 4_000_000

// MetresPerDegreeLat is the grid's latitude step scale: a cell is
// CellM ÷ MetresPerDegreeLat degrees of latitude tall.
const MetresPerDegreeLat = 111_320

// DefaultTiers returns the 1-3-5-minute response circles used when
// Config.Tiers is empty.
func DefaultTiers() []time.Duration {
	return []time.Duration{time.Minute, 3 * time.Minute, 5 * time.Minute}
}

// ErrBadConfig is wrapped by every error NewGrid returns.
var ErrBadConfig = errors.New("coverage: bad grid")

// Config sets the grid's cell size and the ETA rule.
type Config struct {
	CellM  float64                       // cell edge in metres; 0 = DefaultCellM
	Speeds map[protocol.UnitType]float64 // metres per second along the road; a type absent here is skipped
	Detour float64                       // road distance ÷ great-circle distance, >= 1
	Tiers  []time.Duration               // increasing upper bounds of tiers 1..n (at most 255); empty = DefaultTiers
}

// Unit is a unit that can respond now: the caller passes free units with a
// fresh fix only.
type Unit struct {
	ID       string
	Type     protocol.UnitType
	Lat, Lon float64
}

// Grid is a fixed grid of rows × cols cells over a bounding box. Row 0 is
// the southernmost, column 0 the westernmost; cell index = row×cols + col.
// The grid starts at the box's south-west corner and may overshoot its
// north and east edges by less than one cell.
type Grid struct {
	minLat, minLon   float64
	latStep, lonStep float64 // degrees
	rows, cols       int
	lat, cosLat      []float64 // per row: centre latitude, its cosine
	lon              []float64 // per column: centre longitude
	speeds           map[protocol.UnitType]float64
	detour           float64
	tiers            []time.Duration
	boundS           []float64 // tiers in seconds
}

const rad = math.Pi / 180

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// NewGrid returns a grid over the box [minLat, maxLat] × [minLon, maxLon]
// (degrees; the box may not cross the antimeridian). Cells are CellM metres
// tall (CellM ÷ 111,320 degrees of latitude) and about CellM metres wide at
// the box's centre latitude (the longitude step is scaled by its cosine).
// Errors name the bad value.
func NewGrid(minLat, minLon, maxLat, maxLon float64, cfg Config) (*Grid, error) {
	if !protocol.ValidLatLon(minLat, minLon) {
		return nil, badf("south-west corner %v, %v is not a valid position", minLat, minLon)
	}
	if !protocol.ValidLatLon(maxLat, maxLon) {
		return nil, badf("north-east corner %v, %v is not a valid position", maxLat, maxLon)
	}
	if !(minLat < maxLat) {
		return nil, badf("min latitude %v is not below max latitude %v", minLat, maxLat)
	}
	if !(minLon < maxLon) {
		return nil, badf("min longitude %v is not below max longitude %v (a box may not cross the antimeridian)", minLon, maxLon)
	}
	cell := cfg.CellM
	if cell == 0 {
		cell = DefaultCellM
	}
	if !(cell > 0) || !finite(cell) {
		return nil, badf("cell edge is %v m; want a finite edge > 0", cfg.CellM)
	}
	if len(cfg.Speeds) == 0 {
		return nil, badf("no unit speeds")
	}
	for _, t := range slices.Sorted(maps.Keys(cfg.Speeds)) {
		if v := cfg.Speeds[t]; !(v > 0) || !finite(v) {
			return nil, badf("speed of %q is %v m/s; want a finite speed > 0", t, v)
		}
	}
	if !(cfg.Detour >= 1) || !finite(cfg.Detour) {
		return nil, badf("detour factor is %v; want a finite factor >= 1", cfg.Detour)
	}
	tiers := slices.Clone(cfg.Tiers)
	if len(tiers) == 0 {
		tiers = DefaultTiers()
	}
	if len(tiers) > math.MaxUint8 {
		return nil, badf("%d tiers; want at most %d", len(tiers), math.MaxUint8)
	}
	for i, d := range tiers {
		if d <= 0 {
			return nil, badf("tier %d bound is %v; want > 0", i+1, d)
		}
		if i > 0 && d <= tiers[i-1] {
			return nil, badf("tier %d bound %v is not above tier %d bound %v", i+1, d, i, tiers[i-1])
		}
	}
	midLat := (minLat + maxLat) / 2
	cosMid := math.Cos(midLat * rad)
	if cosMid < 1e-6 {
		return nil, badf("box centred at latitude %v: too close to a pole", midLat)
	}
	latStep := cell / MetresPerDegreeLat
	lonStep := latStep / cosMid
	// A box a whole number of cells wide gets exactly that many, not one
	// more from rounding in the division.
	rowsF := math.Max(1, math.Ceil((maxLat-minLat)/latStep-1e-9))
	colsF := math.Max(1, math.Ceil((maxLon-minLon)/lonStep-1e-9))
	if rowsF*colsF > MaxCells {
		return nil, badf("%v × %v cells of %v m is more than %d cells", rowsF, colsF, cell, MaxCells)
	}
	g := &Grid{
		minLat: minLat, minLon: minLon,
		latStep: latStep, lonStep: lonStep,
		rows: int(rowsF), cols: int(colsF),
		speeds: maps.Clone(cfg.Speeds),
		detour: cfg.Detour,
		tiers:  tiers,
	}
	g.lat = make([]float64, g.rows)
	g.cosLat = make([]float64, g.rows)
	for r := range g.lat {
		g.lat[r] = minLat + (float64(r)+0.5)*latStep
		g.cosLat[r] = math.Cos(g.lat[r] * rad)
	}
	g.lon = make([]float64, g.cols)
	for c := range g.lon {
		g.lon[c] = minLon + (float64(c)+0.5)*lonStep
	}
	g.boundS = make([]float64, len(tiers))
	for i, d := range tiers {
		g.boundS[i] = d.Seconds()
	}
	return g, nil
}

// Rows returns the number of rows of cells.
func (g *Grid) Rows() int { return g.rows }

// Cols returns the number of columns of cells.
func (g *Grid) Cols() int { return g.cols }

// Cells returns rows × cols.
func (g *Grid) Cells() int { return g.rows * g.cols }

// Tiers returns a copy of the tier bounds in use.
func (g *Grid) Tiers() []time.Duration { return slices.Clone(g.tiers) }

// Centre returns the centre of a cell, the point its ETA is computed for.
func (g *Grid) Centre(cell int) (lat, lon float64) {
	return g.lat[cell/g.cols], g.lon[cell%g.cols]
}

// CellAt returns the cell containing lat, lon, or false outside the grid.
func (g *Grid) CellAt(lat, lon float64) (int, bool) {
	r := math.Floor((lat - g.minLat) / g.latStep)
	c := math.Floor((lon - g.minLon) / g.lonStep)
	if !(r >= 0 && r < float64(g.rows) && c >= 0 && c < float64(g.cols)) {
		return 0, false
	}
	return int(r)*g.cols + int(c), true
}

// Result is one computation of the grid.
type Result struct {
	// ETAs holds per cell (row-major) the smallest ETA in seconds of any
	// unit, or +Inf if no unit is within the last tier.
	ETAs  []float32
	tier  []uint8 // per cell: 1-based tier, 0 = beyond
	tiers int
}

// Tier returns the 1-based tier whose bound covers the cell's ETA, or 0 if
// the cell is beyond the last tier. It is exact for the float64 ETA, not
// rounded through the float32 in ETAs.
func (r Result) Tier(cell int) int { return int(r.tier[cell]) }

// Shares returns, per tier, the share (0..1) of the weighted cells reached
// within that tier's bound; shares are cumulative (within 3 minutes includes
// within 1). weights nil weighs every cell 1 (shares by area); otherwise it
// must have one non-negative weight per cell, or Shares returns nil. If the
// total weight is 0 every share is 0.
func (r Result) Shares(weights []float64) []float64 {
	if weights != nil && len(weights) != len(r.tier) {
		return nil
	}
	per := make([]float64, r.tiers+1) // weight per exact tier; [0] = beyond
	total := 0.0
	for i, t := range r.tier {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		per[t] += w
		total += w
	}
	out := make([]float64, r.tiers)
	if total == 0 {
		return out
	}
	sum := 0.0
	for k := range out {
		sum += per[k+1]
		out[k] = sum / total
	}
	return out
}

// Compute returns every cell's ETA and tier for the given units. It paints:
// each unit visits only the cells within its reach. Units whose type has no
// speed, or whose position is invalid, are skipped.
func (g *Grid) Compute(units []Unit) Result {
	n := g.rows * g.cols
	res := Result{ETAs: make([]float32, n), tier: make([]uint8, n), tiers: len(g.tiers)}
	inf := float32(math.Inf(1))
	for i := range res.ETAs {
		res.ETAs[i] = inf
	}
	s2 := make([]float64, g.cols)  // per column: sin(Δλ/2) for the current unit
	buf := make([]float64, g.cols) // per column: the current unit's ETA on the current row
	for i := range units {
		g.paint(&res, &units[i], s2, buf)
	}
	return res
}

// asinSeriesMaxH bounds h below which asin(√h) is summed as a series: with
// √h <= 0.01 the first omitted term is below 1e-17 of the sum.
const asinSeriesMaxH = 1e-4

// probe is a unit prepared for the ETA rule: what is computed once per
// unit. Every ETA in the package (Compute, Tracker, SuggestMoveUps) goes
// through newProbe, window and rowETAs, so they agree to the last bit.
type probe struct {
	lat, lon float64
	speed    float64
	cosU     float64 // cos of the unit's latitude
	δ        float64 // angular reach within the last tier, with a hair of margin
	hLim     float64 // sin²(δ/2): cells with a larger haversine h are beyond
	series   bool    // hLim is small enough for the series arcsine
}

// newProbe prepares u, or reports false if u is skipped (no speed for its
// type, or an invalid position).
func (g *Grid) newProbe(u *Unit) (probe, bool) {
	speed, ok := g.speeds[u.Type]
	if !ok || !protocol.ValidLatLon(u.Lat, u.Lon) {
		return probe{}, false
	}
	δ := reachAngle(speed * g.boundS[len(g.boundS)-1] / g.detour)
	hLim := math.Sin(δ / 2)
	hLim *= hLim
	return probe{
		lat: u.Lat, lon: u.Lon, speed: speed,
		cosU: math.Cos(u.Lat * rad),
		δ:    δ, hLim: hLim, series: hLim <= asinSeriesMaxH,
	}, true
}

// reachAngle is the angle a reach of reachM metres subtends, with a hair of
// margin, at most π.
func reachAngle(reachM float64) float64 {
	return math.Min(reachM/protocol.EarthRadiusM*(1+1e-9), math.Pi)
}

// window is a superset of the cells whose centres lie within an angle of a
// point: rows rLo..rHi and, in each row, the disjoint column ranges
// cols[:n] in increasing order (several when the reach wraps around the
// antimeridian); n = 0 means none.
type window struct {
	rLo, rHi int
	cols     [3][2]int
	n        int
}

func (w *window) contains(r, c int) bool {
	if r < w.rLo || r > w.rHi {
		return false
	}
	for _, cr := range w.cols[:w.n] {
		if c >= cr[0] && c <= cr[1] {
			return true
		}
	}
	return false
}

// window returns the cells whose centres may lie within δ radians of lat,
// lon, with a margin of one cell each way.
func (g *Grid) window(lat, lon, δ float64) window {
	var w window
	// Rows whose centre lies within δ of the latitude.
	δDeg := δ / rad
	if (lat-δDeg-g.minLat)/g.latStep-0.5 > float64(g.rows) || (lat+δDeg-g.minLat)/g.latStep-0.5 < -1 {
		return w
	}
	w.rLo = clampIdx(math.Ceil((lat-δDeg-g.minLat)/g.latStep-0.5)-1, g.rows)
	w.rHi = clampIdx(math.Floor((lat+δDeg-g.minLat)/g.latStep-0.5)+1, g.rows)

	// Longitude half-width of the reach (all columns if it covers a pole).
	φ := lat * rad
	if math.Abs(φ)+δ >= math.Pi/2 {
		w.cols[0] = [2]int{0, g.cols - 1}
		w.n = 1
		return w
	}
	Δλ := math.Asin(math.Min(1, math.Sin(δ)/math.Cos(φ))) / rad
	if Δλ >= 180 {
		w.cols[0] = [2]int{0, g.cols - 1}
		w.n = 1
		return w
	}
	for _, off := range [...]float64{0, -360, 360} {
		lo := (lon+off-Δλ-g.minLon)/g.lonStep - 0.5
		hi := (lon+off+Δλ-g.minLon)/g.lonStep - 0.5
		if lo > float64(g.cols) || hi < -1 {
			continue
		}
		w.cols[w.n] = [2]int{clampIdx(math.Ceil(lo)-1, g.cols), clampIdx(math.Floor(hi)+1, g.cols)}
		w.n++
	}
	// Merge ranges that overlap (a reach of nearly half the globe), so
	// that visit sees each cell once.
	if w.n < 2 {
		return w
	}
	slices.SortFunc(w.cols[:w.n], func(a, b [2]int) int { return a[0] - b[0] })
	k := 0
	for _, cr := range w.cols[1:w.n] {
		if cr[0] <= w.cols[k][1]+1 {
			w.cols[k][1] = max(w.cols[k][1], cr[1])
		} else {
			k++
			w.cols[k] = cr
		}
	}
	w.n = k + 1
	return w
}

// colSins sets s2[c] = sin(Δλ/2) between p and column c, for c in lo..hi.
func (g *Grid) colSins(p *probe, lo, hi int, s2 []float64) {
	for c := lo; c <= hi; c++ {
		s2[c] = math.Sin((g.lon[c] - p.lon) * rad / 2)
	}
}

// rowETAs sets out[j] to p's ETA in seconds at the centre of the cell in
// row r whose column has sin(Δλ/2) = s2[j], or +Inf where that cell is
// beyond p's reach within the last tier. It returns false, leaving out
// alone, if the whole row is beyond.
//
// The float64 conversions stop the compiler fusing a multiply and an add
// (the spec allows it, and arm64 does it), so every caller rounds alike.
func (g *Grid) rowETAs(p *probe, r int, s2, out []float64) bool {
	s1 := math.Sin((g.lat[r] - p.lat) * rad / 2)
	a := s1 * s1
	if a > p.hLim {
		return false
	}
	cc := p.cosU * g.cosLat[r]
	out = out[:len(s2)]
	hLim, detour, speed := p.hLim, g.detour, p.speed
	if p.series { // the usual case, a city-sized reach
		for j, s := range s2 {
			h := a + float64(cc*s*s)
			if h > hLim {
				out[j] = math.Inf(1)
				continue
			}
			d := 2 * protocol.EarthRadiusM * (math.Sqrt(h) * (1 + float64(h*(1.0/6+float64(h*(3.0/40+float64(h*(15.0/336))))))))
			out[j] = d * detour / speed
		}
		return true
	}
	for j, s := range s2 {
		h := a + float64(cc*s*s)
		if h > hLim {
			out[j] = math.Inf(1)
			continue
		}
		d := 2 * protocol.EarthRadiusM * math.Asin(math.Sqrt(math.Min(h, 1)))
		out[j] = d * detour / speed
	}
	return true
}

// cellETA is p's ETA at one cell, +Inf if beyond the last tier or outside
// p's window; exactly what paint would compute for that cell.
func (g *Grid) cellETA(p *probe, w *window, r, c int) float64 {
	if !w.contains(r, c) {
		return math.Inf(1)
	}
	s2 := [1]float64{math.Sin((g.lon[c] - p.lon) * rad / 2)}
	var out [1]float64
	if !g.rowETAs(p, r, s2[:], out[:]) || !(out[0] <= g.boundS[len(g.boundS)-1]) {
		return math.Inf(1)
	}
	return out[0]
}

// visit calls f once for every cell of w whose ETA from p is at most bound
// seconds (bound <= the last tier). s2 and buf are scratch of at least
// g.cols.
func (g *Grid) visit(p *probe, w *window, bound float64, s2, buf []float64, f func(cell int, eta float64)) {
	for _, cr := range w.cols[:w.n] {
		cLo, cHi := cr[0], cr[1]
		g.colSins(p, cLo, cHi, s2)
		for r := w.rLo; r <= w.rHi; r++ {
			out := buf[cLo : cHi+1]
			if !g.rowETAs(p, r, s2[cLo:cHi+1], out) {
				continue
			}
			base := r*g.cols + cLo
			for j, eta := range out {
				if eta <= bound {
					f(base+j, eta)
				}
			}
		}
	}
}

// tierOf is the 1-based tier of an ETA, 0 beyond the last.
func (g *Grid) tierOf(eta float64) uint8 {
	for i, b := range g.boundS {
		if eta <= b {
			return uint8(i + 1)
		}
	}
	return 0
}

func (g *Grid) paint(res *Result, u *Unit, s2, buf []float64) {
	p, ok := g.newProbe(u)
	if !ok {
		return
	}
	w := g.window(p.lat, p.lon, p.δ)
	last := g.boundS[len(g.boundS)-1]
	for _, cr := range w.cols[:w.n] {
		cLo, cHi := cr[0], cr[1]
		g.colSins(&p, cLo, cHi, s2)
		for r := w.rLo; r <= w.rHi; r++ {
			out := buf[cLo : cHi+1]
			if !g.rowETAs(&p, r, s2[cLo:cHi+1], out) {
				continue
			}
			base := r * g.cols
			etas := res.ETAs[base+cLo : base+cHi+1]
			tiers := res.tier[base+cLo : base+cHi+1]
			for j, eta := range out {
				if !(eta <= last) {
					continue
				}
				if e := float32(eta); e < etas[j] {
					etas[j] = e
				}
				if t := tiers[j]; t != 1 {
					k := uint8(1)
					for _, b := range g.boundS {
						if eta <= b {
							break
						}
						k++
					}
					if t == 0 || k < t {
						tiers[j] = k
					}
				}
			}
		}
	}
}

// clampIdx converts a float index to an int within [0, n-1].
func clampIdx(v float64, n int) int {
	switch {
	case !(v > 0):
		return 0
	case v >= float64(n-1):
		return n - 1
	}
	return int(v)
}
