package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

func TestAlerts(t *testing.T) {
	now := time.Now().UnixMilli()
	unc := func(inc Incident) Incident { inc.Uncovered = true; return inc }
	dispatched := func(inc Incident) Incident { inc.Status = api.IncidentDispatched; return inc }
	closed := func(inc Incident) Incident { inc.Status = api.IncidentClosed; return inc }
	c := NewConsole(EN)
	apply := func(typ string, seq uint64, incs ...Incident) {
		c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: typ, Seq: seq, TS: now, Incidents: incs}, conn: 1, received: now}}, Link{}, false)
	}
	standing := func() string {
		var s []string
		for _, a := range c.Alerts {
			s = append(s, a.Incident+":"+a.Reason)
		}
		return strings.Join(s, " ")
	}
	// The first snapshot: what waits — uncovered ones, and P1 nobody is on.
	apply(api.FrameSnapshot, 1, incidentAt("old-p1", 1, now), dispatched(incidentAt("old-p1-sent", 1, now)),
		unc(dispatched(incidentAt("old-unc", 2, now))), incidentAt("old-p3", 3, now))
	if got := standing(); got != "old-p1:p1 old-unc:uncovered" {
		t.Errorf("first snapshot: %q", got)
	}
	// New P1 (even auto-dispatched at once); a P2 becoming uncovered; a
	// P3 seen again unchanged raises nothing.
	apply(api.FrameDelta, 2, dispatched(incidentAt("new-p1", 1, now)), unc(incidentAt("old-p3", 3, now)), incidentAt("new-p2", 2, now))
	if got := standing(); got != "old-p1:p1 old-unc:uncovered new-p1:p1 old-p3:uncovered" {
		t.Errorf("after the delta: %q", got)
	}
	// Covered again: that alert goes; closed: every alert of it goes;
	// opened: its alerts go.
	apply(api.FrameDelta, 3, incidentAt("old-p3", 3, now), closed(incidentAt("old-unc", 2, now)))
	c.SelectIncident("new-p1")
	if got := standing(); got != "old-p1:p1" {
		t.Errorf("after covering, closing and opening: %q", got)
	}
	// An incident on screen raises nothing: it is open before the eyes.
	apply(api.FrameDelta, 4, unc(incidentAt("new-p1", 1, now)))
	if got := standing(); got != "old-p1:p1" {
		t.Errorf("the selected incident alerted: %q", got)
	}
	// Removed from the stream (closed long ago): gone.
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 5, TS: now, RemovedIncidents: []string{"old-p1"}}, conn: 1, received: now}}, Link{}, false)
	if c.Alarming() {
		t.Errorf("still alarming: %q", standing())
	}
	// Grouped for the banner, newest incident first.
	got := AlertsByIncident([]Alert{{Incident: "a", Reason: AlertP1}, {Incident: "b", Reason: AlertUncovered}, {Incident: "a", Reason: AlertUncovered}})
	if fmt.Sprint(got) != "[{a [p1 uncovered]} {b [uncovered]}]" {
		t.Errorf("grouped %v", got)
	}
}

func TestRecsHold(t *testing.T) {
	c := NewConsole(EN)
	now := time.Now().UnixMilli()
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Incidents: []Incident{incidentAt("i", 2, now)}}, conn: 1, received: now}}, Link{}, false)
	c.SelectIncident("i")
	detail := func(units ...string) *Incident {
		inc := incidentAt("i", 2, now)
		inc.Recommendations = recs(units...)
		return &inc
	}
	shown := func() string { return fmt.Sprint(ids2n(c.Detail.Recommendations)) }
	c.SetDetail(detail("a", "b", "c"), time.Now())
	// The pointer comes in: the same order with new figures updates; a new
	// order waits.
	c.HoldRecs(true, true)
	same := detail("a", "b", "c")
	same.Recommendations[0].ETAS = 99
	c.SetDetail(same, time.Now())
	if c.Detail.Recommendations[0].ETAS != 99 || c.Recs.Next != nil {
		t.Errorf("same order held back: %+v", c.Recs)
	}
	c.SetDetail(detail("c", "a", "b"), time.Now())
	if shown() != "[a b c]" || c.Recs.Next == nil {
		t.Fatalf("a new order moved the list under the pointer: %s", shown())
	}
	// Focus inside too: the pointer leaving does not release it.
	c.HoldRecs(false, true)
	if c.HoldRecs(true, false) || shown() != "[a b c]" {
		t.Errorf("released with the focus still in the list: %s", shown())
	}
	if !c.HoldRecs(false, false) || shown() != "[c a b]" || c.Recs.Next != nil {
		t.Errorf("not released once both left: %s", shown())
	}
	// The refresh button shows it at once; another incident drops a waiting one.
	c.HoldRecs(true, true)
	c.SetDetail(detail("b", "c", "a"), time.Now())
	c.RefreshRecs()
	if shown() != "[b c a]" {
		t.Errorf("refresh: %s", shown())
	}
	c.SetDetail(detail("a", "b", "c"), time.Now())
	c.SelectIncident("")
	if c.Recs.Next != nil || c.Detail != nil {
		t.Errorf("another selection kept %+v", c.Recs.Next)
	}
}

