// Package dispatch is the incident lifecycle: an incident is created, ranked
// units are recommended, units are dispatched (by a dispatcher, or by the hub
// itself for priority 1), and each unit's answers — ack, decline, arrived,
// cleared — or silence move the incident along until it closes. Every step is
// on the incident's timeline, and every state is stored before the command
// that follows from it goes out, so a restart resumes where it stopped.
//
// A unit is assigned to one incident at a time: every change goes through one
// lock, so two dispatchers (or a dispatcher and the hub) racing for a unit
// cannot both have it.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

// Errors; each wraps a message for the caller.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict") // the request does not fit the incident's or the unit's state
)

const keyPrefix = "inc:"

// Dispatcher runs every incident. It is safe for concurrent use.
type Dispatcher struct {
	cfg   Config
	pol   Policy
	match match.Config
	store *store.Store
	fleet *fleet.Fleet
	bus   broker.Bus
	log   *slog.Logger
	m     *metrics

	events chan []protocol.Event
	done   chan struct{} // closed when Run has stopped

	mu        sync.Mutex
	incidents map[string]*Incident   // open ones, and those closed in the last day
	busy      map[string]string      // unit → incident of its active assignment
	timers    map[string]*time.Timer // command id → its ack deadline
	day       string                 // for incident ids: inc-<day>-<n>
	seq       int
	running   bool // Run has started the timers: before that they are only recorded
	stopped   bool
}

// New loads the incidents, marks the units still assigned, and replays the
// unit events stored since each active assignment was made, in case the hub
// stopped between committing an event and acting on it.
func New(cfg Config, matchCfg match.Config, st *store.Store, f *fleet.Fleet, bus broker.Bus) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("dispatch: policy: %w", err)
	}
	d := &Dispatcher{
		cfg: cfg, pol: cfg.Policy, match: matchCfg, store: st, fleet: f, bus: bus, log: cfg.Logger,
		events:    make(chan []protocol.Event, 256),
		done:      make(chan struct{}),
		incidents: make(map[string]*Incident),
		busy:      make(map[string]string),
		timers:    make(map[string]*time.Timer),
	}
	d.m = newMetrics(cfg.Registerer, d)
	now := cfg.Now()
	err := st.Scan(keyPrefix, func(key string, val []byte) error {
		var inc Incident
		if err := json.Unmarshal(val, &inc); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if inc.Status == StatusClosed && now.Sub(time.UnixMilli(inc.Closed)) > 24*time.Hour {
			return nil // stays in the store; Get reads it from there
		}
		d.incidents[inc.ID] = &inc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: load: %w", err)
	}
	for _, inc := range d.incidents {
		for _, a := range inc.Assignments {
			if active(a.State) {
				d.busy[a.Unit] = inc.ID
				if err := f.SetIncident(a.Unit, inc.ID); err != nil {
					d.log.Warn("dispatch: assigned unit is no longer enrolled", "unit", a.Unit, "incident", inc.ID)
				}
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out outbox
	for _, inc := range d.incidents {
		if inc.Status == StatusClosed {
			continue
		}
		for _, a := range slices.Clone(inc.Assignments) {
			if !active(a.State) {
				continue
			}
			events, err := st.Events(a.Unit, a.Dispatched-60_000, now.UnixMilli()+60_000, 10_000)
			if err != nil {
				return nil, fmt.Errorf("dispatch: replay %s: %w", a.Unit, err)
			}
			for _, e := range events {
				if e.Incident == inc.ID {
					out.merge(d.onEvent(e, now))
				}
			}
		}
	}
	if err := d.flush(&out); err != nil {
		return nil, err
	}
	d.log.Info("dispatch loaded", "incidents", len(d.incidents), "assigned_units", len(d.busy))
	return d, nil
}

// Run acts on ack deadlines and on the units' events until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) {
	d.mu.Lock()
	d.running = true
	now := d.cfg.Now()
	for _, inc := range d.incidents {
		for _, a := range inc.Assignments {
			if a.State == AssignDispatched {
				d.startTimer(inc.ID, a.Unit, a.Command, time.UnixMilli(a.Deadline).Sub(now))
			}
		}
	}
	d.mu.Unlock()
	defer close(d.done)
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.stopped = true
			for id, t := range d.timers {
				t.Stop()
				delete(d.timers, id)
			}
			d.mu.Unlock()
			return
		case events := <-d.events:
			d.HandleEventsNow(events)
		}
	}
}

