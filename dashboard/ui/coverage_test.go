package ui

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// coverGrid is a grid over Changsha's districts, coarse (rows × cols).
func coverGrid(rows, cols int) *api.CoverageGrid {
	return &api.CoverageGrid{MinLat: 28.08, MinLon: 112.85, LatStep: 0.24 / float64(rows), LonStep: 0.25 / float64(cols),
		Rows: rows, Cols: cols, CellM: 250}
}

// coverage is a whole layer with cells, the city's demand share within 3
// minutes, and holes.
func coverage(g *api.CoverageGrid, cells string, demand3 float64, holes ...api.CoverageHole) *api.Coverage {
	return &api.Coverage{TS: 1, Grid: g, TiersS: []float64{60, 180, 300}, Cells: cells, Units: 4, CoverTier: 2,
		City:  api.CoverageShares{Area: []float64{0.1, 0.5, 0.8}, Demand: []float64{0.12, demand3, 0.9}, Cells: len(cells)},
		Holes: holes, DemandDays: 30}
}

func coverFrame(typ string, seq uint64, cov *api.Coverage) *Frame {
	f := &Frame{Frame: api.Frame{Type: typ, Seq: seq, TS: 1000, Coverage: cov}, conn: 1}
	if typ == api.FrameSnapshot {
		f.Units, f.Incidents = []Unit{}, []Incident{}
	}
	return f
}

// The store keeps the layer: a snapshot's whole, a delta's changes cell by
// cell (twice is harmless), a delta's whole cells again, the figures of
// each; a resync snapshot without a layer drops it. The version moves only
// when the cells do.
func TestCoverageApply(t *testing.T) {
	s := NewStore()
	g := coverGrid(2, 3)
	if ch := s.Apply(coverFrame(api.FrameSnapshot, 1, coverage(g, "-01223", 0.5))); ch&ChangedCoverage == 0 || s.Cover == nil {
		t.Fatalf("snapshot: %v, %+v", ch, s.Cover)
	}
	l := s.Cover
	if string(l.Tiers) != "-01223" || l.Cells != "" || !l.cellsOK() || l.Ver == 0 || l.City.Demand[1] != 0.5 {
		t.Fatalf("after the snapshot: %q %+v", l.Tiers, l)
	}
	v0 := l.Ver

	// A delta: figures and changes, no grid, no tiers, no cells.
	d := &api.Coverage{TS: 2, Changes: [][2]int{{1, 2}, {5, 0}}, Units: 3, CoverTier: 2,
		City: api.CoverageShares{Demand: []float64{0.1, 0.4, 0.8}}, Holes: []api.CoverageHole{{CentreLat: 28.2, CentreLon: 112.9, Cells: 1}}}
	if ch := s.Apply(coverFrame(api.FrameDelta, 2, d)); ch&ChangedCoverage == 0 {
		t.Error("a delta's coverage is no change")
	}
	if string(l.Tiers) != "-21220" || l.Grid != g || len(l.TiersS) != 3 || l.Units != 3 || l.City.Demand[1] != 0.4 || len(l.Holes) != 1 || l.Changes != nil {
		t.Fatalf("after the changes: %q %+v", l.Tiers, l.Coverage)
	}
	v1 := l.Ver
	if v1 == v0 {
		t.Error("the cells changed, the version did not")
	}
	// The same changes again: the same cells, the same version.
	s.Apply(coverFrame(api.FrameDelta, 3, d))
	if string(l.Tiers) != "-21220" || l.Ver != v1 {
		t.Errorf("applied twice: %q, version %d → %d", l.Tiers, v1, l.Ver)
	}
	// Changes the layer cannot place are dropped.
	s.Apply(coverFrame(api.FrameDelta, 4, &api.Coverage{Changes: [][2]int{{-1, 1}, {6, 1}, {0, 10}, {2, -1}}, CoverTier: 2}))
	if string(l.Tiers) != "-21220" || l.Ver != v1 {
		t.Errorf("out-of-range changes: %q", l.Tiers)
	}
	// A delta with no coverage leaves it.
	if ch := s.Apply(delta(1, 5, nil, nil, nil, nil)); ch&ChangedCoverage != 0 || s.Cover != l {
		t.Errorf("a delta without coverage: %v", ch)
	}
	// The whole cells again (more than an eighth changed), on a new grid.
	g2 := coverGrid(1, 4)
	s.Apply(coverFrame(api.FrameDelta, 6, coverage(g2, "3333", 0.9)))
	if string(l.Tiers) != "3333" || l.Grid != g2 || !l.cellsOK() || l.Ver == v1 {
		t.Errorf("whole cells again: %q grid %+v", l.Tiers, l.Grid)
	}
	// A resync snapshot replaces it; one without a layer drops it.
	s.Apply(coverFrame(api.FrameSnapshot, 7, coverage(g, "000000", 0)))
	if s.Cover == l || string(s.Cover.Tiers) != "000000" {
		t.Errorf("resync: %+v", s.Cover)
	}
	if ch := s.Apply(coverFrame(api.FrameSnapshot, 8, nil)); ch&ChangedCoverage == 0 || s.Cover != nil {
		t.Errorf("a snapshot without coverage: %v %+v", ch, s.Cover)
	}
	if ch := s.Apply(coverFrame(api.FrameSnapshot, 9, nil)); ch&ChangedCoverage != 0 {
		t.Error("no layer before or after, yet a change")
	}
	// Figures before any grid: shown, not drawn.
	s.Apply(coverFrame(api.FrameDelta, 10, d))
	if s.Cover == nil || s.Cover.cellsOK() || s.Cover.Units != 3 {
		t.Errorf("changes without a layer: %+v", s.Cover)
	}

	// Through the console: the map redraws.
	c := NewConsole(EN)
	rev := c.SceneRev()
	c.ApplyFrames([]*Frame{coverFrame(api.FrameSnapshot, 1, coverage(g, "-01223", 0.5))}, Link{}, false)
	if c.SceneRev() == rev || c.Store.Cover == nil {
		t.Error("the console did not take the layer")
	}
}

