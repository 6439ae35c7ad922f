package match

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
)

// spatialIndex names the buntdb r-tree over unit positions.
const spatialIndex = "pos"

// The stop rule compares an ETA computed from haversine with a bound computed
// from the r-tree's chord; the two round differently. The slack makes the
// bound smaller (so the search goes on a little longer, never stops early):
// relSlack covers ordinary rounding, absSlackM the loss of precision of asin
// near antipodal points (the bound exceeded haversine by up to 0.33 m in five
// million random pairs) with room to spare. Without the slack the property
// test fails on units sharing a position.
const (
	relSlack  = 1e-9
	absSlackM = 1.0
)

// entry is the filtering state of one unit, kept next to the r-tree.
type entry struct {
	Unit           // Capabilities sorted and deduplicated
	speed  float64 // Speeds[Type], looked up once per Upsert
	inTree bool    // has a position in the r-tree
}

// ready reports whether e counts towards Index.ready: in the tree, online and
// available. Only such a unit can ever be a candidate.
func (e *entry) ready() bool {
	return e.inTree && e.Online && e.Status == protocol.StatusAvailable
}

// Index ranks units like Rank does, without looking at every unit: it walks a
// buntdb r-tree nearest-first and stops when no unit not yet seen can beat the
// k-th best. It is safe for concurrent use.
type Index struct {
	cfg  Config  // a private copy
	vmax float64 // fastest speed of any unit type, for the stop rule

	// mu guards everything below, so a Query sees the map and the r-tree at
	// the same moment. buntdb has a lock of its own; ours is always taken
	// first.
	mu     sync.RWMutex
	db     *buntdb.DB
	units  map[string]*entry
	ready  int            // units for which entry.ready holds
	capN   map[string]int // of those, how many have each capability
	closed bool
}

// NewIndex returns an empty index; cfg is validated and copied.
func NewIndex(cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	var vmax float64
	for _, t := range protocol.UnitTypes {
		vmax = max(vmax, cfg.Speeds[t])
	}
	db, err := buntdb.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("match: open index: %w", err)
	}
	if err := db.CreateSpatialIndex(spatialIndex, "*", pointRect); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("match: create spatial index: %w", err)
	}
	return &Index{
		cfg:   cfg,
		vmax:  vmax,
		db:    db,
		units: make(map[string]*entry),
		capN:  make(map[string]int),
	}, nil
}

