package match

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
	"go.uber.org/goleak"

	"kuaifan/protocol"
)

// settle runs the tests, then gives closed buntdb databases (the raw-degree
// pitfall test opens one) time to wind down before goleak looks: buntdb's
// background goroutine notices Close only on its next once-a-second tick,
// longer than goleak's own retries wait. A database never closed still leaks,
// and is still reported.
type settle struct{ m *testing.M }

func (s settle) Run() int {
	code := s.m.Run()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && goleak.Find() != nil; {
		time.Sleep(50 * time.Millisecond)
	}
	return code
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(settle{m}) }

// now0 is the clock of most tests: 2026-01-01T00:00:00Z.
var now0 = time.UnixMilli(1_767_225_600_000)

const changshaLat, changshaLon = 28.2, 112.95

// offset moves lat, lon by northM and eastM metres (locally flat; tests that
// care compute the true distances with protocol.Haversine).
func offset(lat, lon, northM, eastM float64) (float64, float64) {
	const deg = 180 / math.Pi
	return lat + northM/protocol.EarthRadiusM*deg,
		lon + eastM/(protocol.EarthRadiusM*math.Cos(lat*math.Pi/180))*deg
}

// ready returns an online, available unit with a 5-second-old fix.
func ready(id string, typ protocol.UnitType, lat, lon float64, caps ...string) Unit {
	return Unit{ID: id, Type: typ, Capabilities: caps, Online: true, Status: protocol.StatusAvailable,
		Lat: lat, Lon: lon, FixTS: now0.UnixMilli() - 5000}
}

func newIndex(tb testing.TB, cfg Config, units ...Unit) *Index {
	tb.Helper()
	ix, err := NewIndex(cfg)
	if err != nil {
		tb.Fatalf("NewIndex: %v", err)
	}
	tb.Cleanup(func() {
		if err := ix.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	for _, u := range units {
		if err := ix.Upsert(u); err != nil {
			tb.Fatalf("Upsert(%+v): %v", u, err)
		}
	}
	return ix
}

func query(tb testing.TB, ix *Index, q Query) []Candidate {
	tb.Helper()
	got, err := ix.Query(q)
	if err != nil {
		tb.Fatalf("Query(%+v): %v", q, err)
	}
	return got
}

func unitIDs(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Unit
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	edit := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"default", DefaultConfig(), ""},
		{"no tiers", edit(func(c *Config) { c.Tiers = nil }), ""},
		{"missing speed", edit(func(c *Config) { delete(c.Speeds, protocol.TypeFoot) }), `no speed for unit type "foot"`},
		{"nil speeds", edit(func(c *Config) { c.Speeds = nil }), "no speed"},
		{"zero speed", edit(func(c *Config) { c.Speeds[protocol.TypeCar] = 0 }), `speed of "car"`},
		{"negative speed", edit(func(c *Config) { c.Speeds[protocol.TypeCar] = -3 }), `speed of "car"`},
		{"NaN speed", edit(func(c *Config) { c.Speeds[protocol.TypeVolunteer] = math.NaN() }), `speed of "volunteer"`},
		{"Inf speed", edit(func(c *Config) { c.Speeds[protocol.TypeMotorcycle] = math.Inf(1) }), `speed of "motorcycle"`},
		{"detour below 1", edit(func(c *Config) { c.Detour = 0.9 }), "detour"},
		{"NaN detour", edit(func(c *Config) { c.Detour = math.NaN() }), "detour"},
		{"Inf detour", edit(func(c *Config) { c.Detour = math.Inf(1) }), "detour"},
		{"zero tier", edit(func(c *Config) { c.Tiers[0] = 0 }), "tier 1"},
		{"descending tiers", edit(func(c *Config) { c.Tiers[2] = 2 * time.Minute }), "tier 3"},
		{"equal tiers", edit(func(c *Config) { c.Tiers[1] = time.Minute }), "tier 2"},
		{"zero max fix age", edit(func(c *Config) { c.MaxFixAge = 0 }), "max fix age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if _, err := NewIndex(tt.cfg); err == nil {
				t.Fatal("NewIndex accepted an invalid config")
			}
		})
	}
}

