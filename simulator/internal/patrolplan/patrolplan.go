// Package patrolplan is the patrol plan (点线面, kuaifan/protocol/patrol) a
// run loads into the hub, built from the beats its units were given: a
// point task at each post, a line task along each route, an area task round
// each zone, each assigned by unit id, so that the hub's compliance report
// (GET /api/patrols/compliance) judges the run. It also picks the units
// that lapse from it. No I/O.
//
// The plan has one shift, ShiftID, which starts at the minute the run
// starts and lasts 24 hours: the whole run is one shift on one date, a run
// across midnight included, and nothing before the run (an earlier run's
// tracks of the same unit ids, judged by an earlier plan) is judged by it.
// Its targets are simulated time turned into the real minutes the hub
// judges (its fixes carry real time): a unit at a post must stay within
// RadiusM of it for Dwell at a stretch, once in the shift (a point without
// windows: the shift, which is the run, is its one window); a unit on a
// route must pass within BufferM of CoverShare of it; a unit in a zone must
// spend Presence inside a polygon round it (half the run, if the run's
// length is known and that is shorter, so a short run can meet it).
package patrolplan

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/city"
	sim "kuaifan/simulator/internal/patrol"
)

// The plan's shift and targets. Times are simulated.
const (
	ShiftID    = "run"
	RadiusM    = 60              // a post's checkpoint: a foot officer's short walks go 30–150 m, a stand is at the post
	Dwell      = 5 * time.Minute // a stand at a post lasts 2–8 minutes
	BufferM    = 35              // a route's half-width: GPS noise, and a lane or two either side
	CoverShare = 0.6             // of a route, a lapsing unit drives at most 40 %
	Presence   = 30 * time.Minute
	// AreaMarginM is added round a zone's disc for its polygon: GPS noise
	// and the zone's edge, where a waypoint may lie.
	AreaMarginM = 50
	areaSides   = 16
)

// Unit is a unit as the plan sees it: its id and the beat it was given.
type Unit struct {
	ID   string
	Beat sim.Beat
}

// Options are what the plan says besides the units' beats.
type Options struct {
	ID   string // the plan's id; ID makes one
	Name string
	// Start is when the run starts: the shift begins at its minute, in the
	// plan's zone (patrol.DefaultZone).
	Start time.Time
	// TimeScale is the run's (simulated seconds per real second): the
	// plan's minutes are real, as the hub judges them.
	TimeScale float64
	// Duration is the run's simulated length; 0 when it runs until
	// stopped.
	Duration time.Duration
}

