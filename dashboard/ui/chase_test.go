package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/cameras/changsha"
)

// chaseConsole is a signed-in console (no hub: calls go nowhere) over the
// scene tests' store, with Changsha's sample cameras, incident i1 selected,
// viewed at zoom 15 around it.
func chaseConsole(t *testing.T) *Controller {
	t.Helper()
	now := time.Now().UnixMilli()
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"}
	c := ct.C
	c.Role = api.RoleAdmin // may do everything
	c.Store = testStore(now)
	c.Store.SetCameras(changsha.Cameras())
	c.Scene.View = View{Lat: 28.2, Lon: 112.98, Zoom: 15, W: 1000, H: 800}
	return ct
}

// A camera of the sample set by id.
func sampleCamera(t *testing.T, id string) api.Camera {
	t.Helper()
	for _, c := range changsha.Cameras() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no camera %s in the sample set", id)
	return api.Camera{}
}

// The sighting mode: S (or the button) opens it on the selected incident
// only; a click places the sighting even on a marker, a click on a camera
// takes its place and id; Esc cancels it before the selection; another
// incident, or "new incident", closes it.
func TestSightingMode(t *testing.T) {
	ct := chaseConsole(t)
	c := ct.C
	key := func(k, tag string) KeyResult { return ct.Key(k, tag, false) }

	if r := key("s", "body"); r.Handled || c.Sighting.Open {
		t.Fatal("S without a selected incident opened the form")
	}
	c.SelectIncident("i1")
	if r := key("s", "input"); r.Handled || c.Sighting.Open {
		t.Fatal("S typed in a field opened the form")
	}
	c.Tab = TabIncidents
	if r := key("S", "body"); !r.Handled || !c.Sighting.Open || c.Sighting.Incident != "i1" || c.Tab != TabMap ||
		c.Sighting.Source != SourceCaller || !c.Scene.SightMode {
		t.Fatalf("S: %+v form %+v tab %s", r, c.Sighting, c.Tab)
	}

	// A click on a unit's marker places the sighting there: nothing is
	// selected, no picker, no incident form.
	u := c.Store.Units["car-1"]
	x, y := c.Scene.View.ToScreen(u.Lat, u.Lon)
	h := c.Click(x, y)
	lat, lon := c.Scene.View.FromScreen(x, y)
	if h.Kind != HitSighting || c.Scene.SelUnit != "" || c.Form.Open || c.pick != nil {
		t.Fatalf("click in sighting mode: %+v, unit %q, form %v", h, c.Scene.SelUnit, c.Form.Open)
	}
	if c.Sighting.Lat != fmtCoord(lat) || c.Sighting.Lon != fmtCoord(lon) || c.Scene.Sight == nil || !near(c.Scene.Sight.Lat, lat, 1e-12) {
		t.Errorf("the form has %s, %s; the click was at %v, %v", c.Sighting.Lat, c.Sighting.Lon, lat, lon)
	}

	// S again (the focus on the button that opened it): the form keeps
	// what it says.
	if r := key("s", "button"); !r.Handled || c.Sighting.Lat != fmtCoord(lat) {
		t.Errorf("S again: %+v, form %+v", r, c.Sighting)
	}

	// A camera: its place, its id, seen by a camera.
	cam := sampleCamera(t, "cs-tx-003")
	c.Scene.View.CenterOn(cam.Lat, cam.Lon, 15)
	cx, cy := c.Scene.View.ToScreen(cam.Lat, cam.Lon)
	if h := c.Click(cx+4, cy-3); h.Kind != HitCamera || h.ID != cam.ID {
		t.Fatalf("click on a camera: %+v", h)
	}
	f := c.Sighting
	if f.Camera != cam.ID || f.Source != SourceCamera || f.Lat != fmtCoord(cam.Lat) || f.Lon != fmtCoord(cam.Lon) || c.Scene.SightCamera != cam.ID {
		t.Errorf("after the camera: %+v", f)
	}
	// Clicked elsewhere: the camera no longer applies.
	c.Click(cx+200, cy+100)
	if c.Sighting.Camera != "" || c.Scene.SightCamera != "" {
		t.Errorf("a click away from the camera kept it: %+v", c.Sighting)
	}
	// Picked from the list: the same as a click on it.
	if !c.PickCamera(cam.ID) || c.Sighting.Camera != cam.ID || c.Sighting.Lat != fmtCoord(cam.Lat) {
		t.Errorf("picked from the list: %+v", c.Sighting)
	}
	if c.PickCamera("no-such-camera") || c.Sighting.Camera != cam.ID {
		t.Error("an unknown camera was taken")
	}

	// Esc: the form goes, the incident stays selected; Esc again deselects.
	if r := key(KeyEscape, "input"); !r.Handled || c.Sighting.Open || c.Scene.SightMode || c.Scene.Sight != nil || c.Scene.SelInc != "i1" {
		t.Fatalf("Esc: %+v form %+v selected %q", r, c.Sighting, c.Scene.SelInc)
	}
	key(KeyEscape, "body")
	if c.Scene.SelInc != "" {
		t.Error("the second Esc kept the selection")
	}

	// Another incident selected, or "new incident": the form closes.
	c.SelectIncident("i1")
	c.StartSighting()
	c.SelectIncident("i2")
	if c.Sighting.Open {
		t.Error("the form stayed open for another incident")
	}
	c.StartSighting()
	c.StartCreating()
	if c.Sighting.Open || !c.Creating {
		t.Error("N did not replace the sighting mode")
	}
	// And the other way round: the incident form closes (keeping its fields).
	c.Click(20, 20)
	c.Form.Summary = "kept"
	c.StartSighting()
	if c.Form.Open || c.Creating || c.Form.Summary != "kept" {
		t.Errorf("the sighting did not close the incident form: %+v", c.Form)
	}
	c.CancelSighting()

	// A closed incident takes no sighting.
	inc := *c.Store.Incidents["i2"]
	inc.Status = api.IncidentClosed
	c.Store.Merge(&inc)
	c.SelectIncident("i2")
	if c.StartSighting() {
		t.Error("a sighting on a closed incident")
	}
}