// The pitfall: buntdb's Nearby over raw (lon, lat) degrees ranks by squared
// degrees, so a longitude degree counts as much as a latitude degree although
// it is cos(lat) shorter. Index must rank the truly nearer unit first.
func TestRawDegreeIndexMisranks(t *testing.T) {
	tests := []struct {
		name          string
		lat, lon      float64
		northM, eastM float64
	}{
		{"latitude 60", 60, 25, 67_000, 50_000},
		{"latitude 28 (Changsha)", changshaLat, changshaLon, 10_000, 9_500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nLat, nLon := offset(tt.lat, tt.lon, tt.northM, 0)
			eLat, eLon := offset(tt.lat, tt.lon, 0, tt.eastM)
			dN := protocol.Haversine(tt.lat, tt.lon, nLat, nLon)
			dE := protocol.Haversine(tt.lat, tt.lon, eLat, eLon)
			if !(dE < dN) {
				t.Fatalf("set-up: east %.0f m is not nearer than north %.0f m", dE, dN)
			}

			db, err := buntdb.Open(":memory:")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.CreateSpatialIndex("deg", "*", buntdb.IndexRect); err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *buntdb.Tx) error {
				if _, _, err := tx.Set("north", buntdb.Point(nLon, nLat), nil); err != nil {
					return err
				}
				_, _, err := tx.Set("east", buntdb.Point(eLon, eLat), nil)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var rawFirst string
			err = db.View(func(tx *buntdb.Tx) error {
				return tx.Nearby("deg", buntdb.Point(tt.lon, tt.lat), func(key, _ string, _ float64) bool {
					rawFirst = key
					return false
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if rawFirst != "north" {
				t.Fatalf("raw-degree Nearby put %q first; the pitfall no longer reproduces", rawFirst)
			}

			ix := newIndex(t, DefaultConfig(),
				ready("north", protocol.TypeCar, nLat, nLon),
				ready("east", protocol.TypeCar, eLat, eLon))
			got := query(t, ix, Query{Lat: tt.lat, Lon: tt.lon, K: 2, Now: now0})
			if ids := unitIDs(got); !slices.Equal(ids, []string{"east", "north"}) {
				t.Fatalf("Query ranked %v; want [east north] (east %.0f m, north %.0f m)", ids, dE, dN)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	lat, lon := offset(changshaLat, changshaLon, 800, 300)
	now := now0.UnixMilli()
	maxAge := DefaultConfig().MaxFixAge.Milliseconds()
	tests := []struct {
		name string
		edit func(*Unit)
		want bool
	}{
		{"fresh, available, capable", func(*Unit) {}, true},
		{"offline", func(u *Unit) { u.Online = false }, false},
		{"busy", func(u *Unit) { u.Status = protocol.StatusBusy }, false},
		{"enroute", func(u *Unit) { u.Status = protocol.StatusEnroute }, false},
		{"on scene", func(u *Unit) { u.Status = protocol.StatusOnScene }, false},
		{"off duty", func(u *Unit) { u.Status = protocol.StatusOffDuty }, false},
		{"stale fix", func(u *Unit) { u.FixTS = now - maxAge - 1 }, false},
		{"fix exactly max age old", func(u *Unit) { u.FixTS = now - maxAge }, true},
		{"fix from the future", func(u *Unit) { u.FixTS = now + 3000 }, true},
		{"no fix", func(u *Unit) { u.FixTS = 0 }, false},
		{"missing capability", func(u *Unit) { u.Capabilities = []string{"armed"} }, false},
		{"no capabilities", func(u *Unit) { u.Capabilities = nil }, false},
		{"extra capabilities", func(u *Unit) { u.Capabilities = []string{"k9", "medical", "armed"} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ready("u1", protocol.TypeCar, lat, lon, "armed", "medical")
			tt.edit(&u)
			q := Query{Lat: changshaLat, Lon: changshaLon, K: 5, Needs: []string{"medical", "armed"}, Now: now0}
			ix := newIndex(t, DefaultConfig(), u)
			got := query(t, ix, q)
			if (len(got) == 1) != tt.want || len(got) > 1 {
				t.Fatalf("Query = %v, want included=%v", got, tt.want)
			}
			if want := Rank([]Unit{u}, q, DefaultConfig()); !reflect.DeepEqual(got, want) {
				t.Fatalf("Query = %+v, Rank = %+v", got, want)
			}
			if tt.want && got[0].FixAgeS != max(0, float64(now-u.FixTS)/1000) {
				t.Fatalf("FixAgeS = %v for a fix %d ms old", got[0].FixAgeS, now-u.FixTS)
			}
		})
	}
}

func TestTierOf(t *testing.T) {
	tiers := DefaultConfig().Tiers
	tests := []struct {
		eta   float64
		tiers []time.Duration
		want  int
	}{
		{0, tiers, 1},
		{59.999, tiers, 1},
		{60, tiers, 1}, // bounds are inclusive
		{math.Nextafter(60, 61), tiers, 2},
		{180, tiers, 2},
		{180.001, tiers, 3},
		{300, tiers, 3},
		{math.Nextafter(300, 301), tiers, 4},
		{1e9, tiers, 4},
		{1e9, nil, 1},
	}
	for _, tt := range tests {
		if got := tierOf(tt.eta, tt.tiers); got != tt.want {
			t.Errorf("tierOf(%v, %v) = %d, want %d", tt.eta, tt.tiers, got, tt.want)
		}
	}
}

// An ETA of exactly 60 s, through the whole Query, is tier 1; one ulp more
// is tier 2.
func TestTierBoundaryThroughQuery(t *testing.T) {
	// Look for a distance d with d ÷ (d/60) == 60 exactly in float64.
	var lat, lon, speed float64
	for m := 400.0; ; m++ {
		if m > 500 {
			t.Fatal("found no distance giving an ETA of exactly 60 s")
		}
		lat, lon = offset(changshaLat, changshaLon, m, 0)
		d := protocol.Haversine(changshaLat, changshaLon, lat, lon)
		if speed = d / 60; d*1/speed == 60 {
			break
		}
	}
	for _, tt := range []struct {
		speed    float64
		wantTier int
	}{
		{speed, 1},
		{math.Nextafter(speed, 0), 2},
	} {
		cfg := DefaultConfig()
		cfg.Detour = 1
		cfg.Speeds[protocol.TypeFoot] = tt.speed
		ix := newIndex(t, cfg, ready("f", protocol.TypeFoot, lat, lon))
		got := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 1, Now: now0})
		if len(got) != 1 || got[0].Tier != tt.wantTier {
			t.Fatalf("speed %v: got %+v, want tier %d", tt.speed, got, tt.wantTier)
		}
	}
}

func TestETA(t *testing.T) {
	at := func(m float64) (float64, float64) { return offset(changshaLat, changshaLon, m, 0) }
	tests := []struct {
		name   string
		detour float64
		units  func() []Unit
		want   []string
		tiers  []int
	}{
		{
			name: "car 2 km beats foot 500 m",
			units: func() []Unit {
				fLat, fLon := at(500)
				cLat, cLon := at(2000)
				return []Unit{ready("foot", protocol.TypeFoot, fLat, fLon), ready("car", protocol.TypeCar, cLat, cLon)}
			},
			want:  []string{"car", "foot"}, // 2000×1.4/8.3 = 337 s, 500×1.4/1.39 = 504 s
			tiers: []int{4, 4},
		},
		{
			name: "foot 100 m beats car 2 km",
			units: func() []Unit {
				fLat, fLon := at(100)
				cLat, cLon := at(2000)
				return []Unit{ready("foot", protocol.TypeFoot, fLat, fLon), ready("car", protocol.TypeCar, cLat, cLon)}
			},
			want:  []string{"foot", "car"}, // 101 s vs 337 s
			tiers: []int{2, 4},
		},
		{
			name: "motorcycle beats car at the same spot",
			units: func() []Unit {
				lat, lon := at(1000)
				return []Unit{ready("car", protocol.TypeCar, lat, lon), ready("moto", protocol.TypeMotorcycle, lat, lon)}
			},
			want:  []string{"moto", "car"}, // 126 s vs 169 s
			tiers: []int{2, 2},
		},
		{
			name: "equal ETA and distance: by ID",
			units: func() []Unit {
				lat, lon := at(200)
				return []Unit{ready("v2", protocol.TypeVolunteer, lat, lon), ready("f1", protocol.TypeFoot, lat, lon), ready("f3", protocol.TypeFoot, lat, lon)}
			},
			want:  []string{"f1", "f3", "v2"}, // 201 s each
			tiers: []int{3, 3, 3},
		},
		{
			name:   "detour 1",
			detour: 1,
			units: func() []Unit {
				lat, lon := at(490)
				return []Unit{ready("car", protocol.TypeCar, lat, lon)}
			},
			want:  []string{"car"}, // 59 s
			tiers: []int{1},
		},
		{
			name:   "detour 2.5",
			detour: 2.5,
			units: func() []Unit {
				lat, lon := at(490)
				return []Unit{ready("car", protocol.TypeCar, lat, lon)}
			},
			want:  []string{"car"}, // 148 s
			tiers: []int{2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.detour != 0 {
				cfg.Detour = tt.detour
			}
			ix := newIndex(t, cfg, tt.units()...)
			got := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 10, Now: now0})
			if ids := unitIDs(got); !slices.Equal(ids, tt.want) {
				t.Fatalf("ranked %v, want %v: %+v", ids, tt.want, got)
			}
			for i, c := range got {
				want := c.DistanceM * cfg.Detour / cfg.Speeds[c.Type]
				if c.ETAS != want || c.Tier != tt.tiers[i] {
					t.Errorf("%s: eta %v tier %d, want eta %v tier %d", c.Unit, c.ETAS, c.Tier, want, tt.tiers[i])
				}
				if d := protocol.Haversine(changshaLat, changshaLon, c.Lat, c.Lon); c.DistanceM != d {
					t.Errorf("%s: distance %v, want haversine %v", c.Unit, c.DistanceM, d)
				}
			}
		})
	}
}

func TestUpsertRejectsBadPosition(t *testing.T) {
	good := ready("u1", protocol.TypeCar, changshaLat+0.01, changshaLon)
	tests := []struct {
		name     string
		lat, lon float64
	}{
		{"NaN lat", math.NaN(), changshaLon},
		{"NaN lon", changshaLat, math.NaN()},
		{"+Inf lat", math.Inf(1), changshaLon},
		{"-Inf lon", changshaLat, math.Inf(-1)},
		{"+Inf lon", changshaLat, math.Inf(1)},
		{"lat 91", 91, changshaLon},
		{"lat -90.000001", -90.000001, changshaLon},
		{"lon -181", changshaLat, -181},
		{"lon 180.5", changshaLat, 180.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := newIndex(t, DefaultConfig(), good)
			bad := good
			bad.Lat, bad.Lon = tt.lat, tt.lon
			bad.FixTS++
			err := ix.Upsert(bad)
			if !errors.Is(err, ErrBadPosition) {
				t.Fatalf("Upsert = %v, want ErrBadPosition", err)
			}
			if !strings.Contains(err.Error(), `"u1"`) {
				t.Errorf("error %q does not name the unit", err)
			}
			// A new unit with the same bad position is not added either.
			fresh := bad
			fresh.ID = "u2"
			if err := ix.Upsert(fresh); !errors.Is(err, ErrBadPosition) {
				t.Fatalf("Upsert(new unit) = %v, want ErrBadPosition", err)
			}
			if n := ix.Len(); n != 1 {
				t.Fatalf("Len = %d after rejected upserts, want 1", n)
			}
			got := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 5, Now: now0})
			want := Rank([]Unit{good}, Query{Lat: changshaLat, Lon: changshaLon, K: 5, Now: now0}, DefaultConfig())
			if !reflect.DeepEqual(got, want) || len(got) != 1 {
				t.Fatalf("after rejected upsert: %+v, want the previous position %+v", got, want)
			}
		})
	}
}

