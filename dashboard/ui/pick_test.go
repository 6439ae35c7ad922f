package ui

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// pickView is the view the picker tests click in: at zoom 16 a unit's
// reach is 10 px (~21 m).
var pickView = View{Lat: 28.2, Lon: 112.98, Zoom: 16, W: 1000, H: 800}

// at is where canvas point x, y of pickView is.
func at(x, y float64) (lat, lon float64) { return pickView.FromScreen(x, y) }

// unitPx is a unit drawn at canvas point x, y of pickView.
func unitPx(id string, typ protocol.UnitType, x, y float64, now int64) Unit {
	lat, lon := at(x, y)
	return unitAt(id, typ, protocol.StatusAvailable, lat, lon, now)
}

// pickStore has three cars at one station (400, 300) 0, 3 and 6 px apart,
// listed out of order; an incident at (600, 300) with two units on scene
// on it; a lone unit at (200, 600).
func pickStore(now int64) *Store {
	s := NewStore()
	ilat, ilon := at(600, 300)
	onScene := unitPx("foot-7", protocol.TypeFoot, 602, 300, now)
	onScene.Status = protocol.StatusOnScene
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{
		unitPx("car-3", protocol.TypeCar, 406, 300, now),
		unitPx("car-1", protocol.TypeCar, 400, 300, now),
		unitPx("car-2", protocol.TypeCar, 400, 303, now),
		unitPx("moto-5", protocol.TypeMotorcycle, 600, 300, now),
		onScene,
		unitPx("vol-9", protocol.TypeVolunteer, 200, 600, now),
	}, Incidents: []Incident{{ID: "inc-4", Status: api.IncidentOnScene, Priority: 2, Kind: "fight", Lat: ilat, Lon: ilon}}}, conn: 1})
	return s
}

type kindID struct {
	kind HitKind
	id   string
}

func hitIDs(hs []Hit) []kindID {
	var out []kindID
	for _, h := range hs {
		out = append(out, kindID{h.Kind, h.ID})
	}
	return out
}

func TestHitTestAll(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := pickStore(now)
	for _, tc := range []struct {
		name string
		x, y float64
		want []kindID
	}{
		{"three cars at a station: nearest first", 401, 300,
			[]kindID{{HitUnit, "car-1"}, {HitUnit, "car-2"}, {HitUnit, "car-3"}}},
		{"equal distances: by id", 403, 301.5,
			[]kindID{{HitUnit, "car-1"}, {HitUnit, "car-2"}, {HitUnit, "car-3"}}},
		{"an incident over units: the incident first", 603, 300,
			[]kindID{{HitIncident, "inc-4"}, {HitUnit, "foot-7"}, {HitUnit, "moto-5"}}},
		{"one unit", 202, 601, []kindID{{HitUnit, "vol-9"}}},
		{"nothing", 800, 700, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := HitTestAll(s, pickView, tc.x, tc.y, nil)
			if got := hitIDs(hs); !slices.Equal(got, tc.want) {
				t.Fatalf("hits %v, want %v", got, tc.want)
			}
			lat, lon := pickView.FromScreen(tc.x, tc.y)
			for _, h := range hs {
				if h.Lat != lat || h.Lon != lon {
					t.Errorf("%s: clicked position %v,%v, want %v,%v", h.ID, h.Lat, h.Lon, lat, lon)
				}
			}
			// The first is what HitTest answers alone.
			if one := HitTest(s, pickView, tc.x, tc.y); len(hs) > 0 && (one.Kind != hs[0].Kind || one.ID != hs[0].ID) ||
				len(hs) == 0 && one.Kind != HitNothing {
				t.Errorf("HitTest says %v %q", one.Kind, one.ID)
			}
		})
	}
}

func pickConsole(now int64) *Console {
	c := NewConsole(EN)
	c.Role = api.RoleAdmin // may do everything
	c.Store = pickStore(now)
	c.Scene.View = pickView
	return c
}