// Outside sighting mode, a camera of the cameras layer starts a sighting
// on the selected open incident; without one, or with the layer hidden, a
// click there is an ordinary click.
func TestCameraClickStartsSighting(t *testing.T) {
	ct := chaseConsole(t)
	c := ct.C
	cam := sampleCamera(t, "cs-yh-001")
	c.Scene.View.CenterOn(cam.Lat, cam.Lon, 15)
	x, y := c.Scene.View.ToScreen(cam.Lat, cam.Lon)

	if h := c.Click(x, y); h.Kind != HitNothing || c.Sighting.Open || !c.Form.Open {
		t.Fatalf("no incident selected: %+v", h)
	}
	c.CancelForm()
	c.SelectIncident("i1")
	c.ToggleCameras()
	if h := c.Click(x, y); h.Kind == HitCamera || c.Sighting.Open {
		t.Fatalf("the layer is hidden: %+v", h)
	}
	c.CancelForm()
	c.ToggleCameras()
	if h := c.Click(x, y); h.Kind != HitCamera || !c.Sighting.Open || c.Sighting.Camera != cam.ID || c.Sighting.Incident != "i1" {
		t.Fatalf("camera click with i1 selected: %+v, form %+v", h, c.Sighting)
	}
	// The preference: hidden survives a reload.
	c.ToggleCameras()
	if p := c.Prefs(); !p.NoCameras {
		t.Error("the hidden layer is not kept")
	}
	c2 := NewConsole(EN)
	c2.Restore(Prefs{NoCameras: true})
	if c2.Scene.CamerasOn {
		t.Error("restored with the layer shown")
	}
	if !NewConsole(EN).Scene.CamerasOn {
		t.Error("the layer is hidden by default")
	}
}

// Typed coordinates are checked before anything is sent; a pasted pair
// fills both; the request carries what the form says.
func TestSightingRequest(t *testing.T) {
	ct := chaseConsole(t)
	c := ct.C
	c.SelectIncident("i1")
	c.StartSighting()
	bad := func(lat, lon, want string) {
		t.Helper()
		c.TypeSightingCoords(lat, lon)
		if _, got := c.SightingRequest(); got != want {
			t.Errorf("%q, %q: %q, want %q", lat, lon, got, want)
		}
	}
	bad("", "", T(EN, "sight.err.place"))
	bad("28.2x", "112.98", T(EN, "sight.err.coords"))
	bad("91", "112.98", T(EN, "sight.err.coords"))
	bad("28.2", "181", T(EN, "sight.err.coords"))
	bad("NaN", "112.98", T(EN, "sight.err.coords"))
	bad("39.9", "116.4", Tf(EN, "sight.err.far", FormatDistance(EN, protocol.Haversine(39.9, 116.4, 28.201, 112.981)))) // Beijing
	if c.Scene.Sight == nil {
		t.Error("coordinates that read as a place are not shown on the map")
	}
	bad("28.2", "", T(EN, "sight.err.coords"))
	if c.Scene.Sight != nil {
		t.Error("half a place is shown on the map")
	}

	// "lat, lon" pasted into the latitude (a full-width comma too).
	c.TypeSightingCoords(" 28.19123，112.97456 ", "")
	if c.Sighting.Lat != "28.19123" || c.Sighting.Lon != "112.97456" {
		t.Fatalf("pasted pair: %q, %q", c.Sighting.Lat, c.Sighting.Lon)
	}
	c.SetSightingSource("psychic")
	c.SetSightingSource(SourceOfficer)
	c.Sighting.Note = strings.Repeat("长", 171) // 513 bytes
	if _, got := c.SightingRequest(); got != Tf(EN, "confirm.note.long", api.MaxSightingNote) {
		t.Errorf("long note: %q", got)
	}
	c.Sighting.Note = "  骑电动车往南  "
	s, got := c.SightingRequest()
	if got != "" || s != (api.Sighting{Lat: 28.19123, Lon: 112.97456, Source: SourceOfficer, Note: "骑电动车往南"}) {
		t.Errorf("request %+v (%q)", s, got)
	}

	// A camera's coordinates typed again keep the camera; others drop it.
	cam := sampleCamera(t, "cs-yh-003")
	c.PickCamera(cam.ID)
	c.TypeSightingCoords(fmtCoord(cam.Lat), fmtCoord(cam.Lon))
	if s, _ := c.SightingRequest(); s.Camera != cam.ID || s.Source != SourceCamera {
		t.Errorf("the camera's own place: %+v", s)
	}
	c.TypeSightingCoords("28.1721", fmtCoord(cam.Lon))
	if s, _ := c.SightingRequest(); s.Camera != "" {
		t.Errorf("another place kept the camera: %+v", s)
	}
}

