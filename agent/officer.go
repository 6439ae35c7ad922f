package agent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"kuaifan/agent/internal/queue"
	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// Assignment is the incident the unit is dispatched to. Its fields are
// those of the officer's terminal (internal/terminal.Assignment), so one
// converts to the other.
type Assignment struct {
	Incident string    `json:"incident"`
	Lat      float64   `json:"lat"` // the target: the incident's place, moved by update_location
	Lon      float64   `json:"lon"`
	Priority int       `json:"priority"` // 1 (highest) … 3
	Kind     string    `json:"kind"`
	Summary  string    `json:"summary"`
	State    string    `json:"state"`    // StateDispatched, StateEnroute or StateOnScene
	Received time.Time `json:"received"` // when the dispatch arrived
}

// Reposition is a move-up the hub asked of the unit (a reposition command,
// additive 2026-12): go to Lat, Lon to improve the city's coverage, and
// stay available for dispatch on the way. It is kept apart from the
// assignment — the status does not follow it — and ends when the unit
// arrives (an arrived event naming ID), when the hub cancels it, or when a
// dispatch takes the unit. Its fields are those of the officer's terminal
// (internal/terminal.Reposition), so one converts to the other.
type Reposition struct {
	ID       string    `json:"id"` // the move-up's id: the command's incident field
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Summary  string    `json:"summary,omitempty"`
	Received time.Time `json:"received"` // when the reposition arrived
}

// Task is one of the unit's patrol tasks running now (a tasks command,
// additive 2026-12): a checkpoint to hold, a route to drive or an area to
// be present in, from the plans a supervisor keeps at the hub — the
// officer's terminal's type (internal/terminal.Task), the command's fields
// with its Unix-ms times as times.
type Task = terminal.Task

// taskOf is a command's task as the agent gives it out.
func taskOf(p protocol.PatrolTask) Task {
	t := Task{Plan: p.Plan, ID: p.ID, Kind: p.Kind, Name: p.Name, Shift: p.Shift,
		ShiftStart: time.UnixMilli(p.ShiftStart).UTC(), ShiftEnd: time.UnixMilli(p.ShiftEnd).UTC(),
		Lat: p.Lat, Lon: p.Lon, RadiusM: p.RadiusM, DwellMin: p.DwellMin, LengthM: p.LengthM,
		CoverShare: p.CoverShare, MinPresenceMin: p.MinPresenceMin}
	if p.To > 0 { // the contract's "absent": no window
		t.From, t.To = time.UnixMilli(p.From).UTC(), time.UnixMilli(p.To).UTC()
	}
	return t
}

// RepositionEnd is how a reposition ended, for Config.OnReposition; the
// zero value means it has not: it is the unit's reposition now.
type RepositionEnd string

const (
	// RepositionOn: a reposition command gave the unit this move-up (a new
	// one, or the same id to another spot).
	RepositionOn RepositionEnd = ""
	// RepositionArrived: the unit got there; the arrived event is queued.
	RepositionArrived RepositionEnd = "arrived"
	// RepositionCancelled: the hub withdrew it with a cancel naming it.
	RepositionCancelled RepositionEnd = "cancelled"
	// RepositionReplaced: a dispatch took the unit, or another move-up
	// replaced this one.
	RepositionReplaced RepositionEnd = "replaced"
)

// Assignment states: dispatched (waiting for the officer's ack), en route,
// on scene. Declined and cleared assignments are dropped.
const (
	StateDispatched = "dispatched"
	StateEnroute    = "enroute"
	StateOnScene    = "on_scene"
)

// Errors of the officer's actions. The specific ones wrap ErrWrongState,
// so errors.Is(err, ErrWrongState) holds for each.
var (
	// ErrNoAssignment: the unit has no assignment.
	ErrNoAssignment = errors.New("agent: the unit has no assignment")
	// ErrWrongState: the action does not fit the assignment's state.
	ErrWrongState = errors.New("agent: not possible in the assignment's state")
	// ErrOtherIncident: the unit is assigned to another incident.
	ErrOtherIncident = fmt.Errorf("%w: the unit is assigned to another incident", ErrWrongState)
	// ErrAssigned: a status change while assigned; the status follows the
	// assignment (ack, arrived, cleared, decline) until it ends.
	ErrAssigned = fmt.Errorf("%w: the status follows the assignment until it is cleared or declined", ErrWrongState)
	// ErrNoReposition: the unit has no reposition (move-up).
	ErrNoReposition = errors.New("agent: the unit has no reposition")
	// ErrOtherReposition: the unit is moving up to another spot than the
	// one named (the hub replaced the move-up meanwhile).
	ErrOtherReposition = fmt.Errorf("%w: the unit is moving up for another move-up", ErrWrongState)
	// ErrInvalidStatus: not one of the contract's statuses.
	ErrInvalidStatus = errors.New("agent: invalid status")
)

// Assignment returns the unit's current assignment, if it has one.
func (a *Agent) Assignment() (Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.assign == nil {
		return Assignment{}, false
	}
	return *a.assign, true
}

