package gps

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"testing"
	"time"

	"kuaifan/protocol"
)

var t0 = utc("2026-05-01T08:00:00Z")

// steppingClock advances by step at every reading: each Next finds a slot
// due, so statistics over thousands of fixes take no waiting. The Sim reads
// its clock under its own lock, so this needs none.
func steppingClock(step time.Duration) func() time.Time {
	now := t0
	return func() time.Time {
		now = now.Add(step)
		return now
	}
}

func TestSimInterval(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := NewSim(SimConfig{Now: clk.Now, NoiseM: -1, Seed: 1})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// No position yet: no fix.
	short, cancel2 := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel2()
	if _, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next before Set: %v, want DeadlineExceeded", err)
	}
	if st := s.Stats(); st.NoFix != 1 || st.Fixes != 0 {
		t.Errorf("stats before Set: %+v", st)
	}

	clk.advance(time.Second)
	s.Set(28.2282, 112.9388, 5, 450)
	f, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Fix{Time: t0.Add(time.Second), Lat: 28.2282, Lon: 112.9388, SpeedMPS: 5, HeadingDeg: 90, HasMotion: true, Sats: 10, Mode: Mode3D}
	if f != want {
		t.Errorf("first fix\n got %+v\nwant %+v", f, want)
	}

	// The next fix is due a second later on the simulation's clock: Next
	// waits for it, and the simulation's next step releases it.
	got := make(chan Fix, 1)
	go func() {
		f, err := s.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	select {
	case f := <-got:
		t.Fatalf("a fix before it was due: %+v", f)
	case <-time.After(5 * time.Millisecond):
	}
	s.Set(28.2283, 112.9388, 5, 0) // the simulation moves the unit,
	clk.advance(time.Second)       // then its clock,
	s.poke()                       // and wakes the Sim, as its next Set would
	if f := <-got; !f.Time.Equal(t0.Add(2*time.Second)) || f.Lat != 28.2283 {
		t.Errorf("second fix %+v", f)
	}

	// A reader that fell behind gets the latest slot, not a backlog.
	clk.advance(2500 * time.Millisecond)
	if f, _ := s.Next(ctx); !f.Time.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("after falling behind: fix at %v, want %v", f.Time, t0.Add(4*time.Second))
	}
	clk.advance(500 * time.Millisecond)
	if f, _ := s.Next(ctx); !f.Time.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("back on the grid: fix at %v, want %v", f.Time, t0.Add(5*time.Second))
	}
	if st := s.Stats(); st.Fixes != 4 || st.NoFix != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSimIntervalSetting(t *testing.T) {
	s := NewSim(SimConfig{Now: steppingClock(500 * time.Millisecond), Interval: 500 * time.Millisecond, NoiseM: -1})
	defer s.Close()
	s.Set(1, 2, 0, 0)
	var times []time.Time
	for range 4 {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, f.Time)
	}
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d != 500*time.Millisecond {
			t.Errorf("fixes %d and %d are %v apart, want 500ms", i-1, i, d)
		}
	}
}

// The noise is gaussian with σ NoiseM per axis, so the distance from the
// true position is Rayleigh-distributed with mean σ·√(π/2).
func TestSimNoise(t *testing.T) {
	const n = 5000
	lat, lon := 28.2282, 112.9388
	for _, sigma := range []float64{3, 10} {
		cfg := SimConfig{Now: steppingClock(time.Second), Seed: 42}
		if sigma != 3 {
			cfg.NoiseM = sigma // 3 is the default
		}
		s := NewSim(cfg)
		s.Set(lat, lon, 0, 0)
		var sum, sumN, sumE, sumN2, sumE2 float64
		q := Quality{MaxHDOP: -1, MaxAccM: -1}
		s.q = q.withDefaults()
		for range n {
			f, err := s.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if f.AccM != sigma {
				t.Fatalf("AccM %v, want σ %v", f.AccM, sigma)
			}
			sum += protocol.Haversine(lat, lon, f.Lat, f.Lon)
			north := protocol.Haversine(lat, lon, f.Lat, lon) * math.Copysign(1, f.Lat-lat)
			east := protocol.Haversine(lat, lon, lat, f.Lon) * math.Copysign(1, f.Lon-lon)
			sumN, sumE, sumN2, sumE2 = sumN+north, sumE+east, sumN2+north*north, sumE2+east*east
		}
		s.Close()
		mean, want := sum/n, sigma*math.Sqrt(math.Pi/2)
		// The mean of n Rayleigh draws has a standard error of
		// σ·√((4-π)/2)/√n ≈ 0.0093σ; allow four of them.
		if tol := 4 * sigma * math.Sqrt((4-math.Pi)/2) / math.Sqrt(n); math.Abs(mean-want) > tol {
			t.Errorf("σ %v: mean error %.3f m, want %.3f ± %.3f", sigma, mean, want, tol)
		}
		for axis, v := range map[string][2]float64{"north": {sumN, sumN2}, "east": {sumE, sumE2}} {
			m := v[0] / n
			sd := math.Sqrt(v[1]/n - m*m)
			if math.Abs(m) > 4*sigma/math.Sqrt(n) || math.Abs(sd-sigma) > 0.05*sigma {
				t.Errorf("σ %v: %s offsets have mean %.3f, sd %.3f", sigma, axis, m, sd)
			}
		}
	}

	// The same seed gives the same noise: simulations are repeatable.
	a := NewSim(SimConfig{Now: steppingClock(time.Second), Seed: 7})
	b := NewSim(SimConfig{Now: steppingClock(time.Second), Seed: 7})
	defer a.Close()
	defer b.Close()
	a.Set(lat, lon, 0, 0)
	b.Set(lat, lon, 0, 0)
	for range 10 {
		fa, _ := a.Next(context.Background())
		fb, _ := b.Next(context.Background())
		if fa != fb {
			t.Fatalf("same seed, different fixes: %+v, %+v", fa, fb)
		}
	}
}

