// Package citycover keeps the city's live coverage current for the hub: it
// recomputes the coverage grid (package coverage) from the units free to
// respond, weighs each cell by recent demand, and answers the coverage layer
// (kuaifan/protocol/api's Coverage) that GET /api/coverage, the live stream,
// the per-district metrics and the dashboard's status bar show.
//
// When: at most once per Settle (1 s) after the fleet changed (a position,
// a status, a unit coming online), and every Every (5 s) regardless, so a
// fix growing stale takes its unit off the map. Demand (the incidents of the
// last DemandWindow, 30 days, per cell) is recounted every DemandEvery.
//
// Demand weights: a city cell weighs its incident count plus a floor of
// DemandFloor (0.1) times the mean count per city cell, so a quiet street
// still counts for a tenth of an average one; before any incident every
// city cell weighs the same and demand shares equal area shares.
//
// A cell is in the city when its centre is in one of the districts; only
// city cells count in the figures and the holes. A hub without districts
// has no city and no coverage layer (New refuses).
package citycover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kuaifan/hub/internal/coverage"
	"kuaifan/protocol/api"
	"kuaifan/protocol/districts"
)

// Defaults of Config.
const (
	DefaultEvery        = 5 * time.Second
	DefaultSettle       = time.Second
	DefaultDemandWindow = 30 * 24 * time.Hour
	DefaultDemandEvery  = 5 * time.Minute
	DefaultDemandFloor  = 0.1
	// DefaultCoverTier is the tier of the headline figure and of the
	// holes: the second, 3 minutes in the 1-3-5 scheme.
	DefaultCoverTier = 2
)

// ErrNoCity is returned by New for a hub without districts.
var ErrNoCity = errors.New("citycover: no districts: the coverage grid lies over the city's districts")

// Config wires the live coverage to the hub.
type Config struct {
	Districts *districts.Set
	Grid      coverage.Config // cell size, speeds (a type left out is not counted), detour, tiers
	// Units lists the units free to respond at now: online, available,
	// not assigned, with a fresh fix.
	Units func(now time.Time) []coverage.Unit
	// Demand visits the place of every incident created in [from, to)
	// (Unix ms); nil: no demand (weights by area).
	Demand       func(from, to int64, visit func(lat, lon float64)) error
	DemandWindow time.Duration
	DemandEvery  time.Duration
	DemandFloor  float64 // >= 0
	Every        time.Duration
	Settle       time.Duration
	CoverTier    int    // 1-based; the headline share and the holes
	OnChange     func() // the layer changed; must not block
	Registerer   prometheus.Registerer
	Logger       *slog.Logger
	Now          func() time.Time
}

// Live is the live coverage. New prepares it, Run keeps it current; the
// readers (Current, Changes, Refresh) are safe for concurrent use.
type Live struct {
	cfg      Config
	grid     *coverage.Grid
	district []int      // per cell: index in Districts, -1 outside the city
	moveMu   sync.Mutex // one move-up suggestion at a time
	city     int        // city cells
	log      *slog.Logger
	dirty    atomic.Bool
	wake     chan struct{}

	computeMu sync.Mutex // one computation at a time: they share the tracker, tiers and weights
	// tracker holds the units of the last computation and their grid;
	// held is what it was given, by id (guarded by computeMu).
	tracker *coverage.Tracker
	held    map[string]coverage.Unit

	mu      sync.Mutex
	cur     *api.Coverage // published whole; never changed after
	tiers   []byte        // per cell, as in Coverage.Cells; 0 before the first computation
	pending map[int]byte  // cells changed since the last Changes, their tier
	weights []float64     // per cell
	demandN int           // incidents counted in the weights
	demandT time.Time     // when the weights were counted

	m metrics
}

