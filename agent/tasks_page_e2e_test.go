package agent

import (
	"fmt"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// The patrol tasks' card (巡逻任务, additive 2026-12) in Chromium, served by
// a real agent with a real hub: a tasks command shows the checkpoint by
// name with its window, dwell, distance and direction, the route and the
// area with theirs, in both languages; a move-up's card comes first; the
// next list replaces it; a dispatch from the hub takes the screen, and the
// tasks come back once the officer declines. The hub's embedded broker
// lets only units in, so the commands are handed to the agent as its link
// would hand them over; the wire is TestTasksThroughMosquitto's.
func TestOfficerPageTasks(t *testing.T) {
	requireOfficerWeb(t)
	b := newBrowser(t)
	h := hubtest.Start(t, nil)
	r := officerPage(t, b, h, "car-11")
	b.waitJS("no card, no tasks", `document.querySelector('#card.empty') !== null && document.querySelector('#tasks') === null`, 5*time.Second)

	// 1. A checkpoint 800 m east whose window is open, a route starting
	// 1 km north, an area centred 500 m south.
	now := time.Now()
	r.onCommands([]protocol.Command{tasksCmd("tk-c1", checkpoint("cp-wuyi-square", now), route("r-wuyi-avenue", now), area("a-huangxing", now))})
	cp := `#tasks .task[data-id="cp-wuyi-square"]`
	b.waitText(cp+" .task-name", "五一广场 Wuyi Square")
	b.waitText(cp+" .task-kind", "点 Checkpoint")
	b.waitText(cp+" .task-when", "now")
	b.waitText(cp+" .task-detail", "stay 10 min")
	b.waitText(cp+" .task-where", "800 m · E")
	b.waitJS("the window, HH:MM–HH:MM", fmt.Sprintf(`/^\d\d:\d\d–\d\d:\d\d$/.test(document.querySelector(%q).textContent.trim()) &&
		document.querySelector(%q).dataset.window === "open"`, cp+" .task-window", cp), time.Second)
	b.waitText(`#tasks .task[data-id="r-wuyi-avenue"] .task-detail`, "4.4 km long · drive 80%")
	b.waitText(`#tasks .task[data-id="r-wuyi-avenue"] .task-where`, "start 1.0 km · N")
	b.waitText(`#tasks .task[data-id="a-huangxing"] .task-name`, "a-huangxing")
	b.waitText(`#tasks .task[data-id="a-huangxing"] .task-where`, "centre 500 m · S")
	b.waitText("#tasks-title", "巡逻任务 Patrol tasks")
	b.waitText("#card.empty", "No assignment — your patrol tasks are below.")
	b.waitText("#status", "available")
	b.waitJS("48 px targets", `[...document.querySelectorAll('button, select')].every(e => {
		const r = e.getBoundingClientRect(); return r.height >= 48 && r.width >= 48 })`, time.Second)
	b.waitJS("48 px rows", `[...document.querySelectorAll('#tasks .task')].every(e => e.getBoundingClientRect().height >= 48)`, time.Second)
	b.waitJS("SOS on screen", `document.querySelector('#sos').getBoundingClientRect().bottom <= window.innerHeight`, time.Second)
	b.waitJS("the checkpoint on screen", fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().bottom <= document.querySelector('#sos').getBoundingClientRect().top`, cp), time.Second)
	b.screenshot("officer-tasks")
	b.press("lang")
	b.waitText(cp+" .task-kind", "点 巡逻点")
	b.waitText(cp+" .task-when", "现在")
	b.waitText(cp+" .task-where", "800 米 · 东")
	b.waitText("#tasks-title", "巡逻任务")
	b.screenshot("officer-tasks-zh")
	b.press("lang")
	b.waitText(cp+" .task-kind", "点 Checkpoint")

	// 2. A move-up: its card first, the tasks below it.
	r.onCommands([]protocol.Command{{ID: "tk-mu", TS: time.Now().UnixMilli(), Type: protocol.CmdReposition,
		Incident: "mu-20261207-0009", Lat: ptr(lat0 + north(2000)), Lon: ptr(lon0)}})
	b.waitJS("the move-up above the tasks", `(() => { const m = document.querySelector('#moveup'), t = document.querySelector('#tasks');
		return m !== null && t !== null && (m.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0 })()`, 10*time.Second)
	b.waitJS("the move-up's Arrived on screen", `document.querySelector('#mu-arrived').getBoundingClientRect().bottom <= window.innerHeight`, time.Second)

	// 3. The next list replaces the first: a checkpoint whose window opens
	// in 25 minutes.
	next := checkpoint("cp-huangxing", time.Now())
	next.Name = "黄兴广场 Huangxing Square"
	next.From, next.To = time.Now().Add(25*time.Minute).UnixMilli(), time.Now().Add(85*time.Minute).UnixMilli()
	r.onCommands([]protocol.Command{tasksCmd("tk-c2", next)})
	b.waitText(`#tasks .task[data-id="cp-huangxing"] .task-name`, "黄兴广场 Huangxing Square")
	b.waitText(`#tasks .task[data-id="cp-huangxing"] .task-when`, "in 25 min")
	b.waitJS("one task", `document.querySelectorAll('#tasks .task').length === 1 && document.querySelector('#tasks').dataset.n === "1"`, 5*time.Second)

	// 4. The hub dispatches the unit: the incident takes the screen (the
	// move-up gives way too); declined, the tasks are back.
	waitFresh(t, h, "car-11")
	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "car-11")
	b.waitJS("the incident's card, no tasks", fmt.Sprintf(`document.querySelector('#card[data-incident=%q]') !== null &&
		document.querySelector('#tasks') === null && document.querySelector('#moveup') === null`, inc.ID), 10*time.Second)
	b.press("decline")
	b.press("decline-confirm")
	b.waitAction("decline", inc.ID, "confirmed")
	b.waitText(`#tasks .task[data-id="cp-huangxing"] .task-name`, "黄兴广场 Huangxing Square")
	b.waitJS("no card again", `document.querySelector('#card.empty') !== null`, 5*time.Second)
	if got := taskIDs(r.Tasks()); got != "cp-huangxing" {
		t.Errorf("the agent's tasks [%s]", got)
	}
}