// The runs rebuild exactly the cells: every city cell in one run of its
// tier, nothing outside the city, each run as long as its tier lasts in the
// row, in the slot of its colour.
func TestCoverRunsReconstruct(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var runs coverRuns
	for trial := range 300 {
		rows, cols := 1+r.IntN(40), 1+r.IntN(60)
		cells := make([]byte, rows*cols)
		const tiers = "-0123456789"
		t0 := tiers[r.IntN(len(tiers))]
		for i := range cells {
			if r.IntN(4) == 0 { // runs of a few cells, as a real layer has
				t0 = tiers[r.IntN(len(tiers))]
			}
			cells[i] = t0
		}
		runs.rebuild(cells, rows, cols)
		got := make([]byte, len(cells))
		for i := range got {
			got[i] = '-'
		}
		n := 0
		for k, slot := range runs.slots {
			for _, run := range slot {
				if coverSlot(run.tier) != k || run.tier == '-' || run.c0 < 0 || run.c1 <= run.c0 || int(run.c1) > cols || int(run.row) >= rows {
					t.Fatalf("trial %d: bad run %+v in slot %d", trial, run, k)
				}
				for c := run.c0; c < run.c1; c++ {
					i := int(run.row)*cols + int(c)
					if got[i] != '-' {
						t.Fatalf("trial %d: cell %d in two runs", trial, i)
					}
					got[i] = run.tier
				}
				// As long as its tier lasts: the cells either side differ.
				row := cells[int(run.row)*cols : int(run.row+1)*cols]
				if run.c0 > 0 && row[run.c0-1] == run.tier || int(run.c1) < cols && row[run.c1] == run.tier {
					t.Fatalf("trial %d: run %+v stops short", trial, run)
				}
				n++
			}
		}
		if string(got) != string(cells) {
			t.Fatalf("trial %d: runs rebuild\n%q, the cells are\n%q", trial, got, cells)
		}
		if n > len(cells) {
			t.Fatalf("%d runs for %d cells", n, len(cells))
		}
	}
}

