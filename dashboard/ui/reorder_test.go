package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Every list is drawn once (list A), changes under the dispatcher's eyes —
// new incidents reorder the queue, a search narrows the units, units move and
// the recommendations re-rank — and is re-rendered by go-app (list B). A
// click on row k must then act on B[k], the item the row shows: go-app
// compares handlers by code pointer only, so a reused row that kept the
// handler of A[k] would dispatch, close or open the wrong one.

func incidentAt(id string, prio int, created int64) Incident {
	return Incident{ID: id, Status: api.IncidentOpen, Priority: prio, Kind: "theft", Lat: 28.2, Lon: 112.98, Created: created,
		Assignments: []api.Assignment{}, Timeline: []Entry{{TS: created, Type: "created", Actor: "dispatcher"}}}
}

func TestQueueClickAfterReorder(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	now := time.Now().UnixMilli()
	var a []Incident
	for i := range 9 {
		a = append(a, incidentAt(fmt.Sprintf("inc-a%d", i), 2+i%2, now-int64(100-i)*1000))
	}
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Incidents: a}, conn: 1, received: now}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	before := ids(m.nodes("li", "incident"))

	// New incidents arrive: priority 1 ones go to the top, and one of the
	// old ones is raised to priority 1.
	raised := a[8]
	raised.Priority = 1
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Incidents: []Incident{
		incidentAt("inc-b1", 1, now-5000), incidentAt("inc-b2", 1, now-4000), incidentAt("inc-b3", 3, now-3000), raised}}, conn: 1, received: now}},
		Link{}, false)
	m.rerender()
	rows := m.nodes("li", "incident")
	after := ids(rows)
	if fmt.Sprint(before) == fmt.Sprint(after[:len(before)]) {
		t.Fatalf("the queue did not reorder: %v", after)
	}
	queue := Queue(ct.C.Store.Incidents)
	for k, row := range rows {
		if row.attrs["data-id"] != queue[k].ID {
			t.Fatalf("row %d shows %s, the queue has %s", k, row.attrs["data-id"], queue[k].ID)
		}
		row.click(t)
		if got := ct.C.Scene.SelInc; got != queue[k].ID {
			t.Errorf("click on row %d (showing %s) selected %s", k, queue[k].ID, got)
		}
	}
}

func TestUnitsClickAfterSearch(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	now := time.Now().UnixMilli()
	var units []Unit
	for i := range 30 {
		typ, prefix := protocol.TypeCar, "sim-car-"
		if i%3 == 0 {
			typ, prefix = protocol.TypeMotorcycle, "sim-moto-"
		}
		u := unitAt(fmt.Sprintf("%s%04d", prefix, i), typ, protocol.StatusAvailable, 28.2+float64(i)/1000, 112.98, now)
		u.Callsign = fmt.Sprintf("湘A-%03d", i)
		units = append(units, u)
	}
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: units}, conn: 1, received: now}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer {
		return &UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(ct.C.Store.HubNow(time.Now()))}
	})
	if n := len(m.nodes("li", "unit")); n != 30 {
		t.Fatalf("%d rows", n)
	}

	ct.C.Filter.Search = "moto"
	m.rerender()
	rows := m.nodes("li", "unit")
	if len(rows) != 10 {
		t.Fatalf("search moto: %d rows", len(rows))
	}
	for k, row := range rows {
		want := row.attrs["data-id"]
		row.click(t)
		if got := ct.C.Scene.SelUnit; got != want {
			t.Errorf("click on row %d (showing %s) selected %s", k, want, got)
		}
	}
}

func ids(rows []node) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.attrs["data-id"]
	}
	return out
}

// A signed-in controller whose calls reach a fake hub, with n units and
// the incident inc selected.
func workingConsole(t *testing.T, incs ...Incident) (*Controller, *testLoop, *fakeHub) {
	t.Helper()
	h := newFakeHub(t)
	ct, l, c := signedIn(t, h)
	now := time.Now().UnixMilli()
	var units []Unit
	for i := range 6 {
		u := unitAt(fmt.Sprintf("sim-moto-%04d", i), protocol.TypeMotorcycle, protocol.StatusAvailable, 28.2+float64(i)/1000, 112.98, now)
		u.Callsign = fmt.Sprintf("铁骑-%02d", i)
		units = append(units, u)
	}
	h.mu.Lock()
	for i := range incs {
		inc := incs[i]
		h.incidents[inc.ID] = &inc
	}
	h.mu.Unlock()
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Units: units, Incidents: incs}})
	l.until(t, "the units and incidents", func() bool { return len(ct.C.Store.Units) >= 6 && len(ct.C.Store.Incidents) >= len(incs) })
	return ct, l, h
}

func recs(units ...string) []api.Recommendation {
	out := make([]api.Recommendation, len(units))
	for i, u := range units {
		out[i] = api.Recommendation{Candidate: api.Candidate{Unit: u, Type: protocol.TypeMotorcycle, ETAS: float64(30 * (i + 1)), Tier: 1}}
	}
	return out
}

