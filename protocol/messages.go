package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Telemetry is a position and status report, agent → hub on {root}/units/{unit}/telemetry.
type Telemetry struct {
	Unit       string   `json:"unit"`
	Seq        uint64   `json:"seq"` // per unit, shared with events, rises; see Ack
	TS         int64    `json:"ts"`  // GPS time, Unix milliseconds
	Lat        float64  `json:"lat"`
	Lon        float64  `json:"lon"`
	Status     Status   `json:"status"`
	AccM       *float64 `json:"acc_m,omitempty"`       // horizontal accuracy, metres
	SpeedMPS   *float64 `json:"speed_mps,omitempty"`   // ground speed, m/s
	HeadingDeg *float64 `json:"heading_deg,omitempty"` // true course, [0, 360)
	Battery    *float64 `json:"battery,omitempty"`     // charge, [0, 1]
}

// State is a unit's presence, agent → hub on {root}/units/{unit}/state, retained.
// The agent publishes Online=true on connect and registers the same message with
// Online=false as its Last Will; Boot identifies one run of the agent so the hub
// can ignore the Will of a previous run that arrives after a quick restart.
type State struct {
	Unit   string `json:"unit"`
	Online bool   `json:"online"`
	Boot   string `json:"boot"`
	Agent  string `json:"agent,omitempty"` // agent software and version
}

// Event is an officer's answer or report, agent → hub on {root}/units/{unit}/events.
type Event struct {
	Unit     string    `json:"unit"`
	Seq      uint64    `json:"seq"`
	TS       int64     `json:"ts"`
	Type     EventType `json:"type"`
	Incident string    `json:"incident,omitempty"` // required for ack, decline, arrived, cleared
	Status   Status    `json:"status,omitempty"`   // required for status: the new status
	// Lat and Lon (additive, 2026-12) are where the unit is, both or
	// neither; only an sos reads them — the hub otherwise takes the unit's
	// last known position.
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	// Reason (additive, 2026-12) is why a decline: the officer's words or
	// a word from the terminal's list, at most MaxEventReason printable
	// bytes; only a decline carries one.
	Reason string `json:"reason,omitempty"`
}

// MaxEventReason is the longest Event.Reason, in bytes.
const MaxEventReason = 128

