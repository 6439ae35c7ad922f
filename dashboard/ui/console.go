package ui

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/protocol/api"
)

// Console is the dashboard's state and the logic of its panels: the store,
// what the map shows, the selection, the filters and the new-incident form.
// The components render it and call its methods on the UI goroutine; the
// map's frame loop reads the store and the scene from its own callback,
// under mu. It does no I/O: the Controller does, and hands results back.
type Console struct {
	mu    sync.Mutex // guards Store and Scene against the map's frame loop
	Store *Store
	Scene MapScene

	Lang Lang
	// Role is the signed-in person's (api.Roles): the console offers only
	// the actions it allows (May). "" signed out: none.
	Role   string
	Link   Link
	Filter UnitFilter
	Form   IncidentForm
	// Creating: the "new incident" button was pressed, the next map click
	// places the incident even on top of a marker.
	Creating bool
	// Sighting is the "report a sighting" form; while it is open the map
	// is in sighting mode (chase.go).
	Sighting SightingForm
	// Detail is the selected incident as last fetched, with its
	// recommendations (the stream never carries them); nil until fetched.
	Detail   *Incident
	DetailAt time.Time
	Notice   Notice
	// Confirm is the action waiting for the dispatcher's confirmation.
	Confirm *Pending
	// Recs holds the recommendations still while the dispatcher points at
	// or is in them: a newer ranking waits in Recs.Next.
	Recs RecsHold
	// Alerts stand until their incident is opened; newest last.
	Alerts     []Alert
	alertKnown map[string]bool // incidents this session has seen
	// SOS are the officers' calls for help standing until acknowledged
	// (sos.go); newest last.
	SOS     []SOSAlarm
	sosSeen map[string]uint64 // the highest sos_seq of each incident that raised one
	// Screen is what the console shows (screens.go): ScreenLive or one of
	// the past.
	Screen string
	// Replay and UnitDay are the map screens of the past (replay.go,
	// unitday.go), kept while another screen shows; nil until opened.
	Replay  *ReplayState
	UnitDay *UnitDayState
	// Tab is the panel shown on a narrow screen (TabIncidents, TabMap, TabUnits).
	Tab string
	// Cursor is the queue row the keyboard is on (↑ ↓, Enter opens it).
	Cursor string
	// Mute silences the alarm (the banner stays).
	Mute bool
	// UnitRows is how many rows the units panel shows (UnitRows at least).
	UnitRows int
	// MoveUps is the move-up list beside the coverage layer (coverage.go).
	MoveUps MoveUps
	// Patrols is the patrol plans' layer and box (patrol.go).
	Patrols Patrols

	restore *Prefs // a selection to restore once the stream has shown it

	sceneRev atomic.Uint64 // bumped whenever the map must be redrawn
	fitted   bool          // the session's first snapshot has had its fit (firstFit)
	autoView View          // the view the console last chose by itself (console_map.go); under mu
	pick     *Pick         // the picker open over the map, nil if none (pick.go); under mu
}

// IncidentForm is the new-incident form.
type IncidentForm struct {
	Open     bool
	Lat, Lon float64
	Kind     string
	Priority int
	Summary  string
	Needs    string
	Busy     bool
}

// Notice is the line of feedback under the top bar.
type Notice struct {
	Text  string
	Error bool
	At    time.Time
}

// NewConsole returns a console showing Changsha in lang.
func NewConsole(lang Lang) *Console {
	c := &Console{Store: NewStore(), Lang: lang, Link: Link{State: LinkOffline}}
	c.Scene.View = DefaultView(1024, 768)
	c.autoView = c.Scene.View // refitted until the dispatcher moves the map
	c.Scene.Lang = lang
	c.Scene.CamerasOn = true // the cameras layer, until the dispatcher hides it
	c.Form = IncidentForm{Kind: Kinds[0], Priority: 2}
	c.Tab = TabIncidents
	return c
}