// The request the hub receives, and what the page does with its answer; a
// refusal stays in the form.
func TestReportSighting(t *testing.T) {
	now := time.Now().UnixMilli()
	inc := incidentAt("inc-1", 1, now-60_000)
	inc.Status = api.IncidentDispatched
	inc.Assignments = []api.Assignment{{Unit: "sim-moto-0001", State: api.AssignEnroute}}
	h := newFakeHub(t)
	h.cameras = changsha.Cameras()
	ct, l, conn := signedIn(t, h)
	if len(ct.C.Store.Cameras) != len(h.cameras) {
		t.Fatalf("signed in with %d cameras, the hub has %d", len(ct.C.Store.Cameras), len(h.cameras))
	}
	h.mu.Lock()
	h.incidents[inc.ID] = &inc
	h.mu.Unlock()
	conn.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Incidents: []Incident{inc},
		Units: []Unit{unitAt("sim-moto-0001", protocol.TypeMotorcycle, protocol.StatusEnroute, 28.21, 112.99, now)}}})
	l.until(t, "the incident", func() bool { return ct.C.Store.Incidents["inc-1"] != nil })
	c := ct.C
	c.SelectIncident("inc-1")
	c.StartSighting()
	c.PlaceSighting(28.1801, 112.9822)
	c.SetSightingSource(SourceCaller)
	c.Sighting.Note = "路人看见两人骑电动车往南门口"
	ct.ReportSighting()
	if !c.Sighting.Busy {
		t.Error("the form is not busy while posting")
	}
	ct.ReportSighting() // a second press while busy sends nothing more
	l.until(t, "the sighting", func() bool { return !c.Sighting.Open })
	h.mu.Lock()
	sent := slices.Clone(h.sighted)
	h.mu.Unlock()
	want := api.Sighting{Lat: 28.1801, Lon: 112.9822, Source: SourceCaller, Note: "路人看见两人骑电动车往南门口"}
	if len(sent) != 1 || sent[0] != want {
		t.Fatalf("the hub got %+v, want [%+v]", sent, want)
	}
	sel := c.Selected()
	if sel.Lat != 28.1801 || c.Detail == nil || c.Scene.Sight != nil || c.Scene.SightMode || c.Notice.Error {
		t.Errorf("after the answer: incident at %v, %v, detail %v, notice %+v", sel.Lat, sel.Lon, c.Detail != nil, c.Notice)
	}
	types := ""
	for _, e := range sel.Timeline {
		types += " " + e.Type
	}
	if !strings.Contains(types, "sighting update_location") {
		t.Errorf("timeline %q", types)
	}

	// From a camera: its id goes with it.
	cam := sampleCamera(t, "cs-tx-002")
	c.StartSighting()
	c.PickCamera(cam.ID)
	ct.ReportSighting()
	l.until(t, "the camera's sighting", func() bool { return !c.Sighting.Open })
	h.mu.Lock()
	last := h.sighted[len(h.sighted)-1]
	h.mu.Unlock()
	if last != (api.Sighting{Lat: cam.Lat, Lon: cam.Lon, Source: SourceCamera, Camera: cam.ID}) {
		t.Errorf("camera sighting %+v", last)
	}

	// A camera the hub does not know: refused, and the form says why.
	c.Store.SetCameras(append(slices.Clone(h.cameras), api.Camera{ID: "ghost-1", Name: "ghost", Lat: 28.18, Lon: 112.98}))
	c.StartSighting()
	c.PickCamera("ghost-1")
	ct.ReportSighting()
	l.until(t, "the refusal", func() bool { return !c.Sighting.Busy })
	if !c.Sighting.Open || !strings.Contains(c.Sighting.Err, "unknown camera") {
		t.Errorf("after the 400: %+v", c.Sighting)
	}
	// Checked here first: nothing is sent.
	c.TypeSightingCoords("abc", "")
	ct.ReportSighting()
	if c.Sighting.Busy || c.Sighting.Err != T(EN, "sight.err.coords") {
		t.Errorf("bad coordinates: %+v", c.Sighting)
	}
	h.tokenNeverInURLs(t)
}

