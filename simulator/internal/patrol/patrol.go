// Package patrol moves a unit through the city: its patrol pattern (a fixed
// post, a route driven back and forth, random waypoints in an area), chosen
// for its type as a city deploys them, at its type's patrol speed; a job
// at its response speed by a straight line, the time on scene, and the way
// back to its pattern; a move-up to another spot, and the pattern round it;
// the beat a unit was given (Beat), and a lapse from it (Lapse).
// Positions are true positions: GPS noise is the simulated receiver's
// business. No I/O.
package patrol

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"kuaifan/protocol"
	"kuaifan/simulator/internal/city"
)

// PatternKind is how a unit patrols, in the field's words: points (a fixed
// post), lines (a route driven back and forth) and areas (random waypoints
// in a zone).
type PatternKind int

const (
	PatternPost  PatternKind = iota + 1 // stands at a post, with short walks around it
	PatternRoute                        // back and forth along a route
	PatternArea                         // random waypoints inside a zone of a district
)

func (k PatternKind) String() string {
	switch k {
	case PatternPost:
		return "post"
	case PatternRoute:
		return "route"
	case PatternArea:
		return "area"
	}
	return fmt.Sprintf("PatternKind(%d)", int(k))
}

// Speeds in m/s. The response speeds are the hub's match defaults
// (hub/internal/match.DefaultConfig), and must stay equal to them: the hub
// estimates arrival as great-circle distance × 1.4 (its detour factor) ÷
// that speed, while a Mover drives the straight line at the same speed, so
// it arrives in distance ÷ speed = 1/1.4 of the hub's ETA. The end-to-end
// tests rely on arrival ≤ ETA; a road network would bring the two closer.
const (
	responseCar        = 8.3  // 30 km/h urban average with lights
	responseMotorcycle = 11.1 // 40 km/h: squads filter through congestion
	responseFoot       = 1.39 // 5 km/h, a brisk walk
)

// patrolRange is the speed of one leg of patrol, drawn uniformly: slower than
// a response, varied like real driving and walking.
func patrolRange(t protocol.UnitType) (lo, hi float64) {
	switch t {
	case protocol.TypeCar:
		return 5, 8
	case protocol.TypeMotorcycle:
		return 6, 9
	case protocol.TypeVolunteer:
		return 0.8, 1.2
	default: // foot, and an unknown type moves like the slowest
		return 0.8, 1.3
	}
}

// Speed is the middle of the type's patrol speed range (m/s): car 6.5,
// motorcycle 7.5, foot 1.05, volunteer 1.0. Pauses (at a post, at a
// waypoint) are not counted; the speed averaged over moving time is about 2 %
// lower, since slow legs last longer.
func Speed(t protocol.UnitType) float64 {
	lo, hi := patrolRange(t)
	return (lo + hi) / 2
}

// ResponseSpeed is the type's speed to a job (m/s), equal to the hub's match
// speed for the type; an unknown type gets the foot speed.
func ResponseSpeed(t protocol.UnitType) float64 {
	switch t {
	case protocol.TypeCar:
		return responseCar
	case protocol.TypeMotorcycle:
		return responseMotorcycle
	default:
		return responseFoot
	}
}

// Pattern sizes and pauses. A foot officer at a post mostly stands there,
// walking a few dozen metres out and back; a car's beat is a few kilometres
// around its station; volunteers walk a neighbourhood.
const (
	postWalkM            = 150 // how far short walks from a post go
	postStandMin         = 2 * time.Minute
	postStandMax         = 8 * time.Minute
	postTurnMax          = 30 * time.Second // standing at the far end of a walk
	footZoneMinM         = 250
	footZoneMaxM         = 500
	volunteerPostZoneMin = 400
	volunteerPostZoneMax = 800
	volunteerZoneMinM    = 800
	volunteerZoneMaxM    = 1500
	carZoneMinM          = 2000
	carZoneMaxM          = 4000
	routeTurnMax         = 30 * time.Second // turning round at a route's end
	areaPauseMax         = 90 * time.Second // a look around at a waypoint
	maxLegsPerStep       = 1000             // zero-length legs cannot spin Step forever
)

