package officerui

import (
	"fmt"
	"math"
	"time"

	"kuaifan/protocol"
)

// The page's logic in plain Go, apart from go-app, so that it is tested
// table by table: which buttons an assignment allows, the card's figures,
// the SOS hold.

// Buttons says which of the officer's buttons can be pressed. Each follows
// the agent's rules (agent/README.md, "Commands and the officer"): a
// button the agent would refuse with a 409 is not offered.
type Buttons struct {
	Ack, Decline, Arrived, Cleared bool
}

// ButtonsFor is the buttons for an assignment (nil: none) while busy says
// whether an action is still on its way to the agent — one press, one
// action, however hard a gloved hand presses.
func ButtonsFor(as *Assignment, busy bool) Buttons {
	if as == nil || busy {
		return Buttons{}
	}
	switch as.State {
	case StateDispatched:
		return Buttons{Ack: true, Decline: true}
	case StateEnroute:
		return Buttons{Decline: true, Arrived: true}
	case StateOnScene:
		return Buttons{Cleared: true}
	}
	return Buttons{}
}

// Speeds and the detour factor the hub estimates ETAs with
// (hub/internal/match.DefaultConfig; that package is the hub's own, so the
// figures are repeated here): metres per second along the road, and road
// distance over great-circle distance.
var speeds = map[string]float64{
	string(protocol.TypeCar):        8.3,
	string(protocol.TypeMotorcycle): 11.1,
	string(protocol.TypeFoot):       1.39,
	string(protocol.TypeVolunteer):  1.39,
}

const detour = 1.4

// ETA estimates the time to cover distanceM as the hub does: the road is
// detour times longer than the straight line, driven at the unit type's
// urban average. An unknown type counts as a car, the common case.
func ETA(distanceM float64, unitType string) time.Duration {
	v, ok := speeds[unitType]
	if !ok {
		v = speeds[string(protocol.TypeCar)]
	}
	return time.Duration(distanceM * detour / v * float64(time.Second))
}

