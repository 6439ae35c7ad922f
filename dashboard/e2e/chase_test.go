package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator"
	"kuaifan/simulator/citydata"
	"kuaifan/testkit/dashboardtest"
)

// sampleCameras is Changsha's sample camera set, the file make run gives
// the hub (-cameras).
var sampleCameras = filepath.Join("..", "..", "protocol", "cameras", "changsha", "cameras.geojson")

// chaseTimeScale runs robbery-chase at 5× instead of its 10×: a unit on
// its way stays on its way for tens of seconds of real time, long enough
// for a person (here chromedp) to report a sighting and send an offer.
const chaseTimeScale = 5

// runChase runs the simulator's robbery-chase scenario against h until the
// test ends: its fleet, its robbery at 雨花亭 and its camera sightings (the
// hub's cameras). The simulated officers always acknowledge; the simulated
// dispatcher leaves the hub's offers to the dashboard.
func runChase(t *testing.T, h *hubtest.Hub, units int) {
	t.Helper()
	data, err := fs.ReadFile(citydata.Scenarios(), "robbery-chase.json")
	if err != nil {
		t.Fatal(err)
	}
	var sc simulator.Scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		t.Fatalf("robbery-chase.json: %v", err)
	}
	officer := simulator.DefaultOfficerConfig()
	officer.AckMedian, officer.AckSigma = 4*time.Second, 0.2
	officer.DeclineRate, officer.NoAnswerRate = 0, 0
	officer.ServiceMin, officer.ServiceMax = 10*time.Minute, 20*time.Minute
	cfg := simulator.Config{
		HubURL: h.URL, BrokerURL: h.MQTTURL(), AdminToken: h.AdminToken(),
		Scenario: &sc, Units: units, TimeScale: chaseTimeScale, Seed: 21, Officer: &officer,
		Dispatcher: simulator.DispatcherConfig{IgnoreOffers: true, Poll: 200 * time.Millisecond},
		Tick:       200 * time.Millisecond, ConnectWait: 30 * time.Second,
		Settle: -1, DrainWait: 10 * time.Second,
		Logger: hubtest.Logger(t),
	}
	runSimulator(t, cfg)
}

// hubUnit is a unit as GET /api/units answers.
type hubUnit struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Status   string   `json:"status"`
	Online   bool     `json:"online"`
	Incident string   `json:"incident"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	TS       *int64   `json:"ts"`
}

func chaseIncident(t *testing.T, h *hubtest.Hub, id string) api.Incident {
	t.Helper()
	var inc api.Incident
	if code := h.Do(http.MethodGet, "/api/incidents/"+id, nil, &inc); code != http.StatusOK {
		t.Fatalf("GET /api/incidents/%s: %d", id, code)
	}
	return inc
}

// clickLive clicks what css matches at the moment of the click: the city
// is live, the page re-renders under the test, and a node found a moment
// before (as chromedp.Click finds it) may be gone by then.
func (b *browser) clickLive(what, css string) {
	b.t.Helper()
	b.waitJS(what, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.click(); return true; })()`, css), 10*time.Second)
}

func onTheWay(inc *api.Incident) []string {
	var out []string
	for _, a := range inc.Assignments {
		if a.State == api.AssignDispatched || a.State == api.AssignEnroute {
			out = append(out, a.Unit)
		}
	}
	return out
}