// HandleEvents queues the units' events of a committed batch for Run. It
// blocks while Run is behind, and returns at once once Run has stopped (the
// events are on disk and are replayed at the next start).
func (d *Dispatcher) HandleEvents(events []protocol.Event) {
	select {
	case d.events <- events:
	case <-d.done:
	}
}

// HandleEventsNow applies events at once.
func (d *Dispatcher) HandleEventsNow(events []protocol.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	var out outbox
	for _, e := range events {
		out.merge(d.onEvent(e, now))
	}
	d.flush(&out)
}

// outbox is what a change has to do once it is stored: commands to send,
// incidents to save and announce, ack deadlines to start.
type outbox struct {
	save     map[string]*Incident
	commands []command
	timers   []timer
}

type command struct {
	unit string
	cmd  protocol.Command
}

type timer struct {
	incident, unit, command string
	after                   time.Duration
}

func (o *outbox) changed(inc *Incident) {
	if o.save == nil {
		o.save = make(map[string]*Incident)
	}
	o.save[inc.ID] = inc
}

func (o *outbox) merge(p outbox) {
	for _, inc := range p.save {
		o.changed(inc)
	}
	o.commands = append(o.commands, p.commands...)
	o.timers = append(o.timers, p.timers...)
}

// flush stores the changed incidents, then sends the commands and starts the
// timers: a command never goes out for a state that is not on disk.
func (d *Dispatcher) flush(o *outbox) error {
	if len(o.save) > 0 {
		recs := make(map[string][]byte, len(o.save))
		for id, inc := range o.save {
			inc.settle()
			b, err := json.Marshal(inc)
			if err != nil {
				return fmt.Errorf("dispatch: encode %s: %w", id, err)
			}
			recs[keyPrefix+id] = b
		}
		if err := d.store.Put(recs); err != nil {
			d.log.Error("dispatch: saving incidents failed; commands withheld", "err", err)
			return err
		}
	}
	for _, c := range o.commands {
		payload, err := protocol.Encode(c.cmd)
		if err != nil {
			d.log.Error("dispatch: encode command", "unit", c.unit, "err", err)
			continue
		}
		if err := d.bus.Publish(d.cfg.Topics.Unit(c.unit, protocol.KindCmd), payload, false); err != nil {
			// The ack deadline catches a dispatch that never arrives.
			d.m.commandErrors.Inc()
			d.log.Warn("dispatch: command not sent", "unit", c.unit, "type", c.cmd.Type, "err", err)
		}
	}
	for _, t := range o.timers {
		d.startTimer(t.incident, t.unit, t.command, t.after)
	}
	ids := make([]string, 0, len(o.save))
	for id := range o.save {
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		d.cfg.OnChange(ids...)
	}
	return nil
}

func (d *Dispatcher) startTimer(incident, unit, cmd string, after time.Duration) {
	if !d.running || d.stopped {
		return // Run starts every pending deadline from the stored assignments
	}
	if t, ok := d.timers[cmd]; ok {
		t.Stop()
	}
	d.timers[cmd] = time.AfterFunc(max(after, 0), func() { d.timeout(incident, unit, cmd) })
}

func (d *Dispatcher) stopTimer(cmd string) {
	if t, ok := d.timers[cmd]; ok {
		t.Stop()
		delete(d.timers, cmd)
	}
}