// The pursuit read from a timeline: the reported place from the created
// entry, the sightings in their order, the units on their way with lines to
// where the incident is now.
func TestPursuitGeometry(t *testing.T) {
	now := int64(1_800_000_000_000)
	inc := Incident{ID: "inc-7", Status: api.IncidentDispatched, Priority: 1, Kind: "robbery", Lat: 28.184, Lon: 112.9775, Created: now,
		Timeline: []Entry{
			{TS: now, Type: api.EntryCreated, Reason: api.ReasonReported, Params: &api.Params{Kind: "robbery", Priority: 1, Lat: fp(28.1555), Lon: fp(113.0125)}},
			{TS: now + 1000, Type: api.EntryDispatched, Unit: "car-1"},
			{TS: now + 180_000, Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Lat: fp(28.161), Lon: fp(113.0045), Source: "camera", Camera: "cs-yh-002"}},
			{TS: now + 180_000, Type: api.EntryUpdateLocation, Unit: "car-1", Reason: api.ReasonRetargeted, Params: &api.Params{Lat: fp(28.161), Lon: fp(113.0045)}},
			{TS: now + 360_000, Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Lat: fp(28.172), Lon: fp(112.999), Source: "caller", Note: "往西"}},
			{TS: now + 400_000, Type: api.EntrySighting}, // an entry without a place: not on the trail
			{TS: now + 540_000, Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Lat: fp(28.184), Lon: fp(112.9775), Source: "officer"}},
		},
		Assignments: []api.Assignment{
			{Unit: "moto-1", State: api.AssignEnroute}, {Unit: "car-1", State: api.AssignDispatched},
			{Unit: "foot-1", State: api.AssignOnScene}, {Unit: "off-1", State: api.AssignCleared}, {Unit: "nofix", State: api.AssignEnroute},
		},
		Offer: &api.Offer{Unit: "off-1", ETAS: 50, BestETAS: 400, Sighting: now + 540_000},
	}
	p := PursuitOf(&inc)
	if p.Origin == nil || *p.Origin != (LatLon{Lat: 28.1555, Lon: 113.0125}) || p.OriginTS != now {
		t.Errorf("origin %+v at %d", p.Origin, p.OriginTS)
	}
	var trail []string
	for _, s := range p.Trail {
		trail = append(trail, fmt.Sprintf("%.4f,%.4f %s %s", s.Lat, s.Lon, s.Source, s.Camera))
	}
	if got := strings.Join(trail, " | "); got != "28.1610,113.0045 camera cs-yh-002 | 28.1720,112.9990 caller  | 28.1840,112.9775 officer " {
		t.Errorf("trail %s", got)
	}
	if p.Current != (LatLon{Lat: 28.184, Lon: 112.9775}) || p.Trail[1].Note != "往西" || p.Trail[2].TS != now+540_000 {
		t.Errorf("current %+v, trail %+v", p.Current, p.Trail)
	}
	// An incident from an older hub (no place on the created entry): with
	// sightings, the first place is unknown; never moved, it is where it is.
	old := inc
	old.Timeline = append([]Entry{{TS: now, Type: api.EntryCreated}}, inc.Timeline[1:]...)
	if p := PursuitOf(&old); p.Origin != nil || len(p.Trail) != 3 {
		t.Errorf("older incident: origin %+v, %d sightings", p.Origin, len(p.Trail))
	}
	still := old
	still.Timeline = old.Timeline[:2]
	if p := PursuitOf(&still); p.Origin == nil || *p.Origin != p.Current || len(p.Trail) != 0 {
		t.Errorf("never moved: %+v", p)
	}

	// The lines: units sent or driving, with a position, to the current place.
	s := testStore(now)
	lines := ChaseLines(s, &inc)
	if len(lines) != 2 || lines[0].Unit != "moto-1" || lines[1].Unit != "car-1" {
		t.Fatalf("lines %+v", lines)
	}
	for _, l := range lines {
		u := s.Units[l.Unit]
		if l.From != (LatLon{Lat: u.Lat, Lon: u.Lon}) || l.To != p.Current {
			t.Errorf("line %+v", l)
		}
	}

	// Drawn: the trail from the reported place through every sighting,
	// the reported place faint, the newest sighting emphasised and
	// labelled with its time and source, the lines, the offered unit
	// ringed, the response circles around the current place.
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Incidents: []Incident{inc}}, conn: 1})
	s.SetCameras(changsha.Cameras())
	m := &MapScene{View: View{Lat: 28.17, Lon: 113.0, Zoom: 13, W: 1200, H: 900}, Lang: EN, SelInc: "inc-7", CamerasOn: true}
	var b sceneBuf
	info := b.build(s, m, now, 0)
	ds := replay(t, &b.d)
	if info.Trail != 3 || info.ChaseLines != 2 || !info.Offer {
		t.Errorf("info %+v", info)
	}
	at := func(lat, lon float64) (float64, float64) { return m.View.ToScreen(lat, lon) }
	ox, oy := at(28.1555, 113.0125)
	var path []drawn
	for _, d := range ds {
		if (d.op == opMove || d.op == opLine) && d.stroke == colChase {
			path = append(path, d)
		}
	}
	if len(path) != 4 || path[0].op != opMove || !near(path[0].args[0], ox, 0.01) || !near(path[0].args[1], oy, 0.01) || path[0].dash == 0 {
		t.Fatalf("trail path %+v", path)
	}
	for i, sg := range p.Trail {
		x, y := at(sg.Lat, sg.Lon)
		if path[i+1].op != opLine || !near(path[i+1].args[0], x, 0.01) || !near(path[i+1].args[1], y, 0.01) {
			t.Errorf("trail point %d: %+v, want %v,%v", i, path[i+1], x, y)
		}
	}
	if count(ds, func(d drawn) bool {
		return d.op == opCircle && d.stroke == colOrigin && d.alpha < 0.5 && near(d.args[0], ox, 0.01)
	}) != 1 {
		t.Error("the reported place is not drawn faint")
	}
	nx, ny := at(28.184, 112.9775)
	if count(ds, func(d drawn) bool {
		return d.op == opCircle && d.fill == colChase && near(d.args[0], nx, 0.01) && near(d.args[1], ny, 0.01) && d.args[2] == 7
	}) != 1 || count(ds, func(d drawn) bool { return d.op == opCircle && d.fill == colChase && d.args[2] < 7 }) != 2 {
		t.Error("the newest sighting is not the one emphasised")
	}
	if count(ds, func(d drawn) bool {
		return d.op == opCircle && d.stroke == colCircle && near(d.args[0], nx, 0.01) && near(d.args[1], ny, 0.01)
	}) != len(CircleMinutes) {
		t.Error("the response circles are not around the current place")
	}
	lineEnds := 0
	for i, d := range ds {
		if d.op == opMove && d.stroke == colEnroute && i+1 < len(ds) && ds[i+1].op == opLine &&
			near(ds[i+1].args[0], nx, 0.01) && near(ds[i+1].args[1], ny, 0.01) {
			lineEnds++
		}
	}
	if lineEnds != 2 {
		t.Errorf("%d lines from units on their way to the current place, want 2", lineEnds)
	}
	if count(ds, func(d drawn) bool { return d.op == opCircle && d.stroke == colOffer }) != 1 {
		t.Error("the offered unit is not ringed")
	}
	var labels []string
	for _, d := range ds {
		if d.op == opText && (d.fill == -1) && (strings.Contains(d.text, " · ") || strings.HasPrefix(d.text, "reported")) {
			labels = append(labels, d.text)
		}
	}
	clock := func(ts int64) string { return FormatClock(ts, nil) }
	for _, want := range []string{"reported " + clock(now), clock(now+180_000) + " · 韶山南路·砂子塘路口",
		clock(now+360_000) + " · caller", clock(now+540_000) + " · officer"} {
		if !slices.Contains(labels, want) {
			t.Errorf("no label %q in %q", want, labels)
		}
	}
	// The cameras: drawn while the layer is on, hidden when off, always
	// while a sighting is being reported.
	if info.Cameras == 0 {
		t.Error("no camera drawn")
	}
	m.CamerasOn = false
	if info := b.build(s, m, now, 0); info.Cameras != 0 {
		t.Errorf("%d cameras drawn with the layer off", info.Cameras)
	}
	m.SightMode = true
	if info := b.build(s, m, now, 0); info.Cameras == 0 {
		t.Error("no camera drawn while reporting a sighting")
	}
	// An incident never moved: no trail.
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 3, TS: now, Incidents: []Incident{still}}, conn: 1})
	if info := b.build(s, m, now, 0); info.Trail != 0 {
		t.Errorf("a trail for an incident never moved: %+v", info)
	}
}