func ids2n(rs []api.Recommendation) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Unit
	}
	return out
}

func TestKeys(t *testing.T) {
	now := time.Now().UnixMilli()
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"} // signed in; calls go nowhere (no UI loop)
	c := ct.C
	c.Role = api.RoleAdmin // may do everything
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Incidents: []Incident{
		incidentAt("p3", 3, now), incidentAt("p1", 1, now), incidentAt("p2", 2, now)}}, conn: 1, received: now}}, Link{}, false)
	key := func(k, tag string) KeyResult { return ct.Key(k, tag, false) }

	if r := key("n", "body"); !r.Handled || !c.Creating || c.Tab != TabMap {
		t.Errorf("N: %+v creating %v tab %s", r, c.Creating, c.Tab)
	}
	if r := key(KeyEscape, "body"); !r.Handled || c.Creating {
		t.Errorf("Esc after N: %+v creating %v", r, c.Creating)
	}
	if r := key("n", "input"); r.Handled || c.Creating {
		t.Error("N typed in a field armed a new incident")
	}
	if r := key("/", "body"); !r.Handled || r.Focus != "unit-search" || c.Tab != TabUnits {
		t.Errorf("/: %+v", r)
	}
	// ↓ from nothing: the first; ↓ ↓: the third; ↑: the second; Enter opens it.
	key(KeyDown, "body")
	if c.Cursor != "p1" {
		t.Errorf("↓ from nothing: %s", c.Cursor)
	}
	key(KeyDown, "body")
	key(KeyDown, "body")
	key(KeyDown, "body") // stays on the last
	key(KeyUp, "body")
	if c.Cursor != "p2" {
		t.Errorf("↓ ↓ ↓ ↑: %s", c.Cursor)
	}
	if r := key(KeyEnter, "button"); r.Handled || c.Scene.SelInc != "" {
		t.Error("Enter on a button opened the queue's row (the button is Enter's)")
	}
	if r := key(KeyEnter, "body"); !r.Handled || c.Scene.SelInc != "p2" || c.Tab != TabIncidents {
		t.Errorf("Enter: %+v selected %s", r, c.Scene.SelInc)
	}
	// D: nothing to dispatch before the recommendations came; then the top
	// one not already on the incident, after a confirmation.
	if r := key("d", "body"); r.Handled || c.Confirm != nil {
		t.Errorf("D without recommendations: %+v", r)
	}
	d := incidentAt("p2", 2, now)
	d.Assignments = []api.Assignment{{Unit: "u1", State: api.AssignEnroute}}
	d.Timeline = append(d.Timeline, Entry{Type: "dispatched"})
	d.Recommendations = recs("u1", "u2")
	c.SetDetail(&d, time.Now())
	if r := key("D", "body"); !r.Handled || c.Confirm == nil || c.Confirm.Unit != "u2" || c.Confirm.Incident != "p2" {
		t.Fatalf("D: %+v confirm %+v", r, c.Confirm)
	}
	// With the dialog open, keys are the dialog's: Enter on a button of its
	// own is that button's; elsewhere it confirms; Esc closes it, then the
	// selection.
	if r := key("n", "body"); r.Handled || c.Creating {
		t.Error("N acted under the dialog")
	}
	if r := key(KeyEnter, "button"); r.Handled || c.Confirm.Busy {
		t.Error("Enter on a button confirmed")
	}
	if r := key(KeyEnter, "body"); !r.Handled || !c.Confirm.Busy {
		t.Errorf("Enter did not confirm: %+v", c.Confirm)
	}
	c.Confirm.Busy = false // no hub here: as if it had refused
	key(KeyEscape, "textarea")
	if c.Confirm != nil {
		t.Error("Esc left the dialog")
	}
	key(KeyEscape, "body")
	if c.Scene.SelInc != "" {
		t.Error("Esc left the selection")
	}
	if r := key(KeyEscape, "body"); r.Handled {
		t.Error("Esc with nothing to cancel was taken")
	}
}