// New lays the grid over the districts' bounding box.
func New(cfg Config) (*Live, error) {
	if cfg.Districts == nil || len(cfg.Districts.Districts) == 0 {
		return nil, ErrNoCity
	}
	if cfg.Units == nil {
		return nil, errors.New("citycover: no Units")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Every, DefaultEvery)
	def(&cfg.Settle, DefaultSettle)
	def(&cfg.DemandWindow, DefaultDemandWindow)
	def(&cfg.DemandEvery, DefaultDemandEvery)
	if cfg.DemandFloor == 0 {
		cfg.DemandFloor = DefaultDemandFloor
	}
	if !(cfg.DemandFloor >= 0) || math.IsInf(cfg.DemandFloor, 0) {
		return nil, fmt.Errorf("citycover: demand floor %v: want a finite number >= 0", cfg.DemandFloor)
	}
	if cfg.CoverTier == 0 {
		cfg.CoverTier = DefaultCoverTier
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	minLat, minLon, maxLat, maxLon := bounds(cfg.Districts)
	g, err := coverage.NewGrid(minLat, minLon, maxLat, maxLon, cfg.Grid)
	if err != nil {
		return nil, fmt.Errorf("citycover: %w", err)
	}
	if n := len(g.Tiers()); cfg.CoverTier < 1 || cfg.CoverTier > n {
		return nil, fmt.Errorf("citycover: cover tier %d: want 1 to %d", cfg.CoverTier, n)
	}
	l := &Live{cfg: cfg, grid: g, log: cfg.Logger, wake: make(chan struct{}, 1),
		district: make([]int, g.Cells()), tiers: make([]byte, g.Cells()), weights: make([]float64, g.Cells()),
		pending: make(map[int]byte)}
	for i := range l.district {
		lat, lon := g.Centre(i)
		l.district[i] = cfg.Districts.At(districts.Point{Lat: lat, Lon: lon})
		if l.district[i] >= 0 {
			l.city++
			l.weights[i] = 1
		}
	}
	l.m = newMetrics(cfg.Registerer)
	return l, nil
}

// bounds is the box around every district's outline.
func bounds(set *districts.Set) (minLat, minLon, maxLat, maxLon float64) {
	minLat, minLon, maxLat, maxLon = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, d := range set.Districts {
		for _, p := range d.Ring {
			minLat, maxLat = min(minLat, p.Lat), max(maxLat, p.Lat)
			minLon, maxLon = min(minLon, p.Lon), max(maxLon, p.Lon)
		}
	}
	return
}

// Grid is the grid the layer is computed on.
func (l *Live) Grid() *coverage.Grid { return l.grid }

// UnitsChanged says the fleet changed: the layer is recomputed within
// Settle. It never blocks (the fleet calls it on every position).
func (l *Live) UnitsChanged(...string) {
	if !l.dirty.Swap(true) {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Run keeps the layer current until ctx is done.
func (l *Live) Run(ctx context.Context) error {
	l.Refresh()
	every := time.NewTicker(l.cfg.Every)
	defer every.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-every.C:
			if time.Since(last) < l.cfg.Every/2 {
				continue // a change just did it
			}
		case <-l.wake:
			if wait := l.cfg.Settle - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		}
		last = time.Now()
		l.Refresh()
	}
}

// Refresh recomputes the layer now (Run calls it; tests too), recounting
// demand first if it is due.
func (l *Live) Refresh() {
	l.computeMu.Lock()
	defer l.computeMu.Unlock()
	now := l.cfg.Now()
	if l.cfg.Demand != nil && (l.demandT.IsZero() || now.Sub(l.demandT) >= l.cfg.DemandEvery) {
		if err := l.countDemand(now); err != nil {
			l.log.Error("coverage: counting demand failed; the previous weights stay", "err", err)
		}
	}
	l.dirty.Store(false)
	start := time.Now()
	units := l.cfg.Units(now)
	res := l.update(units)
	cov := l.build(res, units, now)
	l.m.compute.Observe(time.Since(start).Seconds())

	l.mu.Lock()
	changed := false
	for i := range l.tiers {
		t := cov.Cells[i]
		if l.tiers[i] != t {
			l.tiers[i] = t
			l.pending[i] = t
			changed = true
		}
	}
	prev := l.cur
	l.cur = cov
	l.mu.Unlock()
	l.m.publish(cov)
	if l.cfg.OnChange != nil && (changed || prev == nil || !sameFigures(prev, cov)) {
		l.cfg.OnChange()
	}
}

// rebuildShare is the share of units changed (moved, freed, taken) above
// which update builds its tracker afresh: painting one unit again costs
// about 20 µs, rebuilding 10,000 about 35 ms.
const rebuildShare = 8

// update brings the tracker to the units given and returns its result.
// A unit that did not move since the last computation costs a map lookup:
// in a quiet city (units parked, reporting once a minute) a refresh
// repaints a few units rather than the whole grid.
func (l *Live) update(units []coverage.Unit) coverage.Result {
	if l.tracker == nil {
		return l.rebuild(units)
	}
	var set []coverage.Unit
	seen := make(map[string]struct{}, len(units))
	for _, u := range units {
		seen[u.ID] = struct{}{}
		if old, ok := l.held[u.ID]; !ok || old != u {
			set = append(set, u)
		}
	}
	var gone []string
	if len(l.held)+len(set) > len(seen) { // someone left
		for id := range l.held {
			if _, ok := seen[id]; !ok {
				gone = append(gone, id)
			}
		}
	}
	if (len(set)+len(gone))*rebuildShare > max(len(units), 64*rebuildShare) {
		l.m.rebuilds.Inc()
		return l.rebuild(units)
	}
	for _, u := range set {
		l.tracker.Set(u)
		l.held[u.ID] = u
	}
	for _, id := range gone {
		l.tracker.Remove(id)
		delete(l.held, id)
	}
	l.tracker.Changes() // the layer keeps its own list (by tier)
	return l.tracker.Result()
}

func (l *Live) rebuild(units []coverage.Unit) coverage.Result {
	l.tracker = coverage.NewTracker(l.grid)
	l.held = make(map[string]coverage.Unit, len(units))
	for _, u := range units {
		l.tracker.Set(u)
		l.held[u.ID] = u
	}
	l.tracker.Changes()
	return l.tracker.Result()
}

// countDemand recounts the incidents of the last DemandWindow per cell and
// sets the weights (package doc).
func (l *Live) countDemand(now time.Time) error {
	counts := make([]float64, len(l.weights))
	n := 0
	err := l.cfg.Demand(now.Add(-l.cfg.DemandWindow).UnixMilli(), now.UnixMilli()+1, func(lat, lon float64) {
		if i, ok := l.grid.CellAt(lat, lon); ok && l.district[i] >= 0 {
			counts[i]++
			n++
		}
	})
	if err != nil {
		return err
	}
	floor := 1.0
	if n > 0 {
		floor = l.cfg.DemandFloor * float64(n) / float64(l.city)
	}
	for i := range counts {
		if l.district[i] >= 0 {
			counts[i] += floor
			if n == 0 {
				counts[i] = 1
			}
		}
	}
	l.mu.Lock()
	l.weights, l.demandN, l.demandT = counts, n, now
	l.mu.Unlock()
	return nil
}

// Weights returns a copy of the demand weight of every cell (0 outside the
// city), as the move-up suggestions use them.
func (l *Live) Weights() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.weights)
}

