package hubapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"kuaifan/protocol/api"
	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/hubapi/hubapitest"
)

func testPlan() *patrol.Plan {
	return &patrol.Plan{ID: "sim-changsha", Zone: patrol.DefaultZone,
		Shifts: []patrol.Shift{{ID: "run", Start: 600, End: 600}},
		Tasks: []patrol.Task{{ID: "cp-01", Kind: patrol.KindPoint, Units: []string{"sim-foot-0003"},
			Lat: 28.196, Lon: 112.977, RadiusM: 60, DwellMin: 5}}}
}

// A hub with patrol plans and coverage: the plan is stored (created, then
// replaced), listed, judged; the coverage read, and a 503 before the
// hub's first computation is ErrNotReady.
func TestPatrolsAndCoverage(t *testing.T) {
	f, srv := hubapitest.New(t, "tok")
	f.Patrols = true
	calls := 0
	f.Coverage = func() (*api.Coverage, int) {
		if calls++; calls == 1 {
			return nil, http.StatusServiceUnavailable
		}
		return &api.Coverage{CoverTier: 2, Units: 7, City: api.CoverageShares{Demand: []float64{0.2, 0.7, 0.9}}}, 0
	}
	f.Compliance = func(p *patrol.Plan, shift, date string) *patrol.Report {
		return &patrol.Report{Plan: p.ID, Shift: shift, Date: date, Met: 1, Total: 1}
	}
	h := testAPI(srv, "tok")
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		created, err := h.PutPatrol(ctx, testPlan())
		if err != nil || created != want {
			t.Errorf("PUT %d: created %v, %v", i+1, created, err)
		}
	}
	if f.Plan("sim-changsha") == nil {
		t.Error("the fake has no plan")
	}
	plans, err := h.Patrols(ctx)
	if err != nil || len(plans) != 1 || plans[0].ID != "sim-changsha" || len(plans[0].Tasks) != 1 {
		t.Errorf("plans %+v, %v", plans, err)
	}
	rep, err := h.Compliance(ctx, "sim-changsha", "run", "2026-12-07")
	if err != nil || rep.Plan != "sim-changsha" || rep.Shift != "run" || rep.Date != "2026-12-07" || rep.Met != 1 {
		t.Errorf("compliance %+v, %v", rep, err)
	}
	if _, err := h.Compliance(ctx, "no-such-plan", "run", "2026-12-07"); !errors.Is(err, ErrNotServed) {
		t.Errorf("compliance of an unknown plan: %v", err)
	}
	if _, err := h.Coverage(ctx); !errors.Is(err, ErrNotReady) {
		t.Errorf("first coverage: %v, want ErrNotReady", err)
	}
	c, err := h.Coverage(ctx)
	if err != nil || c.Units != 7 || c.City.Demand[1] != 0.7 {
		t.Errorf("coverage %+v, %v", c, err)
	}
	bad := testPlan()
	bad.Tasks[0].RadiusM = -5
	if _, err := h.PutPatrol(ctx, bad); err == nil || errors.Is(err, ErrNotServed) {
		t.Errorf("a bad plan: %v", err)
	}
}

// A hub from before patrol plans and coverage (404 for all of them):
// ErrNotServed, each.
func TestPatrolsOlderHub(t *testing.T) {
	_, srv := hubapitest.New(t, "tok")
	h := testAPI(srv, "tok")
	ctx := context.Background()
	if _, err := h.PutPatrol(ctx, testPlan()); !errors.Is(err, ErrNotServed) {
		t.Errorf("PUT: %v", err)
	}
	if _, err := h.Patrols(ctx); !errors.Is(err, ErrNotServed) {
		t.Errorf("GET plans: %v", err)
	}
	if _, err := h.Compliance(ctx, "sim-changsha", "run", "2026-12-07"); !errors.Is(err, ErrNotServed) {
		t.Errorf("compliance: %v", err)
	}
	if _, err := h.Coverage(ctx); !errors.Is(err, ErrNotServed) {
		t.Errorf("coverage: %v", err)
	}
	// A 405 is a hub without the method too.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/patrols/{id}", func(w http.ResponseWriter, r *http.Request) {})
	srv405 := httptest.NewServer(mux)
	defer srv405.Close()
	if _, err := testAPI(srv405, "tok").PutPatrol(ctx, testPlan()); !errors.Is(err, ErrNotServed) {
		t.Errorf("PUT answered 405: %v", err)
	}
}
