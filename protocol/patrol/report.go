package patrol

import "kuaifan/protocol"

// Report is the answer of GET /api/patrols/compliance: how one shift of a
// plan was kept, per task and unit, with summaries per task, per unit and
// for the whole shift. The figures and the rules behind them are
// kuaifan/hub/internal/patrol's.
type Report struct {
	Plan  string `json:"plan"`  // the plan's id
	Shift string `json:"shift"` // the shift's id
	Date  string `json:"date"`  // "2006-01-02": the local date the shift starts on
	Zone  string `json:"zone"`  // the plan's zone
	From  int64  `json:"from"`  // Unix ms: the shift's start
	// To is the end of the time judged, Unix ms: the shift's end, or
	// earlier for a shift in progress (a window after it is not held, yet).
	To int64 `json:"to"`
	// MaxGapS is the longest a fix stands for, seconds: time after a fix
	// beyond it, without a newer fix, is time the unit was nowhere.
	MaxGapS float64 `json:"max_gap_s"`

	Met   int `json:"met"`   // results met
	Total int `json:"total"` // results: one per task of the shift and unit assigned to it

	Tasks   []TaskSummary `json:"tasks"`   // the shift's tasks in the plan's order
	Units   []UnitSummary `json:"units"`   // the units with at least one task, by id
	Results []Result      `json:"results"` // by task in the plan's order, then by unit id
}

// TaskSummary is how many of the units assigned a task met it.
type TaskSummary struct {
	Task  string `json:"task"`
	Kind  Kind   `json:"kind"`
	Name  string `json:"name,omitempty"`
	Met   int    `json:"met"`
	Total int    `json:"total"` // the units assigned it
}

// UnitSummary is how many of its tasks a unit met in the shift.
type UnitSummary struct {
	Unit string `json:"unit"`
	// Type is the unit's type; absent for a unit a task names that the
	// hub did not know (it has no track).
	Type  protocol.UnitType `json:"type,omitempty"`
	Fixes int               `json:"fixes"` // its fixes in the shift: 0 says the device was off, not that the unit shirked
	Met   int               `json:"met"`
	Total int               `json:"total"`
}

// Result is how one unit did one task. Exactly one of Point, Line and
// Area is present, after Kind.
type Result struct {
	Task  string       `json:"task"`
	Unit  string       `json:"unit"`
	Kind  Kind         `json:"kind"`
	Met   bool         `json:"met"`
	Point *PointResult `json:"point,omitempty"`
	Line  *LineResult  `json:"line,omitempty"`
	Area  *AreaResult  `json:"area,omitempty"`
}

// PointResult is a checkpoint's figures: met when every window was held.
type PointResult struct {
	RadiusM  float64        `json:"radius_m"`  // the target: within this of the checkpoint
	DwellMin float64        `json:"dwell_min"` // the target: for this long at a stretch
	Held     int            `json:"held"`      // windows held
	Windows  []WindowResult `json:"windows"`   // in the task's order; one, the whole shift, for a task without windows
}

// WindowResult is one window of a checkpoint: its longest stay.
type WindowResult struct {
	Window Window `json:"window"` // "HH:MM-HH:MM": the task's window, or the shift's span
	From   int64  `json:"from"`   // Unix ms, on the shift's date
	To     int64  `json:"to"`
	Held   bool   `json:"held"`
	// Arrived is when the longest stay within the radius during the
	// window began (Unix ms; the window's start when the unit was already
	// there); absent when the unit was never within the radius in it.
	Arrived int64 `json:"arrived,omitempty"`
	// DwellMin is that stay's length in minutes, counted within the
	// window only.
	DwellMin float64 `json:"dwell_min"`
}

// LineResult is a route's figures: met when DrivenShare >= CoverShare.
type LineResult struct {
	LengthM     float64 `json:"length_m"`     // the route's length
	BufferM     float64 `json:"buffer_m"`     // the target: passed within this of the route
	CoverShare  float64 `json:"cover_share"`  // the target: at least this share of the length
	DrivenM     float64 `json:"driven_m"`     // metres of the route passed within the buffer
	DrivenShare float64 `json:"driven_share"` // DrivenM ÷ LengthM, 0..1
}

// AreaResult is an area's figures: met when PresenceMin >= MinPresenceMin.
type AreaResult struct {
	MinPresenceMin float64 `json:"min_presence_min"` // the target
	PresenceMin    float64 `json:"presence_min"`     // minutes inside during the shift
	PresenceShare  float64 `json:"presence_share"`   // PresenceMin ÷ the minutes from From to To, 0..1
}
