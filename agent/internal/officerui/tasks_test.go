package officerui

import (
	"strings"
	"testing"
	"time"
)

// China Standard Time, the zone the windows are shown in here.
var cst = time.FixedZone("CST", 8*3600)

// taskState is a unit at (lat0, lon0) at 09:35 CST with a checkpoint 800 m
// east whose window is 09:10–10:00, a route starting 1.2 km north and an
// area centred 500 m south.
func taskState() State {
	now := time.Date(2026, 12, 7, 9, 35, 0, 0, cst)
	shiftStart, shiftEnd := now.Add(-95*time.Minute), now.Add(8*time.Hour)
	return State{UnitType: "car", Now: now.UTC(), Position: &Position{Lat: lat0, Lon: lon0},
		Tasks: []Task{
			{Plan: "furong-wuyi", ID: "cp-wuyi-square", Kind: KindPoint, Name: "五一广场 Wuyi Square", Shift: "day",
				ShiftStart: shiftStart, ShiftEnd: shiftEnd, From: now.Add(-25 * time.Minute).UTC(), To: now.Add(25 * time.Minute).UTC(),
				Lat: lat0, Lon: lon0 + east(800), RadiusM: 50, DwellMin: 10},
			{Plan: "furong-wuyi", ID: "r-wuyi-avenue", Kind: KindLine, Name: "五一大道 Wuyi Avenue", Shift: "day",
				ShiftStart: shiftStart, ShiftEnd: shiftEnd, Lat: lat0 + north(1200), Lon: lon0, LengthM: 4427, CoverShare: 0.8},
			{Plan: "furong-wuyi", ID: "a-huangxing", Kind: KindArea, Shift: "day",
				ShiftStart: shiftStart, ShiftEnd: shiftEnd, Lat: lat0 - north(500), Lon: lon0, MinPresenceMin: 30},
		}}
}

// The tasks' rows: each kind's figures, in both languages; the direction
// to the checkpoint, the route's start, the area's centre from the fix.
func TestTasksFor(t *testing.T) {
	tests := []struct {
		lang Lang
		want []TaskRow
	}{
		{EN, []TaskRow{
			{Plan: "furong-wuyi", ID: "cp-wuyi-square", Kind: KindPoint, KindName: "点 Checkpoint", Name: "五一广场 Wuyi Square",
				Window: "09:10–10:00", WindowState: WindowOpen, When: "now", Detail: "stay 10 min", Where: "800 m · E", HasFix: true},
			{Plan: "furong-wuyi", ID: "r-wuyi-avenue", Kind: KindLine, KindName: "线 Route", Name: "五一大道 Wuyi Avenue",
				Detail: "4.4 km long · drive 80%", Where: "start 1.2 km · N", HasFix: true},
			{Plan: "furong-wuyi", ID: "a-huangxing", Kind: KindArea, KindName: "面 Area", Name: "a-huangxing",
				Detail: "be there 30 min", Where: "centre 500 m · S", HasFix: true},
		}},
		{ZH, []TaskRow{
			{Plan: "furong-wuyi", ID: "cp-wuyi-square", Kind: KindPoint, KindName: "点 巡逻点", Name: "五一广场 Wuyi Square",
				Window: "09:10–10:00", WindowState: WindowOpen, When: "现在", Detail: "停留 10 分钟", Where: "800 米 · 东", HasFix: true},
			{Plan: "furong-wuyi", ID: "r-wuyi-avenue", Kind: KindLine, KindName: "线 巡逻线", Name: "五一大道 Wuyi Avenue",
				Detail: "全长 4.4 公里 · 需巡 80%", Where: "起点 1.2 公里 · 北", HasFix: true},
			{Plan: "furong-wuyi", ID: "a-huangxing", Kind: KindArea, KindName: "面 巡逻区", Name: "a-huangxing",
				Detail: "区内 30 分钟", Where: "中心 500 米 · 南", HasFix: true},
		}},
	}
	for _, tc := range tests {
		got := TasksFor(tc.lang, taskState(), cst)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d rows", tc.lang, len(got))
		}
		for i := range got {
			got[i].DistanceM, got[i].BearingDeg = 0, 0
			if got[i] != tc.want[i] {
				t.Errorf("%s row %d:\n got %+v\nwant %+v", tc.lang, i, got[i], tc.want[i])
			}
		}
	}
	// The window is shown in the device's zone: the same instant in UTC.
	if r := TasksFor(EN, taskState(), time.UTC)[0]; r.Window != "01:10–02:00" {
		t.Errorf("in UTC: %q", r.Window)
	}
	// No fix: no distance, the rest as it was.
	st := taskState()
	st.Position = nil
	for _, r := range TasksFor(EN, st, cst) {
		if r.HasFix || r.Where != "no GPS fix" || r.Detail == "" {
			t.Errorf("without a fix: %+v", r)
		}
	}
	if rows := TasksFor(EN, State{}, cst); rows == nil || len(rows) != 0 {
		t.Errorf("no tasks: %#v", rows)
	}
}

