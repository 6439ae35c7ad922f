package ui

import (
	"math"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Store is the dashboard's picture of the hub: every unit and open incident
// as the stream last said, plus today's closed incidents for the figures.
// It is plain data: the stream client hands it frames, the panels and the
// map read it. Not safe for concurrent use (the Console's lock guards it).
type Store struct {
	Units     map[string]*UnitState
	Incidents map[string]*Incident // not closed
	History   map[string]*Incident // closed, kept a day for today's figures

	Seq      uint64    // of the last frame applied
	HubTS    int64     // hub clock of the last frame, Unix ms
	Received time.Time // local clock when the last frame arrived
	Skew     int64     // hub clock − local clock, ms (from the last frame)
	Synced   bool      // a snapshot has been applied

	// Districts are the city's (from the hub); each unit knows which it is
	// in (UnitState.District).
	Districts []District
	// Cameras are the hub's camera set (GET /api/cameras; none when the
	// hub has none), in its order; SetCameras indexes them.
	Cameras     []api.Camera
	cameraIndex map[string]int
	// Cover is the city's coverage layer from the stream (coverage.go);
	// nil when the hub sends none.
	Cover *CoverLayer

	// Counters, for the link line and tests.
	Frames, Snapshots, Resyncs, Gaps int

	conn   uint64   // the stream connection the last frame came on
	sorted []string // unit ids in NaturalCompare order; nil when units came or went
}

// locate finds the unit's district.
func (u *UnitState) locate(ds []District) {
	u.District, u.DistrictID = -1, ""
	if u.HasFix {
		if u.District = districtAt(ds, u.Lat, u.Lon); u.District >= 0 {
			u.DistrictID = ds[u.District].ID
		}
	}
}

// SetDistricts replaces the city's districts and files every unit under
// its own.
func (s *Store) SetDistricts(ds []District) {
	s.Districts = ds
	for _, u := range s.Units {
		u.locate(ds)
	}
}

// DistrictName is the name in lang of the unit's district, "" outside.
func (s *Store) DistrictName(u *UnitState, lang Lang) string {
	if u.District < 0 || u.District >= len(s.Districts) {
		return ""
	}
	return s.Districts[u.District].Name(lang)
}

// SortedIDs is every unit id in natural order, re-sorted only after units
// were added or removed (not on every move: the panel renders each second).
func (s *Store) SortedIDs() []string {
	if s.sorted == nil {
		s.sorted = make([]string, 0, len(s.Units))
		for id := range s.Units {
			s.sorted = append(s.sorted, id)
		}
		slices.SortFunc(s.sorted, NaturalCompare)
	}
	return s.sorted
}

// UnitState is a unit as the map draws it: the hub's view plus what the
// dashboard derives from it once per update rather than once per frame.
type UnitState struct {
	Unit
	HasFix     bool
	Lat, Lon   float64
	FixTS      int64   // GPS time of the fix, Unix ms
	MX, MY     float64 // Web Mercator unit-square position
	Heading    float64 // degrees, valid if HasHeading
	HasHeading bool
	District   int    // index in the store's Districts, -1 outside
	DistrictID string // its id, "" outside
}

func (u *UnitState) set(v *Unit, ds []District) {
	had := u.HasFix
	u.Unit = *v
	u.HasFix = v.Lat != nil && v.Lon != nil && v.TS != nil && protocol.ValidLatLon(*v.Lat, *v.Lon)
	switch {
	case !u.HasFix:
		u.Lat, u.Lon, u.FixTS, u.MX, u.MY = 0, 0, 0, 0, 0
		u.locate(nil)
	case !had || u.Lat != *v.Lat || u.Lon != *v.Lon:
		// Projection and district once per move, not once per drawn frame.
		u.Lat, u.Lon = *v.Lat, *v.Lon
		u.MX, u.MY = mercX(u.Lon), mercY(u.Lat)
		u.locate(ds)
		fallthrough
	default:
		u.FixTS = *v.TS
	}
	u.HasHeading = v.HeadingDeg != nil && !math.IsNaN(*v.HeadingDeg) &&
		(v.SpeedMPS == nil || *v.SpeedMPS >= MovingMPS)
	u.Heading = 0
	if u.HasHeading {
		u.Heading = *v.HeadingDeg
	}
}

// Freshness: a position older than this is stale (the hub's -max-fix-age).
const (
	StaleAfter = 2 * time.Minute
	MovingMPS  = 0.5 // slower than this, a heading is noise and is not drawn
)

// Fresh reports whether the unit's fix is recent at hub time nowMS.
func (u *UnitState) Fresh(nowMS int64) bool {
	return u.HasFix && nowMS-u.FixTS <= StaleAfter.Milliseconds()
}

// FixAge is the age of the unit's position at hub time nowMS (0 without a fix).
func (u *UnitState) FixAge(nowMS int64) time.Duration {
	if !u.HasFix {
		return 0
	}
	return time.Duration(max(0, nowMS-u.FixTS)) * time.Millisecond
}

// Dispatchable: online, available and fresh — what the hub would match.
func (u *UnitState) Dispatchable(nowMS int64) bool {
	return u.Online && u.Status == protocol.StatusAvailable && u.Incident == "" && u.Fresh(nowMS)
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{Units: map[string]*UnitState{}, Incidents: map[string]*Incident{}, History: map[string]*Incident{}}
}

// Change says what a frame changed.
type Change uint8

const (
	ChangedUnits Change = 1 << iota
	ChangedIncidents
	ChangedResync   // a snapshot replaced the state
	ChangedCoverage // the coverage layer's cells or figures
)

// Apply applies one frame: a snapshot replaces every unit and open incident
// (a mid-stream snapshot is the hub resyncing a client that fell behind); a
// delta overwrites the units and incidents it carries (latest wins) and
// drops the removed ones. A closed incident moves to History. The coverage
// layer follows the same rule (applyCoverage).
func (s *Store) Apply(f *Frame) Change {
	var ch Change
	sameConn := s.Frames > 0 && f.conn == s.conn
	switch f.Type {
	case api.FrameSnapshot:
		if sameConn {
			s.Resyncs++
		}
		s.Snapshots++
		s.Synced = true
		ch |= ChangedUnits | ChangedIncidents | ChangedResync
		seen := make(map[string]struct{}, len(f.Units))
		for i := range f.Units {
			seen[f.Units[i].ID] = struct{}{}
		}
		for id := range s.Units {
			if _, ok := seen[id]; !ok {
				delete(s.Units, id)
				s.sorted = nil
			}
		}
		// Open incidents missing from it closed (or went) while this
		// client was not looking: the snapshot is the truth.
		clear(s.Incidents)
	case api.FrameDelta:
		if sameConn && f.Seq != s.Seq+1 {
			s.Gaps++ // the hub follows a dropped backlog with a snapshot
		}
	default:
		return 0
	}
	for i := range f.Units {
		v := &f.Units[i]
		if v.ID == "" {
			continue
		}
		u := s.Units[v.ID]
		if u == nil {
			u = &UnitState{District: -1}
			s.Units[v.ID] = u
			s.sorted = nil
		}
		u.set(v, s.Districts)
		ch |= ChangedUnits
	}
	for _, id := range f.RemovedUnits {
		if _, ok := s.Units[id]; ok {
			delete(s.Units, id)
			s.sorted = nil
		}
		ch |= ChangedUnits
	}
	for i := range f.Incidents {
		inc := f.Incidents[i]
		if inc.ID == "" {
			continue
		}
		s.putIncident(&inc)
		ch |= ChangedIncidents
	}
	for _, id := range f.RemovedIncidents {
		delete(s.Incidents, id)
		ch |= ChangedIncidents
	}
	if s.applyCoverage(f) {
		ch |= ChangedCoverage
	}
	s.Frames++
	s.Seq = f.Seq
	s.HubTS = f.TS
	s.conn = f.conn
	if f.received != 0 {
		s.Received = time.UnixMilli(f.received)
		s.Skew = f.TS - f.received
	}
	if f.Type == api.FrameSnapshot {
		s.pruneHistory(f.TS - 24*time.Hour.Milliseconds())
	}
	return ch
}

// putIncident files an incident under its status.
func (s *Store) putIncident(inc *Incident) {
	inc.Recommendations = nil // only the detail fetch carries fresh ones
	if inc.Status == api.IncidentClosed {
		delete(s.Incidents, inc.ID)
		s.History[inc.ID] = inc
		return
	}
	delete(s.History, inc.ID)
	s.Incidents[inc.ID] = inc
}

// Merge files an incident that came from an API answer (create, assign,
// close, detail): it replaces the stream's copy only if it is at least as
// new — the stream may already have shown a later step.
func (s *Store) Merge(inc *Incident) bool {
	old := s.Incident(inc.ID)
	if old != nil && !newerIncident(inc, old) {
		return false
	}
	c := *inc
	s.putIncident(&c)
	return true
}

// Incident finds an incident, open or closed.
func (s *Store) Incident(id string) *Incident {
	if inc := s.Incidents[id]; inc != nil {
		return inc
	}
	return s.History[id]
}

// newerIncident reports whether a is at least as new as b. Incidents carry
// no version; their timeline only grows, and closing and reopening each add
// an entry. The hub caps a timeline at 1000 entries: past that, a closed
// copy is taken as the newer.
func newerIncident(a, b *Incident) bool {
	if len(a.Timeline) != len(b.Timeline) {
		return len(a.Timeline) > len(b.Timeline)
	}
	if (a.Status == api.IncidentClosed) != (b.Status == api.IncidentClosed) {
		return a.Status == api.IncidentClosed
	}
	return len(a.Assignments) >= len(b.Assignments)
}

func (s *Store) pruneHistory(beforeMS int64) {
	for id, inc := range s.History {
		if inc.Created < beforeMS {
			delete(s.History, id)
		}
	}
}

// AddHistory files closed incidents from GET /api/incidents?status=all, for
// today's figures; open ones come from the stream.
func (s *Store) AddHistory(incs []Incident) {
	for i := range incs {
		if incs[i].Status != api.IncidentClosed {
			continue
		}
		if old := s.History[incs[i].ID]; old == nil || newerIncident(&incs[i], old) {
			c := incs[i]
			c.Recommendations = nil
			s.History[c.ID] = &c
		}
	}
}

// HubNow estimates the hub's clock now, from the skew seen on the last
// frame: unit ages use the hub's clock so a wrong browser clock does not
// make every unit look stale (or fresh).
func (s *Store) HubNow(local time.Time) int64 {
	return local.UnixMilli() + s.Skew
}

// DataAge is how long ago the newest frame arrived (0 before any).
func (s *Store) DataAge(local time.Time) time.Duration {
	if s.Received.IsZero() {
		return 0
	}
	return max(0, local.Sub(s.Received))
}
