package gps

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// SimConfig configures a Sim.
type SimConfig struct {
	Interval time.Duration    // between fixes; default 1 s, a receiver's usual rate
	NoiseM   float64          // gaussian σ per axis in metres; default 3 (a good phone's fix); negative: no noise
	Seed     uint64           // noise seed; 0 picks a random one
	Now      func() time.Time // the simulation's clock; default time.Now
}

// Sim is a simulated receiver the simulator and tests drive: the simulation
// moves it with Set, it yields a noisy fix every Interval (on the Interval
// grid of its clock, from its first Next), and it can be told to lose the fix
// (SetNoFix) or to jump (Jump). Until the first Set it has no fix.
//
// When Now is not the real clock, Next still waits in real time for the next
// fix to fall due, but also wakes whenever Set, SetNoFix or Jump is called:
// a simulation that runs faster than real time moves its units every step,
// and that is what makes their fixes come out.
type Sim struct {
	cfg   SimConfig
	q     Quality
	stats counters
	wake  chan struct{} // a Set or Jump happened; buffered 1
	done  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	rng      *rand.Rand
	has      bool // Set was called
	lat, lon float64
	speed    float64
	heading  float64
	noFix    bool
	jumpN    float64
	jumpE    float64
	jump     bool
	next     time.Time // when the next fix is due; zero before the first Next
}

// metresPerDegree is the length of a degree of latitude on the mean sphere.
const metresPerDegree = 6371008.8 * math.Pi / 180

// NewSim makes a simulated receiver.
func NewSim(cfg SimConfig) *Sim {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.NoiseM == 0 {
		cfg.NoiseM = 3
	}
	if cfg.NoiseM < 0 {
		cfg.NoiseM = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Sim{
		cfg:  cfg,
		q:    Quality{}.withDefaults(),
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// Set places the receiver's true position now.
func (s *Sim) Set(lat, lon, speedMPS, headingDeg float64) {
	s.mu.Lock()
	s.has, s.lat, s.lon, s.speed, s.heading = true, lat, lon, speedMPS, headingDeg
	s.mu.Unlock()
	s.poke()
}

// SetNoFix loses the fix (a tunnel, an underground car park) until called
// with false.
func (s *Sim) SetNoFix(lost bool) {
	s.mu.Lock()
	s.noFix = lost
	s.mu.Unlock()
	s.poke()
}

// Jump displaces the next fix only, by dLatM metres north and dLonM metres
// east: a multipath jump among tall buildings.
func (s *Sim) Jump(dLatM, dLonM float64) {
	s.mu.Lock()
	s.jumpN, s.jumpE, s.jump = dLatM, dLonM, true
	s.mu.Unlock()
	s.poke()
}

func (s *Sim) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next waits for the next fix that is due and meets the quality bound.
func (s *Sim) Next(ctx context.Context) (Fix, error) {
	for {
		select {
		case <-s.done:
			return Fix{}, errClosed
		default:
		}
		// Checked on every slot: with a simulated clock that runs ahead, a
		// tunnel is many slots without a fix and no wait between them.
		if err := ctx.Err(); err != nil {
			return Fix{}, err
		}
		f, ok, wait := s.step()
		if ok {
			return f, nil
		}
		if wait <= 0 {
			continue // a slot went by without a fix: look at the next one
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.wake:
		case <-ctx.Done():
			t.Stop()
			return Fix{}, ctx.Err()
		case <-s.done:
			t.Stop()
			return Fix{}, errClosed
		}
		t.Stop()
	}
}

// step takes the fix now due, if one is; otherwise it says how long until
// one is. A slot that yields no fix (no fix, a poor one) reports wait 0.
func (s *Sim) step() (Fix, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.next.IsZero() {
		s.next = now
	}
	if now.Before(s.next) {
		return Fix{}, false, s.next.Sub(now)
	}
	// The latest slot on the grid that is due: a reader that fell behind gets
	// the position now, not a backlog.
	k := now.Sub(s.next) / s.cfg.Interval
	slot := s.next.Add(k * s.cfg.Interval)
	s.next = slot.Add(s.cfg.Interval)
	if !s.has || s.noFix {
		s.stats.noFix.Add(1)
		return Fix{}, false, 0
	}
	dn := s.rng.NormFloat64() * s.cfg.NoiseM
	de := s.rng.NormFloat64() * s.cfg.NoiseM
	if s.jump {
		dn, de = dn+s.jumpN, de+s.jumpE
		s.jump = false
	}
	lat, lon := offset(s.lat, s.lon, dn, de)
	f := Fix{
		Time:       slot.UTC(),
		Lat:        lat,
		Lon:        lon,
		AccM:       s.cfg.NoiseM,
		HDOP:       s.cfg.NoiseM / uere(1), // what a receiver would report for this σ
		Sats:       10,
		Mode:       Mode3D,
		SpeedMPS:   math.Max(s.speed, 0),
		HeadingDeg: normHeading(s.heading),
		HasMotion:  finite(s.speed) && finite(s.heading),
	}
	if !f.HasMotion {
		f.SpeedMPS, f.HeadingDeg = 0, 0
	}
	if !validFix(f) || !s.q.meets(f) {
		s.stats.poor.Add(1)
		return Fix{}, false, 0
	}
	s.stats.fixes.Add(1)
	return f, true, 0
}

// offset moves (lat, lon) by n metres north and e metres east (flat earth:
// the distances are a receiver's errors, metres to a few hundred).
func offset(lat, lon, n, e float64) (float64, float64) {
	lat2 := lat + n/metresPerDegree
	c := math.Max(math.Cos(lat*math.Pi/180), 1e-6)
	lon2 := lon + e/(metresPerDegree*c)
	lat2 = math.Max(-90, math.Min(90, lat2))
	if lon2 > 180 || lon2 < -180 {
		lon2 = math.Mod(lon2+540, 360) - 180
	}
	return lat2, lon2
}

// Stats counts the Sim's slots: fixes, no-fix and poor ones.
func (s *Sim) Stats() Stats { return s.stats.snapshot() }

// Close ends the Sim: Next returns an error matching fs.ErrClosed.
func (s *Sim) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

var _ Source = (*Sim)(nil)