// Create opens an incident, ranks units for it and, as the policy says for
// its priority and kind, dispatches the best of them at once.
func (d *Dispatcher) Create(n NewIncident, actor string) (Incident, error) {
	if err := n.validate(); err != nil {
		return Incident{}, err
	}
	slices.Sort(n.Needs)
	n.Needs = slices.Compact(n.Needs)
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	id, err := d.newID(now)
	if err != nil {
		return Incident{}, err
	}
	inc := &Incident{ID: id, Status: StatusOpen, Lat: n.Lat, Lon: n.Lon, Kind: n.Kind, Priority: n.Priority,
		Summary: n.Summary, Needs: append([]string{}, n.Needs...), Created: now.UnixMilli(),
		Assignments: []Assignment{}, Timeline: []Entry{}}
	inc.add(now, EventCreated, "", actor, fmt.Sprintf("%s, priority %d", n.Kind, n.Priority))
	recs := d.recommend(inc, now)
	inc.add(now, EventRecommended, "", ActorAuto, describe(recs, 3))
	d.checkCover(inc, recs, now)

	var out outbox
	out.changed(inc)
	for _, r := range d.autoPicks(inc, recs, d.pol.autoUnits(n.Priority, n.Kind)) {
		out.merge(d.dispatch(inc, r.Unit, r.Tier, ActorAuto, "", now))
	}
	if err := d.flush(&out); err != nil {
		return Incident{}, err
	}
	d.incidents[id] = inc
	d.m.created.Inc()
	c := inc.clone()
	c.Recommendations = d.recommend(inc, now)
	return c, nil
}

// checkCover flags an incident nobody fresh can reach within the first tier:
// the search then widens tier by tier, and the dispatcher sees it at once.
func (d *Dispatcher) checkCover(inc *Incident, recs []Recommendation, now time.Time) {
	for _, r := range recs {
		if !r.Stale && r.Tier == 1 {
			inc.Uncovered = false
			return
		}
	}
	if !inc.Uncovered {
		best := "no unit available anywhere"
		if len(recs) > 0 {
			best = fmt.Sprintf("best is %s in tier %d (%s)", recs[0].Unit, recs[0].Tier, d.pol.Tiers[recs[0].Tier-1].Name)
		}
		inc.add(now, EventUncovered, "", ActorAuto, "no fresh unit within tier 1; "+best)
	}
	inc.Uncovered = true
}

// autoPicks chooses up to n units for the hub to dispatch by itself: fresh,
// free, never volunteers, never a unit that already declined or timed out.
func (d *Dispatcher) autoPicks(inc *Incident, recs []Recommendation, n int) []Recommendation {
	var picks []Recommendation
	for _, r := range recs {
		if len(picks) >= n {
			break
		}
		if r.Stale || r.Type == protocol.TypeVolunteer || d.busy[r.Unit] != "" || inc.assignment(r.Unit) != nil {
			continue
		}
		picks = append(picks, r)
	}
	return picks
}

// dispatch assigns a unit (already checked) and prepares its command.
func (d *Dispatcher) dispatch(inc *Incident, unit string, tier int, actor, detail string, now time.Time) outbox {
	cmd := protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdDispatch, Incident: inc.ID,
		Lat: ptr(inc.Lat), Lon: ptr(inc.Lon), Priority: inc.Priority, Kind: inc.Kind, Summary: inc.Summary}
	timeout := time.Duration(d.pol.AckTimeout)
	inc.Assignments = append(inc.Assignments, Assignment{Unit: unit, State: AssignDispatched, Command: cmd.ID, By: actor,
		Tier: tier, Dispatched: now.UnixMilli(), Deadline: now.Add(timeout).UnixMilli()})
	if detail == "" && tier > 0 {
		detail = fmt.Sprintf("tier %d (%s)", tier, d.pol.Tiers[tier-1].Name)
	}
	inc.add(now, EventDispatched, unit, actor, detail)
	if inc.Figures.ToDispatchS == nil {
		d.m.dispatchLatency.Observe(float64(now.UnixMilli()-inc.Created) / 1000)
	}
	inc.since(&inc.Figures.ToDispatchS, now.UnixMilli())
	inc.Offer = nil
	d.busy[unit] = inc.ID
	if err := d.fleet.SetIncident(unit, inc.ID); err != nil {
		d.log.Warn("dispatch: fleet does not know the unit", "unit", unit, "err", err)
	}
	d.m.assignments.WithLabelValues(AssignDispatched).Inc()
	var out outbox
	out.changed(inc)
	out.commands = append(out.commands, command{unit, cmd})
	out.timers = append(out.timers, timer{inc.ID, unit, cmd.ID, timeout})
	return out
}

