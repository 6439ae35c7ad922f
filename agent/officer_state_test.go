package agent

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/officerui"
	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// The terminal's state as the page reads it: the officer's actions, each
// queued until the hub confirms it, the assignment, the fix, the queue.
// The agent here has no broker, so nothing is confirmed until the test acks
// the queue itself.
func TestTerminalState(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-7", "secret")
	cfg.UnitType = protocol.TypeMotorcycle
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.terminalState()
	if st.Unit != "car-7" || st.UnitType != protocol.TypeMotorcycle || st.Status != protocol.StatusAvailable ||
		st.Assignment != nil || st.Position != nil || st.Connected || st.Queued != 0 || len(st.Actions) != 0 || st.Actions == nil {
		t.Fatalf("fresh state %+v", st)
	}

	a.onCommands([]protocol.Command{{ID: "cmd-1", TS: 1, Type: protocol.CmdDispatch, Incident: "inc-1",
		Lat: ptr(lat0), Lon: ptr(lon0), Priority: 1, Kind: "robbery"}})
	a.onFix(gps.Fix{Time: time.Now(), Lat: lat0 + north(500), Lon: lon0, Mode: gps.Mode3D})
	if err := a.Ack("inc-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SOS(); err != nil {
		t.Fatal(err)
	}
	st = a.terminalState()
	if st.Assignment == nil || st.Assignment.State != StateEnroute || st.Position == nil || st.Position.Lat != lat0+north(500) {
		t.Fatalf("state %+v", st)
	}
	if len(st.Actions) != 2 || st.Actions[0].Type != protocol.EventAck || st.Actions[0].Incident != "inc-1" ||
		st.Actions[1].Type != protocol.EventSOS || st.Actions[0].Confirmed || st.Actions[1].Confirmed {
		t.Fatalf("actions %+v", st.Actions)
	}
	if st.QueuedEvents != 2 || st.Queued < 3 {
		t.Errorf("queued %d, events %d", st.Queued, st.QueuedEvents)
	}
	// The hub confirms the ack: it is confirmed, the SOS still queued.
	if _, err := a.q.Ack(protocol.Ranges{{st.Actions[0].Seq, st.Actions[0].Seq}}); err != nil {
		t.Fatal(err)
	}
	st = a.terminalState()
	if !st.Actions[0].Confirmed || st.Actions[1].Confirmed {
		t.Errorf("after the hub's ack: %+v", st.Actions)
	}
	// Only the latest keepActions are kept.
	for range keepActions + 3 {
		if _, err := a.SOS(); err != nil {
			t.Fatal(err)
		}
	}
	if st = a.terminalState(); len(st.Actions) != keepActions {
		t.Errorf("%d actions kept, want %d", len(st.Actions), keepActions)
	}
}

// The page's copy of the terminal's JSON (officerui/wire.go) knows every
// field the terminal sends, with the same types.
func TestWireMatchesTerminal(t *testing.T) {
	speed, acc := 3.5, 8.0
	st := terminal.State{Unit: "car-7", UnitType: protocol.TypeCar, Status: protocol.StatusEnroute,
		Assignment: &terminal.Assignment{Incident: "inc-1", Lat: 1, Lon: 2, Priority: 1, Kind: "theft", Summary: "s", State: "enroute"},
		Position:   &terminal.Position{Lat: 1, Lon: 2, SpeedMPS: &speed, HeadingDeg: &speed, AccM: &acc},
		Connected:  true, Queued: 4, QueuedEvents: 1,
		Actions: []terminal.Action{{Type: protocol.EventAck, Incident: "inc-1", Seq: 9, Confirmed: true}}}
	// A move-up (additive, 2026-12) instead of the assignment.
	moveUp := st
	moveUp.Status, moveUp.Assignment = protocol.StatusAvailable, nil
	moveUp.Reposition = &terminal.Reposition{ID: "mu-1", Lat: 3, Lon: 4, Summary: "补位", Received: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	// Patrol tasks (additive, 2026-12): a checkpoint with its window, a
	// route and an area without one.
	tasks := moveUp
	shift := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	tasks.Tasks = []terminal.Task{
		{Plan: "p", ID: "cp-1", Kind: "point", Name: "五一广场", Shift: "day", ShiftStart: shift, ShiftEnd: shift.Add(12 * time.Hour),
			From: shift.Add(time.Hour), To: shift.Add(2 * time.Hour), Lat: 1, Lon: 2, RadiusM: 50, DwellMin: 10},
		{Plan: "p", ID: "r-1", Kind: "line", Shift: "day", ShiftStart: shift, ShiftEnd: shift.Add(12 * time.Hour),
			Lat: 1, Lon: 2, LengthM: 4427, CoverShare: 0.8},
		{Plan: "p", ID: "a-1", Kind: "area", Shift: "day", ShiftStart: shift, ShiftEnd: shift.Add(12 * time.Hour),
			Lat: 1, Lon: 2, MinPresenceMin: 30},
	}
	for _, st := range []terminal.State{st, moveUp, tasks} {
		wireRoundTrip(t, st)
	}
}

// wireRoundTrip checks that the page reads st as the terminal wrote it.
func wireRoundTrip(t *testing.T, st terminal.State) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var got officerui.State
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the page cannot read the terminal's state: %v", err)
	}
	back, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m1, m2 map[string]any
	json.Unmarshal(b, &m1)
	json.Unmarshal(back, &m2)
	if a, b := jsonString(m1), jsonString(m2); a != b {
		t.Errorf("round trip differs:\n terminal %s\n page     %s", a, b)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
