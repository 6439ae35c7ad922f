package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/agent/internal/officerweb"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/testkit/browsertest"
	"kuaifan/testkit/dashboardtest"
)

// The officer's page in Chromium, served by a real agent's terminal, with a
// real hub: a dispatch shows on the card (moved by a sighting), Ack →
// Arrived → Cleared reach the incident's timeline, a second dispatch is
// declined with a reason, an ack pressed while the broker is down shows as
// queued and then confirmed, a short press of SOS sends nothing and a held
// one opens an officer_help incident. The dispatcher's dashboard, in a
// second tab, follows it all: the assignment's state and the unit's status
// after each press, and the SOS banner naming the unit, its incident with
// units sent.
func TestOfficerPage(t *testing.T) {
	requireOfficerWeb(t)
	b := newBrowser(t)
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	officerPage(t, b, h, "car-9")
	b.waitJS("english", `document.querySelector('#officer').lang === "en"`, 5*time.Second)
	if got := b.text("#unit"); got != "car-9" {
		t.Errorf("unit %q", got)
	}
	b.waitText("#status", "available")
	dash, _ := openDashboard(t, b, h)
	dash.waitJS("car-9 on the dashboard", `document.querySelector('.unit[data-id="car-9"][data-status="available"]') !== null`, 15*time.Second)

	// 1. A dispatch 800 m north: the card, its figures, Ack only.
	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "car-9")
	b.waitJS("the card", fmt.Sprintf(`document.querySelector('#card[data-incident=%q][data-state="dispatched"]') !== null`, inc.ID), 10*time.Second)
	// The dispatcher opens it from the queue.
	dash.clickLive("the incident in the queue", fmt.Sprintf(`#queue li.incident[data-id=%q]`, inc.ID))
	dash.dashboardShows(inc.ID, "car-9", "dispatched", "")
	b.waitText("#distance", "800 m · N")
	b.waitText("#eta", "~3 min") // 800 m × 1.4 / 8.3 m/s = 135 s
	if got := b.text("#kind"); got != "theft" {
		t.Errorf("kind %q", got)
	}
	if got := b.text("#summary"); got != "手机被抢，嫌疑人向西逃窜" {
		t.Errorf("summary %q", got)
	}
	b.checkEnabled(map[string]bool{"ack": true, "decline": true, "arrived": false, "cleared": false})
	b.screenshot("officer-card")
	// Gloves on a 7" screen: every target at least 48 px, and the SOS button
	// on screen.
	b.waitJS("48 px targets", `[...document.querySelectorAll('button, select')].every(e => {
		const r = e.getBoundingClientRect(); return r.height >= 48 && r.width >= 48 })`, time.Second)
	b.waitJS("SOS on screen", `document.querySelector('#sos').getBoundingClientRect().bottom <= window.innerHeight`, time.Second)
	// 中文, and back.
	b.press("lang")
	b.waitText("#ack", "签收")
	b.waitText("#distance", "800 米 · 北")
	b.screenshot("officer-card-zh")
	b.press("lang")
	b.waitText("#ack", "签收 Ack")

	// A sighting moves the target (update_location): the card follows.
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/sightings",
		map[string]any{"lat": lat0, "lon": lon0 + east(1500), "source": "camera-17"}, nil); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	b.waitText("#distance", "1.5 km · E")

	// 2. Ack → Arrived → Cleared, each confirmed by the hub.
	b.press("ack")
	b.waitAction("ack", inc.ID, "confirmed")
	waitIncident(t, h, inc.ID, "car-9", "enroute")
	dash.dashboardShows(inc.ID, "car-9", "enroute", "enroute")
	b.waitText("#status", "en route")
	b.checkEnabled(map[string]bool{"ack": false, "decline": true, "arrived": true, "cleared": false})
	b.press("arrived")
	b.waitAction("arrived", inc.ID, "confirmed")
	waitIncident(t, h, inc.ID, "car-9", "on_scene")
	dash.dashboardShows(inc.ID, "car-9", "on_scene", "on_scene")
	b.checkEnabled(map[string]bool{"ack": false, "decline": false, "arrived": false, "cleared": true})
	b.press("cleared")
	b.waitAction("cleared", inc.ID, "confirmed")
	waitIncident(t, h, inc.ID, "car-9", "cleared")
	dash.dashboardShows(inc.ID, "car-9", "cleared", "available")
	b.waitJS("no card", `document.querySelector('#card.empty') !== null`, 5*time.Second)
	var types []string
	for _, e := range incidentOf(t, h, inc.ID).Timeline {
		if e.Unit == "car-9" {
			types = append(types, e.Type)
		}
	}
	for _, want := range []string{api.EntryAck, api.EntryArrived, api.EntryCleared} {
		if !slices.Contains(types, want) {
			t.Errorf("timeline of car-9 on %s: %v, no %s", inc.ID, types, want)
		}
	}

	// 3. A second dispatch, declined with a reason.
	waitFresh(t, h, "car-9")
	inc2 := createIncident(t, h, lat0+north(500), lon0, 3)
	assign(t, h, inc2.ID, "car-9")
	b.waitJS("the second card", fmt.Sprintf(`document.querySelector('#card[data-incident=%q]') !== null`, inc2.ID), 10*time.Second)
	b.press("decline")
	b.waitJS("the reasons", `document.querySelector('#reason') !== null`, 5*time.Second)
	b.eval(`(() => { const s = document.querySelector('#reason'); s.value = "too_far"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	b.press("decline-confirm")
	b.waitAction("decline", inc2.ID, "confirmed")
	waitIncident(t, h, inc2.ID, "car-9", "declined")

	// 4. The broker goes away: an ack is queued, and confirmed once it is back.
	waitFresh(t, h, "car-9")
	inc3 := createIncident(t, h, lat0+north(300), lon0, 2)
	assign(t, h, inc3.ID, "car-9")
	b.waitJS("the third card", fmt.Sprintf(`document.querySelector('#card[data-incident=%q]') !== null`, inc3.ID), 10*time.Second)
	h.Stop()
	b.waitJS("offline", `document.querySelector('#link[data-state="offline"]') !== null`, 15*time.Second)
	b.press("ack")
	b.waitAction("ack", inc3.ID, "queued")
	b.waitJS("queue depth", `Number(document.querySelector('#queue').dataset.events) > 0`, 5*time.Second)
	b.screenshot("officer-queued")
	h = h.Restart()
	b.waitAction("ack", inc3.ID, "confirmed")
	waitIncident(t, h, inc3.ID, "car-9", "enroute")
	b.waitJS("connected again", `document.querySelector('#link[data-state="connected"]') !== null`, 15*time.Second)
	// The dashboard is back on the restarted hub, still signed in (the hub
	// keeps its sessions across a restart), and has the queued ack.
	dash.waitJS("the dashboard live, or signed out by the restart", dashboardtest.Connected.JS+" || "+dashboardtest.SignedOut.JS, 30*time.Second)
	if out, _ := chromedp.Run(dash.ctx, chromedp.Evaluate[bool](dashboardtest.SignedOut.JS)); out {
		msg, _ := chromedp.Run(dash.ctx, chromedp.Evaluate[string](`(document.querySelector("#signin-error") || {}).textContent || ""`))
		t.Fatalf("the hub's restart signed the dispatcher out: %q", msg)
	}
	dash.waitJS("the dashboard connected again", `document.querySelector('#link[data-state="connected"]') !== null`, 30*time.Second)
	dash.waitJS("car-9 en route on the dashboard", `document.querySelector('.unit[data-id="car-9"][data-status="enroute"]') !== null`, 15*time.Second)

	// Two armed cars nearby, for the SOS to send.
	for i, dm := range []float64{400, -600} {
		id := fmt.Sprintf("help-%d", i+1)
		d := hubtest.Connect(t, h.MQTTURL(), id, h.Enrol(id, "car", "armed"), hubtest.DeviceOptions{})
		d.Send(d.Fix(1, time.Now(), lat0+north(dm), lon0, protocol.StatusAvailable))
		d.WaitAcked(1)
	}

	// 5. SOS: a short press sends nothing; a held one does.
	b.pointer("pointerdown")
	time.Sleep(500 * time.Millisecond)
	b.pointer("pointerup")
	time.Sleep(holdSettle)
	if got := b.attr("#last-action", "action"); got == "sos" {
		t.Fatal("a 0.5 s press sent an SOS")
	}
	b.pointer("pointerdown")
	b.waitJS("the hold's progress", `document.querySelector('#sos').dataset.holding === "true"`, 2*time.Second)
	b.waitAction("sos", "", "confirmed")
	b.waitText("#notice", "SOS sent — help is being dispatched")
	b.pointer("pointerup")
	var sos api.Incident
	waitFor(t, 10*time.Second, func() error {
		var list []api.Incident
		if st := h.Do(http.MethodGet, "/api/incidents", nil, &list); st != http.StatusOK {
			return fmt.Errorf("list: %d", st)
		}
		for _, i := range list {
			if i.SOS == "car-9" && i.Kind == api.KindOfficerHelp && len(i.Assignments) > 0 {
				sos = i
				return nil
			}
		}
		return fmt.Errorf("no officer_help incident for car-9 with units sent among %d", len(list))
	})
	b.screenshot("officer-sos")

	// The dispatcher's SOS banner names car-9 and sounds; its incident, opened
	// from the banner, has the units sent.
	dash.waitJS("the SOS banner", fmt.Sprintf(`document.querySelector('#sos .sos-item[data-unit="car-9"][data-incident=%q]') !== null`, sos.ID), 10*time.Second)
	dash.waitJS("the banner naming car-9", `document.querySelector("#sos").textContent.includes("car-9") && document.querySelector("#sos-ack") !== null`, 5*time.Second)
	dash.waitJS("the siren", `window.kuaifanAlarm !== undefined && kuaifanAlarm.sos >= 1 && kuaifanAlarm.sosBeeps >= 1`, 10*time.Second)
	dash.clickLive("open the SOS", `#sos .sos-item[data-unit="car-9"] .sos-open`)
	dash.waitJS("units sent to the SOS", fmt.Sprintf(`(() => {
		const d = document.querySelector('#incident-detail[data-id=%q]');
		return d !== null && [...d.querySelectorAll('.assignment')].some(a => a.dataset.unit.startsWith("help-") && a.dataset.state === "dispatched");
	})()`, sos.ID), 10*time.Second)
	dash.screenshot("dashboard-sees-officer")
}

