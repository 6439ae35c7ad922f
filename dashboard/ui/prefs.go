package ui

import (
	"encoding/json"
	"math"
)

// What survives a reload: the language, the map's view, the selection,
// whether the alarm is muted, whether the cameras layer is hidden and
// whether the coverage and patrol layers are shown — kept in the browser's
// local storage. Never the token: a reload signs in again.

// PrefsKey is the local-storage key of the kept preferences (JSON).
const PrefsKey = "kuaifan.prefs"

// Prefs is what is kept.
type Prefs struct {
	Lang     Lang       `json:"lang,omitempty"`
	View     *SavedView `json:"view,omitempty"`
	Incident string     `json:"incident,omitempty"`
	Unit     string     `json:"unit,omitempty"`
	Mute     bool       `json:"mute,omitempty"`
	// NoCameras: the dispatcher hid the cameras layer (shown by default).
	NoCameras bool `json:"no_cameras,omitempty"`
	// Coverage: the dispatcher showed the coverage layer (hidden by
	// default).
	Coverage bool `json:"coverage,omitempty"`
	// Patrols: the dispatcher showed the patrol layer (hidden by default).
	Patrols bool `json:"patrols,omitempty"`
}

// SavedView is the map's centre and zoom.
type SavedView struct {
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
	Zoom float64 `json:"zoom"`
}

// valid rejects what another version (or a hand) may have left in storage.
func (v *SavedView) valid() bool {
	return v != nil && !math.IsNaN(v.Lat+v.Lon+v.Zoom) && v.Lat >= -85 && v.Lat <= 85 && v.Lon >= -180 && v.Lon <= 180 &&
		v.Zoom >= MinZoom && v.Zoom <= MaxZoom
}

// Prefs is the console's state as it would be kept now.
func (c *Console) Prefs() Prefs {
	c.mu.Lock()
	v := c.Scene.View
	p := Prefs{Lang: c.Lang, View: &SavedView{Lat: v.Lat, Lon: v.Lon, Zoom: v.Zoom},
		Incident: c.Scene.SelInc, Unit: c.Scene.SelUnit, Mute: c.Mute, NoCameras: !c.Scene.CamerasOn,
		Coverage: c.Scene.CoverOn, Patrols: c.Scene.PatrolOn}
	c.mu.Unlock()
	return p
}

// Restore applies kept preferences at start: the language, the muting and
// the view now (a view the console did not choose is never refitted over:
// console_map.go); the selection once the stream has shown what it names
// (Controller.restoreSelection).
func (c *Console) Restore(p Prefs) {
	if p.Lang == ZH || p.Lang == EN {
		c.SetLang(p.Lang)
	}
	c.Mute = p.Mute
	c.mu.Lock()
	c.Scene.CamerasOn = !p.NoCameras
	c.Scene.CoverOn = p.Coverage
	c.Scene.PatrolOn = p.Patrols
	c.mu.Unlock()
	if p.View.valid() {
		c.WithView(func(v *View) bool {
			v.Lat, v.Lon, v.Zoom = p.View.Lat, p.View.Lon, p.View.Zoom
			return true
		})
	}
	c.restore = &Prefs{Incident: p.Incident, Unit: p.Unit}
}

// restoreSelection selects what was selected before the reload, once the
// first snapshot is in.
func (ct *Controller) restoreSelection() {
	r := ct.C.restore
	if r == nil || !ct.C.Store.Synced {
		return
	}
	ct.C.restore = nil
	if r.Incident != "" && ct.C.Store.Incident(r.Incident) != nil {
		ct.SelectIncident(r.Incident)
	}
	if r.Unit != "" && ct.C.Store.Units[r.Unit] != nil {
		ct.SelectUnit(r.Unit, false)
	}
}

// encodePrefs is the stored form (go-app writes local storage values as
// JSON), compared to tell a change; decodePrefs reads it back.
func encodePrefs(p Prefs) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func decodePrefs(s string) Prefs {
	var p Prefs
	if json.Unmarshal([]byte(s), &p) != nil {
		return Prefs{}
	}
	return p
}
