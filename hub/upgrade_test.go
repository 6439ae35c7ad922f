package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// testdata/v1 is a data directory written by the release before the
// history moved out of hub.db (its positions are p: keys in hub.db): three
// units enrolled, 50 positions each confirmed, an open incident. The hub
// starts on it, moves the history, and loses nothing: every position is
// served, twice started, every unit signs in with its secret, a resend of
// a stored report is known as one, and a new report is stored.
func TestUpgradeFromV1(t *testing.T) {
	var meta struct {
		Secrets  map[string]string `json:"secrets"`
		StartMS  int64             `json:"start_ms"`
		Incident string            `json:"incident"`
	}
	b, err := os.ReadFile("testdata/v1/meta.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"hub.db", "units.log"} {
		b, err := os.ReadFile(filepath.Join("testdata/v1", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The fixture's positions are from 2026-12-07: kept whatever the date.
	atDir := func(c *hub.Config) { c.DataDir = dir; c.Retention = 100 * 365 * 24 * time.Hour }
	start := time.UnixMilli(meta.StartMS)
	const reports = 50
	units := []string{"car-1", "car-2", "moto-1"}
	check := func(h *hubtest.Hub, round int, extra map[string]bool) {
		t.Helper()
		var health api.Health
		if st := h.Do(http.MethodGet, "/healthz", nil, &health); st != http.StatusOK || health.Status != api.HealthOK {
			t.Errorf("start %d: /healthz %d %+v", round, st, health)
		}
		for k, id := range units {
			tr := track(t, h, id)
			want := reports
			if extra[id] {
				want++
			}
			if len(tr) != want {
				t.Errorf("start %d: %s has %d positions, want %d", round, id, len(tr), want)
				continue
			}
			for i, p := range tr[:reports] {
				seq := uint64(i + 1)
				if p.Seq != seq || p.TS != start.Add(time.Duration(seq)*time.Minute).UnixMilli() ||
					p.Lat != lat0+float64(k)*1e-3+float64(seq)*1e-4 {
					t.Errorf("start %d: %s position %d is %+v", round, id, i, p)
					break
				}
			}
		}
		var inc api.Incident
		if st := h.Do(http.MethodGet, "/api/incidents/"+meta.Incident, nil, &inc); st != http.StatusOK || inc.Summary != "v1 incident" {
			t.Errorf("start %d: the v1 incident: %d %+v", round, st, inc)
		}
	}

	h := hubtest.Start(t, atDir)
	check(h, 1, nil)
	if _, err := os.Stat(filepath.Join(dir, "history", "positions")); err != nil {
		t.Errorf("no history directory: %v", err)
	}
	for _, id := range units {
		d := hubtest.Connect(t, h.MQTTURL(), id, meta.Secrets[id], hubtest.DeviceOptions{})
		d.Send(d.Fix(reports, start.Add(reports*time.Minute), lat0, lon0, protocol.StatusAvailable)) // a resend: known, not stored again
		d.WaitAcked(reports)
		if id != "moto-1" {
			d.Send(d.Fix(reports+1, time.Now().Add(-time.Second), lat0, lon0, protocol.StatusAvailable))
			d.WaitAcked(reports + 1)
		}
		d.Kill()
	}
	extra := map[string]bool{"car-1": true, "car-2": true}
	check(h, 1, extra)
	h.Stop()

	h = hubtest.Start(t, atDir) // nothing left to move: the same history
	check(h, 2, extra)
	var page api.HistoryPage
	q := fmt.Sprintf("/api/history?bbox=%v,%v,%v,%v&since=%d&until=%d", lon0-0.01, lat0-0.01, lon0+0.01, lat0+0.02,
		start.UnixMilli(), start.Add(time.Duration(reports+1)*time.Minute).UnixMilli())
	if st := h.Do(http.MethodGet, q, nil, &page); st != http.StatusOK || len(page.Positions) != len(units)*reports {
		t.Errorf("GET %s: %d, %d positions, want %d", q, st, len(page.Positions), len(units)*reports)
	}
}
