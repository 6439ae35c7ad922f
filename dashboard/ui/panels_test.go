package ui

import (
	"slices"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func TestQueueOrder(t *testing.T) {
	incs := map[string]*Incident{}
	for _, inc := range []Incident{
		{ID: "c", Priority: 2, Created: 100, Status: api.IncidentOpen},
		{ID: "a", Priority: 1, Created: 300, Status: api.IncidentDispatched},
		{ID: "b", Priority: 1, Created: 200, Status: api.IncidentOpen},
		{ID: "d", Priority: 3, Created: 50, Status: api.IncidentOnScene},
		{ID: "x", Priority: 1, Created: 1, Status: api.IncidentClosed},
		{ID: "e", Priority: 2, Created: 100, Status: api.IncidentOpen},
	} {
		incs[inc.ID] = &inc
	}
	var got []string
	for _, inc := range Queue(incs) {
		got = append(got, inc.ID)
	}
	// Priority first, then the oldest, then the id; closed ones are not queued.
	if want := []string{"b", "a", "c", "e", "d"}; !slices.Equal(got, want) {
		t.Errorf("queue %v, want %v", got, want)
	}
}

func TestUnitFilter(t *testing.T) {
	now := int64(10_000_000)
	s := NewStore()
	s.SetDistricts(changshaDistricts(t))
	mk := func(id, callsign string, typ protocol.UnitType, st protocol.Status, lat, lon float64, age time.Duration, online bool) Unit {
		u := unitAt(id, typ, st, lat, lon, now-age.Milliseconds())
		u.Callsign, u.Online = callsign, online
		return u
	}
	s.Apply(snapshot(1, 1, []Unit{
		mk("car-2", "湘A-002", protocol.TypeCar, protocol.StatusAvailable, 28.196, 112.977, time.Second, true),       // Furong
		mk("car-10", "湘A-010", protocol.TypeCar, protocol.StatusEnroute, 28.2353, 112.9311, time.Second, true),      // Yuelu
		mk("moto-1", "", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2559, 112.9853, 5*time.Minute, true), // Kaifu, stale
		mk("foot-7", "Patrol 7", protocol.TypeFoot, protocol.StatusBusy, 28.1146, 112.9898, time.Second, false),     // Tianxin, offline
		mk("vol-3", "", protocol.TypeVolunteer, protocol.StatusOffDuty, 30.0, 114.0, time.Second, true),             // outside
	}, nil))
	for _, tc := range []struct {
		f    UnitFilter
		want []string
	}{
		{UnitFilter{}, []string{"car-2", "car-10", "foot-7", "moto-1", "vol-3"}},
		{UnitFilter{Status: "available"}, []string{"car-2", "moto-1"}},
		{UnitFilter{Status: "offline"}, []string{"foot-7"}},
		{UnitFilter{Status: "stale"}, []string{"moto-1"}},
		{UnitFilter{Type: "car"}, []string{"car-2", "car-10"}},
		{UnitFilter{District: "yuelu"}, []string{"car-10"}},
		{UnitFilter{District: "outside"}, []string{"vol-3"}},
		{UnitFilter{Search: "A-01"}, []string{"car-10"}},
		{UnitFilter{Search: "PATROL"}, []string{"foot-7"}},
		{UnitFilter{Type: "car", Status: "enroute", District: "yuelu", Search: "car"}, []string{"car-10"}},
		{UnitFilter{Type: "car", District: "kaifu"}, nil},
	} {
		rows, total := FilterUnits(s, tc.f, now, 100, nil)
		var got []string
		for _, u := range rows {
			got = append(got, u.ID)
		}
		if !slices.Equal(got, tc.want) || total != len(tc.want) {
			t.Errorf("%+v: %v (%d), want %v", tc.f, got, total, tc.want)
		}
	}
	rows, total := FilterUnits(s, UnitFilter{}, now, 2, nil)
	if len(rows) != 2 || total != 5 {
		t.Errorf("limit: %d rows of %d", len(rows), total)
	}
	// The order follows units coming and going.
	s.Apply(delta(1, 2, []Unit{unitAt("car-3", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)}, nil, []string{"car-10"}, nil))
	rows, _ = FilterUnits(s, UnitFilter{Type: "car"}, now, -1, nil)
	if len(rows) != 2 || rows[0].ID != "car-2" || rows[1].ID != "car-3" {
		t.Errorf("after a delta: %v", rows)
	}
}

func TestNaturalCompare(t *testing.T) {
	got := []string{"car-10", "car-2", "Car-3", "car-02", "bike", "car-1a", "car-1", "car-", "car-100"}
	slices.SortFunc(got, NaturalCompare)
	want := []string{"bike", "car-", "car-1", "car-1a", "car-02", "car-2", "Car-3", "car-10", "car-100"}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestStats(t *testing.T) {
	now := int64(100_000_000)
	s := NewStore()
	busy := unitAt("b", protocol.TypeCar, protocol.StatusBusy, 28.2, 112.98, now)
	offline := unitAt("o", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)
	offline.Online = false
	assigned := unitAt("as", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now)
	assigned.Incident = "i1"
	s.Apply(snapshot(1, 1, []Unit{
		unitAt("c1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now),
		unitAt("c2", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, now-3*60_000), // stale
		unitAt("m1", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2, 112.98, now),
		unitAt("v1", protocol.TypeVolunteer, protocol.StatusAvailable, 28.2, 112.98, now),
		busy, offline, assigned,
	}, []Incident{
		{ID: "i1", Status: api.IncidentOnScene, Created: now - 1000, Figures: api.Figures{ToArrivalS: fp(300)}},
		{ID: "i2", Status: api.IncidentOpen, Uncovered: true, Created: now - 1000},
	}))
	s.AddHistory([]Incident{
		{ID: "h1", Status: api.IncidentClosed, Created: now - 2000, Figures: api.Figures{ToArrivalS: fp(100)}},
		{ID: "h2", Status: api.IncidentClosed, Created: now - 3000, Figures: api.Figures{ToArrivalS: fp(200)}},
		{ID: "y", Status: api.IncidentClosed, Created: now - 50_000_000, Figures: api.Figures{ToArrivalS: fp(9999)}}, // yesterday
		{ID: "open", Status: api.IncidentOpen, Created: now},                                                         // not history
	})
	st := ComputeStats(s, now, now-10_000_000)
	if st.Available != [4]int{1, 1, 0, 1} {
		t.Errorf("available by type %v", st.Available)
	}
	if st.Units != 7 || st.Online != 6 || st.Open != 2 || st.Uncovered != 1 {
		t.Errorf("counts %+v", st)
	}
	if st.Arrivals != 3 || st.MedianArrivalS != 200 {
		t.Errorf("median arrival %v over %d", st.MedianArrivalS, st.Arrivals)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tc.xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestDayStart(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	local := time.Date(2026, 11, 29, 15, 4, 5, 0, loc)
	want := time.Date(2026, 11, 29, 0, 0, 0, 0, loc).UnixMilli() + 500
	if got := DayStart(local, 500); got != want {
		t.Errorf("DayStart %d, want %d", got, want)
	}
}

func TestParseNeeds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  string
	}{
		{"", []string{}, ""},
		{"armed, medical", []string{"armed", "medical"}, ""},
		{"Armed，armed  medical", []string{"armed", "medical"}, ""},
		{"armed, k9!", nil, "k9!"},
	} {
		got, bad := ParseNeeds(tc.in)
		if bad != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("ParseNeeds(%q) = %v %q, want %v %q", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

func TestValidTiles(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"":                                      true,
		"https://tiles.example/{z}/{x}/{y}.png": true,
		"http://10.0.0.5:8080/osm/{z}/{x}/{y}":  true,
		"/tiles/{z}/{x}/{y}.png":                true,
		"https://tiles.example/{z}/{x}.png":     false,
		"javascript:alert(1)//{z}{x}{y}":        false,
		`https://t/{z}/{x}/{y}"onerror=`:        false,
	} {
		if ValidTiles(tmpl) != ok {
			t.Errorf("ValidTiles(%q) != %v", tmpl, ok)
		}
	}
}
