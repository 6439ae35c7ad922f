// Package match ranks patrol units for an incident: the k units that can be
// there soonest, by estimated time of arrival.
//
// An ETA is the great-circle (haversine) distance times a detour factor,
// divided by the unit type's road speed. Rank is the brute force over a plain
// slice. Index answers the same question for a live fleet without reading
// all of it: it keeps the units that can respond in an in-memory grid of
// cells about a kilometre wide and reads spherical caps of growing radius
// around the incident until no unit outside the cap can beat the k-th best.
// The caps are computed on the sphere, so there is no seam at ±180° and the
// poles are ordinary places. Index.Query returns exactly what Rank returns
// for the same fleet, which the tests check on random fleets.
package match

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// MaxK bounds Query.K: a dispatcher looks at a handful of candidates, and the
// bound keeps one query's cost small.
const MaxK = 100

// ErrBadPosition is returned (wrapped, with the unit and the values) when a
// position is NaN, ±Inf or out of range.
var ErrBadPosition = errors.New("match: bad position")

// Config holds per-type speeds, the detour factor, the response-circle tiers
// and how fresh a fix must be.
type Config struct {
	Speeds    map[protocol.UnitType]float64 // metres per second along the road
	Detour    float64                       // road distance ÷ great-circle distance
	Tiers     []time.Duration               // upper bounds of tiers 1..n; an ETA beyond the last is tier n+1
	MaxFixAge time.Duration                 // a fix older than this is not a candidate
}

