package patrol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"kuaifan/protocol"
)

// Parse reads a plan from JSON, as the API takes and serves it:
//
//	{"id": "furong-1", "name": "芙蓉区日常巡逻", "zone": "Asia/Shanghai",
//	 "shifts": [{"id": "day", "start": "08:00", "end": "20:00"}, …],
//	 "tasks": [
//	   {"id": "cp-1", "kind": "point", "units": ["car-1"], "shifts": ["day"],
//	    "lat": 28.196, "lon": 112.977, "radius_m": 50, "dwell_min": 10,
//	    "windows": ["09:00-10:00", "15:00-16:00"]},
//	   {"id": "r-1", "kind": "line", "unit_types": ["motorcycle"],
//	    "route": [[112.97, 28.19], [112.98, 28.19]], "buffer_m": 30, "cover_share": 0.8},
//	   {"id": "a-1", "kind": "area", "unit_types": ["foot"],
//	    "polygon": [[112.97, 28.19], [112.98, 28.19], [112.98, 28.2]], "min_presence_min": 240}]}
//
// Fields are those of Plan, Shift and Task; an unknown field, a field of
// another kind of task, or text after the plan is refused. Left out are
// zone (DefaultZone), shifts (DefaultShifts), radius_m, buffer_m and
// cover_share (the Default constants), dwell_min (0) and a task's shifts
// (all). Positions are [lon, lat] (a third number, an altitude, is
// dropped), a polygon may repeat its first position at the end as GeoJSON
// does (Parse drops it), and "24:00" is midnight. Names are trimmed of
// spaces. The plan returned has passed Validate; an error is an *Error.
func Parse(data []byte) (*Plan, error) {
	if len(data) > MaxPlanBytes {
		return nil, &Error{Detail: fmt.Sprintf("%d bytes; at most %d", len(data), MaxPlanBytes)}
	}
	var w struct {
		ID     string            `json:"id"`
		Name   string            `json:"name"`
		Zone   string            `json:"zone"`
		Shifts []json.RawMessage `json:"shifts"`
		Tasks  []json.RawMessage `json:"tasks"`
	}
	if err := decodeStrict(data, &w); err != nil {
		return nil, err
	}
	if len(w.Tasks) > MaxTasks {
		return nil, fieldErr("tasks", "%d tasks; at most %d", len(w.Tasks), MaxTasks)
	}
	if len(w.Shifts) > MaxShifts {
		return nil, fieldErr("shifts", "%d shifts; at most %d", len(w.Shifts), MaxShifts)
	}
	p := &Plan{ID: w.ID, Name: strings.TrimSpace(w.Name), Zone: w.Zone, Shifts: []Shift{}, Tasks: []Task{}}
	if p.Zone == "" {
		p.Zone = DefaultZone
	}
	if w.Shifts == nil {
		p.Shifts = DefaultShifts()
	}
	for i, raw := range w.Shifts {
		s, err := parseShift(raw)
		if err != nil {
			return nil, err.at(shiftWhere(s.ID, i), "")
		}
		p.Shifts = append(p.Shifts, s)
	}
	for i, raw := range w.Tasks {
		var wt wireTask
		err := decodeStrict(raw, &wt)
		if err == nil {
			var t Task
			if t, err = wt.task(); err == nil {
				p.Tasks = append(p.Tasks, t)
				continue
			}
		}
		id := ""
		if validID(wt.ID) {
			id = wt.ID
		}
		return nil, err.at(taskWhere(wt.ID, i), id)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// text after the value.
func decodeStrict(data []byte, v any) *Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return &Error{Detail: "empty: want a JSON object"}
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Detail: "text after the JSON object"}
	}
	return nil
}

func shiftWhere(id string, index int) string {
	if validID(id) {
		return fmt.Sprintf("shift %q", id)
	}
	return fmt.Sprintf("shift %d", index+1)
}

func parseShift(raw []byte) (Shift, *Error) {
	var w struct {
		ID    string  `json:"id"`
		Name  string  `json:"name"`
		Start *string `json:"start"`
		End   *string `json:"end"`
	}
	if err := decodeStrict(raw, &w); err != nil {
		return Shift{ID: w.ID}, err
	}
	s := Shift{ID: w.ID, Name: strings.TrimSpace(w.Name)}
	for _, c := range []struct {
		field string
		text  *string
		clock *Clock
	}{{"start", w.Start, &s.Start}, {"end", w.End, &s.End}} {
		if c.text == nil {
			return s, fieldErr(c.field, "required (HH:MM)")
		}
		v, err := ParseClock(*c.text)
		if err != nil {
			return s, fieldErr(c.field, "%v", err)
		}
		*c.clock = v
	}
	return s, nil
}

