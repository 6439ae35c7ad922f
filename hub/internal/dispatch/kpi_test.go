package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
)

// The dispatcher keeps the facts of every stored incident up to date: one
// declined, re-dispatched, reached and closed; one never reached. The table
// survives a restart (rebuilt by the start scan, closed incidents older
// than a day included) and loses what prune deletes.
func TestKPI(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Location = time.UTC
		c.DistrictOf = func(lat, _ float64) string {
			if lat >= siteLat {
				return "north"
			}
			return ""
		}
	})
	r.place("car-1", protocol.TypeCar, 0.003, 0)
	r.place("moto-1", protocol.TypeMotorcycle, 0.004, 0)
	start := r.clock.Now().UnixMilli()

	a := r.create("theft", 2) // the dispatcher sends: nobody yet
	r.clock.Advance(10 * time.Second)
	if _, err := r.d.Assign(a.ID, "car-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(5 * time.Second)
	r.event("car-1", protocol.EventDecline, a.ID)
	if _, err := r.d.Assign(a.ID, "moto-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(5 * time.Second)
	r.event("moto-1", protocol.EventAck, a.ID) // 20 s
	r.clock.Advance(100 * time.Second)
	r.event("moto-1", protocol.EventArrived, a.ID) // 120 s
	r.clock.Advance(60 * time.Second)
	r.event("moto-1", protocol.EventCleared, a.ID) // closed at 180 s

	b, err := r.d.Create(NewIncident{Lat: siteLat - 0.01, Lon: siteLon, Kind: "noise", Priority: 3}, ActorDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, wantB bool) {
		t.Helper()
		rep, err := r.d.KPI(start, r.clock.Now().UnixMilli()+1, api.KPIByUnitType)
		if err != nil {
			t.Fatal(err)
		}
		tot := rep.Total
		if tot.Count != 2 || tot.Declines != 1 || *tot.ToDispatchP50 != 10 || *tot.ToAckP50 != 20 || *tot.ToArrivalP50 != 120 || *tot.ToCloseP50 != 180 {
			t.Errorf("%s: total %+v", when, tot)
		}
		// b is open and not reached: out of the base until 5 minutes old.
		base := 1
		if wantB {
			base = 2
		}
		if tot.ReachBase != base || *tot.Reached1 != 0 || *tot.Reached3 != 1/float64(base) {
			t.Errorf("%s: base %d reached %v %v, want base %d", when, tot.ReachBase, *tot.Reached1, *tot.Reached3, base)
		}
		if len(rep.Rows) != 2 || rep.Rows[0].Group != "motorcycle" || rep.Rows[1].Group != "none" {
			t.Errorf("%s: rows %+v", when, rep.Rows)
		}
		rep, _ = r.d.KPI(start, r.clock.Now().UnixMilli()+1, api.KPIByDistrict)
		if len(rep.Rows) != 2 || rep.Rows[0].Group != "none" || rep.Rows[0].Count != 1 || rep.Rows[1].Group != "north" {
			t.Errorf("%s: by district %+v", when, rep.Rows)
		}
	}
	check("fresh", false)
	r.clock.Advance(5 * time.Minute)
	check("b 5 minutes old", true)
	if _, err := r.d.Close(b.ID, ActorDispatcher, ""); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(48 * time.Hour) // both closed more than a day ago: only in the store
	r.restart()
	if len(r.d.incidents) != 0 {
		t.Fatalf("%d incidents in memory", len(r.d.incidents))
	}
	check("after a restart", true)
	if rep, _ := r.d.KPI(start+1, r.clock.Now().UnixMilli(), api.KPIByDay); rep.Total.Count != 1 {
		t.Errorf("from after a's creation: %d incidents", rep.Total.Count)
	}

	r.clock.Advance(2 * DefaultRetention)
	r.d.prune()
	if fs := r.d.Facts(0, r.clock.Now().UnixMilli()); len(fs) != 0 {
		t.Errorf("after prune: %d facts", len(fs))
	}

	for _, c := range []struct {
		from, to int64
		by, want string
	}{
		{0, 10, "day", "both required"},
		{10, 10, "day", "not after"},
		{1, 1 + 401*24*3600*1000, "day", "more than 400 days"},
		{1, 2, "week", "not one of"},
	} {
		_, err := r.d.KPI(c.from, c.to, c.by)
		if !errors.Is(err, ErrInvalid) || !contains(err, c.want) {
			t.Errorf("KPI(%d, %d, %s): %v, want %q", c.from, c.to, c.by, err, c.want)
		}
	}
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// syntheticFacts is the i-th of a benchmark's incidents, created in the 90
// days from from: 13 districts, 12 kinds, most reached, a few not.
func syntheticFacts(i int, from time.Time) kpi.Facts {
	f := kpi.Facts{ID: fmt.Sprint(i), Created: from.Add(time.Duration(i) * (90 * 24 * time.Hour / 27_000)).UnixMilli(),
		Closed: true, District: fmt.Sprintf("d%02d", i%13), Kind: fmt.Sprintf("k%02d", i%12), Priority: 1 + i%3,
		ToDispatchS: float64(i % 97), ToAckS: float64(20 + i%113), ToArrivalS: float64(60 + i%409), ToCloseS: float64(900 + i%3001),
		UnitType: "car", Declines: i % 7 / 6, Timeouts: i % 11 / 10, Uncovered: i%17 == 0}
	if i%23 == 0 {
		f.ToArrivalS, f.UnitType = -1, ""
	}
	return f
}

// BenchmarkKPI90Days is the target: 90 days × 300 incidents a day,
// by district and by day, well under 200 ms.
func BenchmarkKPI90Days(b *testing.B) {
	d := &Dispatcher{cfg: Config{Now: time.Now, Location: time.Local}, facts: map[string]*indexed{}}
	end := time.Now()
	from := end.Add(-90 * 24 * time.Hour)
	for i := range 90 * 300 {
		d.facts[fmt.Sprint(i)] = &indexed{facts: syntheticFacts(i, from)}
	}
	for _, by := range []string{api.KPIByDistrict, api.KPIByDay} {
		b.Run(by, func(b *testing.B) {
			for b.Loop() {
				rep, err := d.KPI(from.UnixMilli(), end.UnixMilli()+1, by)
				if err != nil || rep.Total.Count != 27_000 {
					b.Fatal(err, rep.Total.Count)
				}
			}
		})
	}
}

// EachCreated visits the incidents created in the window in creation
// order, reading one closed more than a day ago from the store; it stops
// at the visitor's error and refuses a bad window.
func TestEachCreated(t *testing.T) {
	r := newRig(t)
	now := r.clock.Now()
	old := Incident{ID: "inc-old-0001", Kind: "theft", Priority: 2, Status: StatusClosed, Lat: siteLat, Lon: siteLon,
		Summary: "自行车", Created: now.Add(-10 * 24 * time.Hour).UnixMilli(), Closed: now.Add(-9 * 24 * time.Hour).UnixMilli()}
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.Put(map[string][]byte{keyPrefix + old.ID: b}); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if _, ok := r.d.incidents[old.ID]; ok {
		t.Fatal("an incident closed 9 days ago is in memory")
	}
	a := r.create("fire", 1)
	r.clock.Advance(time.Second)
	c := r.create("theft", 3)
	var got []string
	err = r.d.EachCreated(now.Add(-20*24*time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli(), func(inc Incident, f kpi.Facts) error {
		if inc.ID != f.ID || inc.Created != f.Created {
			t.Errorf("%s: facts %+v", inc.ID, f)
		}
		if inc.ID == old.ID && (inc.Summary != old.Summary || inc.Closed != old.Closed || !f.Closed) {
			t.Errorf("old incident %+v, facts %+v", inc, f)
		}
		got = append(got, inc.ID)
		return nil
	})
	if want := []string{old.ID, a.ID, c.ID}; err != nil || !slices.Equal(got, want) {
		t.Errorf("visited %v, %v; want %v", got, err, want)
	}
	stop := errors.New("stop")
	n := 0
	err = r.d.EachCreated(now.Add(-20*24*time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli(), func(Incident, kpi.Facts) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("after an error: %d visits, %v", n, err)
	}
	if err := r.d.EachCreated(2, 1, func(Incident, kpi.Facts) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("to before from: %v", err)
	}
}
