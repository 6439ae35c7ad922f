package match

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"kuaifan/protocol"
)

// ErrClosed is returned, wrapped, by Upsert and Query after Close.
var ErrClosed = errors.New("match: index closed")

// The stop rule and the pruning compare an ETA computed from haversine with a
// bound computed from a radius or a chord; the two round differently. The
// slack makes bounds looser (so the search reads a little more, never stops
// early): relSlack covers ordinary rounding, absSlackM the loss of precision
// of asin and of the chord near antipodal points (up to 0.33 m in five
// million random pairs) with room to spare.
const (
	relSlack  = 1e-9
	absSlackM = 1.0
)

// maxCapBits is how many capability names get a bit; a name beyond them is
// checked by name. Cities have a handful.
const maxCapBits = 64

// entry is one known unit.
type entry struct {
	Unit        // Capabilities sorted and deduplicated; Lat, Lon zero without a fix
	typ  uint8  // index of Type in protocol.UnitTypes
	caps uint64 // bits of Capabilities
	cell *cell  // holding the unit's slot while it is ready, else nil
	slot int32  // the slot's index in cell.slots
}

// isReady reports whether u can ever be a candidate: it has a fix and is
// online and available. Exactly the ready units are in the grid.
func isReady(u *Unit) bool {
	return u.FixTS != 0 && u.Online && u.Status == protocol.StatusAvailable
}

// Index ranks units like Rank does, without looking at every unit: it keeps
// the ready units in a grid and reads caps of growing radius around the
// incident until no unit outside the cap can beat the k-th best. It is safe
// for concurrent use.
type Index struct {
	cfg    Config // a private copy
	speeds [len(protocol.UnitTypes)]float64
	vmax   float64   // fastest speed of any unit type, for the stop rule
	pool   sync.Pool // of *search, so that a Query allocates only its answer

	// mu guards everything below; a Query reads under the read lock.
	mu     sync.RWMutex
	units  map[string]*entry
	grid   grid
	ready  int               // units for which isReady holds: those in the grid
	capN   map[string]int    // of those, how many have each capability
	capBit map[string]uint64 // the first maxCapBits capability names seen; never reassigned
	closed bool
}

// NewIndex returns an empty index; cfg is validated and copied.
func NewIndex(cfg Config) (*Index, error) {
	return newIndexCell(cfg, cellM)
}

// newIndexCell is NewIndex with grid cells of about cellSideM metres; tests
// use odd sizes to put many or few cells between units.
func newIndexCell(cfg Config, cellSideM float64) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ix := &Index{
		cfg:    cfg.clone(),
		units:  make(map[string]*entry),
		grid:   newGrid(cellSideM),
		capN:   make(map[string]int),
		capBit: make(map[string]uint64),
	}
	for i, t := range protocol.UnitTypes {
		ix.speeds[i] = ix.cfg.Speeds[t]
		ix.vmax = max(ix.vmax, ix.speeds[i])
	}
	ix.pool.New = func() any { return &search{best: make([]hit, 0, MaxK)} }
	return ix, nil
}

func typeIndex(t protocol.UnitType) uint8 {
	return uint8(slices.Index(protocol.UnitTypes[:], t))
}