// openDashboard opens the dispatcher's dashboard, served by h, in a second
// tab of b's browser, at a desktop's size, and signs a dispatcher in with
// their name and password (an account made with the admin token).
func openDashboard(t *testing.T, b *browser, h *hubtest.Hub) (*browser, dashboardtest.Person) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	d := &browser{t: t, ctx: ctx}
	// The tab's first Run, without a timeout: it binds the tab's life to
	// its context.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("opening a tab for the dashboard: %v", err)
	}
	d.do("open the dashboard", 30*time.Second, chromedp.Navigate(h.URL+"/"))
	d.waitJS("the dashboard's app", dashboardtest.AppRunning.JS, 60*time.Second)
	d.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 30*time.Second)
	wang := dashboardtest.NewPerson(t, h.Client, h.URL, h.AdminToken(), "wang", api.RoleDispatcher)
	d.do("sign in", 30*time.Second, dashboardtest.SignIn(wang)...)
	d.waitJS(dashboardtest.Connected.What, dashboardtest.Connected.JS, 30*time.Second)
	return d, wang
}

// clickLive clicks what css matches at the moment of the click: the
// dashboard is live and re-renders under the test.
func (b *browser) clickLive(what, css string) {
	b.t.Helper()
	b.waitJS(what, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.click(); return true; })()`, css), 10*time.Second)
}

// dashboardShows waits for the dashboard's selected incident to show unit's
// assignment in state, and (unless status is "") the unit's row in status.
func (b *browser) dashboardShows(incident, unit, state, status string) {
	b.t.Helper()
	for _, c := range dashboardtest.AssignmentShown(incident, unit, state, status) {
		b.waitJS(c.What, c.JS, 15*time.Second)
	}
}

// With a terminal token: the page takes it from its launch URL's fragment
// (and removes it from the address bar), keeps it, and asks for it when it
// has none.
func TestOfficerPageToken(t *testing.T) {
	requireOfficerWeb(t)
	b := newBrowser(t)
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "foot-4", h.Enrol("foot-4", "foot"))
	cfg.Terminal = freeAddr(t)
	cfg.TerminalToken = "terminal-token-0123456789"
	start(t, cfg, lat0, lon0, 0)
	base := "http://" + cfg.Terminal + "/"
	waitTerminal(t, cfg.Terminal)

	b.do("open with the token", 30*time.Second, chromedp.Navigate(base+"#token="+cfg.TerminalToken))
	b.waitJS("the app", `document.documentElement.dataset.app === "running"`, 60*time.Second)
	b.waitJS("connected", `document.querySelector('#link[data-state="connected"]') !== null`, 10*time.Second)
	b.waitText("#unit", "foot-4")
	b.waitJS("the fragment removed", `location.hash === ""`, time.Second)

	// A new visit without the fragment: the kept token.
	b.do("reload", 30*time.Second, chromedp.Navigate(base))
	b.waitJS("the app again", `document.documentElement.dataset.app === "running"`, 60*time.Second)
	b.waitText("#unit", "foot-4")

	// No token kept: the page asks for it.
	b.eval(`(() => { localStorage.clear(); return true })()`)
	b.do("reload without a token", 30*time.Second, chromedp.Navigate(base))
	b.waitJS("the app once more", `document.documentElement.dataset.app === "running"`, 60*time.Second)
	b.waitJS("the token form", `document.querySelector('#token-form') !== null`, 10*time.Second)
	b.do("give the token", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), cfg.TerminalToken),
		chromedp.Click(chromedp.CSS("#token-save")))
	b.waitText("#unit", "foot-4")
	b.waitJS("the form gone", `document.querySelector('#token-form') === null`, 5*time.Second)
}

// waitTerminal waits until the agent's terminal listens.
// requireOfficerWeb fails (under CI) or skips a test of the officer's
// page when the page is not built.
func requireOfficerWeb(t *testing.T) {
	t.Helper()
	if !officerweb.Built() {
		msg := "the officer's page is not built: run make wasm (make test does) before this test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// officerPage starts a car agent with its terminal on the hub, online
// with a fix at lat0, lon0, and opens its page in the browser, connected.
func officerPage(t *testing.T, b *browser, h *hubtest.Hub, unit string) *running {
	t.Helper()
	cfg := testConfig(t, h.MQTTURL(), unit, h.Enrol(unit, "car"))
	cfg.Terminal = freeAddr(t)
	cfg.UnitType = "car"
	r := start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, unit); !u.Online || u.Lat == nil {
			return fmt.Errorf("%s not online with a position", unit)
		}
		return nil
	})
	waitTerminal(t, cfg.Terminal)
	b.do("open", 30*time.Second, chromedp.Navigate("http://"+cfg.Terminal+"/"))
	b.waitJS("the app", `document.documentElement.dataset.app === "running"`, 60*time.Second)
	b.waitJS("connected", `document.querySelector('#link[data-state="connected"]') !== null`, 10*time.Second)
	return r
}

func waitTerminal(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/v1/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// holdSettle is long enough after a release for a hold's timer to have
// fired had the release not ended it.
const holdSettle = 1500 * time.Millisecond

// browser is one headless Chromium tab the size of a 7" tablet.
type browser struct {
	t   testing.TB
	ctx context.Context
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	ctx := browsertest.Start(t, chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1024, 600))
	// The 7" tablet's screen, exactly (the window's size includes its frame).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 600)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// do runs actions, failing the test (with a screenshot) on an error.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func (b *browser) attr(sel, data string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`((document.querySelector(%q) || {}).dataset || {})[%q] || ""`, sel, data)))
	if err != nil {
		b.t.Fatalf("data-%s of %s: %v", data, sel, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(what, js string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	b.waitJS(sel+" "+want, fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "").trim() === %q`, sel, want), 10*time.Second)
}

