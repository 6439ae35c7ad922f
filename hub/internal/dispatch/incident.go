package dispatch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"kuaifan/hub/internal/match"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Incident statuses.
const (
	StatusOpen       = "open"       // no unit assigned (yet, or any more)
	StatusDispatched = "dispatched" // a unit is assigned and not yet there
	StatusOnScene    = "on_scene"   // a unit has arrived
	StatusClosed     = "closed"
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

func active(state string) bool {
	return state == AssignDispatched || state == AssignEnroute || state == AssignOnScene
}

// Timeline entry types, under the names the hub's code has always used: the
// shared vocabulary's (kuaifan/protocol/api), which the dashboard renders.
const (
	EventCreated     = api.EntryCreated
	EventRecommended = api.EntryRecommended
	EventUncovered   = api.EntryUncovered
	EventCovered     = api.EntryCovered
	EventDispatched  = api.EntryDispatched
	EventAck         = api.EntryAck
	EventDecline     = api.EntryDecline
	EventTimeout     = api.EntryTimeout
	EventSighting    = api.EntrySighting
	EventOffered     = api.EntryOffered
	EventArrived     = api.EntryArrived
	EventCleared     = api.EntryCleared
	EventCancelled   = api.EntryCancelled
	EventClosed      = api.EntryClosed
	EventReopened    = api.EntryReopened
)

// Actors other than a unit's id.
const (
	ActorDispatcher = api.ActorDispatcher
	ActorAuto       = api.ActorAuto   // the hub's own decision
	ActorSystem     = api.ActorSystem // a timer
)

// Incident is one call for help and everything done about it.
type Incident struct {
	ID              string           `json:"id"`
	Status          string           `json:"status"`
	Uncovered       bool             `json:"uncovered"` // nobody is there or acknowledged within the first tier, nor free to go within it (cover.go)
	Lat             float64          `json:"lat"`
	Lon             float64          `json:"lon"`
	Kind            string           `json:"kind"`
	Priority        int              `json:"priority"`
	Summary         string           `json:"summary,omitempty"`
	Needs           []string         `json:"needs"`
	Created         int64            `json:"created"`          // Unix ms
	Closed          int64            `json:"closed,omitempty"` // Unix ms
	Assignments     []Assignment     `json:"assignments"`
	Timeline        []Entry          `json:"timeline"`
	Figures         Figures          `json:"figures"`
	Offer           *Offer           `json:"offer,omitempty"`           // a better-placed free unit, after a sighting
	Recommendations []Recommendation `json:"recommendations,omitempty"` // computed when asked, never stored
}

// Assignment is one unit sent to the incident.
type Assignment struct {
	Unit       string `json:"unit"`
	State      string `json:"state"`
	Command    string `json:"command"`    // id of the dispatch command
	By         string `json:"by"`         // who sent it: dispatcher or auto
	Tier       int    `json:"tier"`       // the tier it was in when sent
	Dispatched int64  `json:"dispatched"` // Unix ms, hub clock
	Deadline   int64  `json:"deadline"`   // Unix ms: no ack by then is a timeout
	Acked      int64  `json:"acked,omitempty"`
	Arrived    int64  `json:"arrived,omitempty"`
	Ended      int64  `json:"ended,omitempty"` // cleared, declined, timed out or cancelled
	// EventSeq is the seq of the unit's latest event applied to this
	// assignment. A unit may be sent to the same incident again (after a
	// decline, or a reopening); its events up to here belong to this
	// assignment, and a replay after a restart must not apply them to the
	// next one.
	EventSeq uint64 `json:"event_seq,omitempty"`
}

// Entry is one step on the timeline: the shared type, so the hub writes what
// the dashboard reads. Once added, an entry is never changed (clones share
// its Params).
type Entry = api.Entry

// Figures are the incident's response times in seconds from its creation;
// absent until the step happens.
type Figures struct {
	ToDispatchS *float64 `json:"to_dispatch_s,omitempty"`
	ToAckS      *float64 `json:"to_ack_s,omitempty"`
	ToArrivalS  *float64 `json:"to_arrival_s,omitempty"`
	ToCloseS    *float64 `json:"to_close_s,omitempty"`
}

// Offer is a free unit better placed than those on their way.
type Offer struct {
	Unit     string  `json:"unit"`
	ETAS     float64 `json:"eta_s"`
	BestETAS float64 `json:"best_enroute_eta_s"` // the best unit on its way, to the new place
	Sighting int64   `json:"sighting"`           // the sighting that prompted it, Unix ms
}

// Recommendation is a ranked unit for the incident: the match candidate,
// the tier it falls in under the policy, and whether its position is stale.
type Recommendation struct {
	match.Candidate
	Stale bool `json:"stale"` // older than the freshness bound: ranked after every fresh unit
}

// NewIncident is what a call-taker or dispatcher reports.
type NewIncident struct {
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Kind     string   `json:"kind"`
	Priority int      `json:"priority"`
	Summary  string   `json:"summary"`
	Needs    []string `json:"needs"`
}

// ErrInvalid wraps a message for the caller about bad input.
var ErrInvalid = errors.New("invalid")

func (n *NewIncident) validate() error {
	switch {
	case !protocol.ValidLatLon(n.Lat, n.Lon):
		return fmt.Errorf("%w: lat, lon %v, %v are not WGS-84 degrees", ErrInvalid, n.Lat, n.Lon)
	case !protocol.ValidCapability(n.Kind):
		return fmt.Errorf("%w: kind %q is not [a-z0-9_-]{1,32}", ErrInvalid, n.Kind)
	case n.Priority < 1 || n.Priority > 3:
		return fmt.Errorf("%w: priority %d is not 1 (highest), 2 or 3", ErrInvalid, n.Priority)
	case len(n.Summary) > 1024:
		return fmt.Errorf("%w: summary longer than 1024 bytes", ErrInvalid)
	case len(n.Needs) > 8:
		return fmt.Errorf("%w: more than 8 needs", ErrInvalid)
	}
	for _, c := range n.Needs {
		if !protocol.ValidCapability(c) {
			return fmt.Errorf("%w: need %q is not [a-z0-9_-]{1,32}", ErrInvalid, c)
		}
	}
	return nil
}

// Sighting moves an incident: a camera or a caller saw it somewhere else.
type Sighting struct {
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Source string  `json:"source"`
}

func (s *Sighting) validate() error {
	if !protocol.ValidLatLon(s.Lat, s.Lon) {
		return fmt.Errorf("%w: lat, lon %v, %v are not WGS-84 degrees", ErrInvalid, s.Lat, s.Lon)
	}
	if len(s.Source) > 128 {
		return fmt.Errorf("%w: source longer than 128 bytes", ErrInvalid)
	}
	return nil
}

// add puts a step on the timeline at ts.
func (inc *Incident) add(ts time.Time, e Entry) {
	const maxTimeline = 1000
	if len(inc.Timeline) >= maxTimeline {
		return
	}
	e.TS = ts.UnixMilli()
	inc.Timeline = append(inc.Timeline, e)
}

// maxNote is the most a person may type as a reason or note, in bytes.
const maxNote = 512

// cleanNote trims what a person typed and checks its length; required: it may
// not be empty.
func cleanNote(s, field string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, field)
	case len(s) > maxNote:
		return "", fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, field, maxNote)
	}
	return s, nil
}