// Upsert inserts or replaces units, in one transaction of the r-tree. A unit
// without a fix (FixTS 0) is known but has no place in the r-tree and its
// Lat, Lon are ignored. A unit with a bad position is left out, its previous
// state kept, and named in the error (wrapping ErrBadPosition); the others
// are applied. If a unit appears twice, the last one counts.
func (ix *Index) Upsert(units ...Unit) error {
	var errs []error
	entries := make([]*entry, 0, len(units))
	at := make(map[string]int, len(units))
	for _, u := range units {
		switch {
		case u.ID == "":
			errs = append(errs, errors.New("match: upsert: empty unit ID"))
			continue
		case !u.Type.Valid():
			errs = append(errs, fmt.Errorf("match: upsert %q: unknown unit type %q", u.ID, u.Type))
			continue
		case u.FixTS != 0 && !protocol.ValidLatLon(u.Lat, u.Lon):
			// buntdb would accept NaN and ±Inf and hand them back mid-Nearby.
			errs = append(errs, fmt.Errorf("match: upsert %q: lat=%v lon=%v: %w", u.ID, u.Lat, u.Lon, ErrBadPosition))
			continue
		}
		if u.FixTS == 0 {
			u.Lat, u.Lon = 0, 0
		}
		caps := slices.Clone(u.Capabilities)
		slices.Sort(caps)
		u.Capabilities = slices.Compact(caps)
		e := &entry{Unit: u, speed: ix.cfg.Speeds[u.Type], inTree: u.FixTS != 0}
		if i, ok := at[u.ID]; ok {
			entries[i] = e
			continue
		}
		at[u.ID] = len(entries)
		entries = append(entries, e)
	}

	if len(entries) == 0 {
		return errors.Join(errs...)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return errors.Join(append(errs, fmt.Errorf("match: upsert: %w", buntdb.ErrDatabaseClosed))...)
	}
	// Only a position that changed touches the r-tree: most updates are
	// status changes or repeated fixes of a unit standing still.
	err := ix.db.Update(func(tx *buntdb.Tx) error {
		for _, e := range entries {
			old := ix.units[e.ID]
			wasInTree := old != nil && old.inTree
			switch {
			case e.inTree && (!wasInTree || old.Lat != e.Lat || old.Lon != e.Lon):
				if _, _, err := tx.Set(e.ID, pointValue(unitVector(e.Lat, e.Lon)), nil); err != nil {
					return err
				}
			case !e.inTree && wasInTree:
				if _, err := tx.Delete(e.ID); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("match: upsert: %w", err))...)
	}
	for _, e := range entries {
		if old := ix.units[e.ID]; old != nil {
			ix.tally(old, -1)
		}
		ix.tally(e, +1)
		ix.units[e.ID] = e
	}
	return errors.Join(errs...)
}

// Remove forgets a unit; an unknown ID is ignored.
func (ix *Index) Remove(id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.units[id]
	if ix.closed || e == nil {
		return
	}
	if e.inTree {
		// Cannot fail on an open database; were it to, Query skips keys
		// missing from the map, so answers stay right.
		_ = ix.deleteFromTree(id)
	}
	ix.tally(e, -1)
	delete(ix.units, id)
}

func (ix *Index) deleteFromTree(id string) error {
	return ix.db.Update(func(tx *buntdb.Tx) error {
		_, err := tx.Delete(id)
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return err
	})
}

// tally adds (d = +1) or removes (d = -1) e's share of the ready counts.
func (ix *Index) tally(e *entry, d int) {
	if !e.ready() {
		return
	}
	ix.ready += d
	for _, c := range e.Capabilities {
		if n := ix.capN[c] + d; n != 0 {
			ix.capN[c] = n
		} else {
			delete(ix.capN, c)
		}
	}
}

// Len returns how many units the index knows, with or without a fix.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.units)
}

// Close releases the database. Later calls to Upsert and Query fail; calling
// Close again does nothing.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	ix.units, ix.capN, ix.ready = nil, nil, 0
	if err := ix.db.Close(); err != nil {
		return fmt.Errorf("match: close index: %w", err)
	}
	return nil
}

// Query returns at most q.K candidates in the order Rank gives. An invalid
// query (position, K, capability name, unset Now) is an error.
func (ix *Index) Query(q Query) ([]Candidate, error) {
	if err := validateQuery(&q); err != nil {
		return nil, err
	}
	bounds := pointValue(unitVector(q.Lat, q.Lon))

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, fmt.Errorf("match: query: %w", buntdb.ErrDatabaseClosed)
	}
	s := search{ix: ix, q: &q, best: make([]Candidate, 0, q.K)}
	if len(q.Needs) > 0 {
		n := len(q.Needs)
		counts := make([]int, 2*n)
		s.seenCap, s.totalCap = counts[:n:n], counts[n:]
		for i, c := range q.Needs {
			s.totalCap[i] = ix.capN[c]
		}
	}
	if s.exhausted() {
		return s.best, nil
	}
	err := ix.db.View(func(tx *buntdb.Tx) error {
		return tx.Nearby(spatialIndex, bounds, s.visit)
	})
	if err != nil {
		return nil, fmt.Errorf("match: query: %w", err)
	}
	return s.best, nil
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

// search is the state of one Query's walk through the r-tree.
type search struct {
	ix   *Index
	q    *Query
	best []Candidate // sorted by compare, at most q.K

	// Every candidate is ready and has every need, so once all ready units,
	// or all holders of one need, have been seen, no unseen unit can qualify:
	// a rare capability ends the walk early instead of scanning the fleet.
	seenReady         int
	seenCap, totalCap []int // per entry of q.Needs
}

