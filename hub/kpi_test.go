package hub_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// GET /api/kpi over incidents created through the API: the district is
// the hub's (-districts), an incident outside every district is "none";
// bad windows and groupings are 400s with the reason; a token is needed.
func TestKPIAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "city.geojson")
	os.WriteFile(file, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"中区","name_en":"Centre","id":"centre"},`+
		`"geometry":{"type":"Polygon","coordinates":[[[10,50],[10.1,50],[10.1,50.1],[10,50]]]}}]}`), 0o600)
	h := hubtest.Start(t, func(cfg *hub.Config) { cfg.Districts = file })
	from := time.Now().Add(-time.Minute).UnixMilli()
	for _, lat := range []float64{50.02, 30} {
		var inc api.Incident
		body := api.NewIncident{Lat: lat, Lon: 10.08, Kind: "theft", Priority: 3}
		if code := h.Do("POST", "/api/incidents", body, &inc); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("POST /api/incidents: %d", code)
		}
	}
	to := time.Now().Add(time.Minute).UnixMilli()
	var rep api.KPIReport
	if code := h.Do("GET", fmt.Sprintf("/api/kpi?from=%d&to=%d&by=district", from, to), nil, &rep); code != http.StatusOK {
		t.Fatalf("GET /api/kpi: %d", code)
	}
	if rep.From != from || rep.To != to || rep.By != "district" || rep.Total.Count != 2 || len(rep.Rows) != 2 ||
		rep.Rows[0].Group != "centre" || rep.Rows[0].Count != 1 || rep.Rows[1].Group != "none" ||
		rep.Total.ReachBase != 0 || rep.Total.Reached1 != nil {
		t.Errorf("report %+v", rep)
	}
	for q, want := range map[string]string{
		fmt.Sprintf("to=%d&by=day", to):                        "from is required",
		fmt.Sprintf("from=x&to=%d&by=day", to):                 "is not Unix ms",
		fmt.Sprintf("from=%d&to=%d&by=day", to, from):          "is not after",
		fmt.Sprintf("from=%d&to=%d&by=week", from, to):         "not one of",
		fmt.Sprintf("from=%d&to=%d", from, to):                 "by is required",
		fmt.Sprintf("from=1&to=%d&by=day", 1+401*24*3600*1000): "more than 400 days",
	} {
		code, body := call(t, h, "GET", "/api/kpi?"+q, "", true)
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want 400 %q", q, code, body, want)
		}
	}
	if code, _ := call(t, h, "GET", fmt.Sprintf("/api/kpi?from=%d&to=%d&by=day", from, to), "", false); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
}