// assignment is the unit's latest assignment to the incident.
func (inc *Incident) assignment(unit string) *Assignment {
	for i := len(inc.Assignments) - 1; i >= 0; i-- {
		if inc.Assignments[i].Unit == unit {
			return &inc.Assignments[i]
		}
	}
	return nil
}

// belongsEarlier reports whether an event of a's unit is one an earlier
// assignment of that unit to the incident already took (or one older still).
func (inc *Incident) belongsEarlier(a *Assignment, seq uint64) bool {
	for i := range inc.Assignments {
		if b := &inc.Assignments[i]; b != a && b.Unit == a.Unit && seq <= b.EventSeq {
			return true
		}
	}
	return false
}

// settle derives the incident's status from its assignments.
func (inc *Incident) settle() {
	if inc.Status == StatusClosed {
		return
	}
	inc.Status = StatusOpen
	for _, a := range inc.Assignments {
		switch a.State {
		case AssignOnScene:
			inc.Status = StatusOnScene
			return
		case AssignDispatched, AssignEnroute:
			inc.Status = StatusDispatched
		}
	}
}

// since records a figure the first time a step happens.
func (inc *Incident) since(f **float64, at int64) {
	if *f == nil {
		v := float64(at-inc.Created) / 1000
		*f = &v
	}
}

// clone is a deep copy, for handing out while the original keeps changing.
func (inc *Incident) clone() Incident {
	c := *inc
	c.Needs = append([]string{}, inc.Needs...)
	c.Assignments = append([]Assignment{}, inc.Assignments...)
	c.Timeline = append([]Entry{}, inc.Timeline...)
	if inc.Offer != nil {
		o := *inc.Offer
		c.Offer = &o
	}
	c.Recommendations = nil
	return c
}
