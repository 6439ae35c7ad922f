package officerui

import (
	"fmt"
	"math"
	"testing"
	"time"

	"kuaifan/protocol"
)

// Which buttons each assignment state allows: exactly what the agent
// accepts (agent/README.md, "Commands and the officer"), nothing while an
// action is on its way.
func TestButtonsFor(t *testing.T) {
	tests := []struct {
		name  string
		state string // "" no assignment
		busy  bool
		want  Buttons
	}{
		{"no assignment", "", false, Buttons{}},
		{"dispatched", StateDispatched, false, Buttons{Ack: true, Decline: true}},
		{"en route", StateEnroute, false, Buttons{Decline: true, Arrived: true}},
		{"on scene", StateOnScene, false, Buttons{Cleared: true}},
		{"unknown state", "paused", false, Buttons{}},
		{"dispatched, busy", StateDispatched, true, Buttons{}},
		{"on scene, busy", StateOnScene, true, Buttons{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var as *Assignment
			if tc.state != "" {
				as = &Assignment{Incident: "inc-1", State: tc.state}
			}
			if got := ButtonsFor(as, tc.busy); got != tc.want {
				t.Errorf("ButtonsFor(%q, %v) = %+v, want %+v", tc.state, tc.busy, got, tc.want)
			}
		})
	}
}

// Changsha; metres north and east of it in degrees.
const lat0, lon0 = 28.1941, 112.9823

func north(m float64) float64 { return m / (protocol.EarthRadiusM * math.Pi / 180) }
func east(m float64) float64 {
	return m / (protocol.EarthRadiusM * math.Pi / 180 * math.Cos(lat0*math.Pi/180))
}

