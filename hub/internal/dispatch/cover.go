package dispatch

import (
	"fmt"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Coverage. An incident is uncovered while nobody can be there within the
// policy's first tier: the dispatcher must see it at once, and the flag must
// mean "now", not "when it was reported" — an incident with a unit on scene
// is not uncovered.
//
//   - It is covered by an assigned unit on scene, or by one that has
//     acknowledged and whose ETA from a fresh fix is within the first tier.
//   - It is raised (at creation, when an assignment ends while the incident
//     stays open, after a sighting, at a reopening) when nobody covers it and
//     no fresh, free unit — other than one that declined it or let its
//     dispatch time out — is within the first tier.
//   - Once raised it clears only when a unit covers it (an ack, an arrival,
//     a sighting, or Run's periodic look at acked units driving closer): a
//     free unit nearby is not on its way.
//
// Each change is a timeline entry (uncovered, covered), so the timeline
// shows when it was raised and when it cleared.

// coverer is the assigned unit that covers an incident now.
type coverer struct {
	unit, reason string
	etaS         float64 // for an acknowledged unit
}

// coveredBy finds the unit that covers an incident: one on scene first,
// else the acknowledged unit soonest there, if it is within the first tier.
func (d *Dispatcher) coveredBy(inc *Incident, now time.Time) (coverer, bool) {
	var best coverer
	found := false
	for _, a := range inc.Assignments {
		switch a.State {
		case AssignOnScene:
			return coverer{unit: a.Unit, reason: api.ReasonOnScene}, true
		case AssignEnroute:
			ap, ok := d.approach(a.Unit, inc.Lat, inc.Lon, now)
			if !ok || ap.tier != 1 || ap.fixAgeS > d.cfg.FreshFor.Seconds() {
				continue
			}
			if !found || ap.etaS < best.etaS {
				best, found = coverer{unit: a.Unit, reason: api.ReasonAckedInTier1, etaS: ap.etaS}, true
			}
		}
	}
	return best, found
}

// clearUncovered clears the flag of an open incident a unit now covers, with
// a covered entry dated at.
func (d *Dispatcher) clearUncovered(inc *Incident, at, now time.Time) bool {
	if !inc.Uncovered || inc.Status == StatusClosed {
		return false
	}
	c, ok := d.coveredBy(inc, now)
	if !ok {
		return false
	}
	inc.Uncovered = false
	e := Entry{Type: api.EntryCovered, Unit: c.unit, Actor: ActorAuto, Reason: c.reason}
	switch c.reason {
	case api.ReasonOnScene:
		e.Detail = c.unit + " is on scene"
	default:
		e.Detail = fmt.Sprintf("%s acknowledged and is %.0f s away: within tier 1 (%s)", c.unit, c.etaS, d.pol.Tiers[0].Name)
		e.Params = &api.Params{ETAS: secs(c.etaS)}
	}
	add(inc, at, e)
	return true
}

// raiseUncovered flags an open incident nobody covers and no fresh, free unit
// can reach within the first tier. recs are its recommendations now, or nil
// to rank them here (only if nobody covers it: ranking is the dear part).
func (d *Dispatcher) raiseUncovered(inc *Incident, recs []Recommendation, now time.Time) bool {
	if inc.Uncovered || inc.Status == StatusClosed {
		return false
	}
	if _, ok := d.coveredBy(inc, now); ok {
		return false
	}
	if recs == nil {
		recs = d.recommend(inc, now)
	}
	var eligible []Recommendation
	for _, r := range recs {
		if d.failed(inc, r.Unit) {
			continue // it will not come: it said no, or said nothing
		}
		if !r.Stale && r.Tier == 1 {
			return false
		}
		eligible = append(eligible, r)
	}
	inc.Uncovered = true
	e := Entry{Type: api.EntryUncovered, Actor: ActorAuto, Reason: api.ReasonNoFreshInTier1,
		Detail: "no fresh unit within tier 1; no unit available anywhere"}
	if len(eligible) > 0 {
		b := eligible[0] // fresh ones first: stale only if every one is
		e.Detail = fmt.Sprintf("no fresh unit within tier 1; best is %s in tier %d (%s)", b.Unit, b.Tier, d.pol.Tiers[b.Tier-1].Name)
		e.Params = &api.Params{Other: b.Unit, Tier: b.Tier, ETAS: secs(b.ETAS)}
		if b.Stale {
			e.Detail += fmt.Sprintf(", its position %.0f s old", b.FixAgeS)
			e.Params.FixAgeS = secs(b.FixAgeS)
		}
	}
	add(inc, now, e)
	return true
}

// raiseNoReplacement flags an incident the hub dispatches by itself when a
// unit failed and nobody fresh and free is left to send instead, unless
// another unit covers it.
func (d *Dispatcher) raiseNoReplacement(inc *Incident, failed Assignment, why string, now time.Time) bool {
	if inc.Uncovered || inc.Status == StatusClosed {
		return false
	}
	if _, ok := d.coveredBy(inc, now); ok {
		return false
	}
	inc.Uncovered = true
	add(inc, now, Entry{Type: api.EntryUncovered, Actor: ActorAuto, Reason: api.ReasonNoReplacement,
		Detail: why + "; no fresh free unit to send instead", Params: &api.Params{Other: failed.Unit, State: failed.State}})
	return true
}

// reviewCover re-checks an open incident after a change that may have
// covered or uncovered it (a sighting, an assignment ending, a reopening).
func (d *Dispatcher) reviewCover(inc *Incident, recs []Recommendation, now time.Time) bool {
	if inc.Uncovered {
		return d.clearUncovered(inc, now, now)
	}
	return d.raiseUncovered(inc, recs, now)
}

// reviewCovers looks at the uncovered incidents an acknowledged unit is
// driving to: it enters the first tier with no event to say so. Only those:
// it runs every few seconds under the lock, and costs a fleet lookup per
// acknowledged unit.
func (d *Dispatcher) reviewCovers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	now := d.cfg.Now()
	var out outbox
	for _, inc := range d.incidents {
		if inc.Status == StatusClosed || !inc.Uncovered || !acked(inc) {
			continue
		}
		if d.clearUncovered(inc, now, now) {
			out.changed(inc)
		}
	}
	_ = d.flush(&out) // flush logs what fails
}