// The layer on the canvas: one rectangle per run in view, in its tier's
// colour, beyond more opaque; nothing while hidden or out of view; the runs
// are rebuilt only when the layer's version moves.
func TestCoverageScene(t *testing.T) {
	g := coverGrid(4, 5)
	cells := "00111" + "1-222" + "33333" + "-9-0-"
	s := NewStore()
	s.Apply(coverFrame(api.FrameSnapshot, 1, coverage(g, cells, 0.5)))
	m := &MapScene{View: FitBox(Box{MinLat: 28.08, MaxLat: 28.32, MinLon: 112.85, MaxLon: 113.1}, 1000, 800), Lang: EN}
	var b sceneBuf
	colours := map[int]int{colCoverBeyond: 0, colCover1: 1, colCover2: 2, colCover3: 3}
	rects := func() []drawn {
		var out []drawn
		for _, d := range replay(t, &b.d) {
			if _, ok := colours[d.fill]; ok && d.op == opRect {
				out = append(out, d)
			}
		}
		return out
	}
	if info := b.build(s, m, 0, 0); info.CoverRuns != 0 || len(rects()) != 0 {
		t.Fatalf("hidden, yet %d runs drawn", info.CoverRuns)
	}
	m.CoverOn = true
	info := b.build(s, m, 0, 0)
	// Runs: row 0 "00" "111"; row 1 "1" "222"; row 2 "33333"; row 3 "9" "0".
	got := rects()
	if info.CoverRuns != 7 || len(got) != 7 {
		t.Fatalf("%d runs drawn, %d rects; want 7", info.CoverRuns, len(got))
	}
	want := map[int]int{colCoverBeyond: 2, colCover1: 2, colCover2: 1, colCover3: 2}
	for col, n := range want {
		if k := count(got, func(d drawn) bool { return d.fill == col }); k != n {
			t.Errorf("colour %d: %d rects, want %d", col, k, n)
		}
	}
	for _, d := range got {
		if d.fill == colCoverBeyond && d.alpha <= 0.4 || d.fill != colCoverBeyond && d.alpha > 0.35 {
			t.Errorf("colour %d drawn at alpha %v", d.fill, d.alpha)
		}
	}
	// The row-2 run spans the grid's width, on the row's latitudes.
	x0, y0 := m.View.ToScreen(g.MinLat+3*g.LatStep, g.MinLon)
	x1, y1 := m.View.ToScreen(g.MinLat+2*g.LatStep, g.MinLon+5*g.LonStep)
	i := slices.IndexFunc(got, func(d drawn) bool { return d.fill == colCover3 && d.args[2] > 100 })
	if i < 0 || !near(got[i].args[0], x0, 0.01) || !near(got[i].args[1], y0, 0.01) || !near(got[i].args[2], x1-x0, 0.01) || !near(got[i].args[3], y1-y0, 0.01) {
		t.Errorf("row 2's run %+v, want %v %v %v %v", got, x0, y0, x1-x0, y1-y0)
	}

	// Cached: the same version draws the same runs without rebuilding them
	// (emptied by hand here, they stay empty).
	b.cover.slots[3] = b.cover.slots[3][:0]
	b.build(s, m, 0, 0)
	if n := count(rects(), func(d drawn) bool { return d.fill == colCover3 }); n != 0 {
		t.Error("the runs were rebuilt without a change")
	}
	s.Apply(coverFrame(api.FrameDelta, 2, &api.Coverage{Changes: [][2]int{{0, 1}}, CoverTier: 2}))
	b.build(s, m, 0, 0)
	if n := count(rects(), func(d drawn) bool { return d.fill == colCover3 }); n != 2 {
		t.Errorf("after a change: %d tier-3 runs, want 2", n)
	}
	// Out of view: none.
	m.View = View{Lat: 30, Lon: 115, Zoom: 12, W: 1000, H: 800}
	if info := b.build(s, m, 0, 0); info.CoverRuns != 0 {
		t.Errorf("%d runs drawn far away", info.CoverRuns)
	}
}