// Upsert inserts or replaces units. A unit without a fix (FixTS 0) is known
// but has no place in the grid and its Lat, Lon are ignored. A unit with a
// bad position is left out, its previous state kept, and named in the error
// (wrapping ErrBadPosition); the others are applied. If a unit appears twice,
// the last one counts. The batch is applied at once: no Query sees part of it.
func (ix *Index) Upsert(units ...Unit) error {
	var errs []error
	valid := 0
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range units {
		if err := checkUnit(&units[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		valid++
		if !ix.closed {
			ix.upsert(units[i])
		}
	}
	if ix.closed && valid > 0 {
		errs = append(errs, fmt.Errorf("match: upsert: %w", ErrClosed))
	}
	return errors.Join(errs...)
}

func checkUnit(u *Unit) error {
	switch {
	case u.ID == "":
		return errors.New("match: upsert: empty unit ID")
	case !u.Type.Valid():
		return fmt.Errorf("match: upsert %q: unknown unit type %q", u.ID, u.Type)
	case u.FixTS != 0 && !protocol.ValidLatLon(u.Lat, u.Lon):
		return fmt.Errorf("match: upsert %q: lat=%v lon=%v: %w", u.ID, u.Lat, u.Lon, ErrBadPosition)
	}
	return nil
}

// upsert applies one valid unit. Most updates are a new fix or status of a
// unit whose capabilities did not change: those reuse the entry and its
// capabilities and, when the unit stays in its cell, its slot.
func (ix *Index) upsert(u Unit) {
	if u.FixTS == 0 {
		u.Lat, u.Lon = 0, 0
	}
	e := ix.units[u.ID]
	if e == nil {
		e = &entry{}
		ix.units[u.ID] = e
	}
	caps, capBits := e.Capabilities, e.caps
	sameCaps := sameSet(caps, u.Capabilities)
	if !sameCaps {
		caps, capBits = ix.internCaps(u.Capabilities)
	}
	wasReady := e.cell != nil
	nowReady := isReady(&u)
	if wasReady && (!nowReady || !sameCaps) {
		ix.tally(e.Capabilities, -1)
	}
	if nowReady && (!wasReady || !sameCaps) {
		ix.tally(caps, +1)
	}
	oldLat, oldLon := e.Lat, e.Lon
	u.Capabilities = caps
	e.Unit, e.caps, e.typ = u, capBits, typeIndex(u.Type)

	switch {
	case !nowReady:
		if wasReady {
			ix.grid.remove(e)
			ix.ready--
		}
		return
	case !wasReady:
		ix.ready++
	}
	s := slot{lat: u.Lat, lon: u.Lon, fixTS: u.FixTS, caps: capBits, typ: e.typ, id: e.ID, e: e}
	if wasReady && oldLat == u.Lat && oldLon == u.Lon {
		old := &e.cell.slots[e.slot]
		s.x, s.y, s.z = old.x, old.y, old.z
		e.cell.put(e.slot, s)
		return
	}
	s.x, s.y, s.z = unitVector(u.Lat, u.Lon)
	if wasReady {
		if ix.grid.holds(e.cell, u.Lat, u.Lon) {
			e.cell.put(e.slot, s)
			return
		}
		ix.grid.remove(e)
	}
	ix.grid.insert(e, s)
}

// sameSet reports whether b names the capabilities of a, which is sorted and
// deduplicated. A long b is not compared: interning it afresh is as right.
func sameSet(a, b []string) bool {
	if slices.Equal(a, b) {
		return true
	}
	if len(b) < len(a) || len(b) > 16 {
		return false
	}
	for _, c := range b {
		if !slices.Contains(a, c) {
			return false
		}
	}
	for _, c := range a {
		if !slices.Contains(b, c) {
			return false
		}
	}
	return true
}

// internCaps returns caps sorted and deduplicated, in a slice of its own, and
// their bits, giving a bit to each name not seen before while bits last.
func (ix *Index) internCaps(caps []string) ([]string, uint64) {
	if len(caps) == 0 {
		return nil, 0
	}
	caps = slices.Clone(caps)
	slices.Sort(caps)
	caps = slices.Compact(caps)
	var m uint64
	for _, c := range caps {
		b, ok := ix.capBit[c]
		if !ok && len(ix.capBit) < maxCapBits {
			b = 1 << len(ix.capBit)
			ix.capBit[c] = b
		}
		m |= b
	}
	return caps, m
}

// tally adds (d = +1) or removes (d = -1) a ready unit's capabilities from
// the counts.
func (ix *Index) tally(caps []string, d int) {
	for _, c := range caps {
		if n := ix.capN[c] + d; n != 0 {
			ix.capN[c] = n
		} else {
			delete(ix.capN, c)
		}
	}
}

// Remove forgets a unit; an unknown ID is ignored.
func (ix *Index) Remove(id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.units[id]
	if ix.closed || e == nil {
		return
	}
	if e.cell != nil {
		ix.tally(e.Capabilities, -1)
		ix.grid.remove(e)
		ix.ready--
	}
	delete(ix.units, id)
}

// Len returns how many units the index knows, with or without a fix.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.units)
}

// Close releases the index's memory. Later calls to Upsert and Query fail
// with ErrClosed; calling Close again does nothing.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.closed = true
	ix.units, ix.capN, ix.capBit, ix.ready = nil, nil, nil, 0
	ix.grid.bands = nil
	return nil
}