func TestUpsertRejectsBadUnit(t *testing.T) {
	ix := newIndex(t, DefaultConfig())
	for _, u := range []Unit{
		ready("", protocol.TypeCar, changshaLat, changshaLon),
		ready("u1", "tank", changshaLat, changshaLon),
		ready("u1", "", changshaLat, changshaLon),
	} {
		if err := ix.Upsert(u); err == nil {
			t.Errorf("Upsert(%+v) accepted", u)
		}
	}
	if ix.Len() != 0 {
		t.Fatalf("Len = %d, want 0", ix.Len())
	}
	// Without a fix the position is meaningless, so it is not checked.
	u := ready("u1", protocol.TypeCar, math.NaN(), 400)
	u.FixTS = 0
	if err := ix.Upsert(u); err != nil {
		t.Fatalf("Upsert without fix: %v", err)
	}
}

func TestMoveRemoveLen(t *testing.T) {
	aLat, aLon := offset(changshaLat, changshaLon, 500, 0)
	bLat, bLon := offset(changshaLat, changshaLon, 0, 1500)
	farLat, farLon := offset(changshaLat, changshaLon, -9000, 0)
	q := Query{Lat: changshaLat, Lon: changshaLon, K: 5, Now: now0}
	ix := newIndex(t, DefaultConfig(),
		ready("a", protocol.TypeCar, aLat, aLon),
		ready("b", protocol.TypeCar, bLat, bLon))
	step := func(name string, wantLen int, want ...string) {
		t.Helper()
		if n := ix.Len(); n != wantLen {
			t.Fatalf("%s: Len = %d, want %d", name, n, wantLen)
		}
		if ids := unitIDs(query(t, ix, q)); !slices.Equal(ids, want) {
			t.Fatalf("%s: ranked %v, want %v", name, ids, want)
		}
	}
	step("start", 2, "a", "b")

	a := ready("a", protocol.TypeCar, farLat, farLon)
	mustUpsert(t, ix, a)
	step("a moved away", 2, "b", "a")

	a.Status = protocol.StatusBusy
	mustUpsert(t, ix, a) // same position: the r-tree is not touched
	step("a busy", 2, "b")

	a.Status, a.Lat, a.Lon = protocol.StatusAvailable, aLat, aLon
	mustUpsert(t, ix, a)
	step("a back", 2, "a", "b")

	a.FixTS = 0
	mustUpsert(t, ix, a)
	step("a lost its fix", 2, "b")

	ix.Remove("b")
	step("b removed", 1)
	ix.Remove("b")
	ix.Remove("nobody")
	step("removing again", 1)

	a = ready("a", protocol.TypeCar, aLat, aLon)
	mustUpsert(t, ix, a)
	step("a has a fix again", 1, "a")

	ix.Remove("a")
	step("empty", 0)
}

