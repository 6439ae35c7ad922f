package api

import "kuaifan/protocol"

// Limits and defaults of GET /api/incidents/{id}/replay.
const (
	// ReplayDefaultRadiusM is the radius used when radius_m is absent.
	ReplayDefaultRadiusM = 2000
	// ReplayMinRadiusM and ReplayMaxRadiusM bound radius_m (inclusive).
	ReplayMinRadiusM = 100
	ReplayMaxRadiusM = 20000
	// ReplayMaxSpanMS is the longest time a replay covers: an incident open
	// longer replays its first 24 hours (Replay.Truncated).
	ReplayMaxSpanMS = 24 * 60 * 60 * 1000
	// ReplayMaxUnits is the most units one replay holds: the assigned
	// ones first, then the nearest (Replay.UnitsLeftOff counts the rest).
	ReplayMaxUnits = 500
	// ReplayMaxPoints is the most positions of one unit in a replay (a
	// day at 1 Hz fits); a unit with more has its first ones.
	ReplayMaxPoints = 100_000
)

// Replay is the answer of GET /api/incidents/{id}/replay: what a client
// needs to play an incident back from its creation to its close (or to the
// time of the call while it is open).
//
// The hub writes it as it reads it, a unit at a time, with the fields in
// this order and "units" last; an answer the hub cannot finish after the
// 200 has gone out is cut off (the connection is aborted), so a body that
// decodes is a complete replay.
type Replay struct {
	// Incident is the incident as GET /api/incidents/{id} answers it, with
	// its timeline (creation, sightings, dispatches, status changes).
	Incident Incident `json:"incident"`
	// From and To are the replayed time, Unix ms (hub clock), inclusive:
	// From is the incident's creation, To its close, or the time of the
	// call while it is open, or From + 24 h (see Truncated).
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Truncated is true when the incident lasted (or has been open) longer
	// than 24 hours: To is then From + 24 h.
	Truncated bool `json:"truncated,omitempty"`
	// RadiusM is the radius the units were chosen with, metres.
	RadiusM int `json:"radius_m"`
	// UnitsLeftOff counts the units within the radius that were left out
	// because the replay already held ReplayMaxUnits.
	UnitsLeftOff int `json:"units_left_off,omitempty"`
	// Units are the tracks: first every unit assigned to the incident (in
	// the order of its assignments), then every other unit that came
	// within RadiusM of where the incident was, nearest first (by its
	// closest fix; ties by id). Never null.
	Units []ReplayUnit `json:"units"`
}

// ReplayUnit is one unit's track during a Replay, columnar: T, Lat and Lon
// have one element per stored position, oldest first.
type ReplayUnit struct {
	Unit     string            `json:"unit"`
	Type     protocol.UnitType `json:"type,omitempty"`     // absent if the hub no longer knows the unit
	Callsign string            `json:"callsign,omitempty"` //
	Assigned bool              `json:"assigned"`           // sent to the incident at some point
	// NearestM is the closest the unit came to the incident's place while
	// it was there, metres, rounded; absent for an assigned unit that
	// never came within the radius.
	NearestM *int `json:"nearest_m,omitempty"`
	// T is each position's GPS time as milliseconds after Replay.From
	// (From + T[i] is the Unix ms time; not deltas between positions).
	T []int64 `json:"t"`
	// Lat and Lon are WGS-84 degrees rounded to 6 decimals (about 0.1 m).
	Lat []float64 `json:"lat"`
	Lon []float64 `json:"lon"`
	// Status is run-length coded: Status[k] holds from position
	// StatusFrom[k] up to the next StatusFrom (or the end). StatusFrom[0]
	// is 0 when the unit has positions; both are empty when it has none.
	Status     []protocol.Status `json:"status"`
	StatusFrom []int             `json:"status_from"`
}

// StatusAt is the status of position i of the unit (i < len(T)), decoding
// the run-length Status.
func (u ReplayUnit) StatusAt(i int) protocol.Status {
	var s protocol.Status
	for k, from := range u.StatusFrom {
		if from > i {
			break
		}
		s = u.Status[k]
	}
	return s
}
