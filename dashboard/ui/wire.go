package ui

import (
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The JSON the dashboard reads. These types mirror the hub's on purpose
// instead of importing them: the hub's packages would drag buntdb, paho and
// the broker into app.wasm. Keep them in step with
//
//	Unit       ← hub/internal/fleet/fleet.go        View
//	Incident   ← hub/internal/dispatch/incident.go  Incident (+ Assignment, Entry, Figures, Offer, Recommendation)
//	Candidate  ← hub/internal/match/match.go        Candidate
//	Frame      ← hub/internal/stream/stream.go      the snapshot and delta frames
//
// A field the hub adds is ignored here until the dashboard needs it; a field
// renamed or removed shows up as a zero value, which the tests in
// wire_test.go pin against the hub README's examples.

// Unit is one patrol unit as GET /api/units and the stream show it.
type Unit struct {
	ID           string            `json:"id"`
	Type         protocol.UnitType `json:"type"`
	Callsign     string            `json:"callsign,omitempty"`
	Capabilities []string          `json:"capabilities"`
	Status       protocol.Status   `json:"status,omitempty"`
	Online       bool              `json:"online"`
	Lat          *float64          `json:"lat"` // nil until the unit's first fix
	Lon          *float64          `json:"lon"`
	TS           *int64            `json:"ts"` // GPS time of the fix, Unix ms
	Seq          *uint64           `json:"seq,omitempty"`
	AccM         *float64          `json:"acc_m,omitempty"`
	SpeedMPS     *float64          `json:"speed_mps,omitempty"`
	HeadingDeg   *float64          `json:"heading_deg,omitempty"`
	Battery      *float64          `json:"battery,omitempty"`
	LastSeen     int64             `json:"last_seen,omitempty"` // hub time of its last message, Unix ms
	Incident     string            `json:"incident,omitempty"`  // the incident it is assigned to
}

// Incident statuses and assignment states, as the hub names them.
const (
	IncOpen       = "open"
	IncDispatched = "dispatched"
	IncOnScene    = "on_scene"
	IncClosed     = "closed"

	AsgDispatched = "dispatched" // waiting for the unit's ack
	AsgEnroute    = "enroute"
	AsgOnScene    = "on_scene"
	AsgCleared    = "cleared"
	AsgDeclined   = "declined"
	AsgTimeout    = "timeout"
	AsgCancelled  = "cancelled"
)

// activeAssignment reports whether a unit in this state is still on the job.
func activeAssignment(state string) bool {
	return state == AsgDispatched || state == AsgEnroute || state == AsgOnScene
}

// Incident is one call for help and everything done about it.
type Incident struct {
	ID              string           `json:"id"`
	Status          string           `json:"status"`
	Uncovered       bool             `json:"uncovered"` // nobody fresh could reach it within the first tier
	Lat             float64          `json:"lat"`
	Lon             float64          `json:"lon"`
	Kind            string           `json:"kind"`
	Priority        int              `json:"priority"`
	Summary         string           `json:"summary,omitempty"`
	Needs           []string         `json:"needs"`
	Created         int64            `json:"created"`          // Unix ms, hub clock
	Closed          int64            `json:"closed,omitempty"` // Unix ms
	Assignments     []Assignment     `json:"assignments"`
	Timeline        []Entry          `json:"timeline"`
	Figures         Figures          `json:"figures"`
	Offer           *Offer           `json:"offer,omitempty"`
	Recommendations []Recommendation `json:"recommendations,omitempty"` // only from GET/POST, never in the stream
}

// Assignment is one unit sent to an incident.
type Assignment struct {
	Unit       string `json:"unit"`
	State      string `json:"state"`
	Command    string `json:"command"`
	By         string `json:"by"`
	Tier       int    `json:"tier"`
	Dispatched int64  `json:"dispatched"`
	Deadline   int64  `json:"deadline"`
	Acked      int64  `json:"acked,omitempty"`
	Arrived    int64  `json:"arrived,omitempty"`
	Ended      int64  `json:"ended,omitempty"`
}

// Entry is one step on an incident's timeline, with the reason behind it
// (kuaifan/protocol/api: the hub writes it, EntryText renders it).
type Entry = api.Entry

// Figures are response times in seconds from the incident's creation; nil
// until the step happens.
type Figures struct {
	ToDispatchS *float64 `json:"to_dispatch_s,omitempty"`
	ToAckS      *float64 `json:"to_ack_s,omitempty"`
	ToArrivalS  *float64 `json:"to_arrival_s,omitempty"`
	ToCloseS    *float64 `json:"to_close_s,omitempty"`
}

// Offer is a free unit better placed than those on their way (after a sighting).
type Offer struct {
	Unit     string  `json:"unit"`
	ETAS     float64 `json:"eta_s"`
	BestETAS float64 `json:"best_enroute_eta_s"`
	Sighting int64   `json:"sighting"`
}

// Candidate is a ranked unit for a place (GET /api/match).
type Candidate struct {
	Unit      string            `json:"unit"`
	Type      protocol.UnitType `json:"type"`
	DistanceM float64           `json:"distance_m"`
	ETAS      float64           `json:"eta_s"`
	Tier      int               `json:"tier"` // 1 (≤ 1 min), 2 (≤ 3 min), 3 (≤ 5 min), 4 (beyond)
	FixAgeS   float64           `json:"fix_age_s"`
	Lat       float64           `json:"lat"`
	Lon       float64           `json:"lon"`
}

// Recommendation is a candidate for an incident; stale ones rank after every
// fresh one and are never dispatched automatically.
type Recommendation struct {
	Candidate
	Stale bool `json:"stale"`
}

// NewIncident is the body of POST /api/incidents.
type NewIncident struct {
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Kind     string   `json:"kind"`
	Priority int      `json:"priority"`
	Summary  string   `json:"summary"`
	Needs    []string `json:"needs"`
}

// TrackPoint is one stored position (GET /api/units/{id}/track).
type TrackPoint struct {
	Seq    uint64          `json:"seq"`
	TS     int64           `json:"ts"`
	Lat    float64         `json:"lat"`
	Lon    float64         `json:"lon"`
	Status protocol.Status `json:"status"`
}

// Ticket is the answer of POST /api/stream/ticket: single use, valid ~30 s.
type Ticket struct {
	Ticket     string  `json:"ticket"`
	Expires    int64   `json:"expires"`
	ExpiresInS float64 `json:"expires_in_s"`
}

// Frame is one message of GET /ws: a snapshot (every unit and open incident)
// or a delta (what changed in the hub's last window, latest state per id).
type Frame struct {
	Type             string     `json:"type"` // "snapshot" or "delta"
	Seq              uint64     `json:"seq"`
	TS               int64      `json:"ts"` // hub clock when built, Unix ms
	Units            []Unit     `json:"units"`
	Incidents        []Incident `json:"incidents"`
	RemovedUnits     []string   `json:"removed_units"`
	RemovedIncidents []string   `json:"removed_incidents"`

	conn     uint64 // which connection of the stream client it came on
	received int64  // local clock at arrival, Unix ms
}

// Frame types.
const (
	FrameSnapshot = "snapshot"
	FrameDelta    = "delta"
)