// District returns the district index of every cell (-1 outside the city);
// the slice is shared and must not be changed.
func (l *Live) District() []int { return l.district }

// Current is the whole layer as last computed, or nil before the first
// computation. It is shared: callers must not change it.
func (l *Live) Current() *api.Coverage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// fullResend is the share of cells above which Changes sends the whole
// layer rather than the list: 8 bytes of JSON per change against 1 per cell.
const fullResend = 8

// Changes is what changed since its previous call, for the live stream's
// next delta: the figures with the cells whose tier changed (or, if many
// did, the whole layer). nil before the first computation. The stream is
// its one caller: each call starts a new list.
func (l *Live) Changes() *api.Coverage {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return nil
	}
	if len(l.pending)*fullResend > len(l.tiers) {
		clear(l.pending)
		return l.cur
	}
	c := *l.cur
	c.Grid, c.Cells, c.TiersS = nil, "", nil
	c.Changes = make([][2]int, 0, len(l.pending))
	for i, t := range l.pending {
		tier := 0
		if t >= '1' && t <= '9' {
			tier = int(t - '0')
		}
		c.Changes = append(c.Changes, [2]int{i, tier})
	}
	slices.SortFunc(c.Changes, func(a, b [2]int) int { return a[0] - b[0] })
	clear(l.pending)
	return &c
}

