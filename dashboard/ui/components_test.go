package ui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// consoleFixture is a signed-in console with units, an open uncovered
// incident, and a selected incident with recommendations, an assignment en
// route, and the new-incident form open. No stream runs: OnMount (which
// starts things) does not run under NewTestEngine.
func consoleFixture(lang Lang) *Controller {
	now := time.Now().UnixMilli()
	ct := NewController(NewConsole(lang), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"} // signed in, as far as rendering goes
	ct.who = api.Session{Name: "wang", Role: api.RoleAdmin}
	c := ct.C
	c.Role = api.RoleAdmin // every action shows
	stale := unitAt("foot-3", protocol.TypeFoot, protocol.StatusAvailable, 28.19, 112.97, now-5*60_000)
	off := unitAt("vol-4", protocol.TypeVolunteer, protocol.StatusOffDuty, 28.19, 112.97, now)
	off.Online = false
	car := unitAt("car-1", protocol.TypeCar, protocol.StatusEnroute, 28.2, 112.98, now)
	car.Callsign, car.Incident = "湘A-001", "inc-1"
	sel := Incident{ID: "inc-1", Status: api.IncidentDispatched, Priority: 1, Kind: "robbery", Lat: 28.201, Lon: 112.981,
		Created: now - 90_000, Summary: "持刀抢劫",
		Assignments: []api.Assignment{{Unit: "car-1", State: api.AssignEnroute, By: "dispatcher", Tier: 1, Dispatched: now - 80_000}},
		Timeline: []Entry{{TS: now - 90_000, Type: "created", Actor: "dispatcher"}, {TS: now - 80_000, Type: "dispatched", Unit: "car-1", Actor: "dispatcher"},
			{TS: now - 70_000, Type: "ack", Unit: "car-1", Actor: "car-1"}},
		Figures: api.Figures{ToDispatchS: fp(10), ToAckS: fp(20)}}
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{car, stale, off, unitAt("moto-2", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.21, 112.99, now)}, Incidents: []Incident{sel, {ID: "inc-2", Status: api.IncidentOpen, Priority: 3, Kind: "noise", Uncovered: true, Created: now - 10_000}}}, conn: 1, received: now}},
		Link{State: LinkConnected, Since: time.Now()}, true)
	c.SelectIncident("inc-1")
	d := sel
	d.Recommendations = []api.Recommendation{
		{Candidate: api.Candidate{Unit: "moto-2", Type: "motorcycle", ETAS: 41, Tier: 1, DistanceM: 320, FixAgeS: 2}},
		{Candidate: api.Candidate{Unit: "foot-3", Type: "foot", ETAS: 400, Tier: 4, DistanceM: 900, FixAgeS: 300}, Stale: true},
		{Candidate: api.Candidate{Unit: "car-1", Type: "car", ETAS: 20, Tier: 1, DistanceM: 150, FixAgeS: 1}},
	}
	c.SetDetail(&d, time.Now())
	c.OpenForm(28.205, 112.985)
	return ct
}

func render(t *testing.T, c app.Composer) []elem {
	t.Helper()
	e := app.NewTestEngine()
	if err := e.Load(c); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()
	return parseElems(app.HTMLString(c))
}

func one(t *testing.T, es []elem, tag string, attrs map[string]string) elem {
	t.Helper()
	got := find(es, tag, attrs)
	if len(got) != 1 {
		t.Fatalf("%d <%s %v>, want 1", len(got), tag, attrs)
	}
	return got[0]
}

// The hooks the chromedp end-to-end test relies on (README "Hooks").
func TestDashboardHooks(t *testing.T) {
	ct := consoleFixture(EN)
	es := render(t, &Dashboard{ctl: ct})

	one(t, es, "canvas", map[string]string{"id": "map"})
	one(t, es, "span", map[string]string{"id": "link", "data-state": LinkConnected})
	for _, id := range []string{"incident-form", "incident-kind", "incident-priority", "incident-summary", "incident-needs",
		"incident-submit", "new-incident", "incident-close", "queue", "unit-list", "unit-search", "statusbar", "lang", "signout"} {
		one(t, es, "", map[string]string{"id": id})
	}
	for _, id := range []string{"token", "signin-form", "signin-name", "signin-password", "pw-form"} {
		if len(find(es, "", map[string]string{"id": id})) != 0 {
			t.Errorf("the sign-in form (#%s) is shown while signed in", id)
		}
	}
	// Who is signed in, in the top bar.
	one(t, es, "span", map[string]string{"id": "who", "data-name": "wang", "data-role": api.RoleAdmin})
	one(t, es, "div", map[string]string{"id": "kuaifan", "data-session": PhaseSignedIn})
	// Recommendations, each with a dispatch button; the unit already on the
	// incident cannot be sent twice.
	recs := find(es, "tr", map[string]string{"class": "recommendation"})
	if len(recs) != 3 || recs[0].attrs["data-unit"] != "moto-2" {
		t.Fatalf("recommendation rows %v", recs)
	}
	btns := find(es, "button", map[string]string{"class": "dispatch"})
	if len(btns) != 3 || btns[0].attrs["data-unit"] != "moto-2" {
		t.Fatalf("dispatch buttons %v", btns)
	}
	// go-app writes Disabled(false) as disabled="false" in HTML (and sets the
	// property to false in the browser): "true" is the disabled one.
	if btns[0].attrs["disabled"] == "true" || btns[2].attrs["disabled"] != "true" {
		t.Errorf("disabled: %v / %v", btns[0].attrs, btns[2].attrs)
	}
	one(t, es, "tr", map[string]string{"class": "recommendation stale", "data-unit": "foot-3", "data-stale": "true"})
	one(t, es, "li", map[string]string{"class": "assignment", "data-unit": "car-1", "data-state": api.AssignEnroute})
	one(t, es, "li", map[string]string{"class": "unit", "data-id": "car-1", "data-status": "enroute"})
	one(t, es, "li", map[string]string{"class": "unit stale", "data-id": "foot-3"})
	one(t, es, "li", map[string]string{"class": "unit offline", "data-id": "vol-4"})
	// The queue: priority first; the uncovered one stands out.
	q := find(es, "li", map[string]string{"class": "incident"})
	if len(q) != 2 || q[0].attrs["data-id"] != "inc-1" || !q[1].has("uncovered") || q[1].attrs["data-uncovered"] != "true" {
		t.Errorf("queue %v", q)
	}
	one(t, es, "", map[string]string{"id": "uncovered", "data-count": "1", "class": "alert"})
	one(t, es, "div", map[string]string{"id": "incident-detail", "data-id": "inc-1", "data-status": api.IncidentDispatched})
	if n := len(find(es, "li", map[string]string{"class": "entry"})); n != 3 {
		t.Errorf("%d timeline entries", n)
	}
	// OnMount did not run here: nothing was attached, nothing started.
	if ct.ui != nil || ct.stream != nil {
		t.Error("OnMount ran under NewTestEngine?")
	}
}

