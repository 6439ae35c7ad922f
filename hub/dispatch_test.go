package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/protocol"
)

// unitAt enrols a unit, connects it as a device and reports one fix dLat
// degrees north of the incident site, fixAge old.
func unitAt(t *testing.T, h *hubtest.Hub, id, typ string, dLat float64, fixAge time.Duration, caps ...string) *hubtest.Device {
	t.Helper()
	return unitWith(t, h, hubtest.DeviceOptions{}, id, typ, dLat, fixAge, caps...)
}

func unitWith(t *testing.T, h *hubtest.Hub, opts hubtest.DeviceOptions, id, typ string, dLat float64, fixAge time.Duration, caps ...string) *hubtest.Device {
	t.Helper()
	d := hubtest.Connect(t, h.MQTTURL(), id, h.Enrol(id, typ, caps...), opts)
	d.Send(d.Fix(1, time.Now().Add(-fixAge), lat0+dLat, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)
	return d
}

func createIncident(t *testing.T, h *hubtest.Hub, kind string, priority int) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	if st := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": lat0, "lon": lon0, "kind": kind,
		"priority": priority, "summary": "两名嫌疑人向西逃窜"}, &inc); st != http.StatusCreated {
		t.Fatalf("create incident: %d", st)
	}
	return inc
}

func getIncident(t *testing.T, h *hubtest.Hub, id string) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	if st := h.Do(http.MethodGet, "/api/incidents/"+id, nil, &inc); st != http.StatusOK {
		t.Fatalf("get incident %s: %d", id, st)
	}
	return inc
}

func waitIncident(t *testing.T, h *hubtest.Hub, id string, ok func(dispatch.Incident) error) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	hubtest.WaitFor(t, 10*time.Second, func() error {
		inc = getIncident(t, h, id)
		return ok(inc)
	})
	return inc
}

func timelineTypes(inc dispatch.Incident) string {
	var types []string
	for _, e := range inc.Timeline {
		types = append(types, e.Type)
	}
	return strings.Join(types, ",")
}

func stateOf(inc dispatch.Incident, unit string) string {
	s := ""
	for _, a := range inc.Assignments {
		if a.Unit == unit {
			s = a.State
		}
	}
	return s
}

