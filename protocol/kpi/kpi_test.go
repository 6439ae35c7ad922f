package kpi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol/api"
)

// The hand-computed set. Now is 2027-01-10 23:00 UTC; times below are UTC.
//
//	id created          place kind    p  dispatch ack  arrival(unit)  close  status  timeline extras
//	A  01-10 09:00      d1*   robbery 1  5        15   50 (car-1)     600    closed  (moved to d2 by a sighting: the first place counts)
//	B  01-10 10:00      d1    theft   2  30       60   170 (moto-1)   1200   closed  decline (car-2), re-dispatched
//	C  01-10 21:00      d2    robbery 1  10       40   290 (car-2)    -      on scene timeout (foot-1), uncovered
//	D  01-10 22:00      d2    noise   3  20       -    never          900    closed  timeout, uncovered (closed by a person)
//	E  01-10 22:58      d1    theft   2  -        -    never          -      open    2 min old: out of the reach base
//	F  01-10 22:50      none  theft   2  60       -    never          -      open    10 min old: not reached
//	G  01-09 12:00      d1    robbery 1  100      120  400 (foot-1)   3000   closed
var now = time.Date(2027, 1, 10, 23, 0, 0, 0, time.UTC)

func at(day, h, m int) int64 { return time.Date(2027, 1, day, h, m, 0, 0, time.UTC).UnixMilli() }

func f(v float64) *float64 { return &v }

func entry(typ string) api.Entry { return api.Entry{Type: typ, Actor: "auto"} }

func created(lat float64) api.Entry {
	return api.Entry{Type: api.EntryCreated, Actor: "dispatcher", Params: &api.Params{Lat: f(lat), Lon: f(113)}}
}

func arrived(unit string, created int64, s float64) api.Assignment {
	return api.Assignment{Unit: unit, State: api.AssignCleared, Arrived: created + int64(s*1000)}
}

func handSet() []api.Incident {
	mk := func(id string, createdMS int64, lat float64, kind string, p int, status string, fig api.Figures, as []api.Assignment, extra ...api.Entry) api.Incident {
		tl := append([]api.Entry{created(lat)}, extra...)
		return api.Incident{ID: id, Status: status, Lat: lat, Lon: 113, Kind: kind, Priority: p, Created: createdMS,
			Figures: fig, Assignments: as, Timeline: tl}
	}
	a := mk("A", at(10, 9, 0), 1, "robbery", 1, api.IncidentClosed,
		api.Figures{ToDispatchS: f(5), ToAckS: f(15), ToArrivalS: f(50), ToCloseS: f(600)},
		[]api.Assignment{arrived("car-1", at(10, 9, 0), 50)}, entry(api.EntrySighting))
	a.Lat = 2 // moved by the sighting; the district is the first place's
	b := mk("B", at(10, 10, 0), 1, "theft", 2, api.IncidentClosed,
		api.Figures{ToDispatchS: f(30), ToAckS: f(60), ToArrivalS: f(170), ToCloseS: f(1200)},
		[]api.Assignment{{Unit: "car-2", State: api.AssignDeclined}, arrived("moto-1", at(10, 10, 0), 170)},
		entry(api.EntryDispatched), entry(api.EntryDecline), entry(api.EntryDispatched), entry(api.EntryArrived))
	c := mk("C", at(10, 21, 0), 2, "robbery", 1, api.IncidentOnScene,
		api.Figures{ToDispatchS: f(10), ToAckS: f(40), ToArrivalS: f(290)},
		[]api.Assignment{{Unit: "foot-1", State: api.AssignTimeout}, arrived("car-2", at(10, 21, 0), 290)},
		entry(api.EntryUncovered), entry(api.EntryTimeout), entry(api.EntryCovered))
	d := mk("D", at(10, 22, 0), 2, "noise", 3, api.IncidentClosed,
		api.Figures{ToDispatchS: f(20), ToCloseS: f(900)}, nil, entry(api.EntryTimeout), entry(api.EntryUncovered))
	e := mk("E", at(10, 22, 58), 1, "theft", 2, api.IncidentOpen, api.Figures{}, nil)
	ff := mk("F", at(10, 22, 50), 9, "theft", 2, api.IncidentDispatched, api.Figures{ToDispatchS: f(60)}, nil)
	g := mk("G", at(9, 12, 0), 1, "robbery", 1, api.IncidentClosed,
		api.Figures{ToDispatchS: f(100), ToAckS: f(120), ToArrivalS: f(400), ToCloseS: f(3000)},
		[]api.Assignment{arrived("foot-1", at(9, 12, 0), 400)})
	return []api.Incident{a, b, c, d, e, ff, g}
}

