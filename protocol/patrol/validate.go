package patrol

import (
	"math"
	"unicode/utf8"

	"kuaifan/protocol"
)

// Validate checks a plan as Parse leaves it (defaults filled in): ids,
// names, the zone, every shift and every task, and the limits. The hub
// calls it on a plan it built itself; Parse calls it on every plan it
// reads. The first fault found is returned, as an *Error.
func (p *Plan) Validate() error {
	if err := p.validate(); err != nil {
		return err
	}
	return nil
}

func (p *Plan) validate() *Error {
	if !validID(p.ID) {
		return fieldErr("id", "%q: want [a-z0-9_-]{1,64}", p.ID)
	}
	if err := checkName(p.Name); err != nil {
		return err
	}
	if _, err := loadZone(p.Zone); err != nil {
		return err
	}
	switch {
	case len(p.Shifts) == 0:
		return fieldErr("shifts", "none; a plan needs at least one (leave the field out for day and night)")
	case len(p.Shifts) > MaxShifts:
		return fieldErr("shifts", "%d shifts; at most %d", len(p.Shifts), MaxShifts)
	case len(p.Tasks) > MaxTasks:
		return fieldErr("tasks", "%d tasks; at most %d", len(p.Tasks), MaxTasks)
	}
	shifts := make(map[string]Shift, len(p.Shifts))
	for i, s := range p.Shifts {
		where := shiftWhere(s.ID, i)
		switch {
		case !validID(s.ID):
			return fieldErr("id", "%q: want [a-z0-9_-]{1,64}", s.ID).at(where, "")
		case shifts[s.ID].ID != "":
			return fieldErr("id", "used by two shifts").at(where, "")
		case !s.Start.Valid():
			return fieldErr("start", "%d is not 0 to 1439 minutes", int(s.Start)).at(where, "")
		case !s.End.Valid():
			return fieldErr("end", "%d is not 0 to 1439 minutes", int(s.End)).at(where, "")
		}
		if err := checkName(s.Name); err != nil {
			return err.at(where, "")
		}
		shifts[s.ID] = s
	}
	ids := make(map[string]bool, len(p.Tasks))
	vertices, routeM := 0, 0.0
	for i := range p.Tasks {
		t := &p.Tasks[i]
		where, id := taskWhere(t.ID, i), ""
		if validID(t.ID) {
			id = t.ID
		}
		if ids[t.ID] {
			return fieldErr("id", "used by two tasks").at(where, id)
		}
		ids[t.ID] = true
		length, err := p.validateTask(t, shifts)
		if err != nil {
			return err.at(where, id)
		}
		vertices += len(t.Route) + len(t.Polygon)
		routeM += length
	}
	if vertices > MaxTotalVertices {
		return fieldErr("tasks", "%d positions in all routes and polygons; at most %d", vertices, MaxTotalVertices)
	}
	if routeM > MaxTotalRouteM {
		return fieldErr("tasks", "routes %.0f km long in all; at most %d km", routeM/1000, MaxTotalRouteM/1000)
	}
	return nil
}

// validateTask checks one task and returns its route's length (0 for a
// point or an area).
func (p *Plan) validateTask(t *Task, shifts map[string]Shift) (float64, *Error) {
	if !validID(t.ID) {
		return 0, fieldErr("id", "%q: want [a-z0-9_-]{1,64}", t.ID)
	}
	if !t.Kind.Valid() {
		return 0, fieldErr("kind", "%q is not point, line or area", t.Kind)
	}
	if err := checkName(t.Name); err != nil {
		return 0, err
	}
	if err := checkAssignment(t); err != nil {
		return 0, err
	}
	// The task's shifts: those it names, or all.
	var its []Shift
	seen := map[string]bool{}
	for _, id := range t.Shifts {
		s, ok := shifts[id]
		switch {
		case !ok:
			return 0, fieldErr("shifts", "the plan has no shift %q", id)
		case seen[id]:
			return 0, fieldErr("shifts", "%q listed twice", id)
		}
		seen[id] = true
		its = append(its, s)
	}
	if len(t.Shifts) == 0 {
		its = p.Shifts
	}
	if f := t.foreignField(); f != "" {
		return 0, fieldErr(f, "not a field of a %s task", t.Kind)
	}
	switch t.Kind {
	case KindPoint:
		return 0, checkPoint(t, its)
	case KindLine:
		return checkLine(t)
	default:
		return 0, checkArea(t, its)
	}
}

func checkAssignment(t *Task) *Error {
	if len(t.Units) == 0 && len(t.UnitTypes) == 0 {
		return fieldErr("units", "assigned to nobody: give units, unit_types or both")
	}
	if len(t.Units) > MaxAssigned {
		return fieldErr("units", "%d units; at most %d", len(t.Units), MaxAssigned)
	}
	units := make(map[string]bool, len(t.Units))
	for _, u := range t.Units {
		switch {
		case !protocol.ValidUnitID(u):
			return fieldErr("units", "%q is not a unit id ([A-Za-z0-9_-]{1,32})", u)
		case units[u]:
			return fieldErr("units", "%q listed twice", u)
		}
		units[u] = true
	}
	types := map[protocol.UnitType]bool{}
	for _, ty := range t.UnitTypes {
		switch {
		case !ty.Valid():
			return fieldErr("unit_types", "%q is not a unit type (%v)", ty, protocol.UnitTypes)
		case types[ty]:
			return fieldErr("unit_types", "%q listed twice", ty)
		}
		types[ty] = true
	}
	return nil
}