func mustUpsert(tb testing.TB, ix *Index, units ...Unit) {
	tb.Helper()
	for _, u := range units {
		if err := ix.Upsert(u); err != nil {
			tb.Fatalf("Upsert(%+v): %v", u, err)
		}
	}
}

func TestQueryValidation(t *testing.T) {
	ix := newIndex(t, DefaultConfig(), ready("a", protocol.TypeCar, changshaLat, changshaLon, "armed"))
	ok := Query{Lat: changshaLat, Lon: changshaLon, K: 1, Needs: []string{"armed"}, Now: now0}
	tests := []struct {
		name   string
		edit   func(*Query)
		badPos bool
	}{
		{"lat 91", func(q *Query) { q.Lat = 91 }, true},
		{"lat NaN", func(q *Query) { q.Lat = math.NaN() }, true},
		{"lon -181", func(q *Query) { q.Lon = -181 }, true},
		{"lon +Inf", func(q *Query) { q.Lon = math.Inf(1) }, true},
		{"k 0", func(q *Query) { q.K = 0 }, false},
		{"k -1", func(q *Query) { q.K = -1 }, false},
		{"k MaxK+1", func(q *Query) { q.K = MaxK + 1 }, false},
		{"upper-case need", func(q *Query) { q.Needs = []string{"Armed"} }, false},
		{"empty need", func(q *Query) { q.Needs = []string{"armed", ""} }, false},
		{"long need", func(q *Query) { q.Needs = []string{strings.Repeat("a", 33)} }, false},
		{"need with space", func(q *Query) { q.Needs = []string{"first aid"} }, false},
		{"zero Now", func(q *Query) { q.Now = time.Time{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ok
			q.Needs = slices.Clone(ok.Needs)
			tt.edit(&q)
			got, err := ix.Query(q)
			if err == nil {
				t.Fatalf("Query(%+v) = %v, want an error", q, got)
			}
			if errors.Is(err, ErrBadPosition) != tt.badPos {
				t.Fatalf("Query error %v: errors.Is(ErrBadPosition) = %v, want %v", err, !tt.badPos, tt.badPos)
			}
		})
	}
	for _, k := range []int{1, MaxK} {
		q := ok
		q.K = k
		if got := query(t, ix, q); len(got) != 1 {
			t.Fatalf("K=%d: %v", k, got)
		}
	}
}

func TestNeedsNobodyHas(t *testing.T) {
	var units []Unit
	for i := range 50 {
		lat, lon := offset(changshaLat, changshaLon, float64(i)*100, 0)
		units = append(units, ready(fmt.Sprintf("u%02d", i), protocol.TypeCar, lat, lon, "armed"))
	}
	units[37].Capabilities = []string{"armed", "k9", "k9"}
	ix := newIndex(t, DefaultConfig(), units...)
	for _, tt := range []struct {
		needs []string
		want  []string
	}{
		{[]string{"medical"}, nil},
		{[]string{"k9"}, []string{"u37"}},
		{[]string{"k9", "armed", "k9"}, []string{"u37"}},
		{[]string{"armed"}, []string{"u00", "u01", "u02"}},
	} {
		q := Query{Lat: changshaLat, Lon: changshaLon, K: 3, Needs: tt.needs, Now: now0}
		got := query(t, ix, q)
		if ids := unitIDs(got); !slices.Equal(ids, tt.want) {
			t.Errorf("needs %v: %v, want %v", tt.needs, ids, tt.want)
		}
		if want := Rank(units, q, DefaultConfig()); !reflect.DeepEqual(got, want) {
			t.Errorf("needs %v: Query %+v, Rank %+v", tt.needs, got, want)
		}
	}
}

func TestConfigIsCopied(t *testing.T) {
	cfg := DefaultConfig()
	lat, lon := offset(changshaLat, changshaLon, 1000, 0)
	ix := newIndex(t, cfg, ready("c", protocol.TypeCar, lat, lon))
	before := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 1, Now: now0})
	cfg.Speeds[protocol.TypeCar] = 1
	cfg.Tiers[0] = time.Hour
	after := query(t, ix, Query{Lat: changshaLat, Lon: changshaLon, K: 1, Now: now0})
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("changing the caller's Config changed the index: %+v then %+v", before, after)
	}
}