// release frees a unit from an assignment that has ended.
func (d *Dispatcher) release(inc *Incident, a *Assignment, state string, at int64) {
	a.State, a.Ended = state, at
	d.stopTimer(a.Command)
	if d.busy[a.Unit] == inc.ID {
		delete(d.busy, a.Unit)
		if err := d.fleet.SetIncident(a.Unit, ""); err != nil {
			d.log.Debug("dispatch: released unit is gone", "unit", a.Unit)
		}
	}
	d.m.assignments.WithLabelValues(state).Inc()
}

// Assign dispatches a unit chosen by a dispatcher.
func (d *Dispatcher) Assign(id, unit, actor string) (Incident, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, err := d.open(id)
	if err != nil {
		return Incident{}, err
	}
	if other := d.busy[unit]; other != "" {
		return Incident{}, fmt.Errorf("%w: unit %s is assigned to %s", ErrConflict, unit, other)
	}
	v, ok := d.fleet.Get(unit)
	switch {
	case !ok:
		return Incident{}, fmt.Errorf("%w: no unit %q", ErrNotFound, unit)
	case !v.Online:
		return Incident{}, fmt.Errorf("%w: unit %s is offline", ErrConflict, unit)
	case v.Status != protocol.StatusAvailable:
		return Incident{}, fmt.Errorf("%w: unit %s is %s, not available", ErrConflict, unit, v.Status)
	case v.Type == protocol.TypeVolunteer && !d.pol.volunteersAllowed(inc.Kind):
		return Incident{}, fmt.Errorf("%w: volunteer patrols are not sent to %q incidents", ErrConflict, inc.Kind)
	}
	now := d.cfg.Now()
	tier, detail := 0, "not among the recommendations"
	for _, r := range d.recommend(inc, now) {
		if r.Unit == unit {
			tier, detail = r.Tier, fmt.Sprintf("tier %d (%s), eta %.0f s", r.Tier, d.pol.Tiers[r.Tier-1].Name, r.ETAS)
			if r.Stale {
				detail += fmt.Sprintf(", position %.0f s old", r.FixAgeS)
			}
		}
	}
	out := d.dispatch(inc, unit, tier, actor, detail, now)
	if err := d.flush(&out); err != nil {
		return Incident{}, err
	}
	c := inc.clone()
	c.Recommendations = d.recommend(inc, now)
	return c, nil
}

// open returns an incident that is not closed.
func (d *Dispatcher) open(id string) (*Incident, error) {
	inc, ok := d.incidents[id]
	if !ok {
		return nil, fmt.Errorf("%w: no incident %q", ErrNotFound, id)
	}
	if inc.Status == StatusClosed {
		return nil, fmt.Errorf("%w: incident %s is closed", ErrConflict, id)
	}
	return inc, nil
}