// Bearing is the initial great-circle bearing from one point to another, in
// degrees clockwise from north, [0, 360).
func Bearing(lat1, lon1, lat2, lon2 float64) float64 {
	r := math.Pi / 180
	φ1, φ2, Δλ := lat1*r, lat2*r, (lon2-lon1)*r
	y := math.Sin(Δλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(Δλ)
	b := math.Mod(math.Atan2(y, x)/r+360, 360)
	if b >= 359.9999999 {
		b = 0
	}
	return b
}

// Compass is the eight-point compass direction of a bearing: 0 north, 1
// north-east, … 7 north-west (the "dir.N" strings).
func Compass(deg float64) int {
	return int(math.Floor(math.Mod(deg+22.5+360, 360)/45)) % 8
}

// FormatDistance shows metres to the ten below a kilometre (a GPS fix is
// no better) and kilometres to one decimal above.
func FormatDistance(lang Lang, m float64) string {
	if m < 995 {
		return Tf(lang, "dist.m", int(math.Round(m/10)*10))
	}
	return Tf(lang, "dist.km", m/1000)
}

// FormatETA rounds up to whole minutes: an officer plans by the minute,
// and "1 min" for 20 s would be late rather than early.
func FormatETA(lang Lang, d time.Duration) string {
	if d < time.Minute {
		return T(lang, "eta.lt1")
	}
	return Tf(lang, "eta.min", int(math.Ceil(d.Minutes())))
}

// FormatSince is the time since the dispatch: m:ss, or h:mm:ss past the hour.
func FormatSince(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Card is what the assignment card shows, computed from the state.
type Card struct {
	Incident, Kind, Summary, State string
	Priority                       int
	Place                          string // the target's coordinates
	HasFix                         bool
	Distance, Direction, ETA       string
	DistanceM, BearingDeg          float64
	Since                          string
}

// CardFor fills the card for s's assignment; ok is false when there is none.
func CardFor(lang Lang, s State) (c Card, ok bool) {
	as := s.Assignment
	if as == nil {
		return Card{}, false
	}
	c = Card{Incident: as.Incident, Kind: kindName(lang, as.Kind), Summary: as.Summary, Priority: as.Priority,
		State: T(lang, "card.state."+as.State)}
	f := figuresFor(lang, s, as.Lat, as.Lon, as.Received)
	c.Place, c.HasFix, c.Distance, c.Direction, c.ETA = f.Place, f.HasFix, f.Distance, f.Direction, f.ETA
	c.DistanceM, c.BearingDeg, c.Since = f.DistanceM, f.BearingDeg, f.Since
	return c, true
}

// Figures are a card's figures for a place: where it is, and how far, which
// way and how long from the latest fix (HasFix false without one).
type Figures struct {
	Place                    string // the place's coordinates
	HasFix                   bool
	Distance, Direction, ETA string
	DistanceM, BearingDeg    float64
	Since                    string // since the order came
}

// figuresFor computes the figures of a place ordered at received.
func figuresFor(lang Lang, s State, lat, lon float64, received time.Time) Figures {
	f := Figures{Place: fmt.Sprintf("%.5f, %.5f", lat, lon)}
	if !received.IsZero() && !s.Now.IsZero() {
		f.Since = FormatSince(s.Now.Sub(received))
	}
	if p := s.Position; p != nil {
		f.HasFix = true
		f.DistanceM = protocol.Haversine(p.Lat, p.Lon, lat, lon)
		f.BearingDeg = Bearing(p.Lat, p.Lon, lat, lon)
		f.Distance = FormatDistance(lang, f.DistanceM)
		f.Direction = T(lang, fmt.Sprintf("dir.%d", Compass(f.BearingDeg)))
		f.ETA = FormatETA(lang, ETA(f.DistanceM, s.UnitType))
	}
	return f
}

// MoveUp is what the move-up card (调防) shows: the spot the hub asked the
// unit to go to, with the same figures as the assignment card.
type MoveUp struct {
	ID, Summary string
	Figures
}

// MoveUpFor fills the move-up card for s's reposition; ok is false when
// there is none, or when there is an assignment (which the page shows
// instead: the agent never has both, but a dispatch wins).
func MoveUpFor(lang Lang, s State) (m MoveUp, ok bool) {
	r := s.Reposition
	if r == nil || s.Assignment != nil {
		return MoveUp{}, false
	}
	return MoveUp{ID: r.ID, Summary: r.Summary, Figures: figuresFor(lang, s, r.Lat, r.Lon, r.Received)}, true
}

// MoveUpArrived says whether the move-up card's Arrived can be pressed: a
// move-up shown, and no action on its way.
func MoveUpArrived(s State, busy bool) bool {
	_, ok := MoveUpFor(EN, s)
	return ok && !busy
}

// LastAction is the officer's newest action, if any: the page shows it with
// "queued" until the hub confirms it.
func LastAction(s State) (Action, bool) {
	if len(s.Actions) == 0 {
		return Action{}, false
	}
	return s.Actions[len(s.Actions)-1], true
}

// HoldToSend is how long the SOS button must be held: long enough that a
// brush or a knock in a moving car does not send it, short enough for an
// officer in trouble.
const HoldToSend = 1500 * time.Millisecond

// Hold is the SOS button's hold: a press starts it, a release (or the
// finger leaving the button) ends it, and only a press held HoldToSend
// fires — once. Each press gets a number, so the timer of an earlier press
// cannot fire a later one.
type Hold struct {
	n     int
	since time.Time
	down  bool
}

// Press starts a hold at now and returns its number.
func (h *Hold) Press(now time.Time) int {
	h.n++
	h.down, h.since = true, now
	return h.n
}

// Release ends the hold without sending.
func (h *Hold) Release() { h.down = false }

// Holding reports whether the button is held.
func (h *Hold) Holding() bool { return h.down }

// Fire reports whether press n has been held long enough at now; if so the
// hold ends, so it fires once.
func (h *Hold) Fire(n int, now time.Time) bool {
	if !h.down || n != h.n || now.Sub(h.since) < HoldToSend {
		return false
	}
	h.down = false
	return true
}
