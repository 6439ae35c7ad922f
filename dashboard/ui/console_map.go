package ui

// The console's map views: home (every district), the opening view, and
// centring on an incident.
//
// The map opens on "home": the union of the hub's districts (Store.
// Districts, loaded at sign-in), or Changsha's box while there are none.
// The console remembers the view it chose by itself (autoView); while the
// map still shows exactly that view the dispatcher has not moved it, so the
// console may fit it again — when the canvas gets its real size (the
// console starts with a guess), on a resize, and at the first snapshot
// (districts a hub sent late). Once the dispatcher pans or zooms, the map
// never jumps by itself.

// homeBox is every district's outline together, or CityBox without
// districts. FitBox leaves a margin around it. Under c.mu.
func (c *Console) homeBox() Box {
	ds := c.Store.Districts
	if len(ds) == 0 {
		return CityBox
	}
	b := Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180}
	for i := range ds {
		for _, p := range ds[i].Ring {
			b.MinLat, b.MaxLat = min(b.MinLat, p.Lat), max(b.MaxLat, p.Lat)
			b.MinLon, b.MaxLon = min(b.MinLon, p.Lon), max(b.MaxLon, p.Lon)
		}
	}
	return b
}

// fitHome shows home in a w×h canvas and remembers it as the console's own
// view. Under c.mu.
func (c *Console) fitHome(w, h float64) {
	c.Scene.View = FitBox(c.homeBox(), w, h)
	c.autoView = c.Scene.View
}

// untouched reports whether the map shows the view the console last chose
// by itself: the dispatcher has not moved it since. Under c.mu.
func (c *Console) untouched() bool { return c.Scene.View == c.autoView }

// Resize gives the view the canvas's size in CSS px (the map's frame loop,
// when it changes). A map the dispatcher has not moved is fitted home again
// at the new size; a moved one keeps its centre and zoom.
func (c *Console) Resize(w, h float64) {
	c.mu.Lock()
	if c.untouched() {
		c.fitHome(w, h)
	} else {
		c.Scene.View.W, c.Scene.View.H = w, h
	}
	c.mu.Unlock()
	c.Dirty()
}

// firstFit runs at the first snapshot of a session, under c.mu: a map the
// dispatcher has not moved shows home (the districts are known by now),
// or the fleet if no unit is in view there.
func (c *Console) firstFit() {
	if !c.untouched() {
		return // the dispatcher chose a place already: do not jump
	}
	c.fitHome(c.Scene.View.W, c.Scene.View.H)
	c.fitFleetIfNoneVisible()
}

// CenterOnIncident puts an incident (open, or closed today) in the middle
// of the map, zoomed to at least 14 (closer stays closer); an unknown id
// does nothing.
func (c *Console) CenterOnIncident(id string) {
	c.mu.Lock()
	inc := c.Store.Incident(id)
	if inc != nil {
		c.Scene.View.CenterOn(inc.Lat, inc.Lon, 14)
	}
	c.mu.Unlock()
	if inc != nil {
		c.Dirty()
	}
}
