package ui

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The panels' logic, kept out of the components so it runs in host tests.

// Queue is the open incidents in the order a dispatcher takes them: by
// priority (1 first), then oldest first, then by id.
func Queue(incs map[string]*Incident) []*Incident {
	out := make([]*Incident, 0, len(incs))
	for _, inc := range incs {
		if inc.Status != api.IncidentClosed {
			out = append(out, inc)
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Created, b.Created),
			strings.Compare(a.ID, b.ID))
	})
	return out
}

// ActiveAssignments counts the units still on an incident.
func ActiveAssignments(inc *Incident) int {
	n := 0
	for _, a := range inc.Assignments {
		if api.AssignmentActive(a.State) {
			n++
		}
	}
	return n
}

// UnitFilter is what the units panel shows.
type UnitFilter struct {
	Status   string // "" all, or a protocol.Status; "offline" and "stale" too
	Type     string // "" all, or a protocol.UnitType
	District string // "" all, a District.ID, or "outside"
	Search   string // case-insensitive substring of id or callsign
	Sort     string // SortID (or ""), SortStatus or SortDistance
}

// Orders of the units list.
const (
	SortID       = "id"       // natural id order (also the zero value)
	SortStatus   = "status"   // available first, then en route, on scene, busy, off duty; offline last
	SortDistance = "distance" // nearest the selected incident first; without a position last
)

// Match reports whether u passes the filter at hub time nowMS.
func (f UnitFilter) Match(u *UnitState, nowMS int64) bool {
	switch f.Status {
	case "":
	case "offline":
		if u.Online {
			return false
		}
	case "stale":
		if !u.Online || u.Fresh(nowMS) {
			return false
		}
	default:
		if string(u.Status) != f.Status {
			return false
		}
	}
	if f.Type != "" && string(u.Type) != f.Type {
		return false
	}
	switch f.District {
	case "":
	case "outside":
		if u.District >= 0 {
			return false
		}
	default:
		if u.DistrictID != f.District {
			return false
		}
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		if !containsFold(u.ID, q) && !containsFold(u.Callsign, q) {
			return false
		}
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// FilterUnits returns the units passing f in f.Sort's order, at most limit
// of them, and how many passed in all. from is the selected incident, for
// SortDistance (nil: natural order).
func FilterUnits(s *Store, f UnitFilter, nowMS int64, limit int, from *Incident) ([]*UnitState, int) {
	natural := f.Sort != SortStatus && (f.Sort != SortDistance || from == nil)
	var all []*UnitState
	total := 0
	for _, id := range s.SortedIDs() {
		if u := s.Units[id]; u != nil && f.Match(u, nowMS) {
			total++
			// In natural order the first limit are the rows: count the rest.
			if !natural || limit < 0 || len(all) < limit {
				all = append(all, u)
			}
		}
	}
	switch {
	case f.Sort == SortStatus:
		// Stable: natural id order within a status.
		slices.SortStableFunc(all, func(a, b *UnitState) int { return cmp.Compare(statusRank(a), statusRank(b)) })
	case f.Sort == SortDistance && from != nil:
		d := make(map[*UnitState]float64, len(all))
		for _, u := range all {
			d[u] = math.Inf(1)
			if u.HasFix {
				d[u] = protocol.Haversine(u.Lat, u.Lon, from.Lat, from.Lon)
			}
		}
		slices.SortStableFunc(all, func(a, b *UnitState) int { return cmp.Compare(d[a], d[b]) })
	}
	if limit >= 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total
}

// statusRank orders units for SortStatus: the ones a dispatcher can send
// first.
func statusRank(u *UnitState) int {
	if !u.Online {
		return 10
	}
	return statusSlot(u.Status)
}

// NaturalCompare orders strings with their digit runs compared as numbers
// (car-2 before car-10) and letters case-insensitively; strings equal that
// way are ordered by their bytes, so the order is total.
func NaturalCompare(a, b string) int {
	if c := naturalFold(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func naturalFold(a, b string) int {
	for a != "" && b != "" {
		ra, rb := rune(a[0]), rune(b[0])
		if isDigit(ra) && isDigit(rb) {
			na, ta := digitRun(a)
			nb, tb := digitRun(b)
			// By value: without leading zeros, the longer run is larger.
			za, zb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmp.Or(cmp.Compare(len(za), len(zb)), strings.Compare(za, zb)); c != 0 {
				return c
			}
			a, b = ta, tb
			continue
		}
		if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
			return c
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(rune(s[i])) {
		i++
	}
	return s[:i], s[i:]
}

// Stats is what the status bar shows.
type Stats struct {
	Available      [len(protocol.UnitTypes)]int // dispatchable units by type, in protocol.UnitTypes order
	Units, Online  int
	Open           int
	Uncovered      int
	MedianArrivalS float64 // of incidents created today that have an arrival
	Arrivals       int     // how many the median is over (0: no median)
}

// ComputeStats counts units and incidents. dayStartMS is local midnight in
// hub time: "today" is the dispatcher's day.
func ComputeStats(s *Store, nowMS, dayStartMS int64) Stats {
	var st Stats
	for _, u := range s.Units {
		st.Units++
		if u.Online {
			st.Online++
		}
		if u.Dispatchable(nowMS) {
			if i := typeIndex(u.Type); i >= 0 {
				st.Available[i]++
			}
		}
	}
	var arrivals []float64
	add := func(inc *Incident) {
		if inc.Created >= dayStartMS && inc.Figures.ToArrivalS != nil {
			arrivals = append(arrivals, *inc.Figures.ToArrivalS)
		}
	}
	for _, inc := range s.Incidents {
		st.Open++
		if inc.Uncovered {
			st.Uncovered++
		}
		add(inc)
	}
	for _, inc := range s.History {
		add(inc)
	}
	st.Arrivals = len(arrivals)
	st.MedianArrivalS = Median(arrivals)
	return st
}

// Median of xs (sorted in place); 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

func typeIndex(t protocol.UnitType) int {
	for i, u := range protocol.UnitTypes {
		if u == t {
			return i
		}
	}
	return -1
}

// DayStart is local midnight of now, in Unix ms shifted to the hub's clock.
func DayStart(local time.Time, skewMS int64) int64 {
	y, m, d := local.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, local.Location()).UnixMilli() + skewMS
}

// ParseNeeds splits a comma- or space-separated list of capabilities,
// lower-cased and de-duplicated; it returns the first invalid one, if any.
func ParseNeeds(s string) (needs []string, bad string) {
	needs = []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || unicode.IsSpace(r) }) {
		f = strings.ToLower(f)
		if !protocol.ValidCapability(f) {
			return nil, f
		}
		if !slices.Contains(needs, f) {
			needs = append(needs, f)
		}
	}
	return needs, ""
}

// ValidTiles checks a basemap URL template: http(s) or a path on this
// server, with {z}, {x} and {y}. Empty means the vector map.
func ValidTiles(tmpl string) bool {
	if tmpl == "" {
		return true
	}
	if !strings.HasPrefix(tmpl, "https://") && !strings.HasPrefix(tmpl, "http://") && !strings.HasPrefix(tmpl, "/") {
		return false
	}
	return strings.Contains(tmpl, "{z}") && strings.Contains(tmpl, "{x}") && strings.Contains(tmpl, "{y}") &&
		!strings.ContainsAny(tmpl, "\"'<> \t\n")
}