// A click on several markers opens the picker, except in "new incident"
// mode; a click while it is open closes it, acting only on a marker.
func TestClickPicker(t *testing.T) {
	now := int64(1_800_000_000_000)
	for _, tc := range []struct {
		name     string
		creating bool
		open     bool // a picker was open before the click
		x, y     float64
		kind     HitKind
		items    []kindID // the picker after the click (nil: closed)
		selUnit  string
		form     bool
	}{
		{name: "several units", x: 401, y: 300, kind: HitPick,
			items: []kindID{{HitUnit, "car-1"}, {HitUnit, "car-2"}, {HitUnit, "car-3"}}},
		{name: "an incident with units on scene", x: 600, y: 300, kind: HitPick,
			items: []kindID{{HitIncident, "inc-4"}, {HitUnit, "moto-5"}, {HitUnit, "foot-7"}}},
		{name: "one unit selects it", x: 200, y: 600, kind: HitUnit, selUnit: "vol-9"},
		{name: "new incident mode places it on the pile", creating: true, x: 401, y: 300, kind: HitNothing, form: true},
		{name: "new incident mode with a picker open", creating: true, open: true, x: 401, y: 300, kind: HitNothing, form: true},
		{name: "open, then a click on nothing only closes", open: true, x: 800, y: 700, kind: HitNothing},
		{name: "open, then a click on one unit selects it", open: true, x: 200, y: 600, kind: HitUnit, selUnit: "vol-9"},
		{name: "open, then a click on another pile opens that", open: true, x: 600, y: 300, kind: HitPick,
			items: []kindID{{HitIncident, "inc-4"}, {HitUnit, "moto-5"}, {HitUnit, "foot-7"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pickConsole(now)
			if tc.open {
				if h := c.Click(401, 300); h.Kind != HitPick {
					t.Fatalf("opening click: %+v", h)
				}
			}
			if tc.creating {
				c.StartCreating()
			}
			h := c.Click(tc.x, tc.y)
			if h.Kind != tc.kind {
				t.Errorf("click: %v %q, want %v", h.Kind, h.ID, tc.kind)
			}
			p, open := c.Picker()
			if got := hitIDs(p.Hits); open != (tc.items != nil) || !slices.Equal(got, tc.items) {
				t.Errorf("picker open %v with %v, want %v", open, got, tc.items)
			}
			if open && (p.X != tc.x || p.Y != tc.y) {
				t.Errorf("picker at %v,%v", p.X, p.Y)
			}
			if c.Scene.SelUnit != tc.selUnit || c.Scene.SelInc != "" {
				t.Errorf("selected unit %q incident %q, want unit %q", c.Scene.SelUnit, c.Scene.SelInc, tc.selUnit)
			}
			if c.Form.Open != tc.form {
				t.Errorf("form open %v", c.Form.Open)
			}
		})
	}
}

// Esc, a pan, a zoom or a resize close the picker; so does "new incident"
// and signing out.
func TestPickerCloses(t *testing.T) {
	now := int64(1_800_000_000_000)
	for _, tc := range []struct {
		name  string
		close func(c *Console)
	}{
		{"Esc", func(c *Console) { c.ClosePick() }},
		{"pan", func(c *Console) { c.WithView(func(v *View) bool { v.Pan(30, 0); return true }) }},
		{"zoom", func(c *Console) { c.WithView(func(v *View) bool { v.ZoomAt(2, 500, 400); return true }) }},
		{"resize", func(c *Console) { c.Resize(900, 800) }},
		{"home", func(c *Console) { c.Home() }},
		{"new incident", func(c *Console) { c.StartCreating() }},
		{"sign out", func(c *Console) { c.SignedOut(Link{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pickConsole(now)
			c.Click(401, 300)
			c.mu.Lock()
			stale := c.pickStale()
			c.mu.Unlock()
			if _, open := c.Picker(); !open || stale {
				t.Fatalf("not open (%v) or stale (%v)", open, stale)
			}
			tc.close(c)
			// The frame loop sees the picker on screen is stale and has
			// the UI goroutine tidy it.
			c.mu.Lock()
			stale = c.pickStale()
			c.mu.Unlock()
			c.tidyPick()
			if _, open := c.Picker(); open || !stale || c.pick != nil {
				t.Errorf("open %v, stale %v, state %v", open, stale, c.pick)
			}
		})
	}
}

// Choosing selects by id as a direct click would, whatever the stream did
// since the picker opened: a unit that moved away is still the one chosen;
// a removed unit's item is dropped and the picker stays open for the rest.
func TestPickerChoose(t *testing.T) {
	now := int64(1_800_000_000_000)
	moved := unitAt("car-2", protocol.TypeCar, protocol.StatusEnroute, 28.21, 112.99, now+1000)
	for _, tc := range []struct {
		name   string
		frame  *Frame // the stream, between opening and choosing
		kind   HitKind
		id     string
		hit    HitKind  // Choose's answer
		items  []kindID // left in the picker (nil: closed)
		selU   string
		selI   string
		trackN int // the selected unit's track starts at its position now
	}{
		{name: "a unit", kind: HitUnit, id: "car-3", hit: HitUnit, selU: "car-3", trackN: 1},
		{name: "a unit that moved away since", frame: &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, Units: []Unit{moved}}, conn: 1},
			kind: HitUnit, id: "car-2", hit: HitUnit, selU: "car-2", trackN: 1},
		{name: "a unit removed since", frame: &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, RemovedUnits: []string{"car-2"}}, conn: 1},
			kind: HitUnit, id: "car-2", hit: HitNothing, items: []kindID{{HitUnit, "car-1"}, {HitUnit, "car-3"}}},
		{name: "not in the picker", kind: HitUnit, id: "vol-9", hit: HitNothing,
			items: []kindID{{HitUnit, "car-1"}, {HitUnit, "car-2"}, {HitUnit, "car-3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pickConsole(now)
			c.Click(401, 300)
			if tc.frame != nil {
				c.ApplyFrames([]*Frame{tc.frame}, Link{}, false)
			}
			h := c.Choose(tc.kind, tc.id)
			if h.Kind != tc.hit || (tc.hit != HitNothing && h.ID != tc.id) {
				t.Errorf("chose %v %q, want %v %q", h.Kind, h.ID, tc.hit, tc.id)
			}
			p, open := c.Picker()
			if got := hitIDs(p.Hits); open != (tc.items != nil) || !slices.Equal(got, tc.items) {
				t.Errorf("picker open %v with %v, want %v", open, got, tc.items)
			}
			if c.Scene.SelUnit != tc.selU || c.Scene.SelInc != tc.selI || len(c.Scene.Track) != tc.trackN {
				t.Errorf("selected unit %q incident %q track %v", c.Scene.SelUnit, c.Scene.SelInc, c.Scene.Track)
			}
			if tc.selU != "" {
				if u := c.Store.Units[tc.selU]; c.Scene.Track[0].Lat != u.Lat {
					t.Errorf("track starts at %v, the unit is at %v", c.Scene.Track[0], u.Lat)
				}
			}
		})
	}
	// An incident, through the Controller as the item's button does.
	ct := NewController(pickConsole(now), "")
	ct.C.Click(601, 300)
	ct.Clicked(ct.C.Choose(HitIncident, "inc-4"))
	if ct.C.Scene.SelInc != "inc-4" || ct.C.pick != nil {
		t.Errorf("selected %q, picker %v", ct.C.Scene.SelInc, ct.C.pick)
	}
}

