package terminal

import (
	"fmt"
	"sync"

	"kuaifan/protocol"
)

// memOfficer is a real, in-memory Officer: the assignment's state machine
// dispatched → enroute (ack) → on_scene (arrived) → gone (cleared), decline
// from dispatched or enroute, and the unit's status following it. It is what
// the agent does, minus MQTT.
type memOfficer struct {
	mu     sync.Mutex
	status protocol.Status
	cur    *Assignment
	fail   error  // when set, every call that can fail returns it (an agent fault)
	sos    int    // sos raised
	reason string // the last decline's
}

var _ Officer = (*memOfficer)(nil)

func newOfficer() *memOfficer { return &memOfficer{status: protocol.StatusAvailable} }

// dispatch gives the unit an assignment in the dispatched state.
func (o *memOfficer) dispatch(a Assignment) *memOfficer {
	o.mu.Lock()
	defer o.mu.Unlock()
	a.State = StateDispatched
	o.cur = &a
	return o
}

// in puts the current assignment in state, with the matching status.
func (o *memOfficer) in(state string) *memOfficer {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cur.State = state
	switch state {
	case StateEnroute:
		o.status = protocol.StatusEnroute
	case StateOnScene:
		o.status = protocol.StatusOnScene
	}
	return o
}

func (o *memOfficer) withStatus(s protocol.Status) *memOfficer {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status = s
	return o
}

func (o *memOfficer) failing(err error) *memOfficer {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fail = err
	return o
}

func (o *memOfficer) Assignment() (Assignment, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return Assignment{}, false
	}
	return *o.cur, true
}

func (o *memOfficer) Status() protocol.Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status
}

// SetStatus: while assigned the status follows the assignment; enroute and
// on_scene come only from ack and arrived.
func (o *memOfficer) SetStatus(s protocol.Status) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	if o.cur != nil {
		return fmt.Errorf("assigned to %s: %w", o.cur.Incident, ErrWrongState)
	}
	if s == protocol.StatusEnroute || s == protocol.StatusOnScene {
		return fmt.Errorf("%s comes with an assignment: %w", s, ErrWrongState)
	}
	o.status = s
	return nil
}

// step moves the assignment for incident from one of the states in from to
// to ("" ends it), and sets the status.
func (o *memOfficer) step(incident string, to string, status protocol.Status, from ...string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	if o.cur == nil {
		return ErrNoAssignment
	}
	if o.cur.Incident != incident {
		return fmt.Errorf("assigned to %s, not %s: %w", o.cur.Incident, incident, ErrWrongState)
	}
	for _, f := range from {
		if o.cur.State == f {
			if to == "" {
				o.cur = nil
			} else {
				o.cur.State = to
			}
			o.status = status
			return nil
		}
	}
	return fmt.Errorf("%s is %s: %w", incident, o.cur.State, ErrWrongState)
}

func (o *memOfficer) Ack(incident string) error {
	return o.step(incident, StateEnroute, protocol.StatusEnroute, StateDispatched)
}

func (o *memOfficer) Decline(incident, reason string) error {
	o.reason = reason
	return o.step(incident, "", protocol.StatusAvailable, StateDispatched, StateEnroute)
}

func (o *memOfficer) Arrived(incident string) error {
	return o.step(incident, StateOnScene, protocol.StatusOnScene, StateEnroute)
}

func (o *memOfficer) Cleared(incident string) error {
	return o.step(incident, "", protocol.StatusAvailable, StateOnScene)
}

func (o *memOfficer) SOS() (SOS, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return SOS{}, o.fail
	}
	o.sos++
	return SOS{Seq: uint64(o.sos)}, nil
}
