package ui

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The chase. A suspect seen again somewhere else — on a camera of the
// camera network (天网), by a caller, by an officer — is a sighting: it
// moves the incident, the hub sends the new place to the units on their way
// (update_location) and may offer a free unit that would be there sooner.
// Here: the sighting form and its map mode, the cameras, the offer's
// actions, and the pursuit as the map draws it (scene.go).

// Sighting sources the form offers (the hub takes free text).
const (
	SourceCamera  = "camera"
	SourceCaller  = "caller"
	SourceOfficer = "officer"
)

// SightingSources in the form's order.
var SightingSources = []string{SourceCamera, SourceCaller, SourceOfficer}

// SightingForm is the "report a sighting" form. While it is open the map is
// in sighting mode: a click anywhere places the sighting (on a camera: the
// camera's place and id), whatever marker is there.
type SightingForm struct {
	Open     bool
	Incident string // the incident it is for, taken when the form opened
	Lat, Lon string // as typed, or filled by a click or a camera
	Source   string // one of SightingSources
	Camera   string // the camera's id, when one was picked
	Note     string
	Busy     bool   // sent, waiting for the hub
	Err      string // what is wrong with it, or the hub's refusal
}

// MaxSightingFar is how far from the incident a sighting may be: further is
// taken for a typing mistake (lat and lon swapped, a digit lost).
const MaxSightingFar = 100_000.0 // m

// StartSighting opens the sighting form for the selected incident (the
// button, the S key); false if no open incident is selected. The map comes
// forward on a narrow screen: the next click there places the sighting.
func (c *Console) StartSighting() bool {
	inc := c.Selected()
	if inc == nil || inc.Status == api.IncidentClosed || !c.May(api.RoleCallTaker) {
		return false
	}
	c.Tab = TabMap
	if c.Sighting.Open && c.Sighting.Incident == inc.ID {
		return true // already reporting one: keep what it says
	}
	c.CancelForm() // one map mode at a time; the incident form keeps its fields
	c.ClosePick()
	c.Sighting = SightingForm{Open: true, Incident: inc.ID, Source: SourceCaller}
	c.setSightMark(nil, "")
	return true
}

// CancelSighting closes the sighting form (Esc, Cancel, another incident).
func (c *Console) CancelSighting() {
	if !c.Sighting.Open {
		return
	}
	c.Sighting = SightingForm{}
	c.setSightMark(nil, "")
}

// setSightMark shows (or, with nil, hides) the sighting's place on the map.
func (c *Console) setSightMark(p *LatLon, camera string) {
	c.mu.Lock()
	c.Scene.Sight, c.Scene.SightCamera, c.Scene.SightMode = p, camera, c.Sighting.Open
	c.mu.Unlock()
	c.Dirty()
}

// PlaceSighting puts the sighting at a clicked place (a camera picked
// before no longer applies).
func (c *Console) PlaceSighting(lat, lon float64) {
	f := &c.Sighting
	if !f.Open {
		return
	}
	f.Lat, f.Lon, f.Camera, f.Err = fmtCoord(lat), fmtCoord(lon), "", ""
	c.setSightMark(&LatLon{Lat: lat, Lon: lon}, "")
}

// PickCamera puts the sighting at a camera, with its id, seen by a camera;
// "" (the list's "no camera") only forgets the camera. False if the hub
// does not know the camera.
func (c *Console) PickCamera(id string) bool {
	f := &c.Sighting
	if !f.Open {
		return false
	}
	if id == "" {
		f.Camera = ""
		c.setSightMark(c.Scene.Sight, "")
		return true
	}
	cam, ok := c.Store.Camera(id)
	if !ok {
		return false
	}
	f.Lat, f.Lon, f.Camera, f.Source, f.Err = fmtCoord(cam.Lat), fmtCoord(cam.Lon), cam.ID, SourceCamera, ""
	c.setSightMark(&LatLon{Lat: cam.Lat, Lon: cam.Lon}, cam.ID)
	return true
}

// TypeSightingCoords records coordinates as typed. When they read as a
// place the map shows it; a camera picked before no longer applies unless
// they are still its place. "28.18, 112.98" pasted into the latitude fills
// both.
func (c *Console) TypeSightingCoords(lat, lon string) {
	f := &c.Sighting
	if !f.Open {
		return
	}
	if a, b, ok := splitPair(lat); ok && strings.TrimSpace(lon) == "" {
		lat, lon = a, b
	}
	f.Lat, f.Lon, f.Err = lat, lon, ""
	la, lo, err := ParseCoords(lat, lon)
	if err != "" {
		c.setSightMark(nil, "")
		return
	}
	if cam, ok := c.Store.Camera(f.Camera); ok && (fmtCoord(cam.Lat) != fmtCoord(la) || fmtCoord(cam.Lon) != fmtCoord(lo)) {
		f.Camera = ""
	}
	c.setSightMark(&LatLon{Lat: la, Lon: lo}, f.Camera)
}

