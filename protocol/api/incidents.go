package api

import (
	"fmt"

	"kuaifan/protocol"
)

// Incident statuses, derived from the assignments until it is closed.
const (
	IncidentOpen       = "open"       // no unit assigned (yet, or any more)
	IncidentDispatched = "dispatched" // a unit is assigned and not yet there
	IncidentOnScene    = "on_scene"   // a unit has arrived
	IncidentClosed     = "closed"
)

// Assignment states, from dispatched to one of the ends.
const (
	AssignDispatched = "dispatched" // command sent, waiting for the unit's ack
	AssignEnroute    = "enroute"    // acked
	AssignOnScene    = "on_scene"
	AssignCleared    = "cleared"
	AssignDeclined   = "declined"
	AssignTimeout    = "timeout" // no ack within the policy's timeout
	AssignCancelled  = "cancelled"
)

// AssignmentActive reports whether a unit in this assignment state is still
// on the job (dispatched, enroute or on scene).
func AssignmentActive(state string) bool {
	return state == AssignDispatched || state == AssignEnroute || state == AssignOnScene
}

// Incident is one call for help and everything done about it, as the
// incident calls answer it and the stream carries it.
type Incident struct {
	ID          string       `json:"id"`
	Status      string       `json:"status"`    // one of the Incident* statuses
	Uncovered   bool         `json:"uncovered"` // nobody is there or acknowledged within the first tier, nor free to go within it
	Lat         float64      `json:"lat"`
	Lon         float64      `json:"lon"`
	Kind        string       `json:"kind"`
	Priority    int          `json:"priority"` // 1 (highest) to 3
	Summary     string       `json:"summary,omitempty"`
	Needs       []string     `json:"needs"`            // capabilities every unit sent must have
	Created     int64        `json:"created"`          // Unix ms, hub clock
	Closed      int64        `json:"closed,omitempty"` // Unix ms
	Assignments []Assignment `json:"assignments"`
	Timeline    []Entry      `json:"timeline"`
	Figures     Figures      `json:"figures"`
	Offer       *Offer       `json:"offer,omitempty"` // a better-placed free unit, after a sighting
	// SOS (additive, 2026-12) is the unit whose sos opened the incident
	// (kind KindOfficerHelp); the incident follows its position while open.
	SOS string `json:"sos,omitempty"`
	// SOSSeq is the hub's bookkeeping, as EventSeq: the seq of the latest
	// sos of that unit applied to the incident. It grows with each press of
	// the officer's SOS, not with the officer's moves: the one thing a
	// client may read it for (the dashboard alarms again).
	SOSSeq          uint64           `json:"sos_seq,omitempty"`
	Recommendations []Recommendation `json:"recommendations,omitempty"` // computed when asked (GET, POST answers), never in the stream
}

// Assignment is one unit sent to an incident. Times are Unix ms, hub clock.
type Assignment struct {
	Unit       string `json:"unit"`
	State      string `json:"state"`      // one of the Assign* states
	Command    string `json:"command"`    // id of the dispatch command
	By         string `json:"by"`         // who sent it: dispatcher or auto
	Tier       int    `json:"tier"`       // the tier it was in when sent
	Dispatched int64  `json:"dispatched"` // when the command went out
	Deadline   int64  `json:"deadline"`   // no ack by then is a timeout
	Acked      int64  `json:"acked,omitempty"`
	Arrived    int64  `json:"arrived,omitempty"`
	Ended      int64  `json:"ended,omitempty"` // cleared, declined, timed out or cancelled
	// EventSeq is the hub's bookkeeping, on the wire as it is stored: the
	// seq of the unit's latest event applied to this assignment. A unit may
	// be sent to the same incident again (after a decline, or a reopening);
	// its events up to here belong to this assignment, and a replay after a
	// restart must not apply them to the next one. Clients ignore it.
	EventSeq uint64 `json:"event_seq,omitempty"`
}

// Figures are an incident's response times in seconds from its creation;
// absent until the step happens.
type Figures struct {
	ToDispatchS *float64 `json:"to_dispatch_s,omitempty"`
	ToAckS      *float64 `json:"to_ack_s,omitempty"`
	ToArrivalS  *float64 `json:"to_arrival_s,omitempty"`
	ToCloseS    *float64 `json:"to_close_s,omitempty"`
}

// Offer is a free unit better placed than those on their way, after a
// sighting moved the incident: offered to the dispatcher, not sent.
type Offer struct {
	Unit     string  `json:"unit"`
	ETAS     float64 `json:"eta_s"`
	BestETAS float64 `json:"best_enroute_eta_s"` // the best unit on its way, to the new place
	Sighting int64   `json:"sighting"`           // the sighting that prompted it, Unix ms
}

