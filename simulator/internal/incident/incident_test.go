package incident

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
)

// genRun draws incidents over hours of simulated time.
type genRun struct {
	incs  []api.NewIncident
	spots []int
	start time.Time
	end   time.Time
}

func runGen(g *Generator, hours float64) genRun {
	run := genRun{start: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	run.end = run.start.Add(time.Duration(hours * float64(time.Hour)))
	now := run.start
	for {
		at, inc, spot := g.next(now)
		if at.After(run.end) {
			return run
		}
		run.incs = append(run.incs, inc)
		run.spots = append(run.spots, spot)
		now = at
	}
}

// within reports whether got is within z standard errors of the share p
// over n draws.
func within(got, p float64, n, z int) bool {
	return math.Abs(got-p) <= float64(z)*math.Sqrt(p*(1-p)/float64(n))+1e-9
}

func TestIncidentGenCountAndShares(t *testing.T) {
	c := city.Changsha()
	mix := DefaultMix()
	g := NewGenerator(c, mix, rand.New(rand.NewPCG(1, 7)))
	const hours = 1000
	run := runGen(g, hours)
	n := len(run.incs)
	// Poisson: mean = variance = rate × time.
	if mean := mix.PerHour * hours; math.Abs(float64(n)-mean) > 4*math.Sqrt(mean) {
		t.Errorf("%d incidents in %d h; want %.0f ± 4σ", n, hours, mean)
	}

	total := 0.0
	for _, k := range mix.Kinds {
		total += k.Share
	}
	kinds := map[string]int{}
	prios := map[string]*[3]int{}
	for _, inc := range run.incs {
		kinds[inc.Kind]++
		if prios[inc.Kind] == nil {
			prios[inc.Kind] = &[3]int{}
		}
		prios[inc.Kind][inc.Priority-1]++
	}
	for _, k := range mix.Kinds {
		if got, want := float64(kinds[k.Kind])/float64(n), k.Share/total; !within(got, want, n, 4) {
			t.Errorf("kind %s: share %.4f; want %.4f", k.Kind, got, want)
		}
		pt := k.Priority[0] + k.Priority[1] + k.Priority[2]
		kn := kinds[k.Kind]
		for p := range 3 {
			got, want := float64(prios[k.Kind][p])/float64(kn), k.Priority[p]/pt
			if !within(got, want, kn, 4) {
				t.Errorf("kind %s: P%d share %.3f; want %.3f", k.Kind, p+1, got, want)
			}
		}
	}
	if len(kinds) != len(mix.Kinds) {
		t.Errorf("kinds %v", kinds)
	}
}

func TestIncidentGenPlaces(t *testing.T) {
	c := city.Changsha()
	mix := DefaultMix()
	g := NewGenerator(c, mix, rand.New(rand.NewPCG(2, 7)))
	run := runGen(g, 500)
	n := len(run.incs)
	atSpots := 0
	perSpot := make([]int, len(c.HotSpots))
	perDistrict := map[string]int{}
	listed := map[string]bool{}
	for _, h := range c.HotSpots {
		for _, k := range h.Kinds {
			listed[k] = true
		}
	}
	for i, inc := range run.incs {
		p := city.Point{Lat: inc.Lat, Lon: inc.Lon}
		if err := inc.Check(); err != nil {
			t.Fatalf("incident %+v: %v", inc, err)
		}
		if !strings.Contains(inc.Summary, " · ") {
			t.Errorf("summary %q names no place", inc.Summary)
		}
		s := run.spots[i]
		if s < 0 {
			d := c.DistrictOf(p)
			if d == "" {
				t.Fatalf("%v: a background incident outside every district", p)
			}
			perDistrict[d]++
			continue
		}
		atSpots++
		perSpot[s]++
		h := c.HotSpots[s]
		if d := city.DistanceM(h.Point, p); d > h.RadiusM+0.01 {
			t.Fatalf("%v is %.0f m from %s; its radius is %.0f m", p, d, h.Name, h.RadiusM)
		}
		// A kind goes to the hot spots that list it, when any does.
		if listed[inc.Kind] && len(h.Kinds) > 0 && !slices.Contains(h.Kinds, inc.Kind) {
			t.Errorf("a %s at %s, which lists %v", inc.Kind, h.Name, h.Kinds)
		}
	}
	if got := float64(atSpots) / float64(n); !within(got, mix.HotSpotShare, n, 4) {
		t.Errorf("%.3f at hot spots; want %.2f", got, mix.HotSpotShare)
	}
	// The rest: uniformly over districts.
	rest := n - atSpots
	for _, a := range c.Districts {
		if got := float64(perDistrict[a.Name]) / float64(rest); !within(got, 1/float64(len(c.Districts)), rest, 4) {
			t.Errorf("%s: %.3f of the background", a.Name, got)
		}
	}
	// The busiest hot spot gets the most.
	if busiest := slices.Index(perSpot, slices.Max(perSpot)); c.HotSpots[busiest].Name != "五一广场商圈" {
		t.Errorf("busiest hot spot %s: %v", c.HotSpots[busiest].Name, perSpot)
	}
}

func TestIncidentGenSetRate(t *testing.T) {
	c := city.Changsha()
	g := NewGenerator(c, DefaultMix(), rand.New(rand.NewPCG(3, 7)))
	for _, rate := range []float64{30, 90, 5, 30} {
		g.SetRate(rate)
		if g.Rate() != rate {
			t.Fatalf("Rate %v after SetRate(%v)", g.Rate(), rate)
		}
		const hours = 200
		n := len(runGen(g, hours).incs)
		if mean := rate * hours; math.Abs(float64(n)-mean) > 4*math.Sqrt(mean) {
			t.Errorf("rate %v: %d in %d h", rate, n, hours)
		}
	}
	// Zero (or nonsense) stops the process: the next one is a century away.
	for _, rate := range []float64{0, -3, math.NaN(), math.Inf(1)} {
		g.SetRate(rate)
		now := time.Now()
		if at, _ := g.Next(now); at.Sub(now) < 50*365*24*time.Hour || g.Rate() != 0 {
			t.Errorf("rate %v: next at %v", rate, at)
		}
	}
}

func TestIncidentGenDeterministic(t *testing.T) {
	c := city.Changsha()
	draw := func() []api.NewIncident {
		g := NewGenerator(c, DefaultMix(), rand.New(rand.NewPCG(5, 5)))
		return runGen(g, 5).incs
	}
	a, b := draw(), draw()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || len(a) == 0 {
		t.Error("same seed, different incidents")
	}
}

// TestIncidentGenOddMixes: a generator never fails and never makes an
// incident the hub refuses, whatever mix and city it gets.
func TestIncidentGenOddMixes(t *testing.T) {
	bare := &city.Model{Name: "bare", Districts: []city.Area{{Name: "A", Polygon: []city.Point{{Lat: 28, Lon: 113}, {Lat: 28, Lon: 113.05}, {Lat: 28.05, Lon: 113.05}}}}}
	onlySpots := &city.Model{HotSpots: []city.HotSpot{{Name: "h", Point: city.Point{Lat: 28, Lon: 113}, Weight: 1, RadiusM: 100}}}
	long := strings.Repeat("长", 400)
	for _, tc := range []struct {
		name string
		city *city.Model
		mix  Mix
	}{
		{"no kinds", city.Changsha(), Mix{PerHour: 10}},
		{"zero shares", city.Changsha(), Mix{PerHour: 10, Kinds: []KindShare{{Kind: "a"}, {Kind: "b", Share: math.NaN()}}}},
		{"negative share", city.Changsha(), Mix{PerHour: -1, HotSpotShare: 7, Kinds: []KindShare{{Kind: "a", Share: -1, Priority: [3]float64{-1, 0, 0}}}}},
		{"bad kind", city.Changsha(), Mix{PerHour: 10, Kinds: []KindShare{{Kind: "Not OK", Share: 1, Priority: [3]float64{1}}}}},
		{"long summary", bare, Mix{PerHour: 10, HotSpotShare: 1, Kinds: []KindShare{{Kind: "a", Share: 1, Summary: []string{long + long + long}}}}},
		{"no hot spots", bare, DefaultMix()},
		{"only hot spots", onlySpots, Mix{PerHour: 10, HotSpotShare: 0, Kinds: []KindShare{{Kind: "x", Share: 1, Priority: [3]float64{0, 0, 1}}}}},
		{"empty city", &city.Model{}, DefaultMix()},
	} {
		g := NewGenerator(tc.city, tc.mix, rand.New(rand.NewPCG(9, 9)))
		now := time.Unix(1e9, 0)
		for range 200 {
			at, inc := g.Next(now)
			if at.Before(now) {
				t.Fatalf("%s: %v before %v", tc.name, at, now)
			}
			if err := inc.Check(); err != nil {
				t.Fatalf("%s: %+v: %v", tc.name, inc, err)
			}
		}
	}
}

func TestIncidentMixValidate(t *testing.T) {
	if err := DefaultMix().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, k := range DefaultMix().Kinds {
		if len(k.Summary) == 0 {
			t.Errorf("%s: no summaries", k.Kind)
		}
		// Robbery and assault are mostly P1, noise P3.
		switch k.Kind {
		case "robbery", "assault":
			if k.Priority[0] < 0.5 {
				t.Errorf("%s: P1 %.2f", k.Kind, k.Priority[0])
			}
		case "noise":
			if k.Priority[2] < 0.5 {
				t.Errorf("%s: P3 %.2f", k.Kind, k.Priority[2])
			}
		}
	}
	mod := func(f func(*Mix)) Mix {
		m := DefaultMix()
		f(&m)
		return m
	}
	for _, tc := range []struct {
		name string
		mix  Mix
		want string
	}{
		{"negative rate", mod(func(m *Mix) { m.PerHour = -1 }), "per_hour"},
		{"NaN rate", mod(func(m *Mix) { m.PerHour = math.NaN() }), "per_hour"},
		{"share above 1", mod(func(m *Mix) { m.HotSpotShare = 1.5 }), "hotspot_share"},
		{"no kinds", mod(func(m *Mix) { m.Kinds = nil }), "no kinds"},
		{"bad kind", mod(func(m *Mix) { m.Kinds[0].Kind = "Theft" }), `kind "Theft"`},
		{"twice", mod(func(m *Mix) { m.Kinds[1].Kind = "theft" }), "listed twice"},
		{"negative share", mod(func(m *Mix) { m.Kinds[0].Share = -0.1 }), "share -0.1"},
		{"all zero", mod(func(m *Mix) {
			for i := range m.Kinds {
				m.Kinds[i].Share = 0
			}
		}), "all 0"},
		{"no priorities", mod(func(m *Mix) { m.Kinds[2].Priority = [3]float64{} }), "priority shares are all 0"},
		{"infinite priority", mod(func(m *Mix) { m.Kinds[2].Priority[1] = math.Inf(1) }), "priority shares"},
		{"bad need", mod(func(m *Mix) { m.Kinds[0].Needs = []string{"a gun"} }), `need "a gun"`},
		{"many needs", mod(func(m *Mix) { m.Kinds[0].Needs = strings.Fields("a b c d e f g h i") }), "9 needs"},
		{"long summary", mod(func(m *Mix) { m.Kinds[0].Summary = []string{strings.Repeat("x", 1000)} }), "summary longer"},
	} {
		if err := tc.mix.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q in it", tc.name, err, tc.want)
		}
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"长沙", 4, "长"}, {"长沙", 3, "长"}, {"长沙", 2, ""},
	} {
		if got := truncateUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q; want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