func TestPrefs(t *testing.T) {
	now := time.Now().UnixMilli()
	c := NewConsole(EN)
	c.Restore(decodePrefs(`{"lang":"zh","view":{"lat":28.3,"lon":113.0,"zoom":15.5},"incident":"inc-7","unit":"car-2","mute":true}`))
	v := c.View()
	if c.Lang != ZH || !c.Mute || v.Lat != 28.3 || v.Lon != 113.0 || v.Zoom != 15.5 {
		t.Errorf("restored %s mute %v view %+v", c.Lang, c.Mute, v)
	}
	// The first snapshot does not move the dispatcher's own view.
	ct := NewController(c, "http://hub.invalid")
	c.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{unitAt("car-2", protocol.TypeCar, protocol.StatusAvailable, 28.1, 112.9, now)}, Incidents: []Incident{incidentAt("inc-7", 2, now)}}, conn: 1, received: now}}, Link{}, false)
	ct.restoreSelection()
	if v := c.View(); v.Lat != 28.3 || v.Zoom != 15.5 {
		t.Errorf("the first snapshot moved the restored view: %+v", v)
	}
	if c.Scene.SelInc != "inc-7" || c.Scene.SelUnit != "car-2" {
		t.Errorf("selection %q %q", c.Scene.SelInc, c.Scene.SelUnit)
	}
	p := c.Prefs()
	if got := decodePrefs(encodePrefs(p)); got.Incident != "inc-7" || got.Unit != "car-2" || !got.Mute || got.Lang != ZH || got.View.Zoom != 15.5 {
		t.Errorf("round trip %+v", got)
	}
	// What another version or a hand left is ignored, never trusted.
	for _, bad := range []string{`not json`, `{"lang":"fr","view":{"lat":95,"lon":0,"zoom":10}}`, `{"view":{"lat":28,"lon":113,"zoom":40}}`} {
		c := NewConsole(EN)
		before := c.View()
		c.Restore(decodePrefs(bad))
		if c.Lang != EN || c.View() != before {
			t.Errorf("%s: lang %s view %+v", bad, c.Lang, c.View())
		}
	}
	// A selection that no longer exists is not restored.
	c2 := NewConsole(EN)
	ct2 := NewController(c2, "")
	c2.Restore(Prefs{Incident: "gone", Unit: "gone"})
	c2.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now}, conn: 1, received: now}}, Link{}, false)
	ct2.restoreSelection()
	if c2.Scene.SelInc != "" || c2.Scene.SelUnit != "" {
		t.Errorf("restored a selection that is gone: %q %q", c2.Scene.SelInc, c2.Scene.SelUnit)
	}
}

func TestUnitSorts(t *testing.T) {
	now := time.Now().UnixMilli()
	s := NewStore()
	off := unitAt("a-3", protocol.TypeCar, protocol.StatusAvailable, 28.30, 112.98, now)
	off.Online = false
	nofix := Unit{ID: "a-4", Type: protocol.TypeCar, Status: protocol.StatusAvailable, Online: true}
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: []Unit{
		unitAt("a-10", protocol.TypeCar, protocol.StatusBusy, 28.21, 112.98, now),
		unitAt("a-2", protocol.TypeCar, protocol.StatusEnroute, 28.25, 112.98, now),
		unitAt("a-1", protocol.TypeCar, protocol.StatusAvailable, 28.40, 112.98, now),
		off, nofix,
	}}, conn: 1})
	inc := &Incident{ID: "i", Lat: 28.20, Lon: 112.98}
	order := func(f UnitFilter, from *Incident) string {
		rows, _ := FilterUnits(s, f, now, -1, from)
		var out []string
		for _, u := range rows {
			out = append(out, u.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		f    UnitFilter
		from *Incident
		want string
	}{
		{UnitFilter{}, nil, "a-1 a-2 a-3 a-4 a-10"},
		{UnitFilter{Sort: SortID}, inc, "a-1 a-2 a-3 a-4 a-10"},
		{UnitFilter{Sort: SortStatus}, nil, "a-1 a-4 a-2 a-10 a-3"},
		{UnitFilter{Sort: SortDistance}, inc, "a-10 a-2 a-3 a-1 a-4"},
		{UnitFilter{Sort: SortDistance}, nil, "a-1 a-2 a-3 a-4 a-10"}, // no incident: natural order
	} {
		if got := order(tc.f, tc.from); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestClosedToday(t *testing.T) {
	now := time.Now()
	day := DayStart(now, 0)
	s := NewStore()
	closed := func(id string, at int64) Incident {
		return Incident{ID: id, Status: api.IncidentClosed, Created: at - 1000, Closed: at, Timeline: []Entry{{}}}
	}
	s.AddHistory([]Incident{closed("yesterday", day-60_000), closed("morning", day+3_600_000), closed("noon", day+6*3_600_000)})
	var got []string
	for _, inc := range ClosedToday(s, day) {
		got = append(got, inc.ID)
	}
	if strings.Join(got, " ") != "noon morning" {
		t.Errorf("closed today: %v", got)
	}
}
