package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func createIncidentAt(t *testing.T, h *hubtest.Hub, lat, lon float64, kind string, priority int) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	if st := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": lat, "lon": lon, "kind": kind,
		"priority": priority}, &inc); st != http.StatusCreated {
		t.Fatalf("create incident: %d", st)
	}
	return inc
}

// hasEntry waits for nothing: it reports whether the timeline has an entry
// of the type (and the reason, if given) about the unit (if given).
func hasEntry(inc dispatch.Incident, typ, reason, unit string) bool {
	for _, e := range inc.Timeline {
		if e.Type == typ && (reason == "" || e.Reason == reason) && (unit == "" || e.Unit == unit) {
			return true
		}
	}
	return false
}

func lastEntry(inc dispatch.Incident) dispatch.Entry {
	return inc.Timeline[len(inc.Timeline)-1]
}

// One incident through every step the hub records — created, recommended,
// dispatched, declined and replaced, silent and replaced, a late ack called
// off, a sighting with an offer dismissed, the place sent to the unit on its
// way, another sighting and its offer taken, uncovered and covered again, arrivals,
// clearing, closing by itself, reopening, a dispatch outside the
// recommendations and a close with a note — and every entry has the reason
// its type takes and the params its reason promises.
func TestTimelineReasons(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Dispatch.AckTimeout = dispatch.Duration(2 * time.Second) })
	moto1 := unitAt(t, h, "moto-1", "motorcycle", 0.002, 0) // 28 s: tier 1
	car2 := unitAt(t, h, "car-2", "car", 0.004, 0)          // 75 s: tier 2
	car3 := unitAt(t, h, "car-3", "car", 0.008, 0)          // 150 s: tier 2
	west := unitAt(t, h, "car-west", "car", -0.05, 0)       // 5.6 km south
	old := unitAt(t, h, "car-old", "car", 0.001, 15*time.Minute)

	inc := createIncident(t, h, "assault", 1) // priority 1: the hub sends moto-1 itself
	id := inc.ID
	moto1.WaitCommand(protocol.CmdDispatch, id)
	moto1.SendEvent(2, protocol.EventDecline, id)
	car2.WaitCommand(protocol.CmdDispatch, id) // and never answers
	car3.WaitCommand(protocol.CmdDispatch, id)
	car3.SendEvent(2, protocol.EventAck, id)
	// Reports of different units may be decoded in parallel: the late ack
	// goes out once car-3's is on the timeline, whose order is asserted below.
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if stateOf(i, "car-3") != dispatch.AssignEnroute {
			return fmt.Errorf("car-3 %s", stateOf(i, "car-3"))
		}
		return nil
	})
	car2.WaitCommand(protocol.CmdCancel, id)
	car2.SendEvent(2, protocol.EventAck, id) // too late
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if !hasEntry(i, api.EntryCancelled, api.ReasonLateAck, "car-2") || stateOf(i, "car-3") != dispatch.AssignEnroute {
			return fmt.Errorf("timeline %s", timelineTypes(i))
		}
		return nil
	})

	// Seen 3.3 km south: car-west, 2.2 km from there, is offered.
	south := lat0 - 0.03
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/sightings", map[string]any{"lat": south, "lon": lon0, "source": "camera 113-07"}, &inc); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	if inc.Offer == nil || inc.Offer.Unit != "car-west" {
		t.Fatalf("offer %+v", inc.Offer)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/offer/dismiss", map[string]string{"note": "wait for the next camera"}, nil); st != http.StatusOK {
		t.Fatalf("dismiss: %d", st)
	}
	// Seen there again: offered again, and taken.
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/sightings", map[string]any{"lat": south, "lon": lon0, "source": "camera 113-08"}, &inc); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	if inc.Offer == nil || inc.Offer.Unit != "car-west" {
		t.Fatalf("offer %+v", inc.Offer)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/assign", map[string]string{"unit": "car-west"}, nil); st != http.StatusOK {
		t.Fatalf("assign car-west: %d", st)
	}
	west.WaitCommand(protocol.CmdDispatch, id)
	west.SendEvent(2, protocol.EventAck, id)
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if stateOf(i, "car-west") != dispatch.AssignEnroute {
			return fmt.Errorf("car-west %s", stateOf(i, "car-west"))
		}
		return nil
	})
	west.Send(west.Fix(3, time.Now(), south-0.003, lon0, protocol.StatusEnroute)) // 56 s away: tier 1
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if i.Uncovered {
			return fmt.Errorf("still uncovered: %s", timelineTypes(i))
		}
		return nil
	})
	west.SendEvent(4, protocol.EventArrived, id)
	car3.SendEvent(3, protocol.EventCleared, id)
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if stateOf(i, "car-west") != dispatch.AssignOnScene || stateOf(i, "car-3") != dispatch.AssignCleared {
			return fmt.Errorf("car-west %s, car-3 %s", stateOf(i, "car-west"), stateOf(i, "car-3"))
		}
		return nil
	})
	west.SendEvent(5, protocol.EventCleared, id)
	waitIncident(t, h, id, func(i dispatch.Incident) error {
		if i.Status != dispatch.StatusClosed {
			return fmt.Errorf("status %s", i.Status)
		}
		return nil
	})

	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/reopen", map[string]string{"reason": "the suspects came back"}, nil); st != http.StatusOK {
		t.Fatalf("reopen: %d", st)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/assign", map[string]string{"unit": "car-old"}, nil); st != http.StatusOK {
		t.Fatalf("assign car-old: %d", st)
	}
	old.WaitCommand(protocol.CmdDispatch, id)
	if st := h.Do(http.MethodPost, "/api/incidents/"+id+"/close", map[string]string{"note": "handed over to the criminal police"}, &inc); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	old.WaitCommand(protocol.CmdCancel, id)

	f := func(p *api.Params) float64 { return *p.ETAS }
	want := []struct {
		typ, reason, unit, actor string
		ok                       func(p *api.Params) bool // the params beyond what Check asks, if set
	}{
		{api.EntryCreated, api.ReasonReported, "", byAdminToken, func(p *api.Params) bool {
			return p.Kind == "assault" && p.Priority == 1 && *p.Lat == lat0 && *p.Lon == lon0
		}},
		{api.EntryRecommended, api.ReasonRanked, "", "auto", func(p *api.Params) bool {
			return len(p.Ranked) == 3 && p.Ranked[0].Unit == "moto-1" && p.Ranked[1].Unit == "car-2" && p.Ranked[2].Unit == "car-3"
		}},
		{api.EntryDispatched, api.ReasonInTier, "moto-1", "auto", func(p *api.Params) bool { return p.Tier == 1 && f(p) < 60 && p.FixAgeS == nil }},
		{api.EntryDecline, api.ReasonByOfficer, "moto-1", "moto-1", nil},
		{api.EntryUncovered, api.ReasonNoFreshInTier1, "", "auto", func(p *api.Params) bool { return p.Other == "car-2" && p.Tier == 2 }},
		{api.EntryDispatched, api.ReasonReplacing, "car-2", "auto", func(p *api.Params) bool { return p.Other == "moto-1" && p.State == "declined" && p.Tier == 2 }},
		{api.EntryTimeout, api.ReasonNoAck, "car-2", "system", func(p *api.Params) bool { return *p.TimeoutS == 2 }},
		{api.EntryDispatched, api.ReasonReplacing, "car-3", "auto", func(p *api.Params) bool { return p.Other == "car-2" && p.State == "timeout" }},
		{api.EntryAck, "", "car-3", "car-3", nil},
		{api.EntryCancelled, api.ReasonLateAck, "car-2", "auto", func(p *api.Params) bool { return p.State == "timeout" }},
		{api.EntrySighting, api.ReasonSighted, "", byAdminToken, func(p *api.Params) bool {
			return *p.Lat == south && *p.Lon == lon0 && p.Source == "camera 113-07"
		}},
		{api.EntryUpdateLocation, api.ReasonRetargeted, "car-3", "auto", func(p *api.Params) bool { return *p.Lat == south && *p.Lon == lon0 }},
		{api.EntryOffered, api.ReasonSooner, "car-west", "auto", func(p *api.Params) bool { return f(p)+60 < *p.BestETAS }},
		{api.EntryOfferDismissed, api.ReasonDismissed, "car-west", byAdminToken, func(p *api.Params) bool { return p.Note == "wait for the next camera" }},
		{api.EntrySighting, api.ReasonSighted, "", byAdminToken, func(p *api.Params) bool { return p.Source == "camera 113-08" }},
		{api.EntryUpdateLocation, api.ReasonRetargeted, "car-3", "auto", nil},
		{api.EntryOffered, api.ReasonSooner, "car-west", "auto", nil},
		{api.EntryDispatched, api.ReasonOfferTaken, "car-west", byAdminToken, func(p *api.Params) bool {
			return p.ETAS != nil && p.BestETAS != nil && f(p)+60 < *p.BestETAS
		}},
		{api.EntryAck, "", "car-west", "car-west", nil},
		{api.EntryCovered, api.ReasonAckedInTier1, "car-west", "auto", func(p *api.Params) bool { return f(p) <= 60 }},
		{api.EntryArrived, "", "car-west", "car-west", nil},
		{api.EntryCleared, "", "car-3", "car-3", nil},
		{api.EntryCleared, "", "car-west", "car-west", nil},
		{api.EntryClosed, api.ReasonAllCleared, "", "auto", nil},
		{api.EntryReopened, api.ReasonReopened, "", byAdminToken, func(p *api.Params) bool { return p.Note == "the suspects came back" }},
		{api.EntryDispatched, api.ReasonNotRecommended, "car-old", byAdminToken, nil},
		{api.EntryCancelled, api.ReasonIncidentClosed, "car-old", byAdminToken, nil},
		{api.EntryClosed, api.ReasonByPerson, "", byAdminToken, func(p *api.Params) bool { return p.Note == "handed over to the criminal police" }},
	}
	types := map[string]bool{}
	for i, e := range inc.Timeline {
		types[e.Type] = true
		if err := e.Check(); err != nil {
			t.Errorf("entry %d %+v: %v", i, e, err)
		}
		if i >= len(want) {
			t.Errorf("entry %d %+v: more than expected", i, e)
			continue
		}
		w := want[i]
		if e.Type != w.typ || e.Reason != w.reason || e.Unit != w.unit || e.Actor != w.actor || e.Detail == "" && e.Type != api.EntryAck &&
			e.Type != api.EntryDecline && e.Type != api.EntryArrived && e.Type != api.EntryCleared {
			t.Errorf("entry %d: %s/%s unit %q actor %q detail %q, want %s/%s unit %q actor %q", i, e.Type, e.Reason, e.Unit, e.Actor, e.Detail,
				w.typ, w.reason, w.unit, w.actor)
		} else if w.ok != nil && (e.Params == nil || !w.ok(e.Params)) {
			b, _ := json.Marshal(e.Params)
			t.Errorf("entry %d %s/%s: params %s", i, e.Type, e.Reason, b)
		}
	}
	if len(inc.Timeline) != len(want) {
		t.Errorf("%d entries, want %d: %s", len(inc.Timeline), len(want), timelineTypes(inc))
	}
	// The run wrote every type there is, and only those.
	for _, typ := range api.EntryTypes {
		if !types[typ] {
			t.Errorf("no %s entry", typ)
		}
	}
}

