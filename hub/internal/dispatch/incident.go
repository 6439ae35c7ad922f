package dispatch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"kuaifan/protocol/api"
)

// Incident statuses, under the names the hub's code has always used: the
// API's (kuaifan/protocol/api).
const (
	StatusOpen       = api.IncidentOpen       // no unit assigned (yet, or any more)
	StatusDispatched = api.IncidentDispatched // a unit is assigned and not yet there
	StatusOnScene    = api.IncidentOnScene    // a unit has arrived
	StatusClosed     = api.IncidentClosed
)

// Assignment states, from dispatched to one of the ends (kuaifan/protocol/api).
const (
	AssignDispatched = api.AssignDispatched // command sent, waiting for the unit's ack
	AssignEnroute    = api.AssignEnroute    // acked
	AssignOnScene    = api.AssignOnScene
	AssignCleared    = api.AssignCleared
	AssignDeclined   = api.AssignDeclined
	AssignTimeout    = api.AssignTimeout // no ack within the policy's timeout
	AssignCancelled  = api.AssignCancelled
)

// active reports whether a unit in this assignment state is still on the job.
func active(state string) bool { return api.AssignmentActive(state) }

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

	EventUpdateLocation = api.EntryUpdateLocation
	EventOfferDismissed = api.EntryOfferDismissed
)

// Actors other than a unit's id.
const (
	ActorDispatcher = api.ActorDispatcher
	ActorAuto       = api.ActorAuto   // the hub's own decision
	ActorSystem     = api.ActorSystem // a timer
)

// The incident and its parts are the API's types (kuaifan/protocol/api): the
// hub stores, answers and streams them as they are, so it writes what the
// dashboard reads. The functions below are the dispatcher's own operations on
// them.
type (
	// Incident is one call for help and everything done about it. Its
	// Recommendations are computed when asked, never stored; Uncovered is
	// kept up to date by cover.go.
	Incident = api.Incident
	// Assignment is one unit sent to the incident. EventSeq is the seq of
	// the unit's latest event applied to it: a unit may be sent to the same
	// incident again (after a decline, or a reopening); its events up to
	// here belong to this assignment, and a replay after a restart must not
	// apply them to the next one.
	Assignment = api.Assignment
	// Entry is one step on the timeline. Once added, an entry is never
	// changed (clones share its Params).
	Entry = api.Entry
	// Figures are the incident's response times in seconds from its
	// creation; absent until the step happens.
	Figures = api.Figures
	// Offer is a free unit better placed than those on their way.
	Offer = api.Offer
	// Recommendation is a ranked unit for the incident: the match
	// candidate, the tier it falls in under the policy, and whether its
	// position is stale (ranked after every fresh unit).
	Recommendation = api.Recommendation
	// NewIncident is what a call-taker or dispatcher reports.
	NewIncident = api.NewIncident
	// Sighting moves an incident: a camera or a caller saw it somewhere else.
	Sighting = api.Sighting
)

// ErrInvalid wraps a message for the caller about bad input.
var ErrInvalid = errors.New("invalid")

// validateNew reports what is wrong with a new incident: the contract's
// check, as the hub's ErrInvalid.
func validateNew(n *NewIncident) error {
	if err := n.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// validateSighting reports what is wrong with a sighting, and trims its
// note as every note a person types is.
func validateSighting(s *Sighting) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.Note = strings.TrimSpace(s.Note)
	return nil
}

// add puts a step on the incident's timeline at ts.
func add(inc *Incident, ts time.Time, e Entry) {
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

// assignmentOf is the unit's latest assignment to the incident.
func assignmentOf(inc *Incident, unit string) *Assignment {
	for i := len(inc.Assignments) - 1; i >= 0; i-- {
		if inc.Assignments[i].Unit == unit {
			return &inc.Assignments[i]
		}
	}
	return nil
}

// belongsEarlier reports whether an event of a's unit is one an earlier
// assignment of that unit to the incident already took (or one older still).
func belongsEarlier(inc *Incident, a *Assignment, seq uint64) bool {
	for i := range inc.Assignments {
		if b := &inc.Assignments[i]; b != a && b.Unit == a.Unit && seq <= b.EventSeq {
			return true
		}
	}
	return false
}

// settle derives the incident's status from its assignments.
func settle(inc *Incident) {
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

// since records a figure of the incident the first time a step happens.
func since(inc *Incident, f **float64, at int64) {
	if *f == nil {
		v := float64(at-inc.Created) / 1000
		*f = &v
	}
}

// clone is a deep copy of an incident, for handing out while the original
// keeps changing.
func clone(inc *Incident) Incident {
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
