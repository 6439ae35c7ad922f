package agent

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kuaifan/agent/internal/report"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A dispatch through the hub reaches the agent; the officer's ack, the
// arrival and the clear move the incident on the hub; a sighting moves the
// target (update_location); the unit arrives by itself when it reaches the
// target; a decline and a close (cancel) end assignments too.
func TestDispatchLifecycle(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "car-6", h.Enrol("car-6", "car"))
	cfg.Report = report.DefaultConfig()
	cfg.Report.Dispatched, cfg.Report.Stationary = 100*time.Millisecond, 200*time.Millisecond
	r := start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-6"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-6 not online with a position")
		}
		return nil
	})

	// 1. Dispatch, ack, a sighting moves the target, arrival by position, clear.
	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "car-6")
	got := waitAssignment(t, r.Agent, inc.ID, StateDispatched)
	if got.Priority != 2 || got.Kind != "theft" || got.Summary == "" || got.Lat != inc.Lat {
		t.Errorf("assignment %+v", got)
	}
	if r.Status() != protocol.StatusAvailable {
		t.Errorf("status %s before the ack; the officer has not answered", r.Status())
	}
	if err := r.Arrived(inc.ID); !errors.Is(err, ErrWrongState) {
		t.Errorf("arrived before ack: %v", err)
	}
	if err := r.Ack(inc.ID); err != nil {
		t.Fatal(err)
	}
	waitIncident(t, h, inc.ID, "car-6", "enroute")
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-6"); u.Status != protocol.StatusEnroute {
			return fmt.Errorf("hub has car-6 %s", u.Status)
		}
		return nil
	})

	moved := [2]float64{lat0 + north(400), lon0 + east(300)}
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/sightings",
		map[string]any{"lat": moved[0], "lon": moved[1], "source": "camera-17"}, nil); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	waitFor(t, 10*time.Second, func() error {
		if a, _ := r.Assignment(); a.Lat != moved[0] || a.Lon != moved[1] {
			return fmt.Errorf("target %v,%v, want %v", a.Lat, a.Lon, moved)
		}
		return nil
	})

	// Drive there: 80 m away is not yet there, 30 m away is.
	r.Sim.Set(moved[0]-north(80), moved[1], 5, 0)
	time.Sleep(300 * time.Millisecond)
	if a, _ := r.Assignment(); a.State != StateEnroute {
		t.Fatalf("arrived 80 m away: %+v", a)
	}
	r.Sim.Set(moved[0]-north(30), moved[1], 2, 0)
	waitAssignment(t, r.Agent, inc.ID, StateOnScene)
	if r.Status() != protocol.StatusOnScene {
		t.Errorf("status %s after arriving", r.Status())
	}
	waitIncident(t, h, inc.ID, "car-6", "on_scene")

	if err := r.Cleared(inc.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Assignment(); ok || r.Status() != protocol.StatusAvailable {
		t.Errorf("after clearing: assigned %v, status %s", ok, r.Status())
	}
	waitFor(t, 10*time.Second, func() error {
		if i := incidentOf(t, h, inc.ID); i.Status != "closed" || i.state("car-6") != "cleared" {
			return fmt.Errorf("incident %s, car-6 %s", i.Status, i.state("car-6"))
		}
		if u := unitOf(t, h, "car-6"); u.Status != protocol.StatusAvailable {
			return fmt.Errorf("hub has car-6 %s", u.Status)
		}
		return nil
	})

	// 2. A decline: the assignment is dropped, the unit available.
	inc2 := createIncident(t, h, lat0+north(2000), lon0, 3)
	waitFresh(t, h, "car-6")
	assign(t, h, inc2.ID, "car-6")
	waitAssignment(t, r.Agent, inc2.ID, StateDispatched)
	if err := r.Decline(inc2.ID, "车辆故障 flat tyre"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Assignment(); ok || r.Status() != protocol.StatusAvailable {
		t.Errorf("after declining: assigned %v, status %s", ok, r.Status())
	}
	waitIncident(t, h, inc2.ID, "car-6", "declined")
	var declined api.Incident
	h.Do("GET", "/api/incidents/"+inc2.ID, nil, &declined)
	if i := slices.IndexFunc(declined.Timeline, func(e api.Entry) bool { return e.Type == api.EntryDecline }); i < 0 ||
		declined.Timeline[i].Params == nil || declined.Timeline[i].Params.Note != "车辆故障 flat tyre" {
		t.Errorf("the decline's reason is not on the timeline: %+v", declined.Timeline)
	}

	// 3. The dispatcher closes the incident: a cancel drops the assignment
	// and a status event follows.
	inc3 := createIncident(t, h, lat0+north(3000), lon0, 3)
	waitFresh(t, h, "car-6")
	assign(t, h, inc3.ID, "car-6")
	waitAssignment(t, r.Agent, inc3.ID, StateDispatched)
	if err := r.Ack(inc3.ID); err != nil {
		t.Fatal(err)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc3.ID+"/close", nil, nil); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	waitFor(t, 10*time.Second, func() error {
		if a, ok := r.Assignment(); ok {
			return fmt.Errorf("still assigned: %+v", a)
		}
		if u := unitOf(t, h, "car-6"); u.Status != protocol.StatusAvailable {
			return fmt.Errorf("hub has car-6 %s", u.Status)
		}
		return nil
	})

	// Every answer went out as the right event, with the status after it.
	var got3 []string
	for _, e := range r.rec.events() {
		got3 = append(got3, fmt.Sprintf("%s:%s:%s", e.Type, e.Incident, e.Status))
	}
	want := []string{
		"ack:" + inc.ID + ":enroute", "arrived:" + inc.ID + ":on_scene", "cleared:" + inc.ID + ":available",
		"decline:" + inc2.ID + ":available",
		"ack:" + inc3.ID + ":enroute", "status::available",
	}
	if fmt.Sprint(got3) != fmt.Sprint(want) {
		t.Errorf("events\n got %v\nwant %v", got3, want)
	}
	waitConfirmed(t, h, r, 10*time.Second)
	if s := r.Stats(); s.Commands < 5 || s.Duplicates != 0 {
		t.Errorf("stats %+v", s)
	}
}

func assign(t *testing.T, h *hubtest.Hub, incident, unit string) {
	t.Helper()
	var out map[string]any
	if st := h.Do(http.MethodPost, "/api/incidents/"+incident+"/assign", map[string]any{"unit": unit}, &out); st != http.StatusOK {
		t.Fatalf("assign %s to %s: %d %v", unit, incident, st, out)
	}
}

// waitFresh waits until the hub has the unit available again (its status
// follows the events; assignment needs it).
func waitFresh(t *testing.T, h *hubtest.Hub, unit string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, unit); u.Status != protocol.StatusAvailable || !u.Online {
			return fmt.Errorf("%s is %s, online %v", unit, u.Status, u.Online)
		}
		return nil
	})
}