// ValidEventReason reports whether s may be an Event.Reason: at most
// MaxEventReason bytes of UTF-8 without control characters (it goes on a
// timeline people read).
func ValidEventReason(s string) bool {
	return len(s) <= MaxEventReason && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Command is the hub's instruction, hub → agent on {root}/units/{unit}/cmd.
// ID is unique per command so a redelivered command is recognised.
type Command struct {
	ID   string      `json:"id"`
	TS   int64       `json:"ts"`
	Type CommandType `json:"type"`
	// Incident names the incident; on a reposition (additive, 2026-12) it
	// names the move-up instead ("mu-20261207-0001"), with the same syntax,
	// and the unit's arrived event carries it back.
	Incident string             `json:"incident,omitempty"`
	Lat      *float64           `json:"lat,omitempty"`
	Lon      *float64           `json:"lon,omitempty"`
	Priority int                `json:"priority,omitempty"` // 1 (highest) … 3
	Kind     string             `json:"kind,omitempty"`
	Summary  string             `json:"summary,omitempty"`
	Config   map[string]float64 `json:"config,omitempty"` // for type config: reporting parameters
	// Secret (additive, 2026-12), on a config command only, is the unit's new
	// MQTT password after the hub rotated it: the agent stores it and uses it
	// from its next connection. Never log a command that carries one.
	Secret string `json:"secret,omitempty"`
	// Tasks (additive, 2026-12), on a tasks command only, is the unit's
	// patrol tasks now, at most MaxTasks; absent: none.
	Tasks []PatrolTask `json:"tasks,omitempty"`
}

// MaxTasks bounds a tasks command's list.
const MaxTasks = 32

// PatrolTask is one patrol task of a unit, as its terminal shows it
// (additive, 2026-12): a summary of a plan's task (kuaifan/protocol/patrol)
// small enough for a command. Times are Unix ms.
type PatrolTask struct {
	Plan       string `json:"plan"`
	ID         string `json:"id"`
	Kind       string `json:"kind"` // point (a checkpoint), line (a route), area
	Name       string `json:"name,omitempty"`
	Shift      string `json:"shift"`
	ShiftStart int64  `json:"shift_start"`
	ShiftEnd   int64  `json:"shift_end"`
	// From and To are a checkpoint's window to hold it in: the one open
	// now or the next; absent for a line or an area (the whole shift).
	From int64 `json:"from,omitempty"`
	To   int64 `json:"to,omitempty"`
	// Lat, Lon: the checkpoint; a route's first position; an area's centre.
	Lat            float64 `json:"lat"`
	Lon            float64 `json:"lon"`
	RadiusM        float64 `json:"radius_m,omitempty"`         // point
	DwellMin       float64 `json:"dwell_min,omitempty"`        // point
	LengthM        float64 `json:"length_m,omitempty"`         // line
	CoverShare     float64 `json:"cover_share,omitempty"`      // line: share to drive
	MinPresenceMin float64 `json:"min_presence_min,omitempty"` // area
}

// Range is an inclusive range of sequence numbers, encoded as [from, to].
type Range [2]uint64

// Ack confirms, hub → agent on {root}/units/{unit}/ack, which sequence numbers
// the hub has committed to storage. Only then may an agent forget a message.
type Ack struct {
	Seqs Ranges `json:"seqs"`
}

// Covers reports whether seq falls inside one of the acknowledged ranges.
func (a Ack) Covers(seq uint64) bool {
	for _, r := range a.Seqs {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// MaxAckRanges bounds the ranges in one Ack.
const MaxAckRanges = 4096

// Validate checks t as its decoder would.
func (t Telemetry) Validate() error {
	const m = "telemetry"
	if !ValidUnitID(t.Unit) {
		return invalid(m, "unit", "%q is not [A-Za-z0-9_-]{1,32}", t.Unit)
	}
	if t.TS <= 0 {
		return invalid(m, "ts", "%d is not a Unix time in milliseconds", t.TS)
	}
	if !(t.Lat >= -90 && t.Lat <= 90) {
		return invalid(m, "lat", "%v is outside [-90, 90]", t.Lat)
	}
	if !(t.Lon >= -180 && t.Lon <= 180) {
		return invalid(m, "lon", "%v is outside [-180, 180]", t.Lon)
	}
	if !t.Status.Valid() {
		return invalid(m, "status", "%q is not available, enroute, on_scene, busy or off_duty", t.Status)
	}
	if err := optional(m, "acc_m", t.AccM, 0, math.MaxFloat64, false); err != nil {
		return err
	}
	if err := optional(m, "speed_mps", t.SpeedMPS, 0, math.MaxFloat64, false); err != nil {
		return err
	}
	if err := optional(m, "heading_deg", t.HeadingDeg, 0, 360, true); err != nil {
		return err
	}
	return optional(m, "battery", t.Battery, 0, 1, false)
}

// optional checks a finite optional number against [lo, hi], or [lo, hi) when openHigh.
func optional(m, field string, v *float64, lo, hi float64, openHigh bool) error {
	if v == nil {
		return nil
	}
	x := *v
	if !(x >= lo && x <= hi) || (openHigh && x == hi) {
		closing := "]"
		if openHigh {
			closing = ")"
		}
		return invalid(m, field, "%v is outside [%v, %v%s", x, lo, hi, closing)
	}
	return nil
}

// Validate checks s as its decoder would.
func (s State) Validate() error {
	const m = "state"
	if !ValidUnitID(s.Unit) {
		return invalid(m, "unit", "%q is not [A-Za-z0-9_-]{1,32}", s.Unit)
	}
	if s.Boot == "" || len(s.Boot) > maxBootLen {
		return invalid(m, "boot", "must be 1 to %d characters", maxBootLen)
	}
	if len(s.Agent) > maxTextLen {
		return invalid(m, "agent", "longer than %d bytes", maxTextLen)
	}
	return nil
}

// Validate checks e as its decoder would.
func (e Event) Validate() error {
	const m = "event"
	if !ValidUnitID(e.Unit) {
		return invalid(m, "unit", "%q is not [A-Za-z0-9_-]{1,32}", e.Unit)
	}
	if e.TS <= 0 {
		return invalid(m, "ts", "%d is not a Unix time in milliseconds", e.TS)
	}
	if !e.Type.Valid() {
		return invalid(m, "type", "%q is not ack, decline, arrived, cleared, status or sos", e.Type)
	}
	switch e.Type {
	case EventStatus:
		if e.Status == "" {
			return missing(m, "status")
		}
	case EventSOS:
		// Needs nothing more: an officer in trouble must never be refused.
	default:
		if e.Incident == "" {
			return missing(m, "incident")
		}
	}
	if e.Incident != "" && !ValidIncidentID(e.Incident) {
		return invalid(m, "incident", "%q is not [A-Za-z0-9_-]{1,64}", e.Incident)
	}
	if e.Reason != "" {
		switch {
		case e.Type != EventDecline:
			return invalid(m, "reason", "only a decline gives a reason, not %s", e.Type)
		case !ValidEventReason(e.Reason):
			return invalid(m, "reason", "want at most %d bytes of printable UTF-8", MaxEventReason)
		}
	}
	if e.Status != "" && !e.Status.Valid() {
		return invalid(m, "status", "%q is not available, enroute, on_scene, busy or off_duty", e.Status)
	}
	// A position is both coordinates or none: half of one is no place.
	switch {
	case e.Lat != nil && e.Lon == nil:
		return missing(m, "lon")
	case e.Lon != nil && e.Lat == nil:
		return missing(m, "lat")
	}
	if e.Lat != nil && !(*e.Lat >= -90 && *e.Lat <= 90) {
		return invalid(m, "lat", "%v is outside [-90, 90]", *e.Lat)
	}
	if e.Lon != nil && !(*e.Lon >= -180 && *e.Lon <= 180) {
		return invalid(m, "lon", "%v is outside [-180, 180]", *e.Lon)
	}
	return nil
}

// Position is the event's position, if it carries one.
func (e Event) Position() (lat, lon float64, ok bool) {
	if e.Lat == nil || e.Lon == nil {
		return 0, 0, false
	}
	return *e.Lat, *e.Lon, true
}

// Validate checks c as its decoder would.
func (c Command) Validate() error {
	const m = "command"
	if !ValidIncidentID(c.ID) {
		return invalid(m, "id", "%q is not [A-Za-z0-9_-]{1,64}", c.ID)
	}
	if c.TS <= 0 {
		return invalid(m, "ts", "%d is not a Unix time in milliseconds", c.TS)
	}
	if !c.Type.Valid() {
		return invalid(m, "type", "%q is not dispatch, cancel, update_location, config, reposition or tasks", c.Type)
	}
	if c.Type != CmdConfig && c.Type != CmdTasks && c.Incident == "" {
		return missing(m, "incident")
	}
	if c.Incident != "" && !ValidIncidentID(c.Incident) {
		return invalid(m, "incident", "%q is not [A-Za-z0-9_-]{1,64}", c.Incident)
	}
	if c.Type == CmdDispatch || c.Type == CmdUpdateLocation || c.Type == CmdReposition {
		if c.Lat == nil {
			return missing(m, "lat")
		}
		if c.Lon == nil {
			return missing(m, "lon")
		}
	}
	if c.Lat != nil && !(*c.Lat >= -90 && *c.Lat <= 90) {
		return invalid(m, "lat", "%v is outside [-90, 90]", *c.Lat)
	}
	if c.Lon != nil && !(*c.Lon >= -180 && *c.Lon <= 180) {
		return invalid(m, "lon", "%v is outside [-180, 180]", *c.Lon)
	}
	if c.Type == CmdDispatch && c.Priority == 0 {
		return missing(m, "priority")
	}
	// A move-up is no emergency: a priority on one would be read as one.
	if c.Type == CmdReposition && c.Priority != 0 {
		return invalid(m, "priority", "a reposition has none, not %d", c.Priority)
	}
	if c.Priority < 0 || c.Priority > 3 {
		return invalid(m, "priority", "%d is not 1, 2 or 3", c.Priority)
	}
	if len(c.Kind) > maxTextLen {
		return invalid(m, "kind", "longer than %d bytes", maxTextLen)
	}
	if len(c.Summary) > 4*maxTextLen {
		return invalid(m, "summary", "longer than %d bytes", 4*maxTextLen)
	}
	if c.Type == CmdConfig && len(c.Config) == 0 && c.Secret == "" {
		return missing(m, "config")
	}
	if c.Secret != "" {
		if c.Type != CmdConfig {
			return invalid(m, "secret", "only a config command carries one")
		}
		// The value is never quoted: it is a password.
		if !ValidSecret(c.Secret) {
			return invalid(m, "secret", "not %d to %d bytes of printable ASCII without spaces", MinSecretLen, MaxSecretLen)
		}
	}
	if len(c.Tasks) > 0 && c.Type != CmdTasks {
		return invalid(m, "tasks", "only a tasks command carries them")
	}
	if len(c.Tasks) > MaxTasks {
		return invalid(m, "tasks", "%d tasks, at most %d", len(c.Tasks), MaxTasks)
	}
	for i := range c.Tasks {
		if err := c.Tasks[i].validate(i); err != nil {
			return err
		}
	}
	for k, v := range c.Config {
		if !ValidCapability(k) {
			return invalid(m, "config", "key %q is not [a-z0-9_-]{1,32}", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return invalid(m, "config", "%s: %v is not a finite non-negative number", k, v)
		}
	}
	return nil
}

// validate checks the i-th task of a tasks command.
func (t *PatrolTask) validate(i int) error {
	const m = "command"
	bad := func(field, format string, args ...any) error {
		return invalid(m, "tasks", "task %d: %s: %s", i, field, fmt.Sprintf(format, args...))
	}
	nonNeg := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	switch {
	case !ValidIncidentID(t.Plan):
		return bad("plan", "%q is not [A-Za-z0-9_-]{1,64}", t.Plan)
	case !ValidIncidentID(t.ID):
		return bad("id", "%q is not [A-Za-z0-9_-]{1,64}", t.ID)
	case t.Kind != "point" && t.Kind != "line" && t.Kind != "area":
		return bad("kind", "%q is not point, line or area", t.Kind)
	case len(t.Name) > maxTextLen:
		return bad("name", "longer than %d bytes", maxTextLen)
	case !ValidIncidentID(t.Shift):
		return bad("shift", "%q is not [A-Za-z0-9_-]{1,64}", t.Shift)
	case t.ShiftStart <= 0 || t.ShiftEnd <= t.ShiftStart:
		return bad("shift_end", "the shift %d to %d is not a span of Unix ms", t.ShiftStart, t.ShiftEnd)
	case t.From < 0 || t.To < t.From:
		return bad("to", "the window %d to %d is not a span of Unix ms", t.From, t.To)
	case !ValidLatLon(t.Lat, t.Lon):
		return bad("lat", "%v, %v is not a position", t.Lat, t.Lon)
	case !nonNeg(t.RadiusM) || !nonNeg(t.DwellMin) || !nonNeg(t.LengthM) || !nonNeg(t.MinPresenceMin):
		return bad("radius_m", "a figure is not a finite number >= 0")
	case !nonNeg(t.CoverShare) || t.CoverShare > 1:
		return bad("cover_share", "%v is not 0 to 1", t.CoverShare)
	}
	return nil
}

// Validate checks a as its decoder would.
func (a Ack) Validate() error {
	const m = "ack"
	if len(a.Seqs) == 0 {
		return missing(m, "seqs")
	}
	if len(a.Seqs) > MaxAckRanges {
		return invalid(m, "seqs", "%d ranges, more than %d", len(a.Seqs), MaxAckRanges)
	}
	for _, r := range a.Seqs {
		if r[0] > r[1] {
			return invalid(m, "seqs", "range [%d, %d] runs backwards", r[0], r[1])
		}
	}
	return nil
}

// CheckTime rejects a message timestamp more than maxAhead in the future of now:
// a clock that far ahead would pin a unit's live marker to a time that never comes.
func CheckTime(message string, tsMillis int64, now time.Time, maxAhead time.Duration) error {
	if limit := now.Add(maxAhead).UnixMilli(); tsMillis > limit {
		return &Error{Message: message, Field: "ts", Reason: ReasonFuture,
			Detail: (time.Duration(tsMillis-now.UnixMilli()) * time.Millisecond).String() + " ahead of the hub's clock"}
	}
	return nil
}

// Encode validates m and returns its JSON with "v":1 first.
func Encode[M Telemetry | State | Event | Command | Ack](m M) ([]byte, error) {
	if err := any(m).(interface{ Validate() error }).Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	// body is a non-empty object {...}: splice "v" in front of its fields.
	out := make([]byte, 0, len(body)+7)
	out = append(out, `{"v":1,`...)
	return append(out, body[1:]...), nil
}

// UnmarshalJSON accepts exactly [from, to]: encoding/json would silently drop
// a third element of a Go array.
func (r *Range) UnmarshalJSON(data []byte) error {
	var xs []uint64
	if err := json.Unmarshal(data, &xs); err != nil || len(xs) != 2 {
		return invalid("ack", "seqs", "%s is not a pair [from, to] of sequence numbers", data)
	}
	r[0], r[1] = xs[0], xs[1]
	return nil
}
