package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
	"kuaifan/testkit/dashboardtest"
)

// The patrol layer in Chromium against the real hub, for a viewer: a plan
// stored with the hub's API — a checkpoint and a route for one unit, an
// area for another — and the two units reporting (the first at the
// checkpoint). The layer's button shows the plan's three tasks and the
// box each unit's progress in the shift running now, the worst first; a
// unit's ▸ shows its tasks' figures; a click on its name centres the map on
// it. The first unit then drives the route; the layer turned off and on
// asks the hub again, and its row says 2/2 ✓.
func TestPatrolLayer(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))

	const lat0, lon0 = 28.19, 112.975
	p1, p2 := enrolDevice(t, h, "kf-p1", "湘A-P01"), enrolDevice(t, h, "kf-p2", "湘A-P02")
	p1.at(lat0, lon0)
	p2.at(lat0-0.01, lon0+0.01)
	plan := fmt.Sprintf(`{"id": "e2e-city", "name": "Central patrols", "tasks": [
	  {"id": "cp-square", "kind": "point", "name": "Square", "lat": %[1]g, "lon": %[2]g, "radius_m": 80, "units": ["kf-p1"]},
	  {"id": "rt-road", "kind": "line", "name": "Road", "route": [[%[3]g, %[5]g], [%[4]g, %[5]g]], "units": ["kf-p1"]},
	  {"id": "ar-block", "kind": "area", "name": "Block", "min_presence_min": 30, "units": ["kf-p2"],
	   "polygon": [[%[6]g, %[8]g], [%[7]g, %[8]g], [%[7]g, %[9]g], [%[6]g, %[9]g]]}]}`,
		lat0, lon0, lon0-0.01, lon0+0.01, lat0+0.005, lon0+0.005, lon0+0.015, lat0-0.015, lat0-0.005)
	if _, err := patrol.Parse([]byte(plan)); err != nil {
		t.Fatalf("the test's plan: %v", err)
	}
	var refusal api.Error
	if code := h.Do(http.MethodPut, "/api/patrols/e2e-city", json.RawMessage(plan), &refusal); code != http.StatusCreated {
		t.Fatalf("PUT the plan: %d %s", code, refusal.Error)
	}

	b.signIn(h.URL+"/", person(t, h, "chen", api.RoleViewer))
	if eval[bool](b, `document.querySelector("#patrol-box") !== null || kuaifanStats.patrolTasks > 0`) {
		t.Error("the patrol layer shows before its button was pressed")
	}
	b.do("the layer on", 10*time.Second, chromedp.Click(chromedp.CSS("#patrol-toggle")),
		chromedp.WaitVisible(chromedp.CSS(`#patrol-toggle[data-on="true"]`)), chromedp.WaitVisible(chromedp.CSS("#patrol-box")))
	b.waitJS("the units' progress", `document.querySelectorAll("#patrol-box li.patrol-unit").length === 2`, 15*time.Second)
	b.waitJS("the plan drawn", `kuaifanStats.patrolTasks === 3`, 10*time.Second)
	const rows = `Array.from(document.querySelectorAll("#patrol-box li.patrol-unit")).map(e => e.dataset.unit + " " + e.querySelector(".patrol-progress").textContent).join("; ")`
	if got := eval[string](b, rows); got != "kf-p2 0/1; kf-p1 1/2" {
		t.Errorf("the box lists %q, want the worst first: kf-p2 0/1; kf-p1 1/2", got)
	}
	if text := eval[string](b, `document.querySelector("#patrol-box").textContent`); !strings.Contains(text, "Central patrols") || !strings.Contains(text, "1/3 met") {
		t.Errorf("the box says %q", text)
	}

	// kf-p1's tasks, and the map on it.
	row1 := `#patrol-box li.patrol-unit[data-unit="kf-p1"]`
	b.do("kf-p1's tasks", 10*time.Second, chromedp.Click(chromedp.CSS(row1+" button.patrol-expand")),
		chromedp.WaitVisible(chromedp.CSS(row1+" li.patrol-task")))
	tasks := eval[string](b, `Array.from(document.querySelectorAll("`+strings.ReplaceAll(row1, `"`, `\"`)+` li.patrol-task")).map(e => e.textContent.trim()).join("; ")`)
	if !strings.Contains(tasks, "held 1/1 ✓") || !strings.Contains(tasks, "driven 0.0 % of 80 %") {
		t.Errorf("kf-p1's tasks: %q", tasks)
	}
	const centred = `(function(){ const r = document.querySelector("#map").getBoundingClientRect(), p = kuaifanMapPoint(%g, %g);
		return Math.abs(p.x - (r.left + r.width/2)) < 1 && Math.abs(p.y - (r.top + r.height/2)) < 1; })()`
	b.do("kf-p1 on the map", 10*time.Second, chromedp.Click(chromedp.CSS(row1+" button.patrol-go")))
	b.waitJS("the map on kf-p1", fmt.Sprintf(centred, lat0, lon0), 10*time.Second)
	b.screenshot("patrol-1-layer")

	// kf-p1 drives the road; the layer again: 2/2.
	for i := 0; i <= 10; i++ {
		p1.at(lat0+0.005, lon0-0.01+0.002*float64(i))
	}
	b.do("the layer off", 5*time.Second, chromedp.Click(chromedp.CSS("#patrol-toggle")),
		chromedp.WaitNotPresent(chromedp.CSS("#patrol-box")))
	b.do("the layer on again", 10*time.Second, chromedp.Click(chromedp.CSS("#patrol-toggle")), chromedp.WaitVisible(chromedp.CSS("#patrol-box")))
	b.waitJS("kf-p1 done", `(document.querySelector("#patrol-box li.patrol-unit[data-unit=\"kf-p1\"] .patrol-progress") || {}).textContent === "2/2 ✓"`, 15*time.Second)
	t.Logf("the box: %s", eval[string](b, rows))
	b.do("kf-p2 on the map", 10*time.Second, chromedp.Click(chromedp.CSS(`#patrol-box li.patrol-unit[data-unit="kf-p2"] button.patrol-go`)))
	b.waitJS("the map on kf-p2", fmt.Sprintf(centred, lat0-0.01, lon0+0.01), 10*time.Second)
	b.do("中文", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("the box in Chinese", `document.querySelector("#patrol-box").textContent.includes("巡逻")`, 5*time.Second)
	b.screenshot("patrol-2-zh")
}