// Uncovered means uncovered now: raised when nobody can be there within
// tier 1; cleared (with a covered entry) once a unit that acknowledged is
// within tier 1 — even by driving there — or is on scene; raised again
// when the covering unit leaves. The gauge follows.
func TestUncoveredClears(t *testing.T) {
	h := hubtest.Start(t, nil)
	carA := unitAt(t, h, "car-a", "car", 0.02, 0) // 2.2 km: 375 s, tier 4
	gauge := func(want float64) {
		t.Helper()
		if n := metric(t, h, "kuaifan_dispatch_incidents_uncovered"); n != want {
			t.Errorf("uncovered gauge %v, want %v", n, want)
		}
	}

	a := createIncident(t, h, "theft", 2) // no auto-dispatch
	if !a.Uncovered || lastEntry(a).Type != api.EntryUncovered {
		t.Fatalf("created far from every unit: %+v", a)
	}
	gauge(1)
	if st := h.Do(http.MethodPost, "/api/incidents/"+a.ID+"/assign", map[string]string{"unit": "car-a"}, nil); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	carA.WaitCommand(protocol.CmdDispatch, a.ID)
	carA.SendEvent(2, protocol.EventAck, a.ID)
	a = waitIncident(t, h, a.ID, func(i dispatch.Incident) error {
		if stateOf(i, "car-a") != dispatch.AssignEnroute {
			return fmt.Errorf("not acked")
		}
		return nil
	})
	if !a.Uncovered || hasEntry(a, api.EntryCovered, "", "") {
		t.Errorf("acked from tier 4 and covered: %s", timelineTypes(a))
	}
	gauge(1)

	// It drives to 334 m away (56 s): the periodic look sees it within 5 s.
	start := time.Now()
	carA.Send(carA.Fix(3, time.Now(), lat0+0.003, lon0, protocol.StatusEnroute))
	a = waitIncident(t, h, a.ID, func(i dispatch.Incident) error {
		if i.Uncovered {
			return fmt.Errorf("still uncovered")
		}
		return nil
	})
	if took := time.Since(start); took > 7*time.Second {
		t.Errorf("covered after %v, want within about 5 s", took)
	}
	if e := lastEntry(a); e.Type != api.EntryCovered || e.Reason != api.ReasonAckedInTier1 || e.Unit != "car-a" || *e.Params.ETAS > 60 {
		t.Errorf("covered entry %+v", e)
	}
	gauge(0)

	// Another incident 11 km north: its unit arrives, which covers it at once.
	northLat := lat0 + 0.1
	carB := hubtest.Connect(t, h.MQTTURL(), "car-b", h.Enrol("car-b", "car"), hubtest.DeviceOptions{})
	carB.Send(carB.Fix(1, time.Now(), northLat+0.02, lon0, protocol.StatusAvailable))
	carB.WaitAcked(1)
	b := createIncidentAt(t, h, northLat, lon0, "noise", 3)
	if !b.Uncovered {
		t.Fatalf("b not uncovered: %s", timelineTypes(b))
	}
	gauge(1)
	h.Do(http.MethodPost, "/api/incidents/"+b.ID+"/assign", map[string]string{"unit": "car-b"}, nil)
	carB.WaitCommand(protocol.CmdDispatch, b.ID)
	carB.SendEvent(2, protocol.EventAck, b.ID)
	carB.SendEvent(3, protocol.EventArrived, b.ID)
	b = waitIncident(t, h, b.ID, func(i dispatch.Incident) error {
		if i.Status != dispatch.StatusOnScene {
			return fmt.Errorf("status %s", i.Status)
		}
		return nil
	})
	// On scene and covered in the same change.
	if e := lastEntry(b); b.Uncovered || e.Type != api.EntryCovered || e.Reason != api.ReasonOnScene || e.Unit != "car-b" {
		t.Errorf("arrived: uncovered %v, timeline %s", b.Uncovered, timelineTypes(b))
	}
	gauge(0)

	// The unit covering the first one declines: nobody else is within tier 1
	// (car-a itself is, but it said no), so it is uncovered again.
	carA.SendEvent(4, protocol.EventDecline, a.ID)
	a = waitIncident(t, h, a.ID, func(i dispatch.Incident) error {
		if !i.Uncovered {
			return fmt.Errorf("not uncovered again: %s", timelineTypes(i))
		}
		return nil
	})
	if got, want := timelineTypes(a), "created,recommended,uncovered,dispatched,ack,covered,decline,uncovered"; got != want {
		t.Errorf("timeline %s, want %s", got, want)
	}
	if e := lastEntry(a); e.Reason != api.ReasonNoFreshInTier1 || e.Params != nil {
		t.Errorf("raised again: %+v %+v", e, e.Params)
	}
	gauge(1)
	for _, inc := range []dispatch.Incident{a, b} {
		for i, e := range inc.Timeline {
			if err := e.Check(); err != nil {
				t.Errorf("%s entry %d: %v", inc.ID, i, err)
			}
		}
	}
}

