package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// at reports a fresh fix, available, at a place.
func (d *unitDevice) at(lat, lon float64) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	d.Send(d.Fix(seq, time.Now(), lat, lon, protocol.StatusAvailable))
	d.WaitAcked(seq)
}

// coverShare is the status bar's coverage figure (#coverage[data-share]).
const coverShare = `parseFloat((document.querySelector("#coverage") || {dataset: {}}).dataset.share)`

// The city's coverage in Chromium against the real hub: three motorcycles
// (test devices) inside Changsha's districts; the status bar says "3-min
// coverage x %" with x > 0; the layer's button draws the cells and lists
// the holes; a unit sent into the biggest hole re-renders the list, and a
// click on a hole after that centres the map on it; a unit dispatched and
// one going offline each lower the figure; the move-up button answers
// whether or not the hub serves move-ups; the page in Chinese, and on a
// phone with nothing of the box cut off.
func TestCoverageLayer(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))
	units := []*unitDevice{enrolDevice(t, h, "kf-c1", "湘A-C01"), enrolDevice(t, h, "kf-c2", "湘A-C02"), enrolDevice(t, h, "kf-c3", "湘A-C03")}
	// Far enough apart that their 3-minute reaches (1.4 km for a
	// motorcycle) do not overlap: each counts for itself.
	places := [][2]float64{{28.20, 112.98}, {28.23, 112.94}, {28.17, 113.02}}
	for i, d := range units {
		d.at(places[i][0], places[i][1])
	}
	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))

	// The status bar's figure.
	b.waitJS("the coverage figure", coverShare+` > 0`, 20*time.Second)
	text := eval[string](b, `document.querySelector("#coverage").textContent`)
	if !strings.HasPrefix(text, "3-min coverage ") && !strings.HasPrefix(text, "3分钟覆盖 ") {
		t.Errorf("the status bar says %q", text)
	}
	if title := eval[string](b, `document.querySelector("#coverage").title`); !strings.Contains(title, "3") {
		t.Errorf("the figure's title %q", title)
	}
	share := eval[float64](b, coverShare)
	t.Logf("status bar: %q (%.4f)", text, share)

	// The layer: hidden at first, then drawn with its box.
	if eval[bool](b, `document.querySelector("#coverage-box") !== null || kuaifanStats.coverRuns > 0`) {
		t.Error("the layer shows before its button was pressed")
	}
	b.do("the layer on", 10*time.Second, chromedp.Click(chromedp.CSS("#coverage-toggle")),
		chromedp.WaitVisible(chromedp.CSS(`#coverage-toggle[data-on="true"]`)), chromedp.WaitVisible(chromedp.CSS("#coverage-box")))
	b.waitJS("the layer drawn", `kuaifanStats.coverRuns > 0`, 10*time.Second)
	b.waitJS("the holes listed", `document.querySelectorAll("#holes li.hole").length > 0`, 10*time.Second)
	const holesNow = `Array.from(document.querySelectorAll("#holes li.hole")).map(e => e.dataset.lat + "," + e.dataset.lon + " " + e.textContent).join("; ")`
	holes := eval[string](b, holesNow)
	t.Logf("%d runs drawn; holes: %s", eval[int](b, `kuaifanStats.coverRuns`), holes)
	b.screenshot("coverage-1-layer")

	// A unit sent into the biggest hole fills it: the list re-renders
	// with other holes (or a smaller one).
	first := func() (lat, lon float64) {
		return eval[float64](b, `parseFloat(document.querySelector("#holes li.hole").dataset.lat)`),
			eval[float64](b, `parseFloat(document.querySelector("#holes li.hole").dataset.lon)`)
	}
	lat, lon := first()
	units[1].at(lat, lon)
	b.waitJS("the holes re-rendered", fmt.Sprintf(holesNow+` !== %q`, holes), 15*time.Second)
	t.Logf("a unit in the biggest hole; holes now: %s", eval[string](b, holesNow))

	// A click on the first hole as the list shows it now: the map centres
	// on it (and zooms in from the whole city).
	lat, lon = first()
	const centre = `(function(){ const r = document.querySelector("#map").getBoundingClientRect(); return {x: r.left + r.width/2, y: r.top + r.height/2}; })()`
	c := eval[struct{ X, Y float64 }](b, centre)
	x0, y0 := b.mapPoint(lat, lon)
	ref0x, ref0y := b.mapPoint(28.2, 112.98)
	b.do("the hole", 10*time.Second, chromedp.Click(chromedp.CSS("#holes li.hole")))
	b.waitJS("the map on the hole", fmt.Sprintf(`(function(){ const p = kuaifanMapPoint(%g, %g); return Math.abs(p.x - %g) < 1 && Math.abs(p.y - %g) < 1; })()`,
		lat, lon, c.X, c.Y), 10*time.Second)
	if ref1x, ref1y := b.mapPoint(28.2, 112.98); math.Hypot(x0-c.X, y0-c.Y) < 1 && math.Hypot(ref1x-ref0x, ref1y-ref0y) < 1 {
		t.Error("the click on the hole did not move the map")
	}
	b.screenshot("coverage-2-hole")

	// A unit dispatched no longer covers: the figure falls.
	share = eval[float64](b, coverShare)
	inc := createIncident(t, h, 0, "theft", 3)
	var refusal api.Error
	if code := h.Do(http.MethodPost, "/api/incidents/"+inc+"/assign", map[string]string{"unit": "kf-c1"}, &refusal); code != http.StatusOK {
		t.Fatalf("assign kf-c1: %d %s", code, refusal.Error)
	}
	b.waitJS("the figure after the dispatch", fmt.Sprintf(coverShare+` < %g`, share), 15*time.Second)
	dispatched := eval[float64](b, coverShare)
	t.Logf("before the dispatch %.4f, after %.4f", share, dispatched)

	// A unit going offline: the figure falls again.
	units[2].Kill()
	b.waitJS("the figure after a unit went offline", fmt.Sprintf(coverShare+` < %g`, dispatched), 20*time.Second)
	t.Logf("after a unit went offline: %.4f", eval[float64](b, coverShare))

	// The move-ups: listed, or said to be unavailable on this hub.
	b.do("the move-ups", 10*time.Second, chromedp.Click(chromedp.CSS("#moveups")))
	b.waitJS("the move-ups' answer", `document.querySelector("#moveups-na, #moveups-objective, #moveups-error") !== null`, 10*time.Second)
	if e := eval[string](b, `(document.querySelector("#moveups-error") || {}).textContent || ""`); e != "" {
		t.Errorf("the move-ups: %s", e)
	}
	b.screenshot("coverage-3-moveups")

	// In Chinese; then on a phone, the box within the map's tab.
	b.do("中文", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("the figure in Chinese", `document.querySelector("#coverage").textContent.startsWith("3分钟覆盖 ")`, 5*time.Second)
	b.screenshot("coverage-4-zh")
	b.do("phone size", 5*time.Second, chromedp.EmulateViewport(390, 844),
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab="map"]`)), chromedp.WaitVisible(chromedp.CSS("#coverage-box")))
	clipped := eval[[]string](b, `Array.from(document.querySelectorAll("#coverage-box button, #coverage-box li, .mapctl button")).filter(e => {
		const r = e.getBoundingClientRect();
		return r.width > 0 && (r.left < -1 || r.right > window.innerWidth + 1);
	}).map(e => e.id || e.className || e.tagName)`)
	if len(clipped) > 0 {
		t.Errorf("at 390 px the coverage box cuts off %v", clipped)
	}
	b.screenshot("coverage-5-phone-390x844")
}