// Recommendation is a unit ranked for an incident: the match candidate, its
// tier under the dispatch policy, and whether its position is stale (older
// than the freshness bound: ranked after every fresh unit and never
// dispatched automatically).
type Recommendation struct {
	Candidate
	Stale bool `json:"stale"`
}

// NewIncident is the body of POST /api/incidents.
type NewIncident struct {
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Kind     string   `json:"kind"`     // [a-z0-9_-]{1,32}, e.g. one of Kinds
	Priority int      `json:"priority"` // 1 (highest) to 3
	Summary  string   `json:"summary"`  // at most 1024 bytes
	Needs    []string `json:"needs"`    // at most 8 capabilities
}

// Limits of a NewIncident: the hub refuses more, and a client that
// generates incidents (the simulator) keeps within them.
const (
	MaxIncidentSummary = 1024 // bytes
	MaxIncidentNeeds   = 8
	MaxSightingSource  = 128 // bytes
)

// Check reports what the hub refuses in a new incident.
func (n NewIncident) Check() error {
	switch {
	case !protocol.ValidLatLon(n.Lat, n.Lon):
		return fmt.Errorf("lat, lon %v, %v are not WGS-84 degrees", n.Lat, n.Lon)
	case !protocol.ValidCapability(n.Kind):
		return fmt.Errorf("kind %q is not [a-z0-9_-]{1,32}", n.Kind)
	case n.Priority < 1 || n.Priority > 3:
		return fmt.Errorf("priority %d is not 1 (highest), 2 or 3", n.Priority)
	case len(n.Summary) > MaxIncidentSummary:
		return fmt.Errorf("summary longer than %d bytes", MaxIncidentSummary)
	case len(n.Needs) > MaxIncidentNeeds:
		return fmt.Errorf("more than %d needs", MaxIncidentNeeds)
	}
	for _, c := range n.Needs {
		if !protocol.ValidCapability(c) {
			return fmt.Errorf("need %q is not [a-z0-9_-]{1,32}", c)
		}
	}
	return nil
}

// Check reports what the hub refuses in a sighting.
func (s Sighting) Check() error {
	if !protocol.ValidLatLon(s.Lat, s.Lon) {
		return fmt.Errorf("lat, lon %v, %v are not WGS-84 degrees", s.Lat, s.Lon)
	}
	if len(s.Source) > MaxSightingSource {
		return fmt.Errorf("source longer than %d bytes", MaxSightingSource)
	}
	if len(s.Note) > MaxSightingNote {
		return fmt.Errorf("note longer than %d bytes", MaxSightingNote)
	}
	if s.Camera != "" && !validCameraID(s.Camera) {
		return fmt.Errorf("camera %q is not [A-Za-z0-9_.:-]{1,64}", s.Camera)
	}
	return nil
}

// validCameraID is the camera id pattern [A-Za-z0-9_.:-]{1,64}
// (kuaifan/protocol/cameras.ValidID).
func validCameraID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// Sighting is the body of POST /api/incidents/{id}/sightings: a camera or a
// caller saw the incident somewhere else. Source is free text; the
// dashboard sends "camera", "caller" or "officer". Note and Camera are
// additive (2026-12): what the person typed, and the id of the camera of
// GET /api/cameras it was seen on (the hub refuses an id it does not know).
type Sighting struct {
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Source string  `json:"source"`           // at most 128 bytes
	Note   string  `json:"note,omitempty"`   // at most 512 bytes
	Camera string  `json:"camera,omitempty"` // a camera's id
}

// MaxSightingNote is the longest Sighting.Note, in bytes.
const MaxSightingNote = 512

// DismissOffer is the body of POST /api/incidents/{id}/offer/dismiss
// (additive, 2026-12): the dispatcher turns the offered unit down; Note is
// why, if they said (at most 512 bytes).
type DismissOffer struct {
	Note string `json:"note,omitempty"`
}

// Assign is the body of POST /api/incidents/{id}/assign: the unit to send.
type Assign struct {
	Unit string `json:"unit"`
}

// Close is the optional body of POST /api/incidents/{id}/close: the
// person's words, at most 512 bytes after trimming (an empty body closes
// without them).
type Close struct {
	Note string `json:"note"`
}

// Reopen is the body of POST /api/incidents/{id}/reopen: why it is opened
// again, 1 to 512 bytes after trimming.
type Reopen struct {
	Reason string `json:"reason"`
}

// Camera is one camera of a camera network (a 天网 inventory), as the hub
// serves its -cameras file at GET /api/cameras: a sighting can be reported
// from it (Sighting.Camera).
type Camera struct {
	ID   string  `json:"id"`   // [A-Za-z0-9_.:-]{1,64}, unique in the set
	Name string  `json:"name"` // as given, e.g. "黄兴南路·南门口"; at most 128 bytes
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
}
