// Package incident is the background of incidents a call-taker reports:
// the mix (how many an hour, what kinds with which priorities, how many at
// hot spots) and the generator that draws them, a Poisson process in time
// placed around the city's hot spots or anywhere in its districts. No I/O.
package incident

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
)

// KindShare is one kind of incident in a mix: its share of all incidents,
// how its priorities split, what capabilities it needs and the call-taker's
// summaries to pick from.
type KindShare struct {
	Kind     string     `json:"kind"`
	Share    float64    `json:"share"`
	Priority [3]float64 `json:"priority"` // shares of P1, P2, P3
	Needs    []string   `json:"needs,omitempty"`
	Summary  []string   `json:"summary,omitempty"`
}

// Mix is the background of incidents: how many, where and what.
// Shares need not add up to 1: they are weights.
type Mix struct {
	PerHour      float64     `json:"per_hour"`      // mean incidents per hour of simulated time
	HotSpotShare float64     `json:"hotspot_share"` // placed around hot spots; the rest uniform in a random district
	Kinds        []KindShare `json:"kinds"`
}

// Defaults of the mix: a city of Changsha's size takes several thousand
// 110 calls a day, of which a simulator's fleet of a few hundred units
// would see a share; 30 an hour keeps a dashboard busy without swamping it.
const (
	DefaultPerHour      = 30
	DefaultHotSpotShare = 0.6
)

// DefaultMix is a realistic urban mix: thefts, disputes and traffic
// lead; robbery and assault are rare and mostly priority 1; noise is almost
// always priority 3. Medical calls need a unit with medical kit; the kinds
// match the hub's dispatch policy (volunteers may be offered the peaceful
// ones, never the violent ones).
func DefaultMix() Mix {
	return Mix{
		PerHour:      DefaultPerHour,
		HotSpotShare: DefaultHotSpotShare,
		Kinds: []KindShare{
			{Kind: "theft", Share: 0.20, Priority: [3]float64{0.05, 0.45, 0.50},
				Summary: []string{"手机被盗", "电动车被盗", "商场内钱包被扒窃", "车内财物被盗"}},
			{Kind: "dispute", Share: 0.18, Priority: [3]float64{0.05, 0.55, 0.40},
				Summary: []string{"邻里纠纷", "商户与顾客发生争执", "酒后纠纷", "停车纠纷"}},
			{Kind: "traffic", Share: 0.15, Priority: [3]float64{0.10, 0.60, 0.30},
				Summary: []string{"两车追尾，道路拥堵", "电动车与行人相撞", "车辆违停堵塞消防通道"}},
			{Kind: "noise", Share: 0.08, Priority: [3]float64{0, 0.10, 0.90},
				Summary: []string{"夜间装修噪音扰民", "广场舞音响扰民", "酒吧噪音扰民"}},
			{Kind: "lost_person", Share: 0.05, Priority: [3]float64{0.30, 0.60, 0.10},
				Summary: []string{"老人走失", "儿童与家长走散"}},
			{Kind: "medical", Share: 0.06, Priority: [3]float64{0.50, 0.45, 0.05}, Needs: []string{"medical"},
				Summary: []string{"路人晕倒在地", "老人摔倒受伤需协助"}},
			{Kind: "robbery", Share: 0.03, Priority: [3]float64{0.85, 0.15, 0},
				Summary: []string{"街头抢劫，嫌疑人逃离", "飞车抢夺手提包"}},
			{Kind: "assault", Share: 0.05, Priority: [3]float64{0.70, 0.30, 0},
				Summary: []string{"多人持械斗殴", "殴打他人致伤"}},
			{Kind: "fire", Share: 0.02, Priority: [3]float64{0.60, 0.35, 0.05},
				Summary: []string{"居民楼冒烟", "电动车起火"}},
			{Kind: "welfare_check", Share: 0.04, Priority: [3]float64{0.10, 0.50, 0.40},
				Summary: []string{"家属求助：独居老人多日未联系", "群众反映有人醉倒路边"}},
			{Kind: "fraud", Share: 0.05, Priority: [3]float64{0, 0.30, 0.70},
				Summary: []string{"电信诈骗报案", "网购被骗转账"}},
			{Kind: "found_property", Share: 0.03, Priority: [3]float64{0, 0.10, 0.90},
				Summary: []string{"拾得钱包交警方", "拾得证件"}},
			{Kind: "suspicious", Share: 0.04, Priority: [3]float64{0.10, 0.50, 0.40},
				Summary: []string{"可疑人员在小区徘徊", "可疑车辆长时间停放"}},
			{Kind: "crowd", Share: 0.02, Priority: [3]float64{0.20, 0.60, 0.20},
				Summary: []string{"人员聚集，需维持秩序"}},
		},
	}
}

// MaxPerHour bounds a mix's rate (and a scenario's rate steps).
const MaxPerHour = 1e6