// Units on a move-up get a dashed line to where they go and a ring there;
// the suggestions, while listed, fainter ones; an arrived move-up none.
func TestMoveUpScene(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := testStore(now)
	u := *s.Units["car-1"]
	u.Reposition = &api.Reposition{ID: "mu-1", Lat: 28.21, Lon: 112.99, Sent: now}
	arrived := *s.Units["moto-1"]
	arrived.Reposition = &api.Reposition{ID: "mu-2", Lat: 28.19, Lon: 112.97, Sent: now, Arrived: now}
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Units: []Unit{u.Unit, arrived.Unit}}})
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}, Lang: EN}
	var b sceneBuf
	info := b.build(s, m, now, 0)
	ds := replay(t, &b.d)
	lines := count(ds, func(d drawn) bool { return d.stroke == colMoveUp && d.op == opLine && d.dash == 5 })
	rings := count(ds, func(d drawn) bool { return d.stroke == colMoveUp && d.op == opCircle })
	if info.MoveUps != 1 || lines != 1 || rings != 1 {
		t.Fatalf("one unit on a move-up: %d counted, %d lines, %d rings", info.MoveUps, lines, rings)
	}
	x, y := m.View.ToScreen(28.21, 112.99)
	if i := slices.IndexFunc(ds, func(d drawn) bool { return d.stroke == colMoveUp && d.op == opLine }); !near(ds[i].args[0], x, 0.01) || !near(ds[i].args[1], y, 0.01) {
		t.Errorf("the line ends at %v, the move-up is at %v, %v", ds[i].args, x, y)
	}
	m.MoveUps = []api.MoveUp{{Unit: "foot-1", FromLat: 28.195, FromLon: 112.975, ToLat: 28.2, ToLon: 113},
		{Unit: "gone", FromLat: 28.19, FromLon: 112.96, ToLat: 28.18, ToLon: 112.95}}
	info = b.build(s, m, now, 0)
	ds = replay(t, &b.d)
	if info.MoveUps != 3 || count(ds, func(d drawn) bool { return d.stroke == colMoveUp && d.op == opLine && d.dash == 3 }) != 2 {
		t.Errorf("with two suggestions listed: %d lines", info.MoveUps)
	}
}

