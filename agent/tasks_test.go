package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// A day shift running now, as the hub's patrol plans give it: it started
// two hours ago and ends in six.
func dayShift(now time.Time) (start, end int64) {
	return now.Add(-2 * time.Hour).UnixMilli(), now.Add(6 * time.Hour).UnixMilli()
}

// checkpoint is a point task 800 m east, its window open now.
func checkpoint(id string, now time.Time) protocol.PatrolTask {
	start, end := dayShift(now)
	return protocol.PatrolTask{Plan: "furong-wuyi", ID: id, Kind: "point", Name: "五一广场 Wuyi Square", Shift: "day",
		ShiftStart: start, ShiftEnd: end, From: now.Add(-10 * time.Minute).UnixMilli(), To: now.Add(50 * time.Minute).UnixMilli(),
		Lat: lat0, Lon: lon0 + east(800), RadiusM: 50, DwellMin: 10}
}

// route is a line task starting 1 km north.
func route(id string, now time.Time) protocol.PatrolTask {
	start, end := dayShift(now)
	return protocol.PatrolTask{Plan: "furong-wuyi", ID: id, Kind: "line", Name: "五一大道 Wuyi Avenue", Shift: "day",
		ShiftStart: start, ShiftEnd: end, Lat: lat0 + north(1000), Lon: lon0, LengthM: 4427, CoverShare: 0.8}
}

// area is an area task centred 500 m south.
func area(id string, now time.Time) protocol.PatrolTask {
	start, end := dayShift(now)
	return protocol.PatrolTask{Plan: "furong-wuyi", ID: id, Kind: "area", Shift: "day",
		ShiftStart: start, ShiftEnd: end, Lat: lat0 - north(500), Lon: lon0, MinPresenceMin: 30}
}

// ended is a checkpoint whose shift ended a minute ago.
func ended(id string, now time.Time) protocol.PatrolTask {
	t := checkpoint(id, now)
	t.ShiftStart, t.ShiftEnd = now.Add(-9*time.Hour).UnixMilli(), now.Add(-time.Minute).UnixMilli()
	t.From, t.To = now.Add(-3*time.Hour).UnixMilli(), now.Add(-2*time.Hour).UnixMilli()
	return t
}

func tasksCmd(id string, tasks ...protocol.PatrolTask) protocol.Command {
	return protocol.Command{ID: id, TS: 1, Type: protocol.CmdTasks, Tasks: tasks}
}

func taskIDs[T protocol.PatrolTask | Task](tasks []T) string {
	ids := []string{}
	for _, t := range tasks {
		switch t := any(t).(type) {
		case protocol.PatrolTask:
			ids = append(ids, t.ID)
		case Task:
			ids = append(ids, t.ID)
		}
	}
	return strings.Join(ids, " ")
}

