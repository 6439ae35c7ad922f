package dispatch

import (
	"slices"
	"testing"
	"time"

	"kuaifan/hub/internal/fleet"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// enrolArmed enrols a unit with the armed capability, online, and places it
// as place does.
func (r *rig) enrolArmed(id string, typ protocol.UnitType, dLat float64) {
	r.t.Helper()
	if _, err := r.fleet.Enrol(fleet.Enrolment{ID: id, Type: typ, Capabilities: []string{"armed"}}, r.clock.Now()); err != nil {
		r.t.Fatal(err)
	}
	r.apply(fleet.Message{Kind: protocol.KindState, State: protocol.State{Unit: id, Online: true, Boot: "b1"}})
	r.seq[id] = 0
	r.place(id, typ, dLat, 0)
}

// sos is the officer's sos, dLat north of the site (nil: no position in
// the event), committed and handed to dispatch as ingest does.
func (r *rig) sos(id string, dLat *float64) protocol.Event {
	r.t.Helper()
	r.seq[id]++
	e := protocol.Event{Unit: id, Seq: r.seq[id], TS: r.clock.Now().UnixMilli(), Type: protocol.EventSOS}
	if dLat != nil {
		e.Lat, e.Lon = ptr(siteLat+*dLat), ptr(siteLon)
	}
	r.apply(fleet.Message{Kind: protocol.KindEvents, Event: e})
	r.d.HandleEventsNow([]protocol.Event{e})
	return e
}

// sosIncidents are the incidents an officer's sos opened, open or not.
func (r *rig) sosIncidents(unit string) []Incident {
	var out []Incident
	for _, inc := range r.d.List(true) {
		if inc.SOS == unit {
			out = append(out, inc)
		}
	}
	return out
}

// sent are the commands of a type sent to a unit so far.
func (r *rig) sent(unit string, typ protocol.CommandType) []protocol.Command {
	r.bus.mu.Lock()
	defer r.bus.mu.Unlock()
	topic := protocol.Topics{Root: protocol.DefaultRoot}.Unit(unit, protocol.KindCmd)
	var out []protocol.Command
	for i, c := range r.bus.sent {
		if r.bus.topics[i] == topic && c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// latOf is the latitude dLat north of the site, computed as place and sos
// do (at run time, not folded as a constant).
func latOf(dLat float64) float64 { return siteLat + dLat }

func activeUnits(inc Incident) []string {
	var out []string
	for _, a := range inc.Assignments {
		if active(a.State) {
			out = append(out, a.Unit)
		}
	}
	slices.Sort(out)
	return out
}

// squad places the officer foot-0 at the site and, around it, units whose
// ETAs put them in tier 1 but car-4 (armed, tier 2) and car-6 (stale).
func squad(r *rig) {
	r.place("foot-0", protocol.TypeFoot, 0, 0)
	r.place("moto-1", protocol.TypeMotorcycle, 0.001, 0) // 14 s
	r.place("car-2", protocol.TypeCar, 0.0015, 0)        // 28 s
	r.enrolArmed("car-3", protocol.TypeCar, 0.003)       // 56 s, armed
	r.enrolArmed("car-4", protocol.TypeCar, 0.008)       // 150 s, armed, tier 2
	r.place("car-5", protocol.TypeCar, 0.002, 0)         // 37 s
	r.place("car-6", protocol.TypeCar, 0.0005, 5*time.Minute)
}

func TestSOS(t *testing.T) {
	north := func(d float64) *float64 { return &d }
	tests := []struct {
		name string
		pol  func(*Policy)
		run  func(t *testing.T, r *rig)
	}{
		{"opens once, nearest three armed first, never the officer", nil, func(t *testing.T, r *rig) {
			squad(r)
			r.sos("foot-0", nil)
			incs := r.sosIncidents("foot-0")
			if len(incs) != 1 {
				t.Fatalf("%d sos incidents, want 1", len(incs))
			}
			inc := r.get(incs[0].ID)
			if inc.Kind != api.KindOfficerHelp || inc.Priority != 1 || inc.Lat != siteLat || inc.Lon != siteLon || inc.Status != StatusDispatched {
				t.Errorf("incident %+v", inc)
			}
			created := inc.Timeline[0]
			if created.Type != api.EntryCreated || created.Actor != "foot-0" || created.Reason != api.ReasonReported ||
				created.Params == nil || created.Params.Kind != api.KindOfficerHelp {
				t.Errorf("created entry %+v", created)
			}
			// Tier 1, armed first (car-3), then by ETA; car-4 is armed but
			// in tier 2, car-6 stale, foot-0 the officer.
			want := []string{"car-2", "car-3", "moto-1"}
			if got := activeUnits(inc); !slices.Equal(got, want) {
				t.Errorf("dispatched %v, want %v", got, want)
			}
			if inc.Assignments[0].Unit != "car-3" {
				t.Errorf("first sent %s, want the armed car-3", inc.Assignments[0].Unit)
			}
			if len(r.sent("foot-0", protocol.CmdDispatch)) != 0 {
				t.Error("the officer was dispatched to its own sos")
			}
			if v, _ := r.fleet.Get("foot-0"); v.Incident != inc.ID {
				t.Errorf("officer's view incident %q, want %s (out of matching)", v.Incident, inc.ID)
			}
			checkTimeline(t, inc)
		}},
		{"a redelivered sos changes nothing", nil, func(t *testing.T, r *rig) {
			squad(r)
			e := r.sos("foot-0", nil)
			before := r.get(r.sosIncidents("foot-0")[0].ID)
			n := len(r.bus.sent)
			r.d.HandleEventsNow([]protocol.Event{e}) // as a replay after a restart would
			r.d.HandleEventsNow([]protocol.Event{e})
			after := r.get(before.ID)
			if len(r.sosIncidents("foot-0")) != 1 || len(after.Timeline) != len(before.Timeline) || len(r.bus.sent) != n {
				t.Errorf("redelivery changed it: %d incidents, timeline %d → %d, commands %d → %d",
					len(r.sosIncidents("foot-0")), len(before.Timeline), len(after.Timeline), n, len(r.bus.sent))
			}
		}},
		{"a repeated sos updates the same incident and tops it up", nil, func(t *testing.T, r *rig) {
			squad(r)
			id := r.sos("foot-0", nil).Unit
			id = r.sosIncidents(id)[0].ID
			r.event("moto-1", protocol.EventDecline, id) // replaced at once by car-5
			r.event("car-5", protocol.EventDecline, id)  // nobody fresh left in the city but car-4
			r.event("car-4", protocol.EventDecline, id)
			r.place("car-7", protocol.TypeCar, 0.001, 0)
			r.clock.Advance(10 * time.Second)
			r.sos("foot-0", north(0.0002))
			incs := r.sosIncidents("foot-0")
			if len(incs) != 1 {
				t.Fatalf("%d sos incidents, want 1", len(incs))
			}
			inc := r.get(id)
			if inc.Lat != latOf(0.0002) {
				t.Errorf("lat %v, want the sos's %v", inc.Lat, latOf(0.0002))
			}
			if !slices.Contains(activeUnits(inc), "car-7") || len(activeUnits(inc)) != 3 {
				t.Errorf("active %v: want three, car-7 among them", activeUnits(inc))
			}
			if len(r.sent("car-2", protocol.CmdUpdateLocation)) != 1 {
				t.Errorf("car-2 on its way got %d update_location", len(r.sent("car-2", protocol.CmdUpdateLocation)))
			}
			last := -1
			for i, e := range inc.Timeline {
				if e.Type == api.EntrySighting && e.Actor == "foot-0" && e.Params.Source == sosSource {
					last = i
				}
			}
			if last < 0 {
				t.Error("no sighting entry of the repeated sos")
			}
			checkTimeline(t, inc)
		}},
		{"the officer's positions move it", nil, func(t *testing.T, r *rig) {
			squad(r)
			id := r.sosIncidents(r.sos("foot-0", nil).Unit)[0].ID
			r.clock.Advance(time.Second)
			r.place("foot-0", protocol.TypeFoot, 0.0001, 0) // 11 m: GPS noise, under move_m
			r.d.followSOS()
			if inc := r.get(id); inc.Lat != siteLat {
				t.Errorf("moved %v by 11 m", inc.Lat-siteLat)
			}
			r.clock.Advance(time.Second)
			r.place("foot-0", protocol.TypeFoot, 0.0005, 0) // 55 m
			r.d.followSOS()
			inc := r.get(id)
			if inc.Lat != latOf(0.0005) {
				t.Errorf("lat %v, want the officer's %v", inc.Lat, latOf(0.0005))
			}
			for _, u := range activeUnits(inc) {
				if c := r.sent(u, protocol.CmdUpdateLocation); len(c) != 1 || *c[0].Lat != latOf(0.0005) {
					t.Errorf("%s got update_location %+v", u, c)
				}
			}
			r.d.followSOS() // the same position again: nothing
			if n := len(r.sent("car-3", protocol.CmdUpdateLocation)); n != 1 {
				t.Errorf("%d update_location for one move", n)
			}
			// Moves come at most every follow_every (10 s): a chase on foot
			// must not fill the timeline.
			r.clock.Advance(2 * time.Second)
			r.place("foot-0", protocol.TypeFoot, 0.001, 0)
			r.d.followSOS()
			if inc := r.get(id); inc.Lat != latOf(0.0005) {
				t.Errorf("moved again within follow_every: %v", inc.Lat)
			}
			r.clock.Advance(10 * time.Second)
			r.d.followSOS()
			if inc := r.get(id); inc.Lat != latOf(0.001) {
				t.Errorf("not moved after follow_every: %v", inc.Lat)
			}
			checkTimeline(t, inc)
		}},
		{"closed ends it: the next sos opens another", nil, func(t *testing.T, r *rig) {
			squad(r)
			id := r.sosIncidents(r.sos("foot-0", nil).Unit)[0].ID
			if _, err := r.d.Close(id, ActorDispatcher, "officer safe"); err != nil {
				t.Fatal(err)
			}
			if v, _ := r.fleet.Get("foot-0"); v.Incident != "" {
				t.Errorf("officer still held by %q", v.Incident)
			}
			r.place("foot-0", protocol.TypeFoot, 0.001, 0)
			r.d.followSOS()
			if inc := r.get(id); inc.Lat != siteLat {
				t.Error("a closed sos incident followed the officer")
			}
			if c := r.sent("foot-0", protocol.CmdConfig); len(c) < 2 || c[len(c)-1].Config["stationary_s"] != 60 {
				t.Errorf("officer's config commands %+v: want fast at the sos, free at the close", c)
			}
			r.sos("foot-0", nil)
			if n := len(r.sosIncidents("foot-0")); n != 2 {
				t.Errorf("%d sos incidents after a second sos, want 2", n)
			}
		}},
		{"survives a restart", nil, func(t *testing.T, r *rig) {
			squad(r)
			e := r.sos("foot-0", nil)
			id := r.sosIncidents("foot-0")[0].ID
			r.restart()
			r.d.HandleEventsNow([]protocol.Event{e}) // redelivered after the restart
			if n := len(r.sosIncidents("foot-0")); n != 1 {
				t.Fatalf("%d sos incidents after a restart and a redelivery", n)
			}
			if v, _ := r.fleet.Get("foot-0"); v.Incident != id {
				t.Errorf("officer's incident %q after a restart", v.Incident)
			}
			r.place("foot-0", protocol.TypeFoot, 0.001, 0)
			r.d.followSOS()
			if inc := r.get(id); inc.Lat != latOf(0.001) {
				t.Errorf("after a restart the incident does not follow: lat %v", inc.Lat)
			}
			r.sos("foot-0", nil)
			if n := len(r.sosIncidents("foot-0")); n != 1 {
				t.Errorf("%d sos incidents after a repeated sos following a restart", n)
			}
		}},
		{"stored but not applied before a stop: opened at the start", nil, func(t *testing.T, r *rig) {
			squad(r)
			// Committed (and so confirmed to the agent), the hub stops
			// before dispatch stores anything.
			r.seq["foot-0"]++
			e := protocol.Event{Unit: "foot-0", Seq: r.seq["foot-0"], TS: r.clock.Now().UnixMilli(), Type: protocol.EventSOS,
				Lat: ptr(latOf(0.0002)), Lon: ptr(siteLon)}
			r.apply(fleet.Message{Kind: protocol.KindEvents, Event: e})
			r.clock.Advance(30 * time.Second) // back soon: the squad's fixes are still fresh
			r.restart()
			// Opened as the hub starts, while every unit is still offline;
			// units are sent as they come back (here, as the rig restarts).
			incs := r.sosIncidents("foot-0")
			if len(incs) != 1 || incs[0].Lat != latOf(0.0002) || incs[0].Priority != 1 {
				t.Fatalf("after the start: %+v", incs)
			}
			r.d.followSOS()
			if got := activeUnits(r.get(incs[0].ID)); len(got) != 3 {
				t.Errorf("units sent once back: %v", got)
			}
			r.restart() // applied now: a second start opens nothing more
			if n := len(r.sosIncidents("foot-0")); n != 1 {
				t.Errorf("%d sos incidents after a second start", n)
			}
		}},
		{"older than the replay window: not opened at the start", nil, func(t *testing.T, r *rig) {
			squad(r)
			r.seq["foot-0"]++
			e := protocol.Event{Unit: "foot-0", Seq: r.seq["foot-0"], TS: r.clock.Now().UnixMilli(), Type: protocol.EventSOS}
			r.apply(fleet.Message{Kind: protocol.KindEvents, Event: e})
			r.clock.Advance(SOSReplayWindow + time.Minute)
			r.restart()
			if n := len(r.sosIncidents("foot-0")); n != 0 {
				t.Errorf("%d sos incidents from an sos older than the window", n)
			}
		}},
		{"position from the event, else the last known; none: nothing", nil, func(t *testing.T, r *rig) {
			r.place("moto-1", protocol.TypeMotorcycle, 0.001, 0)
			if _, err := r.fleet.Enrol(fleet.Enrolment{ID: "foot-9", Type: protocol.TypeFoot}, r.clock.Now()); err != nil {
				t.Fatal(err)
			}
			r.seq["foot-9"] = 0
			r.sos("foot-9", nil)
			if n := len(r.sosIncidents("foot-9")); n != 0 {
				t.Fatalf("an sos without any position opened %d incidents", n)
			}
			r.sos("foot-9", north(0.01))
			incs := r.sosIncidents("foot-9")
			if len(incs) != 1 || incs[0].Lat != latOf(0.01) {
				t.Fatalf("sos incidents %+v", incs)
			}
		}},
		{"nobody free at first: sent as units become free", nil, func(t *testing.T, r *rig) {
			r.place("foot-0", protocol.TypeFoot, 0, 0)
			r.sos("foot-0", nil)
			id := r.sosIncidents("foot-0")[0].ID
			if inc := r.get(id); len(inc.Assignments) != 0 || !inc.Uncovered {
				t.Fatalf("with nobody around: %+v", inc)
			}
			r.place("car-1", protocol.TypeCar, 0.002, 0)
			r.d.followSOS()
			if got := activeUnits(r.get(id)); !slices.Equal(got, []string{"car-1"}) {
				t.Errorf("dispatched %v once car-1 came online", got)
			}
			r.d.followSOS()
			if n := len(r.sent("car-1", protocol.CmdDispatch)); n != 1 {
				t.Errorf("car-1 dispatched %d times", n)
			}
		}},
		{"policy: no units sent by the hub", func(p *Policy) { p.SOS.Units = 0 }, func(t *testing.T, r *rig) {
			squad(r)
			r.sos("foot-0", nil)
			inc := r.sosIncidents("foot-0")[0]
			if len(inc.Assignments) != 0 {
				t.Errorf("assignments %+v with sos.units 0", inc.Assignments)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				if tt.pol != nil {
					tt.pol(&c.Policy)
				}
			})
			tt.run(t, r)
		})
	}
}

// The hub commands the policy's reporting rate: fast with a dispatch, back
// to free when the assignment ends, none when the policy has it off; the
// unit's view shows what it was commanded.
func TestReportConfig(t *testing.T) {
	tests := []struct {
		name string
		off  bool
		end  func(r *rig, id string)
	}{
		{"cleared", false, func(r *rig, id string) {
			r.event("car-1", protocol.EventArrived, id)
			r.event("car-1", protocol.EventCleared, id)
		}},
		{"declined", false, func(r *rig, id string) { r.event("car-1", protocol.EventDecline, id) }},
		{"closed", false, func(r *rig, id string) { r.d.Close(id, ActorDispatcher, "") }},
		{"timed out", false, func(r *rig, id string) {
			inc := r.get(id)
			r.clock.Advance(time.Minute)
			r.d.timeout(id, "car-1", inc.Assignments[0].Command)
		}},
		{"off", true, func(r *rig, id string) { r.event("car-1", protocol.EventDecline, id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Policy.Report.Off = tt.off })
			r.place("car-1", protocol.TypeCar, 0.003, 0)
			id := r.create("theft", 3).ID
			if _, err := r.d.Assign(id, "car-1", ActorDispatcher); err != nil {
				t.Fatal(err)
			}
			cfgs := r.sent("car-1", protocol.CmdConfig)
			if tt.off {
				tt.end(r, id)
				if n := len(r.sent("car-1", protocol.CmdConfig)); n != 0 {
					t.Errorf("%d config commands with the policy off", n)
				}
				if v, _ := r.fleet.Get("car-1"); v.ReportS != 0 {
					t.Errorf("report_s %v with the policy off", v.ReportS)
				}
				return
			}
			if len(cfgs) != 1 || cfgs[0].Config["stationary_s"] != 1 || cfgs[0].Config["moving_s"] != 1 {
				t.Fatalf("config on dispatch %+v", cfgs)
			}
			if v, _ := r.fleet.Get("car-1"); v.ReportS != 1 {
				t.Errorf("report_s %v on an assignment, want 1", v.ReportS)
			}
			// The dispatch goes out before the config: nothing holds it up.
			r.bus.mu.Lock()
			iDispatch, iConfig := -1, -1
			for i, c := range r.bus.sent {
				switch {
				case c.Type == protocol.CmdDispatch && iDispatch < 0:
					iDispatch = i
				case c.Type == protocol.CmdConfig && iConfig < 0:
					iConfig = i
				}
			}
			r.bus.mu.Unlock()
			if iDispatch > iConfig {
				t.Errorf("config (%d) before the dispatch (%d)", iConfig, iDispatch)
			}
			tt.end(r, id)
			cfgs = r.sent("car-1", protocol.CmdConfig)
			if len(cfgs) != 2 || cfgs[1].Config["stationary_s"] != 60 || cfgs[1].Config["moving_s"] != 5 {
				t.Fatalf("config at the end %+v", cfgs)
			}
			if v, _ := r.fleet.Get("car-1"); v.ReportS != 60 {
				t.Errorf("report_s %v when free, want 60", v.ReportS)
			}
		})
	}
}

func TestPolicySOSAndReportValidate(t *testing.T) {
	for name, change := range map[string]func(*Policy){
		"sos units 11":        func(p *Policy) { p.SOS.Units = 11 },
		"sos kind empty":      func(p *Policy) { p.SOS.Kind = "" },
		"sos prefer bad":      func(p *Policy) { p.SOS.Prefer = []string{"Armed!"} },
		"sos move negative":   func(p *Policy) { p.SOS.MoveM = -1 },
		"sos follow negative": func(p *Policy) { p.SOS.FollowEvery = -1 },
		"report free empty":   func(p *Policy) { p.Report.Free = map[string]float64{} },
		"report negative":     func(p *Policy) { p.Report.Assigned = map[string]float64{"moving_s": -1} },
		"report bad key":      func(p *Policy) { p.Report.Assigned = map[string]float64{"Moving": 1} },
	} {
		p := DefaultPolicy()
		change(&p)
		if p.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := DefaultPolicy()
	p.Report = ReportPolicy{Off: true}
	if err := p.Validate(); err != nil {
		t.Errorf("report off: %v", err)
	}
}

// A phone reporting by OwnTracks or OsmAnd hears no commands: the hub
// never sends it by itself (nor to an officer's help), nor its reporting
// rate; it is still recommended, and a dispatcher may send it by hand.
func TestPhonesNotAutoDispatched(t *testing.T) {
	r := newRig(t)
	for _, p := range []api.ReportProtocol{api.ReportOwnTracks, api.ReportOsmAnd} {
		id := "phone-" + string(p)
		if _, err := r.fleet.Enrol(fleet.Enrolment{ID: id, Type: protocol.TypeFoot, Protocol: p}, r.clock.Now()); err != nil {
			t.Fatal(err)
		}
		r.apply(fleet.Message{Kind: protocol.KindState, State: protocol.State{Unit: id, Online: true, Boot: "b1"}})
		r.seq[id] = 0
		r.place(id, protocol.TypeFoot, 0.0002, 0)
	}
	r.place("car-1", protocol.TypeCar, 0.003, 0)
	inc := r.create("robbery", 1)
	if got := activeUnits(r.get(inc.ID)); !slices.Equal(got, []string{"car-1"}) {
		t.Errorf("sent by the hub: %v, want car-1 only", got)
	}
	recs := r.get(inc.ID).Recommendations
	if len(recs) < 2 || recs[0].Unit != "phone-osmand" && recs[0].Unit != "phone-owntracks" {
		t.Errorf("recommendations %+v: the phones, nearest, still ranked first", recs)
	}
	if _, err := r.d.Assign(inc.ID, "phone-owntracks", ActorDispatcher); err != nil {
		t.Errorf("a dispatcher sends a phone by hand: %v", err)
	}
	if n := len(r.sent("phone-owntracks", protocol.CmdConfig)); n != 0 {
		t.Errorf("%d config commands to a phone", n)
	}
}

// A decline's reason, the officer's words, is on the timeline as its note.
func TestDeclineReason(t *testing.T) {
	r := newRig(t)
	inc := r.create("theft", 2)
	r.place("car-1", protocol.TypeCar, 0.002, 0)
	if _, err := r.d.Assign(inc.ID, "car-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.seq["car-1"]++
	e := protocol.Event{Unit: "car-1", Seq: r.seq["car-1"], TS: r.clock.Now().UnixMilli(), Type: protocol.EventDecline,
		Incident: inc.ID, Reason: "车辆故障 flat tyre"}
	r.apply(fleet.Message{Kind: protocol.KindEvents, Event: e})
	r.d.HandleEventsNow([]protocol.Event{e})
	var got *api.Entry
	for _, x := range r.get(inc.ID).Timeline {
		if x.Type == api.EntryDecline {
			got = &x
		}
	}
	if got == nil || got.Reason != api.ReasonByOfficer || got.Params == nil || got.Params.Note != e.Reason || got.Check() != nil {
		t.Errorf("decline entry %+v", got)
	}
}