// Query returns at most q.K candidates in the order Rank gives. An invalid
// query (position, K, capability name, unset Now) is an error.
func (ix *Index) Query(q Query) ([]Candidate, error) {
	if err := validateQuery(&q); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, fmt.Errorf("match: query: %w", ErrClosed)
	}
	s := ix.pool.Get().(*search)
	s.start(ix, &q)
	if !s.exhausted() {
		s.run()
	}
	out := s.candidates() // empty, not nil, when there are none: as Rank
	s.reset()
	ix.pool.Put(s)
	return out, nil
}

func validateQuery(q *Query) error {
	if !protocol.ValidLatLon(q.Lat, q.Lon) {
		return fmt.Errorf("match: query at lat=%v lon=%v: %w", q.Lat, q.Lon, ErrBadPosition)
	}
	if q.K < 1 || q.K > MaxK {
		return fmt.Errorf("match: query: k=%d, want 1..%d", q.K, MaxK)
	}
	for _, c := range q.Needs {
		if !protocol.ValidCapability(c) {
			return fmt.Errorf("match: query: need %q is not a capability name (1-32 of [a-z0-9_-])", c)
		}
	}
	if q.Now.IsZero() {
		// A zero Now would make every fix look fresh.
		return errors.New("match: query: Now is not set")
	}
	return nil
}

// maxTracked bounds the needs whose holders a search counts; the count only
// ends a search early, so leaving further needs out is still right.
const maxTracked = 8

// search is the state of one Query.
type search struct {
	ix     *Index
	q      Query
	maxAge time.Duration
	qx     float64 // the query on the unit sphere
	qy, qz float64
	best   []hit      // sorted by hit.less, at most q.K
	cells  []nearCell // scratch: the cells of one step

	need   uint64 // bits every candidate has
	byName bool   // some need has no bit: check Capabilities by name too

	// Every candidate is ready and has every need, so once all ready units,
	// or all holders of one need, have been read, no unread unit can qualify:
	// a rare capability ends the search early instead of reading the fleet.
	seenReady         int
	nTracked          int
	trackBit          [maxTracked]uint64 // 0: count by name
	seenCap, totalCap [maxTracked]int

	// When best is full, a unit of type t farther than the square root of
	// maxChord2[t] cannot beat best[K-1]; no unit farther than that of
	// maxChord2Any can.
	full         bool
	maxChord2    [len(protocol.UnitTypes)]float64
	maxChord2Any float64
}

// hit is a candidate before it is written out: only the K best ever are.
// Slots stay put while a query holds the read lock.
type hit struct {
	eta, d float64
	age    time.Duration
	s      *slot
}

// less is compare's order.
func (a *hit) less(b *hit) bool {
	if a.eta != b.eta {
		return a.eta < b.eta
	}
	if a.d != b.d {
		return a.d < b.d
	}
	return a.s.id < b.s.id
}

type nearCell struct {
	c     *cell
	near2 float64 // squared chord from the query to the cell's centre
}

func (s *search) start(ix *Index, q *Query) {
	s.ix, s.q = ix, *q
	s.maxAge = q.maxFixAge(&ix.cfg)
	s.qx, s.qy, s.qz = unitVector(q.Lat, q.Lon)
	for _, c := range q.Needs {
		b := ix.capBit[c]
		s.need |= b
		if b == 0 {
			s.byName = true
		}
		if s.nTracked < maxTracked {
			s.trackBit[s.nTracked] = b
			s.totalCap[s.nTracked] = ix.capN[c]
			s.nTracked++
		}
	}
}

// candidates writes out the K best.
func (s *search) candidates() []Candidate {
	out := make([]Candidate, len(s.best))
	for i := range s.best {
		h := &s.best[i]
		out[i] = candidateAt(h.s.id, protocol.UnitTypes[h.s.typ], h.s.lat, h.s.lon, h.d, h.eta, h.age, &s.ix.cfg)
	}
	return out
}

