package ui

import (
	"errors"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
)

// cityPlan is a plan over Changsha's centre as the hub serves it (parsed:
// its defaults filled in, the day and night shifts): a checkpoint, a
// route and an area in the day shift, and a checkpoint of the night shift
// only.
func cityPlan(t testing.TB) patrol.Plan {
	t.Helper()
	p, err := patrol.Parse([]byte(`{"id": "city", "name": "City centre", "tasks": [
	  {"id": "cp-wuyi", "kind": "point", "name": "Wuyi Square", "lat": 28.196, "lon": 112.977, "radius_m": 60, "dwell_min": 10,
	   "units": ["car-1", "foot-1"]},
	  {"id": "rt-river", "kind": "line", "name": "River road", "route": [[112.960, 28.190], [112.962, 28.200], [112.963, 28.210]],
	   "units": ["car-1", "moto-1"]},
	  {"id": "ar-station", "kind": "area", "name": "Station", "min_presence_min": 60,
	   "polygon": [[113.005, 28.190], [113.015, 28.190], [113.015, 28.198], [113.005, 28.198]], "units": ["car-1"]},
	  {"id": "cp-night", "kind": "point", "name": "Night post", "lat": 28.21, "lon": 112.99, "shifts": ["night"], "units": ["foot-1"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

// dayReport is the compliance of cityPlan's day shift: car-1 has driven half
// its route (2 of 3 met), foot-1 and moto-1 have done theirs. second is a
// later one: car-1 has done everything, foot-1 nothing (its device off).
func dayReport(second bool) *patrol.Report {
	day := patrol.Window{Start: 8 * 60, End: 20 * 60}
	point := func(unit string, dwell float64) patrol.Result {
		return patrol.Result{Task: "cp-wuyi", Unit: unit, Kind: patrol.KindPoint, Met: dwell >= 10, Point: &patrol.PointResult{
			RadiusM: 60, DwellMin: 10, Held: b2i(dwell >= 10), Windows: []patrol.WindowResult{{Window: day, Held: dwell >= 10, DwellMin: dwell}}}}
	}
	line := func(unit string, share float64) patrol.Result {
		return patrol.Result{Task: "rt-river", Unit: unit, Kind: patrol.KindLine, Met: share >= 0.8, Line: &patrol.LineResult{
			LengthM: 2200, BufferM: 30, CoverShare: 0.8, DrivenM: 2200 * share, DrivenShare: share}}
	}
	area := patrol.Result{Task: "ar-station", Unit: "car-1", Kind: patrol.KindArea, Met: true,
		Area: &patrol.AreaResult{MinPresenceMin: 60, PresenceMin: 75, PresenceShare: 0.3}}
	r := &patrol.Report{Plan: "city", Shift: "day", Date: "2026-12-08", Zone: "Asia/Shanghai", From: 1, To: 2, MaxGapS: 90,
		Tasks: []patrol.TaskSummary{{Task: "cp-wuyi", Kind: patrol.KindPoint, Name: "Wuyi Square", Met: 2, Total: 2},
			{Task: "rt-river", Kind: patrol.KindLine, Name: "River road", Met: 1, Total: 2},
			{Task: "ar-station", Kind: patrol.KindArea, Name: "Station", Met: 1, Total: 1}},
		Units: []patrol.UnitSummary{{Unit: "car-1", Type: protocol.TypeCar, Fixes: 300, Met: 2, Total: 3},
			{Unit: "foot-1", Type: protocol.TypeFoot, Fixes: 200, Met: 1, Total: 1},
			{Unit: "moto-1", Type: protocol.TypeMotorcycle, Fixes: 250, Met: 1, Total: 1}},
		Results: []patrol.Result{point("car-1", 14.5), point("foot-1", 25), line("car-1", 0.5), line("moto-1", 0.92), area},
		Met:     4, Total: 5}
	if second {
		r.Tasks[0].Met, r.Tasks[1].Met = 1, 2
		r.Units[0].Met, r.Units[1].Met, r.Units[1].Fixes = 3, 0, 0
		r.Results[1], r.Results[2] = point("foot-1", 0), line("car-1", 0.85)
	}
	return r
}

// patrolStore is a store with the plan's three units where they patrol.
func patrolStore(c *Console, now int64) {
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{
		unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.962, now),
		unitAt("moto-1", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.205, 112.963, now),
		unitAt("foot-1", protocol.TypeFoot, protocol.StatusAvailable, 28.196, 112.977, now)}, Incidents: []Incident{}}, conn: 1, received: now}},
		Link{}, false)
}

// The patrol layer against the fake hub: a hub without plans says so;
// shown, the plans are fetched and each one's compliance asked (a plan
// with no shift running says so); the units listed worst first; every
// PatrolEvery the compliance again (not the plans), the layer recoloured;
// a viewer sees all of it; hidden, nothing is asked; signed out, forgotten.
func TestPatrolsFetch(t *testing.T) {
	h := newFakeHub(t)
	h.addUser("li.na", api.RoleViewer, "viewer-password-1", false)
	ct, l := newTestController(t, h)
	clock := time.Now()
	ct.Now = func() time.Time { return clock }
	ct.SignIn("li.na", "viewer-password-1")
	l.until(t, "signed in", ct.SignedIn)
	c := ct.C
	if c.Role != api.RoleViewer {
		t.Fatalf("role %q", c.Role)
	}
	view := func() string {
		return app.HTMLString(&MapView{Ctl: ct, Lang: c.Lang, Chase: c.MapChase(), Cover: c.CoverView(), Patrol: c.PatrolView()})
	}

	// A hub without patrol plans.
	ct.TogglePatrols()
	l.until(t, "the 404", func() bool { return !c.Patrols.Busy })
	if !c.Patrols.NA || !strings.Contains(view(), "Patrol plans are not available on this hub") {
		t.Fatalf("a hub without plans: %+v", c.Patrols)
	}
	clock = clock.Add(PatrolEvery)
	ct.Tick()
	if c.Patrols.Busy {
		t.Error("a hub without plans is asked again")
	}

	// Hidden then shown: the plans and each one's compliance.
	night := patrol.Plan{ID: "nights", Zone: patrol.DefaultZone, Shifts: []patrol.Shift{{ID: "night", Start: 20 * 60, End: 8 * 60}}, Tasks: []patrol.Task{}}
	h.mu.Lock()
	h.patrols = []patrol.Plan{cityPlan(t), night}
	h.compliance = map[string]*patrol.Report{"city": dayReport(false)}
	h.mu.Unlock()
	ct.TogglePatrols()
	if c.Scene.PatrolOn || c.Patrols.Busy {
		t.Fatal("hidden, the layer fetches")
	}
	ct.TogglePatrols()
	l.until(t, "the plans", func() bool { return c.Patrols.Loaded && !c.Patrols.Busy })
	h.mu.Lock()
	asked, lists := slices.Clone(h.patrolAsked), h.patrolLists
	h.mu.Unlock()
	if lists != 1 || !slices.Equal(asked, []string{"city", "nights"}) {
		t.Fatalf("listed %d times, compliance asked of %q", lists, asked)
	}
	if !slices.ContainsFunc(h.callsSoFar(), func(f fakeCall) bool { return f.Path == "/api/patrols/compliance" && f.Status == 0 }) {
		t.Error("the compliance was not asked")
	}
	html := view()
	for _, want := range []string{"City centre", "day 08:00–20:00 · 4/5 met", "No shift of this plan is running now", "2/3", "1/1 ✓"} {
		if !strings.Contains(html, want) {
			t.Errorf("the box lacks %q", want)
		}
	}
	pv := c.PatrolView()
	if len(pv.Plans) != 2 || len(pv.Plans[0].Units) != 3 {
		t.Fatalf("view %+v", pv)
	}
	var order []string
	for _, r := range pv.Plans[0].Units {
		order = append(order, r.Unit)
	}
	if !slices.Equal(order, []string{"car-1", "foot-1", "moto-1"}) {
		t.Errorf("units in the order %q, want the worst first", order)
	}
	states := map[string]int{}
	for _, s := range c.Scene.Patrol {
		states[s.label] = s.state
	}
	if want := map[string]int{"Wuyi Square": patrolMet, "River road": patrolDue, "Station": patrolMet, "Night post": patrolNone}; !maps.Equal(states, want) {
		t.Errorf("task states %v, want %v", states, want)
	}

	// Refreshed every PatrolEvery: the compliance, not the plans.
	h.mu.Lock()
	h.compliance["city"] = dayReport(true)
	h.mu.Unlock()
	clock = clock.Add(PatrolEvery - time.Second)
	ct.Tick()
	if c.Patrols.Busy {
		t.Error("asked again before PatrolEvery")
	}
	clock = clock.Add(time.Second)
	ct.Tick()
	l.until(t, "the refresh", func() bool { return !c.Patrols.Busy && c.Patrols.Reports["city"].Rep.Units[0].Met == 3 })
	h.mu.Lock()
	asked, lists = slices.Clone(h.patrolAsked), h.patrolLists
	h.mu.Unlock()
	if lists != 1 || len(asked) != 4 {
		t.Errorf("after the refresh: listed %d times, compliance asked %q", lists, asked)
	}
	if got := c.PatrolView().Plans[0].Units[0]; got.Unit != "foot-1" || !got.NoFixes || !strings.Contains(view(), "no fixes") {
		t.Errorf("the worst unit now %+v", got)
	}
	for _, s := range c.Scene.Patrol {
		if s.label == "Wuyi Square" && s.state != patrolDue || s.label == "River road" && s.state != patrolMet {
			t.Errorf("%s recoloured to %d", s.label, s.state)
		}
	}
	for _, call := range h.callsSoFar() {
		if strings.HasPrefix(call.Path, "/api/patrols") && (call.Method != "GET" || call.Status != 0 && call.Status != 200) {
			t.Errorf("call %+v", call)
		}
	}

	// A failed fetch keeps what was shown, and says why.
	shown := c.Patrols.Reports["city"].Rep
	c.setPatrols(false, nil, nil, errors.New("GET /api/patrols/compliance: connection refused"))
	if c.Patrols.Reports["city"].Rep != shown || len(c.Scene.Patrol) != 4 || !strings.Contains(view(), "connection refused") ||
		len(c.PatrolView().Plans[0].Units) != 3 {
		t.Errorf("after a failed fetch: %+v", c.Patrols)
	}

	// Kept over a reload; signed out, forgotten.
	if p := c.Prefs(); !p.Patrols || !strings.Contains(encodePrefs(p), `"patrols":true`) {
		t.Errorf("not kept: %+v", p)
	}
	ct.Stop()
	if c.Patrols.Plans != nil || c.Scene.Patrol != nil {
		t.Error("the plans outlived the session")
	}
}

// The layer on the canvas: a checkpoint a ring of its radius, a route a
// polyline through its vertices, an area a closed outline with a light
// fill, each in its state's colour (a task without results grey); labels
// from patrolLabelZoom; nothing hidden or out of view; a checkpoint never
// vanishes when zoomed out.
func TestPatrolScene(t *testing.T) {
	plan := cityPlan(t)
	shapes := patrolShapes([]patrol.Plan{plan}, map[string]planReport{"city": {Rep: dayReport(false)}})
	if len(shapes) != 4 {
		t.Fatalf("%d shapes", len(shapes))
	}
	s := NewStore()
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.985, Zoom: 14, W: 1400, H: 1000}, Lang: EN, Patrol: shapes}
	var b sceneBuf
	if info := b.build(s, m, 0, 0); info.Patrol != 0 {
		t.Fatalf("hidden, yet %d tasks drawn", info.Patrol)
	}
	m.PatrolOn = true
	info := b.build(s, m, 0, 0)
	ds := replay(t, &b.d)
	if info.Patrol != 4 {
		t.Errorf("%d tasks drawn, want 4", info.Patrol)
	}
	v := m.View
	// The checkpoint met: a ring of 60 m, green over a light green fill.
	x, y := v.ToScreen(28.196, 112.977)
	i := slices.IndexFunc(ds, func(d drawn) bool { return d.op == opCircle && d.stroke == colPatrolMet })
	if i < 0 || ds[i].fill != colPatrolMetFill || !near(ds[i].args[0], x, 0.01) || !near(ds[i].args[1], y, 0.01) ||
		!near(ds[i].args[2], v.MetersToPixels(60, 28.196), 0.01) {
		t.Errorf("the checkpoint: %+v, want at %v, %v r %v", ds, x, y, v.MetersToPixels(60, 28.196))
	}
	// The night's checkpoint, without a result in the day's report: grey.
	if count(ds, func(d drawn) bool {
		return d.op == opCircle && d.stroke == colPatrolNone && d.fill == colPatrolNoneFill
	}) != 1 {
		t.Error("the task without results is not grey")
	}
	// The route not met yet: amber, through its three vertices, unfilled.
	route := slices.DeleteFunc(slices.Clone(ds), func(d drawn) bool { return d.stroke != colPatrolDue })
	if len(route) != 3 || route[0].op != opMove || route[1].op != opLine || route[2].op != opLine || route[0].fill != -1 {
		t.Fatalf("the route drawn %+v", route)
	}
	for k, p := range plan.Tasks[1].Route {
		x, y := v.ToScreen(p.Lat(), p.Lon())
		if !near(route[k].args[0], x, 0.01) || !near(route[k].args[1], y, 0.01) {
			t.Errorf("route vertex %d at %v, want %v, %v", k, route[k].args, x, y)
		}
	}
	// The area met: a closed outline over a light fill.
	area := slices.DeleteFunc(slices.Clone(ds), func(d drawn) bool { return d.fill != colPatrolMetFill || d.op == opCircle })
	if len(area) != 5 || area[0].op != opMove || area[4].op != opClose || area[0].stroke != colPatrolMet {
		t.Errorf("the area drawn %+v", area)
	}
	// The fills are translucent in the palette, the strokes opaque.
	for _, k := range []int{colPatrolMetFill, colPatrolDueFill, colPatrolNoneFill} {
		if !strings.HasPrefix(Palette[k], "rgba(") {
			t.Errorf("fill %q is not translucent", Palette[k])
		}
	}
	// Labels from zoom 14: each task named in its colour.
	labels := map[string]int{}
	for _, d := range ds {
		if d.op == opText && strings.Contains("Wuyi Square River road Station Night post", d.text) {
			labels[d.text] = int(d.args[5])
		}
	}
	if want := map[string]int{"Wuyi Square": colPatrolMet, "River road": colPatrolDue, "Station": colPatrolMet, "Night post": colPatrolNone}; !maps.Equal(labels, want) {
		t.Errorf("labels %v, want %v", labels, want)
	}
	// The route's label at its middle vertex, the checkpoint's above its ring.
	mid := plan.Tasks[1].Route[1]
	x, y = v.ToScreen(mid.Lat(), mid.Lon())
	if i := slices.IndexFunc(ds, func(d drawn) bool { return d.op == opText && d.text == "River road" }); !near(ds[i].args[0], x, 0.01) || !near(ds[i].args[1], y, 0.01) {
		t.Errorf("the route's label at %v, want %v, %v", ds[i].args[:2], x, y)
	}
	x, y = v.ToScreen(28.196, 112.977)
	if i := slices.IndexFunc(ds, func(d drawn) bool { return d.op == opText && d.text == "Wuyi Square" }); !near(ds[i].args[0], x, 0.01) || ds[i].args[1] >= y-v.MetersToPixels(60, 28.196) {
		t.Errorf("the checkpoint's label at %v, the ring's top at %v", ds[i].args[:2], y-v.MetersToPixels(60, 28.196))
	}
	// Zoomed out: no labels, the checkpoints still a few pixels.
	m.View.Zoom = 10
	info = b.build(s, m, 0, 0)
	ds = replay(t, &b.d)
	if info.Patrol != 4 || count(ds, func(d drawn) bool { return d.op == opText && d.text == "Wuyi Square" }) != 0 {
		t.Errorf("at zoom 10: %d tasks, labels %v", info.Patrol, ds)
	}
	for _, d := range ds {
		if d.op == opCircle && d.stroke == colPatrolMet && d.args[2] < patrolMinR {
			t.Errorf("a checkpoint %v px across", d.args[2])
		}
	}
	// Out of view: none; one task in view: one.
	m.View = View{Lat: 30, Lon: 115, Zoom: 14, W: 1000, H: 800}
	if info := b.build(s, m, 0, 0); info.Patrol != 0 {
		t.Errorf("%d tasks drawn far away", info.Patrol)
	}
	m.View = View{Lat: 28.194, Lon: 113.01, Zoom: 17, W: 400, H: 300}
	if info := b.build(s, m, 0, 0); info.Patrol != 1 {
		t.Errorf("%d tasks drawn in the station's view", info.Patrol)
	}
}

// patrolConsole is a signed-in console (no hub) with the plan, its report
// and its units, the layer shown.
func patrolConsole(t *testing.T, rep *patrol.Report) *Controller {
	t.Helper()
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"}
	ct.C.Role = api.RoleViewer
	patrolStore(ct.C, time.Now().UnixMilli())
	ct.C.TogglePatrols()
	ct.C.setPatrols(true, []patrol.Plan{cityPlan(t)}, map[string]planReport{"city": {Rep: rep}}, nil)
	return ct
}

// The box re-renders as reports come in another order: a click on row k's
// unit selects and centres the unit row k shows then, and ▸ on row k opens
// that unit's tasks, with their figures.
func TestPatrolClickAfterRerender(t *testing.T) {
	ct := patrolConsole(t, dayReport(false))
	c := ct.C
	m := mount(t, func(rev int64) app.Composer {
		return &MapView{Ctl: ct, Lang: EN, Chase: c.MapChase(), Cover: c.CoverView(), Patrol: c.PatrolView()}
	})
	rows := m.nodes("li", "patrol-unit")
	if len(rows) != 3 || rows[0].attrs["data-unit"] != "car-1" {
		t.Fatalf("rows %+v", rows)
	}
	// A new report: the order changes (foot-1 is now the worst).
	c.setPatrols(false, nil, map[string]planReport{"city": {Rep: dayReport(true)}}, nil)
	m.rerender()
	want := []string{"foot-1", "car-1", "moto-1"}
	rows = m.nodes("li", "patrol-unit")
	gos, opens := m.nodes("button", "patrol-go"), m.nodes("button", "patrol-expand")
	if len(rows) != 3 || len(gos) != 3 || len(opens) != 3 {
		t.Fatalf("%d rows, %d names, %d ▸", len(rows), len(gos), len(opens))
	}
	for k, row := range rows {
		if row.attrs["data-unit"] != want[k] {
			t.Fatalf("row %d shows %s, want %s", k, row.attrs["data-unit"], want[k])
		}
		c.Scene.View = View{Lat: 28.1, Lon: 113.1, Zoom: 11, W: 1000, H: 800}
		gos[k].click(t)
		u := c.Store.Units[want[k]]
		if v := c.View(); c.Scene.SelUnit != want[k] || v.Lat != u.Lat || v.Lon != u.Lon || v.Zoom < 14 {
			t.Errorf("click on row %d (%s): selected %q, the map at %v, %v zoom %v", k, want[k], c.Scene.SelUnit, v.Lat, v.Lon, v.Zoom)
		}
	}
	// ▸ on row 1 (car-1 now): its three tasks, with their figures.
	opens[1].click(t)
	m.rerender()
	rows = m.nodes("li", "patrol-unit")
	if rows[1].attrs["data-unit"] != "car-1" || rows[1].attrs["data-open"] != "true" || rows[0].attrs["data-open"] != "false" {
		t.Fatalf("opened %+v", rows)
	}
	tasks := m.nodes("li", "patrol-task")
	if len(tasks) != 3 {
		t.Fatalf("%d tasks shown", len(tasks))
	}
	html := flatText(app.HTMLString(m.first))
	for _, w := range []string{"Wuyi Square (checkpoint) held 1/1 · longest stay 14 min of 10 min ✓", "River road (route) driven 85 % of 80 % ✓",
		"Station (area) present 1 h 15 min of 1 h 00 min ✓"} {
		if !strings.Contains(html, w) {
			t.Errorf("the tasks lack %q", w)
		}
	}
	// A unit the page has no position of: said so.
	c.setPatrols(false, nil, map[string]planReport{"city": {Rep: func() *patrol.Report {
		r := dayReport(true)
		r.Units = append(r.Units, patrol.UnitSummary{Unit: "gone-1", Met: 0, Total: 2})
		return r
	}()}}, nil)
	m.rerender()
	m.nodes("button", "patrol-go")[0].click(t)
	if c.Scene.SelUnit != "gone-1" || !strings.Contains(c.Notice.Text, "No position known for gone-1") {
		t.Errorf("a unit without a position: selected %q, notice %q", c.Scene.SelUnit, c.Notice.Text)
	}
}

// The figures in words, in both languages; a task's state from a report.
func TestPatrolFigures(t *testing.T) {
	r := dayReport(false)
	for _, tc := range []struct {
		i      int
		en, zh string
	}{
		{0, "held 1/1 · longest stay 14 min of 10 min", "守点 1/1 · 最长停留 14分钟（需 10分钟）"},
		{2, "driven 50 % of 80 %", "已巡 50%（需 80%）"},
		{4, "present 1 h 15 min of 1 h 00 min", "在区 1小时15分（需 1小时00分）"},
	} {
		if got := resultFigure(EN, &r.Results[tc.i]); got != tc.en {
			t.Errorf("EN %d: %q, want %q", tc.i, got, tc.en)
		}
		if got := resultFigure(ZH, &r.Results[tc.i]); got != tc.zh {
			t.Errorf("ZH %d: %q, want %q", tc.i, got, tc.zh)
		}
	}
	noDwell := patrol.Result{Kind: patrol.KindPoint, Point: &patrol.PointResult{Held: 0, Windows: make([]patrol.WindowResult, 2)}}
	if got := resultFigure(EN, &noDwell); got != "held 0/2" {
		t.Errorf("a checkpoint without a dwell: %q", got)
	}
	for task, want := range map[string]int{"cp-wuyi": patrolMet, "rt-river": patrolDue, "ar-station": patrolMet, "cp-night": patrolNone} {
		if got := taskState(r, task); got != want {
			t.Errorf("%s: state %d, want %d", task, got, want)
		}
	}
	if taskState(nil, "cp-wuyi") != patrolNone || taskState(&patrol.Report{Tasks: []patrol.TaskSummary{{Task: "x"}}}, "x") != patrolNone {
		t.Error("a task without results is not grey")
	}
	// In Chinese.
	ct := patrolConsole(t, r)
	ct.C.SetLang(ZH)
	ct.C.TogglePatrolUnit("city", "moto-1")
	html := flatText(app.HTMLString(&MapView{Ctl: ct, Lang: ZH, Cover: ct.C.CoverView(), Patrol: ct.C.PatrolView()}))
	for _, w := range []string{"巡逻", "已完成", "未完成", "无结果", "day 08:00–20:00 · 完成 4/5", "River road (巡逻线) 已巡 92%（需 80%） ✓"} {
		if !strings.Contains(html, w) {
			t.Errorf("ZH lacks %q", w)
		}
	}
}

// Every role sees the layer's button, the box and its units (it is read
// only); the layer is hidden by default and kept once shown.
func TestPatrolRolesAndPrefs(t *testing.T) {
	c := NewConsole(EN)
	if c.Scene.PatrolOn || c.Prefs().Patrols {
		t.Error("the patrol layer shows by default")
	}
	es := render(t, &MapView{Ctl: &Controller{C: c}, Lang: EN, Patrol: c.PatrolView()})
	one(t, es, "button", map[string]string{"id": "patrol-toggle", "data-on": "false"})
	if len(find(es, "div", map[string]string{"id": "patrol-box"})) != 0 {
		t.Error("the box shows with the layer hidden")
	}
	c2 := NewConsole(EN)
	c2.Restore(decodePrefs(encodePrefs(Prefs{Patrols: true})))
	if !c2.Scene.PatrolOn {
		t.Error("not restored")
	}
	for _, role := range api.Roles {
		t.Run(role, func(t *testing.T) {
			ct := patrolConsole(t, dayReport(false))
			ct.C.Role = role
			es := render(t, &MapView{Ctl: ct, Lang: EN, Patrol: ct.C.PatrolView()})
			one(t, es, "button", map[string]string{"id": "patrol-toggle", "data-on": "true"})
			one(t, es, "div", map[string]string{"id": "patrol-box"})
			if n := len(find(es, "li", map[string]string{"class": "patrol-unit"})); n != 3 {
				t.Errorf("%d units listed", n)
			}
		})
	}
}

// flatText is a page's text as read: without its tags, each run of spaces
// one space.
func flatText(html string) string {
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(html, " ")), " ")
}

// BenchmarkPatrolLayer: a frame with 300 tasks over the whole city in view
// — 100 checkpoints, 100 routes of 50 vertices, 100 areas of 20 — the
// shapes laid out once (frame), and their layout from a new report
// (layout).
func BenchmarkPatrolLayer(b *testing.B) {
	plan := patrol.Plan{ID: "bench", Tasks: make([]patrol.Task, 0, 300)}
	rep := &patrol.Report{}
	for i := range 100 {
		lat, lon := 28.1+0.002*float64(i), 112.88+0.002*float64(i)
		route := make([]patrol.Position, 50)
		for k := range route {
			route[k] = patrol.Position{lon + 0.001*float64(k), lat + 0.0005*float64(k%7)}
		}
		area := make([]patrol.Position, 20)
		for k := range area {
			a := 2 * math.Pi * float64(k) / 20
			area[k] = patrol.Position{lon + 0.01*math.Cos(a), lat + 0.01*math.Sin(a)}
		}
		id := strconv.Itoa(i)
		plan.Tasks = append(plan.Tasks, patrol.Task{ID: "cp-" + id, Kind: patrol.KindPoint, Lat: lat, Lon: lon, RadiusM: 50},
			patrol.Task{ID: "rt-" + id, Kind: patrol.KindLine, Route: route}, patrol.Task{ID: "ar-" + id, Kind: patrol.KindArea, Polygon: area})
		rep.Tasks = append(rep.Tasks, patrol.TaskSummary{Task: "cp-" + id, Met: i % 2, Total: 1}, patrol.TaskSummary{Task: "rt-" + id, Met: 1, Total: 1})
	}
	reps := map[string]planReport{"bench": {Rep: rep}}
	m := &MapScene{View: FitBox(Box{MinLat: 28.08, MaxLat: 28.32, MinLon: 112.85, MaxLon: 113.1}, 1400, 900), Lang: EN, PatrolOn: true,
		Patrol: patrolShapes([]patrol.Plan{plan}, reps)}
	s := NewStore()
	var sb sceneBuf
	info := sb.build(s, m, 0, 0)
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.build(s, m, 0, 0)
		}
		b.ReportMetric(float64(info.Patrol), "tasks")
	})
	b.Run("layout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			patrolShapes([]patrol.Plan{plan}, reps)
		}
	})
}