// The offer, at the top of the incident: the unit (callsign and id), how
// much sooner, its ETA against the best on its way; Send goes through the
// dispatch confirmation and sends that unit; Dismiss through its own and
// posts the dismissal with the note. A new offer replacing the one shown is
// what the buttons act on.
func TestOfferCard(t *testing.T) {
	now := time.Now().UnixMilli()
	inc := incidentAt("inc-1", 1, now-60_000)
	inc.Status = api.IncidentDispatched
	inc.Assignments = []api.Assignment{{Unit: "sim-moto-0000", State: api.AssignEnroute}}
	inc.Offer = &api.Offer{Unit: "sim-moto-0002", ETAS: 40, BestETAS: 300, Sighting: now - 1000}
	ct, l, h := workingConsole(t, inc)
	ct.C.SelectIncident("inc-1")
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })

	es := parseElems(app.HTMLString(m.first))
	one(t, es, "div", map[string]string{"id": "offer", "data-unit": "sim-moto-0002", "data-incident": "inc-1"})
	html := app.HTMLString(m.first)
	for _, want := range []string{"铁骑-02", "sim-moto-0002", "4 min 20 s sooner", "ETA 40 s; the best unit on its way needs 5 min 00 s", "Send 铁骑-02", "Dismiss"} {
		if !strings.Contains(html, want) {
			t.Errorf("the offer card lacks %q", want)
		}
	}
	if q := find(es, "span", map[string]string{"class": "flag offer"}); len(q) != 1 {
		t.Errorf("the queue row does not flag the offer: %v", q)
	}
	// The offer is at the top of the detail, before the assignments.
	if i, j := strings.Index(html, `id="offer"`), strings.Index(html, `id="assignments"`); i < 0 || j < 0 || i > j {
		t.Error("the offer is not at the top of the incident")
	}

	// Another sighting, another offer: the card shows it, its buttons act on it.
	b := *ct.C.Store.Incidents["inc-1"]
	b.Offer = &api.Offer{Unit: "sim-moto-0004", ETAS: 30, BestETAS: 200, Sighting: now}
	b.Timeline = append(slices.Clone(b.Timeline), Entry{TS: now, Type: api.EntryOffered, Unit: "sim-moto-0004"})
	h.mu.Lock()
	hb := b
	h.incidents["inc-1"] = &hb
	h.mu.Unlock()
	ct.C.SetDetail(&b, time.Now())
	m.rerender()
	send := m.nodes("button", "dispatch")
	if len(send) == 0 || send[0].attrs["id"] != "offer-send" || send[0].attrs["data-unit"] != "sim-moto-0004" {
		t.Fatalf("send button %+v", send)
	}
	send[0].click(t)
	p := ct.C.Confirm
	if p == nil || p.Action != ActDispatch || p.Unit != "sim-moto-0004" || p.Incident != "inc-1" || p.Offer == nil || p.Offer.Sighting != now {
		t.Fatalf("Send asks %+v", p)
	}
	dlg := render(t, &ConfirmDialog{Ctl: ct, Rev: 1})
	one(t, dlg, "form", map[string]string{"id": "confirm", "data-action": ActDispatch, "data-unit": "sim-moto-0004"})
	one(t, dlg, "p", map[string]string{"id": "confirm-offer"})
	ct.ConfirmPending()
	l.until(t, "the dispatch", func() bool { return ct.C.Confirm == nil })
	h.mu.Lock()
	assigned := slices.Clone(h.assigned)
	reason := h.incidents["inc-1"].Timeline[len(h.incidents["inc-1"].Timeline)-1].Reason
	h.mu.Unlock()
	if len(assigned) != 1 || assigned[0] != "inc-1/sim-moto-0004" || reason != api.ReasonOfferTaken {
		t.Errorf("the hub sent %v (%s)", assigned, reason)
	}
	if ct.C.Selected().Offer != nil {
		t.Error("the offer is still shown after it was taken")
	}

	// Dismissed, with a note: the dismissal and the note reach the hub.
	c := *ct.C.Selected()
	c.Offer = &api.Offer{Unit: "sim-moto-0005", ETAS: 20, BestETAS: 150, Sighting: now + 1}
	h.mu.Lock()
	hc := c
	h.incidents["inc-1"] = &hc
	h.mu.Unlock()
	ct.C.SetDetail(&c, time.Now())
	m.rerender()
	dismiss := m.nodes("button", "ghost")
	i := slices.IndexFunc(dismiss, func(n node) bool { return n.attrs["id"] == "offer-dismiss" })
	if i < 0 || dismiss[i].attrs["data-unit"] != "sim-moto-0005" {
		t.Fatalf("dismiss button %+v", dismiss)
	}
	dismiss[i].click(t)
	if p := ct.C.Confirm; p == nil || p.Action != ActDismiss || p.Unit != "sim-moto-0005" || p.Incident != "inc-1" {
		t.Fatalf("Dismiss asks %+v", p)
	}
	dlg = render(t, &ConfirmDialog{Ctl: ct, Rev: 2})
	one(t, dlg, "form", map[string]string{"id": "confirm", "data-action": ActDismiss})
	one(t, dlg, "textarea", map[string]string{"id": "confirm-note"})
	ct.C.Confirm.Note = " 该车正在处置另一起警情 "
	ct.ConfirmPending()
	l.until(t, "the dismissal", func() bool { return ct.C.Confirm == nil })
	h.mu.Lock()
	dismissed := slices.Clone(h.dismissed)
	h.mu.Unlock()
	if len(dismissed) != 1 || dismissed[0] != "inc-1/该车正在处置另一起警情" {
		t.Errorf("the hub dismissed %q", dismissed)
	}
	if sel := ct.C.Selected(); sel.Offer != nil || sel.Timeline[len(sel.Timeline)-1].Type != api.EntryOfferDismissed {
		t.Errorf("after the dismissal: offer %+v", sel.Offer)
	}
	// No offer any more (taken elsewhere): the hub's 409 stays in the dialog.
	ct.AskDismiss("inc-1", api.Offer{Unit: "sim-moto-0005"})
	ct.ConfirmPending()
	l.until(t, "the 409", func() bool { return ct.C.Confirm != nil && !ct.C.Confirm.Busy })
	if !strings.Contains(ct.C.Confirm.Err, "no offer") {
		t.Errorf("dialog after the 409: %+v", ct.C.Confirm)
	}
}