// reset clears s for the pool, keeping its buffers.
func (s *search) reset() {
	clear(s.best)
	clear(s.cells)
	*s = search{best: s.best[:0], cells: s.cells[:0]}
}

// exhausted reports whether no unit not yet read can be a candidate.
func (s *search) exhausted() bool {
	if s.seenReady == s.ix.ready {
		return true
	}
	for i := range s.nTracked {
		if s.seenCap[i] == s.totalCap[i] {
			return true
		}
	}
	return false
}

// run reads caps of growing radius until the K-th best is provably best or
// no unread unit can qualify. Without K candidates yet the radius doubles;
// with them it grows to where the stop rule will hold (at most doubling, as
// better candidates found on the way shrink that radius).
func (s *search) run() {
	g := &s.ix.grid
	rho := g.dLat * rad / 2
	var prev cover
	for {
		cur := g.cover(s.q.Lat, s.q.Lon, rho)
		if s.read(&prev, &cur) || cur.all {
			return
		}
		next := 2 * rho
		if s.full {
			kth := s.best[s.q.K-1].eta
			if kth < s.ix.etaFloor(rho) {
				return
			}
			next = min(next, max(s.ix.radiusBeyond(kth), rho*(1+1e-6)))
		}
		prev, rho = cur, next
	}
}

// read reads the cells in cur not in prev, nearest first so that the bound
// on the K-th best tightens early and prunes the rest; it reports whether the
// search is exhausted.
func (s *search) read(prev, cur *cover) bool {
	clear(s.cells) // the pool keeps the buffer, not the cells
	s.cells = s.cells[:0]
	bands := s.ix.grid.bands
	i, _ := s.ix.grid.findBand(cur.b0)
	for ; i < len(bands) && bands[i].idx <= cur.b1; i++ {
		b := bands[i]
		n := int64(b.n)
		lo, hi, full := cur.columns(b)
		if !prev.inBands(b.idx) {
			s.collect(b, lo, hi)
			continue
		}
		plo, phi, pfull := prev.columns(b)
		switch {
		case pfull:
		case full:
			s.collect(b, phi+1, plo+n-1)
		default:
			s.collect(b, lo, plo-1)
			s.collect(b, phi+1, hi)
		}
	}
	slices.SortFunc(s.cells, func(a, b nearCell) int {
		// Not cmp.Compare: no NaN here, and its NaN checks cost.
		switch {
		case a.near2 < b.near2:
			return -1
		case a.near2 > b.near2:
			return 1
		}
		return 0
	})
	for _, nc := range s.cells {
		c := nc.c
		if s.full {
			// Every unit in c is at least this far (triangle inequality).
			if lb := math.Sqrt(nc.near2) - c.reach; lb > 0 && lb*lb > s.maxChord2Any {
				// None can be a candidate: count them as read.
				s.seenReady += len(c.slots)
				continue
			}
		}
		s.readCell(c)
		if s.exhausted() {
			return true
		}
	}
	return s.exhausted() // the skipped cells may have been the last
}

// collect adds the cells of band b in columns lo..hi, unwrapped (fewer than
// b.n of them), to s.cells.
func (s *search) collect(b *band, lo, hi int64) {
	if lo > hi {
		return
	}
	n := int64(b.n)
	first := ((lo % n) + n) % n
	last := first + hi - lo
	if last >= n {
		s.collectRange(b, int32(first), int32(n-1))
		s.collectRange(b, 0, int32(last-n))
		return
	}
	s.collectRange(b, int32(first), int32(last))
}

func (s *search) collectRange(b *band, c0, c1 int32) {
	j, _ := slices.BinarySearch(b.cols, c0)
	for ; j < len(b.cols) && b.cols[j] <= c1; j++ {
		c := b.cells[j]
		if c.caps&s.need != s.need {
			// No unit here has every need: count them as read.
			s.seenReady += len(c.slots)
			continue
		}
		dx, dy, dz := c.x-s.qx, c.y-s.qy, c.z-s.qz
		s.cells = append(s.cells, nearCell{c, dx*dx + dy*dy + dz*dz})
	}
}

