package ui

// Hit is what a click on the map landed on.
type Hit struct {
	Kind     HitKind
	ID       string  // the incident's or unit's id
	Lat, Lon float64 // the clicked position
}

// HitKind says what was hit.
type HitKind int

const (
	HitNothing HitKind = iota
	HitIncident
	HitUnit
	HitPick     // several markers under the click: the picker opened (pick.go)
	HitSighting // the click placed a sighting (chase.go)
	HitCamera   // the click placed a sighting at a camera (chase.go); ID is the camera's
)

// Hit tolerances in CSS px, generous enough for a finger.
const (
	hitIncidentPx = incRadius + 6
	hitUnitPx     = 10.0
)

// HitTest finds what is under canvas point x, y: the nearest incident
// within reach first (they are fewer and matter more), else the nearest
// unit with a position, else nothing — with the position clicked.
func HitTest(s *Store, v View, x, y float64) Hit {
	h := Hit{}
	h.Lat, h.Lon = v.FromScreen(x, y)
	best := hitIncidentPx * hitIncidentPx
	for _, inc := range s.Incidents {
		ix, iy := v.ToScreen(inc.Lat, inc.Lon)
		if d := sq(ix-x) + sq(iy-y); d <= best {
			// Equal distance: the smaller id, so the answer does not depend on map order.
			if d < best || h.Kind != HitIncident || inc.ID < h.ID {
				best, h.Kind, h.ID = d, HitIncident, inc.ID
			}
		}
	}
	if h.Kind == HitIncident {
		return h
	}
	reach := max(hitUnitPx, UnitRadius(v.Zoom)+4)
	best = reach * reach
	scale := v.scale()
	ox, oy := v.origin()
	for _, u := range s.Units {
		if !u.HasFix {
			continue
		}
		ux, uy := u.MX*scale-ox, u.MY*scale-oy
		if d := sq(ux-x) + sq(uy-y); d <= best {
			if d < best || h.Kind != HitUnit || u.ID < h.ID {
				best, h.Kind, h.ID = d, HitUnit, u.ID
			}
		}
	}
	return h
}

func sq(x float64) float64 { return x * x }
