package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The replay's model: GET /api/incidents/{id}/replay decoded once into
// flat columns, and a Store rebuilt from them at any time t — every unit
// where it was (interpolated between its fixes) with the status it had,
// and the incident as it was (its sightings, assignments and status up to
// t). Playback moves t forward a frame at a time: each unit keeps a cursor
// on its track, so a frame costs O(units) and allocates nothing.

// ReplayGap is the longest time between two fixes a unit is interpolated
// across; over a longer gap it stays at its last fix (it did not drive in
// a straight line through a tunnel of silence).
const ReplayGap = 2 * 60 * 1000 // ms

// replayTrack is one unit's track in absolute hub time, with its cursor.
type replayTrack struct {
	T          []int64 // Unix ms, oldest first
	Lat, Lon   []float64
	Status     []protocol.Status
	StatusFrom []int
	cur        int // the last fix at or before t; -1 before the first
	run        int // the status run of fix cur
	state      *UnitState
}

// Replay is a decoded replay and its reconstruction at time T.
type Replay struct {
	Incident Incident // as the hub answered it: everything up to To
	From, To int64    // Unix ms
	RadiusM  int
	LeftOff  int // units within the radius the hub left out
	Units    []api.ReplayUnit
	tracks   []replayTrack

	// Store holds the replayed units and the incident as they were at T.
	Store *Store
	T     int64
	// Positioned is how many units have a position at T.
	Positioned int

	inc     Incident // the incident at T (Store holds a pointer to it)
	changes []int64  // when the incident changed, sorted
	changed int      // how many of changes are at or before T; -1 before the first MoveTo
	assign  []api.Assignment
}

// DecodeReplay decodes the hub's answer into a Replay at its start.
func DecodeReplay(data []byte) (*Replay, error) {
	var r api.Replay
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("replay: bad JSON: %w", err)
	}
	return NewReplay(&r)
}

// NewReplay builds the model of a decoded replay, at its start. Its
// columns are used as they are (no copy); times become absolute.
func NewReplay(r *api.Replay) (*Replay, error) {
	if r.To < r.From {
		return nil, fmt.Errorf("replay of %s: to %d before from %d", r.Incident.ID, r.To, r.From)
	}
	p := &Replay{Incident: r.Incident, From: r.From, To: r.To, RadiusM: r.RadiusM, LeftOff: r.UnitsLeftOff,
		Units: r.Units, Store: NewStore(), changed: -1}
	p.tracks = make([]replayTrack, len(r.Units))
	for i := range r.Units {
		u := &r.Units[i]
		n := len(u.T)
		if len(u.Lat) != n || len(u.Lon) != n || len(u.Status) != len(u.StatusFrom) {
			return nil, fmt.Errorf("replay of %s: unit %s: columns of different lengths", r.Incident.ID, u.Unit)
		}
		for k := range u.T {
			u.T[k] += r.From // absolute, once, instead of an add per frame
		}
		tr := &p.tracks[i]
		tr.T, tr.Lat, tr.Lon, tr.Status, tr.StatusFrom = u.T, u.Lat, u.Lon, u.Status, u.StatusFrom
		tr.cur, tr.run = -1, 0
		tr.state = &UnitState{Unit: Unit{ID: u.Unit, Type: u.Type, Callsign: u.Callsign, Online: true}, District: -1}
		p.Store.Units[u.Unit] = tr.state
	}
	p.changes = incidentChanges(&r.Incident)
	p.assign = make([]api.Assignment, 0, len(r.Incident.Assignments))
	p.Store.Synced = true
	p.MoveTo(r.From)
	return p, nil
}

