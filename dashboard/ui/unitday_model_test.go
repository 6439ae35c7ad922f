package ui

import (
	"math"
	"testing"
	"time"

	"kuaifan/protocol/api"
)

// northM is a place dm metres north of 28.19, 112.98.
func northM(dm float64) (lat, lon float64) { return 28.19 + dm/111_195, 112.98 }

// pointsAt makes a track: each step is (seconds since the last point,
// metres north since the last point).
func pointsAt(steps ...[2]float64) []api.TrackPoint {
	var pts []api.TrackPoint
	ts, d := int64(1_796_000_000_000), 0.0
	for _, s := range steps {
		ts += int64(s[0] * 1000)
		d += s[1]
		lat, lon := northM(d)
		pts = append(pts, api.TrackPoint{TS: ts, Lat: lat, Lon: lon})
	}
	return pts
}

// still is n points every `every` seconds, wobbling by wob metres.
func still(n int, every, wob float64) [][2]float64 {
	out := make([][2]float64, n)
	for i := range out {
		w := wob
		if i%2 == 1 {
			w = -wob
		}
		out[i] = [2]float64{every, w}
	}
	return out
}

func drive(n int, every, metres float64) [][2]float64 {
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{every, metres}
	}
	return out
}

func join(parts ...[][2]float64) [][2]float64 {
	var out [][2]float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestFindStops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps [][2]float64
		want  []time.Duration // each stop's duration
	}{
		{"empty", nil, nil},
		{"always moving", drive(100, 10, 100), nil},
		{"parked 5 min with GPS noise", join(drive(10, 10, 100), still(31, 10, 20), drive(10, 10, 100)), []time.Duration{5*time.Minute + 10*time.Second}},
		{"2 min is not a stop", join(drive(5, 10, 100), still(12, 10, 5), drive(5, 10, 100)), nil},
		{"exactly 3 min is", join(drive(5, 10, 100), still(18, 10, 5), drive(5, 10, 100)), []time.Duration{3 * time.Minute}},
		{"crawling at 60 m a minute is not", drive(40, 10, 10), nil},
		{"two stops", join(still(20, 10, 0), drive(5, 10, 200), still(40, 10, 10)), []time.Duration{190 * time.Second, 400 * time.Second}},
		{"a silence splits it", join(still(10, 10, 0), [][2]float64{{600, 0}}, still(10, 10, 0)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stops := FindStops(pointsAt(tc.steps...), StopRadiusM, StopMin)
			if len(stops) != len(tc.want) {
				t.Fatalf("%d stops %+v, want %d", len(stops), stops, len(tc.want))
			}
			for i, s := range stops {
				if s.Duration() != tc.want[i] {
					t.Errorf("stop %d lasts %v, want %v", i, s.Duration(), tc.want[i])
				}
				if s.First > s.Last || s.Start > s.End {
					t.Errorf("stop %d: %+v", i, s)
				}
			}
		})
	}
}

func TestSpeedClass(t *testing.T) {
	for _, tc := range []struct {
		kmh  float64
		want int
	}{{0, 0}, {9.99, 0}, {10, 1}, {29, 1}, {30, 2}, {59.9, 2}, {60, 3}, {140, 3}} {
		if got := SpeedClass(tc.kmh); got != tc.want {
			t.Errorf("SpeedClass(%v) = %d, want %d", tc.kmh, got, tc.want)
		}
	}
}

func TestSegmentSpeed(t *testing.T) {
	pts := pointsAt([2]float64{0, 0}, [2]float64{10, 100})
	if v := SegmentSpeed(&pts[0], &pts[1]); math.Abs(v-10) > 0.05 {
		t.Errorf("100 m in 10 s: %.2f m/s", v)
	}
	pts[1].SpeedMPS = fp(3)
	if v := SegmentSpeed(&pts[0], &pts[1]); v != 3 {
		t.Errorf("the unit's own speed: %.2f m/s, want 3", v)
	}
	pts[1].SpeedMPS, pts[1].TS = nil, pts[0].TS
	if v := SegmentSpeed(&pts[0], &pts[1]); v != -1 {
		t.Errorf("no time: %.2f, want -1", v)
	}
}

func TestSummariseDay(t *testing.T) {
	// 1 km at 36 km/h, parked 5 min, 2 km at 72 km/h, off the air 10 min,
	// 100 m at 6 km/h.
	steps := join([][2]float64{{0, 0}}, drive(10, 10, 100), still(30, 10, 0), drive(20, 5, 100), [][2]float64{{600, 0}}, drive(1, 60, 100))
	s := SummariseDay(pointsAt(steps...))
	if len(s.Stops) != 1 {
		t.Fatalf("%d stops", len(s.Stops))
	}
	if math.Abs(s.DistanceM-3100) > 5 {
		t.Errorf("driven %.0f m, want 3100", s.DistanceM)
	}
	if want := 100*time.Second + 100*time.Second + 60*time.Second; s.Moving != want {
		t.Errorf("moving %v, want %v", s.Moving, want)
	}
	var classes []int
	for i, c := range s.Classes {
		classes = append(classes, c)
		if s.Paths[i].Colour != SpeedColours[c] || len(s.Paths[i].Pts) < 2 {
			t.Errorf("path %d: colour %d, %d points", i, s.Paths[i].Colour, len(s.Paths[i].Pts))
		}
	}
	// 36 km/h, then parked (class 0), then 72 km/h; after the gap 6 km/h.
	if want := []int{2, 0, 3, 0}; !sameAsg(classes, want) {
		t.Errorf("classes %v, want %v", classes, want)
	}
	if e := SummariseDay(nil); e.DistanceM != 0 || len(e.Paths) != 0 || len(e.Stops) != 0 {
		t.Errorf("an empty day: %+v", e)
	}
}

func TestDayBounds(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	from, to := DayBounds(time.Date(2026, 12, 7, 15, 4, 5, 0, loc))
	if want := time.Date(2026, 12, 7, 0, 0, 0, 0, loc).UnixMilli(); from != want || to-from != 24*3600*1000 {
		t.Errorf("DayBounds: %d..%d, want from %d, 24 h", from, to, want)
	}
}
