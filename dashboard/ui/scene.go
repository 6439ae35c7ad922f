package ui

import (
	"math"
	"strconv"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// MapScene is what the map shows besides the store's data: the view, the
// selection, the selected unit's track, the point of an incident being
// created, and the basemap.
type MapScene struct {
	View    View
	SelInc  string
	SelUnit string
	Track   []api.TrackPoint // of SelUnit, oldest first
	Pending *LatLon          // where the new incident will be
	Tiles   string           // XYZ URL template; "" for the vector background
	Lang    Lang
	// The chase (chase.go): the cameras layer shown, the sighting form
	// open (cameras are then always drawn), and the place it would report
	// with the camera it is at, if any.
	CamerasOn   bool
	SightMode   bool
	Sight       *LatLon
	SightCamera string
	// The coverage layer shown (coverage.go), and the hub's move-up
	// suggestions drawn while their list is open.
	CoverOn bool
	MoveUps []api.MoveUp
	// The patrol layer shown (patrol.go), and its tasks as last laid out.
	PatrolOn bool
	Patrol   []patrolShape
	// The screens of the past (unitday.go): polylines each in a colour of
	// the palette (a day's track by speed), drawn where Track is, and
	// ringed places with a label (its stops), over the track.
	Paths []ScenePath
	Marks []SceneMark
}

// ScenePath is a polyline in one of the palette's colours.
type ScenePath struct {
	Colour int
	Pts    []LatLon
}

// SceneMark is a place ringed in a colour, with a label beside it.
type SceneMark struct {
	LatLon
	Colour int
	Label  string
}

// Marker shapes by unit type: distinct outlines, readable without colour.
const (
	shapeSquare  = iota // car ■
	shapeTri            // motorcycle ▲
	shapeCircle         // foot ●
	shapeDiamond        // volunteer ◆
	numShapes
)

func shapeOf(t protocol.UnitType) int {
	switch t {
	case protocol.TypeCar:
		return shapeSquare
	case protocol.TypeMotorcycle:
		return shapeTri
	case protocol.TypeVolunteer:
		return shapeDiamond
	default:
		return shapeCircle
	}
}

var shapeOps = [numShapes]int{shapeSquare: opSquare, shapeTri: opTri, shapeCircle: opCircle, shapeDiamond: opDiamond}

// Status colours, in bucket order.
var statusColours = [...]int{colAvailable, colEnroute, colOnScene, colBusy, colOffDuty, colNoStatus}

func statusSlot(s protocol.Status) int {
	switch s {
	case protocol.StatusAvailable:
		return 0
	case protocol.StatusEnroute:
		return 1
	case protocol.StatusOnScene:
		return 2
	case protocol.StatusBusy:
		return 3
	case protocol.StatusOffDuty:
		return 4
	default:
		return 5
	}
}

// Fading: fresh and online units are opaque, stale ones (position older
// than StaleAfter) half, offline ones a quarter.
var alphaLevels = [...]float64{1, 0.45, 0.22}

const (
	alphaFresh = iota
	alphaStale
	alphaOffline
	numAlpha
)

func alphaSlot(u *UnitState, nowMS int64) int {
	switch {
	case !u.Online:
		return alphaOffline
	case !u.Fresh(nowMS):
		return alphaStale
	default:
		return alphaFresh
	}
}

const numBuckets = numShapes * len(statusColours) * numAlpha

// sceneBuf holds the per-frame scratch the builder reuses.
type sceneBuf struct {
	d        drawList
	buckets  [numBuckets][]float32 // x, y per unit
	headings [numAlpha][]float32   // x1, y1, x2, y2 per unit
	tiles    []Tile
	lab      labelBuf     // callsign labels at close zoom (labels.go)
	trail    []Sighted    // the selected incident's sightings (chase.go)
	cover    coverRuns    // the coverage layer's runs (coverage_scene.go)
	moving   []*UnitState // units on a move-up, gathered with the markers
}

// SceneInfo reports what a frame drew.
type SceneInfo struct {
	Units   int  // unit markers drawn (after culling)
	Labels  int  // callsign labels drawn (zoom ≥ LabelZoom)
	Pulsing bool // an uncovered incident is in view: keep redrawing
	// The chase (chase.go), for the selected incident: its sightings
	// drawn as a trail, the lines from its units on their way to where it
	// is now, whether the hub's offered unit is marked; and the cameras
	// drawn.
	Trail, ChaseLines int
	Offer             bool
	Cameras           int
	// Paths: the points of the screens of the past's paths drawn (a
	// unit's day); Marks: their marks (its stops).
	Paths, Marks int
	// The coverage layer's rectangles drawn (runs of cells in view), and
	// the move-up lines: units on one, and suggestions while listed.
	CoverRuns, MoveUps int
	// Patrol: the patrol plans' tasks drawn (in view).
	Patrol int
}

// UnitRadius is a marker's size in CSS px at a zoom.
func UnitRadius(zoom float64) float64 { return max(2.5, min(6, 1.5+0.5*(zoom-9))) }

const (
	incRadius = 9.0
	cullPad   = 24.0
)

// build writes the frame into b.d. nowMS is hub time; phase in [0,1) drives
// the pulse of uncovered incidents.
func (b *sceneBuf) build(s *Store, m *MapScene, nowMS int64, phase float64) SceneInfo {
	d := &b.d
	d.reset()
	v := m.View
	var info SceneInfo

	d.f(opBack)
	d.f(colBack)
	if m.Tiles != "" {
		b.tiles = v.Tiles(b.tiles[:0])
		for _, t := range b.tiles {
			d.tile(t)
		}
		// The districts' boundaries over the basemap: whose ground it is
		// (the tiles name the places themselves).
		b.districts(v, m.Lang, s.Districts, false)
	} else {
		b.districts(v, m.Lang, s.Districts, true)
		b.grid(v)
	}
	// The coverage layer, over the ground and under everything on it.
	info.CoverRuns = b.coverage(s, m, v)
	// The patrol plans: over the coverage, under what moves.
	info.Patrol = b.patrols(m, v)
	// The cameras, under everything that moves.
	info.Cameras = b.cameras(s, m, v)

	// The selected unit's track, under everything it explains.
	if len(m.Track) > 1 {
		d.style(-1, colTrack, 2, 0.8, 0)
		for i, p := range m.Track {
			x, y := v.ToScreen(p.Lat, p.Lon)
			if i == 0 {
				d.op2(opMove, x, y)
			} else {
				d.op2(opLine, x, y)
			}
		}
		d.op1(opPaint)
	}
	info.Paths, info.Marks = b.pastLayers(v, m)

	// Response circles of the selected incident.
	sel := s.Incident(m.SelInc)
	if sel != nil {
		cx, cy := v.ToScreen(sel.Lat, sel.Lon)
		d.style(-1, colCircle, 1.5, 0.9, 6)
		for _, mins := range CircleMinutes {
			d.op3(opCircle, cx, cy, v.MetersToPixels(CircleRadiusM(mins), sel.Lat))
		}
		d.op1(opPaint)
		d.style(-1, -1, 1, 1, 0)
		last := 0.0
		for i, mins := range CircleMinutes {
			r := v.MetersToPixels(CircleRadiusM(mins), sel.Lat)
			if r < 14 || r-last < 14 {
				continue // too small, or too close to the last label to read
			}
			last = r
			label := Tf(m.Lang, "map.circle", T(m.Lang, "tier."+strconv.Itoa(i+1)), FormatDistance(m.Lang, CircleRadiusM(mins)))
			d.text(cx, cy-r-7, label, 11, 1, colCircle, colDark)
		}
		// The pursuit: where it was reported, where it was seen since.
		b.trail = pursuitOf(sel, b.trail[:0]).Trail
		info.Trail = b.pursuit(v, sel)
	}

	// Lines from assigned units to their incident.
	d.style(-1, colAssign, 1.5, 0.75, 4)
	for _, inc := range s.Incidents {
		ix, iy := v.ToScreen(inc.Lat, inc.Lon)
		for _, a := range inc.Assignments {
			if !api.AssignmentActive(a.State) {
				continue
			}
			u := s.Units[a.Unit]
			if u == nil || !u.HasFix {
				continue
			}
			ux, uy := b.unitXY(v, u)
			d.op2(opMove, ux, uy)
			d.op2(opLine, ix, iy)
		}
	}
	d.op1(opPaint)
	if sel != nil && sel.Status != api.IncidentClosed {
		info.ChaseLines, info.Offer = b.chaseLines(s, v, sel)
	}

	info.Units, info.MoveUps = b.units(s, m, v, nowMS)
	// Labels over every marker, under the incidents (which matter more).
	info.Labels = b.labels(s, m, v)

	// The selected unit: a ring around its marker.
	if u := s.Units[m.SelUnit]; u != nil && u.HasFix {
		x, y := b.unitXY(v, u)
		d.style(-1, colWhite, 2, 1, 0)
		d.op3(opCircle, x, y, UnitRadius(v.Zoom)+5)
		d.op1(opPaint)
	}

	info.Pulsing = b.incidents(s, m, v, phase)
	if sel != nil {
		b.trailLabels(s, m, v, sel)
	}

	if m.Pending != nil {
		x, y := v.ToScreen(m.Pending.Lat, m.Pending.Lon)
		d.crosshair(x, y, colPending, 2, 10, 15)
	}
	if m.SightMode && m.Sight != nil {
		// Where the sighting being reported will put the incident.
		x, y := v.ToScreen(m.Sight.Lat, m.Sight.Lon)
		d.crosshair(x, y, colChase, 2.5, 11, 17)
	}

	b.scaleBar(v, m.Lang)
	return info
}

// pastLayers draws the scene's paths and marks (screens of the past),
// and says how many points and marks it drew.
func (b *sceneBuf) pastLayers(v View, m *MapScene) (points, marks int) {
	d := &b.d
	for _, p := range m.Paths {
		if len(p.Pts) < 2 {
			continue
		}
		points += len(p.Pts)
		d.style(-1, p.Colour, 3, 0.9, 0)
		for i, q := range p.Pts {
			x, y := v.ToScreen(q.Lat, q.Lon)
			if i == 0 {
				d.op2(opMove, x, y)
			} else {
				d.op2(opLine, x, y)
			}
		}
		d.op1(opPaint)
	}
	for _, k := range m.Marks {
		x, y := v.ToScreen(k.Lat, k.Lon)
		d.style(colDark, k.Colour, 2.5, 0.9, 0)
		d.op3(opCircle, x, y, 7)
		d.op1(opPaint)
		if k.Label != "" {
			d.style(-1, -1, 1, 1, 0)
			d.text(x+11, y, k.Label, 11, 0, k.Colour, colDark)
		}
	}
	return points, len(m.Marks)
}

// unitXY projects a unit from its cached Mercator position.
func (b *sceneBuf) unitXY(v View, u *UnitState) (float64, float64) {
	s := v.scale()
	ox, oy := v.origin()
	return u.MX*s - ox, u.MY*s - oy
}

// units draws every unit in view, grouped by shape, colour and fading so
// that each group is one path and one fill; under them, the move-ups'
// lines (coverage_scene.go), whose count it returns second.
func (b *sceneBuf) units(s *Store, m *MapScene, v View, nowMS int64) (int, int) {
	d := &b.d
	for i := range b.buckets {
		b.buckets[i] = b.buckets[i][:0]
	}
	for i := range b.headings {
		b.headings[i] = b.headings[i][:0]
	}
	r := UnitRadius(v.Zoom)
	scale := v.scale()
	ox, oy := v.origin()
	n := 0
	labelled := b.lab.reset(v)
	clear(b.moving)
	b.moving = b.moving[:0]
	for _, u := range s.Units {
		if !u.HasFix {
			continue
		}
		if r := u.Reposition; r != nil && r.Arrived == 0 {
			b.moving = append(b.moving, u) // its line may cross the view
		}
		x, y := u.MX*scale-ox, u.MY*scale-oy
		if x < -cullPad || y < -cullPad || x > v.W+cullPad || y > v.H+cullPad {
			continue
		}
		a := alphaSlot(u, nowMS)
		k := (shapeOf(u.Type)*len(statusColours)+statusSlot(u.Status))*numAlpha + a
		b.buckets[k] = append(b.buckets[k], float32(x), float32(y))
		if u.HasHeading {
			sin, cos := math.Sincos(u.Heading * math.Pi / 180)
			l0, l1 := r+1, r+7
			b.headings[a] = append(b.headings[a], float32(x+sin*l0), float32(y-cos*l0),
				float32(x+sin*l1), float32(y-cos*l1))
		}
		n++
		if labelled {
			b.lab.add(u, float32(x), float32(y), a)
		}
	}
	moves := b.moveUps(s, m, v)
	// Headings first, so the markers sit on their lines.
	for a, segs := range b.headings {
		if len(segs) == 0 {
			continue
		}
		d.style(-1, colHeading, 1.5, alphaLevels[a]*0.9, 0)
		for i := 0; i+3 < len(segs); i += 4 {
			d.op2(opMove, float64(segs[i]), float64(segs[i+1]))
			d.op2(opLine, float64(segs[i+2]), float64(segs[i+3]))
		}
		d.op1(opPaint)
	}
	for k, pts := range b.buckets {
		if len(pts) == 0 {
			continue
		}
		a := k % numAlpha
		slot := k / numAlpha % len(statusColours)
		shape := k / numAlpha / len(statusColours)
		stroke, width := -1, 0.0
		if statusColours[slot] == colOffDuty {
			stroke, width = colOffDutyLine, 1
		}
		d.style(statusColours[slot], stroke, width, alphaLevels[a], 0)
		op := shapeOps[shape]
		for i := 0; i+1 < len(pts); i += 2 {
			d.op3(op, float64(pts[i]), float64(pts[i+1]), r)
		}
		d.op1(opPaint)
	}
	return n, moves
}

func priorityColour(p int) int {
	switch p {
	case 1:
		return colP1
	case 2:
		return colP2
	default:
		return colP3
	}
}

// incidents draws open incidents (and the selected one even if closed):
// a disc in the priority's colour with its number; uncovered ones get a
// pulsing red ring. It reports whether any pulsing ring is in view.
func (b *sceneBuf) incidents(s *Store, m *MapScene, v View, phase float64) bool {
	d := &b.d
	pulsing := false
	inView := func(x, y float64) bool {
		return x >= -cullPad && y >= -cullPad && x <= v.W+cullPad && y <= v.H+cullPad
	}
	// Uncovered rings first.
	pr := incRadius + 4 + 5*math.Sin(phase*2*math.Pi)
	d.style(-1, colUncovered, 2.5, 0.9, 0)
	for _, inc := range s.Incidents {
		if !inc.Uncovered {
			continue
		}
		x, y := v.ToScreen(inc.Lat, inc.Lon)
		if !inView(x, y) {
			continue
		}
		pulsing = true
		d.op3(opCircle, x, y, pr)
	}
	d.op1(opPaint)
	draw := func(inc *Incident, alpha float64) {
		x, y := v.ToScreen(inc.Lat, inc.Lon)
		if !inView(x, y) {
			return
		}
		ring := colWhite
		if inc.ID == m.SelInc {
			d.style(-1, colTrack, 3, 1, 0)
			d.op3(opCircle, x, y, incRadius+4)
			d.op1(opPaint)
		}
		d.style(priorityColour(inc.Priority), ring, 2, alpha, 0)
		d.op3(opCircle, x, y, incRadius)
		d.op1(opPaint)
		d.style(-1, -1, 1, alpha, 0)
		d.text(x, y+0.5, strconv.Itoa(inc.Priority), 11, 1, colDark, -1)
	}
	for _, inc := range s.Incidents {
		draw(inc, 1)
	}
	if sel := s.History[m.SelInc]; sel != nil {
		draw(sel, 0.5)
	}
	return pulsing
}

// districts draws the city's districts and their names.
func (b *sceneBuf) districts(v View, lang Lang, ds []District, filled bool) {
	d := &b.d
	if filled {
		d.style(colDistrictFill, colDistrictLine, 1, 1, 0)
	} else {
		d.style(-1, colDistrictLine, 2, 0.9, 0)
	}
	for i := range ds {
		for j, p := range ds[i].Ring {
			x, y := v.ToScreen(p.Lat, p.Lon)
			if j == 0 {
				d.op2(opMove, x, y)
			} else {
				d.op2(opLine, x, y)
			}
		}
		d.op1(opClose)
	}
	d.op1(opPaint)
	if v.Zoom < 9.5 || !filled {
		return
	}
	d.style(-1, -1, 1, 1, 0)
	for i := range ds {
		c := ds[i].centroid()
		x, y := v.ToScreen(c.Lat, c.Lon)
		d.text(x, y, ds[i].Name(lang), 13, 1, colDistrictText, -1)
	}
}

// grid draws latitude and longitude lines at a 1-2-5 step of degrees.
func (b *sceneBuf) grid(v View) {
	d := &b.d
	step := v.GridStep(90)
	if step <= 0 {
		return
	}
	bb := v.Bounds()
	d.style(-1, colGrid, 1, 1, 0)
	for lon := math.Ceil(bb.MinLon/step) * step; lon <= bb.MaxLon; lon += step {
		x, _ := v.ToScreen(0, lon)
		d.op2(opMove, x, 0)
		d.op2(opLine, x, v.H)
	}
	for lat := math.Ceil(bb.MinLat/step) * step; lat <= bb.MaxLat; lat += step {
		_, y := v.ToScreen(lat, v.Lon)
		d.op2(opMove, 0, y)
		d.op2(opLine, v.W, y)
	}
	d.op1(opPaint)
}

// scaleBar draws a 1-2-5 ground length at the bottom left.
func (b *sceneBuf) scaleBar(v View, lang Lang) {
	d := &b.d
	meters, px := v.ScaleBar(120)
	if px <= 0 {
		return
	}
	x0, y0 := 12.0, v.H-14
	d.style(colPanel, -1, 1, 1, 0)
	d.rect(x0-6, y0-22, px+12, 30)
	d.op1(opPaint)
	d.style(-1, colText, 2, 1, 0)
	d.op2(opMove, x0, y0-4)
	d.op2(opLine, x0, y0)
	d.op2(opLine, x0+px, y0)
	d.op2(opLine, x0+px, y0-4)
	d.op1(opPaint)
	d.style(-1, -1, 1, 1, 0)
	d.text(x0+px/2, y0-12, FormatDistance(lang, meters), 11, 1, colText, -1)
}
