package dispatch

import (
	"fmt"
	"slices"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// An officer's sos (protocol.EventSOS) opens a priority-1 incident of the
// policy's SOS kind at the officer's position — the event's, else the
// unit's last known one — with the officer as the created entry's actor,
// and sends the policy's SOS units by itself (sosPicks). While it is open:
//   - another sos of the officer updates it (a sighting entry where the
//     officer is, update_location to the units on their way) and tops its
//     units up to the policy's number; an sos with a seq already applied
//     (a redelivery) changes nothing;
//   - the officer's positions move it (followSOS), as sightings do, and
//     while it has fewer units than the policy's number, followSOS sends
//     each unit that becomes free and fresh (nobody may have been online);
//   - the officer is kept out of matching, as an assigned unit is (unless
//     on another assignment already).
// Closing it ends the sos. The incident records the officer (Incident.SOS)
// and the last sos seq applied (SOSSeq), so all of it survives a restart.

// sosSource is the sighting's source when the officer's sos or position
// moves the incident.
const sosSource = "sos"

// SOSReplayWindow is how far back a start looks for an sos stored but not
// applied before the hub stopped: an officer's call for help from before a
// crash still opens its incident when the hub is back within it.
const SOSReplayWindow = 30 * time.Minute

// onSOS applies an officer's sos; d.mu is held.
func (d *Dispatcher) onSOS(e protocol.Event, now time.Time) outbox {
	var out outbox
	if last, ok := d.sosSeq[e.Unit]; ok && e.Seq <= last {
		// Redelivered, or an older one replayed from the agent's queue:
		// it was applied, or a later one was.
		d.m.sos.WithLabelValues("repeat").Inc()
		return out
	}
	lat, lon, fixTS, ok := e.Lat, e.Lon, e.TS, e.Lat != nil && e.Lon != nil
	if !ok {
		if v, found := d.fleet.Get(e.Unit); found && v.Lat != nil && v.Lon != nil {
			lat, lon, fixTS, ok = v.Lat, v.Lon, *v.TS, true
		}
	}
	if !ok {
		// Nowhere to send anybody. The event is stored; a dispatcher
		// watching the log (and the metric) must call the officer.
		d.m.sos.WithLabelValues("no_position").Inc()
		d.log.Error("dispatch: SOS from a unit whose position the hub does not know; no incident opened", "unit", e.Unit, "seq", e.Seq)
		return out
	}
	d.sosSeq[e.Unit] = e.Seq
	at := time.UnixMilli(min(e.TS, now.UnixMilli()))
	if id, open := d.sos[e.Unit]; open {
		if inc := d.incidents[id]; inc != nil && inc.Status != StatusClosed {
			inc.SOSSeq = max(inc.SOSSeq, e.Seq)
			d.sosFix[e.Unit] = max(d.sosFix[e.Unit], fixTS)
			moved, recs := d.relocate(inc, *lat, *lon, d.sosSighting(e.Unit, *lat, *lon, "SOS again"), at, now)
			out.merge(moved)
			out.merge(d.sosTopUp(inc, recs, now))
			d.m.sos.WithLabelValues("updated").Inc()
			return out
		}
		delete(d.sos, e.Unit) // closed without our noticing: open a new one
	}
	id, err := d.newID(now)
	if err != nil {
		d.log.Error("dispatch: SOS: no incident id", "unit", e.Unit, "err", err)
		return out
	}
	p := d.pol.SOS
	summary := "officer needs help: SOS from " + e.Unit
	if v, found := d.fleet.Get(e.Unit); found && v.Callsign != "" {
		summary += " (" + v.Callsign + ")"
	}
	inc := &Incident{ID: id, Status: StatusOpen, Lat: *lat, Lon: *lon, Kind: p.Kind, Priority: 1, Summary: summary,
		Needs: []string{}, Created: now.UnixMilli(), Assignments: []Assignment{}, Timeline: []Entry{}, SOS: e.Unit, SOSSeq: e.Seq}
	add(inc, at, Entry{Type: api.EntryCreated, Actor: e.Unit, Detail: fmt.Sprintf("SOS from %s: officer needs help, priority 1", e.Unit),
		Reason: api.ReasonReported, Params: &api.Params{Kind: p.Kind, Priority: 1, Lat: ptr(*lat), Lon: ptr(*lon)}})
	d.incidents[id] = inc
	d.sos[e.Unit] = id
	d.sosFix[e.Unit] = fixTS
	if d.busy[e.Unit] == "" {
		// Out of matching: nobody sends the officer in trouble elsewhere,
		// and the incident does not count the officer as covering it.
		d.setBusy(e.Unit, id)
	}
	out.changed(inc)
	recs := d.recommend(inc, now)
	add(inc, now, ranked(recs, 3))
	d.raiseUncovered(inc, recs, now)
	out.merge(d.sosTopUp(inc, recs, now))
	if c, ok := d.reportCmd(e.Unit, true, now); ok {
		out.commands = append(out.commands, c)
	}
	d.m.created.Inc()
	d.m.sos.WithLabelValues("opened").Inc()
	d.log.Warn("dispatch: SOS: officer needs help", "unit", e.Unit, "incident", id, "lat", *lat, "lon", *lon)
	return out
}

// sosSighting is the sighting entry of the officer's own position.
func (d *Dispatcher) sosSighting(unit string, lat, lon float64, what string) Entry {
	return Entry{Type: api.EntrySighting, Actor: unit, Detail: fmt.Sprintf("%s: %s at %.6f, %.6f", what, unit, lat, lon),
		Reason: api.ReasonSighted, Params: &api.Params{Source: sosSource, Lat: ptr(lat), Lon: ptr(lon)}}
}

// sosTopUp dispatches as many units as the policy's SOS number lacks.
func (d *Dispatcher) sosTopUp(inc *Incident, recs []Recommendation, now time.Time) outbox {
	var out outbox
	n := d.sosShort(inc)
	if n <= 0 {
		return out
	}
	for _, r := range d.sosPicks(inc, recs, n, now) {
		out.merge(d.dispatch(inc, r.Unit, r.Tier, ActorAuto, inTier(r, fmt.Sprintf("SOS: tier %d (%s), eta %.0f s", r.Tier, d.pol.Tiers[r.Tier-1].Name, r.ETAS)), now))
	}
	return out
}

// sosShort is how many units the sos incident lacks of the policy's number.
func (d *Dispatcher) sosShort(inc *Incident) int {
	n := d.pol.SOS.Units
	for _, a := range inc.Assignments {
		if active(a.State) {
			n--
		}
	}
	return n
}

// sosPicks chooses up to n units to help an officer: as autoPicks (fresh,
// free, no volunteers, none sent before), never the officer, and within a
// tier those with the policy's Prefer capabilities first, then by arrival.
// Prefer does not send an armed unit from across the city ahead of one
// around the corner: the tier still comes first.
func (d *Dispatcher) sosPicks(inc *Incident, recs []Recommendation, n int, now time.Time) []Recommendation {
	prefer := map[string]bool{}
	all := slices.Clone(recs)
	if len(d.pol.SOS.Prefer) > 0 {
		// Asked separately: the preferred may rank below the first few.
		for _, r := range d.recommendNeeds(inc, d.pol.SOS.Prefer, now) {
			prefer[r.Unit] = true
			if !slices.ContainsFunc(all, func(x Recommendation) bool { return x.Unit == r.Unit }) {
				all = append(all, r)
			}
		}
	}
	slices.SortStableFunc(all, func(a, b Recommendation) int {
		switch {
		case a.Stale != b.Stale:
			if a.Stale {
				return 1
			}
			return -1
		case a.Tier != b.Tier:
			return a.Tier - b.Tier
		case prefer[a.Unit] != prefer[b.Unit]:
			if prefer[a.Unit] {
				return -1
			}
			return 1
		case a.ETAS < b.ETAS:
			return -1
		case a.ETAS > b.ETAS:
			return 1
		}
		return 0
	})
	all = slices.DeleteFunc(all, func(r Recommendation) bool { return r.Unit == inc.SOS })
	return d.autoPicks(inc, all, n)
}

// followSOS moves each open sos incident to its officer's latest position
// once the officer is MoveM or more from the incident's place (at most
// once every FollowEvery), with a
// sighting entry and update_location to the units on their way, as a
// sighting does; and tops up the units of one that has fewer than the
// policy's number. Run calls it every FollowEvery.
func (d *Dispatcher) followSOS() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.sos) == 0 {
		return
	}
	now := d.cfg.Now()
	var out outbox
	for unit, id := range d.sos {
		inc := d.incidents[id]
		if inc == nil || inc.Status == StatusClosed {
			continue
		}
		var recs []Recommendation
		v, ok := d.fleet.Get(unit)
		if ok && v.Lat != nil && v.Lon != nil && v.TS != nil && *v.TS > d.sosFix[unit] &&
			now.Sub(d.sosMoved[unit]) >= time.Duration(d.pol.SOS.FollowEvery) &&
			protocol.Haversine(inc.Lat, inc.Lon, *v.Lat, *v.Lon) >= max(d.pol.SOS.MoveM, 0.01) {
			d.sosFix[unit], d.sosMoved[unit] = *v.TS, now
			var moved outbox
			moved, recs = d.relocate(inc, *v.Lat, *v.Lon, d.sosSighting(unit, *v.Lat, *v.Lon, "officer moved"), now, now)
			out.merge(moved)
		}
		if d.sosShort(inc) > 0 {
			// Nobody could go when it opened (or some declined): help is
			// sent as soon as a unit is free, without waiting for a person.
			if recs == nil {
				recs = d.recommend(inc, now)
			}
			out.merge(d.sosTopUp(inc, recs, now))
		}
	}
	_ = d.flush(&out) // flush logs what fails
}

// endSOS ends the officer's sos with its incident's close: back into
// matching (if the incident held the officer) and back to the free
// reporting rate. d.mu is held.
func (d *Dispatcher) endSOS(inc *Incident, now time.Time, out *outbox) {
	if inc.SOS == "" || d.sos[inc.SOS] != inc.ID {
		return
	}
	delete(d.sos, inc.SOS)
	delete(d.sosFix, inc.SOS)
	delete(d.sosMoved, inc.SOS)
	if d.busy[inc.SOS] == inc.ID {
		d.setBusy(inc.SOS, "")
		if c, ok := d.reportCmd(inc.SOS, false, now); ok {
			out.commands = append(out.commands, c)
		}
	}
}

// reportCmd is the config command of the policy's reporting rate for a unit
// on an assignment (assigned) or free; none when the policy has it off.
func (d *Dispatcher) reportCmd(unit string, assigned bool, now time.Time) (command, bool) {
	r := d.pol.Report
	cfg := r.Free
	if assigned {
		cfg = r.Assigned
	}
	if r.Off || len(cfg) == 0 || !d.commandable(unit) {
		return command{}, false
	}
	return command{unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdConfig, Config: cfg}}, true
}
