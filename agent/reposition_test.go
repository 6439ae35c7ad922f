package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// moveUpNotes records what an agent told Config.OnReposition.
type moveUpNotes struct {
	mu  sync.Mutex
	got []string // "id:end", end "on" for RepositionOn
}

func (n *moveUpNotes) hook(cfg *Config) {
	cfg.OnReposition = func(r Reposition, end RepositionEnd) {
		if end == RepositionOn {
			end = "on"
		}
		n.mu.Lock()
		n.got = append(n.got, r.ID+":"+string(end))
		n.mu.Unlock()
	}
}

func (n *moveUpNotes) list() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprint(n.got)
}

// reposition is a reposition command to the spot dm metres north of Changsha.
func reposition(id, moveUp string, dm float64) protocol.Command {
	return protocol.Command{ID: id, TS: 1, Type: protocol.CmdReposition, Incident: moveUp,
		Lat: ptr(lat0 + north(dm)), Lon: ptr(lon0), Summary: "补位 " + moveUp}
}

func dispatchCmd(id, incident string) protocol.Command {
	return protocol.Command{ID: id, TS: 1, Type: protocol.CmdDispatch, Incident: incident,
		Lat: ptr(lat0), Lon: ptr(lon0), Priority: 2, Kind: "theft"}
}

func cancelCmd(id, incident string) protocol.Command {
	return protocol.Command{ID: id, TS: 1, Type: protocol.CmdCancel, Incident: incident}
}