func entries(inc *api.Incident, typ string) []api.Entry {
	var out []api.Entry
	for _, e := range inc.Timeline {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// The chase, in Chromium against the real hub (with Changsha's sample
// cameras) and the simulator's robbery-chase: the dispatcher opens the
// robbery once the cameras have seen the suspects, reports one more
// sighting — a caller's, with a note — by clicking the map beside a free
// unit far from the units on their way, and the hub records it where the
// click was, sends the new place to the units on their way and offers the
// free unit; the dispatcher sends it from the offer's card, through the
// confirmation. The pursuit is shot mid-chase, at the desktop and the
// phone layout, in English and Chinese.
func TestChaseFromTheMap(t *testing.T) {
	const units = 60
	h := hubtest.Start(t, func(c *hub.Config) { c.Cameras = sampleCameras })
	dashboardtest.Require(t, h.URL)
	var cams []api.Camera
	if code := h.Do(http.MethodGet, "/api/cameras", nil, &cams); code != http.StatusOK || len(cams) == 0 {
		t.Fatalf("GET /api/cameras: %d, %d cameras", code, len(cams))
	}
	b := newBrowser(t)
	runChase(t, h, units)
	wang := person(t, h, "wang", api.RoleDispatcher)
	actor := api.ActorUserPrefix + wang.Name // the timeline names the person signed in
	b.signIn(h.URL+"/", wang)
	b.waitJS("the cameras on the map", fmt.Sprintf(`window.kuaifanStats && kuaifanStats.cameras === %d && document.querySelector("#cameras-toggle[data-on=true]") !== null`, len(cams)), 30*time.Second)

	// The robbery, once reported: open it from the queue.
	b.waitJS("the robbery in the queue", `document.querySelector('#queue li.incident[data-priority="1"]') !== null`, 90*time.Second)
	incID := eval[string](b, `document.querySelector('#queue li.incident[data-priority="1"]').dataset.id`)
	b.clickLive("open the robbery", fmt.Sprintf(`#queue li.incident[data-id=%q]`, incID))
	b.do("the robbery open", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#incident-detail[data-id=%q]`, incID))))
	if k := chaseIncident(t, h, incID).Kind; k != "robbery" {
		t.Fatalf("the priority-1 incident is a %s", k)
	}

	// Wait for the cameras to see the suspects, with a unit on its way
	// (the one the hub sent, or the one sent to intercept) still far from
	// the incident: the dashboard's sighting will re-target it.
	var before api.Incident
	var away []hubUnit // units on their way, as the hub has them
	hubtest.WaitFor(t, 120*time.Second, func() error {
		before = chaseIncident(t, h, incID)
		if n := len(entries(&before, api.EntrySighting)); n == 0 {
			return fmt.Errorf("no camera sighting yet")
		}
		away = away[:0]
		for _, id := range onTheWay(&before) {
			var u hubUnit
			if h.Do(http.MethodGet, "/api/units/"+id, nil, &u) != http.StatusOK || u.Lat == nil {
				continue
			}
			if protocol.Haversine(*u.Lat, *u.Lon, before.Lat, before.Lon) > 600 {
				away = append(away, u)
			}
		}
		if len(away) == 0 {
			return fmt.Errorf("nobody far on the way: %v", onTheWay(&before))
		}
		return nil
	})
	b.waitJS("the camera sighting on the page", `document.querySelector('#timeline li.entry[data-type="sighting"]') !== null && kuaifanStats.trail >= 1`, 10*time.Second)
	b.screenshot("chase-1-camera-sighting")

	// A free unit at least 2.5 km from every unit on its way (the nearest
	// such to 3.5 km: a sighting a caller could make of suspects on an
	// e-bike): the caller saw the suspects beside it. Its ETA there is
	// seconds, theirs minutes: the hub must offer it (or a unit nearer
	// still).
	var all []hubUnit
	h.Do(http.MethodGet, "/api/units", nil, &all)
	var free *hubUnit
	best := 0.0
	for i := range all {
		u := &all[i]
		if u.Status != "available" || !u.Online || u.Incident != "" || u.Lat == nil || u.Type == "volunteer" ||
			time.Since(time.UnixMilli(*u.TS)) > 20*time.Second {
			continue
		}
		d := math.Inf(1)
		for _, w := range away {
			d = min(d, protocol.Haversine(*u.Lat, *u.Lon, *w.Lat, *w.Lon))
		}
		if d >= 2500 && (free == nil || math.Abs(d-3500) < math.Abs(best-3500)) {
			free, best = u, d
		}
	}
	if free == nil {
		t.Fatal("no free unit 2.5 km from the units on their way")
	}
	t.Logf("units on their way: %d (%s…); the caller is beside %s, %.1f km from them", len(away), away[0].ID, free.ID, best/1000)

	// Find the unit (the map centres on it), report a sighting, click
	// beside it on the map (the units keep moving and the lists keep
	// re-rendering meanwhile), as a caller, with a note.
	b.do("search the free unit", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#unit-search"), free.ID))
	b.clickLive("find the free unit", fmt.Sprintf(`.unit[data-id=%q]`, free.ID))
	b.do("the free unit selected", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.unit.selected[data-id=%q]`, free.ID))))
	b.clickLive("report a sighting", "#sighting-new")
	b.do("the sighting form", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#sighting-form[data-incident=%q]`, incID))))
	lat, lon := *free.Lat+0.0006, *free.Lon+0.0009 // ~110 m north-east of where it was
	x, y := b.mapPoint(lat, lon)
	b.do("click the map", 10*time.Second, chromedp.MouseClickXY(x, y))
	b.waitJS("the form filled", `document.getElementById("sighting-lat").value !== ""`, 5*time.Second)
	eval[bool](b, `(function(){
		const el = document.getElementById("sighting-source");
		el.value = "caller";
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`)
	const note = "报警人：两名男子骑电动车在此 — two men on an e-bike"
	b.do("the note", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#sighting-note"), note))
	b.screenshot("chase-2-sighting-form")
	clicked := time.Now()
	b.clickLive("send the sighting", "#sighting-submit")
	b.do("the sighting sent", 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("#sighting-form")))

	// At the hub: the sighting where the click was, the caller's, with the
	// note; the new place sent to the units on their way.
	after := chaseIncident(t, h, incID)
	sightings := entries(&after, api.EntrySighting)
	i := slices.IndexFunc(sightings, func(e api.Entry) bool { return e.Params != nil && e.Params.Note == note })
	if i < 0 {
		t.Fatalf("the hub has no sighting with the note: %+v", sightings)
	}
	mine := sightings[i]
	if mine.Params.Lat == nil || mine.Params.Source != "caller" || mine.Params.Camera != "" || mine.Actor != actor {
		t.Fatalf("the hub's sighting: %+v (%+v)", mine, *mine.Params)
	}
	if d := protocol.Haversine(*mine.Params.Lat, *mine.Params.Lon, lat, lon); d > 100 {
		t.Errorf("the sighting is %.0f m from the click (%.6f, %.6f against %.6f, %.6f)", d, *mine.Params.Lat, *mine.Params.Lon, lat, lon)
	} else {
		t.Logf("the sighting is %.1f m from the click", d)
	}
	if i == len(sightings)-1 && protocol.Haversine(after.Lat, after.Lon, *mine.Params.Lat, *mine.Params.Lon) > 1 {
		t.Errorf("the incident is at %.6f, %.6f, not at the sighting", after.Lat, after.Lon)
	}
	var retargeted []string
	for _, e := range entries(&after, api.EntryUpdateLocation) {
		if e.TS >= mine.TS && e.Params != nil && e.Params.Lat != nil && *e.Params.Lat == *mine.Params.Lat && *e.Params.Lon == *mine.Params.Lon {
			retargeted = append(retargeted, e.Unit)
		}
	}
	if len(retargeted) == 0 {
		t.Fatalf("no update_location after the dashboard's sighting; on the way before it: %v", onTheWay(&before))
	}
	for _, u := range away {
		if !slices.Contains(retargeted, u.ID) && slices.Contains(onTheWay(&after), u.ID) {
			t.Errorf("%s is on its way but was not sent the new place (update_location to %v)", u.ID, retargeted)
		}
	}
	t.Logf("update_location after the sighting (%v after the click) to %v", time.Since(clicked).Round(time.Millisecond), retargeted)
	b.waitJS("the page's timeline", `document.querySelectorAll('#timeline li.entry[data-type="update_location"]').length > 0`, 10*time.Second)

	// The offer: a free unit a minute sooner than the best on its way.
	if after.Offer == nil {
		t.Fatalf("no offer after a sighting beside a free unit %.1f km from the units on their way; timeline %+v", best/1000, after.Timeline)
	}
	offered := after.Offer.Unit
	b.waitJS("the offer's card", fmt.Sprintf(`document.querySelector('#offer[data-unit=%q] #offer-send') !== null && kuaifanStats.offer === true`, offered), 10*time.Second)
	b.waitJS("the pursuit drawn", `kuaifanStats.trail >= 2 && kuaifanStats.chaseLines >= 1`, 10*time.Second)
	b.clickLive("home", "#home")
	b.screenshot("chase-3-offer")
	t.Logf("offered %s: ETA %.0f s against %.0f s for the best on its way", offered, after.Offer.ETAS, after.Offer.BestETAS)

	b.clickLive("send the offered unit", "#offer-send")
	b.do("the confirmation", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#confirm[data-action="dispatch"][data-unit=%q][data-incident=%q]`, offered, incID))),
		chromedp.WaitVisible(chromedp.CSS("#confirm-offer")))
	b.clickLive("confirm", "#confirm-ok")
	b.do("confirmed", 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	sent := chaseIncident(t, h, incID)
	taken := slices.ContainsFunc(sent.Timeline, func(e api.Entry) bool {
		return e.Type == api.EntryDispatched && e.Unit == offered && e.Reason == api.ReasonOfferTaken && e.Actor == actor
	})
	assigned := slices.ContainsFunc(sent.Assignments, func(a api.Assignment) bool { return a.Unit == offered && api.AssignmentActive(a.State) })
	if !taken || !assigned || sent.Offer != nil {
		t.Errorf("after Send: offer_taken %v, %s assigned %v, offer %+v", taken, offered, assigned, sent.Offer)
	}
	b.waitJS("the offer gone from the page", fmt.Sprintf(`document.querySelector('#offer') === null && document.querySelector('.assignment[data-unit=%q]') !== null && document.querySelector('#timeline li.entry[data-reason="offer_taken"]') !== null`, offered), 10*time.Second)

	// Mid-chase: the next camera sighting moves the incident on; the trail
	// has the camera's sightings and the caller's, the units on their way
	// (the offered one too) head for the new place.
	n := len(entries(&sent, api.EntrySighting))
	hubtest.WaitFor(t, 90*time.Second, func() error {
		inc := chaseIncident(t, h, incID)
		if len(entries(&inc, api.EntrySighting)) <= n {
			return fmt.Errorf("no camera sighting since the caller's")
		}
		return nil
	})
	b.waitJS("the trail on the page", fmt.Sprintf(`kuaifanStats.trail >= %d`, n+1), 10*time.Second)
	b.clickLive("centre on the incident", fmt.Sprintf(`#queue li.incident[data-id=%q]`, incID))
	b.clickLive("zoom out", "#zoom-out")
	time.Sleep(300 * time.Millisecond)
	b.screenshot("chase-4-pursuit")
	texts := eval[string](b, `Array.from(document.querySelectorAll('#timeline li.entry[data-type="sighting"] .detail')).map(e => e.textContent).join(" | ")`)
	if !strings.Contains(texts, "seen on camera") || !strings.Contains(texts, "seen by a caller") {
		t.Errorf("the timeline's sightings: %s", texts)
	}

	// 中文, and the phone: the sighting form at the bottom of the map, with
	// nothing cut off.
	b.clickLive("中文", "#lang")
	b.waitJS("Chinese", `document.querySelector("#sighting-new").textContent === "报告线索"`, 5*time.Second)
	b.screenshot("chase-5-zh")
	b.do("phone size", 5*time.Second, chromedp.EmulateViewport(390, 844))
	b.clickLive("the incidents tab", `#tabs button[data-tab="incidents"]`)
	b.do("the incident on the phone", 5*time.Second, chromedp.WaitVisible(chromedp.CSS("#sighting-new")))
	b.clickLive("report a sighting on the phone", "#sighting-new")
	b.do("the form on the phone", 5*time.Second, chromedp.WaitVisible(chromedp.CSS("#sighting-form")))
	if tab := eval[string](b, `document.querySelector("#tabs button.active").dataset.tab`); tab != "map" {
		t.Errorf("the phone shows the %s tab while a sighting is placed", tab)
	}
	clipped := eval[[]string](b, `(function(){
		const out = [];
		for (const el of document.querySelectorAll("#sighting-form input, #sighting-form select, #sighting-form button, .mapctl button")) {
			const r = el.getBoundingClientRect();
			if (r.width === 0) continue;
			if (r.left < 0 || r.right > 390 || r.top < 0 || r.bottom > 844) out.push(el.id || el.className);
		}
		return out; })()`)
	if len(clipped) > 0 {
		t.Errorf("at 390 px the sighting form cuts off %v", clipped)
	}
	b.screenshot("chase-6-phone-390x844")
	b.do("Esc", 5*time.Second, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS("#sighting-form")))
}