// Validate reports the first thing wrong with the mix.
func (m Mix) Validate() error {
	if !(m.PerHour >= 0 && m.PerHour <= MaxPerHour) {
		return fmt.Errorf("per_hour %v: want 0 … %g", m.PerHour, float64(MaxPerHour))
	}
	if !(m.HotSpotShare >= 0 && m.HotSpotShare <= 1) {
		return fmt.Errorf("hotspot_share %v: want 0 … 1", m.HotSpotShare)
	}
	if len(m.Kinds) == 0 {
		return errors.New("no kinds")
	}
	total := 0.0
	seen := map[string]bool{}
	for _, k := range m.Kinds {
		if !protocol.ValidCapability(k.Kind) {
			return fmt.Errorf("kind %q is not [a-z0-9_-]{1,32}", k.Kind)
		}
		if seen[k.Kind] {
			return fmt.Errorf("kind %q listed twice", k.Kind)
		}
		seen[k.Kind] = true
		if !validShare(k.Share) {
			return fmt.Errorf("kind %q: share %v: want a finite share ≥ 0", k.Kind, k.Share)
		}
		total += k.Share
		p := 0.0
		for _, w := range k.Priority {
			if !validShare(w) {
				return fmt.Errorf("kind %q: priority shares %v: want finite shares ≥ 0", k.Kind, k.Priority)
			}
			p += w
		}
		if p == 0 {
			return fmt.Errorf("kind %q: priority shares are all 0", k.Kind)
		}
		if len(k.Needs) > api.MaxIncidentNeeds {
			return fmt.Errorf("kind %q: %d needs; at most %d", k.Kind, len(k.Needs), api.MaxIncidentNeeds)
		}
		for _, n := range k.Needs {
			if !protocol.ValidCapability(n) {
				return fmt.Errorf("kind %q: need %q is not [a-z0-9_-]{1,32}", k.Kind, n)
			}
		}
		for _, s := range k.Summary {
			if len(s)+len(" · ")+maxNameBytes > api.MaxIncidentSummary {
				return fmt.Errorf("kind %q: summary longer than %d bytes", k.Kind, api.MaxIncidentSummary-maxNameBytes-len(" · "))
			}
		}
	}
	if total == 0 {
		return errors.New("the kinds' shares are all 0")
	}
	return nil
}

// maxNameBytes is how much of a place name a summary gets: the longest a
// summary can then be is still under the hub's limit.
const maxNameBytes = 128

func validShare(w float64) bool { return w >= 0 && !math.IsInf(w, 1) }

// Generator draws incidents: a Poisson process in time at the current
// rate; placed around a hot spot (a share HotSpotShare of them) or uniformly
// in a district picked uniformly; of a kind drawn from the mix's shares and
// a priority from the kind's. A hot spot's Kinds steer where each kind
// happens without changing the shares: an incident of a kind goes to the
// hot spots that list it (or list no kinds), by weight, or to any hot spot
// if none does. Positions cluster around a hot spot's centre (a normal
// spread of a third of its radius, cut at the radius).
//
// A Generator, and its *rand.Rand, belong to one goroutine at a time.
type Generator struct {
	city      *city.Model
	r         *rand.Rand
	rate      float64 // per hour
	hotShare  float64
	kinds     []KindShare
	kindCum   []float64   // cumulative shares
	prioCum   [][]float64 // per kind: cumulative priority shares
	spotsFor  [][]int     // per kind: the hot spots it may go to
	spotCumOf [][]float64
}

// NewGenerator prepares a generator over the city. It never fails: a mix
// that does not pass Validate is made usable (negative or non-finite rates
// and shares as 0, the share clamped to 0 … 1, no kinds: the default ones,
// all-zero shares: equal ones, all-zero priorities: P2), so check Validate
// first to tell the user.
func NewGenerator(c *city.Model, mix Mix, r *rand.Rand) *Generator {
	g := &Generator{city: c, r: r}
	g.SetRate(mix.PerHour)
	g.hotShare = mix.HotSpotShare
	if !(g.hotShare >= 0) {
		g.hotShare = 0
	}
	g.hotShare = math.Min(g.hotShare, 1)
	g.kinds = mix.Kinds
	if len(g.kinds) == 0 {
		g.kinds = DefaultMix().Kinds
	}
	weights := make([]float64, len(g.kinds))
	for i, k := range g.kinds {
		if validShare(k.Share) {
			weights[i] = k.Share
		}
	}
	g.kindCum = cumulativeWeights(weights)
	g.prioCum = make([][]float64, len(g.kinds))
	for i, k := range g.kinds {
		w := k.Priority[:]
		if sum := w[0] + w[1] + w[2]; !(sum > 0) || math.IsInf(sum, 1) {
			w = []float64{0, 1, 0}
		}
		g.prioCum[i] = cumulativeWeights(w)
	}
	g.spotsFor = make([][]int, len(g.kinds))
	g.spotCumOf = make([][]float64, len(g.kinds))
	for i, k := range g.kinds {
		var spots []int
		var w []float64
		for j, h := range c.HotSpots {
			if len(h.Kinds) == 0 || slices.Contains(h.Kinds, k.Kind) {
				spots = append(spots, j)
				w = append(w, h.Weight)
			}
		}
		if len(spots) == 0 {
			for j, h := range c.HotSpots {
				spots = append(spots, j)
				w = append(w, h.Weight)
			}
		}
		g.spotsFor[i], g.spotCumOf[i] = spots, cumulativeWeights(w)
	}
	return g
}