// The recommendations re-rank (units moved) between two renders: Dispatch
// on row k asks to send, and after confirmation sends, the unit row k shows
// now — the bug was sim-moto-0255 sent from the row showing sim-moto-0019.
func TestRecommendationDispatchAfterRerank(t *testing.T) {
	now := time.Now().UnixMilli()
	inc := incidentAt("inc-1", 2, now-60_000)
	ct, l, h := workingConsole(t, inc)
	ct.C.SelectIncident("inc-1")
	a := inc
	a.Recommendations = recs("sim-moto-0000", "sim-moto-0001", "sim-moto-0002", "sim-moto-0003")
	ct.C.SetDetail(&a, time.Now())
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	if got := ids2(m.nodes("tr", "recommendation"), "data-unit"); fmt.Sprint(got) != "[sim-moto-0000 sim-moto-0001 sim-moto-0002 sim-moto-0003]" {
		t.Fatalf("list A %v", got)
	}

	b := inc
	b.Recommendations = recs("sim-moto-0003", "sim-moto-0000", "sim-moto-0005", "sim-moto-0001")
	ct.C.SetDetail(&b, time.Now())
	m.rerender()
	buttons := m.nodes("button", "dispatch")
	for k, want := range []string{"sim-moto-0003", "sim-moto-0000", "sim-moto-0005", "sim-moto-0001"} {
		if got := buttons[k].attrs["data-unit"]; got != want {
			t.Fatalf("row %d shows %s, want %s", k, got, want)
		}
		buttons[k].click(t)
		if p := ct.C.Confirm; p == nil || p.Action != ActDispatch || p.Unit != want || p.Incident != "inc-1" {
			t.Fatalf("Dispatch on row %d (showing %s) asks %+v", k, want, p)
		}
		ct.C.CancelConfirm()
	}
	// Confirmed: the hub is asked for the unit row 2 shows.
	buttons[2].click(t)
	ct.ConfirmPending()
	l.until(t, "the dispatch", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.assigned) == 1
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.assigned[0] != "inc-1/sim-moto-0005" {
		t.Errorf("the hub was asked for %s, the row showed sim-moto-0005", h.assigned[0])
	}
}

// Close after another incident was opened in the same detail: it closes the
// incident on screen — the bug closed the one opened first, and called off
// its units.
func TestCloseActsOnTheIncidentShown(t *testing.T) {
	now := time.Now().UnixMilli()
	ct, l, h := workingConsole(t, incidentAt("inc-1", 2, now-60_000), incidentAt("inc-2", 2, now-30_000))
	ct.C.SelectIncident("inc-1")
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	ct.C.SelectIncident("inc-2")
	m.rerender()
	closeBtn := m.nodes("button", "danger")
	if len(closeBtn) != 1 || closeBtn[0].attrs["data-incident"] != "inc-2" {
		t.Fatalf("close button %+v", closeBtn)
	}
	closeBtn[0].click(t)
	if p := ct.C.Confirm; p == nil || p.Action != ActClose || p.Incident != "inc-2" {
		t.Fatalf("Close asks %+v, want inc-2", p)
	}
	ct.ConfirmPending()
	l.until(t, "closed", func() bool { return ct.C.Store.History["inc-2"] != nil })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.closed) != 1 || h.closed[0] != "inc-2" {
		t.Errorf("the hub closed %v, want [inc-2]", h.closed)
	}
}

// The assignments change order (a unit was replaced, another added): a
// click selects the unit its row shows.
func TestAssignmentClickAfterChange(t *testing.T) {
	now := time.Now().UnixMilli()
	inc := incidentAt("inc-1", 1, now-60_000)
	inc.Assignments = []api.Assignment{{Unit: "sim-moto-0001", State: api.AssignDispatched}, {Unit: "sim-moto-0002", State: api.AssignDispatched}}
	ct, l, _ := workingConsole(t, inc)
	ct.C.SelectIncident("inc-1")
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	b := inc
	b.Assignments = []api.Assignment{{Unit: "sim-moto-0004", State: api.AssignDispatched}, {Unit: "sim-moto-0001", State: api.AssignDeclined},
		{Unit: "sim-moto-0002", State: api.AssignEnroute}}
	b.Timeline = append(append([]Entry{}, inc.Timeline...), Entry{Type: "decline"}, Entry{Type: "dispatched"})
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 3, TS: now, Incidents: []Incident{b}}, conn: ct.C.Store.conn, received: now}}, Link{}, false)
	m.rerender()
	rows := m.nodes("li", "assignment")
	if len(rows) != 3 {
		t.Fatalf("%d assignment rows", len(rows))
	}
	for k, row := range rows {
		want := b.Assignments[k].Unit
		if row.attrs["data-unit"] != want {
			t.Fatalf("row %d shows %s, want %s", k, row.attrs["data-unit"], want)
		}
		row.click(t)
		l.until(t, "the track", func() bool { return true })
		if got := ct.C.Scene.SelUnit; got != want {
			t.Errorf("click on assignment %d (showing %s) selected %s", k, want, got)
		}
	}
}