// build turns a computation into the layer: cells, shares, holes.
func (l *Live) build(res coverage.Result, units []coverage.Unit, now time.Time) *api.Coverage {
	g := l.grid
	tiers := g.Tiers()
	nt := len(tiers)
	minLat, minLon, latStep, lonStep := g.Origin()
	cov := &api.Coverage{TS: now.UnixMilli(), CoverTier: l.cfg.CoverTier, Units: len(units),
		Grid: &api.CoverageGrid{MinLat: minLat, MinLon: minLon, LatStep: latStep, LonStep: lonStep,
			Rows: g.Rows(), Cols: g.Cols(), CellM: math.Round(latStep*coverage.MetresPerDegreeLat*1000) / 1000},
		DemandDays: int(l.cfg.DemandWindow / (24 * time.Hour))}
	for _, d := range tiers {
		cov.TiersS = append(cov.TiersS, d.Seconds())
	}
	l.mu.Lock()
	weights := l.weights
	l.mu.Unlock()

	nd := len(l.cfg.Districts.Districts)
	// Per area (city = index nd) and tier (0 beyond): cells and weight.
	type tally struct {
		cells  []int
		weight []float64
	}
	tallies := make([]tally, nd+1)
	for i := range tallies {
		tallies[i] = tally{cells: make([]int, nt+1), weight: make([]float64, nt+1)}
	}
	cells := make([]byte, g.Cells())
	for i := range cells {
		d := l.district[i]
		if d < 0 {
			cells[i] = '-'
			continue
		}
		t := res.Tier(i)
		cells[i] = byte('0' + min(t, 9))
		for _, a := range [2]int{int(d), nd} {
			tallies[a].cells[t]++
			tallies[a].weight[t] += weights[i]
		}
	}
	cov.Cells = string(cells)
	shares := func(t tally) api.CoverageShares {
		s := api.CoverageShares{Area: make([]float64, nt), Demand: make([]float64, nt)}
		var n int
		var w float64
		for _, c := range t.cells {
			n += c
		}
		for _, x := range t.weight {
			w += x
		}
		s.Cells = n
		var cn int
		var cw float64
		for k := 1; k <= nt; k++ {
			cn += t.cells[k]
			cw += t.weight[k]
			if n > 0 {
				s.Area[k-1] = round4(float64(cn) / float64(n))
			}
			if w > 0 {
				s.Demand[k-1] = round4(cw / w)
			}
		}
		return s
	}
	cov.City = shares(tallies[nd])
	perDistrict := make([]int, nd)
	for _, u := range units {
		if i, ok := g.CellAt(u.Lat, u.Lon); ok && l.district[i] >= 0 {
			perDistrict[l.district[i]]++
		}
	}
	cov.Districts = make([]api.DistrictCoverage, nd)
	for d := range nd {
		dist := &l.cfg.Districts.Districts[d]
		cov.Districts[d] = api.DistrictCoverage{ID: dist.ID, Name: dist.Name, CoverageShares: shares(tallies[d]), Units: perDistrict[d]}
	}
	cov.Holes = l.holes(cells, weights)
	return cov
}

// HoleM is the side of a hole: the uncovered demand in a square of about
// this many metres around a place. A dispatcher fills a hole with one unit
// (a car covers about 2 km across in 3 minutes); a connected stretch of
// uncovered city can be most of the city when the fleet is thin.
const HoleM = 2000