// SetSightingSource says who saw it (one of SightingSources).
func (c *Console) SetSightingSource(s string) {
	if c.Sighting.Open && slices.Contains(SightingSources, s) {
		c.Sighting.Source = s
	}
}

// splitPair reads "lat, lon" (a comma, a full-width comma, or spaces).
func splitPair(s string) (string, string, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "，", ",")
	var parts []string
	if strings.Contains(s, ",") {
		parts = strings.Split(s, ",")
	} else {
		parts = strings.Fields(s)
	}
	if len(parts) != 2 {
		return "", "", false
	}
	return strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), true
}

// ParseCoords reads typed coordinates: decimal degrees, WGS-84. err is
// the i18n key of what is wrong ("" when they are a place).
func ParseCoords(lat, lon string) (float64, float64, string) {
	lat, lon = strings.TrimSpace(lat), strings.TrimSpace(lon)
	if lat == "" && lon == "" {
		return 0, 0, "sight.err.place"
	}
	la, err1 := strconv.ParseFloat(lat, 64)
	lo, err2 := strconv.ParseFloat(lon, 64)
	if err1 != nil || err2 != nil || !protocol.ValidLatLon(la, lo) {
		return 0, 0, "sight.err.coords"
	}
	return la, lo, ""
}

func fmtCoord(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// SightingRequest checks the form and makes the hub's body of it; bad is
// what to tell the dispatcher ("" when it can be sent).
func (c *Console) SightingRequest() (s api.Sighting, bad string) {
	f := c.Sighting
	lang := c.Lang
	inc := c.Store.Incident(f.Incident)
	if !f.Open || inc == nil || inc.Status == api.IncidentClosed {
		return s, T(lang, "sight.err.closed")
	}
	lat, lon, errKey := ParseCoords(f.Lat, f.Lon)
	if errKey != "" {
		return s, T(lang, errKey)
	}
	if d := protocol.Haversine(lat, lon, inc.Lat, inc.Lon); d > MaxSightingFar {
		return s, Tf(lang, "sight.err.far", FormatDistance(lang, d))
	}
	if !slices.Contains(SightingSources, f.Source) {
		return s, T(lang, "sight.err.source")
	}
	note := strings.TrimSpace(f.Note)
	if len(note) > api.MaxSightingNote {
		return s, Tf(lang, "confirm.note.long", api.MaxSightingNote)
	}
	s = api.Sighting{Lat: lat, Lon: lon, Source: f.Source, Note: note, Camera: f.Camera}
	if err := s.Check(); err != nil {
		return api.Sighting{}, err.Error()
	}
	return s, ""
}

// Sighted closes the form after the hub took the sighting, and shows the
// incident as the hub answered (moved; an offer, if any).
func (c *Console) Sighted(inc *Incident, now time.Time) {
	c.Sighting = SightingForm{}
	c.setSightMark(nil, "")
	c.SetDetail(inc, now)
}

// ReportSighting sends the form (the hub moves the incident and re-targets
// the units on their way). A refusal stays in the form.
func (ct *Controller) ReportSighting() {
	c := ct.C
	f := &c.Sighting
	if !f.Open || f.Busy {
		return
	}
	body, bad := c.SightingRequest()
	if bad != "" {
		f.Err = bad
		return
	}
	f.Busy, f.Err = true, ""
	id := f.Incident
	var inc *Incident
	ct.call(func(ctx context.Context, api *API) (err error) {
		inc, err = api.Sighting(ctx, id, body)
		return err
	}, func(err error) {
		if c.Sighting.Incident != id || !c.Sighting.Open {
			if err == nil {
				c.SetDetail(inc, ct.now())
			}
			return // closed meanwhile
		}
		c.Sighting.Busy = false
		if err != nil {
			c.Sighting.Err = err.Error()
			return
		}
		c.Sighted(inc, ct.now())
		c.Say(Tf(c.Lang, "sight.done", id), false, ct.now())
	})
}

// AskOffer asks to confirm sending the unit the hub offered — the same
// confirmation as every dispatch, which says what the offer was.
func (ct *Controller) AskOffer(incID string, o api.Offer) {
	ct.C.Ask(Pending{Action: ActDispatch, Incident: incID, Unit: o.Unit, Offer: &o})
}

// AskDismiss asks to confirm turning the offer down (with a note, if the
// dispatcher says why).
func (ct *Controller) AskDismiss(incID string, o api.Offer) {
	ct.C.Ask(Pending{Action: ActDismiss, Incident: incID, Unit: o.Unit, Offer: &o})
}

// DismissOffer turns the hub's offer down; done hears the outcome.
func (ct *Controller) DismissOffer(id, note string, done func(error)) {
	ct.detailCall(func(ctx context.Context, api *API) (*Incident, error) {
		return api.DismissOffer(ctx, id, note)
	}, func(*Incident) {
		ct.C.Say(Tf(ct.C.Lang, "offer.dismissed", id), false, ct.now())
	}, done)
}

// Camera finds a camera of the hub's set by id.
func (s *Store) Camera(id string) (api.Camera, bool) {
	if id == "" {
		return api.Camera{}, false
	}
	i, ok := s.cameraIndex[id]
	if !ok {
		return api.Camera{}, false
	}
	return s.Cameras[i], true
}

// CameraName is a camera as a person reads it: its name, else its id.
func (s *Store) CameraName(id string) string {
	if c, ok := s.Camera(id); ok && c.Name != "" {
		return c.Name
	}
	return id
}

// SetCameras installs the hub's camera set (GET /api/cameras).
func (s *Store) SetCameras(cs []api.Camera) {
	s.Cameras = cs
	s.cameraIndex = make(map[string]int, len(cs))
	for i := range cs {
		s.cameraIndex[cs[i].ID] = i
	}
}

// maxCameraChoices is how many cameras the form lists: the nearest to the
// incident's current place.
const maxCameraChoices = 100

// CameraChoice is a camera in the form's list.
type CameraChoice struct {
	ID, Name string
	DistM    float64 // from the incident's current place
}

// CameraChoices lists the cameras nearest (lat, lon) first, at most
// maxCameraChoices; the one picked is always among them.
func CameraChoices(cs []api.Camera, lat, lon float64, picked string) []CameraChoice {
	// Sorted as pointers: the sort's code is the one every pointer sort in
	// app.wasm shares (a sort of a struct type of its own is another copy).
	all := make([]*CameraChoice, 0, len(cs))
	for _, c := range cs {
		all = append(all, &CameraChoice{ID: c.ID, Name: c.Name, DistM: protocol.Haversine(lat, lon, c.Lat, c.Lon)})
	}
	slices.SortFunc(all, func(a, b *CameraChoice) int {
		return cmp.Or(cmp.Compare(a.DistM, b.DistM), strings.Compare(a.ID, b.ID))
	})
	n := min(len(all), maxCameraChoices)
	out := make([]CameraChoice, 0, n)
	for _, c := range all[:n] {
		out = append(out, *c)
	}
	if n < len(all) {
		for _, c := range all[n:] {
			if c.ID == picked {
				out[n-1] = *c
			}
		}
	}
	return out
}

// hitCameraPx is how near a click must land to take a camera (CSS px).
const hitCameraPx = 12.0

// CameraAt is the camera nearest canvas point x, y within reach (-1 none).
func CameraAt(cs []api.Camera, v View, x, y float64) int {
	best, at := hitCameraPx*hitCameraPx, -1
	for i, c := range cs {
		cx, cy := v.ToScreen(c.Lat, c.Lon)
		if d := sq(cx-x) + sq(cy-y); d <= best {
			best, at = d, i
		}
	}
	return at
}

// sightingClick is Console.Click in sighting mode, or on a camera of the
// cameras layer with an open incident selected (which starts a sighting
// from that camera): the click places the sighting. handled is false when
// the click is an ordinary one. Under c.mu.
func (c *Console) sightingClick(x, y float64, onMarker bool) (h Hit, handled bool) {
	v := c.Scene.View
	h.Lat, h.Lon = v.FromScreen(x, y)
	cam := -1
	if c.Sighting.Open || c.Scene.CamerasOn {
		cam = CameraAt(c.Store.Cameras, v, x, y)
	}
	switch {
	case c.Sighting.Open:
	case cam >= 0 && !onMarker && c.Scene.SelInc != "" && !c.Creating && c.May(api.RoleCallTaker):
		if inc := c.Store.Incident(c.Scene.SelInc); inc == nil || inc.Status == api.IncidentClosed {
			return h, false
		}
	default:
		return h, false
	}
	h.Kind = HitSighting
	if cam >= 0 {
		h.Kind, h.ID = HitCamera, c.Store.Cameras[cam].ID
	}
	c.pick = nil
	return h, true
}

// placeClick carries out a sighting click (not under c.mu): it starts
// the sighting from a camera if none is being reported, and fills the
// place (and the camera).
func (c *Console) placeClick(h Hit) {
	if !c.Sighting.Open && !c.StartSighting() {
		return
	}
	if h.Kind == HitCamera && c.PickCamera(h.ID) {
		return
	}
	c.PlaceSighting(h.Lat, h.Lon)
}

// ToggleCameras shows or hides the cameras layer.
func (c *Console) ToggleCameras() {
	c.mu.Lock()
	c.Scene.CamerasOn = !c.Scene.CamerasOn
	c.mu.Unlock()
	c.Dirty()
}

// Sighted is one place the suspect was seen, from the incident's timeline.
type Sighted struct {
	TS       int64 // hub time, Unix ms
	Lat, Lon float64
	Source   string // camera, caller, officer (or what an older client wrote)
	Camera   string // the camera's id, if it was one of the set
	Note     string
}

// Pursuit is an incident's chase as the map draws it: where it was first
// reported, every sighting since in order, and where it is now.
type Pursuit struct {
	// Origin is the place first reported: the created entry's (a hub
	// from before 2026-12 did not record it: then it is known only if the
	// incident was never moved). Nil when unknown.
	Origin   *LatLon
	OriginTS int64
	Trail    []Sighted // oldest first; the last one is the newest
	Current  LatLon    // the incident's place now
}

// PursuitOf reads an incident's chase from its timeline.
func PursuitOf(inc *Incident) Pursuit { return pursuitOf(inc, nil) }

// pursuitOf is PursuitOf appending the trail to dst (the map's frames reuse
// it).
func pursuitOf(inc *Incident, dst []Sighted) Pursuit {
	p := Pursuit{Current: LatLon{Lat: inc.Lat, Lon: inc.Lon}, OriginTS: inc.Created, Trail: dst}
	for _, e := range inc.Timeline {
		switch {
		case e.Type == api.EntryCreated && e.Params != nil && e.Params.Lat != nil && e.Params.Lon != nil && p.Origin == nil:
			p.Origin = &LatLon{Lat: *e.Params.Lat, Lon: *e.Params.Lon}
			p.OriginTS = e.TS
		case e.Type == api.EntrySighting && e.Params != nil && e.Params.Lat != nil && e.Params.Lon != nil:
			p.Trail = append(p.Trail, Sighted{TS: e.TS, Lat: *e.Params.Lat, Lon: *e.Params.Lon,
				Source: e.Params.Source, Camera: e.Params.Camera, Note: e.Params.Note})
		}
	}
	if p.Origin == nil && len(p.Trail) == 0 {
		o := p.Current
		p.Origin = &o
	}
	return p
}

// ChaseLine is a unit on its way to an incident: the line from where it is
// to where the incident is now.
type ChaseLine struct {
	Unit     string
	From, To LatLon
}

// ChaseLines are the incident's units on their way (sent, or
// acknowledged and driving), each with its line to the incident's current
// place; units without a position are left out.
func ChaseLines(s *Store, inc *Incident) []ChaseLine {
	var out []ChaseLine
	for _, a := range inc.Assignments {
		if !onTheWay(a.State) {
			continue
		}
		u := s.Units[a.Unit]
		if u == nil || !u.HasFix {
			continue
		}
		out = append(out, ChaseLine{Unit: a.Unit, From: LatLon{Lat: u.Lat, Lon: u.Lon}, To: LatLon{Lat: inc.Lat, Lon: inc.Lon}})
	}
	return out
}

// onTheWay: an assignment in this state is a unit on its way — sent, or
// acknowledged and driving — which the hub sends a new place to.
func onTheWay(state string) bool { return state == api.AssignDispatched || state == api.AssignEnroute }

// SourceLabel is a sighting's source as the map labels it: the camera's
// name when it was one of the set, else the source in a word.
func SourceLabel(lang Lang, s *Store, source, camera string) string {
	if camera != "" {
		return s.CameraName(camera)
	}
	if source == "" {
		return T(lang, "chase.src.unknown")
	}
	return lookup(lang, "chase.src.", source)
}

// OfferSooner is how much sooner the offered unit would be there than the
// best unit on its way, in seconds (never negative).
func OfferSooner(o *api.Offer) float64 {
	if o == nil || math.IsNaN(o.BestETAS-o.ETAS) {
		return 0
	}
	return max(0, o.BestETAS-o.ETAS)
}