// The whole lifecycle with a dispatcher's choice: recommended, dispatched,
// acked, arrived, cleared, closed; the unit's status follows and it is free after.
func TestIncidentLifecycle(t *testing.T) {
	h := hubtest.Start(t, nil)
	car := unitAt(t, h, "car-1", "car", 0.003, 0) // 334 m: 56 s by car, tier 1
	unitAt(t, h, "foot-1", "foot", 0.001, 0)      // 111 m: 112 s on foot, tier 2

	inc := createIncident(t, h, "theft", 2) // priority 2: no auto-dispatch
	if inc.Status != dispatch.StatusOpen || inc.Uncovered || len(inc.Assignments) != 0 {
		t.Fatalf("new incident = %+v", inc)
	}
	if len(inc.Recommendations) != 2 || inc.Recommendations[0].Unit != "car-1" || inc.Recommendations[0].Tier != 1 ||
		inc.Recommendations[1].Unit != "foot-1" || inc.Recommendations[1].Tier != 2 || inc.Recommendations[0].Stale {
		t.Fatalf("recommendations = %+v", inc.Recommendations)
	}

	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-1"}, &inc); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	cmd := car.WaitCommand(protocol.CmdDispatch, inc.ID)
	if *cmd.Lat != lat0 || *cmd.Lon != lon0 || cmd.Priority != 2 || cmd.Kind != "theft" {
		t.Errorf("dispatch command = %+v", cmd)
	}
	if v := unit(t, h, "car-1"); v.Status != "available" {
		t.Errorf("before its ack the unit says %q", v.Status)
	}
	// Taken: no longer recommended, not assignable twice.
	if got := getIncident(t, h, inc.ID); len(got.Recommendations) != 1 || got.Recommendations[0].Unit != "foot-1" {
		t.Errorf("recommendations after dispatch = %+v", got.Recommendations)
	}

	car.SendEvent(2, protocol.EventAck, inc.ID)
	waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if stateOf(i, "car-1") != dispatch.AssignEnroute || unit(t, h, "car-1").Status != "enroute" {
			return fmt.Errorf("after ack: %s, unit %s", stateOf(i, "car-1"), unit(t, h, "car-1").Status)
		}
		return nil
	})
	car.SendEvent(3, protocol.EventArrived, inc.ID)
	waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if i.Status != dispatch.StatusOnScene || unit(t, h, "car-1").Status != "on_scene" {
			return fmt.Errorf("after arrival: incident %s, unit %s", i.Status, unit(t, h, "car-1").Status)
		}
		return nil
	})
	car.SendEvent(4, protocol.EventCleared, inc.ID)
	inc = waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if i.Status != dispatch.StatusClosed {
			return fmt.Errorf("after clearing: %s", i.Status)
		}
		return nil
	})
	if got, want := timelineTypes(inc), "created,recommended,dispatched,ack,arrived,cleared,closed"; got != want {
		t.Errorf("timeline %s, want %s", got, want)
	}
	f := inc.Figures
	if f.ToDispatchS == nil || f.ToAckS == nil || f.ToArrivalS == nil || f.ToCloseS == nil ||
		*f.ToDispatchS > *f.ToAckS || *f.ToAckS > *f.ToArrivalS {
		t.Errorf("figures = %+v", f)
	}
	if v := unit(t, h, "car-1"); v.Status != "available" {
		t.Errorf("after clearing the unit is %q", v.Status)
	}
	// Free again: a new incident can have it.
	inc2 := createIncident(t, h, "theft", 2)
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc2.ID+"/assign", map[string]string{"unit": "car-1"}, nil); st != http.StatusOK {
		t.Errorf("assigning the cleared unit again: %d", st)
	}
}

// Priority 1 dispatches by itself; a decline and a silence each bring the
// next candidate, with the reason on the timeline; the silent unit is called off.
func TestAutoDispatchDeclineAndTimeout(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Dispatch.AckTimeout = dispatch.Duration(500 * time.Millisecond) })
	first := unitAt(t, h, "moto-1", "motorcycle", 0.002, 0)
	second := unitAt(t, h, "car-2", "car", 0.004, 0)
	third := unitAt(t, h, "car-3", "car", 0.008, 0)
	vol := unitAt(t, h, "vol-1", "volunteer", 0.0005, 0) // nearest, but never auto-dispatched, and not for assaults

	inc := createIncident(t, h, "assault", 1)
	if len(inc.Assignments) != 1 || inc.Assignments[0].Unit != "moto-1" || inc.Assignments[0].By != dispatch.ActorAuto {
		t.Fatalf("auto-dispatch = %+v", inc.Assignments)
	}
	for _, r := range inc.Recommendations {
		if r.Unit == "vol-1" {
			t.Errorf("a volunteer recommended for an assault")
		}
	}
	first.WaitCommand(protocol.CmdDispatch, inc.ID)
	first.SendEvent(2, protocol.EventDecline, inc.ID)
	second.WaitCommand(protocol.CmdDispatch, inc.ID)
	// car-2 never answers: after the timeout it is called off and car-3 goes.
	third.WaitCommand(protocol.CmdDispatch, inc.ID)
	second.WaitCommand(protocol.CmdCancel, inc.ID)
	inc = getIncident(t, h, inc.ID)
	if got := fmt.Sprint(stateOf(inc, "moto-1"), stateOf(inc, "car-2"), stateOf(inc, "car-3")); got != "declinedtimeoutdispatched" {
		t.Errorf("states = %s", got)
	}
	// moto-1 was the only unit within tier 1: once it declined, nobody was
	// (car-2 and car-3 are in tier 2), so the incident is uncovered.
	if got, want := timelineTypes(inc), "created,recommended,dispatched,decline,uncovered,dispatched,timeout,dispatched"; got != want {
		t.Errorf("timeline %s, want %s", got, want)
	}
	if !strings.Contains(inc.Timeline[5].Detail, "moto-1 declined") || !strings.Contains(inc.Timeline[7].Detail, "car-2 did not answer") {
		t.Errorf("reasons not recorded: %+v", inc.Timeline)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "vol-1"}, nil); st != http.StatusConflict {
		t.Errorf("assigning a volunteer to an assault: %d, want 409", st)
	}
	_ = vol
}

