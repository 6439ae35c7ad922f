package hub_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
)

// allDay is a plan whose one shift runs all day, so a test is in it
// whenever it runs: a checkpoint at lat0, lon0 for car-1 and an area
// around it for foot patrols.
func allDay(id string) map[string]any {
	return map[string]any{"id": id, "name": "全天 all day",
		"shifts": []map[string]any{{"id": "all", "start": "00:00", "end": "00:00"}},
		"tasks": []map[string]any{
			{"id": "cp-1", "kind": "point", "units": []string{"car-1"}, "lat": lat0, "lon": lon0, "radius_m": 100},
			{"id": "a-1", "kind": "area", "unit_types": []string{"foot"}, "min_presence_min": 600,
				"polygon": [][2]float64{{lon0 - 0.01, lat0 - 0.01}, {lon0 + 0.01, lat0 - 0.01}, {lon0 + 0.01, lat0 + 0.01}, {lon0 - 0.01, lat0 + 0.01}}},
		}}
}

// Plans are data a supervisor edits: stored (also across a restart),
// refused with the task and field named, imported from GeoJSON; a unit's
// tasks now; and the compliance of the running shift from the tracks.
func TestPatrolPlans(t *testing.T) {
	h := hubtest.Start(t, nil)
	car := unitAt(t, h, "car-1", "car", 0, 0)
	unitAt(t, h, "foot-1", "foot", 0.002, 0)
	car.Send(car.Fix(2, time.Now(), lat0+0.0002, lon0, protocol.StatusAvailable))
	car.WaitAcked(2)

	if st := h.Do(http.MethodPut, "/api/patrols/all-day", allDay("all-day"), nil); st != http.StatusCreated {
		t.Fatalf("PUT a new plan: %d", st)
	}
	if st := h.Do(http.MethodPut, "/api/patrols/all-day", allDay("all-day"), nil); st != http.StatusOK {
		t.Fatalf("PUT it again: %d", st)
	}
	// The car hears its checkpoint at once (the command tasks).
	var sent protocol.Command
	hubtest.WaitFor(t, 5*time.Second, func() error {
		for _, raw := range car.Commands() {
			if c, err := protocol.DecodeCommand(raw); err == nil && c.Type == protocol.CmdTasks {
				sent = c
				return nil
			}
		}
		return fmt.Errorf("no tasks command among %d", len(car.Commands()))
	})
	if len(sent.Tasks) != 1 || sent.Tasks[0].ID != "cp-1" || sent.Tasks[0].Plan != "all-day" || sent.Tasks[0].RadiusM != 100 {
		t.Fatalf("car-1's tasks: %+v", sent.Tasks)
	}
	for _, tc := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"id differs", "/api/patrols/other", allDay("all-day"), "id"},
		{"bad radius", "/api/patrols/bad", func() map[string]any {
			p := allDay("bad")
			p["tasks"].([]map[string]any)[0]["radius_m"] = -5
			return p
		}(), `task "cp-1": radius_m`},
		{"unknown field", "/api/patrols/bad", func() map[string]any {
			p := allDay("bad")
			p["tasks"].([]map[string]any)[0]["radius"] = 5
			return p
		}(), "radius"},
	} {
		var e api.Error
		if st := h.Do(http.MethodPut, tc.path, tc.body, &e); st != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 naming %s", tc.name, st, e.Error, tc.want)
		}
	}
	// "compliance" is the report's path, never a plan's.
	if st := h.Do(http.MethodPut, "/api/patrols/compliance", allDay("compliance"), nil); st != http.StatusMethodNotAllowed {
		t.Errorf("PUT /api/patrols/compliance: %d, want 405", st)
	}
	var list []patrol.Plan
	if h.Do(http.MethodGet, "/api/patrols", nil, &list); len(list) != 1 || list[0].ID != "all-day" {
		t.Fatalf("plans after refusals: %+v", list)
	}

	// GeoJSON import, by content type.
	geo, err := os.ReadFile("../protocol/patrol/testdata/changsha.geojson")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, h.URL+"/api/patrols/furong-geo?name=Furong", bytes.NewReader(geo))
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	req.Header.Set("Content-Type", "application/geo+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("GeoJSON import: %d", resp.StatusCode)
	}
	var imported patrol.Plan
	if h.Do(http.MethodGet, "/api/patrols/furong-geo", nil, &imported); len(imported.Tasks) == 0 || imported.Name != "Furong" {
		t.Fatalf("imported plan: %+v", imported)
	}

	// The unit's tasks now.
	var tasks []struct {
		Plan string      `json:"plan"`
		Task patrol.Task `json:"task"`
	}
	h.Do(http.MethodGet, "/api/units/car-1/tasks", nil, &tasks)
	found := false
	for _, tk := range tasks {
		found = found || (tk.Plan == "all-day" && tk.Task.ID == "cp-1")
	}
	if !found {
		t.Fatalf("car-1's tasks: %+v", tasks)
	}

	// Compliance of the shift running now: the car held its checkpoint,
	// the foot patrol has not been in its area ten hours.
	var e api.Error
	if st := h.Do(http.MethodGet, "/api/patrols/compliance", nil, &e); st != http.StatusBadRequest || !strings.Contains(e.Error, "plan") {
		t.Fatalf("two plans, none named: %d %q", st, e.Error)
	}
	var rep patrol.Report
	if st := h.Do(http.MethodGet, "/api/patrols/compliance?plan=all-day", nil, &rep); st != http.StatusOK {
		t.Fatalf("compliance: %d", st)
	}
	met := map[string]bool{}
	for _, r := range rep.Results {
		met[r.Task+"/"+r.Unit] = r.Met
	}
	if !met["cp-1/car-1"] || met["a-1/foot-1"] || rep.Total != 2 || rep.Shift != "all" {
		t.Fatalf("report: met %v, total %d, shift %s", met, rep.Total, rep.Shift)
	}
	for _, q := range []string{"plan=nope", "plan=all-day&shift=dawn&date=2026-01-01", "plan=all-day&date=2026-01-01", "plan=all-day&shift=all&date=tomorrow"} {
		if st := h.Do(http.MethodGet, "/api/patrols/compliance?"+q, nil, nil); st != http.StatusBadRequest && st != http.StatusNotFound {
			t.Errorf("%s: %d", q, st)
		}
	}

	// Kept across a restart; deleted is gone.
	h = h.Restart()
	if st := h.Do(http.MethodGet, "/api/patrols/all-day", nil, nil); st != http.StatusOK {
		t.Fatalf("after a restart: %d", st)
	}
	if st := h.Do(http.MethodDelete, "/api/patrols/all-day", nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st := h.Do(http.MethodGet, "/api/patrols/all-day", nil, nil); st != http.StatusNotFound {
		t.Fatalf("deleted plan: %d", st)
	}
}