// Shares of pattern by type (the rest gets the other pattern).
const (
	footAtPostShare      = 0.7 // foot: post, else a small area around a post
	carOnRouteShare      = 0.6 // car: route, else a beat around a station
	volunteerAtPostShare = 0.5 // volunteer: an area around a post, else one in a district
)

type moveMode int

const (
	modePatrol moveMode = iota
	modeResponse
	modeHold
	modeMoveUp // to a move-up's spot; the pattern moves there on arrival
)

// Move-up zones: how far round its new spot a unit patrols after a move-up
// (a reposition) — a vehicle a beat the size of what it covers quickly, a
// foot patrol or a volunteer a post's short walks.
const (
	moveUpZoneVehicleM = 1000
)

// Lapses (Mover.Lapse): how a unit that does not keep its beat behaves. A
// patrol plan built from the beats (internal/patrolplan) asks for 5 minutes
// within 60 m of a post, 60 % of a route and 30 minutes in an area; a
// lapsing unit falls well short of each, so the compliance gap shows.
const (
	lapsePostStandMax = 60 * time.Second // at the post: no more than a look round
	lapsePostAwayMinM = 300              // the spot it spends its time at instead
	lapsePostAwayMaxM = 600
	lapsePostAwayMin  = 20 * time.Minute // and how long it stays there
	lapsePostAwayMax  = 40 * time.Minute
	lapseRouteMin     = 0.25 // the share of its route it drives
	lapseRouteMax     = 0.40
	lapseAreaGap      = 2.2 // the disc it wanders in: its centre this many radii off the zone's…
	lapseAreaGapM     = 200 // …and this much further, clear of the plan's polygon round the zone
	lapseAreaBearings = 12  // bearings tried for a disc whose centre is in a district
)

// Mover is one unit's body in the simulated city: on patrol along its
// pattern at its type's patrol speed, or to a job at its type's response
// speed by a straight line, then on scene, then back to patrol. Positions are
// true positions: GPS noise is the simulated receiver's business.
//
// A Mover, and the *rand.Rand it was given, belong to one goroutine at a time.
type Mover struct {
	typ  protocol.UnitType
	r    *rand.Rand
	kind PatternKind
	name string

	// The pattern.
	anchor  city.Point   // post: the post; area: the zone's centre
	radiusM float64      // post: reach of the short walks; area: the zone's radius
	area    *city.Area   // area: the district the zone is clipped to; nil: none
	route   []city.Point // route

	pos     city.Point
	heading float64 // degrees from north, of the last movement

	mode     moveMode
	target   city.Point // the job's place
	moveUp   city.Point // modeMoveUp: the spot
	arrived  bool       // at target since the last GoTo
	waypoint city.Point // patrol: where this leg ends
	legSpeed float64
	pauseS   float64 // patrol: seconds to stand still before the next leg
	toAnchor bool    // post: this leg ends at the post
	next     int     // route: the vertex after the waypoint
	dir      int     // route: +1 or -1 along Points

	beat      Beat       // the pattern as given, whatever the unit does
	lapse     bool       // it does not keep its beat (Lapse)
	elsewhere city.Point // lapsing at a post or in an area: where it goes instead
	movedUp   bool       // it has settled at a move-up's spot
}

// Beat is a unit's patrol pattern as it was given — what a patrol plan
// expects of it (internal/patrolplan builds one from the beats) — kept as
// it was when the unit lapses or moves up.
type Beat struct {
	Kind    PatternKind
	Name    string       // as PatternName had it
	Anchor  city.Point   // post: the post; area: the zone's centre
	RadiusM float64      // post: the short walks' reach; area: the zone's radius
	Route   []city.Point // route: its points (the city's: not to be changed)
}