// onEvent applies one unit event. Events are idempotent: a repeat (a replay
// after a restart, say) finds the assignment already past that step.
func (d *Dispatcher) onEvent(e protocol.Event, now time.Time) outbox {
	var out outbox
	if e.Type == protocol.EventStatus {
		return out
	}
	inc, ok := d.incidents[e.Incident]
	var a *Assignment
	if ok {
		a = inc.assignment(e.Unit)
	}
	if a == nil {
		d.m.eventsIgnored.Inc()
		d.log.Warn("dispatch: event for an incident the unit is not assigned to", "unit", e.Unit, "incident", e.Incident, "type", e.Type)
		return out
	}
	at := min(e.TS, now.UnixMilli()) // a device clock ahead must not date steps in the future
	ts := time.UnixMilli(at)
	switch e.Type {
	case protocol.EventAck:
		switch a.State {
		case AssignDispatched:
			a.State, a.Acked = AssignEnroute, at
			d.stopTimer(a.Command)
			inc.add(ts, EventAck, e.Unit, e.Unit, "")
			inc.since(&inc.Figures.ToAckS, at)
			d.m.ackLatency.Observe(float64(at-a.Dispatched) / 1000)
		case AssignTimeout, AssignCancelled:
			// Too late: it has been replaced or called off. Say so again.
			inc.add(ts, EventCancelled, e.Unit, ActorAuto, "ack after the assignment ended ("+a.State+")")
			out.commands = append(out.commands, d.cancel(inc, e.Unit, now))
		default:
			return out
		}
	case protocol.EventDecline:
		if a.State != AssignDispatched && a.State != AssignEnroute {
			return out
		}
		d.release(inc, a, AssignDeclined, at)
		inc.add(ts, EventDecline, e.Unit, e.Unit, "")
		out.merge(d.replace(inc, e.Unit+" declined", now))
	case protocol.EventArrived:
		if a.State != AssignDispatched && a.State != AssignEnroute {
			return out
		}
		if a.State == AssignDispatched { // arrived without acking first
			a.Acked = at
			d.stopTimer(a.Command)
			inc.since(&inc.Figures.ToAckS, at)
		}
		a.State, a.Arrived = AssignOnScene, at
		inc.add(ts, EventArrived, e.Unit, e.Unit, "")
		if inc.Figures.ToArrivalS == nil {
			d.m.arrival.Observe(float64(at-inc.Created) / 1000)
		}
		inc.since(&inc.Figures.ToArrivalS, at)
	case protocol.EventCleared:
		if !active(a.State) {
			return out
		}
		d.release(inc, a, AssignCleared, at)
		inc.add(ts, EventCleared, e.Unit, e.Unit, "")
		if d.allDone(inc) {
			d.close(inc, ActorAuto, "every unit cleared", now)
		}
	default:
		return out
	}
	out.changed(inc)
	return out
}

// allDone reports whether no assignment is active and at least one unit cleared.
func (d *Dispatcher) allDone(inc *Incident) bool {
	cleared := false
	for _, a := range inc.Assignments {
		if active(a.State) {
			return false
		}
		cleared = cleared || a.State == AssignCleared
	}
	return cleared
}

// timeout fires when a dispatched unit has not acked in time.
func (d *Dispatcher) timeout(id, unit, cmd string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.timers, cmd)
	if d.stopped {
		return
	}
	inc, ok := d.incidents[id]
	if !ok {
		return
	}
	a := inc.assignment(unit)
	if a == nil || a.Command != cmd || a.State != AssignDispatched {
		return
	}
	now := d.cfg.Now()
	d.release(inc, a, AssignTimeout, now.UnixMilli())
	inc.add(now, EventTimeout, unit, ActorSystem, fmt.Sprintf("no ack within %v", time.Duration(d.pol.AckTimeout)))
	var out outbox
	out.changed(inc)
	// Called off, so a dispatch delivered late is not acted on.
	out.commands = append(out.commands, d.cancel(inc, unit, now))
	out.merge(d.replace(inc, unit+" did not answer", now))
	_ = d.flush(&out) // flush logs what fails
}

