package e2e

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// A dispatcher's working day in Chromium against the real hub, with every
// list changing under the dispatcher's eyes before each click: new incidents
// reorder the queue, units move and re-rank the recommendations, a search
// narrows the units. Each action is checked at the hub: the unit sent, the
// incident closed or reopened, is the one the row showed when it was clicked.
//
// Units near the incidents are test devices (real MQTT clients) whose moves
// the test chooses, so the reorderings are certain; a small simulated fleet
// patrols Changsha meanwhile.

// spot is where the test's incidents are: just outside the simulated fleet's
// patrol area, so only the test's units rank first.
var spot = struct{ lat, lon float64 }{28.36, 113.16}

// north is a point dm metres north of the spot.
func north(dm float64) (lat, lon float64) { return spot.lat + dm/111_195, spot.lon }

// unitDevice is a test device enrolled with a callsign.
type unitDevice struct {
	*hubtest.Device
	callsign string
	mu       sync.Mutex
	seq      uint64
}

func enrolDevice(t *testing.T, h *hubtest.Hub, id, callsign string) *unitDevice {
	t.Helper()
	var out struct{ Secret string }
	if code := h.Do(http.MethodPost, "/api/units", map[string]any{"id": id, "type": "motorcycle", "callsign": callsign,
		"capabilities": []string{}}, &out); code != http.StatusCreated {
		t.Fatalf("enrol %s: %d", id, code)
	}
	return &unitDevice{Device: hubtest.Connect(t, h.MQTTURL(), id, out.Secret, hubtest.DeviceOptions{}), callsign: callsign}
}

// moveTo reports a fresh fix, available, dm metres north of the spot.
func (d *unitDevice) moveTo(dm float64) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	lat, lon := north(dm)
	d.Send(d.Fix(seq, time.Now(), lat, lon, protocol.StatusAvailable))
	d.WaitAcked(seq)
}

type hubIncident struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Assignments []struct {
		Unit  string `json:"unit"`
		State string `json:"state"`
	} `json:"assignments"`
	Timeline []struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
		Params *struct {
			Note string `json:"note"`
		} `json:"params"`
	} `json:"timeline"`
}

func createIncident(t *testing.T, h *hubtest.Hub, dm float64, kind string, prio int) string {
	t.Helper()
	lat, lon := north(dm)
	var inc hubIncident
	if code := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": lat, "lon": lon, "kind": kind,
		"priority": prio, "summary": "e2e " + kind, "needs": []string{}}, &inc); code != http.StatusCreated {
		t.Fatalf("create incident: %d", code)
	}
	return inc.ID
}

func getIncident(t *testing.T, h *hubtest.Hub, id string) hubIncident {
	t.Helper()
	var inc hubIncident
	if code := h.Do(http.MethodGet, "/api/incidents/"+id, nil, &inc); code != http.StatusOK {
		t.Fatalf("GET incident %s: %d", id, code)
	}
	return inc
}

func (inc hubIncident) assigned() []string {
	var out []string
	for _, a := range inc.Assignments {
		out = append(out, a.Unit)
	}
	return out
}

// clickNth clicks the k-th element matching css and returns its data-attr as
// it was at that instant: one JavaScript turn, so the list cannot change
// between reading what the row shows and clicking it.
func (b *browser) clickNth(css string, k int, attr string) string {
	b.t.Helper()
	v := eval[string](b, fmt.Sprintf(`(() => {
		const el = document.querySelectorAll(%q)[%d];
		if (!el) return "";
		const v = el.dataset[%q] || "";
		el.click();
		return v;
	})()`, css, k, attr))
	if v == "" {
		b.screenshot("failed-click")
		b.t.Fatalf("no %s #%d with data-%s", css, k, attr)
	}
	return v
}