// May reports whether the person signed in may do what need may (an
// api.Role…): an action their role does not allow is not offered at all.
// The hub decides (403); this spares a person buttons that cannot work.
// (Not inlined: it is called from every panel, and each inlined copy of
// the roles' loop costs app.wasm.)
//
//go:noinline
func (c *Console) May(need string) bool { return api.RoleAtLeast(c.Role, need) }

// Lock and Unlock guard Store and Scene for readers off the UI goroutine.
func (c *Console) Lock()   { c.mu.Lock() }
func (c *Console) Unlock() { c.mu.Unlock() }

// SceneRev changes whenever the map should be redrawn.
func (c *Console) SceneRev() uint64 { return c.sceneRev.Load() }

// Dirty asks for a redraw.
func (c *Console) Dirty() { c.sceneRev.Add(1) }

// SetLang switches the language.
func (c *Console) SetLang(l Lang) {
	c.mu.Lock()
	c.Lang, c.Scene.Lang = l, l
	c.mu.Unlock()
	c.Dirty()
}

// Say shows a notice.
func (c *Console) Say(text string, isErr bool, now time.Time) {
	c.Notice = Notice{Text: text, Error: isErr, At: now}
}

// ApplyFrames applies a batch from the stream in order and records the link
// state. It returns what changed. The selected unit's new positions extend
// its track. On the first snapshot, if no unit is in view, the map fits
// the fleet.
func (c *Console) ApplyFrames(frames []*Frame, link Link, linkChanged bool) Change {
	var ch Change
	c.mu.Lock()
	now := time.Now()
	for _, f := range frames {
		c.noteAlerts(f, now)
		ch |= c.Store.Apply(f)
	}
	if ch&ChangedUnits != 0 {
		c.extendTrack()
		if !c.fitted && c.Store.Synced {
			c.fitted = true
			c.firstFit()
		}
	}
	c.mu.Unlock()
	if linkChanged {
		c.Link = link
	}
	if ch != 0 {
		c.Dirty()
	}
	return ch
}

// extendTrack appends the selected unit's latest fix to its track.
func (c *Console) extendTrack() {
	u := c.Store.Units[c.Scene.SelUnit]
	if u == nil || !u.HasFix {
		return
	}
	t := c.Scene.Track
	if n := len(t); n > 0 && t[n-1].TS >= u.FixTS {
		return
	}
	const maxTrack = 5000
	if len(t) >= maxTrack {
		t = slices.Delete(t, 0, len(t)-maxTrack+1)
	}
	c.Scene.Track = append(t, api.TrackPoint{TS: u.FixTS, Lat: u.Lat, Lon: u.Lon, Status: u.Status})
}

func (c *Console) fitFleetIfNoneVisible() {
	v := c.Scene.View
	b := v.Bounds()
	box := Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180}
	n := 0
	for _, u := range c.Store.Units {
		if !u.HasFix {
			continue
		}
		if u.Lat >= b.MinLat && u.Lat <= b.MaxLat && u.Lon >= b.MinLon && u.Lon <= b.MaxLon {
			return // some are in view: leave the map where the dispatcher expects it
		}
		box.MinLat, box.MaxLat = min(box.MinLat, u.Lat), max(box.MaxLat, u.Lat)
		box.MinLon, box.MaxLon = min(box.MinLon, u.Lon), max(box.MaxLon, u.Lon)
		n++
	}
	if n > 0 {
		c.Scene.View = FitBox(box, v.W, v.H)
	}
}

// FitFleet shows every unit with a position (or Changsha without any).
func (c *Console) FitFleet() {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.Scene.View
	box := Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180}
	n := 0
	for _, u := range c.Store.Units {
		if u.HasFix {
			box.MinLat, box.MaxLat = min(box.MinLat, u.Lat), max(box.MaxLat, u.Lat)
			box.MinLon, box.MaxLon = min(box.MinLon, u.Lon), max(box.MaxLon, u.Lon)
			n++
		}
	}
	if n == 0 {
		box = CityBox
	}
	c.Scene.View = FitBox(box, v.W, v.H)
	c.Dirty()
}