// replace sends the next candidate when an assignment failed, if the hub
// dispatches this incident by itself; otherwise the dispatcher sees the
// refreshed recommendations and chooses.
func (d *Dispatcher) replace(inc *Incident, why string, now time.Time) outbox {
	var out outbox
	out.changed(inc)
	if inc.Status == StatusClosed || d.pol.autoUnits(inc.Priority, inc.Kind) == 0 {
		return out
	}
	recs := d.recommend(inc, now)
	d.checkCover(inc, recs, now)
	picks := d.autoPicks(inc, recs, 1)
	if len(picks) == 0 {
		inc.add(now, EventUncovered, "", ActorAuto, why+"; no fresh free unit to send instead")
		inc.Uncovered = true
		return out
	}
	out.merge(d.dispatch(inc, picks[0].Unit, picks[0].Tier, ActorAuto, fmt.Sprintf("instead: %s; tier %d, eta %.0f s", why, picks[0].Tier, picks[0].ETAS), now))
	return out
}

func (d *Dispatcher) cancel(inc *Incident, unit string, now time.Time) command {
	return command{unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdCancel, Incident: inc.ID}}
}

// Sighting moves an incident, sends the new place to the units on their way,
// and offers (never forces) a free unit that would now arrive much sooner.
func (d *Dispatcher) Sighting(id string, s Sighting, actor string) (Incident, error) {
	if err := s.validate(); err != nil {
		return Incident{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, err := d.open(id)
	if err != nil {
		return Incident{}, err
	}
	now := d.cfg.Now()
	inc.Lat, inc.Lon = s.Lat, s.Lon
	inc.add(now, EventSighting, "", actor, fmt.Sprintf("%s at %.6f, %.6f", orUnknown(s.Source), s.Lat, s.Lon))
	var out outbox
	out.changed(inc)
	bestEnroute := -1.0
	for _, a := range inc.Assignments {
		if a.State != AssignDispatched && a.State != AssignEnroute {
			continue
		}
		out.commands = append(out.commands, command{a.Unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(),
			Type: protocol.CmdUpdateLocation, Incident: inc.ID, Lat: ptr(s.Lat), Lon: ptr(s.Lon), Priority: inc.Priority, Kind: inc.Kind}})
		if eta, ok := d.etaOf(a.Unit, s.Lat, s.Lon); ok && (bestEnroute < 0 || eta < bestEnroute) {
			bestEnroute = eta
		}
	}
	recs := d.recommend(inc, now)
	d.checkCover(inc, recs, now)
	inc.Offer = nil
	if bestEnroute >= 0 {
		for _, r := range recs {
			if r.Stale || d.busy[r.Unit] != "" {
				continue
			}
			if r.ETAS+d.cfg.BetterBy.Seconds() < bestEnroute {
				inc.Offer = &Offer{Unit: r.Unit, ETAS: r.ETAS, BestETAS: bestEnroute, Sighting: now.UnixMilli()}
				inc.add(now, EventOffered, r.Unit, ActorAuto, fmt.Sprintf("eta %.0f s; the best unit on its way needs %.0f s", r.ETAS, bestEnroute))
			}
			break
		}
	}
	if err := d.flush(&out); err != nil {
		return Incident{}, err
	}
	c := inc.clone()
	c.Recommendations = recs
	return c, nil
}

// etaOf is a unit's estimated arrival at a place from its latest fix.
func (d *Dispatcher) etaOf(unit string, lat, lon float64) (float64, bool) {
	v, ok := d.fleet.Get(unit)
	if !ok || v.Lat == nil {
		return 0, false
	}
	speed := d.match.Speeds[v.Type]
	if speed <= 0 {
		return 0, false
	}
	return protocol.Haversine(*v.Lat, *v.Lon, lat, lon) * d.match.Detour / speed, true
}

// Close ends an incident; units still assigned are called off.
func (d *Dispatcher) Close(id, actor string) (Incident, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, ok := d.incidents[id]
	if !ok {
		return Incident{}, fmt.Errorf("%w: no incident %q", ErrNotFound, id)
	}
	if inc.Status == StatusClosed {
		return inc.clone(), nil
	}
	out := d.close(inc, actor, "", d.cfg.Now())
	if err := d.flush(&out); err != nil {
		return Incident{}, err
	}
	return inc.clone(), nil
}

func (d *Dispatcher) close(inc *Incident, actor, detail string, now time.Time) outbox {
	var out outbox
	out.changed(inc)
	for i := range inc.Assignments {
		a := &inc.Assignments[i]
		if !active(a.State) {
			continue
		}
		d.release(inc, a, AssignCancelled, now.UnixMilli())
		inc.add(now, EventCancelled, a.Unit, actor, "incident closed")
		out.commands = append(out.commands, d.cancel(inc, a.Unit, now))
	}
	inc.Status, inc.Closed, inc.Offer, inc.Uncovered = StatusClosed, now.UnixMilli(), nil, false
	inc.add(now, EventClosed, "", actor, detail)
	inc.since(&inc.Figures.ToCloseS, now.UnixMilli())
	return out
}

// Get returns an incident, with fresh recommendations while it is open.
func (d *Dispatcher) Get(id string) (Incident, error) {
	d.mu.Lock()
	inc, ok := d.incidents[id]
	if ok {
		c := inc.clone()
		if inc.Status != StatusClosed {
			c.Recommendations = d.recommend(inc, d.cfg.Now())
		}
		d.mu.Unlock()
		return c, nil
	}
	d.mu.Unlock()
	b, err := d.store.Get(keyPrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return Incident{}, fmt.Errorf("%w: no incident %q", ErrNotFound, id)
	}
	if err != nil {
		return Incident{}, err
	}
	var c Incident
	return c, json.Unmarshal(b, &c)
}

// List returns incidents by priority, then age: the open ones, or with
// closed also those closed in the last day.
func (d *Dispatcher) List(withClosed bool) []Incident {
	d.mu.Lock()
	out := make([]Incident, 0, len(d.incidents))
	for _, inc := range d.incidents {
		if inc.Status != StatusClosed || withClosed {
			out = append(out, inc.clone())
		}
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Created < out[j].Created
	})
	return out
}