func TestClose(t *testing.T) {
	ix, err := NewIndex(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, ix, ready("a", protocol.TypeCar, changshaLat, changshaLon))
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := ix.Query(Query{Lat: changshaLat, Lon: changshaLon, K: 1, Now: now0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Query after Close = %v", err)
	}
	if err := ix.Upsert(ready("b", protocol.TypeCar, 0, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Upsert after Close = %v", err)
	}
	ix.Remove("a")
	if n := ix.Len(); n != 0 {
		t.Fatalf("Len after Close = %d", n)
	}
}

// Writers own disjoint sets of units and keep their own truth; readers check
// what must hold of any answer; at the end the index equals the brute force.
func TestConcurrent(t *testing.T) {
	const writers, readers, perWriter, steps = 4, 4, 50, 400
	cfg := DefaultConfig()
	ix := newIndex(t, cfg)
	truth := make([]map[string]Unit, writers)
	var wg sync.WaitGroup
	for w := range writers {
		truth[w] = make(map[string]Unit)
		wg.Go(func() {
			r := newRand(uint64(w), 0)
			for i := range steps {
				id := fmt.Sprintf("w%d-%02d", w, r.IntN(perWriter))
				if i%7 == 3 {
					ix.Remove(id)
					delete(truth[w], id)
					continue
				}
				u := randomUnit(r, id, regions[0].unit(r, regions[0].center(r)), now0, cfg)
				if err := ix.Upsert(u); err != nil {
					t.Errorf("Upsert: %v", err)
					return
				}
				truth[w][id] = u
			}
		})
	}
	for rd := range readers {
		wg.Go(func() {
			r := newRand(uint64(rd), 1)
			for range steps {
				p := regions[0].unit(r, regions[0].center(r))
				q := Query{Lat: p.lat, Lon: p.lon, K: 1 + r.IntN(10), Needs: randomNeeds(r), Now: now0}
				got, err := ix.Query(q)
				if err != nil {
					t.Errorf("Query: %v", err)
					return
				}
				if len(got) > q.K || !slices.IsSortedFunc(got, compare) {
					t.Errorf("Query(%+v) = %+v: too long or not sorted", q, got)
					return
				}
				for _, c := range got {
					if c.ETAS != c.DistanceM*cfg.Detour/cfg.Speeds[c.Type] {
						t.Errorf("candidate %+v: inconsistent ETA", c)
					}
				}
			}
		})
	}
	wg.Wait()

	var all []Unit
	for _, m := range truth {
		for _, u := range m {
			all = append(all, u)
		}
	}
	if ix.Len() != len(all) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(all))
	}
	q := Query{Lat: changshaLat, Lon: changshaLon, K: MaxK, Now: now0}
	if got, want := query(t, ix, q), Rank(all, q, cfg); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the concurrent run:\n got %v\nwant %v", unitIDs(got), unitIDs(want))
	}
}

