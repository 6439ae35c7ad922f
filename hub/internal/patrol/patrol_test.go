package patrol

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	wire "kuaifan/protocol/patrol"
)

// The hand-made tracks below play out on testdata/plan.json, on Sunday
// 2026-12-06 in Changsha (UTC+8, no daylight saving).
var cst = time.FixedZone("CST", 8*3600)

func at(day, h, m, s int) time.Time { return time.Date(2026, 12, day, h, m, s, 0, cst) }

func testPlan(t testing.TB) *wire.Plan {
	t.Helper()
	data, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// moved is the position northM metres north and eastM east of lat, lon.
func moved(lat, lon, northM, eastM float64) (float64, float64) {
	return lat + northM/metresPerDegree, lon + eastM/(metresPerDegree*math.Cos(lat*math.Pi/180))
}

// walk writes a track: fixes every step (10 s unless changed) at the
// current place, from the current time on.
type walk struct {
	t        time.Time
	step     time.Duration
	lat, lon float64
	fixes    []Fix
}

func startAt(t time.Time, lat, lon float64) *walk {
	return &walk{t: t, step: 10 * time.Second, lat: lat, lon: lon}
}

// until stays at the current place, a fix a step, until end (exclusive).
func (w *walk) until(end time.Time) *walk {
	for w.t.Before(end) {
		w.fixes = append(w.fixes, Fix{TS: w.t.UnixMilli(), Lat: w.lat, Lon: w.lon})
		w.t = w.t.Add(w.step)
	}
	return w
}

// jump moves at once: the next fix is there.
func (w *walk) jump(lat, lon float64) *walk { w.lat, w.lon = lat, lon; return w }

// every changes the interval between fixes.
func (w *walk) every(d time.Duration) *walk { w.step = d; return w }

// pause leaves the device off for two minutes, so that a jump after it
// is not a segment of track (real units do not teleport).
func (w *walk) pause() *walk { w.t = w.t.Add(2 * time.Minute); return w }

// off leaves the device off until end: no fixes.
func (w *walk) off(end time.Time) *walk { w.t = end; return w }

// drive goes to lat, lon at mps metres per second, a fix a step on the
// way; the next fix is at the destination.
func (w *walk) drive(lat, lon, mps float64) *walk {
	dur := protocol.Haversine(w.lat, w.lon, lat, lon) / mps
	lat0, lon0 := w.lat, w.lon
	for el := 0.0; el < dur; el += w.step.Seconds() {
		f := el / dur
		w.fixes = append(w.fixes, Fix{TS: w.t.UnixMilli(), Lat: lat0 + f*(lat-lat0), Lon: lon0 + f*(lon-lon0)})
		w.t = w.t.Add(w.step)
	}
	return w.jump(lat, lon)
}

// Places of testdata/plan.json.
const (
	cpLat, cpLon     = 28.2, 112.97    // cp-1, cp-night
	passLat, passLon = 28.21, 112.97   // cp-pass
	routeLat         = 28.205          // r-1, from 112.97 to 112.99 E
	sqLat, sqLon     = 28.185, 112.975 // the centre of a-1 and a-night
	awayLat, awayLon = 28.195, 112.96  // near nothing
)

func dayUnits() []Unit {
	awayEastLat, awayEastLon := moved(cpLat, cpLon, 0, 300)
	w := map[string]*walk{}
	// car-1 holds cp-1 from 09:20 to 09:35, walks past cp-pass at 12:00,
	// drives all of r-1 20 m north of it at 14:00.
	n20 := routeLat + 20/metresPerDegree
	w["car-1"] = startAt(at(6, 7, 58, 0), awayLat, awayLon).until(at(6, 9, 20, 0)).
		jump(cpLat, cpLon).until(at(6, 9, 35, 0)).
		jump(awayLat, awayLon).until(at(6, 12, 0, 0)).
		jump(moved(passLat, passLon, -200, 0)).drive(passLat+200/metresPerDegree, passLon, 2).
		jump(awayLat, awayLon).until(at(6, 14, 0, 0)).
		jump(n20, 112.969).drive(n20, 112.991, 14).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// car-2 skips cp-1 (300 m east of it all morning), never passes
	// cp-pass, drives half of r-1 and turns north at 11:00.
	w["car-2"] = startAt(at(6, 8, 0, 0), awayEastLat, awayEastLon).until(at(6, 11, 0, 0)).
		jump(routeLat, 112.97).drive(routeLat, 112.98, 10).drive(routeLat+0.01, 112.98, 10).
		until(at(6, 20, 0, 0))
	// car-3 holds cp-1 late, from 10:05 to 10:25; drives r-1 50 m north
	// of it (outside the buffer) at 13:00.
	n50 := routeLat + 50/metresPerDegree
	w["car-3"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 10, 5, 0)).
		jump(cpLat, cpLon).until(at(6, 10, 25, 0)).
		jump(awayLat, awayLon).until(at(6, 13, 0, 0)).
		jump(n50, 112.969).drive(n50, 112.991, 10).
		pause().jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// car-4 arrives at 09:55 and stays to 10:20: 5 minutes of the window.
	w["car-4"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 9, 55, 0)).
		jump(cpLat, cpLon).until(at(6, 10, 20, 0)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// car-5 stands at cp-1 from 09:10 to 09:30 reporting once a minute,
	// as a standing agent does.
	w["car-5"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 9, 10, 0)).
		jump(cpLat, cpLon).every(time.Minute).until(at(6, 9, 30, 0)).
		jump(awayLat, awayLon).every(10 * time.Second).until(at(6, 20, 0, 0))
	// car-6 is at cp-1 from 09:10, its device off from 09:16 to 09:21,
	// and leaves at 09:27: two stays, neither 10 minutes.
	w["car-6"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 9, 10, 0)).
		jump(cpLat, cpLon).until(at(6, 9, 16, 0)).off(at(6, 9, 21, 0)).until(at(6, 9, 27, 0)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// car-7 is named by cp-1 but not passed to Compute; car-8 is passed
	// without a fix.
	// car-9 is at cp-1 from 08:50 to 09:05: 5 minutes of the window, from
	// its start.
	w["car-9"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 8, 50, 0)).
		jump(cpLat, cpLon).until(at(6, 9, 5, 0)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// car-10 drives r-1 at 5 m/s reporting every 2 minutes: gaps longer
	// than MaxGap are not driven.
	w["car-10"] = startAt(at(6, 8, 0, 0), awayLat, awayLon).until(at(6, 10, 0, 0)).
		jump(routeLat, 112.97).every(2*time.Minute).drive(routeLat, 112.99, 5).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// foot-1 is in a-1 from before the shift to 12:00, then out.
	w["foot-1"] = startAt(at(6, 7, 58, 0), sqLat, sqLon).until(at(6, 12, 0, 0)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// foot-2 leaves a-1 from 10:00 to 11:00, and for good at 12:30.
	w["foot-2"] = startAt(at(6, 8, 0, 0), sqLat, sqLon).until(at(6, 10, 0, 0)).
		jump(awayLat, awayLon).until(at(6, 11, 0, 0)).
		jump(sqLat, sqLon).until(at(6, 12, 30, 0)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// foot-3 stands in a-1 reporting once a minute from 07:59:30; its
	// first fix outside is at 09:00:30.
	w["foot-3"] = startAt(at(6, 7, 59, 30), sqLat, sqLon).every(time.Minute).until(at(6, 9, 0, 30)).
		jump(awayLat, awayLon).until(at(6, 20, 0, 0))
	// vol-1, a volunteer, is in a-1 all day: a-1 is for foot patrols.
	w["vol-1"] = startAt(at(6, 8, 0, 0), sqLat, sqLon).until(at(6, 20, 0, 0))

	types := map[string]protocol.UnitType{"foot-1": protocol.TypeFoot, "foot-2": protocol.TypeFoot, "foot-3": protocol.TypeFoot,
		"vol-1": protocol.TypeVolunteer}
	units := []Unit{{ID: "car-8", Type: protocol.TypeCar}}
	for id, wk := range w {
		ty, ok := types[id]
		if !ok {
			ty = protocol.TypeCar
		}
		units = append(units, Unit{ID: id, Type: ty, Track: wk.fixes})
	}
	slices.SortFunc(units, func(a, b Unit) int { return cmpString(a.ID, b.ID) })
	return units
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func nightUnits() []Unit {
	return []Unit{
		// moto-1 is in the square 23:00–00:00 and 00:25–01:25, at the
		// checkpoint 00:05–00:25.
		{ID: "moto-1", Type: protocol.TypeMotorcycle, Track: startAt(at(6, 19, 59, 0), awayLat, awayLon).until(at(6, 23, 0, 0)).
			jump(sqLat, sqLon).until(at(7, 0, 0, 0)).
			jump(awayLat, awayLon).until(at(7, 0, 5, 0)).
			jump(cpLat, cpLon).until(at(7, 0, 25, 0)).
			jump(sqLat, sqLon).until(at(7, 1, 25, 0)).
			jump(awayLat, awayLon).until(at(7, 8, 0, 0)).fixes},
		// moto-2 is at the checkpoint 23:20–23:40: 10 minutes of the window.
		{ID: "moto-2", Type: protocol.TypeMotorcycle, Track: startAt(at(6, 20, 0, 0), awayLat, awayLon).until(at(6, 23, 20, 0)).
			jump(cpLat, cpLon).until(at(6, 23, 40, 0)).
			jump(awayLat, awayLon).until(at(7, 8, 0, 0)).fixes},
		// car-1 has no night task of its own: r-1 and cp-1 are day tasks.
		{ID: "car-1", Type: protocol.TypeCar, Track: startAt(at(6, 20, 0, 0), cpLat, cpLon).until(at(7, 8, 0, 0)).fixes},
	}
}

func compute(t *testing.T, p *wire.Plan, shift string, day int, units []Unit) *wire.Report {
	t.Helper()
	start, end, err := p.ShiftBounds(shift, at(day, 12, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(p, Shift{ID: shift, Start: start, End: end}, units)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func find(r *wire.Report, task, unit string) *wire.Result {
	for i := range r.Results {
		if r.Results[i].Task == task && r.Results[i].Unit == unit {
			return &r.Results[i]
		}
	}
	return nil
}

// window checks a point's only window: held, the arrival (zero: none) and
// the minutes dwelt, to a hundredth of a second.
func window(held bool, arrived time.Time, dwellMin float64) func(*testing.T, *wire.Result) {
	return func(t *testing.T, r *wire.Result) {
		if r.Point == nil || len(r.Point.Windows) != 1 {
			t.Fatalf("point result %+v", r.Point)
		}
		w := r.Point.Windows[0]
		var want int64
		if !arrived.IsZero() {
			want = arrived.UnixMilli()
		}
		if w.Held != held || w.Arrived != want || math.Abs(w.DwellMin-dwellMin) > 1e-4 || r.Met != held || r.Point.Held != map[bool]int{false: 0, true: 1}[held] {
			t.Errorf("window %v: held %v, arrived %v, dwelt %v min (met %v); want held %v, arrived %v, %v min",
				w.Window, w.Held, time.UnixMilli(w.Arrived).In(cst), w.DwellMin, r.Met, held, arrived, dwellMin)
		}
	}
}

func driven(lo, hi float64, met bool) func(*testing.T, *wire.Result) {
	return func(t *testing.T, r *wire.Result) {
		l := r.Line
		if l != nil {
			t.Logf("driven %.1f of %.1f m: %.4f", l.DrivenM, l.LengthM, l.DrivenShare)
		}
		if l == nil || l.DrivenShare < lo || l.DrivenShare > hi || r.Met != met || math.Abs(l.DrivenM/l.LengthM-l.DrivenShare) > 1e-9 {
			t.Errorf("line %+v, met %v; want a share in [%v, %v], met %v", l, r.Met, lo, hi, met)
		}
		if math.Abs(l.LengthM-1959.8) > 1 || l.BufferM != 30 || l.CoverShare != 0.8 {
			t.Errorf("the route's figures %+v", l)
		}
	}
}

func present(minutes float64, met bool) func(*testing.T, *wire.Result) {
	return func(t *testing.T, r *wire.Result) {
		a := r.Area
		if a == nil || math.Abs(a.PresenceMin-minutes) > 1e-4 || r.Met != met {
			t.Errorf("area %+v, met %v; want %v minutes, met %v", a, r.Met, minutes, met)
		}
	}
}

// notAssigned is the check of a unit that must have no result.
var notAssigned func(*testing.T, *wire.Result)

func TestCompliance(t *testing.T) {
	p := testPlan(t)
	day := compute(t, p, "day", 6, dayUnits())
	night := compute(t, p, "night", 6, nightUnits())
	for _, tc := range []struct {
		name   string
		report *wire.Report
		task   string
		unit   string
		check  func(*testing.T, *wire.Result)
	}{
		{"holds the checkpoint", day, "cp-1", "car-1", window(true, at(6, 9, 20, 0), 15)},
		{"skips the checkpoint", day, "cp-1", "car-2", window(false, time.Time{}, 0)},
		{"holds it late", day, "cp-1", "car-3", window(false, time.Time{}, 0)},
		{"arrives 5 min before the window ends", day, "cp-1", "car-4", window(false, at(6, 9, 55, 0), 5)},
		{"stands there reporting once a minute", day, "cp-1", "car-5", window(true, at(6, 9, 10, 0), 20)},
		// 09:10:00 to the last fix 09:15:50 and MaxGap after it, 09:17:20.
		{"device off in the middle", day, "cp-1", "car-6", window(false, at(6, 9, 10, 0), 7+20.0/60)},
		{"named, not passed", day, "cp-1", "car-7", window(false, time.Time{}, 0)},
		{"passed without fixes", day, "cp-1", "car-8", window(false, time.Time{}, 0)},
		{"already there when the window opens", day, "cp-1", "car-9", window(false, at(6, 9, 0, 0), 5)},
		{"passes by, dwell 0", day, "cp-pass", "car-1", func(t *testing.T, r *wire.Result) {
			w := r.Point.Windows[0]
			if !r.Met || !w.Held || w.Window.String() != "08:00-20:00" || w.From != at(6, 8, 0, 0).UnixMilli() || w.To != at(6, 20, 0, 0).UnixMilli() ||
				w.Arrived < at(6, 12, 0, 0).UnixMilli() || w.Arrived > at(6, 12, 4, 0).UnixMilli() {
				t.Errorf("%+v", r.Point)
			}
		}},
		{"never passes, dwell 0", day, "cp-pass", "car-2", window(false, time.Time{}, 0)},
		{"drives all of the route", day, "r-1", "car-1", driven(1, 1, true)},
		{"drives half of the route", day, "r-1", "car-2", driven(0.45, 0.55, false)},
		{"drives beside the route", day, "r-1", "car-3", driven(0, 0, false)},
		// Fixes 600 m apart cover 30 m at the start and 60 m at three more.
		{"drives it reporting every 2 minutes", day, "r-1", "car-10", driven(0.09, 0.125, false)},
		{"no fixes on the route", day, "r-1", "car-8", driven(0, 0, false)},
		{"stays in the area 4 hours", day, "a-1", "foot-1", present(240, true)},
		{"leaves the area", day, "a-1", "foot-2", present(210, false)},
		// From the shift's start 08:00:00 (the 07:59:30 fix counts from
		// there) to 09:00:30, the first fix outside.
		{"stands in the area reporting once a minute", day, "a-1", "foot-3", present(60.5, false)},
		{"a car, not a foot patrol", day, "a-1", "car-1", notAssigned},
		{"a volunteer, not a foot patrol", day, "a-1", "vol-1", notAssigned},
		{"night: holds the checkpoint after midnight", night, "cp-night", "moto-1", window(true, at(7, 0, 5, 0), 20)},
		{"night: there before the window", night, "cp-night", "moto-2", window(false, at(6, 23, 30, 0), 10)},
		{"night: in the area across midnight", night, "a-night", "moto-1", present(120, true)},
		{"night: a car", night, "cp-night", "car-1", notAssigned},
		{"night: a day task", night, "cp-1", "car-1", notAssigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := find(tc.report, tc.task, tc.unit)
			switch {
			case tc.check == nil:
				if r != nil {
					t.Errorf("a result for a unit the task is not assigned to: %+v", r)
				}
				return
			case r == nil:
				t.Fatalf("no result for %s and %s", tc.task, tc.unit)
			}
			tc.check(t, r)
		})
	}
}

func TestSummaries(t *testing.T) {
	p := testPlan(t)
	r := compute(t, p, "day", 6, dayUnits())
	if r.Plan != "compliance-test" || r.Shift != "day" || r.Date != "2026-12-06" || r.Zone != "Asia/Shanghai" ||
		r.From != at(6, 8, 0, 0).UnixMilli() || r.To != at(6, 20, 0, 0).UnixMilli() || r.MaxGapS != 90 {
		t.Errorf("header %+v", r)
	}
	// The day's tasks in the plan's order, with how many of their units met them.
	var tasks []string
	for _, ts := range r.Tasks {
		tasks = append(tasks, fmt.Sprintf("%s %s %d/%d", ts.Task, ts.Kind, ts.Met, ts.Total))
	}
	want := []string{"cp-1 point 2/9", "cp-pass point 1/2", "r-1 line 1/5", "a-1 area 1/3"}
	if !slices.Equal(tasks, want) {
		t.Errorf("tasks %q, want %q", tasks, want)
	}
	var units []string
	for _, u := range r.Units {
		units = append(units, fmt.Sprintf("%s %s %d/%d", u.Unit, u.Type, u.Met, u.Total))
	}
	want = []string{"car-1 car 3/3", "car-10 car 0/1", "car-2 car 0/3", "car-3 car 0/2", "car-4 car 0/1", "car-5 car 1/1", "car-6 car 0/1",
		"car-7  0/1", "car-8 car 0/2", "car-9 car 0/1", "foot-1 foot 1/1", "foot-2 foot 0/1", "foot-3 foot 0/1"}
	if !slices.Equal(units, want) {
		t.Errorf("units %q,\nwant %q", units, want)
	}
	if r.Met != 5 || r.Total != 19 || len(r.Results) != 19 {
		t.Errorf("met %d of %d, %d results", r.Met, r.Total, len(r.Results))
	}
	// Results by task in the plan's order, then by unit.
	for i := 1; i < len(r.Results); i++ {
		a, b := r.Results[i-1], r.Results[i]
		if a.Task == b.Task && a.Unit >= b.Unit {
			t.Errorf("results %s/%s before %s/%s", a.Task, a.Unit, b.Task, b.Unit)
		}
	}
	for _, u := range r.Units {
		wantFixes := map[string]int{"car-7": 0, "car-8": 0, "car-5": 70*6 + 20 + 630*6}[u.Unit]
		if (u.Unit == "car-7" || u.Unit == "car-8" || u.Unit == "car-5") && u.Fixes != wantFixes {
			t.Errorf("%s: %d fixes, want %d", u.Unit, u.Fixes, wantFixes)
		}
	}
	// car-1's fixes before 08:00 are not the shift's.
	if u := r.Units[0]; u.Fixes != len(dayUnits()[0].Track)-12 {
		t.Errorf("car-1: %d fixes of %d", u.Fixes, len(dayUnits()[0].Track))
	}
}

// A track out of order, with a fix that is not a position, is judged as
// the same track in order without it.
func TestUnsortedAndInvalidFixes(t *testing.T) {
	p := testPlan(t)
	units := dayUnits()
	want := compute(t, p, "day", 6, units)
	for i := range units {
		tr := slices.Clone(units[i].Track)
		slices.Reverse(tr)
		if len(tr) > 0 {
			tr = append(tr, Fix{TS: tr[0].TS - 5000, Lat: math.NaN(), Lon: 112.97}, Fix{TS: tr[0].TS - 3000, Lat: 28.2, Lon: 200})
		}
		units[i].Track = tr
	}
	got := compute(t, p, "day", 6, units)
	if !reflect.DeepEqual(got, want) {
		t.Error("a reversed track with invalid fixes gives another report")
	}
}

// A shift in progress is judged up to its end given: car-1, at the
// checkpoint since 09:20, has held it by 09:30; foot-1 has been in its area
// the whole 90 minutes.
func TestShiftInProgress(t *testing.T) {
	p := testPlan(t)
	r, err := Compute(p, Shift{ID: "day", Start: at(6, 8, 0, 0), End: at(6, 9, 30, 0)}, dayUnits())
	if err != nil {
		t.Fatal(err)
	}
	window(true, at(6, 9, 20, 0), 10)(t, find(r, "cp-1", "car-1"))
	window(false, time.Time{}, 0)(t, find(r, "cp-1", "car-4"))
	present(90, false)(t, find(r, "a-1", "foot-1"))
	if a := find(r, "a-1", "foot-1").Area; a.PresenceShare != 1 {
		t.Errorf("presence share %v, want 1", a.PresenceShare)
	}
}

func TestComputeErrors(t *testing.T) {
	p := testPlan(t)
	car := []Unit{{ID: "car-1", Type: protocol.TypeCar}}
	for _, tc := range []struct {
		name  string
		shift Shift
		units []Unit
		want  string
	}{
		{"unknown shift", Shift{ID: "evening", Start: at(6, 18, 0, 0), End: at(6, 22, 0, 0)}, car, `no shift "evening"`},
		{"not the shift's start", Shift{ID: "day", Start: at(6, 0, 0, 0), End: at(6, 12, 0, 0)}, car, "not the start of shift"},
		{"the start in UTC", Shift{ID: "night", Start: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}, car, "not the start"},
		{"past the shift's end", Shift{ID: "day", Start: at(6, 8, 0, 0), End: at(6, 20, 0, 1)}, car, "at most the shift's end"},
		{"empty", Shift{ID: "day", Start: at(6, 8, 0, 0), End: at(6, 8, 0, 0)}, car, "not after the start"},
		{"a unit twice", Shift{ID: "day", Start: at(6, 8, 0, 0), End: at(6, 20, 0, 0)}, append(car, car...), `unit "car-1" given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(p, tc.shift, tc.units)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compute: %v, want an error mentioning %q", err, tc.want)
			}
			if tc.name != "a unit twice" && !errors.Is(err, ErrBadShift) {
				t.Errorf("%v is not ErrBadShift", err)
			}
		})
	}
}