// The reposition command (a move-up, additive 2026-12), batch by batch as
// the link hands commands over: it is kept apart from the assignment, the
// status stays as it was, a dispatch or a cancel naming it ends it, and
// whatever is left is in the state file with the command ids — so a
// restart keeps it and does not take a redelivery again.
func TestRepositionCommands(t *testing.T) {
	tests := []struct {
		name    string
		status  protocol.Status // set by the officer first ("": left available)
		batches [][]protocol.Command
		moveUp  string  // the reposition after ("" none)
		spotM   float64 // its spot, metres north
		assign  string  // the assignment after ("" none)
		want    protocol.Status
		notes   string // OnReposition's calls
		events  int    // events queued after the officer's status
		dups    uint64
	}{
		{name: "sets it, status stays available",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}},
			moveUp:  "mu-1", spotM: 800, want: protocol.StatusAvailable, notes: "[mu-1:on]"},
		{name: "status stays busy",
			status:  protocol.StatusBusy,
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}},
			moveUp:  "mu-1", spotM: 800, want: protocol.StatusBusy, notes: "[mu-1:on]"},
		{name: "a duplicate is ignored",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {reposition("c1", "mu-1", 900), reposition("c1", "mu-1", 900)}},
			moveUp:  "mu-1", spotM: 800, want: protocol.StatusAvailable, notes: "[mu-1:on]", dups: 2},
		{name: "a dispatch replaces it",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {dispatchCmd("c2", "inc-1")}},
			assign:  "inc-1", want: protocol.StatusAvailable, notes: "[mu-1:on mu-1:replaced]"},
		{name: "a dispatch in the same batch replaces it",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800), dispatchCmd("c2", "inc-1")}},
			assign:  "inc-1", want: protocol.StatusAvailable, notes: "[mu-1:on mu-1:replaced]"},
		{name: "a cancel naming it drops it",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {cancelCmd("c2", "mu-1")}},
			want:    protocol.StatusAvailable, notes: "[mu-1:on mu-1:cancelled]"},
		{name: "a cancel of another id is ignored",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {cancelCmd("c2", "mu-2"), cancelCmd("c3", "inc-1")}},
			moveUp:  "mu-1", spotM: 800, want: protocol.StatusAvailable, notes: "[mu-1:on]"},
		{name: "another move-up replaces it",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {reposition("c2", "mu-2", 1500)}},
			moveUp:  "mu-2", spotM: 1500, want: protocol.StatusAvailable, notes: "[mu-1:on mu-1:replaced mu-2:on]"},
		{name: "the same move-up moves its spot",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {reposition("c2", "mu-1", 1200)}},
			moveUp:  "mu-1", spotM: 1200, want: protocol.StatusAvailable, notes: "[mu-1:on mu-1:on]"},
		{name: "ignored while assigned",
			batches: [][]protocol.Command{{dispatchCmd("c1", "inc-1")}, {reposition("c2", "mu-1", 800)}},
			assign:  "inc-1", want: protocol.StatusAvailable, notes: "[]"},
		{name: "a cancel of the assignment leaves no move-up behind",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800), dispatchCmd("c2", "inc-1")}, {cancelCmd("c3", "inc-1")}},
			want:    protocol.StatusAvailable, notes: "[mu-1:on mu-1:replaced]", events: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "tcp://127.0.0.1:1", "car-r", "secret")
			var notes moveUpNotes
			notes.hook(&cfg)
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != "" {
				if err := a.SetStatus(tc.status); err != nil {
					t.Fatal(err)
				}
			}
			eventsBefore := a.Stats().Events
			var firstReceived time.Time
			for _, b := range tc.batches {
				a.onCommands(b)
				if r, ok := a.Reposition(); ok && firstReceived.IsZero() {
					firstReceived = r.Received
				}
			}
			check := func(a *Agent, when string) {
				t.Helper()
				r, ok := a.Reposition()
				if ok != (tc.moveUp != "") || r.ID != tc.moveUp {
					t.Errorf("%s: reposition %+v %v, want %q", when, r, ok, tc.moveUp)
				}
				if ok && (r.Lat != lat0+north(tc.spotM) || r.Lon != lon0 || r.Summary != "补位 "+tc.moveUp) {
					t.Errorf("%s: reposition %+v, want %.0f m north", when, r, tc.spotM)
				}
				as, ok := a.Assignment()
				if ok != (tc.assign != "") || as.Incident != tc.assign {
					t.Errorf("%s: assignment %+v %v, want %q", when, as, ok, tc.assign)
				}
				if s := a.Status(); s != tc.want {
					t.Errorf("%s: status %s, want %s", when, s, tc.want)
				}
			}
			check(a, "after the commands")
			if n := notes.list(); n != tc.notes {
				t.Errorf("OnReposition %s, want %s", n, tc.notes)
			}
			if r, ok := a.Reposition(); ok && tc.dups == 0 && len(tc.batches) > 1 && tc.moveUp == "mu-1" && !r.Received.Equal(firstReceived) {
				t.Errorf("moving the spot changed when the move-up came: %v, first %v", r.Received, firstReceived)
			}
			s := a.Stats()
			if s.Duplicates != tc.dups || s.Events-eventsBefore != uint64(tc.events) {
				t.Errorf("duplicates %d, events %d; want %d, %d", s.Duplicates, s.Events-eventsBefore, tc.dups, tc.events)
			}
			// The state file has it, saved with the command ids.
			st, err := loadState(cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if (st.Reposition != nil) != (tc.moveUp != "") || st.Reposition != nil && st.Reposition.ID != tc.moveUp {
				t.Errorf("state file reposition %+v, want %q", st.Reposition, tc.moveUp)
			}
			restartKeeps(t, a, cfg, tc.batches, check)
		})
	}
}