// The status bar's figure: "3-min coverage 87 %" by demand, in both
// languages, a decimal under 10 %, the area share and the units in its
// title; nothing without a layer.
func TestCoverBar(t *testing.T) {
	c := NewConsole(EN)
	if c.CoverBar().OK {
		t.Error("a figure without a layer")
	}
	es := render(t, &StatusBar{Ctl: &Controller{C: c}})
	if len(find(es, "span", map[string]string{"id": "coverage"})) != 0 {
		t.Error("#coverage shows without a layer")
	}
	c.Store.Apply(coverFrame(api.FrameSnapshot, 1, coverage(coverGrid(1, 1), "1", 0.8713)))
	b := c.CoverBar()
	if b.Text != "3-min coverage 87 %" || b.Share != 0.8713 || !strings.Contains(b.Title, "by area 50 %") || !strings.Contains(b.Title, "4 free units") ||
		!strings.Contains(b.Title, "30 days") {
		t.Errorf("EN: %+v", b)
	}
	c.Lang = ZH
	if b := c.CoverBar(); b.Text != "3分钟覆盖 87%" || !strings.Contains(b.Title, "按面积 50%") {
		t.Errorf("ZH: %+v", b)
	}
	c.Lang = EN
	c.Store.Cover.City.Demand[1] = 0.0423
	if b := c.CoverBar(); b.Text != "3-min coverage 4.2 %" {
		t.Errorf("a small share: %q", b.Text)
	}
	es = render(t, &StatusBar{Ctl: &Controller{C: c}})
	one(t, es, "span", map[string]string{"id": "coverage", "data-share": "0.0423"})
	for _, tc := range []struct {
		s    float64
		want string
	}{{0, "coverage"}, {60, "1-min coverage"}, {180, "3-min coverage"}, {90, "90-s coverage"}} {
		if got := CoverLabel(EN, tc.s); !strings.EqualFold(got, tc.want) {
			t.Errorf("CoverLabel(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if Percent(EN, 1) != "100 %" || Percent(ZH, 0.999) != "100%" || Percent(EN, 0.0996) != "10 %" || Percent(EN, 0) != "0.0 %" {
		t.Errorf("Percent: %q %q %q %q", Percent(EN, 1), Percent(ZH, 0.999), Percent(EN, 0.0996), Percent(EN, 0))
	}
}

// coverConsole is a signed-in console (no hub) with Changsha's districts
// and a layer with holes, shown.
func coverConsole(t *testing.T, holes ...api.CoverageHole) *Controller {
	t.Helper()
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"}
	ct.C.Role = api.RoleDispatcher
	ct.C.Store.SetDistricts(mustChangsha())
	ct.C.ApplyFrames([]*Frame{coverFrame(api.FrameSnapshot, 1, coverage(coverGrid(4, 4), "0123012301230123", 0.6, holes...))}, Link{}, false)
	ct.C.ToggleCoverage()
	return ct
}

// The holes list re-renders as frames bring new holes; a click on row k
// centres the map on the hole row k shows now.
func TestHolesClickAfterRerender(t *testing.T) {
	a := []api.CoverageHole{
		{CentreLat: 28.25, CentreLon: 112.9, Cells: 40, AreaKM2: 2.5, DemandShare: 0.12, District: "yuelu"},
		{CentreLat: 28.15, CentreLon: 113.05, Cells: 12, AreaKM2: 0.75, DemandShare: 0.05, District: "yuhua"},
		{CentreLat: 28.3, CentreLon: 113.0, Cells: 3, AreaKM2: 0.19, DemandShare: 0.01, District: ""},
	}
	ct := coverConsole(t, a...)
	c := ct.C
	c.Scene.View = View{Lat: 28.2, Lon: 112.98, Zoom: 11, W: 1000, H: 800}
	m := mount(t, func(rev int64) app.Composer {
		return &MapView{Ctl: ct, Lang: EN, Chase: c.MapChase(), Cover: c.CoverView()}
	})
	rows := m.nodes("li", "hole")
	if len(rows) != 3 {
		t.Fatalf("%d holes listed", len(rows))
	}
	html := app.HTMLString(m.first)
	for _, want := range []string{"Yuelu", "2.5 km²", "12 % of demand", "Yuhua", "Outside the districts", "Biggest holes in the 3-min coverage"} {
		if !strings.Contains(html, want) {
			t.Errorf("the box lacks %q", want)
		}
	}

	// A delta: a new biggest hole, one gone, the order changed.
	b := []api.CoverageHole{
		{CentreLat: 28.12, CentreLon: 112.88, Cells: 60, AreaKM2: 3.75, DemandShare: 0.2, District: "tianxin"},
		a[2], a[0],
	}
	c.ApplyFrames([]*Frame{coverFrame(api.FrameDelta, 2, &api.Coverage{Changes: [][2]int{{0, 1}}, CoverTier: 2, Holes: b,
		City: api.CoverageShares{Demand: []float64{0.1, 0.5, 0.9}}})}, Link{}, false)
	m.rerender()
	rows = m.nodes("li", "hole")
	if len(rows) != 3 {
		t.Fatalf("%d holes after the delta", len(rows))
	}
	for k, row := range rows {
		if row.attrs["data-lat"] != strconv.FormatFloat(b[k].CentreLat, 'f', -1, 64) {
			t.Fatalf("row %d shows %s, the hole is at %v", k, row.attrs["data-lat"], b[k].CentreLat)
		}
		c.Scene.View = View{Lat: 28.2, Lon: 112.98, Zoom: 11, W: 1000, H: 800}
		row.click(t)
		if v := c.View(); v.Lat != b[k].CentreLat || v.Lon != b[k].CentreLon || v.Zoom != 13 {
			t.Errorf("click on row %d (hole at %v, %v): the map is at %v, %v, zoom %v", k, b[k].CentreLat, b[k].CentreLon, v.Lat, v.Lon, v.Zoom)
		}
	}
	// Hidden, the box goes (and the button stays).
	c.ToggleCoverage()
	m.rerender()
	if len(m.nodes("li", "hole")) != 0 || len(m.nodes("button", "layer")) != 1 {
		t.Error("the box stayed with the layer hidden")
	}
}

// moveUps is an answer of GET /api/moveups.
func moveUps(units ...string) *api.MoveUps {
	m := &api.MoveUps{TS: 1, CoverTier: 2, CoverS: 180, Floor: 1, Before: 0.62, After: 0.62}
	for i, u := range units {
		gain := 0.042 / float64(i+1)
		m.After += gain
		m.Suggestions = append(m.Suggestions, api.MoveUp{Unit: u, Type: "motorcycle", FromLat: 28.2, FromLon: 112.98,
			ToLat: 28.25 + float64(i)/100, ToLon: 112.9, FromDistrict: "furong", ToDistrict: "yuelu", TravelS: 200 + float64(i), Gain: gain, GainCells: 10})
	}
	return m
}

// The move-ups against the fake hub: none from a hub that does not serve
// them (said so); fetched on demand and again on a click; each Send asks the
// confirmation of the suggestion its row shows after a refresh reordered
// them, and posts exactly {"lat","lon"} of it with the CSRF token; the hub's
// refusal stays in the dialog; the list's lines go with the list.
func TestMoveUps(t *testing.T) {
	h := newFakeHub(t)
	ct, l, c := signedIn(t, h)
	now := time.Now().UnixMilli()
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Coverage: coverage(coverGrid(4, 4), "0123012301230123", 0.6)}})
	l.until(t, "the layer", func() bool { return ct.C.Store.Cover != nil })
	ct.C.ToggleCoverage()
	mv := mount(t, func(rev int64) app.Composer {
		return &MapView{Ctl: ct, Lang: EN, Chase: ct.C.MapChase(), Cover: ct.C.CoverView()}
	})
	button := func(id string) node {
		t.Helper()
		for _, n := range mv.nodes("button", "") {
			if n.attrs["id"] == id {
				return n
			}
		}
		t.Fatalf("no #%s", id)
		return node{}
	}

	// A hub without move-ups.
	button("moveups").click(t)
	l.until(t, "the 404", func() bool { return !ct.C.MoveUps.Busy })
	mv.rerender()
	if !strings.Contains(app.HTMLString(mv.first), "Move-ups are not available on this hub") || ct.C.Scene.MoveUps != nil {
		t.Fatalf("a hub without move-ups: %+v", ct.C.MoveUps)
	}

	// Fetched: the objective, the rows, the lines on the map.
	h.mu.Lock()
	h.moveups = moveUps("sim-moto-0001", "sim-moto-0002")
	h.mu.Unlock()
	button("moveups").click(t)
	l.until(t, "the move-ups", func() bool { return ct.C.MoveUps.List != nil })
	mv.rerender()
	html := app.HTMLString(mv.first)
	for _, want := range []string{"3-min coverage 62 % → 68 %", "Furong → Yuelu", "+4.2 % 3-min coverage", "3 min 20 s", "Refresh the move-ups"} {
		if !strings.Contains(html, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if len(ct.C.Scene.MoveUps) != 2 {
		t.Errorf("%d suggestions drawn", len(ct.C.Scene.MoveUps))
	}

	// Refreshed, in another order with a new unit: Send on row k asks for
	// the suggestion row k shows.
	h.mu.Lock()
	h.moveups = moveUps("sim-moto-0003", "sim-moto-0001", "busy-unit")
	h.mu.Unlock()
	button("moveups").click(t)
	l.until(t, "the refresh", func() bool { return len(ct.C.MoveUps.List.Suggestions) == 3 })
	mv.rerender()
	sends := mv.nodes("button", "moveup-send")
	want := h.moveups.Suggestions
	if len(sends) != 3 {
		t.Fatalf("%d Send buttons", len(sends))
	}
	for k, b := range sends {
		if b.attrs["data-unit"] != want[k].Unit {
			t.Fatalf("row %d shows %s, want %s", k, b.attrs["data-unit"], want[k].Unit)
		}
		b.click(t)
		if p := ct.C.Confirm; p == nil || p.Action != ActMoveUp || p.Unit != want[k].Unit || p.MoveUp == nil || *p.MoveUp != want[k] {
			t.Fatalf("Send on row %d asks %+v", k, p)
		}
		ct.C.CancelConfirm()
	}
	sends[1].click(t)
	dlg := render(t, &ConfirmDialog{Ctl: ct, Rev: 1})
	one(t, dlg, "form", map[string]string{"id": "confirm", "data-action": ActMoveUp, "data-unit": "sim-moto-0001"})
	one(t, dlg, "textarea", map[string]string{"id": "confirm-note"})
	text := app.HTMLString(&ConfirmDialog{Ctl: ct, Rev: 2})
	for _, w := range []string{"Send sim-moto-0001 (sim-moto-0001) from Furong to cover Yuelu?", "A 3 min 21 s drive; +2.1 % 3-min coverage.", "Send sim-moto-0001"} {
		if !strings.Contains(text, w) {
			t.Errorf("the confirmation lacks %q", w)
		}
	}
	ct.ConfirmPending()
	l.until(t, "the move-up", func() bool { return ct.C.Confirm == nil })
	h.mu.Lock()
	posted := slices.Clone(h.repositioned)
	h.mu.Unlock()
	body, _ := json.Marshal(map[string]float64{"lat": want[1].ToLat, "lon": want[1].ToLon})
	if len(posted) != 1 || posted[0] != "sim-moto-0001 "+string(body) {
		t.Errorf("the hub got %q, want %q", posted, "sim-moto-0001 "+string(body))
	}
	for _, call := range h.callsSoFar() {
		if call.Method == "POST" && strings.HasSuffix(call.Path, "/reposition") && call.CSRF == "" {
			t.Error("the move-up went without the CSRF token")
		}
	}
	if !strings.Contains(ct.C.Notice.Text, "sim-moto-0001 sent to cover Yuelu") {
		t.Errorf("notice %q", ct.C.Notice.Text)
	}
	mv.rerender()
	if rows := mv.nodes("li", "moveup"); rows[1].attrs["data-sent"] != "true" || len(mv.nodes("button", "moveup-send")) != 2 {
		t.Error("the row sent still offers Send")
	}

	// The hub refuses: its words stay in the dialog.
	mv.nodes("button", "moveup-send")[1].click(t)
	if ct.C.Confirm == nil || ct.C.Confirm.Unit != "busy-unit" {
		t.Fatalf("asked %+v", ct.C.Confirm)
	}
	ct.ConfirmPending()
	l.until(t, "the refusal", func() bool { return ct.C.Confirm != nil && !ct.C.Confirm.Busy })
	if !strings.Contains(ct.C.Confirm.Err, "not free") {
		t.Errorf("the dialog says %q", ct.C.Confirm.Err)
	}
	ct.C.CancelConfirm()

	// Closed: the lines go.
	button("moveups-close").click(t)
	if ct.C.Scene.MoveUps != nil || ct.C.MoveUps.Open {
		t.Error("the list closed, its lines stayed")
	}
}

// Every role sees the coverage, the holes and the move-ups; only a
// dispatcher (and above) may send one.
func TestMoveUpRoles(t *testing.T) {
	for _, role := range api.Roles {
		t.Run(role, func(t *testing.T) {
			ct := coverConsole(t, api.CoverageHole{CentreLat: 28.2, CentreLon: 112.9, AreaKM2: 1, DemandShare: 0.1, District: "yuelu"})
			ct.C.Role = role
			ct.C.MoveUps = MoveUps{Open: true}
			ct.C.setMoveUps(moveUps("moto-1", "moto-2"), nil)
			es := render(t, &MapView{Ctl: ct, Lang: EN, Cover: ct.C.CoverView()})
			one(t, es, "button", map[string]string{"id": "coverage-toggle", "data-on": "true"})
			one(t, es, "li", map[string]string{"class": "hole"})
			one(t, es, "button", map[string]string{"id": "moveups"})
			if n := len(find(es, "li", map[string]string{"class": "moveup"})); n != 2 {
				t.Errorf("%d suggestions listed", n)
			}
			sends := len(find(es, "button", map[string]string{"class": "moveup-send"}))
			may := api.RoleAtLeast(role, api.RoleDispatcher)
			if want := 2 * b2i(may); sends != want {
				t.Errorf("%d Send buttons, want %d", sends, want)
			}
			ct.C.AskMoveUp(ct.C.MoveUps.List.Suggestions[0])
			if (ct.C.Confirm != nil) != may {
				t.Errorf("asking to send: %+v", ct.C.Confirm)
			}
		})
	}
}

// A unit on a move-up says so in its row, with the district it goes to;
// arrived, it no longer does.
func TestUnitMovingUp(t *testing.T) {
	now := time.Now().UnixMilli()
	for _, lang := range []Lang{EN, ZH} {
		c := NewConsole(lang)
		c.Store.SetDistricts(mustChangsha())
		ds := c.Store.Districts
		i := districtAt(ds, 28.21, 112.93)
		if i < 0 {
			t.Fatal("28.21, 112.93 is in no district")
		}
		u := unitAt("moto-1", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2, 112.98, now)
		u.Reposition = &api.Reposition{ID: "mu-1", Lat: 28.21, Lon: 112.93, Sent: now}
		far := unitAt("moto-2", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2, 112.98, now)
		far.Reposition = &api.Reposition{ID: "mu-2", Lat: 30, Lon: 115, Sent: now}
		done := unitAt("moto-3", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2, 112.98, now)
		done.Reposition = &api.Reposition{ID: "mu-3", Lat: 28.21, Lon: 112.93, Sent: now, Arrived: now}
		c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{u, far, done}, Incidents: []Incident{}}, conn: 1, received: now}}, Link{}, false)
		v := c.UnitsView(now)
		rows := map[string]string{}
		for _, r := range v.Rows {
			rows[r.ID] = r.MoveUp
		}
		want := map[Lang][2]string{EN: {"moving up → " + ds[i].EN, "moving up"}, ZH: {"调防 → " + ds[i].ZH, "调防中"}}[lang]
		if rows["moto-1"] != want[0] || rows["moto-2"] != want[1] || rows["moto-3"] != "" {
			t.Errorf("%s: %q", lang, rows)
		}
		es := render(t, &UnitsPanel{Ctl: &Controller{C: c}, Shown: v})
		if n := len(find(es, "span", map[string]string{"class": "moveup"})); n != 2 {
			t.Errorf("%s: %d rows say moving up", lang, n)
		}
	}
}

