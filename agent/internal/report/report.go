// Package report is the agent's adaptive reporting policy: which GPS fixes
// become position reports. A dispatcher routing units to an incident needs a
// 1 Hz trace of the units responding; for the rest of the fleet a report every
// few seconds (moving) to every minute (standing) shows the same picture for
// a fraction of the battery and the mobile data. Besides the intervals, a fix
// is reported at once when it changes what the map shows: a new status, a
// turn, or a jump in place.
//
// The policy is pure: it sees only the fixes and the status it is given and
// keeps no clock of its own, so it is tested fix by fix. Time is the fixes'
// GPS time, so a replayed log is thinned as it would have been live.
package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/protocol"
)

// Config holds the policy's bounds. The hub changes them with a config
// command (see Apply and Keys).
type Config struct {
	Dispatched time.Duration // interval while the unit has an assignment; 1 s
	Fast       time.Duration // interval above FastMPS; 1 s
	Moving     time.Duration // interval above MovingMPS; 5 s
	Patrol     time.Duration // interval above StationaryMPS (walking pace, creeping traffic); 10 s
	Stationary time.Duration // interval at or below StationaryMPS; 60 s

	FastMPS       float64 // 8 m/s ≈ 29 km/h: a vehicle in flowing traffic
	MovingMPS     float64 // 1 m/s: below a walking officer's pace
	StationaryMPS float64 // 0.3 m/s: a standing receiver's speed noise stays below it

	TurnDeg   float64 // report at once on a heading change beyond this while moving; 30°
	DistanceM float64 // report at once this far from the last report; 50 m
}

// DefaultConfig is the policy the agent starts with (agent/README.md says why).
func DefaultConfig() Config {
	return Config{
		Dispatched:    time.Second,
		Fast:          time.Second,
		Moving:        5 * time.Second,
		Patrol:        10 * time.Second,
		Stationary:    60 * time.Second,
		FastMPS:       8,
		MovingMPS:     1,
		StationaryMPS: 0.3,
		TurnDeg:       30,
		DistanceM:     50,
	}
}

// Bounds on the values Validate accepts.
const (
	// MinInterval is the shortest interval: 20 Hz is the fastest rate a
	// receiver usefully delivers.
	MinInterval = 50 * time.Millisecond
	// MaxInterval is the longest: a unit silent for longer looks lost.
	MaxInterval = time.Hour
	maxSpeed    = 100    // m/s; no patrol unit is faster
	maxDistance = 100000 // m
)

// Validate checks every bound; the error names the first key that is wrong.
func (c Config) Validate() error {
	for _, k := range keys {
		if k.dur != nil {
			d := *k.dur(&c)
			if d < MinInterval || d > MaxInterval {
				return fmt.Errorf("report: %s: %v is outside [%v, %v]", k.name, d, MinInterval, MaxInterval)
			}
			continue
		}
		v := *k.num(&c)
		if math.IsNaN(v) || v < k.min || v > k.max {
			return fmt.Errorf("report: %s: %v is outside [%v, %v]", k.name, v, k.min, k.max)
		}
	}
	if !(c.StationaryMPS < c.MovingMPS && c.MovingMPS < c.FastMPS) {
		return fmt.Errorf("report: speeds must rise: stationary_mps %v < moving_mps %v < fast_mps %v",
			c.StationaryMPS, c.MovingMPS, c.FastMPS)
	}
	return nil
}

// key is one parameter as the config command names it. Intervals are in
// seconds on the wire.
type key struct {
	name     string
	dur      func(*Config) *time.Duration
	num      func(*Config) *float64
	min, max float64
}