// foreignField names a field of another kind that t has, "" if none.
func (t *Task) foreignField() string {
	type field struct {
		name string
		set  bool
	}
	byKind := map[Kind][]field{
		KindPoint: {{"lat", t.Lat != 0}, {"lon", t.Lon != 0}, {"radius_m", t.RadiusM != 0}, {"dwell_min", t.DwellMin != 0}, {"windows", t.Windows != nil}},
		KindLine:  {{"route", t.Route != nil}, {"buffer_m", t.BufferM != 0}, {"cover_share", t.CoverShare != 0}},
		KindArea:  {{"polygon", t.Polygon != nil}, {"min_presence_min", t.MinPresenceMin != 0}},
	}
	for _, k := range []Kind{KindPoint, KindLine, KindArea} {
		for _, f := range byKind[k] {
			if k != t.Kind && f.set {
				return f.name
			}
		}
	}
	return ""
}

func checkPoint(t *Task, shifts []Shift) *Error {
	if !protocol.ValidLatLon(t.Lat, t.Lon) {
		return fieldErr("lat", "%v, %v is not a WGS-84 latitude and longitude", t.Lat, t.Lon)
	}
	if err := inRange("radius_m", t.RadiusM, MaxRadiusM); err != nil {
		return err
	}
	if !(t.DwellMin >= 0) || math.IsInf(t.DwellMin, 1) {
		return fieldErr("dwell_min", "%v is not >= 0", t.DwellMin)
	}
	if len(t.Windows) > MaxWindows {
		return fieldErr("windows", "%d windows; at most %d", len(t.Windows), MaxWindows)
	}
	for _, w := range t.Windows {
		if !w.Start.Valid() || !w.End.Valid() {
			return fieldErr("windows", "%v is not two clock times", w)
		}
		for _, s := range shifts {
			if !w.Within(s.Span()) {
				return fieldErr("windows", "%q is not within shift %q (%v)", w, s.ID, s.Span())
			}
		}
		if t.DwellMin > float64(w.Minutes()) {
			return fieldErr("dwell_min", "%v minutes do not fit in window %q", t.DwellMin, w)
		}
	}
	if len(t.Windows) == 0 {
		for _, s := range shifts {
			if t.DwellMin > float64(s.Minutes()) {
				return fieldErr("dwell_min", "%v minutes do not fit in shift %q (%v)", t.DwellMin, s.ID, s.Span())
			}
		}
	}
	return nil
}

func checkLine(t *Task) (float64, *Error) {
	if err := checkPositions("route", t.Route); err != nil {
		return 0, err
	}
	if len(t.Route) < 2 {
		return 0, fieldErr("route", "%d position(s); a route needs at least 2", len(t.Route))
	}
	length := RouteLength(t.Route)
	switch {
	case length == 0:
		return 0, fieldErr("route", "has no length: every position is the same")
	case length > MaxRouteM:
		return 0, fieldErr("route", "%.1f km long; at most %d km", length/1000, MaxRouteM/1000)
	}
	if err := inRange("buffer_m", t.BufferM, MaxBufferM); err != nil {
		return 0, err
	}
	return length, inRange("cover_share", t.CoverShare, 1)
}

func checkArea(t *Task, shifts []Shift) *Error {
	if err := checkPositions("polygon", t.Polygon); err != nil {
		return err
	}
	ring := t.Polygon
	if n := len(ring); n > 1 && ring[0] == ring[n-1] {
		ring = ring[:n-1] // a closing repeat is allowed, not counted
	}
	if len(ring) < 3 {
		return fieldErr("polygon", "%d distinct position(s); a ring needs at least 3", len(ring))
	}
	if ringArea(ring) == 0 {
		return fieldErr("polygon", "has no area")
	}
	shortest := 1440
	for _, s := range shifts {
		shortest = min(shortest, s.Minutes())
	}
	return inRange("min_presence_min", t.MinPresenceMin, float64(shortest))
}

func checkPositions(field string, ps []Position) *Error {
	if len(ps) > MaxVertices {
		return fieldErr(field, "%d positions; at most %d", len(ps), MaxVertices)
	}
	for i, p := range ps {
		if !protocol.ValidLatLon(p.Lat(), p.Lon()) {
			return fieldErr(field, "position %d: [%v, %v] is not WGS-84 [lon, lat]", i+1, p.Lon(), p.Lat())
		}
	}
	return nil
}

// inRange checks 0 < v <= max.
func inRange(field string, v, max float64) *Error {
	switch {
	case !(v > 0):
		return fieldErr(field, "%v is not > 0", v)
	case !(v <= max):
		return fieldErr(field, "%v is over %v", v, max)
	}
	return nil
}

func checkName(name string) *Error {
	switch {
	case len(name) > MaxNameLen:
		return fieldErr("name", "%d bytes; at most %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fieldErr("name", "not UTF-8")
	}
	return nil
}

// RouteLength is a route's length in metres: the great-circle distances
// between its consecutive positions.
func RouteLength(route []Position) float64 {
	var sum float64
	for i := 1; i < len(route); i++ {
		sum += protocol.Haversine(route[i-1].Lat(), route[i-1].Lon(), route[i].Lat(), route[i].Lon())
	}
	return sum
}

// ringArea is twice the signed area of a ring (shoelace), in degrees².
func ringArea(ring []Position) float64 {
	var a float64
	for i := range ring {
		j := (i + 1) % len(ring)
		a += ring[i].Lon()*ring[j].Lat() - ring[j].Lon()*ring[i].Lat()
	}
	return a
}

// validID is the pattern [a-z0-9_-]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