func TestSimNoFix(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := NewSim(SimConfig{Now: clk.Now, NoiseM: -1})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Set(28.2282, 112.9388, 10, 0)
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	// Into the tunnel: slots go by without fixes.
	s.SetNoFix(true)
	clk.advance(3 * time.Second)
	short, cancel2 := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel2()
	if f, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next in the tunnel: %+v, %v", f, err)
	}
	if st := s.Stats(); st.NoFix != 1 || st.Fixes != 1 {
		t.Errorf("stats in the tunnel: %+v", st)
	}
	// Out of it: fixes again, on the grid.
	s.SetNoFix(false)
	got := make(chan Fix, 1)
	go func() {
		f, _ := s.Next(ctx)
		got <- f
	}()
	clk.advance(time.Second)
	s.poke()
	if f := <-got; !f.Time.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("after the tunnel: fix at %v, want %v", f.Time, t0.Add(4*time.Second))
	}
}

func TestSimJump(t *testing.T) {
	s := NewSim(SimConfig{Now: steppingClock(time.Second), NoiseM: -1})
	defer s.Close()
	lat, lon := 28.2282, 112.9388
	s.Set(lat, lon, 0, 0)
	s.Jump(100, -50) // 100 m north, 50 m west
	f, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	north := protocol.Haversine(lat, lon, f.Lat, lon)
	west := protocol.Haversine(lat, lon, lat, f.Lon)
	if f.Lat < lat || f.Lon > lon || math.Abs(north-100) > 0.01 || math.Abs(west-50) > 0.01 {
		t.Errorf("jumped fix %.7f,%.7f is %.2f m north, %.2f m west; want 100 north, 50 west", f.Lat, f.Lon, north, west)
	}
	// The jump is for one fix only.
	f, _ = s.Next(context.Background())
	if f.Lat != lat || f.Lon != lon {
		t.Errorf("fix after the jump at %v,%v, want the true %v,%v", f.Lat, f.Lon, lat, lon)
	}
}

func TestSimQuality(t *testing.T) {
	// σ 60 m: AccM 60 and HDOP 12, past the default bounds.
	src, err := Open("sim", Options{Sim: SimConfig{Now: steppingClock(time.Second), NoiseM: 60}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.(*Sim).Set(28.2282, 112.9388, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next: %v, want no fix good enough", err)
	}
	if st := src.Stats(); st.Poor == 0 || st.Fixes != 0 {
		t.Errorf("stats %+v", st)
	}

	src2, err := Open("sim", Options{Sim: SimConfig{Now: steppingClock(time.Second), NoiseM: 60},
		Quality: Quality{MaxHDOP: 15, MaxAccM: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	src2.(*Sim).Set(28.2282, 112.9388, 0, 0)
	if f, err := src2.Next(context.Background()); err != nil || f.HDOP != 12 || f.AccM != 60 {
		t.Errorf("relaxed bounds: %+v, %v", f, err)
	}
}

func TestSimClose(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := NewSim(SimConfig{Now: clk.Now})
	s.Set(1, 2, 0, 0)
	if _, err := s.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background()) // waits a (real) second for the next slot
		errc <- err
	}()
	time.Sleep(5 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Next across Close: %v", err)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("Close did not end Next's wait")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The simulator moves the Sim from its own goroutine while the agent reads
// it, on the real clock.
func TestSimConcurrent(t *testing.T) {
	s := NewSim(SimConfig{Interval: 2 * time.Millisecond})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	moved := make(chan struct{})
	go func() {
		defer close(moved)
		for i := 0; ctx.Err() == nil; i++ {
			s.Set(28.2282+float64(i)*1e-6, 112.9388, 5, 90)
			if i%50 == 0 {
				s.Jump(10, 0)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var prev time.Time
	for range 20 {
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !prev.IsZero() && f.Time.Sub(prev) < 2*time.Millisecond {
			t.Errorf("fixes %v apart", f.Time.Sub(prev))
		}
		prev = f.Time
	}
	cancel()
	<-moved
}
