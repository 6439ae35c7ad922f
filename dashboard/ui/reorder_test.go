package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"kuaifan/protocol"
)

// Every list is drawn once (list A), changes under the dispatcher's eyes —
// new incidents reorder the queue, a search narrows the units, units move and
// the recommendations re-rank — and is re-rendered by go-app (list B). A
// click on row k must then act on B[k], the item the row shows: go-app
// compares handlers by code pointer only, so a reused row that kept the
// handler of A[k] would dispatch, close or open the wrong one.

func incidentAt(id string, prio int, created int64) Incident {
	return Incident{ID: id, Status: IncOpen, Priority: prio, Kind: "theft", Lat: 28.2, Lon: 112.98, Created: created,
		Assignments: []Assignment{}, Timeline: []Entry{{TS: created, Type: "created", Actor: "dispatcher"}}}
}

func TestQueueClickAfterReorder(t *testing.T) {
	ct := NewController(NewConsole(EN), "http://hub.invalid")
	now := time.Now().UnixMilli()
	var a []Incident
	for i := range 9 {
		a = append(a, incidentAt(fmt.Sprintf("inc-a%d", i), 2+i%2, now-int64(100-i)*1000))
	}
	ct.C.ApplyFrames([]*Frame{{Type: FrameSnapshot, Seq: 1, TS: now, conn: 1, received: now, Incidents: a}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer { return &IncidentsPanel{Ctl: ct, Rev: rev} })
	before := ids(m.nodes("li", "incident"))

	// New incidents arrive: priority 1 ones go to the top, and one of the
	// old ones is raised to priority 1.
	raised := a[8]
	raised.Priority = 1
	ct.C.ApplyFrames([]*Frame{{Type: FrameDelta, Seq: 2, TS: now, conn: 1, received: now, Incidents: []Incident{
		incidentAt("inc-b1", 1, now-5000), incidentAt("inc-b2", 1, now-4000), incidentAt("inc-b3", 3, now-3000), raised}}},
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
	ct.C.ApplyFrames([]*Frame{{Type: FrameSnapshot, Seq: 1, TS: now, conn: 1, received: now, Units: units}}, Link{}, false)
	m := mount(t, func(rev int64) app.Composer { return &UnitsPanel{Ctl: ct, Rev: rev} })
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
