package agent

import (
	"fmt"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// The move-up card (调防, additive 2026-12) in Chromium, served by a real
// agent with a real hub: a reposition shows the spot's distance, direction
// and ETA with the unit still available; the officer's Arrived sends the
// arrived event naming the move-up, which the hub confirms; a second
// move-up ends by position; a third gives way to a dispatch from the hub.
// The hub's embedded broker lets only units in, so the repositions are
// handed to the agent as its link would hand them over; the wire is
// TestRepositionThroughMosquitto's.
func TestOfficerPageMoveUp(t *testing.T) {
	requireOfficerWeb(t)
	b := newBrowser(t)
	h := hubtest.Start(t, nil)
	r := officerPage(t, b, h, "car-10")
	b.waitJS("no card", `document.querySelector('#card.empty') !== null`, 5*time.Second)

	// 1. A move-up 800 m east: the card, its figures, the unit available.
	r.onCommands([]protocol.Command{{ID: "mu-c1", TS: time.Now().UnixMilli(), Type: protocol.CmdReposition,
		Incident: "mu-20261207-0001", Lat: ptr(lat0), Lon: ptr(lon0 + east(800)), Summary: "调防至五一广场，补芙蓉区覆盖空缺"}})
	b.waitJS("the move-up card", `document.querySelector('#moveup[data-id="mu-20261207-0001"]') !== null`, 10*time.Second)
	b.waitText("#mu-distance", "800 m · E")
	b.waitText("#mu-eta", "~3 min") // 800 m × 1.4 / 8.3 m/s = 135 s
	b.waitText("#mu-summary", "调防至五一广场，补芙蓉区覆盖空缺")
	b.waitText("#mu-title", "调防 Move up")
	b.waitText("#status", "available")
	b.checkEnabled(map[string]bool{"mu-arrived": true, "ack": false, "decline": false, "arrived": false, "cleared": false})
	b.waitJS("no assignment card", `document.querySelector('#card') === null`, time.Second)
	b.waitJS("48 px targets", `[...document.querySelectorAll('button, select')].every(e => {
		const r = e.getBoundingClientRect(); return r.height >= 48 && r.width >= 48 })`, time.Second)
	b.waitJS("SOS on screen", `document.querySelector('#sos').getBoundingClientRect().bottom <= window.innerHeight`, time.Second)
	b.waitJS("the move-up's Arrived on screen", `document.querySelector('#mu-arrived').getBoundingClientRect().bottom <= window.innerHeight`, time.Second)
	b.screenshot("officer-moveup")
	b.press("lang")
	b.waitText("#mu-distance", "800 米 · 东")
	b.waitText("#mu-arrived", "已到位")
	b.screenshot("officer-moveup-zh")
	b.press("lang")
	b.waitText("#mu-arrived", "Arrived")

	// The officer is there: Arrived, confirmed by the hub; the card goes.
	b.press("mu-arrived")
	b.waitAction("arrived", "mu-20261207-0001", "confirmed")
	b.waitJS("no card again", `document.querySelector('#card.empty') !== null && document.querySelector('#moveup') === null`, 5*time.Second)
	if _, ok := r.Reposition(); ok {
		t.Error("the move-up is still on")
	}

	// 2. A second one, reached by position: the agent reports it.
	r.onCommands([]protocol.Command{{ID: "mu-c2", TS: time.Now().UnixMilli(), Type: protocol.CmdReposition,
		Incident: "mu-20261207-0002", Lat: ptr(lat0 + north(600)), Lon: ptr(lon0)}})
	b.waitJS("the second move-up", `document.querySelector('#moveup[data-id="mu-20261207-0002"]') !== null`, 10*time.Second)
	b.waitJS("no summary", `document.querySelector('#mu-summary') === null`, time.Second)
	r.Sim.Set(lat0+north(550), lon0, 2, 0)
	b.waitAction("arrived", "mu-20261207-0002", "confirmed")
	b.waitJS("the second one gone", `document.querySelector('#moveup') === null`, 5*time.Second)

	// 3. A third, and the hub dispatches the unit: the incident's card.
	r.onCommands([]protocol.Command{{ID: "mu-c3", TS: time.Now().UnixMilli(), Type: protocol.CmdReposition,
		Incident: "mu-20261207-0003", Lat: ptr(lat0 + north(3000)), Lon: ptr(lon0)}})
	b.waitJS("the third move-up", `document.querySelector('#moveup[data-id="mu-20261207-0003"]') !== null`, 10*time.Second)
	waitFresh(t, h, "car-10")
	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "car-10")
	b.waitJS("the incident's card", fmt.Sprintf(`document.querySelector('#card[data-incident=%q][data-state="dispatched"]') !== null && document.querySelector('#moveup') === null`, inc.ID), 10*time.Second)
	b.checkEnabled(map[string]bool{"ack": true, "decline": true})
	if _, ok := r.Reposition(); ok {
		t.Error("the move-up survived the dispatch")
	}
	var got []string
	for _, e := range r.rec.events() {
		got = append(got, fmt.Sprintf("%s:%s:%s", e.Type, e.Incident, e.Status))
	}
	if want := "[arrived:mu-20261207-0001:available arrived:mu-20261207-0002:available]"; fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
}