// NewMover puts a unit of type t on a patrol pattern chosen for its type,
// as a city deploys them: foot patrols at a post (70 %) or in a small area
// around one; motorcycle squads on a route; cars on a route (60 %) or in a
// beat of 2–4 km around their station; volunteers in a neighbourhood around
// a post or somewhere in a district. The unit starts on its pattern. A city
// without posts, routes or stations makes do with what it has.
//
// The Mover keeps pointers into c (a district, a route): many movers may
// share one city, which nobody may change while they use it.
func NewMover(c *city.Model, t protocol.UnitType, r *rand.Rand) *Mover {
	m := &Mover{typ: t, r: r, dir: 1}
	switch t {
	case protocol.TypeCar:
		if len(c.Routes) > 0 && r.Float64() < carOnRouteShare {
			m.onRoute(&c.Routes[r.IntN(len(c.Routes))])
		} else {
			centre, what := m.stationOrDistrict(c)
			m.inZone(c, centre, what, m.uniform(carZoneMinM, carZoneMaxM))
		}
	case protocol.TypeMotorcycle:
		if len(c.Routes) > 0 {
			m.onRoute(&c.Routes[r.IntN(len(c.Routes))])
		} else {
			centre, what := m.stationOrDistrict(c)
			m.inZone(c, centre, what, m.uniform(carZoneMinM, carZoneMaxM))
		}
	case protocol.TypeVolunteer:
		if len(c.Posts) > 0 && r.Float64() < volunteerAtPostShare {
			p := &c.Posts[r.IntN(len(c.Posts))]
			m.inZone(c, p.Point, p.Name, m.uniform(volunteerPostZoneMin, volunteerPostZoneMax))
		} else {
			centre, what := m.districtPoint(c)
			m.inZone(c, centre, what, m.uniform(volunteerZoneMinM, volunteerZoneMaxM))
		}
	default:
		centre, what := m.postOrStation(c)
		if r.Float64() < footAtPostShare {
			m.atPost(centre, what)
		} else {
			m.inZone(c, centre, what, m.uniform(footZoneMinM, footZoneMaxM))
		}
	}
	m.beat = Beat{Kind: m.kind, Name: m.name, Anchor: m.anchor, RadiusM: m.radiusM, Route: m.route}
	return m
}

func (m *Mover) uniform(lo, hi float64) float64 { return lo + m.r.Float64()*(hi-lo) }

func (m *Mover) postOrStation(c *city.Model) (city.Point, string) {
	switch {
	case len(c.Posts) > 0:
		p := &c.Posts[m.r.IntN(len(c.Posts))]
		return p.Point, p.Name
	case len(c.Stations) > 0:
		p := &c.Stations[m.r.IntN(len(c.Stations))]
		return p.Point, p.Name
	}
	return m.districtPoint(c)
}

func (m *Mover) stationOrDistrict(c *city.Model) (city.Point, string) {
	if len(c.Stations) > 0 {
		p := &c.Stations[m.r.IntN(len(c.Stations))]
		return p.Point, p.Name
	}
	return m.districtPoint(c)
}

// districtPoint picks a district uniformly, not by area: a police force
// spreads its beats over its districts, not over their empty outskirts.
func (m *Mover) districtPoint(c *city.Model) (city.Point, string) {
	if len(c.Districts) == 0 {
		return city.Point{}, "the city"
	}
	a := &c.Districts[m.r.IntN(len(c.Districts))]
	return a.RandomPoint(m.r), a.Name
}

func (m *Mover) atPost(p city.Point, name string) {
	m.kind, m.name = PatternPost, "post "+name
	m.anchor, m.radiusM = p, postWalkM
	m.pos = p
	// Somewhere in its standing time, so a fleet started together does not
	// set off on its walks together.
	m.toAnchor = true
	m.nextLeg()
	m.pauseS *= m.r.Float64()
}

func (m *Mover) inZone(c *city.Model, centre city.Point, what string, radiusM float64) {
	m.kind = PatternArea
	m.anchor, m.radiusM = centre, radiusM
	m.area = c.AreaOf(centre)
	in := "the city"
	if m.area != nil {
		in = m.area.Name
	}
	m.name = fmt.Sprintf("area %s: %.1f km around %s", in, radiusM/1000, what)
	m.pos = m.randomInZone()
	m.nextLeg()
	m.pauseS = 0
	m.heading = bearingDeg(m.pos, m.waypoint)
}

// onRoute starts at a point drawn uniformly along the route's length, going
// either way.
func (m *Mover) onRoute(rt *city.Route) {
	m.kind, m.name = PatternRoute, "route "+rt.Name
	m.route = rt.Points
	m.placeOnRoute()
}

