package ui

import (
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func fp(v float64) *float64 { return &v }
func ip(v int64) *int64     { return &v }

// unitAt is a unit view with a fix at ts.
func unitAt(id string, typ protocol.UnitType, st protocol.Status, lat, lon float64, ts int64) Unit {
	return Unit{ID: id, Type: typ, Status: st, Online: true, Lat: fp(lat), Lon: fp(lon), TS: ip(ts), Capabilities: []string{}}
}

func snapshot(conn, seq uint64, units []Unit, incs []Incident) *Frame {
	return &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: seq, TS: 1000, Units: units, Incidents: incs}, conn: conn}
}

func delta(conn, seq uint64, units []Unit, incs []Incident, rmU, rmI []string) *Frame {
	return &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: seq, TS: 2000, Units: units, Incidents: incs, RemovedUnits: rmU, RemovedIncidents: rmI}, conn: conn}
}

func TestStoreApply(t *testing.T) {
	type check func(t *testing.T, s *Store)
	units := func(want ...string) check {
		return func(t *testing.T, s *Store) {
			t.Helper()
			if len(s.Units) != len(want) {
				t.Errorf("units %d, want %v", len(s.Units), want)
			}
			for _, id := range want {
				if s.Units[id] == nil {
					t.Errorf("unit %s missing", id)
				}
			}
		}
	}
	incs := func(open, closed int) check {
		return func(t *testing.T, s *Store) {
			t.Helper()
			if len(s.Incidents) != open || len(s.History) != closed {
				t.Errorf("incidents open %d closed %d, want %d %d", len(s.Incidents), len(s.History), open, closed)
			}
		}
	}
	counters := func(frames, snaps, resyncs, gaps int) check {
		return func(t *testing.T, s *Store) {
			t.Helper()
			if s.Frames != frames || s.Snapshots != snaps || s.Resyncs != resyncs || s.Gaps != gaps {
				t.Errorf("counters %d/%d/%d/%d, want %d/%d/%d/%d", s.Frames, s.Snapshots, s.Resyncs, s.Gaps, frames, snaps, resyncs, gaps)
			}
		}
	}
	status := func(id string, st protocol.Status, lat float64) check {
		return func(t *testing.T, s *Store) {
			t.Helper()
			u := s.Units[id]
			if u == nil || u.Status != st || u.Lat != lat {
				t.Errorf("unit %s = %+v, want %s at %v", id, u, st, lat)
			}
		}
	}
	a := unitAt("a", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, 100)
	b := unitAt("b", protocol.TypeFoot, protocol.StatusBusy, 28.1, 112.9, 100)
	a2 := unitAt("a", protocol.TypeCar, protocol.StatusEnroute, 28.21, 112.98, 200)
	open := Incident{ID: "i1", Status: api.IncidentOpen, Priority: 1}
	closed := Incident{ID: "i1", Status: api.IncidentClosed, Priority: 1, Timeline: []Entry{{Type: "closed"}}}
	for _, tc := range []struct {
		name   string
		frames []*Frame
		checks []check
	}{
		{"snapshot", []*Frame{snapshot(1, 5, []Unit{a, b}, []Incident{open})},
			[]check{units("a", "b"), incs(1, 0), counters(1, 1, 0, 0)}},
		{"delta latest wins", []*Frame{snapshot(1, 5, []Unit{a, b}, nil), delta(1, 6, []Unit{a2}, nil, nil, nil)},
			[]check{units("a", "b"), status("a", protocol.StatusEnroute, 28.21), counters(2, 1, 0, 0)}},
		{"removed unit", []*Frame{snapshot(1, 5, []Unit{a, b}, nil), delta(1, 6, nil, nil, []string{"b"}, nil)},
			[]check{units("a")}},
		{"closed incident goes to history", []*Frame{snapshot(1, 5, nil, []Incident{open}), delta(1, 6, nil, []Incident{closed}, nil, nil)},
			[]check{incs(0, 1)}},
		{"removed incident", []*Frame{snapshot(1, 5, nil, []Incident{open}), delta(1, 6, nil, nil, nil, []string{"i1"})},
			[]check{incs(0, 0)}},
		{"gap is counted", []*Frame{snapshot(1, 5, []Unit{a}, nil), delta(1, 6, nil, nil, nil, nil), delta(1, 9, []Unit{a2}, nil, nil, nil)},
			[]check{counters(3, 1, 0, 1), status("a", protocol.StatusEnroute, 28.21)}},
		{"mid-stream snapshot is a resync and replaces state",
			[]*Frame{snapshot(1, 5, []Unit{a, b}, []Incident{open}), delta(1, 6, nil, nil, nil, nil), snapshot(1, 12, []Unit{a2}, nil)},
			[]check{units("a"), incs(0, 0), counters(3, 2, 1, 0), status("a", protocol.StatusEnroute, 28.21)}},
		{"snapshot on a new connection is not a resync",
			[]*Frame{snapshot(1, 5, []Unit{a}, nil), snapshot(2, 9, []Unit{b}, nil), delta(2, 10, nil, nil, nil, nil)},
			[]check{units("b"), counters(3, 2, 0, 0)}},
		{"unknown frame type is ignored", []*Frame{{Frame: api.Frame{Type: "hello"}, conn: 1}}, []check{counters(0, 0, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore()
			for _, f := range tc.frames {
				s.Apply(f)
			}
			for _, c := range tc.checks {
				c(t, s)
			}
		})
	}
}

func TestUnitStateDerived(t *testing.T) {
	s := NewStore()
	moving := unitAt("m", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.196, 112.977, 1000)
	moving.HeadingDeg, moving.SpeedMPS = fp(45), fp(10)
	still := unitAt("s", protocol.TypeCar, protocol.StatusAvailable, 28.196, 112.977, 1000)
	still.HeadingDeg, still.SpeedMPS = fp(45), fp(0.1)
	nofix := Unit{ID: "n", Type: protocol.TypeFoot, Online: true}
	s.Apply(snapshot(1, 1, []Unit{moving, still, nofix}, nil))
	m, st, n := s.Units["m"], s.Units["s"], s.Units["n"]
	if !m.HasHeading || m.Heading != 45 || st.HasHeading {
		t.Errorf("heading: moving %v, still %v", m.HasHeading, st.HasHeading)
	}
	if n.HasFix || n.District != -1 {
		t.Errorf("no fix: %+v", n)
	}
	if m.District != -1 || m.DistrictID != "" {
		t.Errorf("a district before the store has any: %+v", m)
	}
	s.SetDistricts(changshaDistricts(t))
	if m.DistrictID != "furong" || s.DistrictName(m, ZH) != "芙蓉区" || s.DistrictName(n, EN) != "" {
		t.Errorf("Wuyi Square in %q (%q), want furong", m.DistrictID, s.DistrictName(m, ZH))
	}
	x, y := m.MX, m.MY
	if x != mercX(112.977) || y != mercY(28.196) {
		t.Errorf("mercator cache %v %v", x, y)
	}
	// Freshness on the hub's clock.
	if !m.Fresh(1000+StaleAfter.Milliseconds()) || m.Fresh(1001+StaleAfter.Milliseconds()) {
		t.Error("stale bound")
	}
	if !m.Dispatchable(2000) {
		t.Error("available online fresh unit not dispatchable")
	}
	m.Online = false
	if m.Dispatchable(2000) {
		t.Error("offline unit dispatchable")
	}
}

func TestStoreClock(t *testing.T) {
	s := NewStore()
	local := time.UnixMilli(1_000_000)
	f := snapshot(1, 1, nil, nil)
	f.TS, f.received = 1_005_000, local.UnixMilli() // the hub's clock is 5 s ahead
	s.Apply(f)
	if got := s.HubNow(local.Add(time.Second)); got != 1_006_000 {
		t.Errorf("HubNow %d", got)
	}
	if got := s.DataAge(local.Add(3 * time.Second)); got != 3*time.Second {
		t.Errorf("DataAge %v", got)
	}
}

func TestMergeKeepsNewer(t *testing.T) {
	s := NewStore()
	stream := Incident{ID: "i", Status: api.IncidentDispatched, Timeline: make([]Entry, 3), Assignments: make([]api.Assignment, 1)}
	s.Apply(snapshot(1, 1, nil, []Incident{stream}))
	older := Incident{ID: "i", Status: api.IncidentOpen, Timeline: make([]Entry, 2)}
	if s.Merge(&older) || s.Incidents["i"].Status != api.IncidentDispatched {
		t.Error("an older API answer replaced the stream's newer state")
	}
	newer := Incident{ID: "i", Status: api.IncidentOnScene, Timeline: make([]Entry, 4), Assignments: make([]api.Assignment, 1)}
	if !s.Merge(&newer) || s.Incidents["i"].Status != api.IncidentOnScene {
		t.Error("a newer API answer was refused")
	}
	closed := Incident{ID: "i", Status: api.IncidentClosed, Timeline: make([]Entry, 5)}
	if !s.Merge(&closed) || s.History["i"] == nil || s.Incidents["i"] != nil {
		t.Error("closing moves the incident to history")
	}
	// Reopened (a longer timeline): open again; the copy of when it was
	// closed, arriving late, does not close it again.
	reopened := Incident{ID: "i", Status: api.IncidentOpen, Timeline: make([]Entry, 6)}
	if !s.Merge(&reopened) || s.Incidents["i"] == nil || s.History["i"] != nil {
		t.Error("a reopened incident stayed closed")
	}
	if s.Merge(&closed) || s.Incidents["i"] == nil {
		t.Error("a late copy of the closed incident closed the reopened one")
	}
	// At the hub's 1000-entry cap, closing adds no entry: the closed copy wins.
	capped := Incident{ID: "j", Status: api.IncidentOnScene, Timeline: make([]Entry, 1000)}
	s.Apply(delta(1, 2, nil, []Incident{capped}, nil, nil))
	cappedClosed := Incident{ID: "j", Status: api.IncidentClosed, Timeline: make([]Entry, 1000)}
	if !s.Merge(&cappedClosed) || s.History["j"] == nil {
		t.Error("a closing at the timeline's cap was refused")
	}
}