// cumulativeWeights turns weights into a running sum; invalid weights count as 0
// and all-zero weights as equal ones.
func cumulativeWeights(w []float64) []float64 {
	out := make([]float64, len(w))
	sum := 0.0
	for i, x := range w {
		if validShare(x) {
			sum += x
		}
		out[i] = sum
	}
	if sum == 0 {
		for i := range out {
			out[i] = float64(i + 1)
		}
	}
	return out
}

// pickWeighted draws an index with probability proportional to its weight.
func pickWeighted(r *rand.Rand, cum []float64) int {
	if len(cum) == 0 {
		return -1
	}
	x := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// SetRate changes the mean number of incidents per hour from now on; 0 (or
// anything not a finite positive number) stops them.
func (g *Generator) SetRate(perHour float64) {
	if !(perHour > 0) || math.IsInf(perHour, 1) {
		perHour = 0
	}
	g.rate = perHour
}

// Rate is the current mean number of incidents per hour.
func (g *Generator) Rate() float64 { return g.rate }

// noIncident is how far away the next incident is at a zero rate: past any
// run, yet far from time.Time's overflow.
const noIncident = 100 * 365 * 24 * time.Hour

// Next draws the next incident after now: the gap is exponential at the
// current rate. The process is memoryless, so after a SetRate the caller
// simply draws again from the time of the change and throws the pending
// incident away. At a zero rate at is a century away.
func (g *Generator) Next(now time.Time) (at time.Time, inc api.NewIncident) {
	at, inc, _ = g.next(now)
	return at, inc
}

// next is Next that also tells which hot spot the incident went to (-1:
// none), for the tests.
func (g *Generator) next(now time.Time) (time.Time, api.NewIncident, int) {
	at := now.Add(noIncident)
	if g.rate > 0 {
		gap := g.r.ExpFloat64() / g.rate * float64(time.Hour)
		at = now.Add(time.Duration(math.Min(gap, float64(noIncident))))
	}
	ki := pickWeighted(g.r, g.kindCum)
	k := &g.kinds[ki]
	inc := api.NewIncident{Kind: k.Kind, Priority: 1 + pickWeighted(g.r, g.prioCum[ki]), Needs: append([]string{}, k.Needs...)}
	if !protocol.ValidCapability(inc.Kind) {
		inc.Kind = "other" // a mix that skipped Validate; the hub would refuse the rest
	}
	inc.Summary = inc.Kind
	if len(k.Summary) > 0 {
		inc.Summary = k.Summary[g.r.IntN(len(k.Summary))]
	}
	spot := -1
	var p city.Point
	var where string
	if len(g.city.HotSpots) > 0 && (g.r.Float64() < g.hotShare || len(g.city.Districts) == 0) {
		spot = g.spotsFor[ki][pickWeighted(g.r, g.spotCumOf[ki])]
		h := &g.city.HotSpots[spot]
		p, where = g.aroundHotSpot(h), h.Name
	} else if len(g.city.Districts) > 0 {
		a := &g.city.Districts[g.r.IntN(len(g.city.Districts))]
		p, where = a.RandomPoint(g.r), a.Name
	}
	inc.Lat, inc.Lon = p.Lat, p.Lon
	if where != "" {
		inc.Summary += " · " + truncateUTF8(where, maxNameBytes)
	}
	if len(inc.Summary) > api.MaxIncidentSummary {
		inc.Summary = truncateUTF8(inc.Summary, api.MaxIncidentSummary)
	}
	return at, inc, spot
}

// aroundHotSpot draws a normal spread of σ = radius/3 around the centre,
// redrawn beyond the radius (a 1 % chance each time).
func (g *Generator) aroundHotSpot(h *city.HotSpot) city.Point {
	for range 32 {
		dx, dy := g.r.NormFloat64()*h.RadiusM/3, g.r.NormFloat64()*h.RadiusM/3
		d := math.Hypot(dx, dy)
		if d <= h.RadiusM {
			return city.Offset(h.Point, d, math.Atan2(dx, dy)*180/math.Pi)
		}
	}
	return h.Point
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
