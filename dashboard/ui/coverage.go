package ui

import (
	"errors"
	"math"
	"strconv"
	"sync/atomic"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The city's live coverage (hub/README.md, "Coverage"): which streets a
// free unit reaches within 1, 3 or 5 minutes. The stream carries it as a
// layer (api.Coverage): whole in a snapshot, its figures and changed cells
// in a delta. The store keeps it (CoverLayer); the status bar shows the
// headline share, the map a toggleable layer of the cells (coverage_scene.go)
// with the biggest holes listed beside it, and the hub's move-up
// suggestions, which a dispatcher can send (coverage_view.go).

// CoverLayer is the coverage layer as the stream last said: the hub's
// figures and grid, and the cells, one byte each as in api.Coverage.Cells
// ('1'…'9' the tier reached, '0' beyond the last, '-' outside the city),
// changed in place by each delta's changes.
type CoverLayer struct {
	api.Coverage // the figures, the grid and the tiers; Cells and Changes stay empty (the cells are Tiers)
	Tiers        []byte
	// Ver changes whenever Tiers or the grid do: the map rebuilds its runs
	// of cells only then (coverRuns).
	Ver uint64
}

// coverVersions numbers the layers' versions, across stores (a new
// session's store must not reuse a version a map has cached).
var coverVersions atomic.Uint64

// applyCoverage takes a frame's coverage and reports whether anything
// changed: a snapshot replaces the layer (none when it carries none: the
// hub has no districts); a delta brings the figures and either the whole
// cells again or the changed ones. A change to a cell the layer does not
// have is dropped: the next snapshot is the truth.
func (s *Store) applyCoverage(f *Frame) bool {
	cv := f.Coverage
	if f.Type == api.FrameSnapshot {
		had := s.Cover != nil
		s.Cover = nil
		if cv == nil {
			return had
		}
	}
	if cv == nil {
		return false
	}
	l := s.Cover
	if l == nil {
		l = &CoverLayer{}
		s.Cover = l
	}
	grid, tiers := l.Grid, l.TiersS
	moved := cv.Grid != nil && (grid == nil || *cv.Grid != *grid)
	if cv.Grid != nil {
		grid = cv.Grid
	}
	if len(cv.TiersS) > 0 {
		tiers = cv.TiersS
	}
	l.Coverage = *cv
	l.Grid, l.TiersS, l.Cells, l.Changes = grid, tiers, "", nil
	changed := moved
	if cv.Cells != "" {
		changed = changed || string(l.Tiers) != cv.Cells
		l.Tiers = append(l.Tiers[:0], cv.Cells...)
	}
	for _, c := range cv.Changes {
		i, t := c[0], c[1]
		if i < 0 || i >= len(l.Tiers) || t < 0 || t > 9 {
			continue
		}
		if b := byte('0' + t); l.Tiers[i] != b {
			l.Tiers[i] = b
			changed = true
		}
	}
	if changed || l.Ver == 0 {
		l.Ver = coverVersions.Add(1)
	}
	return true
}

// cellsOK reports whether the layer's cells fit its grid (else it is not
// drawn).
func (l *CoverLayer) cellsOK() bool {
	g := l.Grid
	return g != nil && g.Rows > 0 && g.Cols > 0 && g.LatStep > 0 && g.LonStep > 0 && len(l.Tiers) == g.Rows*g.Cols
}

// coverTierS is the cover tier's bound in seconds (180: 3 minutes), 0 when
// the hub has not said.
func (l *CoverLayer) coverTierS() float64 {
	if i := l.CoverTier - 1; i >= 0 && i < len(l.TiersS) {
		return l.TiersS[i]
	}
	return 0
}

// share is the share within tier from a list of cumulative shares, one
// per tier (-1 if the hub sent none).
func share(s []float64, tier int) float64 {
	if i := tier - 1; i >= 0 && i < len(s) {
		return s[i]
	}
	return -1
}

// CoverLabel names the cover tier: "3-min coverage" / "3分钟覆盖" (in
// seconds for a bound that is not whole minutes).
func CoverLabel(lang Lang, boundS float64) string {
	switch {
	case boundS <= 0:
		return T(lang, "cover.name")
	case math.Mod(boundS, 60) == 0:
		return Tf(lang, "cover.min", int(boundS/60))
	}
	return Tf(lang, "cover.s", int(math.Round(boundS)))
}

// Percent is a share (0..1) as a person reads it: "87 %" ("87%" in
// Chinese), with a decimal under 10 % ("4.2 %"), where a unit more or less
// is most of the figure.
func Percent(lang Lang, share float64) string {
	p := share * 100
	var n string
	if math.Abs(p) < 9.95 {
		n = strconv.FormatFloat(math.Round(p*10)/10, 'f', 1, 64)
	} else {
		n = strconv.Itoa(int(math.Round(p)))
	}
	if lang == ZH {
		return n + "%"
	}
	return n + " %"
}

// CoverBar is what the status bar shows of the coverage: "3-min coverage
// 87 %", a title with the area share and the units counted, and the share
// itself (for #coverage[data-share]). ok is false without a layer: the bar
// shows nothing.
type CoverBar struct {
	Text, Title string
	Share       float64
	OK          bool
}

// CoverBar is the status bar's coverage now.
func (c *Console) CoverBar() CoverBar {
	l := c.Store.Cover
	if l == nil {
		return CoverBar{}
	}
	lang := c.Lang
	d := share(l.City.Demand, l.CoverTier)
	if d < 0 {
		return CoverBar{}
	}
	label := CoverLabel(lang, l.coverTierS())
	area := share(l.City.Area, l.CoverTier)
	return CoverBar{Text: label + " " + Percent(lang, d), Share: d, OK: true,
		Title: Tf(lang, "cover.bar.title", l.DemandDays, Percent(lang, max(0, area)), l.Units)}
}

// districtName is the name in lang of the district with id ("" none: the
// districts' outside; an id the page does not know: the id).
func (s *Store) districtName(id string, lang Lang) string {
	if id == "" {
		return T(lang, "units.outside")
	}
	for i := range s.Districts {
		if s.Districts[i].ID == id {
			return s.Districts[i].Name(lang)
		}
	}
	return id
}

// CoverView is what the map's coverage box shows; the page hands it to the
// MapView as a prop, which go-app compares: the box re-renders when a
// hole, a suggestion or the layer's state changes, not on every tick.
type CoverView struct {
	Has   bool // the hub sends a coverage layer: the toggle shows
	On    bool // the layer is shown: so is the box
	Label string
	Holes []HoleRow
	Move  MoveUpsView
}

// HoleRow is one hole as the list shows it; a click centres the map on
// Lat, Lon.
type HoleRow struct {
	Lat, Lon               float64
	District, Area, Demand string
}

// MoveUpsView is the move-up list as shown.
type MoveUpsView struct {
	Open, Busy, NA, Send bool // Send: the person may send one
	Err, Objective       string
	Rows                 []MoveUpRow
}

// MoveUpRow is one suggestion as shown: its Send acts on exactly this (the
// unit and the place; api.MoveUp in full for the confirmation).
type MoveUpRow struct {
	api.MoveUp
	Name, Glyph, From, To, Travel, Gain string
	Sent                                bool
}

// CoverView is the coverage box's content now.
func (c *Console) CoverView() CoverView {
	l := c.Store.Cover
	v := CoverView{Has: l != nil, On: c.Scene.CoverOn}
	if l == nil || !v.On {
		return v
	}
	lang := c.Lang
	v.Label = CoverLabel(lang, l.coverTierS())
	for _, h := range l.Holes {
		v.Holes = append(v.Holes, HoleRow{Lat: h.CentreLat, Lon: h.CentreLon, District: c.Store.districtName(h.District, lang),
			Area: Tf(lang, "cover.km2", h.AreaKM2), Demand: Tf(lang, "cover.demand", Percent(lang, h.DemandShare))})
	}
	m := &c.MoveUps
	v.Move = MoveUpsView{Open: m.Open, Busy: m.Busy, NA: m.NA, Err: m.Err, Send: c.May(ActionRole(ActMoveUp))}
	if !m.Open || m.List == nil {
		return v
	}
	mu := m.List
	label := CoverLabel(lang, mu.CoverS)
	v.Move.Objective = label + " " + Percent(lang, mu.Before) + " → " + Percent(lang, mu.After)
	for _, s := range mu.Suggestions {
		r := MoveUpRow{MoveUp: s, Name: c.Store.UnitName(s.Unit), Glyph: typeGlyph(protocol.UnitType(s.Type)),
			From: c.Store.districtName(s.FromDistrict, lang), To: c.Store.districtName(s.ToDistrict, lang),
			Travel: FormatSeconds(lang, s.TravelS), Gain: "+" + Percent(lang, s.Gain) + " " + label, Sent: m.Sent[s.Unit]}
		if s.Callsign != "" {
			r.Name = s.Callsign
		}
		v.Move.Rows = append(v.Move.Rows, r)
	}
	return v
}

// MoveUps is the move-up list's state: open or not, the hub's last answer
// (GET /api/moveups), and the units sent from it.
type MoveUps struct {
	Open, Busy bool
	NA         bool   // the hub does not serve move-ups (404)
	Err        string // the last fetch's failure
	List       *api.MoveUps
	Sent       map[string]bool // units sent from the list (by id)
}

// ToggleCoverage shows or hides the coverage layer (and its box). Hidden,
// the move-up list closes: its lines go with it.
func (c *Console) ToggleCoverage() {
	c.mu.Lock()
	c.Scene.CoverOn = !c.Scene.CoverOn
	if !c.Scene.CoverOn {
		c.MoveUps.Open = false
		c.Scene.MoveUps = nil
	}
	c.mu.Unlock()
	c.Dirty()
}

// CenterOnHole puts a hole's centre in the middle of the map, zoomed to at
// least 13 (a hole is a few streets to a few square kilometres).
func (c *Console) CenterOnHole(lat, lon float64) {
	c.WithView(func(v *View) bool {
		v.CenterOn(lat, lon, 13)
		return true
	})
}

// setMoveUps records the hub's answer to GET /api/moveups (or its failure)
// and shows the suggestions' lines on the map while the list is open.
func (c *Console) setMoveUps(list *api.MoveUps, err error) {
	m := &c.MoveUps
	m.Busy, m.Err, m.NA = false, "", false
	if err != nil {
		var e *APIError
		if errors.As(err, &e) && e.Status == 404 {
			m.NA = true
		} else {
			m.Err = err.Error()
		}
	} else {
		m.List, m.Sent = list, nil
	}
	c.mu.Lock()
	c.Scene.MoveUps = nil
	if m.Open && m.List != nil {
		c.Scene.MoveUps = m.List.Suggestions
	}
	c.mu.Unlock()
	c.Dirty()
}

// CloseMoveUps closes the move-up list (its lines leave the map).
func (c *Console) CloseMoveUps() {
	c.MoveUps.Open = false
	c.mu.Lock()
	c.Scene.MoveUps = nil
	c.mu.Unlock()
	c.Dirty()
}

// AskMoveUp asks the dispatcher to confirm sending a unit on a suggested
// move-up, as the row showed it.
func (c *Console) AskMoveUp(m api.MoveUp) {
	c.Ask(Pending{Action: ActMoveUp, Unit: m.Unit, MoveUp: &m})
}

// MovedUp notes a move-up the hub accepted.
func (c *Console) MovedUp(unit string) {
	if c.MoveUps.Sent == nil {
		c.MoveUps.Sent = map[string]bool{}
	}
	c.MoveUps.Sent[unit] = true
}

// movingUp is a unit's move-up as its row says it ("" none): "moving up →
// Yuelu" / "调防 → 岳麓区".
func (s *Store) movingUp(u *UnitState, lang Lang) string {
	r := u.Reposition
	if r == nil || r.Arrived != 0 {
		return ""
	}
	if i := districtAt(s.Districts, r.Lat, r.Lon); i >= 0 {
		return Tf(lang, "units.moveup", s.Districts[i].Name(lang))
	}
	return T(lang, "units.moveup.none")
}
