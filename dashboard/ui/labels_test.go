package ui

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// labelsOf is the callsign labels of a frame: their text ops (white text
// on the label boxes' style) by text, and their boxes.
func labelsOf(ds []drawn) (texts map[string]drawn, boxes []drawn) {
	texts = map[string]drawn{}
	for _, d := range ds {
		switch {
		case d.op == opText && near(d.args[3], labelSize, 1e-6) && d.args[4] == 0 && int(d.args[5]) == colText:
			texts[d.text] = d
		case d.op == opRect && d.fill == colPanel && near(d.args[3], labelH, 1e-6):
			boxes = append(boxes, d)
		}
	}
	return texts, boxes
}

func TestSceneLabels(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := testStore(now)
	s.Units["car-1"].Callsign = "湘A-001"
	s.Units["moto-1"].Callsign = "Furong motorcycle patrol 17 (night)" // cut to 20 characters
	for _, tc := range []struct {
		name string
		zoom float64
		sel  string
		want map[string]float64 // label → alpha
	}{
		{"far out: none", 14.9, "", nil},
		{"close: every unit in view", 16, "", map[string]float64{
			"湘A-001": 1, "Furong motorcycle pa": 1, "foot-1": labelAlpha[alphaStale],
			"vol-1": labelAlpha[alphaOffline], "off-1": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: tc.zoom, W: 1400, H: 900}, Lang: EN, SelUnit: tc.sel}
			var b sceneBuf
			info := b.build(s, m, now, 0)
			texts, boxes := labelsOf(replay(t, &b.d))
			if info.Labels != len(tc.want) || len(texts) != len(tc.want) || len(boxes) != len(tc.want) {
				t.Fatalf("%d labels, %d texts, %d boxes; want %d: %v", info.Labels, len(texts), len(boxes), len(tc.want), texts)
			}
			for label, alpha := range tc.want {
				d, ok := texts[label]
				if !ok {
					t.Errorf("no label %q in %v", label, texts)
					continue
				}
				if !near(d.alpha, alpha, 1e-6) {
					t.Errorf("%q at alpha %v, want %v", label, d.alpha, alpha)
				}
			}
			if tc.want == nil {
				return
			}
			// Beside its marker (right of it here: nothing is in the way),
			// on a box that holds the text.
			u := s.Units["car-1"]
			x, y := m.View.ToScreen(u.Lat, u.Lon)
			d := texts["湘A-001"]
			if !near(d.args[1], y, 0.5) || d.args[0] <= x || d.args[0] > x+UnitRadius(tc.zoom)+labelGap+labelPadX+1 {
				t.Errorf("label at %v,%v, marker at %v,%v", d.args[0], d.args[1], x, y)
			}
			inBox := 0
			for _, bx := range boxes {
				if near(bx.args[0]+labelPadX, d.args[0], 0.01) && bx.args[1] < y && bx.args[1]+bx.args[3] > y &&
					bx.args[2] >= labelWidth("湘A-001")+2*labelPadX-0.01 {
					inBox++
				}
			}
			if inBox != 1 {
				t.Errorf("no box behind the label: %v", boxes)
			}
		})
	}
}

// A pile of units shows a label right, above and below its marker (the
// nearer the centre first, then the smaller id); the selected unit's label
// wins wherever it is. A label covers no other marker.
func TestSceneLabelsOverlap(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := NewStore()
	var us []Unit
	for _, id := range []string{"car-3", "car-1", "car-2"} {
		us = append(us, unitAt(id, protocol.TypeCar, protocol.StatusAvailable, 28.2001, 112.9801, now))
	}
	// A unit just left of the pile: the pile's left is taken by its marker,
	// and its own right by the pile's.
	us = append(us, unitAt("moto-9", protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2001, 112.9796, now))
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: us}, conn: 1})
	v := View{Lat: 28.2, Lon: 112.98, Zoom: 17, W: 1000, H: 800}
	for _, tc := range []struct {
		sel                 string
		right, above, below string // of the pile
	}{
		{"", "car-1", "car-2", "car-3"},
		{"car-3", "car-3", "car-1", "car-2"},
	} {
		var b sceneBuf
		info := b.build(s, &MapScene{View: v, Lang: EN, SelUnit: tc.sel}, now, 0)
		texts, boxes := labelsOf(replay(t, &b.d))
		if info.Labels != 4 || len(texts) != 4 {
			t.Errorf("selected %q: %d labels %v, want 4", tc.sel, info.Labels, texts)
		}
		px, py := v.ToScreen(28.2001, 112.9801)
		mx, _ := v.ToScreen(28.2001, 112.9796)
		for _, w := range []struct {
			id  string
			ok  bool
			pos string
		}{
			{tc.right, texts[tc.right].args[0] > px, "right of"},
			{tc.above, texts[tc.above].args[1] < py-8, "above"},
			{tc.below, texts[tc.below].args[1] > py+8, "below"},
			{"moto-9", texts["moto-9"].args[0] < mx, "left of"},
		} {
			if d, ok := texts[w.id]; !ok || !w.ok {
				t.Errorf("selected %q: %s's label at %v, not %s its marker", tc.sel, w.id, d.args, w.pos)
			}
		}
		// No box covers a marker: the pile's and moto-9's.
		r := UnitRadius(v.Zoom)
		for _, bx := range boxes {
			for _, m := range [][2]float64{{px, py}, {mx, py}} {
				if bx.args[0] < m[0]+r && m[0]-r < bx.args[0]+bx.args[2] && bx.args[1] < m[1]+r && m[1]-r < bx.args[1]+bx.args[3] {
					t.Errorf("selected %q: label box %v covers the marker at %v", tc.sel, bx.args, m)
				}
			}
		}
	}
}