// placeOnRoute puts the unit at a point drawn uniformly along m.route,
// going either way.
func (m *Mover) placeOnRoute() {
	s := m.r.Float64() * city.PolylineLength(m.route)
	i := 0
	for ; i < len(m.route)-2; i++ {
		l := city.DistanceM(m.route[i], m.route[i+1])
		if s <= l {
			break
		}
		s -= l
	}
	if l := city.DistanceM(m.route[i], m.route[i+1]); l > 0 {
		m.pos = lerpPoint(m.route[i], m.route[i+1], math.Min(1, s/l))
	} else {
		m.pos = m.route[i]
	}
	m.dir = 1
	if m.r.IntN(2) == 0 {
		m.dir = -1
	}
	m.joinSegment(i)
	m.nextLeg()
	m.pauseS = 0
	m.heading = bearingDeg(m.pos, m.waypoint)
}

// joinSegment sets the route's next vertex for a unit on segment i
// (between vertices i and i+1), keeping its direction.
func (m *Mover) joinSegment(i int) {
	if m.dir > 0 {
		m.next = i + 1
	} else {
		m.next = i
	}
}

// nextLeg is called at the end of each leg of patrol: it sets the next
// waypoint, the speed to it and any pause before it.
func (m *Mover) nextLeg() {
	lo, hi := patrolRange(m.typ)
	m.legSpeed = m.uniform(lo, hi)
	m.pauseS = 0
	switch m.kind {
	case PatternPost:
		switch {
		case m.lapse && m.toAnchor: // at the post: a look round, then away
			m.pauseS = m.uniform(0, lapsePostStandMax.Seconds())
			m.waypoint, m.toAnchor = m.elsewhere, false
			return
		case m.lapse: // away, for a long stretch, then back for a moment
			m.pauseS = m.uniform(lapsePostAwayMin.Seconds(), lapsePostAwayMax.Seconds())
			m.waypoint, m.toAnchor = m.anchor, true
			return
		}
		if m.toAnchor { // at the post: stand, then a short walk
			m.pauseS = m.uniform(postStandMin.Seconds(), postStandMax.Seconds())
			m.waypoint = city.Offset(m.anchor, m.uniform(30, m.radiusM), m.uniform(0, 360))
			m.toAnchor = false
		} else {
			m.pauseS = m.uniform(0, postTurnMax.Seconds())
			m.waypoint = m.anchor
			m.toAnchor = true
		}
	case PatternRoute:
		m.waypoint = m.route[m.next]
		m.next += m.dir
		if m.next < 0 || m.next >= len(m.route) {
			m.dir = -m.dir
			m.next += 2 * m.dir
			m.pauseS = m.uniform(0, routeTurnMax.Seconds())
		}
	case PatternArea:
		if m.lapse {
			m.waypoint = m.randomElsewhere()
		} else {
			m.waypoint = m.randomInZone()
		}
		if m.r.Float64() < 0.3 {
			m.pauseS = m.uniform(0, areaPauseMax.Seconds())
		}
	}
}

// randomElsewhere draws uniformly from the disc a lapsing area unit
// patrols instead of its zone (no district to keep to: it has wandered).
func (m *Mover) randomElsewhere() city.Point {
	return city.Offset(m.elsewhere, m.radiusM*math.Sqrt(m.r.Float64()), m.uniform(0, 360))
}

// randomInZone draws uniformly from the zone's disc, keeping to its
// district; a zone squeezed by its district's edge falls back to its centre.
func (m *Mover) randomInZone() city.Point {
	for range 64 {
		p := city.Offset(m.anchor, m.radiusM*math.Sqrt(m.r.Float64()), m.uniform(0, 360))
		if m.area == nil || m.area.Contains(p) {
			return p
		}
	}
	return m.anchor
}

// Pattern is the kind of pattern the unit patrols.
func (m *Mover) Pattern() PatternKind { return m.kind }

// PatternName describes the pattern for people: "post 五一广场站",
// "route 五一大道", "area 芙蓉区 Furong: 3.1 km around 芙蓉区 东湖派出所".
func (m *Mover) PatternName() string { return m.name }

// Beat is the pattern the unit was given, as NewMover gave it: unchanged
// by Lapse and by move-ups.
func (m *Mover) Beat() Beat { return m.beat }