func TestDashboardChinese(t *testing.T) {
	ct := consoleFixture(ZH)
	html := func() string {
		d := &Dashboard{ctl: ct}
		e := app.NewTestEngine()
		if err := e.Load(d); err != nil {
			t.Fatal(err)
		}
		e.ConsumeAll()
		return app.HTMLString(d)
	}()
	for _, s := range []string{"派警", "推荐警力", "赶赴中", "抢劫", "无人覆盖", "实时", "今日到场中位时间"} {
		if !strings.Contains(html, s) {
			t.Errorf("Chinese page lacks %q", s)
		}
	}
	if strings.Contains(html, ">Dispatch<") {
		t.Error("English left on the Chinese page")
	}
}

func TestSignInRendering(t *testing.T) {
	ct := NewController(NewConsole(EN), "")
	ct.C.Say(T(EN, "signin.wrong"), true, time.Now())
	es := render(t, &Dashboard{ctl: ct})
	one(t, es, "form", map[string]string{"id": "signin-form"})
	one(t, es, "input", map[string]string{"id": "signin-name", "type": "text", "autocomplete": "username"})
	one(t, es, "input", map[string]string{"id": "signin-password", "type": "password", "autocomplete": "current-password"})
	one(t, es, "button", map[string]string{"id": "signin", "type": "submit"})
	one(t, es, "p", map[string]string{"id": "signin-error"})
	// No token field: the admin token is for machines.
	if n := len(find(es, "", map[string]string{"id": "token"})); n != 0 {
		t.Error("the sign-in form asks for a token")
	}
	if len(find(es, "canvas", nil)) != 0 {
		t.Error("the map is shown before sign-in")
	}
	// Signing in: the button says so and is disabled.
	ct.signing = true
	es = render(t, &Dashboard{ctl: ct})
	one(t, es, "button", map[string]string{"id": "signin", "disabled": "true"})
}

// The units panel shows at most UnitRows rows and says how many more.
func TestUnitsPanelLimit(t *testing.T) {
	ct := NewController(NewConsole(EN), "")
	now := time.Now().UnixMilli()
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: fleetUnits(UnitRows+50, now)}, conn: 1, received: now}}, Link{}, false)
	es := render(t, &UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(now)})
	if n := len(find(es, "li", map[string]string{"class": "unit"})); n != UnitRows {
		t.Errorf("%d rows", n)
	}
	one(t, es, "li", map[string]string{"class": "more"})
	ct.C.Filter.Search = "u-7"
	es = render(t, &UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(now)})
	// u-7 and u-70 … u-79 contain "u-7"; u-170 does not.
	if rows := find(es, "li", map[string]string{"class": "unit"}); len(rows) != 11 {
		t.Errorf("search u-7: %d rows", len(rows))
	}
}

func fleetUnits(n int, now int64) []Unit {
	s := fleet(n, now)
	out := make([]Unit, 0, n)
	for _, u := range s.Units {
		out = append(out, u.Unit)
	}
	return out
}

// BenchmarkPanelsRender5000 is the page's once-a-second tick over a
// 5,000-unit fleet, through go-app's diff of the mounted tree (the page pays
// several times this in WebAssembly): the units panel
// when a row changed (the selection moved), when nothing it shows changed
// (its view is built and compared, and it is not re-rendered), and the
// status bar.
func BenchmarkPanelsRender5000(b *testing.B) {
	now := time.Now().UnixMilli()
	for _, panel := range []string{"units-changed", "units-unchanged", "status"} {
		b.Run(panel, func(b *testing.B) {
			ct := NewController(NewConsole(EN), "")
			ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: fleetUnits(5000, now)}, conn: 1, received: now}}, Link{}, false)
			rev := int64(0)
			mk := func() app.Composer {
				rev++
				switch panel {
				case "units-changed":
					ct.C.Scene.SelUnit = "u-" + strconv.Itoa(int(rev%2))
					fallthrough
				case "units-unchanged":
					return &UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(now)}
				}
				return &StatusBar{Ctl: ct, Rev: rev}
			}
			e := app.NewTestEngine()
			if err := e.Load(mk()); err != nil {
				b.Fatal(err)
			}
			e.ConsumeAll()
			for b.Loop() {
				e.Load(mk())
				e.ConsumeAll()
			}
		})
	}
}