// Home shows every district (Changsha's box without districts).
func (c *Console) Home() {
	c.mu.Lock()
	c.fitHome(c.Scene.View.W, c.Scene.View.H)
	c.mu.Unlock()
	c.Dirty()
}

// WithView changes the view under the lock (pan, zoom, resize).
func (c *Console) WithView(f func(v *View) bool) {
	c.mu.Lock()
	changed := f(&c.Scene.View)
	c.mu.Unlock()
	if changed {
		c.Dirty()
	}
}

// View is a copy of the current view.
func (c *Console) View() View {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Scene.View
}

// Click handles a click on the map at canvas point x, y and says what it
// hit. In sighting mode it places the sighting (on a camera: the camera's
// place and id), and a click on a camera with an open incident selected
// starts a sighting from it (chase.go). In "new incident" mode, or on an
// empty spot, it opens the form there (for a role that may create
// incidents; for another, a click on an empty spot does nothing);
// on an incident it selects it; on a unit it selects the unit; on several
// markers it opens the picker (pick.go). A click while the picker is open
// closes it, and acts only if it lands on a marker.
func (c *Console) Click(x, y float64) Hit {
	c.mu.Lock()
	h := HitTest(c.Store, c.Scene.View, x, y)
	if sh, ok := c.sightingClick(x, y, h.Kind != HitNothing); ok {
		c.mu.Unlock()
		c.placeClick(sh)
		return sh
	}
	picked := c.pickClick(&h, x, y)
	if c.Creating {
		h.Kind, h.ID = HitNothing, ""
	}
	c.mu.Unlock()
	if picked {
		return h // several markers: the picker opened; or it closed
	}
	switch h.Kind {
	case HitIncident:
		c.SelectIncident(h.ID)
	case HitUnit:
		c.SelectUnit(h.ID, false)
	default:
		if c.May(api.RoleCallTaker) {
			c.OpenForm(h.Lat, h.Lon)
		}
	}
	return h
}

// StartCreating arms "new incident" mode (a role that may create
// incidents).
func (c *Console) StartCreating() {
	if !c.May(api.RoleCallTaker) {
		return
	}
	c.CancelSighting() // one map mode at a time
	c.Creating = true
	c.ClosePick() // the next click places the incident, whatever is there
}

// OpenForm opens the new-incident form at a position (moving it if open).
func (c *Console) OpenForm(lat, lon float64) {
	c.Creating = false
	c.Form.Open, c.Form.Lat, c.Form.Lon, c.Form.Busy = true, lat, lon, false
	c.mu.Lock()
	c.Scene.Pending = &LatLon{Lat: lat, Lon: lon}
	c.mu.Unlock()
	c.Dirty()
}

// CancelForm closes the form, keeping its fields for next time.
func (c *Console) CancelForm() {
	c.Creating = false
	c.Form.Open, c.Form.Busy = false, false
	c.mu.Lock()
	c.Scene.Pending = nil
	c.mu.Unlock()
	c.Dirty()
}

// FormRequest validates the form into the API's body; bad is the first
// invalid need (the form then stays as it is).
func (c *Console) FormRequest() (n api.NewIncident, bad string) {
	needs, bad := ParseNeeds(c.Form.Needs)
	if bad != "" {
		return n, bad
	}
	p := c.Form.Priority
	if p < 1 || p > 3 {
		p = 2
	}
	return api.NewIncident{Lat: c.Form.Lat, Lon: c.Form.Lon, Kind: c.Form.Kind, Priority: p,
		Summary: c.Form.Summary, Needs: needs}, ""
}