// readCell offers the cell's candidates. The filters go from cheap to dear;
// each is exact or errs towards reading on, and distances and ETAs are
// computed as Rank computes them.
func (s *search) readCell(c *cell) {
	s.seenReady += len(c.slots)
	cfg := &s.ix.cfg
	for i := range c.slots {
		sl := &c.slots[i]
		for j := range s.nTracked {
			if b := s.trackBit[j]; b != 0 && sl.caps&b != 0 || b == 0 && slices.Contains(sl.e.Capabilities, s.q.Needs[j]) {
				s.seenCap[j]++
			}
		}
		if sl.caps&s.need != s.need {
			continue
		}
		if s.full {
			dx, dy, dz := sl.x-s.qx, sl.y-s.qy, sl.z-s.qz
			if dx*dx+dy*dy+dz*dz > s.maxChord2[sl.typ] {
				continue
			}
		}
		if s.byName && !hasAll(sl.e.Capabilities, s.q.Needs) {
			continue
		}
		// As eligible: time.Time.Sub saturates, so an absurd FixTS cannot
		// overflow into "fresh".
		age := s.q.Now.Sub(time.UnixMilli(sl.fixTS))
		if age > s.maxAge {
			continue
		}
		d := protocol.Haversine(s.q.Lat, s.q.Lon, sl.lat, sl.lon)
		h := hit{eta: d * cfg.Detour / s.ix.speeds[sl.typ], d: d, age: age, s: sl}
		if s.full && !h.less(&s.best[s.q.K-1]) {
			continue
		}
		s.offer(h)
	}
}

// offer keeps h, which beats best[K-1] if best is full.
func (s *search) offer(h hit) {
	k := s.q.K
	if s.full {
		s.best = s.best[:k-1]
	}
	i := len(s.best)
	for i > 0 && h.less(&s.best[i-1]) {
		i--
	}
	s.best = slices.Insert(s.best, i, h)
	if s.full = len(s.best) == k; s.full {
		s.bound()
	}
}

// bound sets maxChord2 from best[K-1]: a unit of type t beats it only within
// an arc of ETAS × speed ÷ detour metres, loosened by the slack. Within a
// city the arc itself bounds the chord, which is shorter, without
// trigonometry; for a far incident the chord proper prunes far more. Near
// the antipode the chord flattens and rounds badly, so nothing is pruned.
func (s *search) bound() {
	eta := s.best[s.q.K-1].eta
	s.maxChord2Any = 0
	for t, v := range s.ix.speeds {
		a := (eta*v/s.ix.cfg.Detour*(1+relSlack) + absSlackM) / protocol.EarthRadiusM
		var c2 float64
		switch {
		case a < 0.01:
			c2 = a * a
		case a < 2.5:
			c := 2 * math.Sin(a/2)
			c2 = c * c
		default:
			c2 = math.Inf(1)
		}
		s.maxChord2[t] = c2
		s.maxChord2Any = max(s.maxChord2Any, c2)
	}
}

// etaFloor is the least ETA any unit farther than rho radians can have: no
// type is faster than vmax.
func (ix *Index) etaFloor(rho float64) float64 {
	m := rho*protocol.EarthRadiusM*(1-relSlack) - absSlackM
	return m * ix.cfg.Detour / ix.vmax
}

// radiusBeyond is a radius, in radians, whose etaFloor exceeds eta.
func (ix *Index) radiusBeyond(eta float64) float64 {
	m := (eta*ix.vmax/ix.cfg.Detour + absSlackM) / (1 - relSlack)
	return m / protocol.EarthRadiusM * (1 + 1e-9)
}

// unitVector is lat, lon as a point on the unit sphere (ECEF): the chord
// between two such points grows strictly with their great-circle distance.
func unitVector(lat, lon float64) (x, y, z float64) {
	sφ, cφ := math.Sincos(lat * rad)
	sλ, cλ := math.Sincos(lon * rad)
	return cφ * cλ, cφ * sλ, sφ
}