// Reposition returns the unit's current reposition (move-up), if it has one.
func (a *Agent) Reposition() (Reposition, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.repo == nil {
		return Reposition{}, false
	}
	return *a.repo, true
}

// Tasks returns the unit's patrol tasks running now (additive, 2026-12):
// the hub's latest list, in its order, without the tasks whose shift has
// ended by the agent's clock. None is an empty list.
func (a *Agent) Tasks() []Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.currentTasksLocked(a.cfg.Now())
}

// currentTasksLocked filters the kept list at read time rather than
// deleting ended tasks from it: the hub sends a list only when it changes,
// so a task dropped because the device's clock ran ahead would not come
// back once the clock is right; the hub's next list replaces them anyway.
func (a *Agent) currentTasksLocked(now time.Time) []Task {
	out := make([]Task, 0, len(a.tasks))
	for _, t := range a.tasks {
		if t.ShiftEnd > now.UnixMilli() {
			out = append(out, taskOf(t))
		}
	}
	return out
}

// RepositionArrived reports the unit at its move-up's spot, as the officer
// says so (the agent also does by itself within RepositionRadiusM): an
// arrived event naming the move-up, carrying the status unchanged; the
// reposition ends. id is the move-up's id, or "" for whichever the unit
// has; another id than the unit's is ErrOtherReposition, so a tap on a
// card the hub replaced meanwhile reports nothing.
func (a *Agent) RepositionArrived(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.repo == nil:
		return fmt.Errorf("%w: cannot report arrival at %q", ErrNoReposition, id)
	case id != "" && id != a.repo.ID:
		return fmt.Errorf("%w: cannot report arrival at %s while moving up for %s", ErrOtherReposition, id, a.repo.ID)
	}
	a.repositionArriveLocked(a.cfg.Now())
	a.saveLocked()
	return nil
}

// repositionArriveLocked ends the move-up with an arrived event naming it.
// The status is the unit's as it is: a move-up never changes it.
func (a *Agent) repositionArriveLocked(now time.Time) Reposition {
	r := *a.repo
	a.repo = nil
	a.actionLocked(protocol.EventArrived, r.ID, a.eventLocked(protocol.EventArrived, r.ID, now), now)
	a.log.Info("agent: moved up", "move_up", r.ID)
	return r
}