// Auto-arrival: a fix within RepositionRadiusM of the spot (100 m by
// default; 150 m away is not there) sends exactly one arrived event naming
// the move-up, with the status unchanged; the move-up ends, OnReposition
// hears of it once, the page sees the action, and later fixes send nothing.
func TestRepositionArrivalByPosition(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-r", "secret")
	var notes moveUpNotes
	notes.hook(&cfg)
	arrivals := 0
	cfg.OnAssignment = func(Assignment, bool) { arrivals++ }
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.cfg.RepositionRadiusM != DefaultRepositionRadiusM || DefaultRepositionRadiusM != 100 {
		t.Errorf("radius %v, default %v", a.cfg.RepositionRadiusM, DefaultRepositionRadiusM)
	}
	rec := &recorder{}
	rec.hook(a)
	spot := lat0 + north(2000)
	a.onCommands([]protocol.Command{reposition("c1", "mu-20261207-0001", 2000)})
	fix := func(dm float64) {
		a.onFix(gps.Fix{Time: time.Now(), Lat: spot - north(dm), Lon: lon0, Mode: gps.Mode3D, SpeedMPS: 8, HasMotion: true})
	}
	for _, dm := range []float64{1500, 500, 150, 101} {
		fix(dm)
	}
	if _, ok := a.Reposition(); !ok || len(rec.events()) != 0 {
		t.Fatalf("arrived 101 m away: events %+v", rec.events())
	}
	fix(60)
	for _, dm := range []float64{30, 0, -50} {
		fix(dm)
	}
	ev := rec.events()
	if len(ev) != 1 || ev[0].Type != protocol.EventArrived || ev[0].Incident != "mu-20261207-0001" ||
		ev[0].Status != protocol.StatusAvailable || ev[0].Unit != "car-r" {
		t.Fatalf("events %+v, want one arrived naming the move-up, available", ev)
	}
	if _, ok := a.Reposition(); ok {
		t.Error("the move-up is still on after the arrival")
	}
	if a.Status() != protocol.StatusAvailable || arrivals != 0 {
		t.Errorf("status %s, OnAssignment called %d times", a.Status(), arrivals)
	}
	if n := notes.list(); n != "[mu-20261207-0001:on mu-20261207-0001:arrived]" {
		t.Errorf("OnReposition %s", n)
	}
	st := a.terminalState()
	if len(st.Actions) != 1 || st.Actions[0].Type != protocol.EventArrived || st.Actions[0].Incident != "mu-20261207-0001" || st.Reposition != nil {
		t.Errorf("terminal state %+v", st)
	}
	if saved, err := loadState(cfg.DataDir); err != nil || saved.Reposition != nil {
		t.Errorf("state file after the arrival: %+v %v", saved.Reposition, err)
	}

	// A wider radius, configured: 150 m is there.
	cfg2 := testConfig(t, "tcp://127.0.0.1:1", "car-s", "secret")
	cfg2.RepositionRadiusM = 200
	b, err := New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec2 := &recorder{}
	rec2.hook(b)
	b.onCommands([]protocol.Command{reposition("c1", "mu-2", 2000)})
	b.onFix(gps.Fix{Time: time.Now(), Lat: spot - north(150), Lon: lon0, Mode: gps.Mode3D})
	if ev := rec2.events(); len(ev) != 1 || ev[0].Incident != "mu-2" {
		t.Errorf("within a 200 m radius: %+v", ev)
	}
	for _, r := range []float64{-1, 10001} {
		c := testConfig(t, "tcp://127.0.0.1:1", "car-s", "secret")
		c.RepositionRadiusM = r
		if _, err := New(c); err == nil {
			t.Errorf("radius %v accepted", r)
		}
	}
}