// Where now is against a checkpoint's window: open, next (how long until it
// opens, rounded up), passed, none left; a visit without a dwell; an
// unknown kind shown as itself.
func TestTaskWindow(t *testing.T) {
	base := taskState()
	cp := base.Tasks[0]
	tests := []struct {
		name        string
		from, to    time.Duration // from now; both 0: no window
		dwell       float64
		state, when string
		detail      string
	}{
		{"open", -25 * time.Minute, 25 * time.Minute, 10, WindowOpen, "now", "stay 10 min"},
		{"opens now", 0, time.Hour, 10, WindowOpen, "now", "stay 10 min"},
		{"in 25 min", 25 * time.Minute, time.Hour, 10, WindowNext, "in 25 min", "stay 10 min"},
		{"in 24 min 10 s", 24*time.Minute + 10*time.Second, time.Hour, 10, WindowNext, "in 25 min", "stay 10 min"},
		{"in 20 s", 20 * time.Second, time.Hour, 7.5, WindowNext, "in 1 min", "stay 7.5 min"},
		{"in 2 h 5 min", 125 * time.Minute, 3 * time.Hour, 0, WindowNext, "in 2 h 05 min", "one visit counts"},
		{"closes now", -time.Hour, 0, 10, WindowPassed, "window passed", "stay 10 min"},
		{"passed", -time.Hour, -time.Minute, 10, WindowPassed, "window passed", "stay 10 min"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			c := cp
			c.From, c.To, c.DwellMin = st.Now.Add(tc.from), st.Now.Add(tc.to), tc.dwell
			st.Tasks = []Task{c}
			r := TasksFor(EN, st, cst)[0]
			if r.WindowState != tc.state || r.When != tc.when || r.Detail != tc.detail || r.Window == "" {
				t.Errorf("%+v, want %s %q %q", r, tc.state, tc.when, tc.detail)
			}
		})
	}
	st := base
	c := cp
	c.From, c.To = time.Time{}, time.Time{}
	st.Tasks = []Task{c}
	if r := TasksFor(ZH, st, cst)[0]; r.WindowState != WindowNone || r.Window != "" || r.When != "本班次时段已过" {
		t.Errorf("no window left: %+v", r)
	}
	st.Tasks = []Task{{ID: "x-1", Kind: "polygon", Lat: lat0, Lon: lon0}}
	if r := TasksFor(ZH, st, cst)[0]; r.KindName != "polygon" || r.WindowState != "" || r.When != "" {
		t.Errorf("an unknown kind: %+v", r)
	}
}

func TestFormatIn(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "in 1 min", time.Second: "in 1 min", time.Minute: "in 1 min", 59 * time.Minute: "in 59 min", 59*time.Minute + time.Second: "in 1 h 00 min",
		time.Hour: "in 1 h 00 min", 10*time.Hour + 3*time.Minute: "in 10 h 03 min",
	} {
		if got := FormatIn(EN, d); got != want {
			t.Errorf("FormatIn(%v) = %q, want %q", d, got, want)
		}
	}
	if got := FormatIn(ZH, 90*time.Minute); got != "1 小时 30 分钟后" {
		t.Errorf("zh: %q", got)
	}
}

