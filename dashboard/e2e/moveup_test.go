package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/agent"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// A move-up sent from the dashboard and obeyed by a real agent. Three
// motorcycles stand in a bunch in Furong: kuaifan's agent on a simulated GPS
// receiver (agent.NewSimGPS) in the middle, two test devices 300 m east and
// west of it. Each of the two covers a crescent nobody else does; the agent
// covers almost nothing of its own, so moving it gains the most and the hub
// suggests it. In Chromium a dispatcher turns the coverage layer on, opens
// the move-ups and sends the agent's unit through the confirmation: the hub
// shows its reposition, the agent hears it, the units row says "moving up"
// and the map draws its line. Then the test plays the officer's car: it
// drives the receiver to the spot, the agent reports the arrival by itself
// (within Config.RepositionRadiusM), and the move-up ends at the hub and on
// the page, the 3-min coverage in the status bar higher than before.
func TestMoveUpObeyed(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))

	const unit, lat0, lon0 = "kf-mu-agent", 28.20, 112.99
	dLon := 300 / (111_320 * math.Cos(lat0*math.Pi/180)) // 300 m
	var enrolled struct{ Secret string }
	if code := h.Do(http.MethodPost, "/api/units", map[string]any{"id": unit, "type": "motorcycle", "callsign": "湘A-M01",
		"capabilities": []string{}}, &enrolled); code != http.StatusCreated {
		t.Fatalf("enrol %s: %d", unit, code)
	}
	gps, stop := runAgent(t, h, unit, enrolled.Secret, lat0, lon0)
	defer stop()
	for i, d := range []*unitDevice{enrolDevice(t, h, "kf-mu-east", "湘A-M02"), enrolDevice(t, h, "kf-mu-west", "湘A-M03")} {
		d.at(lat0, lon0+dLon*float64(1-2*i))
	}
	hubtest.WaitFor(t, 15*time.Second, func() error {
		if u := hubUnitOf(t, h, unit); !u.Online || u.Lat == nil || u.Status != protocol.StatusAvailable {
			return fmt.Errorf("%s not online and available with a position: %+v", unit, u)
		}
		return nil
	})

	b.signIn(h.URL+"/", person(t, h, "zhao", api.RoleDispatcher))
	b.waitJS("the coverage figure", coverShare+` > 0`, 20*time.Second)
	b.do("the layer on", 10*time.Second, chromedp.Click(chromedp.CSS("#coverage-toggle")),
		chromedp.WaitVisible(chromedp.CSS("#coverage-box")))

	// The move-ups: the agent's unit among them.
	row := fmt.Sprintf(`li.moveup[data-unit=%q]`, unit)
	b.do("the move-ups", 10*time.Second, chromedp.Click(chromedp.CSS("#moveups")))
	b.waitJS("the move-ups' answer", `document.querySelector("#moveups-objective, #moveups-na, #moveups-error") !== null`, 10*time.Second)
	if got := eval[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, row)); !got {
		t.Fatalf("the hub did not suggest moving %s: %s", unit,
			eval[string](b, `(document.querySelector("#moveups-box, #coverage-box") || {}).textContent || ""`))
	}
	t.Logf("suggested: %s", eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, row)))
	b.screenshot("moveup-1-suggested")

	// Send, through the confirmation.
	before := eval[float64](b, coverShare)
	b.do("Send", 10*time.Second, chromedp.Click(chromedp.CSS(row+" button.moveup-send")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#confirm[data-action="moveup"][data-unit=%q]`, unit))))
	if q := eval[string](b, `document.querySelector("#confirm-text").textContent`); !strings.Contains(q, "湘A-M01") {
		t.Errorf("the confirmation says %q", q)
	}
	b.screenshot("moveup-2-confirm")
	b.do("confirm", 10*time.Second, chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS("the dialog gone", `document.querySelector("#confirm") === null`, 10*time.Second)
	b.waitJS("the row sent", fmt.Sprintf(`(document.querySelector(%q) || {dataset: {}}).dataset.sent === "true"`, row), 10*time.Second)

	// At the hub, at the agent, on the page.
	var mu *api.Reposition
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if mu = hubUnitOf(t, h, unit).Reposition; mu == nil || mu.Arrived != 0 {
			return fmt.Errorf("no move-up at the hub: %+v", mu)
		}
		return nil
	})
	t.Logf("move-up %s to %.5f, %.5f by %s", mu.ID, mu.Lat, mu.Lon, mu.By)
	if mu.By != "user:zhao" {
		t.Errorf("the move-up was sent by %q", mu.By)
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if r, ok := gps.agent.Reposition(); !ok || r.ID != mu.ID {
			return fmt.Errorf("the agent has %+v %v", r, ok)
		}
		return nil
	})
	unitRow := fmt.Sprintf(`.unit[data-id=%q]`, unit)
	b.waitJS("the units row moving up", fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.length > 0`, unitRow+" .moveup"), 10*time.Second)
	t.Logf("units row: %s", eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, unitRow+" .moveup")))
	b.do("the move-ups closed", 5*time.Second, chromedp.Click(chromedp.CSS("#moveups-close")))
	b.waitJS("the move-up's line", `kuaifanStats.moveUps === 1`, 10*time.Second)
	// The unit from its row: the map centres on it (zoom 14), then one step
	// out, its spot in view.
	b.do("the unit", 5*time.Second, chromedp.Click(chromedp.CSS(unitRow)), chromedp.Click(chromedp.CSS("#zoom-out")))
	if x, y := b.mapPoint(mu.Lat, mu.Lon); x < 0 || y < 0 || x > 1440 || y > 900 {
		t.Errorf("the spot is off the page at %.0f, %.0f", x, y)
	}
	b.screenshot("moveup-3-moving")

	// The officer drives there, 150 m at a time; the agent reports the
	// arrival by itself.
	dist := protocol.Haversine(lat0, lon0, mu.Lat, mu.Lon)
	steps := int(math.Ceil(dist / 150))
	heading := math.Mod(math.Atan2((mu.Lon-lon0)*math.Cos(lat0*math.Pi/180), mu.Lat-lat0)*180/math.Pi+360, 360)
	t.Logf("driving %.0f m in %d steps", dist, steps)
	for i := 1; i <= steps; i++ {
		f := float64(i) / float64(steps)
		gps.Set(lat0+(mu.Lat-lat0)*f, lon0+(mu.Lon-lon0)*f, 15, heading)
		time.Sleep(250 * time.Millisecond)
		if i == steps/2 {
			b.screenshot("moveup-4-on-the-way")
		}
	}
	gps.Set(mu.Lat, mu.Lon, 0, heading)
	hubtest.WaitFor(t, 20*time.Second, func() error {
		if r := hubUnitOf(t, h, unit).Reposition; r != nil {
			return fmt.Errorf("the move-up is still on at the hub: %+v", r)
		}
		return nil
	})
	if r, ok := gps.agent.Reposition(); ok {
		t.Errorf("the agent still has the move-up %+v", r)
	}
	b.waitJS("the units row no longer moving up", fmt.Sprintf(`document.querySelector(%q) !== null && document.querySelector(%q) === null`,
		unitRow, unitRow+" .moveup"), 10*time.Second)
	b.waitJS("the move-up's line gone", `kuaifanStats.moveUps === 0`, 10*time.Second)
	b.waitJS("the coverage after the move-up", fmt.Sprintf(coverShare+` > %g`, before), 20*time.Second)
	t.Logf("3-min coverage %.4f before the move-up, %.4f after (%q)", before, eval[float64](b, coverShare),
		eval[string](b, `document.querySelector("#coverage").textContent`))
	b.screenshot("moveup-5-arrived")
}

// simAgent is a running kuaifan agent and the simulated receiver it reads.
type simAgent struct {
	*agent.SimGPS
	agent *agent.Agent
}

// runAgent runs kuaifan's agent for a unit enrolled on h, its receiver
// simulated (no noise, a fix every 200 ms) at lat, lon, reporting at least
// every 2 s; stop ends it.
func runAgent(t *testing.T, h *hubtest.Hub, unit, secret string, lat, lon float64) (*simAgent, func()) {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.Unit, cfg.Secret, cfg.Broker, cfg.UnitType = unit, secret, h.MQTTURL(), protocol.TypeMotorcycle
	cfg.GPS, cfg.Terminal = "", ""
	cfg.MemoryQueue, cfg.DataDir = true, ""
	cfg.Report.Moving, cfg.Report.Patrol, cfg.Report.Stationary = time.Second, time.Second, 2*time.Second
	cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, 500*time.Millisecond
	cfg.Logger = hubtest.Logger(t)
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := agent.NewSimGPS(agent.SimGPSConfig{Interval: 200 * time.Millisecond, NoiseM: -1})
	g.Set(lat, lon, 0, 0)
	a.UseGPS(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the agent: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the agent did not stop within 20 s")
		}
	}
	t.Cleanup(stop)
	return &simAgent{SimGPS: g, agent: a}, stop
}

// hubUnitOf is GET /api/units/{id}.
func hubUnitOf(t *testing.T, h *hubtest.Hub, id string) api.Unit {
	t.Helper()
	var u api.Unit
	if code := h.Do(http.MethodGet, "/api/units/"+id, nil, &u); code != http.StatusOK {
		t.Fatalf("GET /api/units/%s: %d", id, code)
	}
	return u
}