// The officer reports the move-up done (the page's Arrived): once, naming
// it; not another one, not with none, and never through the incident
// actions.
func TestRepositionArrivedByOfficer(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-r", "secret")
	var notes moveUpNotes
	notes.hook(&cfg)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := &recorder{}
	rec.hook(a)
	if err := a.RepositionArrived(""); !errors.Is(err, ErrNoReposition) {
		t.Errorf("with none: %v", err)
	}
	a.onCommands([]protocol.Command{reposition("c1", "mu-1", 800)})
	if err := a.Arrived("mu-1"); !errors.Is(err, ErrNoAssignment) {
		t.Errorf("the incident action on a move-up: %v", err)
	}
	err = a.RepositionArrived("mu-2")
	if !errors.Is(err, ErrOtherReposition) || !errors.Is(err, ErrWrongState) {
		t.Errorf("another move-up: %v", err)
	}
	if err := a.RepositionArrived("mu-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.RepositionArrived("mu-1"); !errors.Is(err, ErrNoReposition) {
		t.Errorf("twice: %v", err)
	}
	// "" is whichever the unit has.
	a.onCommands([]protocol.Command{reposition("c2", "mu-3", 800)})
	if err := a.RepositionArrived(""); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.events() {
		got = append(got, fmt.Sprintf("%s:%s:%s", e.Type, e.Incident, e.Status))
	}
	if fmt.Sprint(got) != "[arrived:mu-1:available arrived:mu-3:available]" {
		t.Errorf("events %v", got)
	}
	// The officer's own action is not told back.
	if n := notes.list(); n != "[mu-1:on mu-3:on]" {
		t.Errorf("OnReposition %s", n)
	}
	// Through the terminal's mapping: 404 and 409.
	o := officer{a}
	if err := o.RepositionArrived(""); !errors.Is(err, terminal.ErrNoReposition) {
		t.Errorf("terminal, none: %v", err)
	}
	a.onCommands([]protocol.Command{reposition("c3", "mu-4", 800)})
	if err := o.RepositionArrived("mu-5"); !errors.Is(err, terminal.ErrWrongState) {
		t.Errorf("terminal, another: %v", err)
	}
	if r, ok := o.Reposition(); !ok || r.ID != "mu-4" {
		t.Errorf("terminal reposition %+v %v", r, ok)
	}
}

// A saved move-up is checked on load: one that does not check out is
// dropped (and the unit starts without it), the rest kept.
func TestRepositionRestoreChecks(t *testing.T) {
	good := Reposition{ID: "mu-1", Lat: lat0, Lon: lon0, Summary: "补位", Received: time.Now().UTC()}
	tests := []struct {
		name   string
		r      Reposition
		assign *Assignment
		keep   bool
	}{
		{"good", good, nil, true},
		{"bad id", func() Reposition { r := good; r.ID = "mu 1"; return r }(), nil, false},
		{"no id", func() Reposition { r := good; r.ID = ""; return r }(), nil, false},
		{"lat 91", func() Reposition { r := good; r.Lat = 91; return r }(), nil, false},
		{"summary too long", func() Reposition { r := good; r.Summary = string(make([]byte, maxSummary+1)); return r }(), nil, false},
		{"beside an assignment", good, &Assignment{Incident: "inc-1", Lat: lat0, Lon: lon0, Priority: 1, State: StateEnroute}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "tcp://127.0.0.1:1", "car-r", "secret")
			st := savedState{V: 1, Status: protocol.StatusAvailable, Assignment: tc.assign, Reposition: &tc.r}
			if tc.assign != nil {
				st.Status = protocol.StatusEnroute
			}
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cfg.DataDir, stateFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			r, ok := a.Reposition()
			if ok != tc.keep || ok && (r.ID != good.ID || !r.Received.Equal(good.Received)) {
				t.Errorf("restored %+v %v, want kept %v", r, ok, tc.keep)
			}
			if _, ok := a.Assignment(); ok != (tc.assign != nil) {
				t.Errorf("assignment restored %v", ok)
			}
		})
	}
}

// restartKeeps closes a, starts the agent again on its data and checks
// what it kept; then every batch is delivered again, and none is handled
// twice.
func restartKeeps(t *testing.T, a *Agent, cfg Config, batches [][]protocol.Command, check func(*Agent, string)) {
	t.Helper()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(b, "after a restart")
	for _, batch := range batches {
		b.onCommands(batch)
	}
	check(b, "after redelivery")
	if s := b.Stats(); s.Commands != 0 {
		t.Errorf("%d commands handled again after the restart", s.Commands)
	}
}