// With more units in view than maxLabels, the labels are those nearest the
// centre, and none overlap.
func TestSceneLabelsCap(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := denseFleet(5000, now)
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 16, W: 1400, H: 900}, Lang: EN}
	var b sceneBuf
	info := b.build(s, m, now, 0)
	texts, boxes := labelsOf(replay(t, &b.d))
	if info.Units < 4000 || info.Labels == 0 || info.Labels > maxLabels || len(texts) != info.Labels {
		t.Fatalf("%d units drawn, %d labels (%d texts)", info.Units, info.Labels, len(texts))
	}
	r := UnitRadius(m.View.Zoom)
	for i := range boxes {
		a := boxes[i].args
		for j := range i {
			c := boxes[j].args
			if a[0] < c[0]+c[2] && c[0] < a[0]+a[2] && a[1] < c[1]+c[3] && c[1] < a[1]+a[3] {
				t.Fatalf("labels overlap: %v and %v", a, c)
			}
		}
		for _, u := range s.Units {
			x, y := m.View.ToScreen(u.Lat, u.Lon)
			if a[0] < x+r && x-r < a[0]+a[2] && a[1] < y+r && y-r < a[1]+a[3] {
				t.Fatalf("label %v covers %s at %v,%v", a, u.ID, x, y)
			}
		}
	}
	// Every label is one of the maxLabels units nearest the centre.
	type ud struct {
		id string
		d  float64
	}
	var all []ud
	for _, u := range s.Units {
		x, y := m.View.ToScreen(u.Lat, u.Lon)
		all = append(all, ud{u.ID, sq(x-700) + sq(y-450)})
	}
	slices.SortFunc(all, func(a, b ud) int {
		if a.d != b.d {
			return int(a.d - b.d)
		}
		return NaturalCompare(a.id, b.id)
	})
	limit := all[maxLabels-1].d + 1 // float32 distances: a pixel of slack
	for id := range texts {
		u := s.Units[id]
		x, y := m.View.ToScreen(u.Lat, u.Lon)
		if sq(x-700)+sq(y-450) > limit {
			t.Errorf("label %s at %v px from the centre: not among the %d nearest", id, sq(x-700)+sq(y-450), maxLabels)
		}
	}
}

// nearestFirst keeps exactly the k nearest and those as near as the k-th,
// whatever the input order.
func TestNearestFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		us := make([]UnitState, n+1)
		c := make([]labelCand, n+1)
		for i := range c {
			us[i].ID = "u" + strconv.Itoa(i)
			c[i] = labelCand{u: &us[i], d: float32(r.IntN(1 + n%40))} // n%40 < 5: mostly ties
		}
		sorted := slices.Clone(c)
		slices.SortFunc(sorted, compareLabel)
		k := 1 + r.IntN(n+1)
		want := k
		for want < len(sorted) && sorted[want].d == sorted[k-1].d {
			want++
		}
		got := nearestFirst(c, k)
		slices.SortFunc(c[:got], compareLabel)
		if got != want {
			t.Fatalf("n %d k %d: kept %d, want %d", n+1, k, got, want)
		}
		for i := range got {
			if c[i].u != sorted[i].u {
				t.Fatalf("n %d k %d: %d is %s, want %s", n+1, k, i, c[i].u.ID, sorted[i].u.ID)
			}
		}
	}
}

