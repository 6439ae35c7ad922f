package agent

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"kuaifan/agent/internal/queue"
	"kuaifan/agent/internal/terminal"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// An officer presses SOS on the terminal while the broker is away (the
// hub's embedded one, stopped). When it comes back, the SOS is the first
// report the agent publishes, ahead of the outage's backlog; the hub opens
// an officer_help incident at the officer's position and dispatches the
// armed unit nearby — a real agent, which gets the dispatch — and never
// the officer.
func TestSOSAfterOutage(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "foot-1", h.Enrol("foot-1", "foot"))
	cfg.Terminal = freeAddr(t)
	officer := start(t, cfg, lat0, lon0, 0)
	helper := start(t, testConfig(t, h.MQTTURL(), "car-2", h.Enrol("car-2", "car", "armed")), lat0+north(300), lon0, 0)
	for _, id := range []string{"foot-1", "car-2"} {
		waitFor(t, 10*time.Second, func() error {
			if u := unitOf(t, h, id); !u.Online || u.Lat == nil {
				return fmt.Errorf("%s not online with a position", id)
			}
			return nil
		})
	}

	h.Stop()
	waitFor(t, 10*time.Second, func() error {
		if officer.link.Connected() || helper.link.Connected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a backlog of positions and the SOS behind it
	from := len(officer.rec.publishes())
	c := &terminal.Client{BaseURL: "http://" + cfg.Terminal}
	sos, err := c.SOS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sos.Lat == nil || sos.Lon == nil {
		t.Errorf("SOS without the fix's position: %+v", sos)
	}
	time.Sleep(300 * time.Millisecond)

	h = h.Restart()
	var inc api.Incident
	waitFor(t, 20*time.Second, func() error {
		var list []api.Incident
		if st := h.Do(http.MethodGet, "/api/incidents", nil, &list); st != http.StatusOK {
			return fmt.Errorf("list: %d", st)
		}
		for _, i := range list {
			if i.SOS == "foot-1" {
				if len(i.Assignments) == 0 {
					return fmt.Errorf("sos incident %s without assignments", i.ID)
				}
				inc = i
				return nil
			}
		}
		return fmt.Errorf("no sos incident among %d", len(list))
	})
	if inc.Kind != api.KindOfficerHelp || inc.Priority != 1 || inc.Timeline[0].Actor != "foot-1" {
		t.Errorf("incident %+v", inc)
	}
	if inc.Assignments[0].Unit != "car-2" {
		t.Errorf("assignments %+v, want car-2", inc.Assignments)
	}
	for _, a := range inc.Assignments {
		if a.Unit == "foot-1" {
			t.Errorf("the officer was dispatched to its own sos")
		}
	}
	waitAssignment(t, helper.Agent, inc.ID, StateDispatched)

	// What the officer's agent published after the outage: the SOS first.
	after := officer.rec.publishes()[from:]
	if len(after) == 0 || after[0].kind != queue.SOS || after[0].seq != sos.Seq {
		t.Errorf("first report after the outage %+v, want the SOS seq %d", after[:min(3, len(after))], sos.Seq)
	}
	waitFor(t, 20*time.Second, func() error {
		if n := officer.q.Len(); n > 0 {
			return fmt.Errorf("%d reports still queued", n)
		}
		return nil
	})
	// The hub commanded the helper's reporting rate with the dispatch.
	var u api.Unit
	if st := h.Do(http.MethodGet, "/api/units/car-2", nil, &u); st != http.StatusOK || u.ReportS != 1 {
		t.Errorf("car-2 report_s %v (%d), want 1 on an assignment", u.ReportS, st)
	}
}

// An officer presses SOS on the agent's terminal (POST /v1/sos, not the
// officer's page): the dispatcher's dashboard, in Chromium, raises the SOS
// banner naming the officer and sounds its siren, and the officer_help
// incident, opened from the banner, has the armed unit nearby sent.
func TestSOSFromTerminalOnDashboard(t *testing.T) {
	b := newBrowser(t)
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	cfg := testConfig(t, h.MQTTURL(), "foot-1", h.Enrol("foot-1", "foot"))
	cfg.Terminal = freeAddr(t)
	start(t, cfg, lat0, lon0, 0)
	start(t, testConfig(t, h.MQTTURL(), "car-2", h.Enrol("car-2", "car", "armed")), lat0+north(300), lon0, 0)
	for _, id := range []string{"foot-1", "car-2"} {
		waitFor(t, 10*time.Second, func() error {
			if u := unitOf(t, h, id); !u.Online || u.Lat == nil {
				return fmt.Errorf("%s not online with a position", id)
			}
			return nil
		})
	}
	dash, _ := openDashboard(t, b, h)
	dash.waitJS("the units", `document.querySelectorAll('.unit[data-id="foot-1"], .unit[data-id="car-2"]').length === 2`, 15*time.Second)
	dash.waitJS("no SOS yet", `document.querySelector("#sos") === null`, time.Second)

	waitTerminal(t, cfg.Terminal)
	c := &terminal.Client{BaseURL: "http://" + cfg.Terminal}
	if _, err := c.SOS(context.Background()); err != nil {
		t.Fatal(err)
	}
	dash.waitJS("the SOS banner", `document.querySelector('#sos .sos-item[data-unit="foot-1"]') !== null`, 15*time.Second)
	dash.waitJS("the banner naming foot-1", `document.querySelector("#sos").textContent.includes("foot-1") && document.querySelector("#sos-ack") !== null`, 5*time.Second)
	dash.waitJS("the siren", `window.kuaifanAlarm !== undefined && kuaifanAlarm.sos >= 1 && kuaifanAlarm.sosBeeps >= 1`, 10*time.Second)
	dash.clickLive("open the SOS", `#sos .sos-item[data-unit="foot-1"] .sos-open`)
	dash.waitJS("car-2 sent", `(() => {
		const d = document.querySelector('#incident-detail'), s = document.querySelector('#sos .sos-item[data-unit="foot-1"]');
		return d !== null && s !== null && d.dataset.id === s.dataset.incident &&
			d.querySelector('.assignment[data-unit="car-2"]') !== null && d.querySelector('.assignment[data-unit="foot-1"]') === null;
	})()`, 10*time.Second)
	dash.screenshot("dashboard-sees-terminal-sos")
}
