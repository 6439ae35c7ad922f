package ui

import (
	"testing"

	"kuaifan/protocol/api"
)

func TestHitTest(t *testing.T) {
	now := int64(1_800_000_000_000)
	s := testStore(now)
	v := View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}
	zoomed := v
	zoomed.ZoomAt(4, v.W/2, v.H/2) // car-1 and i1 are 15 px apart at 14: far apart at 16
	offset := func(v View, lat, lon, dx, dy float64) (float64, float64) {
		x, y := v.ToScreen(lat, lon)
		return x + dx, y + dy
	}
	for _, tc := range []struct {
		name string
		v    View
		x, y float64
		kind HitKind
		id   string
	}{
		{"on an incident", v, 0, 0, HitIncident, "i1"},
		{"near a unit", zoomed, 0, 0, HitUnit, "car-1"},
		{"empty spot", v, 20, 20, HitNothing, ""},
	} {
		switch tc.name {
		case "on an incident":
			tc.x, tc.y = offset(tc.v, 28.201, 112.981, 5, -4)
		case "near a unit":
			tc.x, tc.y = offset(tc.v, 28.20, 112.98, -6, 3)
		}
		h := HitTest(s, tc.v, tc.x, tc.y)
		if h.Kind != tc.kind || h.ID != tc.id {
			t.Errorf("%s: %+v, want %v %q", tc.name, h, tc.kind, tc.id)
		}
		lat, lon := tc.v.FromScreen(tc.x, tc.y)
		if !near(h.Lat, lat, 1e-9) || !near(h.Lon, lon, 1e-9) {
			t.Errorf("%s: clicked position %v,%v, want %v,%v", tc.name, h.Lat, h.Lon, lat, lon)
		}
	}
	// Incidents win over units at the same spot.
	x, y := v.ToScreen(28.201, 112.981)
	s.Apply(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, Units: []Unit{unitAt("on-top", "car", "available", 28.201, 112.981, now)}}, conn: 1})
	if h := HitTest(s, v, x, y); h.Kind != HitIncident {
		t.Errorf("unit on an incident: %+v", h)
	}
}

func TestClickModes(t *testing.T) {
	now := int64(1_800_000_000_000)
	c := NewConsole(EN)
	c.Role = api.RoleCallTaker // may create incidents
	c.Store = testStore(now)
	c.Scene.View = View{Lat: 28.2, Lon: 112.98, Zoom: 14, W: 1000, H: 800}
	x, y := c.Scene.View.ToScreen(28.201, 112.981)
	if h := c.Click(x, y); h.Kind != HitIncident || c.Scene.SelInc != "i1" || c.Form.Open {
		t.Errorf("click on incident: %+v, selected %q", h, c.Scene.SelInc)
	}
	// "New incident" mode places it even on top of a marker.
	c.StartCreating()
	if h := c.Click(x, y); h.Kind != HitNothing || !c.Form.Open || c.Creating || c.Scene.Pending == nil {
		t.Errorf("new-incident click: %+v, form %+v", h, c.Form)
	}
	if !near(c.Form.Lat, 28.201, 1e-9) || !near(c.Form.Lon, 112.981, 1e-9) {
		t.Errorf("form at %v,%v", c.Form.Lat, c.Form.Lon)
	}
	c.CancelForm()
	if c.Form.Open || c.Scene.Pending != nil {
		t.Error("cancel")
	}
	// An empty spot opens the form there.
	if h := c.Click(15, 15); h.Kind != HitNothing || !c.Form.Open {
		t.Errorf("empty click: %+v", h)
	}
	// A unit: selected, with its position as the start of its track.
	c.CancelForm()
	c.Scene.View.ZoomAt(4, 500, 400)
	ux, uy := c.Scene.View.ToScreen(28.20, 112.98)
	if h := c.Click(ux, uy); h.Kind != HitUnit || c.Scene.SelUnit != "car-1" || len(c.Scene.Track) != 1 || c.Form.Open {
		t.Errorf("unit click: %+v, selected %q, track %v", h, c.Scene.SelUnit, c.Scene.Track)
	}
}