// Created files a new incident, closes the form and selects it.
func (c *Console) Created(inc *Incident) {
	c.Form.Open, c.Form.Busy, c.Form.Summary, c.Form.Needs = false, false, "", ""
	c.mu.Lock()
	c.Scene.Pending = nil
	c.Store.Merge(inc)
	c.mu.Unlock()
	c.SelectIncident(inc.ID)
	c.SetDetail(inc, time.Now())
}

// SelectIncident selects an incident ("" to go back to the queue).
func (c *Console) SelectIncident(id string) {
	c.mu.Lock()
	if c.Scene.SelInc != id {
		c.Detail, c.Recs.Next = nil, nil
	}
	c.Scene.SelInc = id
	c.mu.Unlock()
	if c.Sighting.Open && c.Sighting.Incident != id {
		c.CancelSighting() // it was for the incident no longer shown
	}
	c.Seen(id)
	c.Dirty()
}

// SetDetail records a fetched incident (with recommendations) for the
// selection, and merges it into the store.
func (c *Console) SetDetail(inc *Incident, now time.Time) {
	c.mu.Lock()
	c.Store.Merge(inc)
	sel := c.Scene.SelInc
	c.mu.Unlock()
	if inc.ID == sel {
		c.showDetail(inc)
		c.DetailAt = now
	}
	c.Dirty()
}

// Selected is the selected incident, live from the store (nil if none).
func (c *Console) Selected() *Incident {
	if c.Scene.SelInc == "" {
		return nil
	}
	return c.Store.Incident(c.Scene.SelInc)
}

// SelectUnit selects a unit, clears its old track and, if center, puts it
// in the middle of the map. It reports whether the unit has a position.
func (c *Console) SelectUnit(id string, center bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Scene.SelUnit, c.Scene.Track = id, nil
	u := c.Store.Units[id]
	c.Dirty()
	if u == nil || !u.HasFix {
		return false
	}
	if center {
		c.Scene.View.CenterOn(u.Lat, u.Lon, 14)
	}
	c.Scene.Track = append(c.Scene.Track, api.TrackPoint{TS: u.FixTS, Lat: u.Lat, Lon: u.Lon, Status: u.Status})
	return true
}

// SetTrack installs a fetched track for unit (if still selected), merged
// with the positions the stream brought meanwhile.
func (c *Console) SetTrack(unit string, pts []api.TrackPoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Scene.SelUnit != unit {
		return
	}
	var last int64
	if n := len(pts); n > 0 {
		last = pts[n-1].TS
	}
	t := slices.Clone(pts)
	for _, p := range c.Scene.Track {
		if p.TS > last {
			t = append(t, p)
		}
	}
	c.Scene.Track = t
	c.Dirty()
}

// SetTiles sets the basemap template ("" for the vector map); false if it
// is not a valid template.
func (c *Console) SetTiles(tmpl string) bool {
	if !ValidTiles(tmpl) {
		return false
	}
	c.mu.Lock()
	c.Scene.Tiles = tmpl
	c.mu.Unlock()
	c.Dirty()
	return true
}

// SignedOut forgets everything the hub said.
func (c *Console) SignedOut(link Link) {
	c.mu.Lock()
	c.Store = NewStore()
	c.Scene.SelInc, c.Scene.SelUnit, c.Scene.Track, c.Scene.Pending = "", "", nil, nil
	c.Scene.Sight, c.Scene.SightCamera, c.Scene.SightMode = nil, "", false
	c.Scene.MoveUps, c.Scene.Patrol = nil, nil
	c.fitted = false
	c.pick = nil
	c.mu.Unlock()
	c.Detail, c.Link, c.Creating, c.Confirm, c.Recs = nil, link, false, nil, RecsHold{}
	c.Role = ""
	c.Alerts, c.alertKnown = nil, nil
	c.SOS, c.sosSeen = nil, nil
	c.Replay, c.UnitDay = nil, nil // the next session may not see them
	c.Form.Open, c.Form.Busy = false, false
	c.Sighting = SightingForm{}
	c.MoveUps = MoveUps{}
	c.Patrols = Patrols{}
	c.Dirty()
}
