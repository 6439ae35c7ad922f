// Package patrol is kuaifan's patrol plans (点线面) as a supervisor edits
// them, and the compliance report the hub answers about them.
//
// A Plan has named daily Shifts and Tasks. A task is a point (a checkpoint
// to hold for some minutes, optionally within time windows), a line (a
// route to drive, a share of it at least) or an area (a polygon to be
// present in for some minutes), assigned to units by id or by unit type,
// in some or all of the plan's shifts. Parse reads a plan as the API takes
// and serves it (JSON, which encoding/json writes back from a Plan), and
// ParseGeoJSON imports the tasks of a GeoJSON FeatureCollection; both
// check everything Validate checks and refuse with an *Error naming the
// task and field.
//
// Plan.ShiftBounds places a shift on a date, Plan.CurrentTasks tells an
// officer's terminal what the unit has to do now, and Report is the answer
// of GET /api/patrols/compliance, which the hub computes from the units'
// stored tracks (kuaifan/hub/internal/patrol, whose package documentation
// states the rules behind every figure).
//
// It uses the standard library only (and kuaifan/protocol), so the
// WebAssembly dashboard and the agent import it too.
package patrol

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"kuaifan/protocol"
)

// Defaults Parse fills in for fields left out.
const (
	DefaultZone       = "Asia/Shanghai"
	DefaultRadiusM    = 50  // a point's radius
	DefaultBufferM    = 30  // a line's half-width
	DefaultCoverShare = 0.8 // a line's share to drive
)

// DefaultShifts are a plan's shifts when it names none: the day and night
// shifts the KPIs group by (protocol/api.KPIByShift).
func DefaultShifts() []Shift {
	return []Shift{{ID: "day", Start: 8 * 60, End: 20 * 60}, {ID: "night", Start: 20 * 60, End: 8 * 60}}
}

// Limits that keep a plan sane; Parse and Validate refuse more.
const (
	MaxPlanBytes     = 32 << 20  // a plan's JSON or GeoJSON
	MaxShifts        = 24        // shifts in a plan
	MaxTasks         = 10_000    // tasks in a plan
	MaxVertices      = 10_000    // positions of one route or polygon
	MaxTotalVertices = 1_000_000 // positions of all routes and polygons of a plan
	MaxWindows       = 48        // windows of one point
	MaxAssigned      = 10_000    // unit ids of one task
	MaxNameLen       = 256       // bytes of a name
	MaxRadiusM       = 5_000     // a point's radius
	MaxBufferM       = 500       // a line's buffer
	MaxRouteM        = 100_000   // one route's length
	MaxTotalRouteM   = 5_000_000 // all routes of a plan: the hub samples them every 10 m
)

// Kind is what a task asks of a unit.
type Kind string

const (
	KindPoint Kind = "point" // hold a checkpoint
	KindLine  Kind = "line"  // drive a route
	KindArea  Kind = "area"  // be present in a polygon
)

// Valid reports whether k is one of the kinds.
func (k Kind) Valid() bool { return k == KindPoint || k == KindLine || k == KindArea }

// Plan is a patrol plan. Parse returns one with its defaults filled in;
// encoding/json writes it back in the form Parse reads (and Parse of that
// is the same plan).
type Plan struct {
	ID   string `json:"id"` // [a-z0-9_-]{1,64}
	Name string `json:"name,omitempty"`
	// Zone is the IANA time zone the shifts' and windows' clock times are
	// in, "Asia/Shanghai" unless given.
	Zone   string  `json:"zone"`
	Shifts []Shift `json:"shifts"` // at least one; DefaultShifts unless given
	Tasks  []Task  `json:"tasks"`  // possibly none, never null
}

// Shift is a daily shift: from Start to End local time every day. An End at
// or before Start is the next day's (20:00–08:00 is a night shift), and an
// End equal to Start makes a 24-hour shift. A shift belongs to the date it
// starts on.
type Shift struct {
	ID    string `json:"id"` // [a-z0-9_-]{1,64}, unique in the plan
	Name  string `json:"name,omitempty"`
	Start Clock  `json:"start"` // "HH:MM"
	End   Clock  `json:"end"`
}

