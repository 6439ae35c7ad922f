package ui

import (
	"kuaifan/protocol/api"
)

// The chase on the canvas: the cameras layer, the selected incident's
// pursuit (the place first reported, kept faint; every sighting since as a
// trail, the newest emphasised, each labelled with its time and source),
// its units on their way with their lines to where it is now, and the unit
// the hub offers. The response circles are drawn around the incident's
// current place (scene.go), so they move with it.

// cameras draws the camera network: while its layer is on, and always
// while a sighting is being reported (a click on one reports from it). The
// camera the sighting is at is ringed; names from LabelZoom (from one zoom
// level before while reporting).
func (b *sceneBuf) cameras(s *Store, m *MapScene, v View) int {
	if len(s.Cameras) == 0 || !(m.CamerasOn || m.SightMode) {
		return 0
	}
	d := &b.d
	r, alpha := 3.5, 0.85
	if m.SightMode {
		r, alpha = 5, 1
	}
	in := func(x, y float64) bool {
		return x >= -cullPad && y >= -cullPad && x <= v.W+cullPad && y <= v.H+cullPad
	}
	n := 0
	d.style(colCamera, colDark, 1, alpha, 0)
	for i := range s.Cameras {
		c := &s.Cameras[i]
		x, y := v.ToScreen(c.Lat, c.Lon)
		if !in(x, y) {
			continue
		}
		d.op3(opSquare, x, y, r)
		n++
	}
	d.op1(opPaint)
	if m.SightCamera != "" {
		if c, ok := s.Camera(m.SightCamera); ok {
			x, y := v.ToScreen(c.Lat, c.Lon)
			d.style(-1, colWhite, 2, 1, 0)
			d.op3(opCircle, x, y, r+5)
			d.op1(opPaint)
		}
	}
	if v.Zoom >= LabelZoom || (m.SightMode && v.Zoom >= LabelZoom-1) {
		d.style(-1, -1, 1, alpha, 0)
		for i := range s.Cameras {
			c := &s.Cameras[i]
			x, y := v.ToScreen(c.Lat, c.Lon)
			if in(x, y) {
				d.text(x, y+r+8, c.Name, 10, 1, colCamera, colDark)
			}
		}
	}
	return n
}

// pursuit draws the selected incident's trail from b.trail: the reported
// place → each sighting → where it is now, dashed; the reported place as a
// faint ring; older sightings as small dots, the newest large and ringed.
// Nothing for an incident never moved. It says how many sightings it drew.
func (b *sceneBuf) pursuit(v View, sel *Incident) int {
	t := b.trail
	if len(t) == 0 {
		return 0
	}
	d := &b.d
	origin, _ := reportedPlace(sel)
	d.style(-1, colChase, 2.5, 0.8, 6)
	started := false
	if origin != nil {
		x, y := v.ToScreen(origin.Lat, origin.Lon)
		d.op2(opMove, x, y)
		started = true
	}
	for _, p := range t {
		x, y := v.ToScreen(p.Lat, p.Lon)
		if started {
			d.op2(opLine, x, y)
		} else {
			d.op2(opMove, x, y)
			started = true
		}
	}
	if last := t[len(t)-1]; last.Lat != sel.Lat || last.Lon != sel.Lon {
		x, y := v.ToScreen(sel.Lat, sel.Lon)
		d.op2(opLine, x, y)
	}
	d.op1(opPaint)
	if origin != nil {
		x, y := v.ToScreen(origin.Lat, origin.Lon)
		d.style(-1, colOrigin, 2, 0.45, 3)
		d.op3(opCircle, x, y, incRadius)
		d.op1(opPaint)
	}
	n := len(t)
	for i, p := range t[:n-1] {
		x, y := v.ToScreen(p.Lat, p.Lon)
		d.style(colChase, colDark, 1, 0.45+0.35*float64(i+1)/float64(n), 0)
		d.op3(opCircle, x, y, 4.5)
		d.op1(opPaint)
	}
	x, y := v.ToScreen(t[n-1].Lat, t[n-1].Lon)
	d.style(colChase, colWhite, 2, 1, 0)
	d.op3(opCircle, x, y, 7)
	d.op1(opPaint)
	return n
}

// reportedPlace is the incident's place as first reported, from its
// created entry (nil if the hub did not record it), and when.
func reportedPlace(inc *Incident) (*LatLon, int64) {
	for i := range inc.Timeline {
		e := &inc.Timeline[i]
		if e.Type == api.EntryCreated && e.Params != nil && e.Params.Lat != nil && e.Params.Lon != nil {
			return &LatLon{Lat: *e.Params.Lat, Lon: *e.Params.Lon}, e.TS
		}
	}
	return nil, 0
}

// trailLabels writes each sighting's time and source beside it (the newest
// brightest) and "reported HH:MM:SS" beside the place first reported, over
// the markers.
func (b *sceneBuf) trailLabels(s *Store, m *MapScene, v View, sel *Incident) {
	t := b.trail
	if len(t) == 0 {
		return
	}
	d := &b.d
	if origin, ts := reportedPlace(sel); origin != nil {
		x, y := v.ToScreen(origin.Lat, origin.Lon)
		d.style(-1, -1, 1, 0.6, 0)
		d.text(x+incRadius+5, y, Tf(m.Lang, "chase.origin", FormatClock(ts, nil)), 11, 0, colOrigin, colDark)
	}
	n := len(t)
	for i, p := range t {
		x, y := v.ToScreen(p.Lat, p.Lon)
		label := FormatClock(p.TS, nil) + " · " + SourceLabel(m.Lang, s, p.Source, p.Camera)
		if i == n-1 {
			d.style(-1, -1, 1, 1, 0)
			d.text(x+12, y, label, 12, 0, colWhite, colDark)
			continue
		}
		d.style(-1, -1, 1, 0.8, 0)
		d.text(x+9, y, label, 11, 0, colChase, colDark)
	}
}

// chaseLines draws the selected incident's units on their way (sent or
// acknowledged) with solid lines to where it is now, and the unit the hub
// offers with a dashed amber line and a ring. It says how many lines it
// drew and whether the offered unit is on the map.
func (b *sceneBuf) chaseLines(s *Store, v View, sel *Incident) (int, bool) {
	d := &b.d
	ix, iy := v.ToScreen(sel.Lat, sel.Lon)
	n := 0
	d.style(-1, colEnroute, 2.5, 0.95, 0)
	for _, a := range sel.Assignments {
		if !onTheWay(a.State) {
			continue
		}
		u := s.Units[a.Unit]
		if u == nil || !u.HasFix {
			continue
		}
		ux, uy := b.unitXY(v, u)
		d.op2(opMove, ux, uy)
		d.op2(opLine, ix, iy)
		n++
	}
	d.op1(opPaint)
	if sel.Offer == nil {
		return n, false
	}
	u := s.Units[sel.Offer.Unit]
	if u == nil || !u.HasFix {
		return n, false
	}
	ux, uy := b.unitXY(v, u)
	d.style(-1, colOffer, 2.5, 1, 8)
	d.op2(opMove, ux, uy)
	d.op2(opLine, ix, iy)
	d.op1(opPaint)
	d.style(-1, colOffer, 2.5, 1, 0)
	d.op3(opCircle, ux, uy, UnitRadius(v.Zoom)+7)
	d.op1(opPaint)
	return n, true
}