// The map keeps taking sighting clicks while the city moves: units drive
// under the click and the page re-renders between the clicks; the form over
// the map shows each click's place, and the cameras nearest the incident
// first.
func TestSightingClickWhileLive(t *testing.T) {
	ct := chaseConsole(t)
	c := ct.C
	c.SelectIncident("i1")
	c.StartSighting()
	mv := mount(t, func(rev int64) app.Composer {
		return &MapView{Ctl: ct, Lang: EN, Chase: c.MapChase()}
	})
	now := time.Now().UnixMilli()
	for i := range 5 {
		// A unit moves to where the next click lands; others move too.
		x, y := 300+float64(i)*60, 250+float64(i)*40
		lat, lon := c.Scene.View.FromScreen(x, y)
		moved := unitAt("moto-1", protocol.TypeMotorcycle, protocol.StatusEnroute, lat, lon, now+int64(i))
		other := unitAt("car-1", protocol.TypeCar, protocol.StatusAvailable, 28.2+float64(i)/1e4, 112.98, now+int64(i))
		c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: uint64(2 + i), TS: now, Units: []Unit{moved, other}}, conn: 1, received: now}}, Link{}, false)
		mv.rerender()
		if h := c.Click(x, y); h.Kind != HitSighting {
			t.Fatalf("click %d on a moving unit: %+v", i, h)
		}
		mv.rerender()
		lat, lon = c.Scene.View.FromScreen(x, y)
		inputs := mv.nodes("input", "")
		var got []string
		for _, n := range inputs {
			if n.attrs["id"] == "sighting-lat" || n.attrs["id"] == "sighting-lon" {
				got = append(got, n.attrs["value"])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{fmtCoord(lat), fmtCoord(lon)}) {
			t.Errorf("click %d: the form shows %v, the click was at %v, %v", i, got, lat, lon)
		}
		if c.Scene.SelUnit != "" {
			t.Errorf("click %d selected %s", i, c.Scene.SelUnit)
		}
	}
	// The cameras listed nearest the incident first, at its place now.
	opts := func() []string {
		var ids []string
		for _, n := range mv.nodes("option", "") {
			if strings.HasPrefix(n.attrs["value"], "cs-") {
				ids = append(ids, n.attrs["value"])
			}
		}
		return ids
	}
	first := opts()
	inc := *c.Store.Incidents["i1"]
	inc.Lat, inc.Lon = 28.1555, 113.0125 // seen far away: 雨花亭
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 20, TS: now, Incidents: []Incident{inc}}, conn: 1, received: now}}, Link{}, false)
	mv.rerender()
	second := opts()
	if len(first) != len(changsha.Cameras()) || first[0] == second[0] || second[0] != "cs-yh-001" {
		t.Errorf("cameras listed %v, then %v", first, second)
	}
	choices := CameraChoices(c.Store.Cameras, inc.Lat, inc.Lon, "")
	for i, ch := range choices {
		if second[i] != ch.ID || (i > 0 && ch.DistM < choices[i-1].DistM) {
			t.Errorf("option %d is %s, want %s (nearest first)", i, second[i], ch.ID)
		}
	}
}