// Span is the shift's clock times as a Window.
func (s Shift) Span() Window { return Window{Start: s.Start, End: s.End} }

// Minutes is the shift's length: 1 to 1440 (on a day without a daylight
// saving change).
func (s Shift) Minutes() int { return s.Span().Minutes() }

// Task is one thing units have to do in a shift. Which fields it has
// depends on its Kind; the others are zero (and Validate refuses them
// otherwise).
type Task struct {
	ID   string `json:"id"` // [a-z0-9_-]{1,64}, unique in the plan
	Kind Kind   `json:"kind"`
	Name string `json:"name,omitempty"`

	// The task is every listed unit's and every unit's of a listed type
	// (at least one of the two lists is not empty), in each of Shifts, or
	// in every shift of the plan when Shifts is empty. Each assigned unit
	// has the whole task to do: compliance is per task and unit.
	Units     []string            `json:"units,omitempty"`
	UnitTypes []protocol.UnitType `json:"unit_types,omitempty"`
	Shifts    []string            `json:"shifts,omitempty"`

	// A point: a checkpoint at Lat, Lon, held by staying within RadiusM
	// for DwellMin minutes (0: one fix inside is enough) in each of
	// Windows, or once in the shift when there are none. Every window
	// lies within every shift of the task and is at least DwellMin long.
	Lat      float64  `json:"lat,omitempty"`
	Lon      float64  `json:"lon,omitempty"`
	RadiusM  float64  `json:"radius_m,omitempty"`  // > 0; DefaultRadiusM
	DwellMin float64  `json:"dwell_min,omitempty"` // >= 0
	Windows  []Window `json:"windows,omitempty"`

	// A line: a route of at least two positions, driven when at least
	// CoverShare of its length was passed within BufferM.
	Route      []Position `json:"route,omitempty"`
	BufferM    float64    `json:"buffer_m,omitempty"`    // > 0; DefaultBufferM
	CoverShare float64    `json:"cover_share,omitempty"` // (0, 1]; DefaultCoverShare

	// An area: a polygon's outer ring (at least three distinct positions,
	// without GeoJSON's closing repeat once parsed), kept when the unit
	// spent at least MinPresenceMin minutes of the shift inside it.
	Polygon        []Position `json:"polygon,omitempty"`
	MinPresenceMin float64    `json:"min_presence_min,omitempty"` // > 0, at most the shortest of the task's shifts
}

// MarshalJSON writes the task's common fields and those of its kind, so
// that a checkpoint at latitude 0 keeps its "lat" and a line has no "lat"
// at all.
func (t Task) MarshalJSON() ([]byte, error) {
	type common struct {
		ID        string              `json:"id"`
		Kind      Kind                `json:"kind"`
		Name      string              `json:"name,omitempty"`
		Units     []string            `json:"units,omitempty"`
		UnitTypes []protocol.UnitType `json:"unit_types,omitempty"`
		Shifts    []string            `json:"shifts,omitempty"`
	}
	c := common{t.ID, t.Kind, t.Name, t.Units, t.UnitTypes, t.Shifts}
	switch t.Kind {
	case KindPoint:
		return json.Marshal(struct {
			common
			Lat      float64  `json:"lat"`
			Lon      float64  `json:"lon"`
			RadiusM  float64  `json:"radius_m"`
			DwellMin float64  `json:"dwell_min"`
			Windows  []Window `json:"windows,omitempty"`
		}{c, t.Lat, t.Lon, t.RadiusM, t.DwellMin, t.Windows})
	case KindLine:
		return json.Marshal(struct {
			common
			Route      []Position `json:"route"`
			BufferM    float64    `json:"buffer_m"`
			CoverShare float64    `json:"cover_share"`
		}{c, t.Route, t.BufferM, t.CoverShare})
	case KindArea:
		return json.Marshal(struct {
			common
			Polygon        []Position `json:"polygon"`
			MinPresenceMin float64    `json:"min_presence_min"`
		}{c, t.Polygon, t.MinPresenceMin})
	}
	type plain Task // without this method
	return json.Marshal(plain(t))
}