// holes finds the places where uncovered demand concentrates: for every
// city cell beyond the cover tier, the demand of the uncovered city cells
// in the HoleM square around it (a summed-area table makes each O(1));
// then, the largest first, each hole whose square does not overlap one
// taken before. A hole's centre is the demand-weighted centre of its
// uncovered cells.
func (l *Live) holes(cells []byte, weights []float64) []api.CoverageHole {
	g := l.grid
	rows, cols := g.Rows(), g.Cols()
	cover := byte('0' + l.cfg.CoverTier)
	open := func(i int) bool { c := cells[i]; return c != '-' && (c == '0' || c > cover) }
	_, _, latStep, _ := g.Origin()
	cellM := latStep * coverage.MetresPerDegreeLat
	half := max(1, int(math.Round(HoleM/cellM/2)))

	// Summed-area tables of the uncovered weight and cell count, with a
	// zero row and column in front.
	w := cols + 1
	sw := make([]float64, (rows+1)*w)
	sn := make([]int32, (rows+1)*w)
	var total float64
	for r := range rows {
		var rowW float64
		var rowN int32
		for c := range cols {
			i := r*cols + c
			if l.district[i] >= 0 {
				total += weights[i]
			}
			if open(i) {
				rowW += weights[i]
				rowN++
			}
			sw[(r+1)*w+c+1] = sw[r*w+c+1] + rowW
			sn[(r+1)*w+c+1] = sn[r*w+c+1] + rowN
		}
	}
	box := func(r, c int) (r0, c0, r1, c1 int) {
		return max(0, r-half), max(0, c-half), min(rows, r+half+1), min(cols, c+half+1)
	}
	sumW := func(r0, c0, r1, c1 int) float64 { return sw[r1*w+c1] - sw[r0*w+c1] - sw[r1*w+c0] + sw[r0*w+c0] }
	sumN := func(r0, c0, r1, c1 int) int32 { return sn[r1*w+c1] - sn[r0*w+c1] - sn[r1*w+c0] + sn[r0*w+c0] }

	type candidate struct {
		cell  int
		score float64
		n     int32
	}
	var cands []candidate
	for i := range cells {
		if !open(i) {
			continue
		}
		r0, c0, r1, c1 := box(i/cols, i%cols)
		cands = append(cands, candidate{i, sumW(r0, c0, r1, c1), sumN(r0, c0, r1, c1)})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		switch {
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		case a.n != b.n:
			return int(b.n - a.n)
		}
		return a.cell - b.cell
	})
	out := []api.CoverageHole{}
	var taken [][2]int
	for _, cd := range cands {
		if len(out) == api.MaxCoverageHoles {
			break
		}
		r, c := cd.cell/cols, cd.cell%cols
		if slices.ContainsFunc(taken, func(t [2]int) bool { return abs(t[0]-r) <= 2*half && abs(t[1]-c) <= 2*half }) {
			continue // its square overlaps a hole's already listed
		}
		taken = append(taken, [2]int{r, c})
		r0, c0, r1, c1 := box(r, c)
		var wSum, wLat, wLon, sLat, sLon float64
		for rr := r0; rr < r1; rr++ {
			for cc := c0; cc < c1; cc++ {
				i := rr*cols + cc
				if !open(i) {
					continue
				}
				lat, lon := g.Centre(i)
				wSum += weights[i]
				wLat += weights[i] * lat
				wLon += weights[i] * lon
				sLat += lat
				sLon += lon
			}
		}
		h := api.CoverageHole{Cells: int(cd.n), AreaKM2: round4(float64(cd.n) * cellM * cellM / 1e6)}
		if wSum > 0 {
			h.CentreLat, h.CentreLon = round6(wLat/wSum), round6(wLon/wSum)
		} else {
			h.CentreLat, h.CentreLon = round6(sLat/float64(cd.n)), round6(sLon/float64(cd.n))
		}
		if total > 0 {
			h.DemandShare = round4(wSum / total)
		}
		if d := l.cfg.Districts.At(districts.Point{Lat: h.CentreLat, Lon: h.CentreLon}); d >= 0 {
			h.District = l.cfg.Districts.Districts[d].ID
		}
		out = append(out, h)
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// sameFigures reports whether two layers have the same headline figures.
func sameFigures(a, b *api.Coverage) bool {
	return a.Units == b.Units && slices.Equal(a.City.Demand, b.City.Demand) && slices.Equal(a.City.Area, b.City.Area)
}

func secondsDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// tierLabel names a tier bound for the metrics: "1m", "3m", "90s".
func tierLabel(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}