// The tasks command (patrol tasks, additive 2026-12), batch by batch as the
// link hands commands over: each list replaces the one before (an empty one
// leaves none), a duplicate is ignored, a task whose shift ended is kept
// but not given out, the assignment, the move-up and the status stay as
// they were, and nothing is sent back. The list is in the state file with
// the command ids, so a restart keeps it and takes no redelivery again.
func TestTasksCommands(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		batches [][]protocol.Command
		tasks   string // the tasks given out after, by id
		saved   string // the tasks in the state file
		assign  string // the assignment after ("" none)
		moveUp  string // the move-up after ("" none)
		dups    uint64
	}{
		{name: "sets them",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now), route("r-1", now), area("a-1", now))}},
			tasks:   "cp-1 r-1 a-1", saved: "cp-1 r-1 a-1"},
		{name: "a second list replaces the first",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now), route("r-1", now))}, {tasksCmd("c2", area("a-1", now))}},
			tasks:   "a-1", saved: "a-1"},
		{name: "the last list of a batch wins",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now)), tasksCmd("c2", route("r-1", now))}},
			tasks:   "r-1", saved: "r-1"},
		{name: "an empty list leaves none",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now))}, {tasksCmd("c2")}},
			tasks:   "", saved: ""},
		{name: "a duplicate is ignored",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now))}, {tasksCmd("c1"), tasksCmd("c1", area("a-1", now))}},
			tasks:   "cp-1", saved: "cp-1", dups: 2},
		{name: "an ended task is kept, not given out",
			batches: [][]protocol.Command{{tasksCmd("c1", ended("cp-0", now), checkpoint("cp-1", now))}},
			tasks:   "cp-1", saved: "cp-0 cp-1"},
		{name: "beside an assignment",
			batches: [][]protocol.Command{{dispatchCmd("c1", "inc-1")}, {tasksCmd("c2", checkpoint("cp-1", now))}},
			tasks:   "cp-1", saved: "cp-1", assign: "inc-1"},
		{name: "beside a move-up",
			batches: [][]protocol.Command{{reposition("c1", "mu-1", 800)}, {tasksCmd("c2", route("r-1", now))}, {tasksCmd("c3")}},
			tasks:   "", saved: "", moveUp: "mu-1"},
		{name: "a dispatch leaves them",
			batches: [][]protocol.Command{{tasksCmd("c1", checkpoint("cp-1", now))}, {dispatchCmd("c2", "inc-1")}, {cancelCmd("c3", "inc-1")}},
			tasks:   "cp-1", saved: "cp-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "tcp://127.0.0.1:1", "car-t", "secret")
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			rec.hook(a)
			for _, b := range tc.batches {
				a.onCommands(b)
			}
			check := func(a *Agent, when string) {
				t.Helper()
				tasks := a.Tasks()
				if got := taskIDs(tasks); got != tc.tasks || tasks == nil {
					t.Errorf("%s: tasks [%s], want [%s]", when, got, tc.tasks)
				}
				if got := taskIDs(a.terminalState().Tasks); got != tc.tasks {
					t.Errorf("%s: terminal state's tasks [%s], want [%s]", when, got, tc.tasks)
				}
				if as, ok := a.Assignment(); ok != (tc.assign != "") || as.Incident != tc.assign {
					t.Errorf("%s: assignment %+v %v, want %q", when, as, ok, tc.assign)
				}
				if r, ok := a.Reposition(); ok != (tc.moveUp != "") || r.ID != tc.moveUp {
					t.Errorf("%s: move-up %+v %v, want %q", when, r, ok, tc.moveUp)
				}
				if s := a.Status(); s != protocol.StatusAvailable {
					t.Errorf("%s: status %s: tasks never change it", when, s)
				}
			}
			check(a, "after the commands")
			// Nothing answers a tasks command (a cancel's status event aside).
			for _, e := range rec.events() {
				if e.Type != protocol.EventStatus {
					t.Errorf("event %+v sent", e)
				}
			}
			if s := a.Stats(); s.Duplicates != tc.dups {
				t.Errorf("duplicates %d, want %d", s.Duplicates, tc.dups)
			}
			st, err := loadState(cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if got := taskIDs(st.Tasks); got != tc.saved {
				t.Errorf("state file tasks [%s], want [%s]", got, tc.saved)
			}
			restartKeeps(t, a, cfg, tc.batches, check)
		})
	}
}

// A task as the agent and the terminal give it out: the command's fields,
// its Unix-ms times as times, no window for a line; in the terminal's JSON
// the times are RFC 3339 and the list is [] when there is none.
func TestTaskFields(t *testing.T) {
	now := time.Now()
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-t", "secret")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, _ := json.Marshal(a.terminalState()); !strings.Contains(string(b), `"tasks":[]`) {
		t.Errorf("no tasks: %s", b)
	}
	cp, r := checkpoint("cp-wuyi-square", now), route("r-wuyi-avenue", now)
	a.onCommands([]protocol.Command{tasksCmd("c1", cp, r)})
	got := a.Tasks()
	if len(got) != 2 {
		t.Fatalf("tasks %+v", got)
	}
	want := Task{Plan: "furong-wuyi", ID: "cp-wuyi-square", Kind: "point", Name: "五一广场 Wuyi Square", Shift: "day",
		ShiftStart: time.UnixMilli(cp.ShiftStart).UTC(), ShiftEnd: time.UnixMilli(cp.ShiftEnd).UTC(),
		From: time.UnixMilli(cp.From).UTC(), To: time.UnixMilli(cp.To).UTC(),
		Lat: cp.Lat, Lon: cp.Lon, RadiusM: 50, DwellMin: 10}
	if got[0] != want {
		t.Errorf("checkpoint\n got %+v\nwant %+v", got[0], want)
	}
	if l := got[1]; !l.From.IsZero() || !l.To.IsZero() || l.LengthM != 4427 || l.CoverShare != 0.8 || l.Kind != "line" {
		t.Errorf("route %+v", l)
	}
	b, err := json.Marshal(terminal.Task(got[1]))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, `"from"`) || strings.Contains(s, `"dwell_min"`) ||
		!strings.Contains(s, fmt.Sprintf(`"shift_end":%q`, time.UnixMilli(r.ShiftEnd).UTC().Format(time.RFC3339Nano))) {
		t.Errorf("route's JSON %s", s)
	}
	if tt := (officer{a}).Tasks(); taskIDs(tt) != "cp-wuyi-square r-wuyi-avenue" || tt[0] != terminal.Task(want) {
		t.Errorf("the terminal's tasks %+v", tt)
	}
}