func districtOf(lat, _ float64) string {
	switch lat {
	case 1:
		return "d1"
	case 2:
		return "d2"
	}
	return ""
}

func unitType(unit string) string {
	t, _, _ := strings.Cut(unit, "-")
	if t == "moto" {
		return "motorcycle"
	}
	return map[string]string{"car": "car", "foot": "foot"}[t]
}

func handFacts() []Facts {
	var out []Facts
	for _, inc := range handSet() {
		out = append(out, FactsOf(inc, districtOf, unitType))
	}
	return out
}

// want is a row in short: nil for a null figure.
type want struct {
	group            string
	count, base      int
	r1, r3, r5       *float64
	disp, ack        [2]*float64
	arr, cls         [2]*float64
	declines, tmouts int
	uncovered        float64
}

func pp(a, b float64) [2]*float64 { return [2]*float64{&a, &b} }

var none2 [2]*float64

func check(t *testing.T, got api.KPIRow, w want) {
	t.Helper()
	eq := func(name string, g, w *float64) {
		t.Helper()
		if (g == nil) != (w == nil) || g != nil && math.Abs(*g-*w) > 1e-9 {
			t.Errorf("%s %s: got %v, want %v", w2s(got.Group), name, p2s(g), p2s(w))
		}
	}
	if got.Group != w.group || got.Count != w.count || got.ReachBase != w.base || got.Declines != w.declines ||
		got.Timeouts != w.tmouts || math.Abs(got.UncoveredShare-w.uncovered) > 1e-9 {
		t.Errorf("row %s: got group %s count %d base %d declines %d timeouts %d uncovered %v; want %s %d %d %d %d %v",
			w.group, got.Group, got.Count, got.ReachBase, got.Declines, got.Timeouts, got.UncoveredShare,
			w.group, w.count, w.base, w.declines, w.tmouts, w.uncovered)
	}
	eq("reached1", got.Reached1, w.r1)
	eq("reached3", got.Reached3, w.r3)
	eq("reached5", got.Reached5, w.r5)
	eq("dispatch p50", got.ToDispatchP50, w.disp[0])
	eq("dispatch p90", got.ToDispatchP90, w.disp[1])
	eq("ack p50", got.ToAckP50, w.ack[0])
	eq("ack p90", got.ToAckP90, w.ack[1])
	eq("arrival p50", got.ToArrivalP50, w.arr[0])
	eq("arrival p90", got.ToArrivalP90, w.arr[1])
	eq("close p50", got.ToCloseP50, w.cls[0])
	eq("close p90", got.ToCloseP90, w.cls[1])
}

func w2s(s string) string { return "row " + s }

func p2s(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}

// total: 7 incidents; E is open, unreached and 2 minutes old: out of the
// base, which is 6. Within 1 min: A (50 s); 3: A, B (170); 5: A, B, C (290).
// Dispatch 5 10 20 30 60 100: P50 = 3rd of 6 = 20, P90 = 6th (ceil 5.4) = 100.
// Ack 15 40 60 120: P50 = 2nd = 40, P90 = 4th (ceil 3.6) = 120.
// Arrival 50 170 290 400: 170, 400. Close 600 900 1200 3000: 900, 3000.
// Declines: B's 1. Timeouts: C's and D's. Uncovered: C, D = 2/7.
var wantTotal = want{"total", 7, 6, f(1. / 6), f(2. / 6), f(3. / 6), pp(20, 100), pp(40, 120), pp(170, 400), pp(900, 3000), 1, 2, 2. / 7}