// Many cameras: the form lists the nearest, and keeps the one picked.
func TestCameraChoicesCap(t *testing.T) {
	var cs []api.Camera
	for i := range 300 {
		cs = append(cs, api.Camera{ID: fmt.Sprintf("c-%03d", i), Lat: 28 + float64(i)/1000, Lon: 113})
	}
	got := CameraChoices(cs, 28, 113, "c-250")
	if len(got) != maxCameraChoices || got[0].ID != "c-000" || got[len(got)-1].ID != "c-250" || got[len(got)-2].ID != "c-098" {
		t.Errorf("%d choices, %s … %s, %s", len(got), got[0].ID, got[len(got)-2].ID, got[len(got)-1].ID)
	}
}

// The chase's timeline in both languages: every sighting (with its camera
// and note), every update_location sent, the offer dismissed or taken.
func TestChaseTimelineText(t *testing.T) {
	name := func(id string) string { return map[string]string{"car-1": "湘A-001"}[id] }
	cam := func(id string) string { return map[string]string{"cs-tx-003": "黄兴南路·南门口"}[id] }
	for _, tc := range []struct {
		e      Entry
		en, zh string
	}{
		{Entry{Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Source: "camera", Camera: "cs-tx-003", Lat: fp(28.184), Lon: fp(112.9775)}},
			"seen on camera 黄兴南路·南门口 at 28.18400, 112.97750", "天网摄像头 黄兴南路·南门口 发现于 28.18400, 112.97750"},
		{Entry{Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Source: "camera", Camera: "cs-tx-003", Note: "两人", Lat: fp(28.184), Lon: fp(112.9775)}},
			"seen on camera 黄兴南路·南门口 at 28.18400, 112.97750: 两人", "天网摄像头 黄兴南路·南门口 发现于 28.18400, 112.97750：两人"},
		{Entry{Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Source: "caller", Note: "往南", Lat: fp(28.18), Lon: fp(112.98)}},
			"seen by a caller at 28.18000, 112.98000: 往南", "报警人发现于 28.18000, 112.98000：往南"},
		{Entry{Type: api.EntryUpdateLocation, Unit: "car-1", Reason: api.ReasonRetargeted, Params: &api.Params{Lat: fp(28.18), Lon: fp(112.98)}},
			"湘A-001 was sent the new place 28.18000, 112.98000", "已向 湘A-001 推送新位置 28.18000, 112.98000"},
		{Entry{Type: api.EntryOfferDismissed, Unit: "car-1", Reason: api.ReasonDismissed},
			"the dispatcher turned 湘A-001 down", "调度员未采纳 湘A-001"},
		{Entry{Type: api.EntryOfferDismissed, Unit: "car-1", Reason: api.ReasonDismissed, Params: &api.Params{Note: "另有任务"}},
			"the dispatcher turned 湘A-001 down: 另有任务", "调度员未采纳 湘A-001：另有任务"},
		{Entry{Type: api.EntryDispatched, Unit: "car-1", Reason: api.ReasonOfferTaken, Params: &api.Params{ETAS: fp(40), BestETAS: fp(300)}},
			"offered after a sighting: ETA 40 s; the best unit on its way needed 5 min 00 s", "线索后推荐的更近警力：预计 40秒；在途最快警力需 5分00秒"},
	} {
		if got := EntryText(EN, tc.e, name, cam); got != tc.en {
			t.Errorf("EN %s = %q, want %q", tc.e.Type, got, tc.en)
		}
		if got := EntryText(ZH, tc.e, name, cam); got != tc.zh {
			t.Errorf("ZH %s = %q, want %q", tc.e.Type, got, tc.zh)
		}
	}
	// Without a camera namer: the id.
	e := Entry{Type: api.EntrySighting, Reason: api.ReasonSighted, Params: &api.Params{Camera: "cs-tx-003", Lat: fp(1), Lon: fp(2)}}
	if got := EntryText(EN, e, name, nil); !strings.Contains(got, "cs-tx-003") {
		t.Errorf("no camera namer: %q", got)
	}
	for _, typ := range []string{api.EntryUpdateLocation, api.EntryOfferDismissed, api.EntrySighting, api.EntryOffered} {
		for _, lang := range []Lang{EN, ZH} {
			if _, ok := messages[lang]["ev."+typ]; !ok {
				t.Errorf("%s: no name for %s", lang, typ)
			}
		}
	}
}