// Lapsing reports whether the unit does not keep its beat (Lapse; a
// move-up ends that).
func (m *Mover) Lapsing() bool { return m.lapse }

// MovedUp reports whether the unit has settled at a move-up's spot: it
// patrols round that, not its beat, from then on.
func (m *Mover) MovedUp() bool { return m.movedUp }

// Lapse makes the unit one that does not keep its beat, as some officers
// do not: at a post it stays no more than a minute and spends long
// stretches (20–40 minutes) at a spot 300–600 m away; on a route it drives
// only a part of it (25–40 % of its length) back and forth; from an area
// it has wandered out, and patrols a disc of the zone's size beyond the
// zone's edge instead (its centre in a district if one of 12 bearings
// finds one), back in the zone only on its way back from a job. Beat stays
// as given: the plan still expects it. A move-up ends the lapse: the unit
// patrols round its new spot as ordered. Call it before the first Step;
// the unit's random source draws the details, so a seed repeats them.
func (m *Mover) Lapse(c *city.Model) {
	if m.lapse {
		return
	}
	m.lapse = true
	switch m.kind {
	case PatternPost:
		m.elsewhere = city.Offset(m.anchor, m.uniform(lapsePostAwayMinM, lapsePostAwayMaxM), m.uniform(0, 360))
		m.name += " (lapsing: away for long stretches)"
		m.toAnchor = true // at the post now
		m.nextLeg()
	case PatternRoute:
		share := m.uniform(lapseRouteMin, lapseRouteMax)
		length := city.PolylineLength(m.route)
		from := m.uniform(0, 1-share) * length
		m.route = subPolyline(m.route, from, from+share*length)
		m.name += fmt.Sprintf(" (lapsing: %.0f %% of it)", 100*share)
		m.placeOnRoute()
	case PatternArea:
		gap := lapseAreaGap*m.radiusM + lapseAreaGapM
		first := m.uniform(0, 360)
		m.elsewhere = city.Offset(m.anchor, gap, first)
		for i := range lapseAreaBearings {
			if p := city.Offset(m.anchor, gap, first+float64(i)*360/lapseAreaBearings); c.AreaOf(p) != nil {
				m.elsewhere = p
				break
			}
		}
		m.name += " (lapsing: out of it)"
		m.pos = m.randomElsewhere()
		m.nextLeg()
		m.pauseS = 0
		m.heading = bearingDeg(m.pos, m.waypoint)
	}
}

// Type is the unit type the Mover moves like.
func (m *Mover) Type() protocol.UnitType { return m.typ }

// Position is where the unit is now.
func (m *Mover) Position() city.Point { return m.pos }

// DistanceTo is the great-circle distance from the unit to p, in metres.
func (m *Mover) DistanceTo(p city.Point) float64 { return city.DistanceM(m.pos, p) }

// GoTo starts a job, or re-targets one (a sighting moved the incident): the
// unit heads for p by a straight line at its response speed, from wherever
// it is, and stays there once arrived.
func (m *Mover) GoTo(p city.Point) {
	m.mode, m.target, m.arrived = modeResponse, p, false
	if m.pos == p {
		m.mode, m.arrived = modeHold, true
	}
}

// Arrived reports whether the unit has reached the target of its last GoTo
// (and not been sent elsewhere or back to patrol since).
func (m *Mover) Arrived() bool { return m.arrived }

// Target returns the target of the job under way, if any.
func (m *Mover) Target() (city.Point, bool) {
	if m.mode == modeResponse || m.arrived {
		return m.target, true
	}
	return city.Point{}, false
}

// Reposition is a move-up (the hub's reposition, additive 2026-12): the
// unit heads for p by a straight line at its response speed — the speed of
// the hub's ETA and of the officer's card, a drive across town without
// lights — and, there, patrols round p from then on: its pattern becomes a
// post at p (foot patrols, volunteers) or a beat of 1 km round p (cars,
// motorcycles), until the next move-up. It is no job: Target and Arrived
// do not report it. GoTo interrupts it (a dispatch), and Patrol calls it off
// (the unit goes back to its old pattern, which it keeps until it gets to
// p). A second Reposition replaces the first.
func (m *Mover) Reposition(p city.Point) {
	m.mode, m.moveUp, m.arrived = modeMoveUp, p, false
	if m.pos == p {
		m.settle(p)
	}
}

