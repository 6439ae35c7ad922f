package ui

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"testing"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// drawn is one shape or text of a frame, with the style it was drawn in.
type drawn struct {
	op           int
	args         []float64
	fill, stroke int
	alpha, dash  float64
	text         string
}

// replay decodes a draw list the way the painter does, and fails on a list
// the painter would reject.
func replay(t testing.TB, d *drawList) []drawn {
	t.Helper()
	n := d.floats()
	f := make([]float64, n)
	for i := range f {
		f[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(d.buf[4*i:])))
	}
	var out []drawn
	var cur drawn
	for i := 0; i < n; {
		op := int(f[i])
		i++
		if op <= 0 || op >= len(opArgs) || i+opArgs[op] > n {
			t.Fatalf("bad op %v at %d of %d", f[i-1], i-1, n)
		}
		args := f[i : i+opArgs[op]]
		i += opArgs[op]
		switch op {
		case opStyle:
			cur = drawn{fill: int(args[0]), stroke: int(args[1]), alpha: args[3], dash: args[4]}
		case opPaint:
		default:
			e := cur
			e.op, e.args = op, append([]float64(nil), args...)
			if op == opText {
				idx := int(args[2])
				if idx < 0 || idx >= len(d.strs) {
					t.Fatalf("text op names string %d of %d", idx, len(d.strs))
				}
				e.text = d.strs[idx]
			}
			out = append(out, e)
		}
	}
	return out
}

func count(ds []drawn, pred func(drawn) bool) int {
	n := 0
	for _, d := range ds {
		if pred(d) {
			n++
		}
	}
	return n
}

func testStore(now int64) *Store {
	s := NewStore()
	s.SetDistricts(mustChangsha())
	car := unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.20, 112.98, now)
	car.HeadingDeg, car.SpeedMPS = fp(90), fp(8)
	moto := unitAt("moto-1", protocol.TypeMotorcycle, protocol.StatusEnroute, 28.205, 112.985, now)
	foot := unitAt("foot-1", protocol.TypeFoot, protocol.StatusOnScene, 28.195, 112.975, now-3*60_000) // stale
	vol := unitAt("vol-1", protocol.TypeVolunteer, protocol.StatusBusy, 28.198, 112.99, now)
	vol.Online = false
	off := unitAt("off-1", protocol.TypeCar, protocol.StatusOffDuty, 28.199, 112.97, now)
	far := unitAt("far-1", protocol.TypeCar, protocol.StatusAvailable, 39.9, 116.4, now) // Beijing: culled
	nofix := Unit{ID: "nofix", Type: protocol.TypeCar, Online: true}
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{car, moto, foot, vol, off, far, nofix}, Incidents: []Incident{
		{ID: "i1", Status: api.IncidentDispatched, Priority: 1, Lat: 28.201, Lon: 112.981,
			Assignments: []api.Assignment{{Unit: "moto-1", State: api.AssignEnroute}, {Unit: "car-1", State: api.AssignDeclined}}},
		{ID: "i2", Status: api.IncidentOpen, Priority: 3, Lat: 28.19, Lon: 112.97, Uncovered: true},
	}}, conn: 1})
	return s
}

