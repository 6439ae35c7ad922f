package ui

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

const replayFrom = int64(1_796_000_000_000) // Unix ms

// chaseReplay is a small robbery chase: reported at 0 s, a camera
// sighting at 60 s that moves it north, a unit sent at 10 s, acked at
// 15 s, on scene at 120 s, cleared at 300 s, closed at 310 s; a second
// unit declined at 20 s. u-1 drives north at 1 fix per 10 s, from
// available to enroute (at fix 2) and on scene (at fix 12); u-2 has a gap.
func chaseReplay() *api.Replay {
	lat0, lon0 := 28.10, 112.90
	at := func(s int64) int64 { return replayFrom + s*1000 }
	inc := api.Incident{ID: "inc-1", Status: api.IncidentClosed, Lat: lat0 + 0.01, Lon: lon0, Kind: "robbery", Priority: 1,
		Created: at(0), Closed: at(310),
		Assignments: []api.Assignment{
			{Unit: "u-1", State: api.AssignCleared, Dispatched: at(10), Acked: at(15), Arrived: at(120), Ended: at(300)},
			{Unit: "u-2", State: api.AssignDeclined, Dispatched: at(12), Ended: at(20)},
		},
		Timeline: []api.Entry{
			{TS: at(0), Type: api.EntryCreated, Params: &api.Params{Lat: fp(lat0), Lon: fp(lon0)}},
			{TS: at(5), Type: api.EntryUncovered},
			{TS: at(10), Type: api.EntryDispatched, Unit: "u-1"},
			{TS: at(12), Type: api.EntryDispatched, Unit: "u-2"},
			{TS: at(15), Type: api.EntryAck, Unit: "u-1"},
			{TS: at(15), Type: api.EntryCovered},
			{TS: at(20), Type: api.EntryDecline, Unit: "u-2"},
			{TS: at(60), Type: api.EntrySighting, Params: &api.Params{Lat: fp(lat0 + 0.01), Lon: fp(lon0), Source: "camera"}},
			{TS: at(120), Type: api.EntryArrived, Unit: "u-1"},
			{TS: at(300), Type: api.EntryCleared, Unit: "u-1"},
			{TS: at(310), Type: api.EntryClosed},
		},
	}
	u1 := api.ReplayUnit{Unit: "u-1", Type: protocol.TypeCar, Callsign: "巡1", Assigned: true,
		Status:     []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene},
		StatusFrom: []int{0, 2, 12}}
	for i := range 31 { // 0 s to 300 s, every 10 s
		u1.T = append(u1.T, int64(i)*10_000)
		u1.Lat = append(u1.Lat, lat0-0.01+float64(min(i, 12))*0.002)
		u1.Lon = append(u1.Lon, lon0)
	}
	u2 := api.ReplayUnit{Unit: "u-2", Type: protocol.TypeFoot, Assigned: true,
		T: []int64{30_000, 40_000, 400_000 - 100_000}, Lat: []float64{28.2, 28.201, 28.3}, Lon: []float64{112.9, 112.9, 112.9},
		Status: []protocol.Status{protocol.StatusBusy}, StatusFrom: []int{0}}
	return &api.Replay{Incident: inc, From: at(0), To: at(310), RadiusM: 2000, Units: []api.ReplayUnit{u1, u2}}
}

