package hub_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// GET /api/incidents/search pages and filters incidents created through
// the API; GET /api/report/daily reports today; bad parameters are 400s
// with the reason; both need a token; by=hour groups the KPIs by hour.
func TestArchiveAPI(t *testing.T) {
	h := hubtest.Start(t, nil)
	from := time.Now().Add(-time.Minute).UnixMilli()
	var made []api.Incident
	for i, summary := range []string{"自行车被盗 Bicycle", "Noise at night", "Robbery near 五一广场"} {
		var inc api.Incident
		body := api.NewIncident{Lat: 28.19, Lon: 112.97 + float64(i)/1000, Kind: []string{"theft", "noise", "robbery"}[i], Priority: 1 + i%3, Summary: summary}
		if code := h.Do("POST", "/api/incidents", body, &inc); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("POST /api/incidents: %d", code)
		}
		made = append(made, inc)
		time.Sleep(2 * time.Millisecond) // distinct creation times: a stable newest-first order
	}
	var closed api.Incident
	if code := h.Do("POST", "/api/incidents/"+made[1].ID+"/close", map[string]string{"note": "Neighbours quiet now"}, &closed); code != http.StatusOK {
		t.Fatalf("close: %d", code)
	}
	to := time.Now().Add(time.Minute).UnixMilli()
	base := fmt.Sprintf("/api/incidents/search?from=%d&to=%d", from, to)

	var page api.ArchivePage
	if code := h.Do("GET", base+"&limit=2", nil, &page); code != http.StatusOK {
		t.Fatalf("search: %d", code)
	}
	if page.Total != 3 || len(page.Incidents) != 2 || page.Incidents[0].ID != made[2].ID || page.Next == "" {
		t.Fatalf("first page %+v", page)
	}
	var rest api.ArchivePage
	if code := h.Do("GET", base+"&limit=2&cursor="+url.QueryEscape(page.Next), nil, &rest); code != http.StatusOK ||
		len(rest.Incidents) != 1 || rest.Incidents[0].ID != made[0].ID || rest.Next != "" {
		t.Fatalf("second page %d %+v", code, rest)
	}
	for q, want := range map[string]string{
		"&q=" + url.QueryEscape("五一"):           made[2].ID,
		"&q=QUIET":                              made[1].ID, // the close note
		"&status=closed":                        made[1].ID,
		"&kind=theft&priority=1":                made[0].ID,
		"&q=" + url.QueryEscape(made[0].ID[4:]): made[0].ID,
	} {
		var p api.ArchivePage
		if code := h.Do("GET", base+q, nil, &p); code != http.StatusOK || p.Total != 1 || p.Incidents[0].ID != want {
			t.Errorf("%s: %d %+v, want %s", q, code, p, want)
		}
	}
	for q, want := range map[string]string{
		"&priority=x":      "priority",
		"&limit=0":         "limit",
		"&limit=501":       "limit",
		"&status=finished": "status",
		"&cursor=%21":      "cursor",
	} {
		if code, body := call(t, h, "GET", base+q, "", true); code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want 400 %q", q, code, body, want)
		}
	}
	if code, body := call(t, h, "GET", "/api/incidents/search?to=5", "", true); code != http.StatusBadRequest || !strings.Contains(body, "from is required") {
		t.Errorf("no from: %d %s", code, body)
	}

	var rep api.DailyReport
	if code := h.Do("GET", "/api/report/daily", nil, &rep); code != http.StatusOK {
		t.Fatalf("daily report: %d", code)
	}
	today := time.Now().Format(time.DateOnly)
	if rep.Date != today || rep.Total.Count != 3 || rep.Zone == "" || rep.From > from || rep.To < to-2*time.Minute.Milliseconds() {
		t.Errorf("report %+v", rep)
	}
	if code, body := call(t, h, "GET", "/api/report/daily?date=yesterday", "", true); code != http.StatusBadRequest || !strings.Contains(body, "YYYY-MM-DD") {
		t.Errorf("bad date: %d %s", code, body)
	}
	var hours api.KPIReport
	if code := h.Do("GET", fmt.Sprintf("/api/kpi?from=%d&to=%d&by=hour", from, to), nil, &hours); code != http.StatusOK ||
		hours.Total.Count != 3 || len(hours.Rows) == 0 || len(hours.Rows[0].Group) != 2 {
		t.Errorf("by hour: %d %+v", code, hours)
	}
	var qr api.QRCode
	if code := h.Do("POST", "/api/qr", api.QRRequest{Text: "kuaifan"}, &qr); code != http.StatusOK || qr.Size != 21 || len(qr.Rows) != 21 {
		t.Errorf("POST /api/qr: %d %+v", code, qr)
	}
	if code, body := call(t, h, "POST", "/api/qr", `{"text":""}`, true); code != http.StatusBadRequest || !strings.Contains(body, "required") {
		t.Errorf("an empty text: %d %s", code, body)
	}
	if code, _ := call(t, h, "POST", "/api/qr", `{"text":"x"}`, false); code != http.StatusUnauthorized {
		t.Errorf("POST /api/qr without a token: %d", code)
	}
	for _, path := range []string{base, "/api/report/daily"} {
		if code, _ := call(t, h, "GET", path, "", false); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", path, code)
		}
	}
}