// incidentChanges are the times the incident changed: its timeline's and
// its assignments' steps, sorted.
func incidentChanges(inc *Incident) []int64 {
	var ts []int64
	for _, e := range inc.Timeline {
		ts = append(ts, e.TS)
	}
	for _, a := range inc.Assignments {
		for _, t := range []int64{a.Dispatched, a.Acked, a.Arrived, a.Ended} {
			if t != 0 {
				ts = append(ts, t)
			}
		}
	}
	if inc.Closed != 0 {
		ts = append(ts, inc.Closed)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// MoveTo puts every unit and the incident where they were at t (clamped to
// From..To). Forward by a frame it moves each cursor a step or two; a jump
// searches.
func (p *Replay) MoveTo(t int64) {
	t = min(max(t, p.From), p.To)
	p.T = t
	n := 0
	for i := range p.tracks {
		if p.tracks[i].seek(t) {
			n++
		}
	}
	p.Positioned = n
	k := sort.Search(len(p.changes), func(i int) bool { return p.changes[i] > t })
	if k != p.changed {
		p.changed = k
		p.rebuildIncident(t)
	}
	p.Store.HubTS = t
}

// cursorSteps is how far a cursor walks before it searches instead.
const cursorSteps = 8

// seek moves the cursor to the last fix at or before t and sets the
// unit's state; false if the unit has no fix yet at t.
func (tr *replayTrack) seek(t int64) bool {
	n := len(tr.T)
	c := tr.cur
	steps := 0
	for c+1 < n && tr.T[c+1] <= t && steps < cursorSteps {
		c++
		steps++
	}
	for c >= 0 && tr.T[c] > t && steps < cursorSteps {
		c--
		steps++
	}
	if steps == cursorSteps {
		c = sort.Search(n, func(i int) bool { return tr.T[i] > t }) - 1
	}
	tr.cur = c
	u := tr.state
	if c < 0 {
		u.HasFix, u.Lat, u.Lon, u.MX, u.MY, u.HasHeading = false, 0, 0, 0, 0, false
		return false
	}
	// The status run of fix c: runs are few, a walk from the last one.
	r := min(tr.run, len(tr.StatusFrom)-1)
	for r+1 < len(tr.StatusFrom) && tr.StatusFrom[r+1] <= c {
		r++
	}
	for r > 0 && tr.StatusFrom[r] > c {
		r--
	}
	tr.run = r
	if r >= 0 {
		u.Status = tr.Status[r]
	}
	lat, lon := tr.Lat[c], tr.Lon[c]
	u.HasHeading = false
	if c+1 < n && tr.T[c+1]-tr.T[c] <= ReplayGap && tr.T[c+1] > tr.T[c] {
		f := float64(t-tr.T[c]) / float64(tr.T[c+1]-tr.T[c])
		lat2, lon2 := tr.Lat[c+1], tr.Lon[c+1]
		lat, lon = lat+(lat2-lat)*f, lon+(lon2-lon)*f
		dy, dx := lat2-tr.Lat[c], (lon2-tr.Lon[c])*math.Cos(lat*math.Pi/180)
		if dx != 0 || dy != 0 {
			u.HasHeading = true
			u.Heading = math.Mod(math.Atan2(dx, dy)*180/math.Pi+360, 360)
		}
	}
	u.HasFix = true
	u.Lat, u.Lon = lat, lon
	u.MX, u.MY = mercX(lon), mercY(lat)
	u.FixTS = tr.T[c]
	return true
}

// rebuildIncident makes the incident as it was at t: its timeline up to t
// (so its sightings, the pursuit's trail), its place (the last sighting's),
// each assignment in the state it had, its status and cover.
func (p *Replay) rebuildIncident(t int64) {
	src := &p.Incident
	inc := &p.inc
	*inc = *src
	inc.Offer, inc.Recommendations = nil, nil
	k := sort.Search(len(src.Timeline), func(i int) bool { return src.Timeline[i].TS > t })
	inc.Timeline = src.Timeline[:k:k]
	if o, _ := reportedPlace(src); o != nil {
		inc.Lat, inc.Lon = o.Lat, o.Lon
	}
	closed, uncovered := false, false
	for _, e := range inc.Timeline {
		switch e.Type {
		case api.EntrySighting:
			if e.Params != nil && e.Params.Lat != nil && e.Params.Lon != nil {
				inc.Lat, inc.Lon = *e.Params.Lat, *e.Params.Lon
			}
		case api.EntryClosed:
			closed = true
		case api.EntryReopened:
			closed = false
		case api.EntryUncovered:
			uncovered = true
		case api.EntryCovered:
			uncovered = false
		}
	}
	if len(src.Timeline) == 0 {
		closed = src.Closed != 0 && src.Closed <= t
	}
	p.assign = p.assign[:0]
	arrived, active := false, false
	for _, a := range src.Assignments {
		if a.Dispatched > t {
			continue
		}
		a.State = AssignmentStateAt(a, t)
		if a.State == api.AssignOnScene {
			arrived = true
		}
		active = active || api.AssignmentActive(a.State)
		p.assign = append(p.assign, a)
	}
	inc.Assignments = p.assign
	inc.Uncovered = uncovered && !closed
	switch {
	case closed:
		inc.Status = api.IncidentClosed
	case arrived:
		inc.Status = api.IncidentOnScene
	case active:
		inc.Status = api.IncidentDispatched
	default:
		inc.Status = api.IncidentOpen
	}
	if !closed {
		inc.Closed = 0
	}
	clear(p.Store.Incidents)
	clear(p.Store.History)
	if closed {
		p.Store.History[inc.ID] = inc
	} else {
		p.Store.Incidents[inc.ID] = inc
	}
}

// AssignmentStateAt is the state an assignment had at t (it was sent by
// then): ended, on scene, acknowledged, or sent.
func AssignmentStateAt(a api.Assignment, t int64) string {
	switch {
	case a.Ended != 0 && a.Ended <= t:
		return a.State
	case a.Arrived != 0 && a.Arrived <= t:
		return api.AssignOnScene
	case a.Acked != 0 && a.Acked <= t:
		return api.AssignEnroute
	default:
		return api.AssignDispatched
	}
}

// At is the incident as it was at T.
func (p *Replay) At() *Incident { return &p.inc }

// Box is the ground the replay covers: the incident's places, every
// assigned unit's track, and the chosen radius around where it was first
// reported — the units replayed are those that came within it, and a
// dispatcher reviewing the incident wants to see them from the start.
func (p *Replay) Box() Box {
	b := Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180}
	add := func(lat, lon float64) {
		b.MinLat, b.MaxLat = min(b.MinLat, lat), max(b.MaxLat, lat)
		b.MinLon, b.MaxLon = min(b.MinLon, lon), max(b.MaxLon, lon)
	}
	add(p.Incident.Lat, p.Incident.Lon)
	pur := pursuitOf(&p.Incident, nil)
	origin := LatLon{Lat: p.Incident.Lat, Lon: p.Incident.Lon}
	if pur.Origin != nil {
		origin = *pur.Origin
		add(origin.Lat, origin.Lon)
	}
	if p.RadiusM > 0 {
		dLat := float64(p.RadiusM) / 111_195
		dLon := dLat / max(math.Cos(origin.Lat*math.Pi/180), 0.01)
		add(origin.Lat-dLat, origin.Lon-dLon)
		add(origin.Lat+dLat, origin.Lon+dLon)
	}
	for _, s := range pur.Trail {
		add(s.Lat, s.Lon)
	}
	for i, u := range p.Units {
		if !u.Assigned {
			continue
		}
		tr := &p.tracks[i]
		for k := range tr.T {
			add(tr.Lat[k], tr.Lon[k])
		}
	}
	return b
}