func TestHandComputed(t *testing.T) {
	facts := handFacts()
	cases := map[string][]want{
		// d1: A B E G; base A B G = 3; within 1: A; 3: A B; 5: A B.
		// dispatch 5 30 100: P50 = 2nd (ceil 1.5) = 30, P90 = 3rd = 100;
		// ack 15 60 120; arrival 50 170 400; close 600 1200 3000.
		// d2: C D; base 2; within 5: C. dispatch 10 20: P50 = 1st = 10,
		// P90 = 2nd (ceil 1.8) = 20; ack 40; arrival 290; close 900.
		// none: F, 10 min old, not reached: base 1, shares 0.
		api.KPIByDistrict: {
			{"d1", 4, 3, f(1. / 3), f(2. / 3), f(2. / 3), pp(30, 100), pp(60, 120), pp(170, 400), pp(1200, 3000), 1, 0, 0},
			{"d2", 2, 2, f(0), f(0), f(.5), pp(10, 20), pp(40, 40), pp(290, 290), pp(900, 900), 0, 2, 1}, // C and D uncovered
			{"none", 1, 1, f(0), f(0), f(0), pp(60, 60), none2, none2, none2, 0, 0, 0},
		},
		// car: A C (first arrivals by car-1, car-2); foot: G; motorcycle: B
		// (car-2 declined it first); none: D E F (base D F).
		api.KPIByUnitType: {
			{"car", 2, 2, f(.5), f(.5), f(1), pp(5, 10), pp(15, 40), pp(50, 290), pp(600, 600), 0, 1, 1. / 2},
			{"foot", 1, 1, f(0), f(0), f(0), pp(100, 100), pp(120, 120), pp(400, 400), pp(3000, 3000), 0, 0, 0},
			{"motorcycle", 1, 1, f(0), f(1), f(1), pp(30, 30), pp(60, 60), pp(170, 170), pp(1200, 1200), 1, 0, 0},
			{"none", 3, 2, f(0), f(0), f(0), pp(20, 60), none2, none2, pp(900, 900), 0, 1, 1. / 3},
		},
		// day 08–20: A B G; night: C D E F (base C D F).
		api.KPIByShift: {
			{"day", 3, 3, f(1. / 3), f(2. / 3), f(2. / 3), pp(30, 100), pp(60, 120), pp(170, 400), pp(1200, 3000), 1, 0, 0},
			{"night", 4, 3, f(0), f(0), f(1. / 3), pp(20, 60), pp(40, 40), pp(290, 290), pp(900, 900), 0, 2, 2. / 4},
		},
		// 09: G. 10: A B C D E F, base 5 (not E); dispatch 5 10 20 30 60:
		// 20, 60; ack 15 40 60: 40, 60; arrival 50 170 290: 170, 290;
		// close 600 900 1200: 900, 1200.
		api.KPIByDay: {
			{"2027-01-09", 1, 1, f(0), f(0), f(0), pp(100, 100), pp(120, 120), pp(400, 400), pp(3000, 3000), 0, 0, 0},
			{"2027-01-10", 6, 5, f(1. / 5), f(2. / 5), f(3. / 5), pp(20, 60), pp(40, 60), pp(170, 290), pp(900, 1200), 1, 2, 2. / 6},
		},
		// 1: A C G; 2: B E F (base B F); 3: D.
		api.KPIByPriority: {
			{"1", 3, 3, f(1. / 3), f(1. / 3), f(2. / 3), pp(10, 100), pp(40, 120), pp(290, 400), pp(600, 3000), 0, 1, 1. / 3},
			{"2", 3, 2, f(0), f(.5), f(.5), pp(30, 60), pp(60, 60), pp(170, 170), pp(1200, 1200), 1, 0, 0},
			{"3", 1, 1, f(0), f(0), f(0), pp(20, 20), none2, none2, pp(900, 900), 0, 1, 1},
		},
		// 09: A; 10: B; 12: G; 21: C (on scene, not closed); 22: D E F,
		// base D F (E is 2 minutes old); dispatch 20 60: P50 = 1st = 20,
		// P90 = 2nd (ceil 1.8) = 60; close D's 900; uncovered D of 3.
		api.KPIByHour: {
			{"09", 1, 1, f(1), f(1), f(1), pp(5, 5), pp(15, 15), pp(50, 50), pp(600, 600), 0, 0, 0},
			{"10", 1, 1, f(0), f(1), f(1), pp(30, 30), pp(60, 60), pp(170, 170), pp(1200, 1200), 1, 0, 0},
			{"12", 1, 1, f(0), f(0), f(0), pp(100, 100), pp(120, 120), pp(400, 400), pp(3000, 3000), 0, 0, 0},
			{"21", 1, 1, f(0), f(0), f(1), pp(10, 10), pp(40, 40), pp(290, 290), none2, 0, 1, 1},
			{"22", 3, 2, f(0), f(0), f(0), pp(20, 60), none2, none2, pp(900, 900), 0, 1, 1. / 3},
		},
		api.KPIByKind: {
			{"noise", 1, 1, f(0), f(0), f(0), pp(20, 20), none2, none2, pp(900, 900), 0, 1, 1},
			{"robbery", 3, 3, f(1. / 3), f(1. / 3), f(2. / 3), pp(10, 100), pp(40, 120), pp(290, 400), pp(600, 3000), 0, 1, 1. / 3},
			{"theft", 3, 2, f(0), f(.5), f(.5), pp(30, 60), pp(60, 60), pp(170, 170), pp(1200, 1200), 1, 0, 0},
		},
	}
	for _, by := range api.KPIBys {
		t.Run(by, func(t *testing.T) {
			rep, err := Compute(facts, by, now, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if rep.By != by {
				t.Errorf("by %q", rep.By)
			}
			check(t, rep.Total, wantTotal)
			ws := cases[by]
			if len(rep.Rows) != len(ws) {
				b, _ := json.Marshal(rep.Rows)
				t.Fatalf("%d rows, want %d: %s", len(rep.Rows), len(ws), b)
			}
			for i, w := range ws {
				check(t, rep.Rows[i], w)
			}
		})
	}
}

func TestFactsOf(t *testing.T) {
	fs := handFacts()
	a, b, c, e := fs[0], fs[1], fs[2], fs[4]
	if a.District != "d1" || a.UnitType != "car" || !a.Closed || a.ToCloseS != 600 {
		t.Errorf("A: %+v", a)
	}
	if b.Declines != 1 || b.UnitType != "motorcycle" {
		t.Errorf("B: %+v", b)
	}
	if c.Timeouts != 1 || !c.Uncovered || c.Closed || c.ToCloseS >= 0 {
		t.Errorf("C: %+v", c)
	}
	if e.Reached() || e.ToDispatchS >= 0 || e.UnitType != "" {
		t.Errorf("E: %+v", e)
	}
	// A unit the fleet no longer knows, and no district function.
	inc := handSet()[0]
	if got := FactsOf(inc, nil, func(string) string { return "" }); got.UnitType != GroupUnknown || got.District != "" {
		t.Errorf("unknown unit: %+v", got)
	}
	// Without a created entry with a place, the incident's place counts.
	inc.Timeline = nil
	if got := FactsOf(inc, districtOf, unitType); got.District != "d2" {
		t.Errorf("no created entry: district %q, want d2", got.District)
	}
	// A reopened incident (open again) has no close.
	inc = handSet()[0]
	inc.Status = api.IncidentOpen
	if got := FactsOf(inc, nil, nil); got.ToCloseS >= 0 {
		t.Errorf("reopened: to close %v", got.ToCloseS)
	}
}

func TestComputeEdges(t *testing.T) {
	if _, err := Compute(nil, "week", now, nil); err == nil {
		t.Error("by=week accepted")
	}
	rep, err := Compute(nil, api.KPIByDay, now, nil)
	if err != nil || len(rep.Rows) != 0 || rep.Total.Count != 0 || rep.Total.Reached1 != nil || rep.Total.ToAckP50 != nil {
		t.Errorf("no facts: %+v %v", rep, err)
	}
	// Local time: 07:30 UTC is 15:30 in Shanghai (day shift), 23:30 UTC is
	// the next day 07:30 there (night shift, next date).
	sh := time.FixedZone("CST", 8*3600)
	fs := []Facts{{Created: at(10, 7, 30), ToArrivalS: -1}, {Created: at(10, 23, 30), ToArrivalS: -1}}
	if g := GroupOf(&fs[0], api.KPIByShift, sh); g != ShiftDay {
		t.Errorf("07:30 UTC in CST: %s", g)
	}
	if g := GroupOf(&fs[1], api.KPIByShift, sh); g != ShiftNight {
		t.Errorf("23:30 UTC in CST: %s", g)
	}
	if g := GroupOf(&fs[1], api.KPIByDay, sh); g != "2027-01-11" {
		t.Errorf("23:30 UTC in CST: day %s", g)
	}
	if g := GroupOf(&fs[1], api.KPIByHour, sh); g != "07" {
		t.Errorf("23:30 UTC in CST: hour %s", g)
	}
	if g := GroupOf(&Facts{Created: at(10, 20, 0)}, api.KPIByShift, time.UTC); g != ShiftNight {
		t.Errorf("20:00 is night: %s", g)
	}
	if g := GroupOf(&Facts{Created: at(10, 8, 0)}, api.KPIByShift, time.UTC); g != ShiftDay {
		t.Errorf("08:00 is day: %s", g)
	}
	// Exactly 5 minutes old, open, unreached: in the base, not reached.
	r := Total([]Facts{{Created: now.Add(-ReachWindow).UnixMilli(), ToArrivalS: -1, ToDispatchS: -1, ToAckS: -1, ToCloseS: -1}}, now)
	if r.ReachBase != 1 || *r.Reached5 != 0 {
		t.Errorf("5 min old: %+v", r)
	}
}

// TestAgainstBruteForce checks Compute on random facts against a
// straightforward recount of each group.
func TestAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	opt := func() float64 {
		if rng.IntN(4) == 0 {
			return -1
		}
		return float64(rng.IntN(900))
	}
	var facts []Facts
	for i := range 2000 {
		fc := Facts{Created: now.Add(-time.Duration(rng.IntN(3*24*60)) * time.Minute).UnixMilli(),
			Closed: rng.IntN(2) == 0, District: []string{"", "a", "b", "c"}[rng.IntN(4)],
			Kind: []string{"theft", "robbery"}[rng.IntN(2)], Priority: 1 + rng.IntN(3),
			ToDispatchS: opt(), ToAckS: opt(), ToArrivalS: opt(), ToCloseS: opt(),
			Declines: rng.IntN(3), Timeouts: rng.IntN(2), Uncovered: rng.IntN(5) == 0}
		if i%7 == 0 {
			fc.Created = now.Add(-time.Duration(rng.IntN(300)) * time.Second).UnixMilli() // young
		}
		if fc.Reached() {
			fc.UnitType = []string{"car", "foot"}[rng.IntN(2)]
		}
		facts = append(facts, fc)
	}
	for _, by := range api.KPIBys {
		rep, err := Compute(facts, by, now, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, row := range rep.Rows {
			var sub []Facts
			for _, fc := range facts {
				if GroupOf(&fc, by, time.UTC) == row.Group {
					sub = append(sub, fc)
				}
			}
			total += len(sub)
			brute(t, by, row, sub)
		}
		if total != len(facts) || rep.Total.Count != len(facts) {
			t.Errorf("by %s: rows hold %d, total %d, want %d", by, total, rep.Total.Count, len(facts))
		}
		brute(t, by, rep.Total, facts)
	}
}

func brute(t *testing.T, by string, row api.KPIRow, sub []Facts) {
	t.Helper()
	base, r5, decl, unc := 0, 0, 0, 0
	var arr, cls []float64
	for _, fc := range sub {
		young := !fc.Closed && now.UnixMilli()-fc.Created < 5*60_000
		if fc.ToArrivalS >= 0 || !young {
			base++
		}
		if fc.ToArrivalS >= 0 && fc.ToArrivalS <= 300 {
			r5++
		}
		if fc.ToArrivalS >= 0 {
			arr = append(arr, fc.ToArrivalS)
		}
		if fc.Closed && fc.ToCloseS >= 0 {
			cls = append(cls, fc.ToCloseS)
		}
		decl += fc.Declines
		if fc.Uncovered {
			unc++
		}
	}
	slices.Sort(arr)
	slices.Sort(cls)
	if row.Count != len(sub) || row.ReachBase != base || row.Declines != decl ||
		math.Abs(row.UncoveredShare-float64(unc)/float64(len(sub))) > 1e-12 ||
		base > 0 && math.Abs(*row.Reached5-float64(r5)/float64(base)) > 1e-12 {
		t.Errorf("by %s group %s: %+v; brute count %d base %d r5 %d declines %d", by, row.Group, row, len(sub), base, r5, decl)
	}
	if len(arr) > 0 && *row.ToArrivalP90 != arr[(len(arr)*9+9)/10-1] {
		t.Errorf("by %s group %s: arrival P90 %v, brute %v", by, row.Group, *row.ToArrivalP90, arr[(len(arr)*9+9)/10-1])
	}
	if len(cls) > 0 && *row.ToCloseP50 != cls[(len(cls)+1)/2-1] {
		t.Errorf("by %s group %s: close P50 %v, brute %v", by, row.Group, *row.ToCloseP50, cls[(len(cls)+1)/2-1])
	}
}

func TestUncoveredSpans(t *testing.T) {
	c := at(10, 9, 0)
	e := func(typ string, s int64) api.Entry { return api.Entry{TS: c + s*1000, Type: typ, Actor: "auto"} }
	cases := []struct {
		name string
		inc  api.Incident
		want []Span
	}{
		{"never uncovered", api.Incident{Created: c, Status: api.IncidentClosed,
			Timeline: []api.Entry{e(api.EntryCreated, 0), e(api.EntryClosed, 90)}}, nil},
		{"covered, uncovered again, closed", api.Incident{Created: c, Status: api.IncidentClosed,
			Figures: api.Figures{ToCloseS: f(200)},
			Timeline: []api.Entry{e(api.EntryCreated, 0), e(api.EntryUncovered, 10), e(api.EntryUncovered, 20),
				e(api.EntryCovered, 50), e(api.EntryUncovered, 100), e(api.EntryClosed, 200)}},
			[]Span{{10, 50}, {100, 200}}},
		{"still uncovered", api.Incident{Created: c, Status: api.IncidentOpen,
			Timeline: []api.Entry{e(api.EntryCreated, 0), e(api.EntryUncovered, 30)}}, []Span{{30, -1}}},
		{"closed without its entry", api.Incident{Created: c, Status: api.IncidentClosed,
			Figures:  api.Figures{ToCloseS: f(400)},
			Timeline: []api.Entry{e(api.EntryCreated, 0), e(api.EntryUncovered, 30)}}, []Span{{30, 400}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := FactsOf(tc.inc, nil, nil)
			if !slices.Equal(got.UncoveredSpans, tc.want) || got.Uncovered != (tc.want != nil) {
				t.Errorf("spans %v uncovered %v, want %v", got.UncoveredSpans, got.Uncovered, tc.want)
			}
		})
	}
}