// acked reports whether a unit has acknowledged the incident and is still on it.
func acked(inc *Incident) bool {
	for _, a := range inc.Assignments {
		if a.State == AssignEnroute || a.State == AssignOnScene {
			return true
		}
	}
	return false
}

// failed reports whether a unit declined the incident or let its dispatch
// time out: neither the hub nor the coverage rule counts on it again.
// Its latest assignment counts: a dispatcher may send it again after all.
func (d *Dispatcher) failed(inc *Incident, unit string) bool {
	a := assignmentOf(inc, unit)
	return a != nil && (a.State == AssignDeclined || a.State == AssignTimeout)
}

// approach is where a unit stands to an incident: its estimated arrival
// from its latest fix, the tier that puts it in, and the fix's age.
type approach struct {
	etaS, fixAgeS float64
	tier          int
}

// approach estimates a unit's arrival at a place as matching does: great-
// circle distance × detour ÷ its type's speed.
func (d *Dispatcher) approach(unit string, lat, lon float64, now time.Time) (approach, bool) {
	v, ok := d.fleet.Get(unit)
	if !ok || v.Lat == nil || v.TS == nil {
		return approach{}, false
	}
	speed := d.match.Speeds[v.Type]
	if speed <= 0 {
		return approach{}, false
	}
	eta := protocol.Haversine(*v.Lat, *v.Lon, lat, lon) * d.match.Detour / speed
	return approach{etaS: eta, fixAgeS: float64(now.UnixMilli()-*v.TS) / 1000, tier: d.pol.tierOf(v.Type, eta)}, true
}