func TestBearingAndCompass(t *testing.T) {
	tests := []struct {
		name     string
		lat, lon float64 // the target
		deg      float64
		compass  int
	}{
		{"north", lat0 + north(800), lon0, 0, 0},
		{"east", lat0, lon0 + east(800), 90, 2},
		{"south", lat0 - north(800), lon0, 180, 4},
		{"west", lat0, lon0 - east(800), 270, 6},
		{"north-east", lat0 + north(500), lon0 + east(500), 45, 1},
		{"south-west", lat0 - north(500), lon0 - east(500), 225, 5},
		{"north-west", lat0 + north(500), lon0 - east(500), 315, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Bearing(lat0, lon0, tc.lat, tc.lon)
			if math.Abs(got-tc.deg) > 0.1 {
				t.Errorf("Bearing = %.3f, want %.1f", got, tc.deg)
			}
			if c := Compass(got); c != tc.compass {
				t.Errorf("Compass(%.1f) = %d, want %d", got, c, tc.compass)
			}
		})
	}
	// The sectors' edges: 22.5° either side of each point.
	for deg, want := range map[float64]int{0: 0, 22.4: 0, 22.5: 1, 337.4: 7, 337.5: 0, 359.9: 0, 180: 4} {
		if got := Compass(deg); got != want {
			t.Errorf("Compass(%v) = %d, want %d", deg, got, want)
		}
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"metres", FormatDistance(EN, 804), "800 m"},
		{"metres zh", FormatDistance(ZH, 804), "800 米"},
		{"few metres", FormatDistance(EN, 3), "0 m"},
		{"just under a km", FormatDistance(EN, 994), "990 m"},
		{"a km", FormatDistance(EN, 995), "1.0 km"},
		{"km", FormatDistance(EN, 1530), "1.5 km"},
		{"km zh", FormatDistance(ZH, 12345), "12.3 公里"},
		{"eta under a minute", FormatETA(EN, 59*time.Second), "< 1 min"},
		{"eta a minute", FormatETA(EN, time.Minute), "~1 min"},
		{"eta rounds up", FormatETA(EN, 135*time.Second), "~3 min"},
		{"eta zh", FormatETA(ZH, 10*time.Minute), "约 10 分钟"},
		{"since", FormatSince(125 * time.Second), "2:05"},
		{"since zero", FormatSince(0), "0:00"},
		{"since negative (clocks)", FormatSince(-time.Second), "0:00"},
		{"since hours", FormatSince(time.Hour + 2*time.Minute + 3*time.Second), "1:02:03"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// The ETA is the hub's estimate: distance × 1.4 over the type's speed.
func TestETA(t *testing.T) {
	tests := []struct {
		typ  string
		m    float64
		want time.Duration
	}{
		{"car", 830, 140 * time.Second},
		{"motorcycle", 1110, 140 * time.Second},
		{"foot", 139, 140 * time.Second},
		{"volunteer", 139, 140 * time.Second},
		{"", 830, 140 * time.Second},           // unknown: a car
		{"hovercraft", 830, 140 * time.Second}, // unknown: a car
		{"car", 0, 0},
	}
	for _, tc := range tests {
		if got := ETA(tc.m, tc.typ); (got - tc.want).Abs() > time.Millisecond {
			t.Errorf("ETA(%v, %q) = %v, want %v", tc.m, tc.typ, got, tc.want)
		}
	}
}

func TestCardFor(t *testing.T) {
	recv := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	st := State{UnitType: "foot", Now: recv.Add(95 * time.Second),
		Position: &Position{Lat: lat0, Lon: lon0},
		Assignment: &Assignment{Incident: "inc-7", Lat: lat0, Lon: lon0 + east(1200), Priority: 1, Kind: "robbery",
			Summary: "s", State: StateEnroute, Received: recv}}
	tests := []struct {
		lang Lang
		want Card
	}{
		{EN, Card{Incident: "inc-7", Kind: "robbery", Summary: "s", State: "En route", Priority: 1, HasFix: true,
			Distance: "1.2 km", Direction: "E", ETA: "~21 min", Since: "1:35"}},
		{ZH, Card{Incident: "inc-7", Kind: "抢劫", Summary: "s", State: "赶赴中", Priority: 1, HasFix: true,
			Distance: "1.2 公里", Direction: "东", ETA: "约 21 分钟", Since: "1:35"}},
	}
	for _, tc := range tests {
		got, ok := CardFor(tc.lang, st)
		if !ok {
			t.Fatal("no card")
		}
		got.Place, got.DistanceM, got.BearingDeg = "", 0, 0
		if got != tc.want {
			t.Errorf("%s: %+v\nwant %+v", tc.lang, got, tc.want)
		}
	}
	// No fix: no figures but the card.
	st.Position = nil
	if c, ok := CardFor(EN, st); !ok || c.HasFix || c.Distance != "" || c.ETA != "" {
		t.Errorf("without a fix: %+v %v", c, ok)
	}
	// An unknown kind shows as itself.
	st.Assignment.Kind = "swan_rescue"
	if c, _ := CardFor(ZH, st); c.Kind != "swan_rescue" {
		t.Errorf("unknown kind shown as %q", c.Kind)
	}
	if _, ok := CardFor(EN, State{}); ok {
		t.Error("a card without an assignment")
	}
}

// The SOS hold: only a press held HoldToSend fires, once; a release, or a
// later press, ends an earlier press's chance.
func TestHold(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(h *Hold) bool // whether it fired
	}{
		{"held long enough", func(h *Hold) bool { n := h.Press(t0); return h.Fire(n, t0.Add(HoldToSend)) }},
		{"too short", func(h *Hold) bool { n := h.Press(t0); return h.Fire(n, t0.Add(HoldToSend-time.Millisecond)) }},
		{"released", func(h *Hold) bool {
			n := h.Press(t0)
			h.Release()
			return h.Fire(n, t0.Add(2*HoldToSend))
		}},
		{"released and pressed again: the first timer", func(h *Hold) bool {
			n := h.Press(t0)
			h.Release()
			h.Press(t0.Add(time.Second))
			return h.Fire(n, t0.Add(HoldToSend))
		}},
		{"released and pressed again: the second timer", func(h *Hold) bool {
			h.Press(t0)
			h.Release()
			n := h.Press(t0.Add(time.Second))
			return h.Fire(n, t0.Add(time.Second+HoldToSend))
		}},
		{"fires once", func(h *Hold) bool {
			n := h.Press(t0)
			h.Fire(n, t0.Add(HoldToSend))
			return h.Fire(n, t0.Add(2*HoldToSend))
		}},
	}
	want := map[string]bool{"held long enough": true, "released and pressed again: the second timer": true}
	for _, tc := range tests {
		var h Hold
		if got := tc.run(&h); got != want[tc.name] {
			t.Errorf("%s: fired %v, want %v", tc.name, got, want[tc.name])
		}
		if want[tc.name] && h.Holding() {
			t.Errorf("%s: still holding after it fired", tc.name)
		}
	}
	if HoldToSend < 1500*time.Millisecond {
		t.Errorf("HoldToSend %v: the brief asks for at least 1.5 s", HoldToSend)
	}
}