func TestLabelText(t *testing.T) {
	for _, tc := range []struct {
		u    Unit
		want string
	}{
		{Unit{ID: "car-1"}, "car-1"},
		{Unit{ID: "car-1", Callsign: "湘A-001"}, "湘A-001"},
		{Unit{ID: "x", Callsign: "一二三四五六七八九十一二三四五六七八九十一二"}, "一二三四五六七八九十一二三四五六七八九十"},
	} {
		if got := labelText(&tc.u); got != tc.want {
			t.Errorf("labelText(%+v) = %q, want %q", tc.u, got, tc.want)
		}
	}
	// Wide characters count as wide: "湘A-001" is one em plus five narrow ones.
	if w := labelWidth("湘A-001"); !near(w, labelSize*(1+5*0.62), 1e-9) {
		t.Errorf("width %v", w)
	}
}

// Labels allocate nothing per unit either.
func TestSceneLabelsNoPerUnitAllocations(t *testing.T) {
	now := int64(1_800_000_000_000)
	allocs := func(n int) float64 {
		s := denseFleet(n, now)
		m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: 16, W: 1400, H: 900}, Lang: EN}
		var b sceneBuf
		b.build(s, m, now, 0)
		return testing.AllocsPerRun(20, func() { b.build(s, m, now, 0) })
	}
	small, large := allocs(50), allocs(5000)
	if large > small+2 {
		t.Errorf("5,000 units: %v allocations a frame, 50 units: %v", large, small)
	}
}

// denseFleet is fleet's n units packed into what a 1400×900 canvas shows
// at zoom 16 around 28.2 N, 112.98 E (2.9 × 1.9 km): the worst case for
// labels.
func denseFleet(n int, now int64) *Store {
	s := fleet(n, now)
	for _, u := range s.Units {
		lat := 28.2 + (u.Lat-28.2)*0.06
		lon := 112.975 + (u.Lon-112.975)*0.1
		v := u.Unit
		v.Lat, v.Lon = &lat, &lon
		u.set(&v, s.Districts)
	}
	return s
}

// BenchmarkScene5000Zoom16 is a close view of the city with labels: the
// fleet of BenchmarkScene5000, ~40 units in view.
func BenchmarkScene5000Zoom16(b *testing.B) {
	benchScene(b, fleet(5000, 1_800_000_000_000), 16)
}

// BenchmarkScene5000Dense16 has all 5,000 units in a zoom-16 view: every
// marker drawn, maxLabels candidates placed.
func BenchmarkScene5000Dense16(b *testing.B) {
	benchScene(b, denseFleet(5000, 1_800_000_000_000), 16)
}

func benchScene(b *testing.B, s *Store, zoom float64) {
	now := int64(1_800_000_000_000)
	m := &MapScene{View: View{Lat: 28.2, Lon: 112.98, Zoom: zoom, W: 1400, H: 900}, Lang: EN, SelInc: "i0"}
	var sb sceneBuf
	var info SceneInfo
	b.ReportAllocs()
	for b.Loop() {
		info = sb.build(s, m, now, 0)
	}
	b.ReportMetric(float64(len(sb.d.buf)), "bytes/frame")
	b.ReportMetric(float64(info.Units), "units")
	b.ReportMetric(float64(info.Labels), "labels")
}

// The occupancy grid: what take marks, free sees, cell for cell, across
// word boundaries.
func TestLabelGrid(t *testing.T) {
	var l labelBuf
	l.reset(View{Zoom: 16, W: 1000, H: 200}) // 251 cells a row: rows start mid-word
	naive := make([]bool, l.cols*l.rows)
	r := rand.New(rand.NewPCG(3, 4))
	box := func() (x0, y0, x1, y1 float32) {
		x0, y0 = float32(r.IntN(1100)-50), float32(r.IntN(260)-30)
		return x0, y0, x0 + float32(r.IntN(300)), y0 + float32(r.IntN(20))
	}
	for range 300 {
		x0, y0, x1, y1 := box()
		l.take(x0, y0, x1, y1)
		c0, r0, c1, r1, ok := l.cells(x0, y0, x1, y1)
		for rr := r0; ok && rr <= r1; rr++ {
			for c := c0; c <= c1; c++ {
				naive[rr*l.cols+c] = true
			}
		}
		x0, y0, x1, y1 = box()
		want := true
		c0, r0, c1, r1, ok = l.cells(x0+1, y0+1, x1-1, y1-1)
		for rr := r0; ok && rr <= r1; rr++ {
			for c := c0; c <= c1; c++ {
				want = want && !naive[rr*l.cols+c]
			}
		}
		if got := l.free(x0, y0, x1, y1); got != want {
			t.Fatalf("free(%v,%v,%v,%v) = %v, want %v", x0, y0, x1, y1, got, want)
		}
	}
	for i, b := range naive {
		if got := l.occ[i>>6]&(1<<(i&63)) != 0; got != b {
			t.Fatalf("cell %d: %v, want %v", i, got, b)
		}
	}
}