// attrs is data-attr of every element matching css, in order.
func (b *browser) attrs(css, attr string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.dataset[%q] || "")`, css, attr))
}

// centre is the middle of the first element matching css, in page coordinates.
func (b *browser) centre(css string) (x, y float64) {
	b.t.Helper()
	p := eval[struct{ X, Y float64 }](b, fmt.Sprintf(`(() => {
		const r = document.querySelector(%q).getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2};
	})()`, css))
	return p.X, p.Y
}

func (b *browser) pointerAt(x, y float64) {
	b.t.Helper()
	b.do("move the pointer", 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
}

func TestDispatcherWorkday(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))
	fleet(t, h, 6)
	e := []*unitDevice{
		enrolDevice(t, h, "kf-e01", "湘A-E01"), enrolDevice(t, h, "kf-e02", "湘A-E02"),
		enrolDevice(t, h, "kf-e03", "湘A-E03"), enrolDevice(t, h, "kf-e04", "湘A-E04"),
	}
	for i, d := range e {
		d.moveTo(float64(200 * (i + 1))) // 200, 400, 600, 800 m north of the spot
	}

	wang := person(t, h, "wang", api.RoleSupervisor)
	b.signIn(h.URL+"/", wang)
	b.waitJS("the units on the map", `window.kuaifanStats && kuaifanStats.units >= 10`, 20*time.Second)
	// Away from the recommendations, so nothing holds them.
	awayX, awayY := b.centre("#map")
	b.pointerAt(awayX, awayY)

	// The queue: three incidents, then two more — one of them priority 1,
	// in the city, which goes to the top and raises an alert.
	q1 := createIncident(t, h, 0, "theft", 3)
	q2 := createIncident(t, h, 10, "fraud", 3)
	q3 := createIncident(t, h, 20, "dispute", 2)
	b.waitJS("three incidents in the queue", `document.querySelectorAll("#queue li.incident").length === 3`, 10*time.Second)
	before := b.attrs("#queue li.incident", "id")
	q4 := createIncident(t, h, 30, "noise", 2)
	var p1 hubIncident
	if code := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": 28.195, "lon": 112.98, "kind": "robbery",
		"priority": 1, "summary": "e2e 持刀抢劫", "needs": []string{}}, &p1); code != http.StatusCreated {
		t.Fatalf("create the P1: %d", code)
	}
	q5 := p1.ID
	b.waitJS("five incidents, the P1 first", fmt.Sprintf(
		`Array.from(document.querySelectorAll("#queue li.incident")).map(e => e.dataset.id).join(" ") === %q`,
		strings.Join([]string{q5, q3, q4, q1, q2}, " ")), 10*time.Second)
	t.Logf("queue %v became %v", before, b.attrs("#queue li.incident", "id"))
	// The alert: a banner and the alarm, until the P1 is opened.
	b.waitJS("the P1 alert", fmt.Sprintf(`document.querySelector('#alerts .alert-item[data-id=%q][data-reason~="p1"]') !== null`, q5), 10*time.Second)
	b.waitJS("the alarm sounding", `window.kuaifanAlarm && kuaifanAlarm.beeps >= 1`, 10*time.Second)
	b.screenshot("workday-1-alert-1440x900")
	// Muted, the alarm stops and the banner stays; the choice is kept.
	b.do("mute", 5*time.Second, chromedp.Click(chromedp.CSS("#mute")))
	b.waitJS("muted", `kuaifanAlarm.muted === true && document.querySelector("#mute").dataset.muted === "true"`, 5*time.Second)
	beeps := eval[int](b, `kuaifanAlarm.beeps`)
	time.Sleep(2500 * time.Millisecond)
	if got := eval[int](b, `kuaifanAlarm.beeps`); got != beeps || eval[bool](b, `document.querySelector("#alerts") === null`) {
		t.Errorf("muted: %d beeps after %d, banner gone %v", got, beeps, eval[bool](b, `document.querySelector("#alerts") === null`))
	}
	b.waitJS("the muting kept", `JSON.parse(localStorage.getItem("kuaifan.prefs") || "{}").mute === true`, 5*time.Second)
	b.do("unmute", 5*time.Second, chromedp.Click(chromedp.CSS("#mute")))
	b.waitJS("sounding again", fmt.Sprintf(`kuaifanAlarm.muted === false && kuaifanAlarm.beeps > %d`, beeps), 10*time.Second)
	for k := range 5 {
		id := b.clickNth("#queue li.incident", k, "id")
		b.waitJS("the incident clicked", fmt.Sprintf(`document.querySelector("#incident-detail") && document.querySelector("#incident-detail").dataset.id === %q`, id), 10*time.Second)
	}
	b.waitJS("the alert cleared once opened", `document.querySelector("#alerts") === null`, 5*time.Second)

	// Recommendations re-rank as units move: kf-e03 drives to 100 m.
	b.clickNth("#queue li.incident", 3, "id") // q1
	b.waitJS("q1 with its recommendations", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q && document.querySelector('.recommendation[data-unit="kf-e01"]') !== null`, q1), 10*time.Second)
	// Opened from the list, the incident is in the middle of the map.
	lat, lon := north(0)
	if c := eval[struct{ DX, DY float64 }](b, fmt.Sprintf(`(() => {
		const r = document.getElementById("map").getBoundingClientRect(), p = window.kuaifanMapPoint(%g, %g);
		return {dx: p.x - (r.left + r.width / 2), dy: p.y - (r.top + r.height / 2)};
	})()`, lat, lon)); math.Abs(c.DX) > 2 || math.Abs(c.DY) > 2 {
		t.Errorf("q1 is %.0f, %.0f px from the map's centre", c.DX, c.DY)
	}
	if got := b.attrs(".recommendation", "unit"); len(got) < 3 || got[0] != "kf-e01" || got[1] != "kf-e02" || got[2] != "kf-e03" {
		t.Fatalf("recommendations %v, want kf-e01, kf-e02, kf-e03 first", got)
	}
	if txt := eval[string](b, `document.querySelector(".recommendation button.dispatch").textContent`); !strings.Contains(txt, "湘A-E01") {
		t.Errorf("the Dispatch button says %q, not the unit's callsign", txt)
	}
	e[2].moveTo(100)
	b.waitJS("the recommendations re-ranked", `document.querySelector(".recommendation").dataset.unit === "kf-e03"`, 15*time.Second)
	shown := b.clickNth(".recommendation button.dispatch", 0, "unit")
	b.waitJS("the confirmation", `document.querySelector("#confirm") !== null`, 5*time.Second)
	if got := eval[string](b, `document.querySelector("#confirm").dataset.unit`); got != shown || shown != "kf-e03" {
		t.Fatalf("the row showed %s, the confirmation is for %s", shown, got)
	}
	if txt := eval[string](b, `document.querySelector("#confirm-text").textContent`); !strings.Contains(txt, "湘A-E03") || !strings.Contains(txt, q1) {
		t.Errorf("the confirmation says %q", txt)
	}
	b.do("confirm the dispatch", 10*time.Second, chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if got := getIncident(t, h, q1).assigned(); len(got) != 1 || got[0] != "kf-e03" {
			return fmt.Errorf("q1 has %v, want kf-e03 (the row clicked)", got)
		}
		return nil
	})

	// Under the pointer the list holds still: kf-e02 moves to 50 m while the
	// dispatcher points at the list; it says "updated" instead, and Dispatch
	// on the first row sends the unit that row shows.
	b.clickNth("#queue li.incident", 4, "id") // q2
	b.waitJS("q2 with its recommendations", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q && document.querySelector(".recommendation") !== null && document.querySelector(".recommendation").dataset.unit === "kf-e01"`, q2), 10*time.Second)
	rx, ry := b.centre("#recommendations tbody tr:first-child td.eta")
	b.pointerAt(rx, ry)
	e[1].moveTo(50)
	b.waitJS("the ranking held, with a refresh offered", `document.querySelector("#recs-refresh") !== null`, 15*time.Second)
	if got := eval[string](b, `document.querySelector(".recommendation").dataset.unit`); got != "kf-e01" {
		t.Fatalf("the list moved under the pointer: first row %s", got)
	}
	bx, by := b.centre("#recommendations tbody tr:first-child button.dispatch")
	b.do("dispatch the held first row", 10*time.Second, chromedp.MouseClickXY(bx, by), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if got := eval[string](b, `document.querySelector("#confirm").dataset.unit`); got != "kf-e01" {
		t.Fatalf("the held row showed kf-e01, the confirmation is for %s", got)
	}
	b.do("confirm with Enter", 10*time.Second, chromedp.KeyEvent(kb.Enter), chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if got := getIncident(t, h, q2).assigned(); len(got) != 1 || got[0] != "kf-e01" {
			return fmt.Errorf("q2 has %v, want kf-e01 (the row shown)", got)
		}
		return nil
	})
	b.pointerAt(awayX, awayY)
	b.waitJS("the new ranking once the pointer left", `document.querySelector("#recs-refresh") === null && document.querySelector(".recommendation").dataset.unit === "kf-e02"`, 15*time.Second)

	// Close acts on the incident on screen: q3 was open first, then q4.
	b.clickNth("#queue li.incident", 1, "id") // q3
	b.waitJS("q3", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q`, q3), 5*time.Second)
	b.clickNth("#queue li.incident", 2, "id") // q4
	b.waitJS("q4", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q`, q4), 5*time.Second)
	b.do("close", 10*time.Second, chromedp.Click(chromedp.CSS("#incident-close")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if got := eval[string](b, `document.querySelector("#confirm").dataset.incident + " " + document.querySelector("#confirm").dataset.action`); got != q4+" close" {
		t.Fatalf("the confirmation is %q, want closing %s", got, q4)
	}
	b.do("confirm the close", 10*time.Second, chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	if s := getIncident(t, h, q4).Status; s != "closed" {
		t.Errorf("q4 is %s after closing it", s)
	}
	if s := getIncident(t, h, q3).Status; s == "closed" {
		t.Errorf("q3 was closed: the click closed another incident")
	}

	// Reopen it from today's closed incidents, with a reason.
	b.do("today's closed", 5*time.Second, chromedp.Click(chromedp.CSS("#closed-today summary")))
	b.clickNth("#closed-today li.incident", 0, "id")
	b.do("reopen", 10*time.Second, chromedp.Click(chromedp.CSS("#incident-reopen")), chromedp.WaitVisible(chromedp.CSS("#confirm-note")),
		chromedp.SendKeys(chromedp.CSS("#confirm-note"), "报警人再次来电 caller rang again"),
		chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	reopened := getIncident(t, h, q4)
	last := reopened.Timeline[len(reopened.Timeline)-1]
	if reopened.Status != "open" || last.Type != "reopened" || last.Params == nil || last.Params.Note != "报警人再次来电 caller rang again" {
		t.Errorf("after reopening: status %s, last entry %+v", reopened.Status, last)
	}

	// The units list after a search and a sort: a click selects the row's unit.
	b.do("search", 5*time.Second, chromedp.SendKeys(chromedp.CSS("#unit-search"), "kf-e"))
	b.waitJS("four test units", `document.querySelectorAll("#unit-list li.unit").length === 4`, 5*time.Second)
	eval[bool](b, `(() => { const s = document.getElementById("unit-sort"); s.value = "status"; s.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`)
	b.waitJS("sorted by status", `document.querySelector("#unit-list li.unit").dataset.status === "available"`, 5*time.Second)
	for k := range 4 {
		id := b.clickNth("#unit-list li.unit", k, "id")
		b.waitJS("the unit selected", fmt.Sprintf(`document.querySelector("#unit-track") && document.querySelector("#unit-track").dataset.unit === %q`, id), 5*time.Second)
	}
	// An assignment row selects its unit.
	b.clickNth("#queue li.incident", 3, "id") // q1, kf-e03 on it
	b.waitJS("q1's assignment", `document.querySelector('.assignment[data-unit="kf-e03"]') !== null`, 5*time.Second)
	b.clickNth(".assignment", 0, "unit")
	b.waitJS("kf-e03 selected", `document.querySelector("#unit-track").dataset.unit === "kf-e03"`, 5*time.Second)

	// The keyboard: N arms a new incident, Esc cancels; ↑ ↓ move along the
	// queue from the incident last opened (q1), Enter opens; D asks to
	// dispatch the top recommendation.
	eval[bool](b, `(document.activeElement && document.activeElement.blur(), true)`)
	b.do("N", 5*time.Second, chromedp.KeyEvent("n"))
	b.waitJS("new incident armed", `document.querySelector("#new-incident").classList.contains("active")`, 5*time.Second)
	b.do("Esc", 5*time.Second, chromedp.KeyEvent(kb.Escape))
	b.waitJS("disarmed", `!document.querySelector("#new-incident").classList.contains("active")`, 5*time.Second)
	b.do("Esc again: back to the queue", 5*time.Second, chromedp.KeyEvent(kb.Escape))
	b.waitJS("nothing selected", `document.querySelector("#incident-detail") === null`, 5*time.Second)
	queue := b.attrs("#queue li.incident", "id")
	at := slices.Index(queue, q1)
	if at < 2 || at+1 >= len(queue) {
		t.Fatalf("q1 at %d in %v", at, queue)
	}
	b.do("↓ Enter", 5*time.Second, chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter))
	b.waitJS("the next incident opened", fmt.Sprintf(`document.querySelector("#incident-detail") && document.querySelector("#incident-detail").dataset.id === %q`, queue[at+1]), 5*time.Second)
	b.do("↑ ↑ Enter", 5*time.Second, chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.Enter))
	b.waitJS("the one before q1 opened", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q`, queue[at-1]), 5*time.Second)
	b.clickNth("#queue li.incident", 2, "id") // q4, reopened, nobody on it
	b.waitJS("q4's recommendations", fmt.Sprintf(`document.querySelector("#incident-detail").dataset.id === %q && document.querySelector(".recommendation") !== null`, q4), 10*time.Second)
	eval[bool](b, `(document.activeElement && document.activeElement.blur(), true)`)
	top := b.attrs(".recommendation", "unit")[0]
	b.do("D", 5*time.Second, chromedp.KeyEvent("d"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if got := eval[string](b, `document.querySelector("#confirm").dataset.unit`); got != top {
		t.Errorf("D asks to dispatch %s, the top recommendation is %s", got, top)
	}
	b.do("Esc closes the confirmation", 5*time.Second, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	if got := getIncident(t, h, q4).assigned(); len(got) != 0 {
		t.Errorf("a cancelled confirmation dispatched %v", got)
	}

	// Chinese, then a reload: the session goes on (no sign-in form), and
	// the language, the view and the selection come back; no credential —
	// the password, the admin's token, the session's cookie — is in
	// storage or within the page's reach.
	b.do("中文", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("Chinese", `document.querySelector("#incident-close") && document.querySelector("#incident-close").textContent === "结束警情"`, 5*time.Second)
	b.screenshot("workday-2-zh-1440x900")
	time.Sleep(1500 * time.Millisecond) // the preferences are kept once a second
	view := eval[string](b, `localStorage.getItem("kuaifan.prefs")`)
	b.open(h.URL + "/")
	b.waitJS("the console without signing in", dashboardtest.SignedIn.JS, 10*time.Second)
	b.waitJS("connected", dashboardtest.Connected.JS, 30*time.Second)
	b.waitJS("the selection restored", fmt.Sprintf(`document.querySelector("#incident-detail") && document.querySelector("#incident-detail").dataset.id === %q`, q4), 10*time.Second)
	if got := eval[string](b, `document.documentElement.querySelector("#kuaifan").getAttribute("lang")`); got != "zh" {
		t.Errorf("after a reload the page is in %q", got)
	}
	storage := eval[string](b, `JSON.stringify(Object.assign({}, localStorage, sessionStorage)) + document.cookie`)
	if strings.Contains(storage, h.AdminToken()) {
		t.Errorf("the token is kept in the browser: %s", storage)
	}
	if strings.Contains(storage, wang.Password) || strings.Contains(storage, "kuaifan_session") {
		t.Errorf("the password or the session's cookie is within the page's reach: %s", storage)
	}
	t.Logf("kept preferences: %s", view)

	// A phone: tabs, nothing cut off, the settings within the screen.
	b.do("phone size", 5*time.Second, chromedp.EmulateViewport(390, 844))
	b.do("open the settings", 5*time.Second, chromedp.Click(chromedp.CSS(".settings summary")))
	if r := eval[struct{ Left, Right float64 }](b, `document.querySelector(".settings .tiles").getBoundingClientRect()`); r.Left < 0 || r.Right > 390 {
		t.Errorf("the settings at 390 px span %v..%v", r.Left, r.Right)
	}
	b.do("close the settings", 5*time.Second, chromedp.Click(chromedp.CSS(".settings summary")))
	for _, tab := range []string{"incidents", "map", "units"} {
		b.do("tab "+tab, 5*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tabs button[data-tab=%q]`, tab))))
		time.Sleep(300 * time.Millisecond)
		clipped := eval[[]string](b, `Array.from(document.querySelectorAll("button, select, input, summary")).filter(e => {
			if (!e.checkVisibility()) return false;
			const r = e.getBoundingClientRect();
			return r.width > 0 && r.height > 0 && (r.left < -1 || r.right > window.innerWidth + 1);
		}).map(e => e.id || e.className || e.tagName)`)
		if len(clipped) > 0 {
			t.Errorf("at 390 px, tab %s cuts off %v", tab, clipped)
		}
		b.screenshot("workday-3-" + tab + "-390x844")
	}
}
