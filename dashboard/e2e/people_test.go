package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// People sign in to the dashboard with their own name and password
// (hub/README.md, "People"): the session is the hub's HttpOnly cookie, each
// write carries the session's CSRF token, and the page offers only what the
// person's role allows.

// incidentNearUnit opens an incident (with the admin's token) a little way
// from an available simulated unit, so that it has recommendations.
func incidentNearUnit(t *testing.T, h *hubtest.Hub) string {
	t.Helper()
	var units []api.Unit
	h.Do(http.MethodGet, "/api/units", nil, &units)
	for _, u := range units {
		if u.Status == "available" && u.Type != "volunteer" && u.Lat != nil && u.Lon != nil {
			var inc api.Incident
			if code := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": *u.Lat + 0.002, "lon": *u.Lon + 0.002,
				"kind": "theft", "priority": 2, "summary": "e2e people", "needs": []string{}}, &inc); code != http.StatusCreated {
				t.Fatalf("create incident: %d", code)
			}
			return inc.ID
		}
	}
	t.Fatalf("no available unit among %d", len(units))
	return ""
}

// absent is a JavaScript expression true when nothing matches css.
func absent(css string) string { return fmt.Sprintf(`document.querySelector(%q) === null`, css) }

// A dispatcher signs in with a password; the city is live; a reload keeps
// the session (no form); after the page has re-rendered the dispatcher
// sends a unit, and the timeline names the dispatcher — at the hub
// (user:NAME) and on the page (the name).
func TestPersonDispatches(t *testing.T) {
	const units = 4
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	fleet(t, h, units)
	li := person(t, h, "li.na", api.RoleDispatcher)

	b.signIn(h.URL+"/", li)
	live := fmt.Sprintf(`window.kuaifanStats && kuaifanStats.units === %d && kuaifanStats.drawn === %d`, units, units)
	b.waitJS("the city live", live, 20*time.Second)
	b.waitJS("who is signed in", `(() => { const w = document.querySelector('#who[data-name="li.na"][data-role="dispatcher"]');
		return w !== null && w.textContent.includes("li.na") && w.textContent.includes("dispatcher"); })()`, 5*time.Second)
	b.screenshot("people-1-signed-in")

	// A reload: the session goes on, without the form.
	b.open(h.URL + "/")
	if s := eval[string](b, `document.querySelector("#kuaifan").dataset.session`); s != "signed-in" {
		t.Fatalf("after a reload the page is %q, want signed-in", s)
	}
	b.waitJS(dashboardtest.Connected.What, dashboardtest.Connected.JS, 30*time.Second)
	b.waitJS("the city live again", live, 20*time.Second)
	if eval[bool](b, `document.querySelector("#signin-form, #signin-name, #token") !== null`) {
		t.Error("the sign-in form shows after a reload")
	}

	// An incident; the page re-renders (the language, back and forth)
	// before the dispatcher sends its first recommendation.
	id := incidentNearUnit(t, h)
	b.clickLive("open the incident", fmt.Sprintf(`#queue li.incident[data-id=%q]`, id))
	b.waitJS("its recommendations", `document.querySelector("#recs .recommendation button.dispatch:not([disabled])") !== null`, 15*time.Second)
	b.do("中文", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("Chinese", `document.querySelector("#kuaifan").getAttribute("lang") === "zh" && document.querySelector("#who").textContent === "li.na · 调度员"`, 5*time.Second)
	b.do("English", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	b.waitJS("English", `document.querySelector("#kuaifan").getAttribute("lang") === "en"`, 5*time.Second)
	unit := b.clickNth("#recs .recommendation button.dispatch:not([disabled])", 0, "unit")
	b.do("confirm", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#confirm[data-action="dispatch"][data-unit=%q]`, unit))),
		chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS("the assignment", fmt.Sprintf(`document.querySelector('#incident-detail[data-id=%q] .assignment[data-unit=%q]') !== null`, id, unit), 10*time.Second)

	var inc api.Incident
	if code := h.Do(http.MethodGet, "/api/incidents/"+id, nil, &inc); code != http.StatusOK {
		t.Fatalf("GET incident: %d", code)
	}
	var actor string
	for _, e := range inc.Timeline {
		if e.Type == api.EntryDispatched && e.Unit == unit {
			actor = e.Actor
		}
	}
	if want := api.ActorUserPrefix + "li.na"; actor != want {
		t.Errorf("the hub's timeline says %q sent %s, want %q", actor, unit, want)
	}
	b.waitJS("the timeline naming li.na", fmt.Sprintf(`(() => {
		const e = document.querySelector('#timeline li.entry[data-type="dispatched"][data-actor="user:li.na"]');
		return e !== null && e.querySelector(".actor").textContent === "li.na" && e.querySelector(".unit-id[data-unit=" + JSON.stringify(%q) + "]") !== null;
	})()`, unit), 10*time.Second)
	b.screenshot("people-2-dispatched")
}

// A viewer reads everything — the incidents, the recommendations, the
// timeline, the fleet — and is offered no action: no new incident, no
// Dispatch, no close, no sighting, no enrolment; the N key and a click on
// the map open nothing.
func TestViewerSeesNoActions(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	fleet(t, h, 4)
	id := incidentNearUnit(t, h)
	b.signIn(h.URL+"/", person(t, h, "zhao", api.RoleViewer))
	b.waitJS("the role", `document.querySelector('#who[data-name="zhao"][data-role="viewer"]') !== null`, 5*time.Second)

	b.clickLive("open the incident", fmt.Sprintf(`#queue li.incident[data-id=%q]`, id))
	b.waitJS("its recommendations", `document.querySelectorAll("#recs .recommendation").length > 0`, 15*time.Second)
	b.waitJS("its timeline", `document.querySelectorAll("#timeline li.entry").length > 0`, 5*time.Second)
	for _, css := range []string{"button.dispatch", "#new-incident", "#incident-form", "#incident-close", "#incident-reopen",
		"#sighting-new", "#offer-send", "#offer-dismiss"} {
		if !eval[bool](b, absent(css)) {
			t.Errorf("a viewer is offered %s", css)
		}
	}
	// The keyboard and the map open nothing either.
	b.do("N", 5*time.Second, chromedp.KeyEvent("n"))
	x, y := b.centre("#map")
	b.do("a click on the map", 5*time.Second, chromedp.MouseClickXY(x+37, y-23))
	time.Sleep(300 * time.Millisecond)
	if !eval[bool](b, absent("#incident-form")) || eval[bool](b, `document.querySelector(".mapwrap.creating") !== null`) {
		t.Error("a viewer could start a new incident")
	}
	b.screenshot("people-3-viewer")

	// The units screen: the fleet, without enrolment or revocation.
	b.clickLive("the units screen", `#views .view-tab[data-view="units"]`)
	b.waitJS("the fleet", `document.querySelectorAll("#enrol-units tr.enrol-unit").length > 0`, 10*time.Second)
	for _, css := range []string{"#enrol-form", "#enrol-submit", "button.revoke"} {
		if !eval[bool](b, absent(css)) {
			t.Errorf("a viewer is offered %s", css)
		}
	}
}

// Sign-out returns to the form, and a reload shows the form (the hub ended
// the session). An account disabled while its page is open: the next call
// signs the page out, saying the session ended.
func TestSignOut(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	wu := person(t, h, "wu", api.RoleDispatcher)
	b.signIn(h.URL+"/", wu)
	b.do("sign out", 10*time.Second, chromedp.Click(chromedp.CSS("#signout")))
	b.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 10*time.Second)
	b.open(h.URL + "/")
	if s := eval[string](b, `document.querySelector("#kuaifan").dataset.session`); s != "signed-out" {
		t.Errorf("after signing out and a reload the page is %q", s)
	}
	b.screenshot("people-4-signed-out")

	// Signed in again; an admin disables the account: the page's next call
	// is refused and the page says the session ended.
	b.signIn(h.URL+"/", wu)
	if code := h.Do(http.MethodPatch, "/api/users/wu", map[string]any{"disabled": true}, nil); code != http.StatusOK {
		t.Fatalf("PATCH /api/users/wu: %d", code)
	}
	b.clickLive("the archive", `#views .view-tab[data-view="archive"]`) // a search: a call
	b.waitJS("signed out", dashboardtest.SignedOut.JS, 15*time.Second)
	if msg := eval[string](b, `(document.querySelector("#signin-error") || {}).textContent || ""`); !strings.Contains(msg, "sign in again") {
		t.Errorf("the form says %q", msg)
	}
}

// A one-time password (an admin made the account without one): the form
// asks for a new one before anything else, then the console, with what a
// call-taker may do.
func TestOneTimePassword(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	var made api.Credentials
	if code := h.Do(http.MethodPost, "/api/users", map[string]any{"name": "chen", "role": api.RoleCallTaker}, &made); code != http.StatusCreated || made.Password == "" {
		t.Fatalf("POST /api/users: %d %+v", code, made)
	}
	b.open(h.URL + "/")
	b.do("sign in", 30*time.Second, dashboardtest.SignIn(dashboardtest.Person{Name: "chen", Password: made.Password})...)
	b.waitJS("the change", `document.querySelector('#kuaifan[data-session="must-change"] #pw-form') !== null`, 10*time.Second)
	b.screenshot("people-5-one-time")
	b.do("the new password", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pw-old"), made.Password),
		chromedp.SendKeys(chromedp.CSS("#pw-new"), "chen-own-password"),
		chromedp.SendKeys(chromedp.CSS("#pw-new2"), "chen-own-password"),
		chromedp.Click(chromedp.CSS("#pw-change")))
	b.waitJS(dashboardtest.Connected.What, dashboardtest.Connected.JS, 30*time.Second)
	b.waitJS("a call-taker's console", `document.querySelector('#who[data-role="call-taker"]') !== null && document.querySelector("#new-incident") !== null`, 10*time.Second)

	// Signed out, the new password signs in.
	b.do("sign out", 10*time.Second, chromedp.Click(chromedp.CSS("#signout")))
	b.waitJS(dashboardtest.SignedOut.What, dashboardtest.SignedOut.JS, 10*time.Second)
	b.do("sign in with the new password", 30*time.Second, append(dashboardtest.SignIn(dashboardtest.Person{Name: "chen", Password: "chen-own-password"}),
		chromedp.WaitVisible(chromedp.CSS(`#link[data-state="connected"]`)))...)
}