// Today's closed incidents reorder as more close; a click opens the one its
// row shows, and Reopen there asks for that one.
func TestClosedTodayClickAfterReorder(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.C.Role = api.RoleSupervisor // may reopen
	now := time.Now().UnixMilli()
	closed := func(id string, at int64) Incident {
		inc := incidentAt(id, 3, now-3_600_000)
		inc.Status, inc.Closed = api.IncidentClosed, at
		return inc
	}
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Incidents: []Incident{closed("inc-a", now-50_000), closed("inc-b", now-40_000)}}, conn: 1, received: now}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: now, Incidents: []Incident{closed("inc-c", now-1_000)}}, conn: 1, received: now}}, Link{}, false)
	m.rerender()
	rows := selectNodes(m.first, "li", "incident")
	if got := ids(rows); fmt.Sprint(got) != "[inc-c inc-b inc-a]" {
		t.Fatalf("closed today %v", got)
	}
	for k, row := range rows {
		row.click(t)
		if got := ct.C.Scene.SelInc; got != rows[k].attrs["data-id"] {
			t.Errorf("row %d (%s) opened %s", k, rows[k].attrs["data-id"], got)
		}
	}
	m.rerender()
	reopen := m.nodes("button", "primary")
	var btn *node
	for i := range reopen {
		if reopen[i].attrs["id"] == "incident-reopen" {
			btn = &reopen[i]
		}
	}
	if btn == nil {
		t.Fatal("no Reopen button")
	}
	btn.click(t)
	if p := ct.C.Confirm; p == nil || p.Action != ActReopen || p.Incident != "inc-a" {
		t.Errorf("Reopen asks %+v, want inc-a", p)
	}
}

// The alert banner reorders as alerts come and go: a click opens the
// incident its button names.
func TestAlertClickAfterReorder(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	ct.api = &API{Base: "http://hub.invalid"}
	now := time.Now().UnixMilli()
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now}, conn: 1, received: now}}, Link{}, false)
	add := func(seq uint64, incs ...Incident) {
		ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameDelta, Seq: seq, TS: now, Incidents: incs}, conn: 1, received: now}}, Link{}, false)
	}
	add(2, incidentAt("inc-1", 1, now), incidentAt("inc-2", 1, now))
	m := mount(t, func(rev int64) app.Composer { return &AlertBanner{Ctl: ct, Rev: rev} })
	unc := incidentAt("inc-3", 2, now)
	unc.Uncovered = true
	add(3, unc, incidentAt("inc-4", 1, now))
	m.rerender()
	items := m.nodes("button", "alert-item")
	if got := ids(items); fmt.Sprint(got) != "[inc-4 inc-3 inc-2 inc-1]" {
		t.Fatalf("alerts %v", got)
	}
	items[1].click(t)
	if got := ct.C.Scene.SelInc; got != "inc-3" {
		t.Errorf("the alert for inc-3 opened %s", got)
	}
	m.rerender()
	items = m.nodes("button", "alert-item")
	if got := ids(items); fmt.Sprint(got) != "[inc-4 inc-2 inc-1]" {
		t.Fatalf("after opening inc-3, alerts %v", got)
	}
	items[2].click(t)
	if got := ct.C.Scene.SelInc; got != "inc-1" {
		t.Errorf("the alert for inc-1 opened %s", got)
	}
}

func ids2(rows []node, attr string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.attrs[attr]
	}
	return out
}

// "Show more" adds UnitRows rows at a time; the rows keep acting on the
// units they show.
func TestUnitsShowMore(t *testing.T) {
	ct := NewController(NewConsole(EN), "")
	now := time.Now().UnixMilli()
	ct.C.ApplyFrames([]*Frame{{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: now, Units: fleetUnits(UnitRows*2+10, now)}, conn: 1, received: now}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer {
		return &UnitsPanel{Ctl: ct, Shown: ct.C.UnitsView(ct.C.Store.HubNow(time.Now()))}
	})
	for _, want := range []int{UnitRows, 2 * UnitRows, 2*UnitRows + 10} {
		rows := m.nodes("li", "unit")
		if len(rows) != want {
			t.Fatalf("%d rows, want %d", len(rows), want)
		}
		last := rows[len(rows)-1]
		last.click(t)
		if ct.C.Scene.SelUnit != last.attrs["data-id"] {
			t.Errorf("the last row (%s) selected %s", last.attrs["data-id"], ct.C.Scene.SelUnit)
		}
		more := m.nodes("button", "ghost")
		if want == 2*UnitRows+10 {
			if len(more) != 0 {
				t.Error("show more with every unit shown")
			}
			break
		}
		if len(more) != 1 || more[0].attrs["id"] != "units-more" {
			t.Fatalf("show more: %+v", more)
		}
		more[0].click(t)
		m.rerender()
	}
}