// wireTask is a task as JSON (and GeoJSON properties) give it: pointers and
// nil lists tell a field left out from one given as zero.
type wireTask struct {
	ID             string              `json:"id"`
	Kind           Kind                `json:"kind"`
	Name           string              `json:"name"`
	Units          []string            `json:"units"`
	UnitTypes      []protocol.UnitType `json:"unit_types"`
	Shifts         []string            `json:"shifts"`
	Lat            *float64            `json:"lat"`
	Lon            *float64            `json:"lon"`
	RadiusM        *float64            `json:"radius_m"`
	DwellMin       *float64            `json:"dwell_min"`
	Windows        []string            `json:"windows"`
	Route          [][]float64         `json:"route"`
	BufferM        *float64            `json:"buffer_m"`
	CoverShare     *float64            `json:"cover_share"`
	Polygon        [][]float64         `json:"polygon"`
	MinPresenceMin *float64            `json:"min_presence_min"`
}

// given lists the kind-specific fields present, by kind, in the order the
// documentation lists them.
func (w *wireTask) given() map[Kind][]string {
	g := map[Kind][]string{}
	add := func(k Kind, name string, present bool) {
		if present {
			g[k] = append(g[k], name)
		}
	}
	add(KindPoint, "lat", w.Lat != nil)
	add(KindPoint, "lon", w.Lon != nil)
	add(KindPoint, "radius_m", w.RadiusM != nil)
	add(KindPoint, "dwell_min", w.DwellMin != nil)
	add(KindPoint, "windows", w.Windows != nil)
	add(KindLine, "route", w.Route != nil)
	add(KindLine, "buffer_m", w.BufferM != nil)
	add(KindLine, "cover_share", w.CoverShare != nil)
	add(KindArea, "polygon", w.Polygon != nil)
	add(KindArea, "min_presence_min", w.MinPresenceMin != nil)
	return g
}

// task converts w: the kind's fields required or defaulted, those of
// other kinds refused. Values are Validate's business.
func (w *wireTask) task() (Task, *Error) {
	t := Task{ID: w.ID, Kind: w.Kind, Name: strings.TrimSpace(w.Name),
		Units: nilIfEmpty(w.Units), UnitTypes: nilIfEmpty(w.UnitTypes), Shifts: nilIfEmpty(w.Shifts)}
	if w.ID == "" {
		return t, fieldErr("id", "required")
	}
	switch {
	case w.Kind == "":
		return t, fieldErr("kind", "required: point, line or area")
	case !w.Kind.Valid():
		return t, fieldErr("kind", "%q is not point, line or area", w.Kind)
	}
	given := w.given()
	for _, k := range []Kind{KindPoint, KindLine, KindArea} {
		if fields := given[k]; k != w.Kind && len(fields) > 0 {
			return t, fieldErr(fields[0], "a field of a %s task, not of a %s task", k, w.Kind)
		}
	}
	var err *Error
	switch w.Kind {
	case KindPoint:
		if w.Lat == nil {
			return t, fieldErr("lat", "required for a point task")
		}
		if w.Lon == nil {
			return t, fieldErr("lon", "required for a point task")
		}
		t.Lat, t.Lon = *w.Lat, *w.Lon
		t.RadiusM = orDefault(w.RadiusM, DefaultRadiusM)
		t.DwellMin = orDefault(w.DwellMin, 0)
		if len(w.Windows) > MaxWindows {
			return t, fieldErr("windows", "%d windows; at most %d", len(w.Windows), MaxWindows)
		}
		for _, s := range w.Windows {
			win, err := ParseWindow(s)
			if err != nil {
				return t, fieldErr("windows", "%v", err)
			}
			t.Windows = append(t.Windows, win)
		}
	case KindLine:
		if w.Route == nil {
			return t, fieldErr("route", "required for a line task")
		}
		if t.Route, err = positions("route", w.Route, false); err != nil {
			return t, err
		}
		t.BufferM = orDefault(w.BufferM, DefaultBufferM)
		t.CoverShare = orDefault(w.CoverShare, DefaultCoverShare)
	case KindArea:
		if w.Polygon == nil {
			return t, fieldErr("polygon", "required for an area task")
		}
		if w.MinPresenceMin == nil {
			return t, fieldErr("min_presence_min", "required for an area task")
		}
		if t.Polygon, err = positions("polygon", w.Polygon, true); err != nil {
			return t, err
		}
		t.MinPresenceMin = *w.MinPresenceMin
	}
	return t, nil
}

// positions converts [lon, lat] or [lon, lat, altitude] positions; a ring
// loses GeoJSON's closing repeat.
func positions(field string, raw [][]float64, ring bool) ([]Position, *Error) {
	if len(raw) > MaxVertices {
		return nil, fieldErr(field, "%d positions; at most %d", len(raw), MaxVertices)
	}
	out := make([]Position, 0, len(raw))
	for i, pos := range raw {
		if len(pos) < 2 || len(pos) > 3 {
			return nil, fieldErr(field, "position %d: want [lon, lat]", i+1)
		}
		out = append(out, Position{pos[0], pos[1]})
	}
	if n := len(out); ring && n > 1 && out[0] == out[n-1] {
		out = out[:n-1]
	}
	return out, nil
}

func orDefault(v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	return *v
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
