package ui

import (
	"sync"
	"sync/atomic"
	"time"
)

// PastMap is what a map screen of the past (a replay, a unit's day) gives
// the MapView to draw instead of the live store: its own store and scene,
// the hub time they are at, and a hook run on every animation frame (the
// replay's playback). The live store keeps updating meanwhile, untouched.
type PastMap struct {
	mu    sync.Mutex // guards Store, Scene and NowMS against the frame loop
	Store *Store
	Scene MapScene
	NowMS int64 // hub time the store is at (fading)
	// Fit is the ground the screen is about: the map shows it when the
	// canvas first gets its size, and on the fit button.
	Fit    Box
	fitted bool
	rev    atomic.Uint64
	// Tick, if set, runs at the start of every animation frame (outside
	// the lock); Drawn after each frame drawn, with what it drew.
	Tick  func(now time.Time)
	Drawn func(info SceneInfo)
}

// NewPastMap returns a past map over s, showing the ground in fit, with the
// live console's language, basemap and layers.
func NewPastMap(c *Console, s *Store, fit Box) *PastMap {
	p := &PastMap{Store: s, Fit: fit}
	c.Lock()
	p.Scene = MapScene{View: c.Scene.View, Tiles: c.Scene.Tiles, Lang: c.Scene.Lang, CamerasOn: c.Scene.CamerasOn}
	s.Districts, s.Cameras, s.cameraIndex = c.Store.Districts, c.Store.Cameras, c.Store.cameraIndex
	c.Unlock()
	return p
}

// Lock and Unlock guard the store and the scene.
func (p *PastMap) Lock()   { p.mu.Lock() }
func (p *PastMap) Unlock() { p.mu.Unlock() }

// Dirty asks for a redraw; Rev changes whenever one is needed.
func (p *PastMap) Dirty()      { p.rev.Add(1) }
func (p *PastMap) Rev() uint64 { return p.rev.Load() }

// WithView changes the view under the lock (pan, zoom).
func (p *PastMap) WithView(f func(v *View) bool) {
	p.mu.Lock()
	changed := f(&p.Scene.View)
	p.mu.Unlock()
	if changed {
		p.Dirty()
	}
}

// View is a copy of the current view.
func (p *PastMap) View() View {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Scene.View
}

// Resize gives the view the canvas's size; the first time, it fits the
// screen's ground.
func (p *PastMap) Resize(w, h float64) {
	p.mu.Lock()
	if !p.fitted && p.Fit.MinLat <= p.Fit.MaxLat {
		p.fitted = true
		p.Scene.View = FitBox(p.padFit(), w, h)
	} else {
		p.Scene.View.W, p.Scene.View.H = w, h
	}
	p.mu.Unlock()
	p.Dirty()
}

// FitAll shows the screen's ground again.
func (p *PastMap) FitAll() {
	p.mu.Lock()
	if p.Fit.MinLat <= p.Fit.MaxLat {
		p.Scene.View = FitBox(p.padFit(), p.Scene.View.W, p.Scene.View.H)
	}
	p.mu.Unlock()
	p.Dirty()
}

// CenterOn puts a place in the middle, at zoom 15 at least.
func (p *PastMap) CenterOn(lat, lon float64) {
	p.WithView(func(v *View) bool { v.CenterOn(lat, lon, 15); return true })
}

// padFit is the fit box with a margin, and at least ~500 m across (a
// unit that never moved is not a point at zoom 22).
func (p *PastMap) padFit() Box {
	b := p.Fit
	const minSpan = 0.005
	if d := minSpan - (b.MaxLat - b.MinLat); d > 0 {
		b.MinLat, b.MaxLat = b.MinLat-d/2, b.MaxLat+d/2
	}
	if d := minSpan - (b.MaxLon - b.MinLon); d > 0 {
		b.MinLon, b.MaxLon = b.MinLon-d/2, b.MaxLon+d/2
	}
	return b
}
