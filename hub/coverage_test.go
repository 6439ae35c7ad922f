package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
)

// cellOf is the index of the layer's cell containing lat, lon.
func cellOf(t *testing.T, g *api.CoverageGrid, lat, lon float64) int {
	t.Helper()
	r := int((lat - g.MinLat) / g.LatStep)
	c := int((lon - g.MinLon) / g.LonStep)
	if r < 0 || r >= g.Rows || c < 0 || c >= g.Cols {
		t.Fatalf("%v, %v is off the coverage grid", lat, lon)
	}
	return r*g.Cols + c
}

func getCoverage(t *testing.T, h *hubtest.Hub) api.Coverage {
	t.Helper()
	var c api.Coverage
	if st := h.Do(http.MethodGet, "/api/coverage", nil, &c); st != http.StatusOK {
		t.Fatalf("GET /api/coverage: %d", st)
	}
	return c
}

// The coverage layer follows the fleet: a free car covers its
// neighbourhood within the first tier; dispatched, it no longer counts,
// and the stream's delta says which cells changed. The API, the stream
// and the metrics agree.
func TestCoverageFollowsTheFleet(t *testing.T) {
	h := hubtest.Start(t, nil)
	unitAt(t, h, "car-1", "car", 0, 0)

	var cov api.Coverage
	hubtest.WaitFor(t, 10*time.Second, func() error {
		cov = getCoverage(t, h)
		if cov.Units != 1 {
			return fmt.Errorf("coverage counts %d units, want 1", cov.Units)
		}
		return nil
	})
	g := cov.Grid
	if g == nil || len(cov.Cells) != g.Rows*g.Cols || g.CellM != 250 {
		t.Fatalf("grid %+v with %d cells", g, len(cov.Cells))
	}
	home := cellOf(t, g, lat0, lon0)
	if cov.Cells[home] != '1' {
		t.Fatalf("the car's own cell is %q, want tier 1", cov.Cells[home])
	}
	if cov.City.Area[2] <= 0 || cov.City.Area[2] >= 1 || cov.City.Demand[2] <= 0 {
		t.Fatalf("one car covers part of the city: %+v", cov.City)
	}
	if len(cov.Districts) == 0 || len(cov.Holes) == 0 {
		t.Fatalf("districts %d, holes %d", len(cov.Districts), len(cov.Holes))
	}

	// The stream: a snapshot with the whole layer.
	var tk api.Ticket
	if st := h.Do(http.MethodPost, "/api/stream/ticket", nil, &tk); st != http.StatusOK {
		t.Fatalf("ticket: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URL, "http")+"/ws?ticket="+tk.Ticket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	read := func() api.Frame {
		t.Helper()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f api.Frame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	snap := read()
	if snap.Type != api.FrameSnapshot || snap.Coverage == nil || snap.Coverage.Cells[home] != '1' || snap.Coverage.Grid == nil {
		t.Fatalf("snapshot's coverage: %+v", snap.Coverage)
	}
	cells := []byte(snap.Coverage.Cells)

	// Dispatched, the car is no longer free: its cells go uncovered, in a
	// delta that lists them.
	inc := createIncident(t, h, "theft", 3)
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-1"}, nil); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	for cells[home] != '0' {
		f := read()
		if f.Coverage == nil {
			continue
		}
		if f.Coverage.Cells != "" {
			cells = []byte(f.Coverage.Cells)
			continue
		}
		for _, ch := range f.Coverage.Changes {
			cells[ch[0]] = byte('0' + ch[1])
		}
		if f.Coverage.Units != 0 && cells[home] == '0' {
			t.Fatalf("the home cell went uncovered with %d units counted", f.Coverage.Units)
		}
	}
	now := getCoverage(t, h)
	if string(cells) != now.Cells {
		t.Fatal("the snapshot with the stream's changes applied differs from GET /api/coverage")
	}
	if now.Units != 0 || now.City.Area[2] != 0 {
		t.Fatalf("nobody free: %d units, shares %+v", now.Units, now.City)
	}

	// The metric per district and for the city.
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`kuaifan_coverage_share{district="city",tier="3m",weight="demand"} 0`,
		`kuaifan_coverage_share{district="furong",tier="1m",weight="area"}`, `kuaifan_coverage_units{district="city"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