// A closed incident is reopened with a reason: open again, shown on the
// stream, dispatchable, and still so after a restart; closing it again
// sets its figure again.
func TestReopen(t *testing.T) {
	h := hubtest.Start(t, nil)
	car := unitWith(t, h, hubtest.DeviceOptions{AutoReconnect: true}, "car-1", "car", 0.003, 0)
	inc := createIncident(t, h, "theft", 3)
	h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-1"}, nil)
	car.WaitCommand(protocol.CmdDispatch, inc.ID)
	car.SendEvent(2, protocol.EventArrived, inc.ID)
	car.SendEvent(3, protocol.EventCleared, inc.ID)
	closed := waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if i.Status != dispatch.StatusClosed {
			return fmt.Errorf("status %s", i.Status)
		}
		return nil
	})

	// The dashboard is watching.
	var tk struct{ Ticket string }
	h.Do(http.MethodPost, "/api/stream/ticket", nil, &tk)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URL, "http")+"/ws?ticket="+tk.Ticket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)

	var got dispatch.Incident
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/reopen", map[string]string{"reason": "the owner saw the thief again"}, &got); st != http.StatusOK {
		t.Fatalf("reopen: %d", st)
	}
	e := lastEntry(got)
	if got.Status != dispatch.StatusOpen || got.Closed != 0 || got.Figures.ToCloseS != nil || got.Figures.ToArrivalS == nil ||
		len(got.Timeline) != len(closed.Timeline)+1 {
		t.Errorf("reopened: %+v", got)
	}
	if e.Type != api.EntryReopened || e.Actor != byAdminToken || e.Reason != api.ReasonReopened || e.Params.Note != "the owner saw the thief again" {
		t.Errorf("reopened entry %+v", e)
	}
	if len(got.Recommendations) != 1 || got.Recommendations[0].Unit != "car-1" {
		t.Errorf("recommendations %+v", got.Recommendations)
	}
	if g := getIncident(t, h, inc.ID); g.Status != dispatch.StatusOpen || len(g.Recommendations) != 1 {
		t.Errorf("GET after reopening: %+v", g)
	}
	var open []dispatch.Incident
	if h.Do(http.MethodGet, "/api/incidents", nil, &open); len(open) != 1 || open[0].ID != inc.ID {
		t.Errorf("open incidents %+v", open)
	}
	for seen := false; !seen; {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		var fr frame
		if err := json.Unmarshal(b, &fr); err != nil {
			t.Fatal(err)
		}
		for _, raw := range fr.Incidents {
			var i dispatch.Incident
			json.Unmarshal(raw, &i)
			seen = seen || i.ID == inc.ID && i.Status == dispatch.StatusOpen && lastEntry(i).Type == api.EntryReopened
		}
	}

	// Dispatched again, to the same unit.
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-1"}, nil); st != http.StatusOK {
		t.Fatalf("assign after reopening: %d", st)
	}
	car.WaitCommand(protocol.CmdDispatch, inc.ID)

	h = h.Restart()
	after := getIncident(t, h, inc.ID)
	if after.Status != dispatch.StatusDispatched || !hasEntry(after, api.EntryReopened, api.ReasonReopened, "") {
		t.Fatalf("after a restart: %s, %s", after.Status, timelineTypes(after))
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if !unit(t, h, "car-1").Online {
			return fmt.Errorf("car-1 not back")
		}
		return nil
	})
	car.SendEvent(4, protocol.EventAck, inc.ID)
	waitIncident(t, h, inc.ID, func(i dispatch.Incident) error {
		if stateOf(i, "car-1") != dispatch.AssignEnroute {
			return fmt.Errorf("car-1 %s", stateOf(i, "car-1"))
		}
		return nil
	})
	var final dispatch.Incident
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/close", map[string]string{"note": "recovered the bicycle"}, &final); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	if e := lastEntry(final); final.Status != dispatch.StatusClosed || final.Figures.ToCloseS == nil || e.Reason != api.ReasonByPerson ||
		e.Params == nil || e.Params.Note != "recovered the bicycle" {
		t.Errorf("closed again: %s %+v, last %+v", final.Status, final.Figures, e)
	}
	car.WaitCommand(protocol.CmdCancel, inc.ID)
	for i, e := range final.Timeline {
		if err := e.Check(); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
}

// byAdminToken is how the timeline names a step taken with the bootstrap
// admin token, as these tests take them (hubtest's Do).
const byAdminToken = api.ActorTokenPrefix + "admin"