// The popup: #pick[data-count], an item per marker with its kind and id
// (incidents first), what a dispatcher tells them apart by; gone when
// closed, or in "new incident" mode.
func TestPickerRender(t *testing.T) {
	now := time.Now().UnixMilli()
	ct := NewController(pickConsole(now), "")
	c := ct.C
	c.Store.Units["moto-5"].Callsign = "湘A-M05"
	c.Click(600, 300)
	es := render(t, &MapView{Ctl: ct, Lang: ZH})
	pick := one(t, es, "div", map[string]string{"id": "pick", "data-count": "3"})
	if pick.attrs["role"] != "dialog" {
		t.Errorf("popup %v", pick.attrs)
	}
	items := find(es, "button", map[string]string{"class": "pick-item"})
	var got []string
	for _, it := range items {
		got = append(got, it.attrs["data-kind"]+":"+it.attrs["data-id"])
	}
	if want := []string{"incident:inc-4", "unit:moto-5", "unit:foot-7"}; !slices.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
	html := pickHTML(t, &MapView{Ctl: ct, Lang: ZH})
	for _, s := range []string{"此处有 3 个目标", "2级", "打架斗殴", "inc-4", "湘A-M05", "▲", "到场", "空闲"} {
		if !strings.Contains(html, s) {
			t.Errorf("the popup lacks %q", s)
		}
	}
	// Removed since: the item is gone, the count follows.
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, RemovedUnits: []string{"foot-7"}}, conn: 1}}, Link{}, false)
	es = render(t, &MapView{Ctl: ct, Lang: EN})
	one(t, es, "div", map[string]string{"id": "pick", "data-count": "2"})
	if n := len(find(es, "button", map[string]string{"class": "pick-item"})); n != 2 {
		t.Errorf("%d items", n)
	}
	// A pile larger than the list says how many more.
	for i := range pickRows + 5 {
		u := unitPx("p-"+strconv.Itoa(i), protocol.TypeFoot, 200, 600, now)
		c.Store.Apply(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: c.Store.Seq + 1, Units: []Unit{u}}, conn: 1})
	}
	c.Click(200, 600)
	es = render(t, &MapView{Ctl: ct, Lang: EN})
	one(t, es, "div", map[string]string{"id": "pick", "data-count": strconv.Itoa(pickRows + 6)})
	if n := len(find(es, "button", map[string]string{"class": "pick-item"})); n != pickRows {
		t.Errorf("%d items, want %d", n, pickRows)
	}
	one(t, es, "li", map[string]string{"class": "pick-more"})
	for _, tc := range []struct {
		name string
		mv   *MapView
		prep func()
	}{
		{"new incident mode", &MapView{Ctl: ct, Lang: EN, Creating: true}, func() {}},
		{"closed", &MapView{Ctl: ct, Lang: EN}, func() { c.ClosePick() }},
	} {
		tc.prep()
		if es := render(t, tc.mv); len(find(es, "", map[string]string{"id": "pick"})) != 0 {
			t.Errorf("%s: the picker is shown", tc.name)
		}
	}
}

func pickHTML(t *testing.T, c app.Composer) string {
	t.Helper()
	e := app.NewTestEngine()
	if err := e.Load(c); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()
	return app.HTMLString(c)
}