// AssignedTo reports whether the task is the unit's: listed by id, or of a
// listed type.
func (t *Task) AssignedTo(unitID string, unitType protocol.UnitType) bool {
	return slices.Contains(t.Units, unitID) || unitType != "" && slices.Contains(t.UnitTypes, unitType)
}

// InShift reports whether the task applies in the shift.
func (t *Task) InShift(shiftID string) bool {
	return len(t.Shifts) == 0 || slices.Contains(t.Shifts, shiftID)
}

// Position is a WGS-84 position as GeoJSON writes it: [lon, lat] in
// degrees.
type Position [2]float64

// Lon is the position's longitude.
func (p Position) Lon() float64 { return p[0] }

// Lat is the position's latitude.
func (p Position) Lat() float64 { return p[1] }

// Shift returns the plan's shift with the id.
func (p *Plan) Shift(id string) (Shift, bool) {
	for _, s := range p.Shifts {
		if s.ID == id {
			return s, true
		}
	}
	return Shift{}, false
}

// ShiftBounds returns when the shift starts and ends on the date: the
// local date of date in the plan's zone (so pass a time on that date, or
// the date's midnight in the plan's zone). A shift crossing midnight ends
// on the next date. The times are in the plan's zone.
func (p *Plan) ShiftBounds(shiftID string, date time.Time) (start, end time.Time, err error) {
	s, ok := p.Shift(shiftID)
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("patrol: plan %q has no shift %q", p.ID, shiftID)
	}
	loc, err := p.Location()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	y, m, d := date.In(loc).Date()
	start, end = s.Span().on(y, m, d, loc)
	return start, end, nil
}

// WindowBounds returns when the window is open in the shift that starts at
// shiftStart (as ShiftBounds returns it, in the plan's zone): the window's
// first start at or after the shift's start, then its end. A window of a
// valid task lies within each of the task's shifts.
func (s Shift) WindowBounds(w Window, shiftStart time.Time) (from, to time.Time) {
	y, m, d := shiftStart.Date()
	if w.Start < s.Start {
		d++ // the window is after midnight of a night shift
	}
	return w.on(y, m, d, shiftStart.Location())
}

// A plan's zone must load on a device without a zone database too: the
// WebAssembly dashboard has none (app.wasm carries none), nor do some
// phones. China's zones keep one offset all year, so they are built in.
var fixedZones = map[string]int{
	"Asia/Shanghai": 8, "Asia/Chongqing": 8, "Asia/Chungking": 8, "Asia/Harbin": 8, "PRC": 8,
	"Asia/Hong_Kong": 8, "Asia/Macau": 8, "Asia/Taipei": 8, "Asia/Urumqi": 6, "Asia/Kashgar": 6,
}

// Location returns the plan's time zone: Zone from the system's zone
// database, or China's zones built in when the system has no database.
func (p *Plan) Location() (*time.Location, error) {
	loc, err := loadZone(p.Zone)
	if err != nil {
		return nil, err
	}
	return loc, nil
}

func loadZone(name string) (*time.Location, *Error) {
	if !validZoneName(name) {
		return nil, fieldErr("zone", "%q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		return loc, nil
	}
	if h, ok := fixedZones[name]; ok {
		return time.FixedZone(name, h*3600), nil
	}
	return nil, fieldErr("zone", "%q: %v", name, err)
}

// validZoneName accepts what IANA names are made of, and neither "Local"
// (the machine's zone: a plan must mean the same everywhere) nor anything
// that LoadLocation would read as a path.
func validZoneName(name string) bool {
	if name == "" || len(name) > 64 || name == "Local" || name[0] == '/' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '+':
		case c == '/' && i > 0 && name[i-1] != '/':
		default:
			return false
		}
	}
	return true
}