// The tasks are shown while there is no assignment — beside a move-up too —
// and only when there are some.
func TestTasksShown(t *testing.T) {
	st := taskState()
	tests := []struct {
		name string
		st   State
		want bool
	}{
		{"tasks", st, true},
		{"none", State{}, false},
		{"an empty list", State{Tasks: []Task{}}, false},
		{"an assignment", func() State { s := st; s.Assignment = &Assignment{Incident: "inc-1", State: StateEnroute}; return s }(), false},
		{"a move-up", func() State { s := st; s.Reposition = &Reposition{ID: "mu-1"}; return s }(), true},
	}
	for _, tc := range tests {
		if got := TasksShown(tc.st); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The tasks' card in go-app's test engine: its hooks, a row per task with
// its kind and figures, the empty card saying the tasks are below; none
// while an assignment is shown; below the move-up's card; Chinese.
func TestPageTasks(t *testing.T) {
	withTasks := func() *Page {
		p := fixture("")
		p.st.Status = "available"
		st := taskState()
		p.st.Now, p.st.Tasks = st.Now, st.Tasks
		return p
	}
	html := render(t, withTasks())
	sec := byID(html, "tasks")
	if sec == nil || sec["data-n"] != "3" {
		t.Fatalf("tasks card %v", sec)
	}
	if byID(html, "tasks-title") == nil {
		t.Error("no #tasks-title")
	}
	for _, s := range []string{`data-id="cp-wuyi-square"`, `data-kind="point"`, `data-window="open"`, `data-kind="line"`, `data-kind="area"`,
		"巡逻任务 Patrol tasks", "点 Checkpoint", "五一广场 Wuyi Square", "stay 10 min", "800 m · E",
		"线 Route", "4.4 km long · drive 80%", "start 1.2 km · N", "面 Area", "be there 30 min", "centre 500 m · S",
		"your patrol tasks are below"} {
		if !strings.Contains(html, s) {
			t.Errorf("%q missing", s)
		}
	}
	if c := byID(html, "card"); !strings.Contains(c["class"], "empty") || !strings.Contains(c["class"], "with-tasks") {
		t.Errorf("the empty card %v beside the tasks", c)
	}
	if !strings.Contains(html, ">now<") {
		t.Error("the open window not marked now")
	}
	// The assignment takes the screen.
	assigned := withTasks()
	assigned.st.Assignment = fixture(StateDispatched).st.Assignment
	html = render(t, assigned)
	if byID(html, "tasks") != nil || strings.Contains(html, "五一广场") {
		t.Error("tasks shown beside an assignment")
	}
	// Below a move-up's card.
	moveUp := withTasks()
	moveUp.st.Reposition = &Reposition{ID: "mu-1", Lat: lat0, Lon: lon0 + east(300), Received: moveUp.st.Now}
	html = render(t, moveUp)
	if i, j := strings.Index(html, `id="moveup"`), strings.Index(html, `id="tasks"`); i < 0 || j < i {
		t.Errorf("move-up card at %d, tasks at %d: the move-up first", i, j)
	}
	// None: no card, and the empty card says stand by.
	none := withTasks()
	none.st.Tasks = []Task{}
	html = render(t, none)
	if byID(html, "tasks") != nil || !strings.Contains(html, "Stand by") || strings.Contains(byID(html, "card")["class"], "with-tasks") {
		t.Error("a tasks card without tasks")
	}
	zh := withTasks()
	zh.lang = ZH
	html = render(t, zh)
	for _, s := range []string{"巡逻任务", "点 巡逻点", "线 巡逻线", "面 巡逻区", "现在", "停留 10 分钟", "800 米 · 东", "请执行下列巡逻任务"} {
		if !strings.Contains(html, s) {
			t.Errorf("%q missing", s)
		}
	}
}
