// Package dashboardtest is what end-to-end tests in several modules (the
// dashboard's own, the agent's officer page) need to check the dispatcher's
// dashboard: whether a hub serves it, an account to sign in with, the
// sign-in itself, and the page conditions they wait on, written once
// against the dashboard's test hooks (dashboard/README.md).
package dashboardtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Require checks that the hub at hubURL serves the dashboard: a hub embeds
// app.wasm only if make wasm built it before the test was compiled. Without
// it the test is skipped, or fails under CI=true (CI never skips for a
// missing build).
func Require(t testing.TB, hubURL string) {
	t.Helper()
	resp, err := http.Get(hubURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		msg := "the hub has no dashboard build embedded: run make wasm (make test does) before this test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/ = %s", hubURL, resp.Status)
	}
}

// Condition is something to wait for on the dashboard's page: a
// JavaScript expression true once it holds, and what it says.
type Condition struct{ What, JS string }

// AssignmentShown are the conditions that the selected incident's detail
// shows unit's assignment in state and, unless status is "", that the
// units panel shows the unit's row in status.
func AssignmentShown(incident, unit, state, status string) []Condition {
	cs := []Condition{{fmt.Sprintf("the dashboard: %s %s on %s", unit, state, incident),
		fmt.Sprintf(`document.querySelector('#incident-detail[data-id=%q] .assignment[data-unit=%q][data-state=%q]') !== null`,
			incident, unit, state)}}
	if status != "" {
		cs = append(cs, Condition{fmt.Sprintf("the dashboard: %s %s", unit, status),
			fmt.Sprintf(`document.querySelector('.unit[data-id=%q][data-status=%q]') !== null`, unit, status)})
	}
	return cs
}

// Person is an account on the hub to sign in to the dashboard with.
type Person struct {
	Name, Role, Password string
}

// NewPerson makes name's account with role on the hub at hubURL, through
// its API with the bootstrap admin token (POST /api/users), with a password
// that stands (must_change false, as for an account a script provisions).
// client is the hub's (nil: http.DefaultClient; a TLS hub's trusts its CA).
func NewPerson(t testing.TB, client *http.Client, hubURL, adminToken, name, role string) Person {
	t.Helper()
	p := Person{Name: name, Role: role, Password: "pw-" + name + "-0123456789"}
	if client == nil {
		client = http.DefaultClient
	}
	body, _ := json.Marshal(map[string]any{"name": p.Name, "role": p.Role, "password": p.Password, "must_change": false})
	req, err := http.NewRequest(http.MethodPost, hubURL+"/api/users", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("making %s's account: %v", name, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("making %s's account: POST /api/users = %s: %s", name, resp.Status, answer)
	}
	return p
}

// The page's states (#kuaifan[data-session]) once the app runs: it has
// asked the hub whether the browser has a session.
var (
	// SignedOut: the sign-in form, after the app found no session.
	SignedOut = Condition{"the sign-in form", `document.querySelector('#kuaifan[data-session="signed-out"] #signin-name') !== null`}
	// SignedIn: the console.
	SignedIn = Condition{"the console", `document.querySelector('#kuaifan[data-session="signed-in"]') !== null`}
	// Connected: the console's stream is live.
	Connected = Condition{"the dashboard connected", `document.querySelector('#link[data-state="connected"]') !== null`}
	// AppRunning: the WebAssembly app has taken over the server's
	// pre-render.
	AppRunning = Condition{"the dashboard's app", `document.documentElement.dataset.app === "running"`}
)

// SignIn are the actions that sign p in on the dashboard's form, once it
// shows (wait for SignedOut first: the pre-rendered form does nothing):
// the name, the password, Sign in.
func SignIn(p Person) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS("#signin-name")),
		chromedp.SendKeys(chromedp.CSS("#signin-name"), p.Name),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), p.Password),
		chromedp.Click(chromedp.CSS("#signin")),
	}
}