var keys = []key{
	{name: "dispatched_s", dur: func(c *Config) *time.Duration { return &c.Dispatched }},
	{name: "fast_s", dur: func(c *Config) *time.Duration { return &c.Fast }},
	{name: "moving_s", dur: func(c *Config) *time.Duration { return &c.Moving }},
	{name: "patrol_s", dur: func(c *Config) *time.Duration { return &c.Patrol }},
	{name: "stationary_s", dur: func(c *Config) *time.Duration { return &c.Stationary }},
	{name: "fast_mps", num: func(c *Config) *float64 { return &c.FastMPS }, min: 0, max: maxSpeed},
	{name: "moving_mps", num: func(c *Config) *float64 { return &c.MovingMPS }, min: 0, max: maxSpeed},
	{name: "stationary_mps", num: func(c *Config) *float64 { return &c.StationaryMPS }, min: 0, max: maxSpeed},
	{name: "turn_deg", num: func(c *Config) *float64 { return &c.TurnDeg }, min: 1, max: 180},
	{name: "distance_m", num: func(c *Config) *float64 { return &c.DistanceM }, min: 1, max: maxDistance},
}

// Keys lists the names a config command may set, in a fixed order.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Values returns c as a config command would set it (intervals in seconds).
func (c Config) Values() map[string]float64 {
	out := make(map[string]float64, len(keys))
	for _, k := range keys {
		if k.dur != nil {
			out[k.name] = k.dur(&c).Seconds()
		} else {
			out[k.name] = *k.num(&c)
		}
	}
	return out
}

// ErrInvalid marks a config command Apply refused.
var ErrInvalid = errors.New("report: invalid config")

// Apply returns c changed by a config command's values: intervals in seconds
// (*_s), speeds in m/s, the turn in degrees, the distance in metres. Keys it
// does not know are returned in unknown (sorted) and otherwise ignored, so a
// newer hub can talk to an older agent. If any value is out of bounds, or the
// result is inconsistent, nothing is applied: the error (matching ErrInvalid)
// says why and c is returned unchanged.
func (c Config) Apply(values map[string]float64) (_ Config, unknown []string, _ error) {
	out := c
	for name, v := range values {
		i := slices.IndexFunc(keys, func(k key) bool { return k.name == name })
		if i < 0 {
			unknown = append(unknown, name)
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return c, nil, fmt.Errorf("%w: %s: %v is not a finite number", ErrInvalid, name, v)
		}
		k := keys[i]
		if k.dur != nil {
			if v > MaxInterval.Seconds() {
				return c, nil, fmt.Errorf("%w: %s: %v s is longer than %v", ErrInvalid, name, v, MaxInterval)
			}
			*k.dur(&out) = time.Duration(v * float64(time.Second))
		} else {
			*k.num(&out) = v
		}
	}
	slices.Sort(unknown)
	if err := out.Validate(); err != nil {
		return c, unknown, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "report: "))
	}
	return out, unknown, nil
}

// Mode is the kind of movement a fix shows, which sets its interval.
type Mode int

// The modes, slowest first.
const (
	Stationary Mode = iota
	Patrol
	Moving
	Fast
	Dispatched
)