// visit is the Nearby iterator; d2 is the squared chord between the query's
// and the unit's points on the unit sphere, non-decreasing along the walk.
func (s *search) visit(key, _ string, d2 float64) bool {
	if s.full() && s.best[s.q.K-1].ETAS < s.ix.etaFloor(d2) {
		return false
	}
	e := s.ix.units[key]
	if e == nil {
		return true
	}
	if e.Online && e.Status == protocol.StatusAvailable {
		s.seenReady++
		for i, c := range s.q.Needs {
			if slices.Contains(e.Capabilities, c) {
				s.seenCap[i]++
			}
		}
	}
	if age, ok := eligible(&e.Unit, s.q, s.q.maxFixAge(&s.ix.cfg)); ok {
		s.offer(candidate(&e.Unit, e.speed, age, s.q, &s.ix.cfg))
	}
	return !s.exhausted()
}

// full reports whether the search holds K candidates.
func (s *search) full() bool { return len(s.best) == s.q.K }

// exhausted reports whether no unit not yet seen can be a candidate.
func (s *search) exhausted() bool {
	if s.seenReady == s.ix.ready {
		return true
	}
	for i, n := range s.totalCap {
		if s.seenCap[i] == n {
			return true
		}
	}
	return false
}

// offer keeps c if it is among the K best so far.
func (s *search) offer(c Candidate) {
	k := s.q.K
	if len(s.best) == k {
		if compare(c, s.best[k-1]) >= 0 {
			return
		}
		s.best = s.best[:k-1]
	}
	i, _ := slices.BinarySearchFunc(s.best, c, compare)
	s.best = slices.Insert(s.best, i, c)
}

// etaFloor is the least ETA any unit at squared chord >= d2 can have: its
// great-circle distance is at least R·2·asin(√d2 / 2), and no type is faster
// than vmax.
func (ix *Index) etaFloor(d2 float64) float64 {
	m := 2 * protocol.EarthRadiusM * math.Asin(min(1, math.Sqrt(d2)/2))
	m = m*(1-relSlack) - absSlackM
	return m * ix.cfg.Detour / ix.vmax
}

// unitVector is lat, lon as a point on the unit sphere (ECEF). Euclidean
// distance between such points is the chord, which grows strictly with
// great-circle distance, so buntdb's nearest-first order is the true order
// with no seam at ±180° and no distortion near the poles.
func unitVector(lat, lon float64) [3]float64 {
	const rad = math.Pi / 180
	sφ, cφ := math.Sincos(lat * rad)
	sλ, cλ := math.Sincos(lon * rad)
	return [3]float64{cφ * cλ, cφ * sλ, sφ}
}

// pointValue encodes a unit vector as the 24 bytes of three little-endian
// float64s: compact, exact, and parsed without strconv.
func pointValue(p [3]float64) string {
	var b [24]byte
	putFloats(b[:], p[:])
	return string(b[:])
}

func putFloats(b []byte, fs []float64) {
	for i, f := range fs {
		bits := math.Float64bits(f)
		for j := range 8 {
			b[8*i+j] = byte(bits >> (8 * j))
		}
	}
}

func getFloats(s string, fs []float64) {
	for i := range fs {
		var bits uint64
		for j := range 8 {
			bits |= uint64(s[8*i+j]) << (8 * j)
		}
		fs[i] = math.Float64frombits(bits)
	}
}

// pointRect is the spatial index's rect function, the inverse of
// pointValue. All values are 3-D, so rtred keeps a single tree and searches
// it without goroutines. min and max share one slice: rtred copies them.
func pointRect(s string) (lo, hi []float64) {
	if len(s) != 24 {
		return nil, nil // rtred ignores empty rects
	}
	p := make([]float64, 3)
	getFloats(s, p)
	return p, p
}