// ID is the plan's id for a run whose unit ids begin with prefix in a
// city: "sim-changsha" for the built-in city ("长沙 Changsha"). The prefix
// keeps two simulators on one hub apart; a city name without Latin letters
// or digits gives "city".
func ID(prefix, cityName string) string {
	words := strings.FieldsFunc(strings.ToLower(cityName), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	slug := strings.Join(words, "-")
	if slug == "" {
		slug = "city"
	}
	id := strings.ToLower(prefix) + "-" + slug // a unit id prefix is [A-Za-z0-9_-]
	if len(id) > 64 {
		id = strings.TrimRight(id[:64], "-")
	}
	return id
}

// Build makes the plan: one task per post, per route and per zone, in the
// order of the units that first have it (units at the same post or on the
// same route share its task: each of them has the whole task to do), every
// unit in exactly one. The plan is checked as the hub checks it — written
// as JSON and read back with patrol.Parse — and returned as Parse read it.
func Build(units []Unit, o Options) (*patrol.Plan, error) {
	if !(o.TimeScale > 0) {
		return nil, fmt.Errorf("patrol plan: time scale %v", o.TimeScale)
	}
	loc, err := (&patrol.Plan{Zone: patrol.DefaultZone}).Location()
	if err != nil {
		return nil, err
	}
	local := o.Start.In(loc)
	start := patrol.Clock(local.Hour()*60 + local.Minute())
	p := &patrol.Plan{ID: o.ID, Name: o.Name, Zone: patrol.DefaultZone,
		Shifts: []patrol.Shift{{ID: ShiftID, Name: "simulator run from " + start.String() + ", 24 h", Start: start, End: start}},
		Tasks:  []patrol.Task{}}
	if p.ID == "" {
		p.ID = ID("sim", "city")
	}
	dwell, presence := Targets(o.TimeScale, o.Duration)
	shared := map[string]int{} // a post's or a route's task, by its place
	points, lines := 0, 0
	for _, u := range units {
		b := u.Beat
		switch b.Kind {
		case sim.PatternPost:
			key := fmt.Sprintf("post %v %v", b.Anchor, b.Name)
			if i, ok := shared[key]; ok {
				p.Tasks[i].Units = append(p.Tasks[i].Units, u.ID)
				continue
			}
			points++
			shared[key] = len(p.Tasks)
			p.Tasks = append(p.Tasks, patrol.Task{ID: fmt.Sprintf("cp-%02d", points), Kind: patrol.KindPoint, Name: b.Name,
				Units: []string{u.ID}, Lat: b.Anchor.Lat, Lon: b.Anchor.Lon, RadiusM: RadiusM, DwellMin: dwell})
		case sim.PatternRoute:
			if len(b.Route) < 2 {
				return nil, fmt.Errorf("patrol plan: unit %s: a route of %d point(s)", u.ID, len(b.Route))
			}
			key := fmt.Sprintf("route %v %v %v", b.Route[0], b.Route[len(b.Route)-1], b.Name)
			if i, ok := shared[key]; ok {
				p.Tasks[i].Units = append(p.Tasks[i].Units, u.ID)
				continue
			}
			lines++
			shared[key] = len(p.Tasks)
			route := make([]patrol.Position, len(b.Route))
			for i, q := range b.Route {
				route[i] = patrol.Position{q.Lon, q.Lat}
			}
			p.Tasks = append(p.Tasks, patrol.Task{ID: fmt.Sprintf("r-%02d", lines), Kind: patrol.KindLine, Name: b.Name,
				Units: []string{u.ID}, Route: route, BufferM: BufferM, CoverShare: CoverShare})
		case sim.PatternArea:
			p.Tasks = append(p.Tasks, patrol.Task{ID: "a-" + strings.ToLower(u.ID), Kind: patrol.KindArea, Name: b.Name,
				Units: []string{u.ID}, Polygon: Polygon(b.Anchor, b.RadiusM+AreaMarginM), MinPresenceMin: presence})
		default:
			return nil, fmt.Errorf("patrol plan: unit %s: pattern %v", u.ID, b.Kind)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("patrol plan: %w", err)
	}
	checked, err := patrol.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("patrol plan %s: %w", p.ID, err)
	}
	return checked, nil
}

// Targets are a point's dwell and an area's presence in real minutes, as
// the plan has them for a run at timeScale lasting duration (simulated; 0:
// until stopped). They are rounded to a thousandth of a minute and kept
// within a shift (an area's at least that thousandth: the hub wants more
// than nothing).
func Targets(timeScale float64, duration time.Duration) (dwellMin, presenceMin float64) {
	presence := Presence
	if duration > 0 && duration/2 < presence {
		presence = duration / 2
	}
	realMin := func(d time.Duration) float64 {
		return min(math.Round(d.Minutes()/timeScale*1000)/1000, 24*60)
	}
	return realMin(Dwell), max(realMin(presence), 0.001)
}

// Polygon is a regular polygon round the disc of radiusM about centre (its
// sides touch the circle), as [lon, lat] positions rounded to 1e-6°.
func Polygon(centre city.Point, radiusM float64) []patrol.Position {
	r := radiusM / math.Cos(math.Pi/areaSides)
	ring := make([]patrol.Position, areaSides)
	for i := range ring {
		q := city.Offset(centre, r, float64(i)*360/areaSides)
		ring[i] = patrol.Position{round6(q.Lon), round6(q.Lat)}
	}
	return ring
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// ShiftDate is the date (YYYY-MM-DD, in the plan's zone) the run's shift
// starts on, for GET /api/patrols/compliance.
func ShiftDate(p *patrol.Plan, start time.Time) (string, error) {
	loc, err := p.Location()
	if err != nil {
		return "", err
	}
	return start.In(loc).Format("2006-01-02"), nil
}

// Lapsing picks the units that lapse: share of them (rounded to the
// nearest unit), drawn by a permutation from seed, so the same fleet and
// seed lapse the same units.
func Lapsing(ids []string, share float64, seed uint64) map[string]bool {
	n := int(math.Round(min(max(share, 0), 1) * float64(len(ids))))
	out := make(map[string]bool, n)
	if n == 0 {
		return out
	}
	perm := rand.New(rand.NewPCG(seed, 0x1a95e)).Perm(len(ids))
	for _, i := range perm[:n] {
		out[ids[i]] = true
	}
	return out
}
