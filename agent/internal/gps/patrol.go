package gps

import (
	"math"
	"sync"
	"time"
)

// Circle is a simulated unit's patrol: round a circle at a car's patrol speed
// and a minute's stop after every lap, so that moving, turning and standing
// all show up in its reports. The unit starts at (Lat, Lon), the circle's
// westernmost point, and goes clockwise (north first); the circle's centre
// is RadiusM east of the start.
type Circle struct {
	Lat, Lon float64
	RadiusM  float64       // default 400
	SpeedMPS float64       // default 8
	Stop     time.Duration // the stop after each lap; default 1 min; negative: none
}

// The patrol's defaults.
const (
	DefaultPatrolRadiusM  = 400.0
	DefaultPatrolSpeedMPS = 8.0
	DefaultPatrolStop     = time.Minute
)

func (c Circle) withDefaults() Circle {
	if c.RadiusM <= 0 {
		c.RadiusM = DefaultPatrolRadiusM
	}
	if c.SpeedMPS <= 0 {
		c.SpeedMPS = DefaultPatrolSpeedMPS
	}
	if c.Stop == 0 {
		c.Stop = DefaultPatrolStop
	}
	c.Stop = max(c.Stop, 0)
	return c
}

// At is where the patrol is elapsed after its start, how fast it moves and
// where it heads (degrees clockwise from north).
func (c Circle) At(elapsed time.Duration) (lat, lon, speedMPS, headingDeg float64) {
	c = c.withDefaults()
	lap := 2 * math.Pi * c.RadiusM / c.SpeedMPS // seconds
	el := math.Mod(max(elapsed.Seconds(), 0), lap+c.Stop.Seconds())
	speed := c.SpeedMPS
	if el >= lap {
		el, speed = lap, 0 // standing at the start after the lap
	}
	θ := el / lap * 2 * math.Pi // clockwise from the start
	n, e := c.RadiusM*math.Sin(θ), c.RadiusM*(1-math.Cos(θ))
	lat, lon = offset(c.Lat, c.Lon, n, e)
	return lat, lon, speed, normHeading(θ * 180 / math.Pi)
}

// Patrol is a Sim that drives itself round a Circle, moved every Interval of
// its clock, until it is closed: the "sim" source of an agent that no
// simulator drives (agent -gps sim). Until the first move it stands at the
// start.
type Patrol struct {
	*Sim
	circle Circle
	wg     sync.WaitGroup
}

var _ Source = (*Patrol)(nil)

// NewPatrol starts a simulated receiver on patrol round c.
func NewPatrol(c Circle, cfg SimConfig) *Patrol { return startPatrol(NewSim(cfg), c) }

func startPatrol(s *Sim, c Circle) *Patrol {
	p := &Patrol{Sim: s, circle: c.withDefaults()}
	p.Set(p.circle.Lat, p.circle.Lon, 0, 0)
	p.wg.Go(p.drive)
	return p
}

func (p *Patrol) drive() {
	start := p.cfg.Now()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.Set(p.circle.At(p.cfg.Now().Sub(start)))
		}
	}
}

// Close ends the patrol and the Sim: Next returns an error matching
// fs.ErrClosed.
func (p *Patrol) Close() error {
	err := p.Sim.Close()
	p.wg.Wait()
	return err
}