// The chase's strings, in both languages, including the keys the code
// builds.
func TestChaseMessages(t *testing.T) {
	keys := []string{"sight.err.place", "sight.err.coords", "why.sighted.camera", "why.sighted.camera.note", "why.dismissed.note",
		"chase.src.unknown", "key.sighting", "sight.new", "offer.title", "map.cameras", "cameras.failed"}
	for _, s := range SightingSources {
		keys = append(keys, "chase.src."+s)
	}
	for _, k := range keys {
		for _, l := range []Lang{EN, ZH} {
			if v, ok := messages[l][k]; !ok || v == k {
				t.Errorf("%s lacks %q", l, k)
			}
		}
	}
	for _, l := range []Lang{EN, ZH} {
		if !strings.Contains(T(l, "key.help"), "S ") {
			t.Errorf("%s: the keys' help does not name S", l)
		}
	}
}

// The sighting form and the offer on the page: the hooks the browser test
// uses, in Chinese too, and a hub with no cameras has no camera list.
func TestChaseHooks(t *testing.T) {
	for _, lang := range []Lang{EN, ZH} {
		ct := consoleFixture(lang)
		c := ct.C
		c.Store.SetCameras(changsha.Cameras())
		inc := *c.Store.Incidents["inc-1"]
		inc.Offer = &api.Offer{Unit: "moto-2", ETAS: 41, BestETAS: 200, Sighting: 1}
		c.Store.Merge(&inc)
		c.CancelForm()
		c.StartSighting()
		es := render(t, &Dashboard{ctl: ct})
		one(t, es, "form", map[string]string{"id": "sighting-form", "data-incident": "inc-1"})
		for _, id := range []string{"sighting-lat", "sighting-lon", "sighting-source", "sighting-camera", "sighting-note", "sighting-submit", "sighting-cancel",
			"offer-send", "offer-dismiss", "cameras-toggle", "sighting-new"} {
			one(t, es, "", map[string]string{"id": id})
		}
		one(t, es, "button", map[string]string{"id": "cameras-toggle", "data-on": "true"})
		one(t, es, "div", map[string]string{"class": "mapwrap sighting-mode"})
		if n := len(find(es, "option", nil)); n < len(changsha.Cameras())+len(SightingSources) {
			t.Errorf("%s: %d options", lang, n)
		}
		c.Store.SetCameras(nil)
		es = render(t, &Dashboard{ctl: ct})
		if len(find(es, "", map[string]string{"id": "sighting-camera"})) != 0 || len(find(es, "", map[string]string{"id": "cameras-toggle"})) != 0 {
			t.Errorf("%s: a camera list without cameras", lang)
		}
	}
	ct := consoleFixture(ZH)
	ct.C.Store.SetCameras(changsha.Cameras())
	ct.C.CancelForm()
	ct.C.StartSighting()
	d := &Dashboard{ctl: ct}
	render(t, d)
	html := app.HTMLString(d)
	for _, s := range []string{"新线索", "线索来源", "天网摄像头", "报警人", "报告", "报告线索"} {
		if !strings.Contains(html, s) {
			t.Errorf("the Chinese sighting form lacks %q", s)
		}
	}
}