func TestSceneUnits(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := testStore(now)
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}, Lang: EN}
	var b sceneBuf
	info := b.build(s, m, now, 0.25)
	ds := replay(t, &b.d)
	if info.Units != 5 {
		t.Errorf("drew %d units, want 5 (one far away, one without a fix)", info.Units)
	}
	if !info.Pulsing {
		t.Error("an uncovered incident in view must keep the map redrawing")
	}
	r := UnitRadius(14)
	want := map[string]struct {
		op, fill int
		alpha    float64
	}{
		"car-1":  {opSquare, colAvailable, 1},
		"moto-1": {opTri, colEnroute, 1},
		"foot-1": {opCircle, colOnScene, alphaLevels[alphaStale]},
		"vol-1":  {opDiamond, colBusy, alphaLevels[alphaOffline]},
		"off-1":  {opSquare, colOffDuty, 1},
	}
	for id, w := range want {
		u := s.Units[id]
		x, y := m.View.ToScreen(u.Lat, u.Lon)
		got := count(ds, func(d drawn) bool {
			return d.op == w.op && d.fill == w.fill && near(d.alpha, w.alpha, 1e-6) &&
				near(d.args[0], x, 0.01) && near(d.args[1], y, 0.01) && near(d.args[2], r, 1e-6)
		})
		if got != 1 {
			t.Errorf("%s: %d markers as %+v at %v,%v", id, got, w, x, y)
		}
	}
	// Off duty is dark with a light outline.
	if count(ds, func(d drawn) bool { return d.fill == colOffDuty && d.stroke == colOffDutyLine }) != 1 {
		t.Error("off-duty outline")
	}
	// One heading line: the moving car's, pointing east.
	cx, cy := m.View.ToScreen(28.20, 112.98)
	heads := 0
	for i, d := range ds {
		if d.op == opMove && d.stroke == colHeading && i+1 < len(ds) && ds[i+1].op == opLine {
			heads++
			if !(d.args[0] > cx && near(d.args[1], cy, 0.01) && ds[i+1].args[0] > d.args[0]) {
				t.Errorf("heading line %v → %v from %v,%v", d.args, ds[i+1].args, cx, cy)
			}
		}
	}
	if heads != 1 {
		t.Errorf("%d heading lines, want 1", heads)
	}
	// One assignment line (the declined one is not drawn), from moto-1 to i1.
	mx, my := m.View.ToScreen(28.205, 112.985)
	ix, iy := m.View.ToScreen(28.201, 112.981)
	lines := 0
	for i, d := range ds {
		if d.op == opMove && d.stroke == colAssign {
			lines++
			if !near(d.args[0], mx, 0.01) || !near(d.args[1], my, 0.01) || !near(ds[i+1].args[0], ix, 0.01) || !near(ds[i+1].args[1], iy, 0.01) {
				t.Errorf("assignment line %v → %v", d.args, ds[i+1].args)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d assignment lines, want 1", lines)
	}
	// Incidents by priority, with their number; the uncovered one ringed.
	if count(ds, func(d drawn) bool { return d.op == opCircle && d.fill == colP1 }) != 1 ||
		count(ds, func(d drawn) bool { return d.op == opCircle && d.fill == colP3 }) != 1 {
		t.Error("incident discs")
	}
	if count(ds, func(d drawn) bool { return d.op == opCircle && d.stroke == colUncovered }) != 1 {
		t.Error("uncovered ring")
	}
	if count(ds, func(d drawn) bool { return d.op == opText && (d.text == "1" || d.text == "3") }) != 2 {
		t.Error("priority labels")
	}
	// The vector background: districts, their names, a grid, a scale bar.
	if count(ds, func(d drawn) bool { return d.op == opClose && d.fill == colDistrictFill }) != len(s.Districts) || len(s.Districts) != 7 {
		t.Error("district outlines")
	}
	if count(ds, func(d drawn) bool { return d.op == opText && d.text == "Furong" }) != 1 {
		t.Error("district names")
	}
	if count(ds, func(d drawn) bool { return d.op == opMove && d.stroke == colGrid }) < 4 {
		t.Error("grid")
	}
	if count(ds, func(d drawn) bool {
		return d.op == opText && (d.text == "500 m" || d.text == "200 m" || d.text == "1.0 km")
	}) != 1 {
		t.Error("scale bar label")
	}
	if count(ds, func(d drawn) bool { return d.op == opTile }) != 0 {
		t.Error("tiles without a template")
	}
}

func TestSceneSelection(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := testStore(now)
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}, Lang: ZH,
		SelInc: "i1", SelUnit: "car-1", Pending: &LatLon{Lat: 28.21, Lon: 112.99},
		Track: []api.TrackPoint{{Lat: 28.19, Lon: 112.97}, {Lat: 28.195, Lon: 112.975}, {Lat: 28.2, Lon: 112.98}},
		Tiles: "https://tiles.example/{z}/{x}/{y}.png"}
	var b sceneBuf
	b.build(s, m, now, 0)
	ds := replay(t, &b.d)
	// 1-, 3-, 5-minute circles around i1, radius = minutes × 60 × 8.3 ÷ 1.4 m.
	ix, iy := m.View.ToScreen(28.201, 112.981)
	for _, min := range CircleMinutes {
		r := m.View.MetersToPixels(CircleRadiusM(min), 28.201)
		if count(ds, func(d drawn) bool {
			return d.op == opCircle && d.stroke == colCircle && near(d.args[0], ix, 0.01) && near(d.args[1], iy, 0.01) && near(d.args[2], r, 0.01)
		}) != 1 {
			t.Errorf("%v-minute circle of %v px", min, r)
		}
	}
	for _, label := range []string{"1 分钟 · 356米", "3 分钟 · 1.1公里", "5 分钟 · 1.8公里"} {
		if count(ds, func(d drawn) bool { return d.op == opText && d.text == label }) != 1 {
			t.Errorf("circle label %q missing", label)
		}
	}
	// Track: a polyline of 3 points.
	if count(ds, func(d drawn) bool { return d.stroke == colTrack && (d.op == opMove || d.op == opLine) }) != 3 {
		t.Error("track")
	}
	// The selected unit's ring and the selected incident's ring.
	if count(ds, func(d drawn) bool { return d.op == opCircle && d.stroke == colWhite && d.fill < 0 }) != 1 {
		t.Error("selected unit ring")
	}
	// The pending incident's crosshair.
	if count(ds, func(d drawn) bool { return d.op == opCircle && d.stroke == colPending }) != 1 {
		t.Error("pending point")
	}
	// With a tile template: tiles instead of districts and grid.
	tiles := count(ds, func(d drawn) bool { return d.op == opTile })
	if tiles != len(m.View.Tiles(nil)) || tiles == 0 {
		t.Errorf("%d tiles", tiles)
	}
	if count(ds, func(d drawn) bool { return d.fill == colDistrictFill || d.stroke == colGrid }) != 0 {
		t.Error("vector background drawn under tiles")
	}
	// Over the tiles, the districts' boundaries: lines, no fill, no names.
	dists := s.Districts
	if len(dists) == 0 {
		t.Fatal("the test store has no districts")
	}
	if count(ds, func(d drawn) bool { return d.op == opLine && d.stroke == colDistrictLine && d.fill < 0 }) == 0 {
		t.Error("no district boundaries over the tiles")
	}
	if count(ds, func(d drawn) bool { return d.op == opText && d.text == dists[0].Name(ZH) }) != 0 {
		t.Error("districts named over the tiles")
	}
}