// Two dispatchers (and more) race for one unit: exactly one gets it.
func TestAssignmentRace(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := unitAt(t, h, "car-1", "car", 0.003, 0)
	var ids []string
	for range 4 {
		ids = append(ids, createIncident(t, h, "theft", 3).ID)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch st := h.Do(http.MethodPost, "/api/incidents/"+ids[i%len(ids)]+"/assign", map[string]string{"unit": "car-1"}, nil); st {
			case http.StatusOK:
				wins.Add(1)
			case http.StatusConflict:
				conflicts.Add(1)
			default:
				t.Errorf("assign: %d", st)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 39 {
		t.Fatalf("%d assignments succeeded and %d conflicted, want 1 and 39", wins.Load(), conflicts.Load())
	}
	time.Sleep(200 * time.Millisecond) // let any stray command arrive
	n := 0
	for _, raw := range d.Commands() {
		if c, _ := protocol.DecodeCommand(raw); c.Type == protocol.CmdDispatch {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the unit received %d dispatch commands", n)
	}
}

// A sighting moves the incident: units on their way get the new place, and a
// free unit that is now much closer is offered, not sent.
func TestSightingRetargets(t *testing.T) {
	h := hubtest.Start(t, nil)
	far := unitAt(t, h, "car-far", "car", 0.01, 0) // 1.1 km north
	unitAt(t, h, "car-west", "car", -0.03, 0)      // 3.3 km south
	inc := createIncident(t, h, "robbery", 2)
	h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-far"}, nil)
	far.WaitCommand(protocol.CmdDispatch, inc.ID)
	far.SendEvent(2, protocol.EventAck, inc.ID)
	waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if stateOf(i, "car-far") != dispatch.AssignEnroute {
			return fmt.Errorf("not acked yet")
		}
		return nil
	})

	// The suspects fled south, next to car-west.
	var got dispatch.Incident
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/sightings", map[string]any{"lat": lat0 - 0.029, "lon": lon0, "source": "camera 113-07"}, &got); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	upd := far.WaitCommand(protocol.CmdUpdateLocation, inc.ID)
	if *upd.Lat != lat0-0.029 || *upd.Lon != lon0 {
		t.Errorf("update_location = %+v", upd)
	}
	if got.Lat != lat0-0.029 || got.Offer == nil || got.Offer.Unit != "car-west" || got.Offer.ETAS >= got.Offer.BestETAS {
		t.Fatalf("after the sighting: %+v offer %+v", got, got.Offer)
	}
	if stateOf(got, "car-west") != "" {
		t.Error("the better-placed unit was dispatched, not offered")
	}
	if tl := timelineTypes(got); !strings.HasSuffix(tl, "sighting,update_location,offered") {
		t.Errorf("timeline %s", tl)
	}
	if len(got.Recommendations) == 0 || got.Recommendations[0].Unit != "car-west" {
		t.Errorf("recommendations not recomputed: %+v", got.Recommendations)
	}
}

// No fresh unit within the first tier: flagged uncovered, the search widens;
// a stale unit is shown after every fresh one, flagged, and not auto-dispatched.
func TestUncoveredAndStale(t *testing.T) {
	h := hubtest.Start(t, nil)
	unitAt(t, h, "car-stale", "car", 0.001, 5*time.Minute) // close, but its fix is 5 minutes old
	unitAt(t, h, "car-far", "car", 0.02, 0)                // 2.2 km: 6 minutes, tier 4
	inc := createIncident(t, h, "assault", 1)
	if !inc.Uncovered || !strings.Contains(timelineTypes(inc), "uncovered") {
		t.Errorf("not flagged uncovered: %+v", inc)
	}
	// Ranked when it was created: the fresh unit first though it is farther.
	if rec := inc.Timeline[1]; rec.Type != "recommended" || !strings.HasPrefix(rec.Detail, "car-far eta 375 s, car-stale eta 19 s (stale)") {
		t.Errorf("recommended = %+v", rec)
	}
	// Now car-far is taken: the stale unit remains, flagged, with its age.
	if len(inc.Recommendations) != 1 || inc.Recommendations[0].Unit != "car-stale" || !inc.Recommendations[0].Stale ||
		inc.Recommendations[0].FixAgeS < 290 {
		t.Errorf("recommendations = %+v", inc.Recommendations)
	}
	if len(inc.Assignments) != 1 || inc.Assignments[0].Unit != "car-far" || inc.Assignments[0].Tier != 4 {
		t.Errorf("auto-dispatch = %+v", inc.Assignments)
	}
	var list []dispatch.Incident
	h.Do(http.MethodGet, "/api/incidents", nil, &list)
	if len(list) != 1 || !list[0].Uncovered {
		t.Errorf("list = %+v", list)
	}
	if n := metric(t, h, "kuaifan_dispatch_incidents_uncovered"); n != 1 {
		t.Errorf("uncovered gauge = %v", n)
	}
}

// The hub restarts in the middle of an incident: assignments, the timeline
// and pending ack deadlines survive; an acked unit stays on its way.
func TestRestartMidIncident(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) {
		c.Dispatch.AckTimeout = dispatch.Duration(2 * time.Second)
		c.Dispatch.AutoDispatch["1"]["robbery"] = 2
	})
	// The devices reconnect by themselves when the hub (and its broker) is back.
	again := hubtest.DeviceOptions{AutoReconnect: true}
	a := unitWith(t, h, again, "moto-a", "motorcycle", 0.002, 0)
	b := unitWith(t, h, again, "moto-b", "motorcycle", 0.003, 0)
	c := unitWith(t, h, again, "car-c", "car", 0.006, 0)
	inc := createIncident(t, h, "robbery", 1)
	a.WaitCommand(protocol.CmdDispatch, inc.ID)
	b.WaitCommand(protocol.CmdDispatch, inc.ID)
	a.SendEvent(2, protocol.EventAck, inc.ID)
	waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if stateOf(i, "moto-a") != dispatch.AssignEnroute {
			return fmt.Errorf("moto-a not acked")
		}
		return nil
	})
	before := getIncident(t, h, inc.ID)

	h = h.Restart() // moto-b's deadline is still running
	after := getIncident(t, h, inc.ID)
	if len(after.Timeline) < len(before.Timeline) || stateOf(after, "moto-a") != dispatch.AssignEnroute {
		t.Fatalf("after restart: %+v", after)
	}
	// moto-b never acks: its deadline fires after the restart and car-c is
	// sent instead.
	after = waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if stateOf(i, "moto-b") != dispatch.AssignTimeout || stateOf(i, "car-c") != dispatch.AssignDispatched {
			return fmt.Errorf("moto-b %s, car-c %s", stateOf(i, "moto-b"), stateOf(i, "car-c"))
		}
		return nil
	})
	if stateOf(after, "moto-a") != dispatch.AssignEnroute {
		t.Errorf("the acked unit lost its assignment: %s", stateOf(after, "moto-a"))
	}
	c.WaitCommand(protocol.CmdDispatch, inc.ID)
	b.WaitCommand(protocol.CmdCancel, inc.ID)
}