// Tasks end with their shift when they are read, by the agent's clock:
// they stay in the list the hub sent (and in the state file), so a clock
// that ran ahead and is put right shows them again; the hub's next list
// replaces them anyway.
func TestTasksEndWithTheirShift(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := t0
	set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	cfg := testConfig(t, "tcp://127.0.0.1:1", "car-t", "secret")
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	early := checkpoint("cp-1", t0)
	early.ShiftEnd = t0.Add(time.Hour).UnixMilli()
	late := route("r-1", t0)
	late.ShiftEnd = t0.Add(3 * time.Hour).UnixMilli()
	a.onCommands([]protocol.Command{tasksCmd("c1", early, late)})
	for _, step := range []struct {
		at    time.Duration
		tasks string
	}{
		{0, "cp-1 r-1"},
		{time.Hour - time.Millisecond, "cp-1 r-1"},
		{time.Hour, "r-1"}, // the shift's end is not in it
		{2 * time.Hour, "r-1"},
		{0, "cp-1 r-1"}, // the clock put right
		{4 * time.Hour, ""},
	} {
		set(t0.Add(step.at))
		if got := taskIDs(a.Tasks()); got != step.tasks {
			t.Errorf("at +%v: tasks [%s], want [%s]", step.at, got, step.tasks)
		}
		if got := taskIDs(a.terminalState().Tasks); got != step.tasks {
			t.Errorf("at +%v: terminal state's tasks [%s], want [%s]", step.at, got, step.tasks)
		}
	}
	if st, err := loadState(cfg.DataDir); err != nil || taskIDs(st.Tasks) != "cp-1 r-1" {
		t.Errorf("state file tasks %+v %v: ended tasks are not deleted", st.Tasks, err)
	}
}

// Saved tasks are checked on load by the contract's rules: each one that
// does not check out is dropped (the others kept), and no more than a
// command carries are taken.
func TestTasksRestoreChecks(t *testing.T) {
	now := time.Now()
	good := checkpoint("cp-1", now)
	bad := func(change func(*protocol.PatrolTask)) protocol.PatrolTask {
		t := checkpoint("cp-bad", now)
		change(&t)
		return t
	}
	many := make([]protocol.PatrolTask, protocol.MaxTasks+3)
	for i := range many {
		many[i] = route(fmt.Sprintf("r-%d", i), now)
	}
	tests := []struct {
		name  string
		saved []protocol.PatrolTask
		want  string
	}{
		{"good", []protocol.PatrolTask{good, route("r-1", now), area("a-1", now)}, "cp-1 r-1 a-1"},
		{"an ended one is still valid", []protocol.PatrolTask{ended("cp-0", now), good}, "cp-1"},
		{"bad kind", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.Kind = "circle" }), good}, "cp-1"},
		{"bad id", []protocol.PatrolTask{good, bad(func(t *protocol.PatrolTask) { t.ID = "cp 1" })}, "cp-1"},
		{"no plan", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.Plan = "" }), good}, "cp-1"},
		{"shift ends before it starts", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.ShiftEnd = t.ShiftStart }), good}, "cp-1"},
		{"window backwards", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.To = t.From - 1 }), good}, "cp-1"},
		{"lat 91", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.Lat = 91 }), good}, "cp-1"},
		{"cover share 1.5", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.CoverShare = 1.5 }), good}, "cp-1"},
		{"negative dwell", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.DwellMin = -1 }), good}, "cp-1"},
		{"name too long", []protocol.PatrolTask{bad(func(t *protocol.PatrolTask) { t.Name = strings.Repeat("x", 257) }), good}, "cp-1"},
		{"more than a command carries", many, taskIDs(many[:protocol.MaxTasks])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "tcp://127.0.0.1:1", "car-t", "secret")
			mu := &Reposition{ID: "mu-1", Lat: lat0, Lon: lon0, Received: now.UTC()}
			b, err := json.Marshal(savedState{V: 1, Status: protocol.StatusBusy, Reposition: mu, Tasks: tc.saved, Commands: []string{"c1"}})
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
			if got := taskIDs(a.Tasks()); got != tc.want {
				t.Errorf("restored [%s], want [%s]", got, tc.want)
			}
			// The rest of the state is the file's all the same.
			if r, ok := a.Reposition(); !ok || r.ID != "mu-1" || a.Status() != protocol.StatusBusy || !a.seen.has("c1") {
				t.Errorf("the rest of the state: %+v %v %s", r, ok, a.Status())
			}
		})
	}
}
