package officerui

import "time"

// The terminal's JSON (agent/internal/terminal, GET /v1/state), mirrored
// here rather than imported: the terminal package links net/http's server,
// which would double app.wasm. TestWireMatchesTerminal in package agent
// checks that the two agree.

// State is GET /v1/state.
type State struct {
	Unit         string      `json:"unit"`
	UnitType     string      `json:"unit_type"`
	Status       string      `json:"status"`
	Assignment   *Assignment `json:"assignment,omitempty"`
	Reposition   *Reposition `json:"reposition,omitempty"` // absent from older agents' answers too
	Tasks        []Task      `json:"tasks"`                // absent (nil) from older agents' answers
	Position     *Position   `json:"position,omitempty"`
	Connected    bool        `json:"connected"`
	Queued       int         `json:"queued"`
	QueuedEvents int         `json:"queued_events"`
	Actions      []Action    `json:"actions"`
	Now          time.Time   `json:"now"`
}

// Assignment is the incident the unit is sent to.
type Assignment struct {
	Incident string    `json:"incident"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Priority int       `json:"priority"`
	Kind     string    `json:"kind"`
	Summary  string    `json:"summary"`
	State    string    `json:"state"`
	Received time.Time `json:"received"`
}

// Reposition is the unit's move-up (additive, 2026-12): a spot the hub
// asked it to go to, to cover the city, while staying available.
type Reposition struct {
	ID       string    `json:"id"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Summary  string    `json:"summary"`
	Received time.Time `json:"received"`
}

// Task is one of the unit's patrol tasks running now (additive, 2026-12):
// a checkpoint (point), a route (line) or an area, from the hub's plans.
type Task struct {
	Plan           string    `json:"plan"`
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	Name           string    `json:"name,omitempty"`
	Shift          string    `json:"shift"`
	ShiftStart     time.Time `json:"shift_start"`
	ShiftEnd       time.Time `json:"shift_end"`
	From           time.Time `json:"from,omitzero"` // a checkpoint's window; zero without one
	To             time.Time `json:"to,omitzero"`
	Lat            float64   `json:"lat"`
	Lon            float64   `json:"lon"`
	RadiusM        float64   `json:"radius_m,omitempty"`
	DwellMin       float64   `json:"dwell_min,omitempty"`
	LengthM        float64   `json:"length_m,omitempty"`
	CoverShare     float64   `json:"cover_share,omitempty"`
	MinPresenceMin float64   `json:"min_presence_min,omitempty"`
}

// Task kinds, as the hub names them.
const (
	KindPoint = "point"
	KindLine  = "line"
	KindArea  = "area"
)

// Position is the unit's latest GPS fix.
type Position struct {
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	Time       time.Time `json:"time"`
	SpeedMPS   *float64  `json:"speed_mps"`
	HeadingDeg *float64  `json:"heading_deg"`
	AccM       *float64  `json:"acc_m"`
}

// Action is one of the officer's actions as the agent queued it.
type Action struct {
	Type      string    `json:"type"`
	Incident  string    `json:"incident"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Confirmed bool      `json:"confirmed"`
}

// Assignment states, as the terminal names them.
const (
	StateDispatched = "dispatched"
	StateEnroute    = "enroute"
	StateOnScene    = "on_scene"
)