func TestIncidentAPIErrors(t *testing.T) {
	h := hubtest.Start(t, nil)
	unitAt(t, h, "car-1", "car", 0.003, 0)
	inc := createIncident(t, h, "theft", 3)
	closed := createIncident(t, h, "theft", 3)
	h.Do(http.MethodPost, "/api/incidents/"+closed.ID+"/close", nil, nil)
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"no kind", "POST", "/api/incidents", `{"lat":28.2,"lon":112.9,"priority":1}`, 400},
		{"priority 4", "POST", "/api/incidents", `{"lat":28.2,"lon":112.9,"kind":"theft","priority":4}`, 400},
		{"lat 91", "POST", "/api/incidents", `{"lat":91,"lon":112.9,"kind":"theft","priority":1}`, 400},
		{"bad need", "POST", "/api/incidents", `{"lat":28.2,"lon":112.9,"kind":"theft","priority":1,"needs":["K 9"]}`, 400},
		{"unknown field", "POST", "/api/incidents", `{"lat":28.2,"lon":112.9,"kind":"theft","priority":1,"prio":1}`, 400},
		{"unknown incident", "GET", "/api/incidents/inc-nope", "", 404},
		{"assign unknown unit", "POST", "/api/incidents/" + inc.ID + "/assign", `{"unit":"ghost"}`, 404},
		{"assign without unit", "POST", "/api/incidents/" + inc.ID + "/assign", `{}`, 400},
		{"assign to a closed incident", "POST", "/api/incidents/" + closed.ID + "/assign", `{"unit":"car-1"}`, 409},
		{"sighting at lon 200", "POST", "/api/incidents/" + inc.ID + "/sightings", `{"lat":28.2,"lon":200}`, 400},
		{"sighting on a closed incident", "POST", "/api/incidents/" + closed.ID + "/sightings", `{"lat":28.2,"lon":112.9}`, 409},
		{"bad status filter", "GET", "/api/incidents?status=weird", "", 400},
		{"reopen unknown incident", "POST", "/api/incidents/inc-nope/reopen", `{"reason":"again"}`, 404},
		{"reopen an open incident", "POST", "/api/incidents/" + inc.ID + "/reopen", `{"reason":"again"}`, 409},
		{"reopen without a body", "POST", "/api/incidents/" + closed.ID + "/reopen", ``, 400},
		{"reopen without a reason", "POST", "/api/incidents/" + closed.ID + "/reopen", `{}`, 400},
		{"reopen with an empty reason", "POST", "/api/incidents/" + closed.ID + "/reopen", `{"reason":""}`, 400},
		{"reopen with a blank reason", "POST", "/api/incidents/" + closed.ID + "/reopen", `{"reason":" \t "}`, 400},
		{"reopen with 513 bytes", "POST", "/api/incidents/" + closed.ID + "/reopen", `{"reason":"` + strings.Repeat("x", 513) + `"}`, 400},
		{"reopen with an unknown field", "POST", "/api/incidents/" + closed.ID + "/reopen", `{"reason":"again","by":"me"}`, 400},
		{"reopen by GET", "GET", "/api/incidents/" + closed.ID + "/reopen", "", 405},
		{"close with an unknown field", "POST", "/api/incidents/" + inc.ID + "/close", `{"reason":"done"}`, 400},
		{"close with 513 bytes", "POST", "/api/incidents/" + inc.ID + "/close", `{"note":"` + strings.Repeat("x", 513) + `"}`, 400},
		{"close with a broken body", "POST", "/api/incidents/" + inc.ID + "/close", `{"note":`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+h.AdminToken())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			decodeJSON(resp, &body)
			if resp.StatusCode != tt.status || body.Error == "" {
				t.Errorf("%d %q, want %d with a message", resp.StatusCode, body.Error, tt.status)
			}
		})
	}
	// Nothing refused was created, reopened or closed.
	var all []dispatch.Incident
	h.Do("GET", "/api/incidents?status=all", nil, &all)
	if len(all) != 2 {
		t.Errorf("%d incidents, want 2", len(all))
	}
	if got := getIncident(t, h, closed.ID); got.Status != dispatch.StatusClosed {
		t.Errorf("a refused reopening reopened it: %s", got.Status)
	}
	if got := getIncident(t, h, inc.ID); got.Status != dispatch.StatusOpen {
		t.Errorf("a refused close closed it: %s", got.Status)
	}
}