// MovingUp reports whether the unit is on its way to a move-up's spot, and
// which.
func (m *Mover) MovingUp() (city.Point, bool) {
	return m.moveUp, m.mode == modeMoveUp
}

// settle makes p the unit's pattern, having moved up there, and goes on
// patrol round it from where it is.
func (m *Mover) settle(p city.Point) {
	name := fmt.Sprintf("%.5f, %.5f", p.Lat, p.Lon)
	switch m.typ {
	case protocol.TypeCar, protocol.TypeMotorcycle:
		m.kind, m.anchor, m.radiusM, m.area, m.route = PatternArea, p, moveUpZoneVehicleM, nil, nil
		m.name = fmt.Sprintf("move-up: %.1f km around %s", moveUpZoneVehicleM/1000.0, name)
	default:
		m.kind, m.anchor, m.radiusM, m.area, m.route = PatternPost, p, postWalkM, nil, nil
		m.name = "move-up: post " + name
	}
	// A move-up is an order: the unit keeps to its new pattern, lapsing
	// or not before (the plan still judges it by its beat).
	m.lapse, m.movedUp = false, true
	m.mode = modeHold // Patrol starts the pattern from here
	m.Patrol()
}

// Hold stops the unit where it is: on scene, or told to wait.
func (m *Mover) Hold() { m.mode = modeHold }

// Patrol ends a job: the unit heads back to the nearest point of its
// pattern at patrol speed and carries on from there. On patrol already, it
// changes nothing.
func (m *Mover) Patrol() {
	if m.mode == modePatrol {
		return
	}
	m.mode, m.arrived = modePatrol, false
	lo, hi := patrolRange(m.typ)
	m.legSpeed, m.pauseS = m.uniform(lo, hi), 0
	switch m.kind {
	case PatternPost:
		m.waypoint, m.toAnchor = m.anchor, true
	case PatternRoute:
		q, i := nearestOnPolyline(m.route, m.pos)
		m.waypoint = q
		m.joinSegment(i)
	case PatternArea:
		off := m.offPattern(m.pos)
		inArea := m.area == nil || m.area.Contains(m.pos)
		switch {
		case off == 0 && inArea:
			m.waypoint = m.randomInZone()
		case off > 0:
			// The nearest point of the disc, if the district has it; else
			// the zone's centre, which is always in the zone.
			m.waypoint = lerpPoint(m.anchor, m.pos, m.radiusM/(m.radiusM+off))
			if m.area != nil && !m.area.Contains(m.waypoint) {
				m.waypoint = m.anchor
			}
		default: // in the disc but outside the district
			m.waypoint = m.anchor
		}
	}
}

// Step advances the unit by dt of simulated time and returns where it is,
// its speed over the step (distance ÷ dt: pauses and arrivals within the
// step count as standing) and its heading (of the last movement; unchanged
// while standing). A step may span several legs of patrol.
func (m *Mover) Step(dt time.Duration) (p city.Point, speedMPS, headingDeg float64) {
	secs := dt.Seconds()
	if !(secs > 0) {
		return m.pos, 0, m.heading
	}
	left, moved := secs, 0.0
	for range maxLegsPerStep {
		if left <= 0 {
			break
		}
		switch m.mode {
		case modeHold:
			left = 0
		case modeResponse:
			d, reached := m.advance(m.target, ResponseSpeed(m.typ), &left)
			moved += d
			if reached {
				m.mode, m.arrived = modeHold, true
			}
		case modeMoveUp:
			d, reached := m.advance(m.moveUp, ResponseSpeed(m.typ), &left)
			moved += d
			if reached {
				m.settle(m.moveUp) // the rest of the step is patrol round it
			}
		case modePatrol:
			if m.pauseS > 0 {
				use := math.Min(m.pauseS, left)
				m.pauseS -= use
				left -= use
				continue
			}
			d, reached := m.advance(m.waypoint, m.legSpeed, &left)
			moved += d
			if reached {
				m.nextLeg()
			}
		}
	}
	return m.pos, moved / secs, m.heading
}

