package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator"
	"kuaifan/testkit/dashboardtest"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fleet runs n simulated units (real agents with simulated officers who
// always acknowledge, after about two seconds) against h until the test
// ends, and waits until all of them are online with a position.
func fleet(t *testing.T, h *hubtest.Hub, n int) {
	t.Helper()
	officer := simulator.DefaultOfficerConfig()
	officer.AckMedian, officer.AckSigma = 2*time.Second, 0.2
	officer.DeclineRate, officer.NoAnswerRate = 0, 0
	officer.ServiceMin, officer.ServiceMax = 10*time.Minute, 20*time.Minute
	cfg := simulator.Config{
		HubURL: h.URL, BrokerURL: h.MQTTURL(), AdminToken: h.AdminToken(),
		Units: n, Seed: 7, IncidentsPerHour: -1, Officer: &officer,
		Tick: 200 * time.Millisecond, ConnectWait: 30 * time.Second,
		Settle: -1, DrainWait: 10 * time.Second,
		Logger: hubtest.Logger(t),
	}
	runSimulator(t, cfg)
	hubtest.WaitFor(t, 60*time.Second, func() error {
		var units []struct {
			ID     string   `json:"id"`
			Online bool     `json:"online"`
			Lat    *float64 `json:"lat"`
		}
		if code := h.Do(http.MethodGet, "/api/units", nil, &units); code != http.StatusOK {
			return fmt.Errorf("GET /api/units: %d", code)
		}
		ready := 0
		for _, u := range units {
			if u.Online && u.Lat != nil {
				ready++
			}
		}
		if ready < n {
			return fmt.Errorf("%d of %d units online with a position", ready, n)
		}
		return nil
	})
}

// The dispatcher's path through the dashboard, in Chromium against the real
// hub and simulated units: sign in, see the units on the map, create an
// incident by clicking the map, dispatch the first recommendation, and see
// the unit acknowledge and turn en route.
func TestDispatchFromTheMap(t *testing.T) {
	const units = 8
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	fleet(t, h, units)

	start := time.Now()
	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))
	// Seen on the map: every unit known to the page and drawn on the canvas
	// (the opening view is Changsha, where the fleet patrols).
	b.waitJS("the units on the map", fmt.Sprintf(
		`window.kuaifanStats && kuaifanStats.units === %d && kuaifanStats.drawn === %d && kuaifanStats.frames > 0`, units, units), 20*time.Second)
	t.Logf("signed in and %d units drawn %v after opening the page", units, time.Since(start).Round(time.Millisecond))
	if n := eval[int](b, `document.querySelectorAll(".unit[data-id]").length`); n != units {
		t.Errorf("units panel lists %d units, want %d", n, units)
	}
	// The hub's districts: drawn, and in the units panel's filter (all,
	// seven districts, outside).
	if n := eval[int](b, `document.querySelectorAll("#unit-district option").length`); n != 9 {
		t.Errorf("district filter has %d options, want 9", n)
	}
	if s := eval[string](b, `document.querySelector("#signin-form, #token") ? "still there" : ""`); s != "" {
		t.Error("the sign-in form is still shown")
	}
	b.screenshot("1-map")

	// An incident where the first unit is: click "New incident", then the map.
	var first struct {
		ID       string
		Lat, Lon float64
	}
	var all []struct {
		ID       string  `json:"id"`
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
		Status   string  `json:"status"`
		Type     string  `json:"type"`
		Callsign string  `json:"callsign"`
	}
	h.Do(http.MethodGet, "/api/units", nil, &all)
	for _, u := range all {
		if u.Status == "available" && u.Type != "volunteer" {
			first.ID, first.Lat, first.Lon = u.ID, u.Lat+0.002, u.Lon+0.002
			break
		}
	}
	if first.ID == "" {
		t.Fatalf("no available unit: %+v", all)
	}
	x, y := b.mapPoint(first.Lat, first.Lon)
	b.do("new incident", 10*time.Second,
		chromedp.Click(chromedp.CSS("#new-incident")),
		chromedp.MouseClickXY(x, y),
		chromedp.WaitVisible(chromedp.CSS("#incident-form")),
	)
	// The form's selects act on change events, as a person's choice fires.
	eval[bool](b, `(function(){
		for (const [id, v] of [["incident-kind", "theft"], ["incident-priority", "3"]]) {
			const el = document.getElementById(id);
			el.value = v;
			el.dispatchEvent(new Event("change", {bubbles: true}));
		}
		return true;
	})()`)
	b.do("fill and submit the form", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#incident-summary"), "电动车被盗 e-bike stolen"),
		chromedp.Click(chromedp.CSS("#incident-submit")),
		chromedp.WaitVisible(chromedp.CSS(".recommendation button.dispatch")),
	)
	incID := eval[string](b, `document.querySelector("#incident-detail").dataset.id`)
	var inc struct {
		Kind     string  `json:"kind"`
		Priority int     `json:"priority"`
		Summary  string  `json:"summary"`
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
		Status   string  `json:"status"`
	}
	if code := h.Do(http.MethodGet, "/api/incidents/"+incID, nil, &inc); code != http.StatusOK {
		t.Fatalf("GET /api/incidents/%s: %d", incID, code)
	}
	if inc.Kind != "theft" || inc.Priority != 3 || inc.Summary != "电动车被盗 e-bike stolen" {
		t.Errorf("the hub has %+v, not what the form said", inc)
	}
	// Where the click was, within a few metres (one pixel at the opening zoom
	// is tens of metres).
	if d := protocol.Haversine(inc.Lat, inc.Lon, first.Lat, first.Lon); d > 100 {
		t.Errorf("incident at %.5f,%.5f: %.0f m from the click at %.5f,%.5f", inc.Lat, inc.Lon, d, first.Lat, first.Lon)
	}
	b.screenshot("2-incident")

	// Dispatch the first recommendation.
	unit := eval[string](b, `document.querySelector(".recommendation button.dispatch").dataset.unit`)
	if unit == "" {
		t.Fatal("the first recommendation names no unit")
	}
	b.do("dispatch", 10*time.Second,
		chromedp.Click(chromedp.CSS(".recommendation button.dispatch")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")))
	// The confirmation names the unit and the incident it will act on.
	if got := eval[string](b, `document.querySelector("#confirm").dataset.unit + " " + document.querySelector("#confirm").dataset.incident`); got != unit+" "+incID {
		t.Fatalf("the confirmation is for %q, the row showed %s on %s", got, unit, incID)
	}
	b.do("confirm", 10*time.Second, chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitNotPresent(chromedp.CSS("#confirm")))
	// The officer acknowledges after about two seconds; the agent reports
	// en route; the stream brings it to the page.
	b.waitJS("the unit en route", fmt.Sprintf(
		`document.querySelector('.assignment[data-unit=%q][data-state="enroute"]') !== null && document.querySelector('.unit[data-id=%q][data-status="enroute"]') !== null`, unit, unit), 30*time.Second)
	var u struct {
		Status string `json:"status"`
	}
	h.Do(http.MethodGet, "/api/units/"+unit, nil, &u)
	if u.Status != "enroute" {
		t.Errorf("the hub has %s as %q", unit, u.Status)
	}
	timeline := eval[string](b, `Array.from(document.querySelectorAll("#timeline li.entry")).map(e => e.dataset.type).join(" ")`)
	for _, want := range []string{"created", "recommended", "dispatched", "ack"} {
		if !slices.Contains(strings.Fields(timeline), want) {
			t.Errorf("timeline %q lacks %q", timeline, want)
		}
	}
	b.screenshot("3-enroute")
}

// runSimulator runs the simulator with cfg until the test ends.
func runSimulator(t *testing.T, cfg simulator.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := simulator.Run(ctx, cfg)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("simulator: %v", err)
		}
	})
}