// The layer is hidden by default and its button is there only when the
// hub sends a layer; shown, it is kept over a reload.
func TestCoverageToggleAndPrefs(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	c := ct.C
	if c.Scene.CoverOn || c.Prefs().Coverage {
		t.Error("the layer shows by default")
	}
	es := render(t, &MapView{Ctl: ct, Lang: EN, Cover: c.CoverView()})
	if len(find(es, "button", map[string]string{"id": "coverage-toggle"})) != 0 {
		t.Error("a coverage button without a layer")
	}
	c.ApplyFrames([]*Frame{coverFrame(api.FrameSnapshot, 1, coverage(coverGrid(1, 2), "01", 0.5))}, Link{}, false)
	es = render(t, &MapView{Ctl: ct, Lang: EN, Cover: c.CoverView()})
	one(t, es, "button", map[string]string{"id": "coverage-toggle", "data-on": "false"})
	if len(find(es, "div", map[string]string{"id": "coverage-box"})) != 0 {
		t.Error("the box shows with the layer hidden")
	}
	c.ToggleCoverage()
	p := c.Prefs()
	if !p.Coverage || !strings.Contains(encodePrefs(p), `"coverage":true`) {
		t.Errorf("not kept: %+v", p)
	}
	c2 := NewConsole(EN)
	c2.Restore(decodePrefs(encodePrefs(p)))
	if !c2.Scene.CoverOn {
		t.Error("not restored")
	}
	// Signed out: the list and its lines are forgotten.
	c.MoveUps = MoveUps{Open: true}
	c.setMoveUps(moveUps("moto-1"), nil)
	c.SignedOut(Link{State: LinkOffline})
	if c.MoveUps.Open || c.Scene.MoveUps != nil || c.Store.Cover != nil {
		t.Error("the move-ups outlived the session")
	}
}