// advance moves towards to at speed for up to *left seconds, taking off
// the time used; it reports the distance covered and whether to was reached.
func (m *Mover) advance(to city.Point, speed float64, left *float64) (float64, bool) {
	dist := city.DistanceM(m.pos, to)
	can := speed * *left
	if dist > 0 {
		m.heading = bearingDeg(m.pos, to)
	}
	if dist <= can {
		m.pos = to
		*left -= dist / speed
		return dist, true
	}
	// A straight line in degrees is not scaled evenly in metres (cos lat
	// changes along it, by 1e-4 over a few km): one correction of the
	// fraction makes the step the speed's length to 1e-8, so reported
	// speeds and arrival times agree with the hub's haversine.
	f := can / dist
	q := lerpPoint(m.pos, to, f)
	if got := city.DistanceM(m.pos, q); got > 0 {
		q = lerpPoint(m.pos, to, math.Min(1, f*can/got))
	}
	m.pos = q
	*left = 0
	return can, false
}

// offPattern is how far p is from the unit's pattern, in metres: 0 on it.
// An area's district clipping is not counted: its disc is the pattern.
func (m *Mover) offPattern(p city.Point) float64 {
	switch m.kind {
	case PatternRoute:
		q, _ := nearestOnPolyline(m.route, p)
		return city.DistanceM(p, q)
	default:
		return math.Max(0, city.DistanceM(m.anchor, p)-m.radiusM)
	}
}

// lerpPoint is the point a fraction f of the way from a to b.
func lerpPoint(a, b city.Point, f float64) city.Point {
	return city.Point{Lat: a.Lat + f*(b.Lat-a.Lat), Lon: a.Lon + f*(b.Lon-a.Lon)}
}

// bearingDeg is the initial great-circle bearing from a to b, [0, 360).
func bearingDeg(a, b city.Point) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := a.Lat*rad, b.Lat*rad
	dλ := (b.Lon - a.Lon) * rad
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	θ := math.Mod(math.Atan2(y, x)/rad+360, 360)
	if θ >= 360 { // -0 and rounding
		θ = 0
	}
	return θ
}

// nearestOnPolyline returns the point of the polyline nearest to p and the
// index of its segment, projecting in a flat frame at p.
func nearestOnPolyline(ps []city.Point, p city.Point) (city.Point, int) {
	kx := math.Cos(p.Lat * math.Pi / 180)
	best, bestI, bestD := ps[0], 0, math.Inf(1)
	for i := 0; i+1 < len(ps); i++ {
		a, b := ps[i], ps[i+1]
		ax, ay := (a.Lon-p.Lon)*kx, a.Lat-p.Lat
		bx, by := (b.Lon-p.Lon)*kx, b.Lat-p.Lat
		dx, dy := bx-ax, by-ay
		t := 0.0
		if l2 := dx*dx + dy*dy; l2 > 0 {
			t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l2))
		}
		x, y := ax+t*dx, ay+t*dy
		if d := x*x + y*y; d < bestD {
			best, bestI, bestD = lerpPoint(a, b, t), i, d
		}
	}
	return best, bestI
}

// subPolyline is the part of the polyline from fromM to toM metres along
// it (0 ≤ fromM < toM ≤ its length).
func subPolyline(ps []city.Point, fromM, toM float64) []city.Point {
	out := []city.Point{pointAlong(ps, fromM)}
	s := 0.0
	for i := 0; i+1 < len(ps); i++ {
		s += city.DistanceM(ps[i], ps[i+1])
		if s > fromM && s < toM {
			out = append(out, ps[i+1])
		}
	}
	return append(out, pointAlong(ps, toM))
}

// pointAlong is the point d metres along the polyline (its last beyond it).
func pointAlong(ps []city.Point, d float64) city.Point {
	for i := 0; i+1 < len(ps); i++ {
		l := city.DistanceM(ps[i], ps[i+1])
		if d <= l {
			if l == 0 {
				return ps[i]
			}
			return lerpPoint(ps[i], ps[i+1], d/l)
		}
		d -= l
	}
	return ps[len(ps)-1]
}
