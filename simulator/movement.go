package simulator

import (
	"math"
	"math/rand/v2"
	"time"

	"kuaifan/protocol"
)

// profile is how a unit type moves and how its device's battery drains.
type profile struct {
	speed      float64 // mean ground speed while patrolling, m/s
	turnSigma  float64 // standard deviation of the heading change per second, degrees
	drainPerH  float64 // battery fraction used per hour
	turnPerMin float64 // sharp turns (a corner, a side street) per minute
}

func profileOf(t protocol.UnitType) profile {
	switch t {
	case protocol.TypeCar:
		return profile{speed: 8, turnSigma: 6, drainPerH: 0.02, turnPerMin: 0.5}
	case protocol.TypeMotorcycle:
		return profile{speed: 11, turnSigma: 8, drainPerH: 0.02, turnPerMin: 0.7}
	default: // foot, volunteer
		return profile{speed: 1.3, turnSigma: 10, drainPerH: 0.06, turnPerMin: 0.3}
	}
}

// Busy spells: a unit becomes busy about once every meanAvailable, for
// busyMin … busyMax, so it is available most (≈ 85 %) of the time.
const (
	meanAvailable = 30 * time.Minute
	busyMin       = 2 * time.Minute
	busyMax       = 8 * time.Minute
	// maxStep bounds one step: a unit whose goroutine was held up (a laptop
	// suspended, say) does not jump across the city.
	maxStep = 30 * time.Second
)

// mover is one unit's simulated body: a random walk inside a box. It is
// used by one goroutine at a time.
type mover struct {
	kind     protocol.UnitType
	prof     profile
	box      Box
	lat, lon float64
	heading  float64 // degrees, [0, 360)
	speed    float64 // of the last step, m/s; 0 while busy
	factor   float64 // this unit's current pace relative to its type's speed
	busyLeft time.Duration
	battery  float64
	accM     float64
}

func newMover(kind protocol.UnitType, box Box, districts []District, rng *rand.Rand) *mover {
	m := &mover{kind: kind, prof: profileOf(kind), box: box, factor: 1,
		heading: rng.Float64() * 360, battery: 0.6 + 0.4*rng.Float64(), accM: 3 + 5*rng.Float64()}
	m.lat, m.lon = startPosition(box, districts, rng)
	return m
}

// status is the duty status to report.
func (m *mover) status() protocol.Status {
	if m.busyLeft > 0 {
		return protocol.StatusBusy
	}
	return protocol.StatusAvailable
}

// step advances the unit by dt: a busy unit stays put; an available one
// walks on at about its type's speed, turning a little all the time and
// sharply now and then, and bounces off the box's edges.
func (m *mover) step(dt time.Duration, rng *rand.Rand) {
	if dt <= 0 {
		return
	}
	dt = min(dt, maxStep)
	sec := dt.Seconds()
	m.battery = math.Max(0.05, m.battery-m.prof.drainPerH*sec/3600)
	m.accM = clamp(m.accM+rng.NormFloat64()*0.5, 2, 15)

	if m.busyLeft > 0 {
		m.busyLeft -= dt
		m.speed = 0
		return
	}
	if rng.Float64() < sec/meanAvailable.Seconds() {
		m.busyLeft = busyMin + time.Duration(rng.Int64N(int64(busyMax-busyMin)))
		m.speed = 0
		return
	}

	// Pace: a mean-reverting wobble around 1, so the long-run mean speed is
	// the type's speed while consecutive steps still look alike.
	m.factor = clamp(0.7*m.factor+0.3*(0.6+0.8*rng.Float64()), 0.6, 1.4)
	m.speed = m.prof.speed * m.factor
	h := m.heading + rng.NormFloat64()*m.prof.turnSigma*math.Sqrt(sec)
	if rng.Float64() < m.prof.turnPerMin*sec/60 {
		if rng.IntN(2) == 0 {
			h += 90
		} else {
			h -= 90
		}
	}

	d := m.speed * sec
	rad := h * math.Pi / 180
	lat := m.lat + d*math.Cos(rad)/metresPerDegLat
	lon := m.lon + d*math.Sin(rad)/(metresPerDegLat*math.Cos(m.lat*math.Pi/180))
	// Reflect at the edges, turning the heading as a ball off a wall.
	// One step is far shorter than the box, so one reflection per axis does.
	if lat > m.box.MaxLat {
		lat, h = 2*m.box.MaxLat-lat, 180-h
	} else if lat < m.box.MinLat {
		lat, h = 2*m.box.MinLat-lat, 180-h
	}
	if lon > m.box.MaxLon {
		lon, h = 2*m.box.MaxLon-lon, -h
	} else if lon < m.box.MinLon {
		lon, h = 2*m.box.MinLon-lon, -h
	}
	m.lat = clamp(lat, m.box.MinLat, m.box.MaxLat)
	m.lon = clamp(lon, m.box.MinLon, m.box.MaxLon)
	m.heading = normHeading(h)
}

// normHeading maps any angle to [0, 360), as the contract requires.
func normHeading(h float64) float64 {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	if h >= 360 { // -tiny + 360 rounds to 360
		h = 0
	}
	return h
}

// telemetry is the report of the unit's current fix.
func (m *mover) telemetry(unit string, seq uint64, now time.Time) protocol.Telemetry {
	// Rounded like a GPS receiver's output (1e-6° is about 0.1 m); dividing
	// by the inverse gives the float nearest the decimal, so JSON stays short.
	round := func(x, perUnit float64) float64 { return math.Round(x*perUnit) / perUnit }
	acc := round(m.accM, 10)
	speed := round(m.speed, 100)
	heading := normHeading(round(m.heading, 10))
	battery := round(m.battery, 1000)
	return protocol.Telemetry{Unit: unit, Seq: seq, TS: now.UnixMilli(),
		Lat: round(m.lat, 1e6), Lon: round(m.lon, 1e6), Status: m.status(),
		AccM: &acc, SpeedMPS: &speed, HeadingDeg: &heading, Battery: &battery}
}
