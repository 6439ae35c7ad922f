package gps

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"testing"
	"time"
)

// seconds turns float seconds into a Duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// northEast is where (lat, lon) lies from (lat0, lon0), in metres.
func northEast(lat0, lon0, lat, lon float64) (n, e float64) {
	return (lat - lat0) * metresPerDegree, (lon - lon0) * metresPerDegree * math.Cos(lat0*math.Pi/180)
}

// angleDiff is the smaller angle between two headings, in degrees.
func angleDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	return math.Min(d, 360-d)
}

// The patrol goes clockwise round the circle east of its start, north first,
// then stands at the start for the stop, then goes round again.
func TestCircleAt(t *testing.T) {
	const lat0, lon0 = 28.1941, 112.9823
	def := Circle{Lat: lat0, Lon: lon0}
	lap := 2 * math.Pi * DefaultPatrolRadiusM / DefaultPatrolSpeedMPS
	stop := DefaultPatrolStop.Seconds()
	small := Circle{Lat: lat0, Lon: lon0, RadiusM: 100, SpeedMPS: 10, Stop: -1}
	smallLap := 2 * math.Pi * 100 / 10
	for _, c := range []struct {
		name           string
		circle         Circle
		elapsed        time.Duration
		n, e           float64 // metres from the start
		speed, heading float64
	}{
		{"start", def, 0, 0, 0, 8, 0},
		{"before the start", def, -5 * time.Second, 0, 0, 8, 0},
		{"a quarter lap: north", def, seconds(lap / 4), 400, 400, 8, 90},
		{"half a lap: east", def, seconds(lap / 2), 0, 800, 8, 180},
		{"three quarters: south", def, seconds(3 * lap / 4), -400, 400, 8, 270},
		{"the lap done: standing at the start", def, seconds(lap + 1), 0, 0, 0, 0},
		{"the end of the stop", def, seconds(lap + stop - 0.001), 0, 0, 0, 0},
		{"the next lap", def, seconds(lap + stop + lap/4), 400, 400, 8, 90},
		{"ten laps on", def, seconds(10*(lap+stop) + lap/2), 0, 800, 8, 180},
		{"no stop: half a lap", small, seconds(smallLap / 2), 0, 200, 10, 180},
		{"no stop: the next lap at once", small, seconds(smallLap + smallLap/4), 100, 100, 10, 90},
	} {
		t.Run(c.name, func(t *testing.T) {
			lat, lon, speed, heading := c.circle.At(c.elapsed)
			n, e := northEast(lat0, lon0, lat, lon)
			if math.Abs(n-c.n) > 0.01 || math.Abs(e-c.e) > 0.01 {
				t.Errorf("at %v: %.3f m north, %.3f m east; want %v, %v", c.elapsed, n, e, c.n, c.e)
			}
			if speed != c.speed || angleDiff(heading, c.heading) > 1e-6 || heading < 0 || heading >= 360 {
				t.Errorf("at %v: %v m/s heading %v; want %v m/s heading %v", c.elapsed, speed, heading, c.speed, c.heading)
			}
		})
	}
}

// The heading is where the patrol goes next, all the way round.
func TestCircleHeading(t *testing.T) {
	c := Circle{Lat: 28.1941, Lon: 112.9823}
	for el := time.Duration(0); el < 314*time.Second; el += 7 * time.Second {
		lat, lon, _, heading := c.At(el)
		lat2, lon2, _, _ := c.At(el + 100*time.Millisecond)
		n, e := northEast(lat, lon, lat2, lon2)
		bearing := math.Mod(math.Atan2(e, n)*180/math.Pi+360, 360)
		if angleDiff(bearing, heading) > 0.5 {
			t.Errorf("at %v: heading %.2f, travelling %.2f", el, heading, bearing)
		}
	}
}

// A Patrol moves itself round the circle, every Interval, until Close; so
// does the "sim" source with Options.Patrol, which also applies the quality
// bound. Without Options.Patrol, "sim" is a Sim the caller moves.
func TestPatrol(t *testing.T) {
	const lat0, lon0, radius = 28.1941, 112.9823, 50.0
	circle := Circle{Lat: lat0, Lon: lon0, RadiusM: radius, SpeedMPS: 500, Stop: -1} // a lap in 0.63 s
	cfg := SimConfig{Interval: 5 * time.Millisecond, NoiseM: -1}
	for _, c := range []struct {
		name string
		open func() (Source, error)
	}{
		{"NewPatrol", func() (Source, error) { return NewPatrol(circle, cfg), nil }},
		{"Open sim with Options.Patrol", func() (Source, error) {
			return Open("sim", Options{Sim: cfg, Patrol: &circle})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := src.(*Patrol); !ok {
				t.Fatalf("%T, want a *Patrol", src)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var moving int
			var minE, maxE float64
			for i := range 40 {
				f, err := src.Next(ctx)
				if err != nil {
					t.Fatalf("fix %d: %v", i, err)
				}
				n, e := northEast(lat0, lon0, f.Lat, f.Lon)
				if d := math.Hypot(n, e-radius); math.Abs(d-radius) > 0.1 {
					t.Errorf("fix %d %.2f m from the centre, off the %v m circle", i, d, radius)
				}
				if f.SpeedMPS > 0 {
					moving++
				}
				minE, maxE = min(minE, e), max(maxE, e)
			}
			if moving == 0 || maxE-minE < radius {
				t.Errorf("the patrol did not go round: %d fixes moving, %.1f m east to west", moving, maxE-minE)
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := src.Next(ctx); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Next after Close: %v", err)
			}
			if err := src.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}

	// The Sim's fixes have 10 satellites.
	strict, err := Open("sim", Options{Sim: cfg, Patrol: &circle, Quality: Quality{MinSats: 11}})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if f, err := strict.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with 11 satellites required: %+v, %v; want no fix", f, err)
	}
	if st := strict.Stats(); st.Poor == 0 || st.Fixes != 0 {
		t.Errorf("stats %+v", st)
	}

	src, err := Open("sim", Options{Sim: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, ok := src.(*Sim); !ok {
		t.Errorf("sim without Options.Patrol: %T, want a *Sim", src)
	}
}