// cityLayer is a 160 × 160 layer (25,600 cells: a 40 km city at 250 m)
// with eight units: discs of tiers in a sea of holes, two corners outside
// the city.
func cityLayer() *api.Coverage {
	const n = 160
	units := [][2]int{{20, 30}, {50, 90}, {80, 40}, {110, 120}, {140, 60}, {70, 140}, {30, 130}, {120, 20}}
	cells := make([]byte, n*n)
	for r := range n {
		for c := range n {
			d := n * n
			for _, u := range units {
				d = min(d, (r-u[0])*(r-u[0])+(c-u[1])*(c-u[1]))
			}
			t := byte('0')
			switch {
			case r+c < 20 || r-c > 140:
				t = '-'
			case d <= 4:
				t = '1'
			case d <= 36:
				t = '2'
			case d <= 100:
				t = '3'
			}
			cells[r*n+c] = t
		}
	}
	return coverage(coverGrid(n, n), string(cells), 0.3)
}

// BenchmarkCoverageLayer: a frame with a 25,600-cell layer over the whole
// city in view, its runs cached (frame) or rebuilt first (changed: a delta
// moved them).
func BenchmarkCoverageLayer(b *testing.B) {
	s := NewStore()
	s.Apply(coverFrame(api.FrameSnapshot, 1, cityLayer()))
	m := &MapScene{View: FitBox(Box{MinLat: 28.08, MaxLat: 28.32, MinLon: 112.85, MaxLon: 113.1}, 1400, 900), Lang: EN, CoverOn: true}
	var sb sceneBuf
	info := sb.build(s, m, 0, 0)
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.build(s, m, 0, 0)
		}
		b.ReportMetric(float64(info.CoverRuns), "runs")
	})
	b.Run("changed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.cover.ver = 0
			sb.build(s, m, 0, 0)
		}
	})
}