func (m Mode) String() string {
	switch m {
	case Stationary:
		return "stationary"
	case Patrol:
		return "patrol"
	case Moving:
		return "moving"
	case Fast:
		return "fast"
	case Dispatched:
		return "dispatched"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Reason says why Decide reported a fix (or Skip when it did not).
type Reason string

// Decide's reasons.
const (
	Skip     Reason = ""
	First    Reason = "first"    // nothing reported yet
	Status   Reason = "status"   // the status changed since the last report
	Distance Reason = "distance" // DistanceM or more from the last report
	Turn     Reason = "turn"     // the heading turned beyond TurnDeg while moving
	Interval Reason = "interval" // the mode's interval has passed
	Clock    Reason = "clock"    // the fix is older than the last report: the receiver's clock jumped
)

// Policy decides fix by fix. It is not safe for concurrent use.
type Policy struct {
	cfg  Config
	last struct {
		ok         bool
		at         time.Time
		lat, lon   float64
		heading    float64
		hasHeading bool
		status     protocol.Status
	}
	prev struct { // the previous fix seen, for a speed when the receiver gives none
		ok       bool
		at       time.Time
		lat, lon float64
	}
}

// New returns a policy with cfg; an invalid cfg is replaced by DefaultConfig.
func New(cfg Config) *Policy {
	if cfg.Validate() != nil {
		cfg = DefaultConfig()
	}
	return &Policy{cfg: cfg}
}

// Config returns the policy's bounds.
func (p *Policy) Config() Config { return p.cfg }

// SetConfig changes the bounds from the next fix on.
func (p *Policy) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.cfg = cfg
	return nil
}

// Decide reports whether fix should be reported now, given the unit's status
// and whether it has an assignment (dispatched, en route or on scene); a fix
// it reports becomes the last report the next decisions are measured from.
// now stands in for the fix's time when the fix has none.
func (p *Policy) Decide(now time.Time, fix gps.Fix, status protocol.Status, dispatched bool) bool {
	return p.Explain(now, fix, status, dispatched) != Skip
}

// Explain is Decide, saying why.
func (p *Policy) Explain(now time.Time, fix gps.Fix, status protocol.Status, dispatched bool) Reason {
	at := fix.Time
	if at.IsZero() {
		at = now
	}
	speed, hasSpeed := fix.SpeedMPS, fix.HasMotion
	if !hasSpeed && p.prev.ok {
		if dt := at.Sub(p.prev.at).Seconds(); dt > 0 && dt <= 30 {
			speed, hasSpeed = protocol.Haversine(p.prev.lat, p.prev.lon, fix.Lat, fix.Lon)/dt, true
		}
	}
	p.prev.ok, p.prev.at, p.prev.lat, p.prev.lon = true, at, fix.Lat, fix.Lon

	mode := p.mode(speed, dispatched)
	r := p.reason(at, fix, status, mode, speed)
	if r == Skip {
		return Skip
	}
	l := &p.last
	l.ok, l.at, l.lat, l.lon, l.status = true, at, fix.Lat, fix.Lon, status
	// A heading means something only while moving; a standing receiver's
	// course is noise and must not be the reference for the next turn.
	l.hasHeading = fix.HasMotion && speed > p.cfg.MovingMPS
	l.heading = fix.HeadingDeg
	return r
}

// Mode classifies a speed (m/s) as Decide does.
func (p *Policy) Mode(speedMPS float64, dispatched bool) Mode { return p.mode(speedMPS, dispatched) }

func (p *Policy) mode(speed float64, dispatched bool) Mode {
	switch {
	case dispatched:
		return Dispatched
	case speed > p.cfg.FastMPS:
		return Fast
	case speed > p.cfg.MovingMPS:
		return Moving
	case speed > p.cfg.StationaryMPS:
		return Patrol
	}
	return Stationary
}

// Interval is the reporting interval of a mode.
func (p *Policy) Interval(m Mode) time.Duration {
	switch m {
	case Dispatched:
		return p.cfg.Dispatched
	case Fast:
		return p.cfg.Fast
	case Moving:
		return p.cfg.Moving
	case Patrol:
		return p.cfg.Patrol
	}
	return p.cfg.Stationary
}

func (p *Policy) reason(at time.Time, fix gps.Fix, status protocol.Status, mode Mode, speed float64) Reason {
	l := &p.last
	switch {
	case !l.ok:
		return First
	case status != l.status:
		return Status
	case at.Before(l.at):
		return Clock
	case protocol.Haversine(l.lat, l.lon, fix.Lat, fix.Lon) >= p.cfg.DistanceM:
		return Distance
	case l.hasHeading && fix.HasMotion && speed > p.cfg.MovingMPS && turn(l.heading, fix.HeadingDeg) > p.cfg.TurnDeg:
		return Turn
	}
	// Receivers stamp fixes on a grid, but not exactly: a 1 s interval must
	// not skip a fix that came 999 ms after the last one. A tenth of the
	// interval (at most half a second) of slack keeps the grid.
	iv := p.Interval(mode)
	if at.Sub(l.at) >= iv-min(iv/10, 500*time.Millisecond) {
		return Interval
	}
	return Skip
}

// turn is the angle between two headings, 0…180°.
func turn(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	if d > 180 {
		d = 360 - d
	}
	return d
}
