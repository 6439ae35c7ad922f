package ui

import (
	"cmp"
	"slices"
	"strings"

	"kuaifan/protocol/api"
)

// A dispatcher's speed of work: opening an incident from any list, the
// keyboard, and today's closed incidents within reach.

// OpenIncident selects an incident from a list (the queue, an alert, today's
// closed ones): its detail is fetched, its alerts are cleared, and the map
// centres on it.
func (ct *Controller) OpenIncident(id string) {
	ct.C.Cursor = id
	ct.SelectIncident(id)
	ct.C.CenterOnIncident(id)
}

// ClosedToday is the incidents closed since dayStartMS (hub time), the most
// recently closed first: where a closed one is found again to reopen it.
func ClosedToday(s *Store, dayStartMS int64) []*Incident {
	var out []*Incident
	for _, inc := range s.History {
		if inc.Closed >= dayStartMS || (inc.Closed == 0 && inc.Created >= dayStartMS) {
			out = append(out, inc)
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int {
		return cmp.Or(cmp.Compare(b.Closed, a.Closed), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Keys the dashboard answers (KeyboardEvent.key).
const (
	KeyNew      = "n" // N: new incident (then a click on the map)
	KeySearch   = "/" // focus the units' search
	KeyUp       = "ArrowUp"
	KeyDown     = "ArrowDown"
	KeyEnter    = "Enter"
	KeyEscape   = "Escape"
	KeyDispatch = "d" // D: dispatch the top recommendation, after confirmation
	KeySighting = "s" // S: report a sighting on the selected incident (then a click on the map)
)

// KeyResult tells the page what to do after a key.
type KeyResult struct {
	Handled bool   // the key was ours: prevent the browser's default
	Focus   string // the id of an element to focus, if any
}

// Key handles a key pressed anywhere on the page. tag is the focused
// element's (lower case) and editable whether it takes text: in a text field
// only Escape is ours, and on a button or link Enter is the button's.
func (ct *Controller) Key(key, tag string, editable bool) KeyResult {
	c := ct.C
	typing := editable || tag == "input" || tag == "textarea" || tag == "select"
	if key == KeyEnter && (tag == "button" || tag == "a" || tag == "summary") {
		typing = true
	}
	if key == KeyEscape {
		switch {
		case c.Confirm != nil:
			c.CancelConfirm()
		case c.pick != nil:
			c.ClosePick()
		case c.Sighting.Open:
			c.CancelSighting()
		case c.Form.Open || c.Creating:
			c.CancelForm()
		case c.Scene.SelInc != "":
			ct.SelectIncident("")
		default:
			return KeyResult{}
		}
		return KeyResult{Handled: true}
	}
	if c.Confirm != nil {
		// The dialog's: Enter confirms, unless a button of its own or the
		// reason being typed has it.
		if key == KeyEnter && !typing {
			ct.ConfirmPending()
			return KeyResult{Handled: true}
		}
		return KeyResult{}
	}
	if typing || !ct.SignedIn() {
		return KeyResult{}
	}
	switch strings.ToLower(key) {
	case KeyNew:
		if !c.May(api.RoleCallTaker) {
			return KeyResult{}
		}
		c.StartCreating()
		c.Tab = TabMap
	case KeySearch:
		c.Tab = TabUnits
		return KeyResult{Handled: true, Focus: "unit-search"}
	case strings.ToLower(KeyUp), strings.ToLower(KeyDown):
		c.MoveCursor(key == KeyDown)
	case strings.ToLower(KeyEnter):
		if c.Cursor == "" {
			return KeyResult{}
		}
		ct.OpenIncident(c.Cursor)
		c.Tab = TabIncidents
	case KeyDispatch:
		if !ct.DispatchTop() {
			return KeyResult{}
		}
	case KeySighting:
		if !c.StartSighting() {
			return KeyResult{}
		}
	default:
		return KeyResult{}
	}
	return KeyResult{Handled: true}
}

// MoveCursor moves the queue's keyboard cursor to the next (or previous)
// incident, starting from the selected one.
func (c *Console) MoveCursor(down bool) {
	q := Queue(c.Store.Incidents)
	if len(q) == 0 {
		c.Cursor = ""
		return
	}
	at := slices.IndexFunc(q, func(inc *Incident) bool { return inc.ID == c.Cursor })
	if at < 0 {
		at = slices.IndexFunc(q, func(inc *Incident) bool { return inc.ID == c.Scene.SelInc })
	}
	switch {
	case at < 0 && down:
		at = 0
	case at < 0:
		at = len(q) - 1
	case down:
		at = min(at+1, len(q)-1)
	default:
		at = max(at-1, 0)
	}
	c.Cursor = q[at].ID
}

// DispatchTop asks to dispatch the first recommendation shown for the
// selected incident that is not already on it; false if there is none, or
// the person's role may not dispatch.
func (ct *Controller) DispatchTop() bool {
	c := ct.C
	inc := c.Selected()
	if inc == nil || inc.Status == api.IncidentClosed || c.Detail == nil || c.Detail.ID != inc.ID || !c.May(ActionRole(ActDispatch)) {
		return false
	}
	for _, r := range c.Detail.Recommendations {
		if !onIncident(inc, r.Unit) {
			ct.AskDispatch(inc.ID, r.Unit)
			return true
		}
	}
	return false
}

func onIncident(inc *Incident, unit string) bool {
	for _, a := range inc.Assignments {
		if a.Unit == unit && api.AssignmentActive(a.State) {
			return true
		}
	}
	return false
}

// Tabs of a narrow screen.
const (
	TabIncidents = "incidents"
	TabMap       = "map"
	TabUnits     = "units"
)