func TestLastAction(t *testing.T) {
	if _, ok := LastAction(State{}); ok {
		t.Error("a last action without any")
	}
	st := State{Actions: []Action{{Type: "ack", Seq: 3, Confirmed: true}, {Type: "arrived", Seq: 9}}}
	if a, ok := LastAction(st); !ok || a.Type != "arrived" || a.Confirmed {
		t.Errorf("LastAction = %+v %v", a, ok)
	}
}

// The move-up card (调防, additive 2026-12): the same figures as the
// assignment card for the spot, none without a fix, and no card while an
// assignment is shown.
func TestMoveUpFor(t *testing.T) {
	recv := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	st := State{UnitType: "car", Now: recv.Add(75 * time.Second), Position: &Position{Lat: lat0, Lon: lon0},
		Reposition: &Reposition{ID: "mu-20261207-0001", Lat: lat0 - north(1660), Lon: lon0, Summary: "补位", Received: recv}}
	tests := []struct {
		lang Lang
		want MoveUp
	}{
		{EN, MoveUp{ID: "mu-20261207-0001", Summary: "补位", Figures: Figures{HasFix: true,
			Distance: "1.7 km", Direction: "S", ETA: "~5 min", Since: "1:15"}}},
		{ZH, MoveUp{ID: "mu-20261207-0001", Summary: "补位", Figures: Figures{HasFix: true,
			Distance: "1.7 公里", Direction: "南", ETA: "约 5 分钟", Since: "1:15"}}},
	}
	for _, tc := range tests {
		got, ok := MoveUpFor(tc.lang, st)
		if !ok {
			t.Fatal("no move-up card")
		}
		if got.Place != fmt.Sprintf("%.5f, %.5f", lat0-north(1660), lon0) {
			t.Errorf("place %q", got.Place)
		}
		got.Place, got.DistanceM, got.BearingDeg = "", 0, 0
		if got != tc.want {
			t.Errorf("%s: %+v\nwant %+v", tc.lang, got, tc.want)
		}
	}
	// The ETA follows the unit type, as on the assignment card: 1660 m × 1.4 / 1.39 m/s on foot.
	st.UnitType = "foot"
	if m, _ := MoveUpFor(EN, st); m.ETA != "~28 min" {
		t.Errorf("on foot: %q", m.ETA)
	}
	st.Position = nil
	if m, ok := MoveUpFor(EN, st); !ok || m.HasFix || m.Distance != "" || m.ETA != "" || m.Since != "1:15" {
		t.Errorf("without a fix: %+v %v", m, ok)
	}
	st.Assignment = &Assignment{Incident: "inc-1", State: StateDispatched}
	if _, ok := MoveUpFor(EN, st); ok {
		t.Error("a move-up card beside an assignment")
	}
	if _, ok := MoveUpFor(EN, State{}); ok {
		t.Error("a move-up card without a move-up")
	}
}

// The move-up's Arrived: with a move-up shown, and not while an action is
// on its way.
func TestMoveUpArrived(t *testing.T) {
	mu := &Reposition{ID: "mu-1", Lat: lat0, Lon: lon0}
	tests := []struct {
		name string
		st   State
		busy bool
		want bool
	}{
		{"a move-up", State{Reposition: mu}, false, true},
		{"busy", State{Reposition: mu}, true, false},
		{"none", State{}, false, false},
		{"an assignment too", State{Reposition: mu, Assignment: &Assignment{Incident: "inc-1", State: StateEnroute}}, false, false},
	}
	for _, tc := range tests {
		if got := MoveUpArrived(tc.st, tc.busy); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
