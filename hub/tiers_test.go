package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
)

// The response tiers are the dispatch policy's alone: matching numbers
// candidates by them, and a tier set in Match, which the hub would not
// read, is refused rather than silently replaced.
func TestTiersAreThePolicys(t *testing.T) {
	cfg := hub.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Match.Tiers = []time.Duration{2 * time.Minute}
	if _, err := hub.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Match.Tiers is not read") {
		t.Fatalf("hub.New with Match.Tiers = %v, want it refused", err)
	}

	h := hubtest.Start(t, func(c *hub.Config) {
		for i, m := range []float64{2, 4, 6} { // the 1-3-5 circles, widened
			c.Dispatch.Tiers[i].Minutes = m
		}
	})
	// A car ~90 s away: tier 2 of 1-3-5, tier 1 of 2-4-6.
	unitAt(t, h, "car-90s", "car", 0.0048, 0)
	var got struct {
		Candidates []struct {
			Unit string  `json:"unit"`
			Tier int     `json:"tier"`
			ETAS float64 `json:"eta_s"`
		} `json:"candidates"`
	}
	if st := h.Do(http.MethodGet, fmt.Sprintf("/api/match?lat=%v&lon=%v", lat0, lon0), nil, &got); st != http.StatusOK {
		t.Fatalf("match: %d", st)
	}
	if len(got.Candidates) != 1 || got.Candidates[0].Tier != 1 || got.Candidates[0].ETAS < 60 || got.Candidates[0].ETAS > 120 {
		t.Errorf("candidates = %+v, want car-90s in tier 1 (of 2-4-6 minutes), 60–120 s away", got.Candidates)
	}
}
