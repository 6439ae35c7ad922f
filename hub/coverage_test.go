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
	"kuaifan/protocol"
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

// A move-up by hand: the unit gets a reposition command with the place,
// stays free on its way (matching ranks it, coverage counts it), shows the
// move-up on its view until it reports arriving; a dispatch or a
// withdrawal ends one too. Bad input changes nothing.
func TestRepositionByHand(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := unitAt(t, h, "car-1", "car", 0, 0)
	busy := unitAt(t, h, "car-2", "car", 0.01, 0)
	inc := createIncident(t, h, "theft", 3)
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/assign", map[string]string{"unit": "car-2"}, nil); st != http.StatusOK {
		t.Fatalf("assign: %d", st)
	}
	_ = busy

	for _, tc := range []struct {
		name, unit string
		body       any
		want       int
	}{
		{"no such unit", "car-9", map[string]any{"lat": lat0, "lon": lon0}, http.StatusNotFound},
		{"latitude 91", "car-1", map[string]any{"lat": 91, "lon": lon0}, http.StatusBadRequest},
		{"unknown field", "car-1", map[string]any{"lat": lat0, "lon": lon0, "prio": 1}, http.StatusBadRequest},
		{"note too long", "car-1", map[string]any{"lat": lat0, "lon": lon0, "note": strings.Repeat("x", 513)}, http.StatusBadRequest},
		{"assigned unit", "car-2", map[string]any{"lat": lat0, "lon": lon0}, http.StatusConflict},
	} {
		var e api.Error
		if st := h.Do(http.MethodPost, "/api/units/"+tc.unit+"/reposition", tc.body, &e); st != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, st, e.Error, tc.want)
		}
	}
	if len(d.Commands()) != 0 {
		t.Fatalf("refused move-ups sent commands: %q", d.Commands())
	}
	// An agent older than move-ups (it named itself coming online) is
	// refused: it would drop the command and never move.
	old := unitAt(t, h, "car-3", "car", 0.02, 0)
	state, _ := protocol.Encode(protocol.State{Unit: "car-3", Online: true, Boot: "b-old", Agent: "kuaifan-agent/1.0"})
	old.Publish(protocol.KindState, state)
	hubtest.WaitFor(t, 5*time.Second, func() error {
		var u api.Unit
		h.Do(http.MethodGet, "/api/units/car-3", nil, &u)
		if u.Agent != "kuaifan-agent/1.0" {
			return fmt.Errorf("car-3's agent %q", u.Agent)
		}
		return nil
	})
	var e api.Error
	if st := h.Do(http.MethodPost, "/api/units/car-3/reposition", map[string]any{"lat": lat0, "lon": lon0}, &e); st != http.StatusConflict ||
		!strings.Contains(e.Error, "kuaifan-agent/1.0") {
		t.Fatalf("a move-up to an old agent: %d %q, want 409 naming its version", st, e.Error)
	}
	if len(old.Commands()) != 0 {
		t.Fatalf("the old agent was sent %q", old.Commands())
	}

	to := api.RepositionRequest{Lat: lat0 + 0.02, Lon: lon0 - 0.01, Note: "cover 五一广场"}
	var rep api.Reposition
	if st := h.Do(http.MethodPost, "/api/units/car-1/reposition", to, &rep); st != http.StatusCreated {
		t.Fatalf("reposition: %d", st)
	}
	if !strings.HasPrefix(rep.ID, api.MoveUpPrefix) || rep.Lat != to.Lat || rep.By != "token:admin" || rep.Note != to.Note {
		t.Fatalf("answer %+v", rep)
	}
	cmd := d.WaitCommand(protocol.CmdReposition, rep.ID)
	if *cmd.Lat != to.Lat || *cmd.Lon != to.Lon || cmd.Summary != to.Note || cmd.Priority != 0 {
		t.Fatalf("command %+v", cmd)
	}
	var u api.Unit
	h.Do(http.MethodGet, "/api/units/car-1", nil, &u)
	if u.Reposition == nil || u.Reposition.ID != rep.ID || u.Status != protocol.StatusAvailable {
		t.Fatalf("unit on its move-up: %+v", u)
	}
	var m api.Matches
	h.Do(http.MethodGet, fmt.Sprintf("/api/match?lat=%v&lon=%v", lat0, lon0), nil, &m)
	if len(m.Candidates) == 0 || m.Candidates[0].Unit != "car-1" {
		t.Fatalf("a unit moving up is still free, and the nearest: %+v", m.Candidates)
	}

	// It arrives: the move-up ends, the unit stays available.
	d.SendEvent(2, protocol.EventArrived, rep.ID)
	d.WaitAcked(2)
	hubtest.WaitFor(t, 5*time.Second, func() error {
		u = api.Unit{}
		h.Do(http.MethodGet, "/api/units/car-1", nil, &u)
		if u.Reposition != nil || u.Status != protocol.StatusAvailable {
			return fmt.Errorf("after arriving: reposition %+v, status %s", u.Reposition, u.Status)
		}
		return nil
	})

	// Withdrawn: a cancel naming it.
	h.Do(http.MethodPost, "/api/units/car-1/reposition", to, &rep)
	if st := h.Do(http.MethodDelete, "/api/units/car-1/reposition", nil, nil); st != http.StatusOK {
		t.Fatalf("withdraw: %d", st)
	}
	d.WaitCommand(protocol.CmdCancel, rep.ID)
	if st := h.Do(http.MethodDelete, "/api/units/car-1/reposition", nil, nil); st != http.StatusNotFound {
		t.Fatalf("withdraw again: %d, want 404", st)
	}

	// Dispatched on the way: the move-up ends with the dispatch.
	h.Do(http.MethodPost, "/api/units/car-1/reposition", to, &rep)
	inc2 := createIncident(t, h, "theft", 3)
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc2.ID+"/assign", map[string]string{"unit": "car-1"}, nil); st != http.StatusOK {
		t.Fatalf("assign the unit moving up: %d", st)
	}
	u = api.Unit{}
	h.Do(http.MethodGet, "/api/units/car-1", nil, &u)
	if u.Reposition != nil || u.Incident != inc2.ID {
		t.Fatalf("dispatched on its way: %+v", u)
	}
}

