package match

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
)

var seedFlag = flag.Uint64("seed", 0, "seed of TestQueryEqualsRank (0: from the clock)")

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

type pt struct{ lat, lon float64 }

// wrapLon brings a longitude back into [-180, 180].
func wrapLon(lon float64) float64 {
	switch {
	case lon > 180:
		return lon - 360
	case lon < -180:
		return lon + 360
	}
	return lon
}

// reflectLat keeps lat in [-90, 90] by going over the pole.
func reflectLat(lat, lon float64) pt {
	switch {
	case lat > 90:
		return pt{180 - lat, wrapLon(lon + 180)}
	case lat < -90:
		return pt{-180 - lat, wrapLon(lon + 180)}
	}
	return pt{lat, lon}
}

func between(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

func worldPoint(r *rand.Rand) pt {
	return pt{math.Asin(between(r, -1, 1)) * 180 / math.Pi, between(r, -180, 180)}
}

// A region is where a random fleet lives: center picks a fleet's centre, unit
// a position (of a unit or an incident) around it.
type region struct {
	name   string
	center func(r *rand.Rand) pt
	unit   func(r *rand.Rand, c pt) pt
}

var regions = []region{
	{
		name:   "changsha",
		center: func(r *rand.Rand) pt { return pt{changshaLat + between(r, -.1, .1), changshaLon + between(r, -.1, .1)} },
		unit: func(r *rand.Rand, c pt) pt {
			return pt{c.lat + between(r, -.25, .25), c.lon + between(r, -.3, .3)}
		},
	},
	{
		name: "antimeridian",
		center: func(r *rand.Rand) pt {
			return pt{between(r, -70, 70), []float64{180, -180}[r.IntN(2)]}
		},
		unit: func(r *rand.Rand, c pt) pt {
			lon := wrapLon(c.lon + between(r, -1, 1))
			if r.IntN(40) == 0 {
				lon = []float64{180, -180}[r.IntN(2)]
			}
			return pt{c.lat + between(r, -.3, .3), lon}
		},
	},
	{
		name:   "high latitude",
		center: func(r *rand.Rand) pt { return pt{between(r, 55, 89.9), between(r, -180, 180)} },
		unit: func(r *rand.Rand, c pt) pt {
			return reflectLat(c.lat+between(r, -.5, .5), wrapLon(c.lon+between(r, -4, 4)))
		},
	},
	{
		name:   "poles",
		center: func(r *rand.Rand) pt { return pt{[]float64{90, -90}[r.IntN(2)], 0} },
		unit: func(r *rand.Rand, c pt) pt {
			lat := math.Copysign(90-between(r, 0, 1), c.lat)
			if r.IntN(20) == 0 {
				lat = c.lat
			}
			lon := between(r, -180, 180)
			if r.IntN(20) == 0 {
				lon = []float64{180, -180}[r.IntN(2)]
			}
			return pt{lat, lon}
		},
	},
	{
		name:   "world",
		center: func(r *rand.Rand) pt { return pt{} },
		unit:   func(r *rand.Rand, _ pt) pt { return worldPoint(r) },
	},
	{
		// Few distinct spots: many units tie on distance, and foot and
		// volunteer units tie on ETA too, so the ID decides.
		name:   "ties",
		center: func(r *rand.Rand) pt { return pt{changshaLat, changshaLon} },
		unit: func(r *rand.Rand, c pt) pt {
			return pt{c.lat + float64(r.IntN(4))*0.003, c.lon + float64(r.IntN(4))*0.003}
		},
	},
}

var capabilityNames = []string{"armed", "medical", "k9"}

func randomUnit(r *rand.Rand, id string, p pt, now time.Time, cfg Config) Unit {
	u := Unit{
		ID:     id,
		Type:   protocol.UnitTypes[r.IntN(len(protocol.UnitTypes))],
		Online: r.IntN(100) < 85,
		Status: protocol.StatusAvailable,
		Lat:    p.lat,
		Lon:    p.lon,
	}
	for _, c := range capabilityNames {
		if r.IntN(100) < 35 {
			u.Capabilities = append(u.Capabilities, c)
		}
	}
	if len(u.Capabilities) > 0 && r.IntN(20) == 0 {
		u.Capabilities = append(u.Capabilities, u.Capabilities[0])
	}
	if r.IntN(30) == 0 {
		u.Capabilities = append(u.Capabilities, "x-ray")
	}
	if r.IntN(100) >= 70 {
		u.Status = []protocol.Status{protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy, protocol.StatusOffDuty}[r.IntN(4)]
	}
	maxAge := cfg.MaxFixAge.Milliseconds()
	switch n := r.IntN(100); {
	case n < 6:
		u.FixTS = 0
	case n < 12:
		u.FixTS = now.UnixMilli() - maxAge // the boundary
	case n < 16:
		u.FixTS = now.UnixMilli() + r.Int64N(10_000) // clock skew
	default:
		u.FixTS = now.UnixMilli() - r.Int64N(maxAge*13/10)
	}
	return u
}

func randomNeeds(r *rand.Rand) []string {
	if r.IntN(100) < 55 {
		return nil
	}
	var needs []string
	for _, c := range capabilityNames {
		if r.IntN(3) == 0 {
			needs = append(needs, c)
		}
	}
	if r.IntN(20) == 0 {
		needs = append(needs, "nobody-has-this")
	}
	return needs
}

func randomConfig(r *rand.Rand) Config {
	c := DefaultConfig()
	if r.IntN(3) > 0 {
		return c
	}
	for _, t := range protocol.UnitTypes {
		c.Speeds[t] = between(r, 0.5, 30)
	}
	if r.IntN(2) == 0 {
		c.Speeds[protocol.TypeCar] = c.Speeds[protocol.TypeMotorcycle]
	}
	c.Detour = between(r, 1, 3)
	c.Tiers = nil
	var b time.Duration
	for range r.IntN(5) {
		b += time.Duration(1+r.IntN(300)) * time.Second
		c.Tiers = append(c.Tiers, b)
	}
	c.MaxFixAge = time.Duration(10+r.IntN(600)) * time.Second
	return c
}

func randomK(r *rand.Rand) int {
	switch n := r.IntN(10); {
	case n < 6:
		return 1 + r.IntN(5)
	case n < 9:
		return 1 + r.IntN(20)
	default:
		return 1 + r.IntN(MaxK)
	}
}

// TestQueryEqualsRank builds random fleets, changes them in rounds, and checks
// that Index.Query returns exactly what the brute force returns.
func TestQueryEqualsRank(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (reproduce with: go test -run TestQueryEqualsRank ./internal/match/ -args -seed=%d)", seed, seed)
	const fleetsPerRegion, rounds, queriesPerRound = 120, 3, 4
	for ri, rg := range regions {
		t.Run(strings.ReplaceAll(rg.name, " ", "_"), func(t *testing.T) {
			for f := range fleetsPerRegion {
				fleet := uint64(ri*fleetsPerRegion + f)
				checkFleet(t, NewIndex, seed, fleet, rg, rounds, queriesPerRound)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func checkFleet(t *testing.T, newIx func(Config) (*Index, error), seed, fleet uint64, rg region, rounds, queries int) {
	t.Helper()
	r := newRand(seed, fleet)
	where := fmt.Sprintf("seed=%d fleet=%d (%s)", seed, fleet, rg.name)
	cfg := randomConfig(r)
	now := now0.Add(time.Duration(r.IntN(2)*r.IntN(1_000_000)) * time.Nanosecond)
	c := rg.center(r)
	size := r.IntN(60)
	if r.IntN(3) == 0 {
		size = r.IntN(401)
	}

	ix, err := newIx(cfg)
	if err != nil {
		t.Fatalf("%s: NewIndex: %v", where, err)
	}
	defer ix.Close()
	truth := make(map[string]Unit)
	var ids []string
	add := func() {
		// IDs out of position order, so the ID tie-break is exercised.
		id := fmt.Sprintf("u%04d", r.IntN(10_000))
		if _, ok := truth[id]; ok {
			return
		}
		p := rg.unit(r, c)
		if len(ids) > 0 && r.IntN(10) == 0 {
			o := truth[ids[r.IntN(len(ids))]]
			p = pt{o.Lat, o.Lon}
		}
		u := randomUnit(r, id, p, now, cfg)
		if err := ix.Upsert(u); err != nil {
			t.Fatalf("%s: Upsert(%+v): %v", where, u, err)
		}
		truth[id] = u
		ids = append(ids, id)
	}
	for range size {
		add()
	}

	for round := range rounds {
		units := make([]Unit, 0, len(truth))
		for _, u := range truth {
			units = append(units, u)
		}
		if ix.Len() != len(units) {
			t.Fatalf("%s round %d: Len = %d, want %d", where, round, ix.Len(), len(units))
		}
		for range queries {
			p := rg.unit(r, c)
			if r.IntN(7) == 0 {
				p = worldPoint(r)
			}
			q := Query{Lat: p.lat, Lon: p.lon, K: randomK(r), Needs: randomNeeds(r), Now: now}
			if r.IntN(4) == 0 {
				q.MaxFixAge = time.Duration(1+r.IntN(600)) * time.Second // dispatch's longer look-back
			}
			got, err := ix.Query(q)
			if err != nil {
				t.Fatalf("%s round %d: Query(%+v): %v", where, round, q, err)
			}
			if want := Rank(units, q, cfg); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s round %d: %d units, cfg %+v, query %+v\n%s", where, round, len(units), cfg, q, diff(got, want))
			}
		}

		// Change the fleet the ways the hub does.
		for range r.IntN(len(ids)/3 + 3) {
			if len(ids) == 0 || r.IntN(8) == 0 {
				add()
				continue
			}
			i := r.IntN(len(ids))
			u := truth[ids[i]]
			switch r.IntN(6) {
			case 0: // remove
				ix.Remove(u.ID)
				delete(truth, u.ID)
				ids = slices.Delete(ids, i, i+1)
				continue
			case 1: // move
				p := rg.unit(r, c)
				u.Lat, u.Lon, u.FixTS = p.lat, p.lon, now.UnixMilli()-r.Int64N(30_000)
			case 2: // status or presence
				u = randomUnit(r, u.ID, pt{u.Lat, u.Lon}, now, cfg)
				u.FixTS = truth[u.ID].FixTS
			case 3: // lose the fix
				u.FixTS = 0
			case 4: // a bad position is refused and changes nothing
				bad := u
				bad.Lat, bad.Lon, bad.FixTS = []float64{math.NaN(), 91, math.Inf(-1)}[r.IntN(3)], u.Lon, now.UnixMilli()
				if err := ix.Upsert(bad); !errors.Is(err, ErrBadPosition) {
					t.Fatalf("%s: Upsert(%+v) = %v, want ErrBadPosition", where, bad, err)
				}
				continue
			case 5: // the same again
			}
			if err := ix.Upsert(u); err != nil {
				t.Fatalf("%s: Upsert(%+v): %v", where, u, err)
			}
			truth[u.ID] = u
		}
		now = now.Add(time.Duration(r.IntN(30_000)) * time.Millisecond)
	}
}

func diff(got, want []Candidate) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = fmt.Sprintf("%+v", got[i])
		}
		if i < len(want) {
			w = fmt.Sprintf("%+v", want[i])
		}
		mark := "  "
		if g != w {
			mark = "≠ "
		}
		fmt.Fprintf(&b, "%s%2d got  %s\n   want %s\n", mark, i, g, w)
	}
	return b.String()
}