// Incidents returns the incidents with these ids that are in memory (open,
// or closed in the last day), without recommendations; with ids nil, every
// open one.
func (d *Dispatcher) Incidents(ids []string) []Incident {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Incident
	if ids == nil {
		for _, inc := range d.incidents {
			if inc.Status != StatusClosed {
				out = append(out, inc.clone())
			}
		}
		return out
	}
	for _, id := range ids {
		if inc, ok := d.incidents[id]; ok {
			out = append(out, inc.clone())
		}
	}
	return out
}

// newID numbers incidents by day: inc-20261129-0042.
func (d *Dispatcher) newID(now time.Time) (string, error) {
	day := now.Format("20060102")
	if day != d.day {
		d.day, d.seq = day, 0
		prefix := keyPrefix + "inc-" + day + "-"
		err := d.store.Scan(prefix, func(key string, _ []byte) error {
			var n int
			if _, err := fmt.Sscanf(strings.TrimPrefix(key, prefix), "%d", &n); err == nil {
				d.seq = max(d.seq, n)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	d.seq++
	return fmt.Sprintf("inc-%s-%04d", day, d.seq), nil
}

func newCommandID() string {
	var b [8]byte
	rand.Read(b[:])
	return "cmd-" + hex.EncodeToString(b[:])
}

func ptr(f float64) *float64 { return &f }

func orUnknown(s string) string {
	if s == "" {
		return "unknown source"
	}
	return s
}

func describe(recs []Recommendation, n int) string {
	if len(recs) == 0 {
		return "no unit available"
	}
	var parts []string
	for _, r := range recs[:min(n, len(recs))] {
		p := fmt.Sprintf("%s eta %.0f s", r.Unit, r.ETAS)
		if r.Stale {
			p += " (stale)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}