// Upserting a batch in one transaction leaves the index as upserting its
// units one by one would, bad positions and repeated ids included.
func TestUpsertBatchEqualsOneByOne(t *testing.T) {
	r := newRand(7, 0)
	for round := range 20 {
		units := benchFleet(r, 300, now0)
		for i := range units {
			switch r.IntN(20) {
			case 0:
				units[i].Lat = math.NaN()
			case 1:
				units[i].FixTS = 0
			case 2:
				units[i].ID = units[r.IntN(len(units))].ID // repeated id
			}
		}
		batch, _ := NewIndex(DefaultConfig())
		single, _ := NewIndex(DefaultConfig())
		errBatch := batch.Upsert(units...)
		var errSingle []error
		for _, u := range units {
			if err := single.Upsert(u); err != nil {
				errSingle = append(errSingle, err)
			}
		}
		if (errBatch == nil) != (len(errSingle) == 0) {
			t.Fatalf("round %d: batch error %v, single errors %v", round, errBatch, errSingle)
		}
		for range 20 {
			p := benchPoint(r)
			q := Query{Lat: p.lat, Lon: p.lon, K: 10, Now: now0}
			a, _ := batch.Query(q)
			b, _ := single.Query(q)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("round %d: batch %v, one by one %v", round, unitIDs(a), unitIDs(b))
			}
		}
		if batch.Len() != single.Len() || batch.ready != single.ready {
			t.Fatalf("round %d: Len %d/%d ready %d/%d", round, batch.Len(), single.Len(), batch.ready, single.ready)
		}
		batch.Close()
		single.Close()
	}
}
