package dispatch

import (
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A step of a coverage scenario: what happens, the timeline entries it adds
// ("type/reason", the reason left out for types without), and the flag after.
type coverStep struct {
	name      string
	do        func(r *rig, id *string)
	added     string
	uncovered bool
	check     func(t *testing.T, inc Incident) // more to look at, if set
}

func createAt(kind string, priority int) func(*rig, *string) {
	return func(r *rig, id *string) { *id = r.create(kind, priority).ID }
}

func assign(unit string) func(*rig, *string) {
	return func(r *rig, id *string) {
		if _, err := r.d.Assign(*id, unit, ActorDispatcher); err != nil {
			r.t.Fatal(err)
		}
	}
}

func answer(unit string, typ protocol.EventType) func(*rig, *string) {
	return func(r *rig, id *string) { r.event(unit, typ, *id) }
}

// drive reports a new fix and lets the periodic review look.
func drive(unit string, typ protocol.UnitType, dLat float64) func(*rig, *string) {
	return func(r *rig, id *string) {
		r.place(unit, typ, dLat, 0)
		r.d.reviewCovers()
	}
}

func sight(dLat float64) func(*rig, *string) {
	return func(r *rig, id *string) {
		if _, err := r.d.Sighting(*id, Sighting{Lat: siteLat + dLat, Lon: siteLon, Source: "camera 7"}, ActorDispatcher); err != nil {
			r.t.Fatal(err)
		}
	}
}

func expire(unit string) func(*rig, *string) {
	return func(r *rig, id *string) {
		inc := r.get(*id)
		r.d.timeout(*id, unit, assignmentOf(&inc, unit).Command)
	}
}

func params(check func(p *api.Params) bool) func(*testing.T, Incident) {
	return func(t *testing.T, inc Incident) {
		t.Helper()
		last := inc.Timeline[len(inc.Timeline)-1]
		if last.Params == nil || !check(last.Params) {
			t.Errorf("last entry %+v, params %+v", last, last.Params)
		}
	}
}

// Uncovered means uncovered now: raised when nobody is there, on the way
// within tier 1, or free within it; cleared when a unit acknowledges within
// tier 1 (at once, or when it drives in) or arrives; raised again when the
// covering unit leaves it.
func TestCoverage(t *testing.T) {
	const car, moto = protocol.TypeCar, protocol.TypeMotorcycle
	scenarios := []struct {
		name  string
		units func(r *rig)
		steps []coverStep
	}{
		{"an acked unit drives into tier 1", func(r *rig) { r.place("car-a", car, 0.02, 0) }, []coverStep{
			{"created far from every unit", createAt("theft", 2), "created/reported,recommended/ranked,uncovered/no_fresh_in_tier1", true,
				params(func(p *api.Params) bool { return p.Other == "car-a" && p.Tier == 4 && *p.ETAS > 370 && *p.ETAS < 380 })},
			{"sent from tier 4", assign("car-a"), "dispatched/in_tier", true, nil},
			{"acked far away", answer("car-a", protocol.EventAck), "ack", true, nil},
			{"closer, in tier 3", drive("car-a", car, 0.01), "", true, nil},
			{"into tier 1", drive("car-a", car, 0.003), "covered/acked_in_tier1", false,
				params(func(p *api.Params) bool { return *p.ETAS > 50 && *p.ETAS <= 60 })},
			{"the covering unit declines", answer("car-a", protocol.EventDecline), "decline/by_officer,uncovered/no_fresh_in_tier1", true, nil},
			{"a free unit in tier 1 is not on its way", drive("car-b", car, 0.003), "", true, nil},
			{"it is sent", assign("car-b"), "dispatched/in_tier", true, nil},
			{"acked within tier 1: covered at once", answer("car-b", protocol.EventAck), "ack,covered/acked_in_tier1", false, nil},
			{"a sighting moves it away", sight(0.05), "sighting/sighted,update_location/retargeted,uncovered/no_fresh_in_tier1", true, nil},
			{"in tier 1 of the new place, but the fix goes stale", func(r *rig, id *string) {
				r.place("car-b", car, 0.051, 0)
				r.clock.Advance(3 * time.Minute)
				r.d.reviewCovers()
			}, "", true, nil},
			{"a fresh fix there", drive("car-b", car, 0.051), "covered/acked_in_tier1", false, nil},
			{"arrives: nothing more to say", answer("car-b", protocol.EventArrived), "arrived", false, nil},
		}},
		{"arrival covers at once", func(r *rig) { r.place("car-c", car, 0.02, 0); r.place("car-d", car, 0.03, 0) }, []coverStep{
			{"created", createAt("theft", 3), "created/reported,recommended/ranked,uncovered/no_fresh_in_tier1", true, nil},
			{"sent", assign("car-c"), "dispatched/in_tier", true, nil},
			{"arrives without an ack", answer("car-c", protocol.EventArrived), "arrived,covered/on_scene", false, nil},
			{"a second unit sent", assign("car-d"), "dispatched/in_tier", false, nil},
			{"the one on scene clears, the other is far", answer("car-c", protocol.EventCleared), "cleared,uncovered/no_fresh_in_tier1", true, nil},
			{"the other arrives", answer("car-d", protocol.EventArrived), "arrived,covered/on_scene", false, nil},
			{"and clears", answer("car-d", protocol.EventCleared), "cleared,closed/all_cleared", false, nil},
		}},
		{"a unit that cleared nearby still covers", func(r *rig) { r.place("car-e", car, 0.001, 0); r.place("car-f", car, 0.02, 0) }, []coverStep{
			{"created", createAt("theft", 3), "created/reported,recommended/ranked", false, nil},
			{"both sent", func(r *rig, id *string) { assign("car-e")(r, id); assign("car-f")(r, id) }, "dispatched/in_tier,dispatched/in_tier", false, nil},
			{"one arrives and clears", func(r *rig, id *string) {
				answer("car-e", protocol.EventArrived)(r, id)
				answer("car-e", protocol.EventCleared)(r, id)
			}, "arrived,cleared", false, nil},
		}},
		{"auto-dispatch finds a replacement", func(r *rig) { r.place("moto-1", moto, 0.002, 0); r.place("car-2", car, 0.004, 0) }, []coverStep{
			{"created: moto-1 goes", createAt("assault", 1), "created/reported,recommended/ranked,dispatched/in_tier", false, nil},
			{"moto-1 declines: nobody else in tier 1", answer("moto-1", protocol.EventDecline), "decline/by_officer,uncovered/no_fresh_in_tier1,dispatched/replacing", true,
				params(func(p *api.Params) bool { return p.Other == "moto-1" && p.State == "declined" && p.Tier == 2 })},
			{"car-2 acks from tier 2", answer("car-2", protocol.EventAck), "ack", true, nil},
			{"and drives into tier 1", drive("car-2", car, 0.003), "covered/acked_in_tier1", false, nil},
		}},
		{"declined and nobody to send instead", func(r *rig) { r.place("moto-1", moto, 0.002, 0) }, []coverStep{
			{"created: moto-1 goes", createAt("assault", 1), "created/reported,recommended/ranked,dispatched/in_tier", false, nil},
			{"it declines", answer("moto-1", protocol.EventDecline), "decline/by_officer,uncovered/no_replacement", true,
				params(func(p *api.Params) bool { return p.Other == "moto-1" && p.State == "declined" })},
		}},
		{"silent and nobody to send instead", func(r *rig) { r.place("moto-1", moto, 0.002, 0) }, []coverStep{
			{"created: moto-1 goes", createAt("assault", 1), "created/reported,recommended/ranked,dispatched/in_tier", false, nil},
			{"its deadline passes", expire("moto-1"), "timeout/no_ack,uncovered/no_replacement", true,
				params(func(p *api.Params) bool { return p.Other == "moto-1" && p.State == "timeout" })},
			{"a late ack is called off", answer("moto-1", protocol.EventAck), "cancelled/late_ack", true,
				params(func(p *api.Params) bool { return p.State == "timeout" })},
		}},
		{"nobody anywhere", func(r *rig) {}, []coverStep{
			{"created", createAt("theft", 2), "created/reported,recommended/no_unit,uncovered/no_fresh_in_tier1", true,
				func(t *testing.T, inc Incident) {
					if p := inc.Timeline[2].Params; p != nil {
						t.Errorf("uncovered with nobody at all has params %+v", p)
					}
				}},
		}},
		{"only a stale unit", func(r *rig) { r.place("car-s", car, 0.001, 5*time.Minute) }, []coverStep{
			{"created", createAt("theft", 2), "created/reported,recommended/ranked,uncovered/no_fresh_in_tier1", true,
				params(func(p *api.Params) bool {
					return p.Other == "car-s" && p.Tier == 1 && p.FixAgeS != nil && *p.FixAgeS >= 300
				})},
			{"sent though stale", assign("car-s"), "dispatched/in_tier", true,
				params(func(p *api.Params) bool { return p.FixAgeS != nil && *p.FixAgeS >= 300 })},
			{"acked, but where it is nobody knows", func(r *rig, id *string) {
				answer("car-s", protocol.EventAck)(r, id)
				r.d.reviewCovers()
			}, "ack", true, nil},
		}},
		{"reopening looks again", func(r *rig) { r.place("car-g", car, 0.003, 0) }, []coverStep{
			{"created next to a free unit", createAt("theft", 3), "created/reported,recommended/ranked", false, nil},
			{"closed", func(r *rig, id *string) {
				if _, err := r.d.Close(*id, ActorDispatcher, ""); err != nil {
					r.t.Fatal(err)
				}
			}, "closed/by_person", false, nil},
			{"reopened after the unit left", func(r *rig, id *string) {
				r.place("car-g", car, 0.02, 0)
				if _, err := r.d.Reopen(*id, ActorDispatcher, "the caller rang again"); err != nil {
					r.t.Fatal(err)
				}
			}, "reopened/reopened,uncovered/no_fresh_in_tier1", true, nil},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := newRig(t)
			sc.units(r)
			var id string
			seen := 0
			for _, st := range sc.steps {
				r.heard(id)
				st.do(r, &id)
				inc := r.get(id)
				var added []string
				for _, e := range inc.Timeline[seen:] {
					added = append(added, strings.TrimSuffix(e.Type+"/"+e.Reason, "/"))
				}
				if got := strings.Join(added, ","); got != st.added {
					t.Errorf("%s: added %q, want %q", st.name, got, st.added)
				}
				if len(added) > 0 && !r.heard(id) {
					t.Errorf("%s: OnChange did not hear of it", st.name)
				}
				if inc.Uncovered != st.uncovered {
					t.Errorf("%s: uncovered %v, want %v", st.name, inc.Uncovered, st.uncovered)
				}
				if st.check != nil {
					st.check(t, inc)
				}
				seen = len(inc.Timeline)
			}
			inc := r.get(id)
			checkTimeline(t, inc)
			// Stored as shown: a restart reads the same flag and timeline.
			r.restart()
			if again := r.get(id); again.Uncovered != inc.Uncovered || len(again.Timeline) != len(inc.Timeline) {
				t.Errorf("after a restart: uncovered %v, %d entries; before %v, %d", again.Uncovered, len(again.Timeline), inc.Uncovered, len(inc.Timeline))
			}
		})
	}
}
