package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// event sends a device event about an incident (ack, arrived, cleared) on
// the device's own sequence, and waits for the hub to take it.
func (d *unitDevice) event(typ protocol.EventType, incident string) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	d.SendEvent(seq, typ, incident)
	d.WaitAcked(seq)
}

// respond sends a unit to an incident through the API, and has it
// acknowledge and arrive; cleared, it also clears (which closes the
// incident once every unit has).
func respond(t *testing.T, h *hubtest.Hub, d *unitDevice, incident string, cleared bool) {
	t.Helper()
	var refusal api.Error
	if code := h.Do(http.MethodPost, "/api/incidents/"+incident+"/assign", map[string]string{"unit": d.ID}, &refusal); code != http.StatusOK {
		t.Fatalf("assign %s to %s: %d %s", d.ID, incident, code, refusal.Error)
	}
	d.WaitCommand(protocol.CmdDispatch, incident)
	d.event(protocol.EventAck, incident)
	d.event(protocol.EventArrived, incident)
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if s := getIncident(t, h, incident).Status; s != "on_scene" {
			return fmt.Errorf("%s is %s after the arrival", incident, s)
		}
		return nil
	})
	if cleared {
		d.event(protocol.EventCleared, incident)
	}
}

// The page screens from the top bar, in Chromium against the real hub: the
// figures' charts and a figure as GET /api/kpi gives it, in both
// languages; the archive's text search; the daily report's worst
// responses, on screen and as printed.
func TestPagesFromTheTopBar(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))
	d1, d2 := enrolDevice(t, h, "kf-p01", "湘A-P01"), enrolDevice(t, h, "kf-p02", "湘A-P02")
	d1.moveTo(200)
	d2.moveTo(400)

	// Five incidents: two reached (one cleared, one closed by the
	// dispatcher), three closed without anyone arriving.
	reached1 := createIncident(t, h, 0, "theft", 3)
	reached2 := createIncident(t, h, 10, "fraud", 2)
	never := []string{createIncident(t, h, 20, "dispute", 2), createIncident(t, h, 30, "noise", 3), createIncident(t, h, 40, "fire", 2)}
	respond(t, h, d1, reached1, true)
	respond(t, h, d2, reached2, false)
	// Closed without anyone arriving, the others count as never reached
	// (an open one younger than 5 minutes may still be reached in time).
	for _, id := range append([]string{reached2}, never...) {
		if code := h.Do(http.MethodPost, "/api/incidents/"+id+"/close", map[string]string{"note": "e2e done"}, nil); code != http.StatusOK {
			t.Fatalf("close %s: %d", id, code)
		}
	}

	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleDispatcher))
	if lang := eval[string](b, `document.querySelector("#kuaifan").lang`); lang != "en" {
		b.do("English", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	}

	// Figures: three charts with bars, and the count as the hub gives it.
	b.do("open the figures", 10*time.Second, chromedp.Click(chromedp.CSS(`#views .view-tab[data-view="kpi"]`)))
	b.waitJS("the charts drawn", `document.querySelectorAll("#chart-hour rect.bar.count").length >= 1 &&
		document.querySelectorAll("#chart-district rect.bar.share").length >= 1 &&
		document.querySelectorAll("#chart-trend rect.bar.count").length >= 1`, 20*time.Second)
	win := eval[struct{ From, To string }](b, `(() => { const d = document.querySelector("#kpi-figures").dataset; return {from: d.from, to: d.to}; })()`)
	from, _ := strconv.ParseInt(win.From, 10, 64)
	to, _ := strconv.ParseInt(win.To, 10, 64)
	var rep api.KPIReport
	if code := h.Do(http.MethodGet, fmt.Sprintf("/api/kpi?from=%d&to=%d&by=day", from, to), nil, &rep); code != http.StatusOK {
		t.Fatalf("GET /api/kpi: %d", code)
	}
	if rep.Total.Count != 5 {
		t.Errorf("the hub counts %d incidents, want 5", rep.Total.Count)
	}
	if got := eval[string](b, `document.querySelector("#kpi-count dd").textContent`); got != strconv.Itoa(rep.Total.Count) {
		t.Errorf("the page shows %q incidents, the hub %d", got, rep.Total.Count)
	}
	if rep.Total.Reached3 != nil {
		want := fmt.Sprintf("%.0f%%", math.Round(*rep.Total.Reached3*100))
		if got := eval[string](b, `document.querySelector("#kpi-reached3 dd").textContent`); got != want {
			t.Errorf("reached within 3 min: the page shows %q, the hub %s", got, want)
		}
	}
	bars := eval[int](b, `document.querySelectorAll("#view-kpi svg rect").length`)
	t.Logf("figures: %d incidents, %d SVG rects", rep.Total.Count, bars)
	if eval[string](b, `document.querySelector("#chart-hour svg").namespaceURI`) != "http://www.w3.org/2000/svg" {
		t.Error("the chart is not in the SVG namespace")
	}
	b.screenshot("figures")

	// In Chinese the charts' titles are.
	b.do("Chinese", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("a chart's title in Chinese", `document.querySelector("#chart-hour .chart-title").textContent === "按时段分布"`, 10*time.Second)

	// Archive: a text search finds the one incident.
	b.do("open the archive", 10*time.Second, chromedp.Click(chromedp.CSS(`#views .view-tab[data-view="archive"]`)),
		chromedp.WaitVisible(chromedp.CSS("#archive-text")))
	b.waitJS("the default search", `document.querySelector("#archive-results") !== null`, 15*time.Second)
	b.do("search for a summary", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#archive-text"), "e2e fraud"),
		chromedp.Click(chromedp.CSS("#archive-search")))
	b.waitJS("one incident found", fmt.Sprintf(`document.querySelector("#archive-results").dataset.total === "1" &&
		document.querySelectorAll("tr.archive-row").length === 1 && document.querySelector("tr.archive-row").dataset.id === %q`, reached2), 15*time.Second)
	if row := eval[string](b, `document.querySelector("tr.archive-row").textContent`); !containsAll(row, "e2e fraud", "湘A-P02") {
		t.Errorf("the row reads %q", row)
	}
	// Its export: fetched with the token and handed to the browser.
	b.do("export the window", 10*time.Second, chromedp.Click(chromedp.CSS("#archive-csv")))
	b.waitJS("the CSV saved", `(window.kuaifanDownloads || []).some(d => d.name.endsWith(".csv") && d.size > 10)`, 15*time.Second)

	// Daily report: the incidents never reached lead the worst responses.
	b.do("open the daily report", 10*time.Second, chromedp.Click(chromedp.CSS(`#views .view-tab[data-view="report"]`)))
	b.waitJS("the worst responses", `document.querySelectorAll("#report-worst tr.worst-row").length >= 4`, 15*time.Second)
	worst := b.attrs("#report-worst tr.worst-row", "id")
	reachedFlags := b.attrs("#report-worst tr.worst-row", "reached")
	for i, id := range never {
		if i >= len(worst) || !slices.Contains(worst[:len(never)], id) || reachedFlags[i] != "false" {
			t.Errorf("worst %v (reached %v): want %v, never reached, first", worst, reachedFlags, never)
			break
		}
	}
	if title := eval[string](b, `document.querySelector("#report-title").textContent`); !containsAll(title, "日报", time.Now().Format("2006-01-02")) {
		t.Errorf("the report's title %q", title)
	}
	b.screenshot("daily-report")

	// Printed: the page alone, without the top bar.
	_, err := chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
	})
	if err != nil {
		t.Fatalf("emulating print: %v", err)
	}
	b.waitJS("the top bar hidden in print", `getComputedStyle(document.querySelector(".topbar")).display === "none" &&
		getComputedStyle(document.querySelector("#statusbar")).display === "none" &&
		getComputedStyle(document.querySelector("#report-print")).display === "none" &&
		getComputedStyle(document.querySelector("#report-title")).display !== "none"`, 5*time.Second)
	if bg := eval[string](b, `getComputedStyle(document.querySelector("#view-report")).backgroundColor`); bg != "rgb(255, 255, 255)" {
		t.Errorf("printed on %s, want white", bg)
	}
	b.screenshot("daily-report-print")

	// Back on screen, a worst response's Replay opens its replay.
	_, err = chromedp.Run(b.ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""})
	})
	if err != nil {
		t.Fatalf("ending the print emulation: %v", err)
	}
	b.clickNth("#report-worst tr.worst-row button.replay", 0, "id")
	b.waitJS("the replay", `document.querySelector("#view-replay") !== null && document.querySelector("#view-report") === null`, 10*time.Second)
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