// DefaultConfig returns the city's defaults: urban average speeds, a 1.4
// detour factor, the 1-3-5-minute response circles and a 2-minute fix bound.
func DefaultConfig() Config {
	return Config{
		Speeds: map[protocol.UnitType]float64{
			protocol.TypeCar:        8.3,  // 30 km/h urban average
			protocol.TypeMotorcycle: 11.1, // 40 km/h: squads filter through congestion
			protocol.TypeFoot:       1.39, // 5 km/h
			protocol.TypeVolunteer:  1.39, // on foot too
		},
		Detour:    1.4,
		Tiers:     []time.Duration{time.Minute, 3 * time.Minute, 5 * time.Minute},
		MaxFixAge: 2 * time.Minute,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	for _, t := range protocol.UnitTypes {
		v, ok := c.Speeds[t]
		switch {
		case !ok:
			return fmt.Errorf("match: config: no speed for unit type %q", t)
		case !(v > 0) || math.IsInf(v, 1):
			return fmt.Errorf("match: config: speed of %q is %v m/s; want a finite speed > 0", t, v)
		}
	}
	if !(c.Detour >= 1) || math.IsInf(c.Detour, 1) {
		return fmt.Errorf("match: config: detour factor is %v; want a finite factor >= 1", c.Detour)
	}
	for i, d := range c.Tiers {
		if d <= 0 {
			return fmt.Errorf("match: config: tier %d bound is %v; want > 0", i+1, d)
		}
		if i > 0 && d <= c.Tiers[i-1] {
			return fmt.Errorf("match: config: tier %d bound %v is not above tier %d bound %v", i+1, d, i, c.Tiers[i-1])
		}
	}
	if c.MaxFixAge <= 0 {
		return fmt.Errorf("match: config: max fix age is %v; want > 0", c.MaxFixAge)
	}
	return nil
}

// clone copies the map and slice so a caller changing its Config later cannot
// race with an Index reading it.
func (c Config) clone() Config {
	c.Speeds = maps.Clone(c.Speeds)
	c.Tiers = slices.Clone(c.Tiers)
	return c
}

// Unit is what matching needs to know about one patrol unit.
type Unit struct {
	ID           string
	Type         protocol.UnitType
	Capabilities []string
	Online       bool
	Status       protocol.Status
	Lat, Lon     float64
	FixTS        int64 // time of the position, Unix ms; 0 = no position yet
}

// Query asks for the K best units for an incident at Lat, Lon.
type Query struct {
	Lat, Lon float64
	K        int       // 1..MaxK
	Needs    []string  // capabilities every candidate must have
	Now      time.Time // for fix age
	// MaxFixAge, if set, replaces Config.MaxFixAge for this query: dispatch
	// looks further back to show stale units ranked after fresh ones.
	MaxFixAge time.Duration
}

func (q *Query) maxFixAge(cfg *Config) time.Duration {
	if q.MaxFixAge > 0 {
		return q.MaxFixAge
	}
	return cfg.MaxFixAge
}

// Candidate is one ranked unit: the API's type (kuaifan/protocol/api), as
// GET /api/match and an incident's recommendations show it. DistanceM is the
// haversine distance in metres, ETAS is DistanceM × Detour ÷ Speeds[Type],
// Tier the 1-based response circle ETAS falls in (<= bound), FixAgeS the age
// of the position used in seconds (negative ages clamp to 0).
type Candidate = api.Candidate

// Rank is the brute force: it filters units, computes every candidate and
// sorts them, returning at most q.K. It is the reference Index.Query must
// equal. cfg must be valid. Units Index.Upsert would refuse (a type that is
// not the contract's, a bad position) are skipped; q is not validated, and
// K <= 0 yields no candidates.
func Rank(units []Unit, q Query, cfg Config) []Candidate {
	out := make([]Candidate, 0, min(len(units), 64))
	for i := range units {
		u := &units[i]
		if !u.Type.Valid() || !protocol.ValidLatLon(u.Lat, u.Lon) {
			continue
		}
		age, ok := eligible(u, &q, q.maxFixAge(&cfg))
		if !ok {
			continue
		}
		out = append(out, candidate(u, cfg.Speeds[u.Type], age, &q, &cfg))
	}
	slices.SortFunc(out, compare)
	return out[:max(0, min(q.K, len(out)))]
}

// eligible applies the candidate filters shared by Rank and Index and returns
// the fix's age.
func eligible(u *Unit, q *Query, maxAge time.Duration) (time.Duration, bool) {
	if !u.Online || u.Status != protocol.StatusAvailable || u.FixTS == 0 {
		return 0, false
	}
	// time.Time.Sub saturates, so an absurd FixTS cannot overflow into "fresh".
	age := q.Now.Sub(time.UnixMilli(u.FixTS))
	if age > maxAge || !hasAll(u.Capabilities, q.Needs) {
		return 0, false
	}
	return age, true
}

func hasAll(caps, needs []string) bool {
	for _, n := range needs {
		if !slices.Contains(caps, n) {
			return false
		}
	}
	return true
}

// candidate computes a Candidate. Rank and Index both call it with the same
// inputs, so their numbers are bit-for-bit equal.
func candidate(u *Unit, speed float64, age time.Duration, q *Query, cfg *Config) Candidate {
	d := protocol.Haversine(q.Lat, q.Lon, u.Lat, u.Lon)
	return candidateAt(u.ID, u.Type, u.Lat, u.Lon, d, d*cfg.Detour/speed, age, cfg)
}

// candidateAt is candidate with the distance and ETA computed by the caller,
// as candidate computes them.
func candidateAt(id string, t protocol.UnitType, lat, lon, d, eta float64, age time.Duration, cfg *Config) Candidate {
	return Candidate{
		Unit:      id,
		Type:      t,
		DistanceM: d,
		ETAS:      eta,
		Tier:      tierOf(eta, cfg.Tiers),
		FixAgeS:   max(age, 0).Seconds(),
		Lat:       lat,
		Lon:       lon,
	}
}

// tierOf returns the 1-based response circle eta falls in; bounds are
// inclusive, so an ETA of exactly 60 s is inside the 1-minute circle.
func tierOf(etaS float64, tiers []time.Duration) int {
	for i, b := range tiers {
		if etaS <= b.Seconds() {
			return i + 1
		}
	}
	return len(tiers) + 1
}

// compare orders candidates by ETA, then distance, then unit ID, so rankings
// are deterministic even among identical units.
func compare(a, b Candidate) int {
	if c := cmp.Compare(a.ETAS, b.ETAS); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DistanceM, b.DistanceM); c != 0 {
		return c
	}
	return cmp.Compare(a.Unit, b.Unit)
}