// A frame allocates nothing per unit: 5,000 units cost what 50 do.
func TestSceneNoPerUnitAllocations(t *testing.T) {
	now := int64(1_800_000_000_000)
	allocs := func(n int) float64 {
		s := fleet(n, now)
		m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 12, W: 1400, H: 900}, Lang: EN, SelInc: "i0"}
		var b sceneBuf
		b.build(s, m, now, 0) // grow the buffers
		return testing.AllocsPerRun(20, func() { b.build(s, m, now, 0) })
	}
	small, large := allocs(50), allocs(5000)
	if large > small+2 {
		t.Errorf("5,000 units: %v allocations a frame, 50 units: %v", large, small)
	}
}

// fleet is n units spread over the city, moving, some stale and offline.
func fleet(n int, now int64) *Store {
	s := NewStore()
	units := make([]Unit, n)
	types := protocol.UnitTypes
	sts := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy, protocol.StatusOffDuty}
	for i := range units {
		lat := CityBox.MinLat + (CityBox.MaxLat-CityBox.MinLat)*float64((i*7919)%1000)/1000
		lon := CityBox.MinLon + (CityBox.MaxLon-CityBox.MinLon)*float64((i*104729)%1000)/1000
		u := unitAt("u-"+strconv.Itoa(i), types[i%4], sts[i%5], lat, lon, now-int64(i%150)*1000)
		u.HeadingDeg, u.SpeedMPS = fp(float64(i%360)), fp(float64(i%12))
		u.Online = i%17 != 0
		units[i] = u
	}
	incs := make([]Incident, 20)
	for i := range incs {
		incs[i] = Incident{ID: fmt.Sprintf("i%d", i), Status: api.IncidentDispatched, Priority: 1 + i%3, Lat: 28.2, Lon: 112.98,
			Uncovered: i%5 == 0, Assignments: []api.Assignment{{Unit: "u-" + strconv.Itoa(i), State: api.AssignEnroute}}}
	}
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: units, Incidents: incs}, conn: 1})
	return s
}

// BenchmarkScene5000 is the Go half of a frame with 5,000 units in view.
func BenchmarkScene5000(b *testing.B) {
	now := int64(1_800_000_000_000)
	s := fleet(5000, now)
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 12, W: 1400, H: 900}, Lang: EN, SelInc: "i0"}
	var sb sceneBuf
	b.ReportAllocs()
	for b.Loop() {
		sb.build(s, m, now, 0)
	}
	b.ReportMetric(float64(len(sb.d.buf)), "bytes/frame")
}

// BenchmarkApplyDelta500 is one 100-ms delta of a 5,000-unit fleet at 1 Hz.
func BenchmarkApplyDelta500(b *testing.B) {
	now := int64(1_800_000_000_000)
	s := fleet(5000, now)
	us := make([]Unit, 500)
	for i := range us {
		us[i] = unitAt("u-"+strconv.Itoa(i), protocol.TypeCar, protocol.StatusAvailable, 28.2+float64(i)*1e-4, 112.98, now)
	}
	f := &Frame{Frame: api.Frame{Type: api.FrameDelta, Units: us}, conn: 1}
	b.ReportAllocs()
	for b.Loop() {
		f.Seq = s.Seq + 1
		s.Apply(f)
	}
}

// BenchmarkUnitsPanel5000 is the units panel's logic each second with
// 5,000 units: filter and order, 200 rows.
func BenchmarkUnitsPanel5000(b *testing.B) {
	now := int64(1_800_000_000_000)
	s := fleet(5000, now)
	b.ReportAllocs()
	for b.Loop() {
		FilterUnits(s, UnitFilter{}, now, UnitRows, nil)
		ComputeStats(s, now, now-1000)
	}
}