// waitAction waits for the last action shown to be typ on incident in state
// (queued or confirmed).
func (b *browser) waitAction(typ, incident, state string) {
	b.t.Helper()
	b.waitJS(typ+" "+state, fmt.Sprintf(`(() => { const e = document.querySelector('#last-action');
		return e !== null && e.dataset.action === %q && (e.dataset.incident || "") === %q && e.dataset.state === %q })()`,
		typ, incident, state), 20*time.Second)
}

// press clicks a button once it is enabled.
func (b *browser) press(id string) {
	b.t.Helper()
	sel := "#" + id
	b.waitJS(id+" enabled", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e !== null && !e.disabled })()`, sel), 10*time.Second)
	b.do("press "+id, 10*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// pointer sends a pointer event to the SOS button.
func (b *browser) pointer(typ string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.querySelector('#sos').dispatchEvent(new PointerEvent(%q, {bubbles: true, pointerType: "touch"}))`, typ))
}

// checkEnabled checks which action buttons are enabled.
func (b *browser) checkEnabled(want map[string]bool) {
	b.t.Helper()
	for id, on := range want {
		b.waitJS(fmt.Sprintf("%s enabled %v", id, on),
			fmt.Sprintf(`document.querySelector("#%s").disabled === %v`, id, !on), 5*time.Second)
	}
}

// screenshot saves the page under the test's artifact directory (kept by
// go test -artifacts; make test keeps them in test-output/).
func (b *browser) screenshot(name string) {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("saving the screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", p)
}
