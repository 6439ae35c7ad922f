package agent

import (
	"errors"

	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// officer is the agent as the terminal API sees it: the same actions, with
// the agent's errors mapped to the terminal's (404 no assignment or no
// reposition, 409 wrong state).
type officer struct{ a *Agent }

var (
	_ terminal.Officer      = officer{}
	_ terminal.Stater       = officer{}
	_ terminal.Repositioner = officer{}
	_ terminal.Tasker       = officer{}
)

func (o officer) Assignment() (terminal.Assignment, bool) {
	as, ok := o.a.Assignment()
	return terminal.Assignment(as), ok
}

func (o officer) Status() protocol.Status { return o.a.Status() }

func (o officer) SetStatus(s protocol.Status) error { return terminalError(o.a.SetStatus(s)) }
func (o officer) Ack(incident string) error         { return terminalError(o.a.Ack(incident)) }
func (o officer) Decline(incident, reason string) error {
	return terminalError(o.a.Decline(incident, reason))
}
func (o officer) Arrived(incident string) error { return terminalError(o.a.Arrived(incident)) }
func (o officer) Cleared(incident string) error { return terminalError(o.a.Cleared(incident)) }

func (o officer) Reposition() (terminal.Reposition, bool) {
	r, ok := o.a.Reposition()
	return terminal.Reposition(r), ok
}

func (o officer) RepositionArrived(id string) error {
	return terminalError(o.a.RepositionArrived(id))
}

// Tasks is the unit's patrol tasks now (GET /v1/tasks).
func (o officer) Tasks() []terminal.Task { return o.a.Tasks() }

func (o officer) SOS() (terminal.SOS, error) {
	s, err := o.a.SOS()
	return terminal.SOS(s), err
}

// State is everything the officer's page shows (GET /v1/state).
func (o officer) State() terminal.State { return o.a.terminalState() }

func terminalError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoAssignment):
		return errors.Join(terminal.ErrNoAssignment, err)
	case errors.Is(err, ErrNoReposition):
		return errors.Join(terminal.ErrNoReposition, err)
	case errors.Is(err, ErrWrongState):
		return errors.Join(terminal.ErrWrongState, err)
	}
	return err
}
