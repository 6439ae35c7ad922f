// Package dashboardtest is what end-to-end tests in several modules (the
// dashboard's own, the agent's officer page) need to check the dispatcher's
// dashboard: whether a hub serves it, and the page conditions they wait on,
// written once against the dashboard's test hooks (dashboard/README.md).
package dashboardtest

import (
	"fmt"
	"net/http"
	"os"
	"testing"
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