func waitAssignment(t *testing.T, a *Agent, incident, state string) Assignment {
	t.Helper()
	var got Assignment
	waitFor(t, 10*time.Second, func() error {
		var ok bool
		got, ok = a.Assignment()
		if !ok || got.Incident != incident || got.State != state {
			return fmt.Errorf("assignment %+v (%v), want %s %s", got, ok, incident, state)
		}
		return nil
	})
	return got
}

func waitIncident(t *testing.T, h *hubtest.Hub, id, unit, state string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if s := incidentOf(t, h, id).state(unit); s != state {
			return fmt.Errorf("incident %s: %s is %q, want %q", id, unit, s, state)
		}
		return nil
	})
}

// Commands fed to the agent as the link hands them over: a command seen
// before is handled once, also after a restart (the ids are saved); the
// effects are saved too.
func TestDuplicateCommandsHandledOnce(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-7", "secret")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rec.hook(a)
	dispatch := protocol.Command{ID: "cmd-1", TS: 1, Type: protocol.CmdDispatch, Incident: "inc-1",
		Lat: ptr(lat0), Lon: ptr(lon0), Priority: 1, Kind: "robbery"}
	a.onCommands([]protocol.Command{dispatch})
	first, _ := a.Assignment()
	if err := a.Ack("inc-1"); err != nil {
		t.Fatal(err)
	}
	// Redelivered, in a batch and alone: the ack stands.
	a.onCommands([]protocol.Command{dispatch, dispatch})
	a.onCommands([]protocol.Command{dispatch})
	if got, _ := a.Assignment(); got.State != StateEnroute || !got.Received.Equal(first.Received) {
		t.Errorf("a redelivered dispatch was handled again: %+v", got)
	}
	if s := a.Stats(); s.Commands != 1 || s.Duplicates != 3 {
		t.Errorf("commands %d, duplicates %d", s.Commands, s.Duplicates)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart: the assignment and the ids are back.
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, ok := b.Assignment(); !ok || got.Incident != "inc-1" || got.State != StateEnroute {
		t.Fatalf("assignment after restart: %+v %v", got, ok)
	}
	if b.Status() != protocol.StatusEnroute {
		t.Errorf("status after restart: %s", b.Status())
	}
	b.onCommands([]protocol.Command{dispatch})
	if got, _ := b.Assignment(); got.State != StateEnroute {
		t.Errorf("dispatch re-handled after a restart: %+v", got)
	}
	cancel := protocol.Command{ID: "cmd-2", TS: 2, Type: protocol.CmdCancel, Incident: "inc-1"}
	b.onCommands([]protocol.Command{cancel, cancel})
	if _, ok := b.Assignment(); ok || b.Status() != protocol.StatusAvailable {
		t.Errorf("cancel not applied")
	}
	if s := b.Stats(); s.Commands != 1 || s.Duplicates != 2 || s.Events != 1 {
		t.Errorf("stats after restart %+v", s)
	}

	// The log keeps the latest rememberCommands ids.
	var c commandLog
	for i := range rememberCommands + 10 {
		c.add(fmt.Sprint("id-", i))
	}
	if c.has("id-0") || c.has("id-9") || !c.has("id-10") || len(c.ids) != rememberCommands {
		t.Errorf("command log keeps %d ids", len(c.ids))
	}
}

// The config command changes the reporting policy (all of it or nothing),
// ignores unknown keys, and survives a restart.
func TestConfigCommand(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-8", "secret")
	cfg.Report = report.DefaultConfig()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.onCommands([]protocol.Command{{ID: "c1", TS: 1, Type: protocol.CmdConfig,
		Config: map[string]float64{"moving_s": 2, "stationary_s": 30, "zoom": 4}}})
	want := report.DefaultConfig()
	want.Moving, want.Stationary = 2*time.Second, 30*time.Second
	if got := a.policy.Config(); got != want {
		t.Errorf("after config: %+v", got)
	}
	a.onCommands([]protocol.Command{{ID: "c2", TS: 2, Type: protocol.CmdConfig,
		Config: map[string]float64{"patrol_s": 3, "turn_deg": 0}}}) // turn_deg 0 is invalid: nothing applies
	if got := a.policy.Config(); got != want {
		t.Errorf("an invalid config applied: %+v", got)
	}
	a.Close()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.policy.Config(); got != want {
		t.Errorf("after restart: %+v", got)
	}
}

// The officer's actions refuse what does not fit, with errors that say so.
func TestOfficerActions(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-9", "secret")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dispatch := func(id, inc string) {
		a.onCommands([]protocol.Command{{ID: id, TS: 1, Type: protocol.CmdDispatch, Incident: inc,
			Lat: ptr(lat0), Lon: ptr(lon0), Priority: 2}})
	}
	type step struct {
		do   func() error
		want error
	}
	ack := func(i string) func() error { return func() error { return a.Ack(i) } }
	decline := func(i string) func() error { return func() error { return a.Decline(i, "") } }
	arrived := func(i string) func() error { return func() error { return a.Arrived(i) } }
	cleared := func(i string) func() error { return func() error { return a.Cleared(i) } }
	status := func(s protocol.Status) func() error { return func() error { return a.SetStatus(s) } }
	steps := []step{
		{ack("inc-1"), ErrNoAssignment},
		{arrived("inc-1"), ErrNoAssignment},
		{status("flying"), ErrInvalidStatus},
		{status(protocol.StatusBusy), nil},
		{status(protocol.StatusBusy), nil}, // no change, no event
		{status(protocol.StatusAvailable), nil},
		{func() error { dispatch("d1", "inc-1"); return nil }, nil},
		{status(protocol.StatusOffDuty), ErrAssigned},
		{ack("inc-2"), ErrOtherIncident},
		{arrived("inc-1"), ErrWrongState},
		{cleared("inc-1"), ErrWrongState},
		{ack("inc-1"), nil},
		{ack("inc-1"), ErrWrongState},
		{cleared("inc-1"), ErrWrongState},
		{arrived("inc-1"), nil},
		{decline("inc-1"), ErrWrongState},
		{cleared("inc-1"), nil},
		{cleared("inc-1"), ErrNoAssignment},
		{func() error { dispatch("d2", "inc-3"); return nil }, nil},
		{decline("inc-3"), nil},
		{func() error { dispatch("d3", "inc-4"); return nil }, nil},
		{ack("inc-4"), nil},
		{decline("inc-4"), nil},
	}
	for i, s := range steps {
		err := s.do()
		if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
			t.Fatalf("step %d: %v, want %v", i, err, s.want)
		}
	}
	if !errors.Is(ErrOtherIncident, ErrWrongState) || !errors.Is(ErrAssigned, ErrWrongState) {
		t.Error("the specific errors do not wrap ErrWrongState")
	}
	rec := a.Stats()
	// busy, available, ack, arrived, cleared, decline, ack, decline
	if rec.Events != 8 {
		t.Errorf("%d events queued, want 8", rec.Events)
	}
	if _, err := loadState(filepath.Clean(cfg.DataDir)); err != nil {
		t.Errorf("state file: %v", err)
	}
}

// AutoAck (the simulator's officers) acknowledges a dispatch at once.
func TestAutoAck(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-a", "secret")
	cfg.AutoAck = true
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := &recorder{}
	rec.hook(a)
	a.onCommands([]protocol.Command{{ID: "d", TS: 1, Type: protocol.CmdDispatch, Incident: "inc-a",
		Lat: ptr(lat0), Lon: ptr(lon0), Priority: 1}})
	if got, _ := a.Assignment(); got.State != StateEnroute || a.Status() != protocol.StatusEnroute {
		t.Fatalf("assignment %+v, status %s", got, a.Status())
	}
	if ev := rec.events(); len(ev) != 1 || ev[0].Type != protocol.EventAck || ev[0].Incident != "inc-a" {
		t.Fatalf("events %+v", ev)
	}
}