// Move-up suggestions: with the fleet bunched in one spot, the hub
// suggests moving units out to the uncovered city, each with a gain, the
// objective rising; a district keeps its floor; bad parameters are 400.
// Sending the first suggestion starts its move-up.
func TestMoveUpSuggestions(t *testing.T) {
	h := hubtest.Start(t, nil)
	for i := range 4 {
		unitAt(t, h, fmt.Sprintf("moto-%d", i), "motorcycle", float64(i)*0.0005, 0)
	}
	unitAt(t, h, "vol-1", "volunteer", 0.001, 0)
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if c := getCoverage(t, h); c.Units != 4 {
			return fmt.Errorf("coverage counts %d units, want the 4 motorcycles", c.Units)
		}
		return nil
	})
	var plan api.MoveUps
	if st := h.Do(http.MethodGet, "/api/moveups?n=3&floor=0", nil, &plan); st != http.StatusOK {
		t.Fatalf("GET /api/moveups: %d", st)
	}
	if len(plan.Suggestions) != 3 || plan.CoverTier != 2 || plan.CoverS != 180 || !(plan.After > plan.Before) {
		t.Fatalf("plan %+v", plan)
	}
	var sum float64
	for _, m := range plan.Suggestions {
		if !strings.HasPrefix(m.Unit, "moto-") || m.Gain <= 0 || m.GainCells <= 0 || m.TravelS <= 0 || m.ToDistrict == "" {
			t.Fatalf("suggestion %+v", m)
		}
		sum += m.Gain
	}
	if d := plan.After - plan.Before - sum; d > 0.001 || d < -0.001 {
		t.Fatalf("gains add to %v, the objective rose by %v", sum, plan.After-plan.Before)
	}
	// A floor of 4 in the units' district: none may leave it.
	var kept api.MoveUps
	h.Do(http.MethodGet, "/api/moveups?n=3&floor=4", nil, &kept)
	for _, m := range kept.Suggestions {
		if m.FromDistrict != m.ToDistrict {
			t.Fatalf("floor 4 with 4 units: %s left %s for %s", m.Unit, m.FromDistrict, m.ToDistrict)
		}
	}
	for _, q := range []string{"n=0", "n=21", "floor=-1", "max_travel_min=0", "n=x"} {
		var e api.Error
		if st := h.Do(http.MethodGet, "/api/moveups?"+q, nil, &e); st != http.StatusBadRequest || e.Error == "" {
			t.Errorf("%s: %d %q, want 400", q, st, e.Error)
		}
	}
	m := plan.Suggestions[0]
	var rep api.Reposition
	if st := h.Do(http.MethodPost, "/api/units/"+m.Unit+"/reposition", api.RepositionRequest{Lat: m.ToLat, Lon: m.ToLon}, &rep); st != http.StatusCreated {
		t.Fatalf("send the first suggestion: %d", st)
	}
}
