package terminal

import (
	"time"

	"kuaifan/protocol"
)

// State is GET /v1/state (additive, 2026-12): everything the officer's page
// shows, in one answer, so that a page polling once a second makes one
// request and never shows an assignment from one moment with a link state
// from another.
type State struct {
	Unit     string            `json:"unit,omitempty"`
	UnitType protocol.UnitType `json:"unit_type,omitempty"` // for the ETA; empty: unknown
	Status   protocol.Status   `json:"status"`
	// Assignment is the current one; absent when the unit has none.
	Assignment *Assignment `json:"assignment,omitempty"`
	// Reposition is the unit's move-up (additive, 2026-12); absent when it
	// has none. Never together with an assignment.
	Reposition *Reposition `json:"reposition,omitempty"`
	// Tasks are the unit's patrol tasks running now (additive, 2026-12),
	// as GET /v1/tasks gives them; never null.
	Tasks []Task `json:"tasks"`
	// Position is the latest GPS fix; absent before the first.
	Position *Position `json:"position,omitempty"`
	// Connected: the MQTT link to the hub is up.
	Connected bool `json:"connected"`
	// Queued reports (positions and events) wait for the hub's
	// confirmation; QueuedEvents of them are events.
	Queued       int `json:"queued"`
	QueuedEvents int `json:"queued_events"`
	// Actions are the officer's latest actions (and the agent's own
	// arrival by position), oldest first, each queued until the hub
	// confirmed it: what the page shows as "queued" or "confirmed".
	Actions []Action `json:"actions"`
	// Now is the agent's clock, so the page ages the assignment by the
	// same clock that stamped Received.
	Now time.Time `json:"now"`
}

// Position is a GPS fix as the page needs it.
type Position struct {
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	Time       time.Time `json:"time"`
	SpeedMPS   *float64  `json:"speed_mps,omitempty"`
	HeadingDeg *float64  `json:"heading_deg,omitempty"`
	AccM       *float64  `json:"acc_m,omitempty"`
}

// Action is one of the officer's actions as queued: the event's type (ack,
// decline, arrived, cleared, status, sos), its incident if any, its seq,
// and whether the hub has confirmed it.
type Action struct {
	Type      protocol.EventType `json:"type"`
	Incident  string             `json:"incident,omitempty"`
	Seq       uint64             `json:"seq"`
	At        time.Time          `json:"at"`
	Confirmed bool               `json:"confirmed"`
}

// Stater is an Officer that also gives the whole State. An Officer without
// it gets a State with the assignment and the status only.
type Stater interface {
	State() State
}

// state builds GET /v1/state's answer from the Officer.
func (s *Server) state() State {
	if st, ok := s.officer.(Stater); ok {
		out := st.State()
		if out.Actions == nil {
			out.Actions = []Action{}
		}
		if out.Tasks == nil {
			out.Tasks = []Task{}
		}
		return out
	}
	out := State{Status: s.officer.Status(), Actions: []Action{}, Tasks: s.tasks(), Now: time.Now()}
	if a, ok := s.officer.Assignment(); ok {
		out.Assignment = &a
	}
	if rp, ok := s.officer.(Repositioner); ok {
		if r, ok := rp.Reposition(); ok {
			out.Reposition = &r
		}
	}
	return out
}

// tasks is the Officer's patrol tasks now: none (an empty list, so a page
// never tells null from none) when it is no Tasker.
func (s *Server) tasks() []Task {
	var out []Task
	if tk, ok := s.officer.(Tasker); ok {
		out = tk.Tasks()
	}
	if out == nil {
		out = []Task{}
	}
	return out
}