// Status returns the unit's duty status.
func (a *Agent) Status() protocol.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// SetStatus changes the duty status (available, busy, off_duty; en route
// and on scene too, for an officer who takes up something on their own)
// and reports it as a status event; the next fix is reported at once with
// it. While the unit has an assignment its status follows the assignment:
// ErrAssigned.
func (a *Agent) SetStatus(s protocol.Status) error {
	if !s.Valid() {
		return fmt.Errorf("%w: %q is not available, enroute, on_scene, busy or off_duty", ErrInvalidStatus, s)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.assign != nil {
		if s == a.status {
			return nil
		}
		return fmt.Errorf("%w (incident %s, %s)", ErrAssigned, a.assign.Incident, a.assign.State)
	}
	if s == a.status {
		return nil
	}
	a.status = s
	now := a.cfg.Now()
	a.actionLocked(protocol.EventStatus, "", a.eventLocked(protocol.EventStatus, "", now), now)
	a.saveLocked()
	a.log.Info("agent: status", "status", s)
	return nil
}

// SOS is an officer's sos as queued: its seq and the position it carries
// (none without a fix: the hub takes the unit's last known one).
type SOS struct {
	Seq uint64   `json:"seq"`
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
}

// SOS raises the officer's sos: an sos event with the latest fix's
// position, queued (on disk when it returns) as queue.SOS, which goes
// before every other report, also after an outage. It does not change the
// status or the assignment: the hub opens an incident and sends help. Each
// call is a new sos; the hub updates the incident it opened.
func (a *Agent) SOS() (SOS, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	e := protocol.Event{Unit: a.cfg.Unit, TS: now.UnixMilli(), Type: protocol.EventSOS}
	if a.hasFix && protocol.ValidLatLon(a.lastFix.Lat, a.lastFix.Lon) {
		e.Lat, e.Lon = ptr(a.lastFix.Lat), ptr(a.lastFix.Lon)
	}
	it, err := a.appendLocked(queue.SOS, e.TS, func(seq uint64) ([]byte, error) {
		e.Seq = seq
		return protocol.Encode(e)
	})
	if err != nil {
		return SOS{}, fmt.Errorf("agent: sos: %w", err)
	}
	a.actionLocked(protocol.EventSOS, "", it.Seq, now)
	a.log.Warn("agent: SOS raised", "seq", it.Seq, "lat", e.Lat, "lon", e.Lon)
	return SOS{Seq: it.Seq, Lat: e.Lat, Lon: e.Lon}, nil
}

// Ack accepts the dispatch to incident: an ack event, status en route.
func (a *Agent) Ack(incident string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkLocked(incident, "ack", StateDispatched); err != nil {
		return err
	}
	a.ackLocked(a.cfg.Now())
	a.saveLocked()
	return nil
}

// Decline refuses the dispatch to incident (before arriving): a decline
// event carrying the officer's reason ("" for none), which the hub puts on
// the incident's timeline; the assignment is dropped and the unit is
// available.
func (a *Agent) Decline(incident, reason string) error {
	if !protocol.ValidEventReason(reason) {
		return fmt.Errorf("agent: decline: the reason must be at most %d bytes of printable UTF-8", protocol.MaxEventReason)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkLocked(incident, "decline", StateDispatched, StateEnroute); err != nil {
		return err
	}
	a.assign = nil
	a.status = protocol.StatusAvailable
	now := a.cfg.Now()
	seq := a.eventWithLocked(protocol.Event{Type: protocol.EventDecline, Incident: incident, Reason: reason}, now)
	a.actionLocked(protocol.EventDecline, incident, seq, now)
	a.saveLocked()
	a.log.Info("agent: declined", "incident", incident)
	return nil
}

// Arrived reports the unit on scene (after the ack): an arrived event,
// status on scene. The agent also sends it by itself when a fix comes
// within ArriveRadiusM of the target.
func (a *Agent) Arrived(incident string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkLocked(incident, "arrived", StateEnroute); err != nil {
		return err
	}
	a.arriveLocked(a.cfg.Now())
	a.saveLocked()
	return nil
}

// Cleared reports the incident done for this unit (after arriving): a
// cleared event; the assignment is dropped and the unit is available.
func (a *Agent) Cleared(incident string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkLocked(incident, "cleared", StateOnScene); err != nil {
		return err
	}
	a.assign = nil
	a.status = protocol.StatusAvailable
	now := a.cfg.Now()
	a.actionLocked(protocol.EventCleared, incident, a.eventLocked(protocol.EventCleared, incident, now), now)
	a.saveLocked()
	a.log.Info("agent: cleared", "incident", incident)
	return nil
}

// checkLocked says why the action cannot be taken on incident now, if it cannot.
func (a *Agent) checkLocked(incident, action string, states ...string) error {
	as := a.assign
	if as == nil {
		return fmt.Errorf("%w: cannot %s %s", ErrNoAssignment, action, incident)
	}
	if as.Incident != incident {
		return fmt.Errorf("%w: cannot %s %s while assigned to %s", ErrOtherIncident, action, incident, as.Incident)
	}
	for _, s := range states {
		if as.State == s {
			return nil
		}
	}
	return fmt.Errorf("%w: cannot %s %s: it is %s", ErrWrongState, action, incident, as.State)
}

func (a *Agent) ackLocked(now time.Time) {
	a.assign.State = StateEnroute
	a.status = protocol.StatusEnroute
	a.actionLocked(protocol.EventAck, a.assign.Incident, a.eventLocked(protocol.EventAck, a.assign.Incident, now), now)
	a.log.Info("agent: acknowledged", "incident", a.assign.Incident)
}

// arriveLocked moves the assignment on scene. From dispatched (a unit that
// reaches the place before its officer acked) the hub takes the arrival as
// the ack too.
func (a *Agent) arriveLocked(now time.Time) {
	a.assign.State = StateOnScene
	a.status = protocol.StatusOnScene
	a.actionLocked(protocol.EventArrived, a.assign.Incident, a.eventLocked(protocol.EventArrived, a.assign.Incident, now), now)
	a.log.Info("agent: on scene", "incident", a.assign.Incident)
}

// terminalState is the officer's page's view of the unit: one snapshot
// under the lock, then which of the officer's actions the hub confirmed
// (the queue has its own lock).
func (a *Agent) terminalState() terminal.State {
	a.mu.Lock()
	now := a.cfg.Now()
	st := terminal.State{Unit: a.cfg.Unit, UnitType: a.cfg.UnitType, Status: a.status, Now: now,
		Actions: slices.Clone(a.actions), Tasks: a.currentTasksLocked(now)}
	if a.assign != nil {
		as := terminal.Assignment(*a.assign)
		st.Assignment = &as
	}
	if a.repo != nil {
		r := terminal.Reposition(*a.repo)
		st.Reposition = &r
	}
	if a.hasFix {
		f := a.lastFix
		p := &terminal.Position{Lat: f.Lat, Lon: f.Lon, Time: f.Time}
		if f.HasMotion {
			p.SpeedMPS, p.HeadingDeg = ptr(f.SpeedMPS), ptr(f.HeadingDeg)
		}
		if f.AccM > 0 {
			p.AccM = ptr(f.AccM)
		}
		st.Position = p
	}
	a.mu.Unlock()
	for i := range st.Actions {
		st.Actions[i].Confirmed = !a.q.Has(st.Actions[i].Seq)
	}
	if st.Actions == nil {
		st.Actions = []terminal.Action{}
	}
	st.Connected = a.link.Connected()
	pos, ev := a.q.Counts()
	st.Queued, st.QueuedEvents = pos+ev, ev
	return st
}