func decodeChase(t testing.TB) *Replay {
	t.Helper()
	data, err := json.Marshal(chaseReplay())
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeReplay(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeReplay(t *testing.T) {
	r := decodeChase(t)
	if r.From != replayFrom || r.To != replayFrom+310_000 || r.RadiusM != 2000 || len(r.Units) != 2 {
		t.Fatalf("decoded %d..%d r=%d units=%d", r.From, r.To, r.RadiusM, len(r.Units))
	}
	if got := r.tracks[0].T[3]; got != replayFrom+30_000 {
		t.Errorf("u-1's 4th fix at %d, want absolute %d", got, replayFrom+30_000)
	}
	if u := r.Store.Units["u-1"]; u == nil || u.Callsign != "巡1" || u.Type != protocol.TypeCar {
		t.Errorf("u-1 in the store: %+v", u)
	}
	for _, bad := range []string{
		`{`,
		`{"incident":{"id":"x"},"from":10,"to":5,"units":[]}`,
		`{"incident":{"id":"x"},"from":0,"to":5,"units":[{"unit":"a","t":[0,1],"lat":[1],"lon":[1,2],"status":[],"status_from":[]}]}`,
	} {
		if _, err := DecodeReplay([]byte(bad)); err == nil {
			t.Errorf("DecodeReplay(%s) took it", bad)
		}
	}
}

func TestReplayUnitsAtT(t *testing.T) {
	r := decodeChase(t)
	lat0 := 28.10
	for _, tc := range []struct {
		name    string
		at      int64 // s after From
		unit    string
		fix     bool
		lat     float64
		status  protocol.Status
		heading bool
	}{
		{"first fix", 0, "u-1", true, lat0 - 0.01, protocol.StatusAvailable, true},
		{"halfway between fixes", 5, "u-1", true, lat0 - 0.009, protocol.StatusAvailable, true},
		{"status changes at fix 2", 20, "u-1", true, lat0 - 0.006, protocol.StatusEnroute, true},
		{"halfway later on", 25, "u-1", true, lat0 - 0.005, protocol.StatusEnroute, true},
		{"on scene", 125, "u-1", true, lat0 + 0.014, protocol.StatusOnScene, false},
		{"after the last fix", 310, "u-1", true, lat0 + 0.014, protocol.StatusOnScene, false},
		{"before its first fix", 10, "u-2", false, 0, "", false},
		{"across a long gap it holds", 100, "u-2", true, 28.201, protocol.StatusBusy, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.MoveTo(replayFrom + tc.at*1000)
			u := r.Store.Units[tc.unit]
			if u.HasFix != tc.fix {
				t.Fatalf("has fix %v, want %v", u.HasFix, tc.fix)
			}
			if !tc.fix {
				return
			}
			if math.Abs(u.Lat-tc.lat) > 1e-9 || u.Status != tc.status || u.HasHeading != tc.heading {
				t.Errorf("at %d s: %.6f %s heading %v, want %.6f %s %v", tc.at, u.Lat, u.Status, u.HasHeading, tc.lat, tc.status, tc.heading)
			}
			if mx, my := mercX(u.Lon), mercY(u.Lat); u.MX != mx || u.MY != my {
				t.Errorf("projection not updated")
			}
		})
	}
	r.MoveTo(replayFrom + 5_000)
	if r.Positioned != 1 {
		t.Errorf("%d units positioned at 5 s, want 1", r.Positioned)
	}
}

func TestReplayIncidentAtT(t *testing.T) {
	r := decodeChase(t)
	lat0 := 28.10
	type asg struct{ unit, state string }
	for _, tc := range []struct {
		at        int64
		status    string
		lat       float64
		uncovered bool
		entries   int
		trail     int
		assigned  []asg
		closed    bool
	}{
		{0, api.IncidentOpen, lat0, false, 1, 0, nil, false},
		{5, api.IncidentOpen, lat0, true, 2, 0, nil, false},
		{11, api.IncidentDispatched, lat0, true, 3, 0, []asg{{"u-1", api.AssignDispatched}}, false},
		{16, api.IncidentDispatched, lat0, false, 6, 0, []asg{{"u-1", api.AssignEnroute}, {"u-2", api.AssignDispatched}}, false},
		{30, api.IncidentDispatched, lat0, false, 7, 0, []asg{{"u-1", api.AssignEnroute}, {"u-2", api.AssignDeclined}}, false},
		{60, api.IncidentDispatched, lat0 + 0.01, false, 8, 1, []asg{{"u-1", api.AssignEnroute}, {"u-2", api.AssignDeclined}}, false},
		{200, api.IncidentOnScene, lat0 + 0.01, false, 9, 1, []asg{{"u-1", api.AssignOnScene}, {"u-2", api.AssignDeclined}}, false},
		{305, api.IncidentOpen, lat0 + 0.01, false, 10, 1, []asg{{"u-1", api.AssignCleared}, {"u-2", api.AssignDeclined}}, false},
		{310, api.IncidentClosed, lat0 + 0.01, false, 11, 1, []asg{{"u-1", api.AssignCleared}, {"u-2", api.AssignDeclined}}, true},
		{60, api.IncidentDispatched, lat0 + 0.01, false, 8, 1, []asg{{"u-1", api.AssignEnroute}, {"u-2", api.AssignDeclined}}, false}, // back again
	} {
		r.MoveTo(replayFrom + tc.at*1000)
		inc := r.At()
		var got []asg
		for _, a := range inc.Assignments {
			got = append(got, asg{a.Unit, a.State})
		}
		if inc.Status != tc.status || math.Abs(inc.Lat-tc.lat) > 1e-9 || inc.Uncovered != tc.uncovered ||
			len(inc.Timeline) != tc.entries || len(pursuitOf(inc, nil).Trail) != tc.trail || !sameAsg(got, tc.assigned) {
			t.Errorf("at %d s: %s at %.4f uncovered %v, %d entries, trail %d, %v; want %s %.4f %v %d %d %v", tc.at,
				inc.Status, inc.Lat, inc.Uncovered, len(inc.Timeline), len(pursuitOf(inc, nil).Trail), got,
				tc.status, tc.lat, tc.uncovered, tc.entries, tc.trail, tc.assigned)
		}
		_, inHistory := r.Store.History["inc-1"]
		_, open := r.Store.Incidents["inc-1"]
		if inHistory != tc.closed || open == tc.closed {
			t.Errorf("at %d s: filed closed %v open %v, want closed %v", tc.at, inHistory, open, tc.closed)
		}
	}
	if r.Incident.Timeline[7].Type != api.EntrySighting || len(r.Incident.Assignments) != 2 || r.Incident.Assignments[0].State != api.AssignCleared {
		t.Error("the reconstruction changed the hub's incident")
	}
}

func sameAsg[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAssignmentStateAt(t *testing.T) {
	a := api.Assignment{Unit: "u", State: api.AssignCleared, Dispatched: 10, Acked: 20, Arrived: 30, Ended: 40}
	for _, tc := range []struct {
		t    int64
		want string
	}{{10, api.AssignDispatched}, {19, api.AssignDispatched}, {20, api.AssignEnroute}, {30, api.AssignOnScene}, {40, api.AssignCleared}, {99, api.AssignCleared}} {
		if got := AssignmentStateAt(a, tc.t); got != tc.want {
			t.Errorf("at %d: %s, want %s", tc.t, got, tc.want)
		}
	}
	timeout := api.Assignment{State: api.AssignTimeout, Dispatched: 10, Ended: 30}
	if got := AssignmentStateAt(timeout, 20); got != api.AssignDispatched {
		t.Errorf("a timeout before it timed out: %s", got)
	}
}

// The cursor walks and jumps to the same fix a search from scratch finds,
// in any order of seeks: forwards a frame at a time, backwards, far.
func TestReplayCursor(t *testing.T) {
	r, err := NewReplay(syntheticReplay(3, 600))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var seq []int64
	for ms := int64(0); ms <= 30_000; ms += 16 { // playing forwards
		seq = append(seq, ms)
	}
	for ms := int64(30_000); ms >= 20_000; ms -= 100 { // dragged back
		seq = append(seq, ms)
	}
	for range 200 { // jumps
		seq = append(seq, rng.Int64N(r.To-r.From+20_000)-10_000)
	}
	for _, ms := range seq {
		at := r.From + ms
		r.MoveTo(at)
		clamped := min(max(at, r.From), r.To)
		for i := range r.tracks {
			tr := &r.tracks[i]
			want := sort.Search(len(tr.T), func(k int) bool { return tr.T[k] > clamped }) - 1
			if tr.cur != want {
				t.Fatalf("seek %d: unit %d at fix %d, want %d", ms, i, tr.cur, want)
			}
			if want >= 0 && tr.state.Status != r.Units[i].StatusAt(want) {
				t.Fatalf("seek %d: unit %d %s, want %s", ms, i, tr.state.Status, r.Units[i].StatusAt(want))
			}
		}
	}
}

// Playing a frame on allocates nothing (the map's frame loop runs it 60
// times a second).
func TestReplayFrameAllocs(t *testing.T) {
	r, err := NewReplay(syntheticReplay(20, 600))
	if err != nil {
		t.Fatal(err)
	}
	at := r.From
	if n := testing.AllocsPerRun(2000, func() { at += 250; r.MoveTo(at) }); n != 0 {
		t.Errorf("a frame's MoveTo allocates %.1f times", n)
	}
}

// syntheticReplay is n units driving for secs seconds at 1 Hz, each
// changing status every 5 minutes, with one sighting a minute.
func syntheticReplay(n, secs int) *api.Replay {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	statuses := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy}
	inc := api.Incident{ID: "inc-synth", Status: api.IncidentDispatched, Lat: 28.19, Lon: 112.98, Kind: "robbery", Priority: 1,
		Created: replayFrom}
	inc.Timeline = append(inc.Timeline, api.Entry{TS: replayFrom, Type: api.EntryCreated, Params: &api.Params{Lat: fp(28.19), Lon: fp(112.98)}})
	for m := 1; m*60 < secs; m++ {
		inc.Timeline = append(inc.Timeline, api.Entry{TS: replayFrom + int64(m)*60_000, Type: api.EntrySighting,
			Params: &api.Params{Lat: fp(28.19 + float64(m)*0.001), Lon: fp(112.98), Source: "camera"}})
	}
	r := &api.Replay{Incident: inc, From: replayFrom, To: replayFrom + int64(secs)*1000, RadiusM: 2000}
	for u := range n {
		id := "u-" + string(rune('a'+u%26)) + string(rune('a'+u/26))
		ru := api.ReplayUnit{Unit: id, Type: protocol.TypeCar, Assigned: u < 3}
		if u < 3 {
			r.Incident.Assignments = append(r.Incident.Assignments, api.Assignment{Unit: id, State: api.AssignEnroute,
				Dispatched: replayFrom + 5000, Acked: replayFrom + 9000})
		}
		lat, lon := 28.17+rng.Float64()*0.04, 112.96+rng.Float64()*0.04
		for s := range secs {
			if rng.IntN(20) == 0 {
				continue // a fix lost now and then
			}
			lat += (rng.Float64() - 0.5) * 0.0002
			lon += (rng.Float64() - 0.5) * 0.0002
			ru.T = append(ru.T, int64(s)*1000+int64(rng.IntN(200)))
			ru.Lat = append(ru.Lat, math.Round(lat*1e6)/1e6)
			ru.Lon = append(ru.Lon, math.Round(lon*1e6)/1e6)
			if st := statuses[(s/300+u)%len(statuses)]; len(ru.Status) == 0 || ru.Status[len(ru.Status)-1] != st {
				ru.Status = append(ru.Status, st)
				ru.StatusFrom = append(ru.StatusFrom, len(ru.T)-1)
			}
		}
		r.Units = append(r.Units, ru)
	}
	return r
}

// BenchmarkReplayDecode: the answer of a 50-unit, 30-minute replay at 1 Hz
// decoded into the model ("loads in under a second" in the browser, which
// runs Go several times slower than the host).
func BenchmarkReplayDecode(b *testing.B) {
	data, err := json.Marshal(syntheticReplay(50, 30*60))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeReplay(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplayFrame: one frame of playback at 60× — every unit's
// state moved on a second (the cursor) and the scene built — against the
// 16.7 ms a frame has at 60 fps.
func BenchmarkReplayFrame(b *testing.B) {
	r, err := NewReplay(syntheticReplay(50, 30*60))
	if err != nil {
		b.Fatal(err)
	}
	var sb sceneBuf
	scene := MapScene{View: FitBox(r.Box(), 1280, 800), SelInc: r.Incident.ID, Lang: EN}
	t := r.From
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		t += 1000 // 60× at 60 fps
		if t > r.To {
			t = r.From
		}
		r.MoveTo(t)
		info := sb.build(r.Store, &scene, r.T, 0.5)
		n += info.Units
	}
	if n == 0 {
		b.Fatal("no unit drawn")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}
