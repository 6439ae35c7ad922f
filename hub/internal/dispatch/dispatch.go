// Package dispatch is the incident lifecycle: an incident is created, ranked
// units are recommended, units are dispatched (by a dispatcher, or by the hub
// itself for priority 1), and each unit's answers — ack, decline, arrived,
// cleared — or silence move the incident along until it closes; a person may
// reopen it. Whether anybody can be there within the first tier is kept up
// to date (cover.go). Every step is on the incident's timeline with a
// machine-readable reason (kuaifan/protocol/api), and every state is stored
// before the command that follows from it goes out, so a restart resumes
// where it stopped.
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
	"maps"
	"math"
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
	"kuaifan/protocol/api"
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
	// cameras are the camera network by id (Config.Cameras); read-only
	// after New.
	cameras map[string]api.Camera

	events chan []protocol.Event
	done   chan struct{} // closed when Run has stopped

	mu        sync.Mutex
	incidents map[string]*Incident       // open ones, and those closed in the last day
	facts     map[string]*indexed        // every incident in the store, for the response figures and the archive (archive.go)
	busy      map[string]string          // unit → incident of its active assignment
	timers    map[string]*time.Timer     // command id → its ack deadline
	sos       map[string]string          // officer → the open incident of its sos (sos.go)
	sosSeq    map[string]uint64          // officer → seq of the latest sos applied
	sosFix    map[string]int64           // officer → ts of the position its incident is at (memory only)
	sosMoved  map[string]time.Time       // officer → when its position last moved the incident (memory only)
	moveups   map[string]*api.Reposition // unit → its move-up under way (memory only; moveup.go)
	day       string                     // for incident ids: inc-<day>-<n>
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
		cameras:   make(map[string]api.Camera, len(cfg.Cameras)),
		facts:     make(map[string]*indexed),
		sos:       make(map[string]string),
		sosSeq:    make(map[string]uint64),
		sosFix:    make(map[string]int64),
		sosMoved:  make(map[string]time.Time),
		moveups:   make(map[string]*api.Reposition),
	}
	for _, c := range cfg.Cameras {
		d.cameras[c.ID] = c
	}
	d.m = newMetrics(cfg.Registerer, d)
	now := cfg.Now()
	err := st.Scan(keyPrefix, func(key string, val []byte) error {
		var inc Incident
		if err := json.Unmarshal(val, &inc); err != nil || inc.ID == "" || keyPrefix+inc.ID != key {
			// A damaged record costs that incident, not the hub's start.
			if err == nil {
				err = fmt.Errorf("record of incident %q", inc.ID)
			}
			st.NoteDamage(key, err)
			d.log.Error("dispatch: an incident's record does not decode; it is skipped", "key", key, "err", err)
			return nil
		}
		d.facts[inc.ID] = d.indexOf(&inc)
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
				if r := cfg.Policy.Report; !r.Off && len(r.Assigned) > 0 {
					_ = f.SetReport(a.Unit, reportS(r.Assigned)) // commanded with its dispatch, before the restart
				}
			}
		}
	}
	for _, inc := range d.incidents {
		if inc.SOS == "" {
			continue
		}
		if last, ok := d.sosSeq[inc.SOS]; !ok || inc.SOSSeq > last {
			d.sosSeq[inc.SOS] = inc.SOSSeq
		}
		if inc.Status != StatusClosed {
			d.sos[inc.SOS] = inc.ID
			if d.busy[inc.SOS] == "" {
				d.busy[inc.SOS] = inc.ID
				_ = f.SetIncident(inc.SOS, inc.ID)
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
	// An sos ingest committed, and so confirmed to the officer's agent,
	// but dispatch had not stored when the hub stopped: the agent holds
	// nothing more to resend. Every unit's stored events of the last
	// SOSReplayWindow are looked at; an sos already applied (its seq is
	// on the officer's incident) changes nothing.
	from := now.Add(-SOSReplayWindow).UnixMilli()
	for _, v := range f.List() {
		events, err := st.Events(v.ID, from, now.UnixMilli()+60_000, 10_000)
		if err != nil {
			return nil, fmt.Errorf("dispatch: replay sos of %s: %w", v.ID, err)
		}
		for _, e := range events {
			if e.Type == protocol.EventSOS {
				out.merge(d.onSOS(e, now))
			}
		}
	}
	if err := d.flush(&out); err != nil {
		return nil, err
	}
	d.log.Info("dispatch loaded", "incidents", len(d.incidents), "assigned_units", len(d.busy))
	return d, nil
}

// Run acts on ack deadlines and on the units' events until ctx is done, and
// every CoverEvery clears the flag of uncovered incidents an acknowledged
// unit has since driven into the first tier.
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
	cover := time.NewTicker(d.cfg.CoverEvery)
	defer cover.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	follow := time.NewTicker(d.cfg.FollowEvery)
	defer follow.Stop()
	d.prune()
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
		case <-cover.C:
			d.reviewCovers()
		case <-prune.C:
			d.prune()
		case <-follow.C:
			d.followSOS()
		}
	}
}

// prune deletes the incidents closed longer ago than the retention. An
// incident's id holds the day it was created, so only the records of days
// before the cutoff are read.
func (d *Dispatcher) prune() {
	cutoff := d.cfg.Now().Add(-d.cfg.Retention)
	cutoffDay := "inc-" + cutoff.Format("20060102")
	var old []string
	err := d.store.Scan(keyPrefix, func(key string, val []byte) error {
		if key[len(keyPrefix):] >= cutoffDay {
			return errStopScan // keys are in order: every later one is newer
		}
		var inc Incident
		if json.Unmarshal(val, &inc) == nil && inc.Status == StatusClosed && inc.Closed < cutoff.UnixMilli() {
			old = append(old, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		d.log.Error("dispatch: pruning closed incidents", "err", err)
		return
	}
	for len(old) > 0 {
		n := min(len(old), 1000)
		if err := d.store.Delete(old[:n]...); err != nil {
			d.log.Error("dispatch: pruning closed incidents", "err", err)
			return
		}
		d.mu.Lock()
		for _, k := range old[:n] {
			if inc, ok := d.incidents[k[len(keyPrefix):]]; ok && inc.Status == StatusClosed {
				delete(d.incidents, inc.ID)
			}
			if x, ok := d.facts[k[len(keyPrefix):]]; ok && x.facts.Closed {
				delete(d.facts, x.facts.ID)
			}
		}
		d.mu.Unlock()
		d.log.Info("dispatch: closed incidents past the retention deleted", "count", n, "retention", d.cfg.Retention)
		old = old[n:]
	}
}

var errStopScan = errors.New("stop")

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
			settle(inc)
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
		for id, inc := range o.save {
			d.facts[id] = d.indexOf(inc)
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
		} else if c.cmd.Type == protocol.CmdConfig {
			_ = d.fleet.SetReport(c.unit, reportS(c.cmd.Config)) // a unit revoked meanwhile has no view
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

// kept is what a call may change in memory, so that a change the store
// refused (a full or failing disk) can be taken back: a call that answers
// an error leaves the incident, the units' assignments and their ack
// deadlines as they were, and the dispatcher's retry finds what the disk
// has — not a unit still held by an incident that was never saved. The
// other incidents' offers are kept too: dispatching a unit withdraws an
// offer of it elsewhere.
type kept struct {
	inc    *Incident // nil: a new incident, not in memory
	was    Incident
	busy   map[string]string
	offers map[*Incident]*Offer // every other incident's standing offer
	sos    map[string]string    // the officers' open sos incidents
}

func (d *Dispatcher) keep(inc *Incident) kept {
	k := kept{inc: inc, busy: maps.Clone(d.busy), sos: maps.Clone(d.sos)}
	if inc != nil {
		k.was = clone(inc)
	}
	for _, o := range d.incidents {
		if o != inc && o.Offer != nil {
			if k.offers == nil {
				k.offers = make(map[*Incident]*Offer)
			}
			k.offers[o] = o.Offer
		}
	}
	return k
}

// takeBack restores what keep kept; d.mu is held.
func (d *Dispatcher) takeBack(k kept) {
	if k.inc != nil {
		*k.inc = k.was
		now := d.cfg.Now()
		for _, a := range k.inc.Assignments {
			if _, ok := d.timers[a.Command]; a.State == AssignDispatched && !ok {
				d.startTimer(k.inc.ID, a.Unit, a.Command, time.UnixMilli(a.Deadline).Sub(now))
			}
		}
	}
	for o, offer := range k.offers {
		o.Offer = offer
	}
	d.sos = k.sos
	for unit, id := range d.busy {
		if k.busy[unit] != id {
			d.setBusy(unit, k.busy[unit])
		}
	}
	for unit, id := range k.busy {
		if d.busy[unit] != id {
			d.setBusy(unit, id)
		}
	}
}

// setBusy records the incident a unit is assigned to ("": none).
func (d *Dispatcher) setBusy(unit, incident string) {
	if incident == "" {
		delete(d.busy, unit)
	} else {
		d.busy[unit] = incident
	}
	if err := d.fleet.SetIncident(unit, incident); err != nil {
		d.log.Debug("dispatch: unit is gone", "unit", unit)
	}
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
	if err := validateNew(&n); err != nil {
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
	add(inc, now, Entry{Type: api.EntryCreated, Actor: actor, Detail: fmt.Sprintf("%s, priority %d", n.Kind, n.Priority),
		Reason: api.ReasonReported, Params: &api.Params{Kind: n.Kind, Priority: n.Priority, Lat: ptr(n.Lat), Lon: ptr(n.Lon)}})
	recs := d.recommend(inc, now)
	add(inc, now, ranked(recs, 3))
	d.raiseUncovered(inc, recs, now)

	var out outbox
	out.changed(inc)
	k := d.keep(nil)
	for _, r := range d.autoPicks(inc, recs, d.pol.autoUnits(n.Priority, n.Kind)) {
		out.merge(d.dispatch(inc, r.Unit, r.Tier, ActorAuto, inTier(r, fmt.Sprintf("tier %d (%s)", r.Tier, d.pol.Tiers[r.Tier-1].Name)), now))
	}
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	d.incidents[id] = inc
	d.m.created.Inc()
	c := clone(inc)
	c.Recommendations = d.recommend(inc, now)
	return c, nil
}

// autoPicks chooses up to n units for the hub to dispatch by itself: fresh,
// free, never volunteers, never a unit that already declined or timed out,
// never one that cannot receive the dispatch (commandable).
func (d *Dispatcher) autoPicks(inc *Incident, recs []Recommendation, n int) []Recommendation {
	var picks []Recommendation
	for _, r := range recs {
		if len(picks) >= n {
			break
		}
		if r.Stale || r.Type == protocol.TypeVolunteer || d.busy[r.Unit] != "" || assignmentOf(inc, r.Unit) != nil ||
			!d.commandable(r.Unit) {
			continue
		}
		picks = append(picks, r)
	}
	return picks
}

// commandable reports whether a unit hears commands: a phone reporting by
// OwnTracks or OsmAnd only sends its position, so a dispatch sent to it
// would go unheard until its ack deadline. A dispatcher may still assign
// one by hand (and call the officer).
func (d *Dispatcher) commandable(unit string) bool {
	p, _, ok := d.fleet.ReportsBy(unit)
	return ok && p == api.ReportKuaifan
}

// dispatch assigns a unit (already checked) and prepares its command; why
// is the dispatched entry's detail, reason and params. An offer of the unit
// is gone: taken here, and withdrawn from any other incident (a unit on
// one incident is no longer free to go to another); an offer of another
// unit stands.
func (d *Dispatcher) dispatch(inc *Incident, unit string, tier int, actor string, why Entry, now time.Time) outbox {
	cmd := protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdDispatch, Incident: inc.ID,
		Lat: ptr(inc.Lat), Lon: ptr(inc.Lon), Priority: inc.Priority, Kind: inc.Kind, Summary: inc.Summary}
	timeout := time.Duration(d.pol.AckTimeout)
	inc.Assignments = append(inc.Assignments, Assignment{Unit: unit, State: AssignDispatched, Command: cmd.ID, By: actor,
		Tier: tier, Dispatched: now.UnixMilli(), Deadline: now.Add(timeout).UnixMilli()})
	why.Type, why.Unit, why.Actor = api.EntryDispatched, unit, actor
	add(inc, now, why)
	if inc.Figures.ToDispatchS == nil {
		d.m.dispatchLatency.Observe(float64(now.UnixMilli()-inc.Created) / 1000)
	}
	since(inc, &inc.Figures.ToDispatchS, now.UnixMilli())
	var out outbox
	out.changed(inc)
	if inc.Offer != nil && inc.Offer.Unit == unit {
		inc.Offer = nil
	}
	for _, other := range d.incidents {
		if other != inc && other.Offer != nil && other.Offer.Unit == unit {
			// No entry: the contract has no type for it, and the unit's
			// dispatch is on the other incident's timeline.
			other.Offer = nil
			out.changed(other)
		}
	}
	d.busy[unit] = inc.ID
	if err := d.fleet.SetIncident(unit, inc.ID); err != nil {
		d.log.Warn("dispatch: fleet does not know the unit", "unit", unit, "err", err)
	}
	d.endMoveUp(unit, "dispatched") // the agent drops it on the dispatch
	d.m.assignments.WithLabelValues(AssignDispatched).Inc()
	out.commands = append(out.commands, command{unit, cmd})
	// After the dispatch, which must not wait for anything.
	if c, ok := d.reportCmd(unit, true, now); ok {
		out.commands = append(out.commands, c)
	}
	out.timers = append(out.timers, timer{inc.ID, unit, cmd.ID, timeout})
	return out
}

// release frees a unit from an assignment that has ended; out gets the
// command that puts it back to the free reporting rate.
func (d *Dispatcher) release(inc *Incident, a *Assignment, state string, at int64, out *outbox) {
	a.State, a.Ended = state, at
	d.stopTimer(a.Command)
	if d.busy[a.Unit] == inc.ID {
		delete(d.busy, a.Unit)
		if err := d.fleet.SetIncident(a.Unit, ""); err != nil {
			d.log.Debug("dispatch: released unit is gone", "unit", a.Unit)
		}
		if c, ok := d.reportCmd(a.Unit, false, time.UnixMilli(at)); ok {
			out.commands = append(out.commands, c)
		}
	}
	d.m.assignments.WithLabelValues(state).Inc()
}

// Assign dispatches a unit chosen by a dispatcher. The unit the incident's
// offer names is dispatched as the offer taken (offer_taken, with the
// offer's figures), and the offer is gone.
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
	tier, why := 0, Entry{Detail: "not among the recommendations", Reason: api.ReasonNotRecommended}
	for _, r := range d.recommend(inc, now) {
		if r.Unit == unit {
			detail := fmt.Sprintf("tier %d (%s), eta %.0f s", r.Tier, d.pol.Tiers[r.Tier-1].Name, r.ETAS)
			if r.Stale {
				detail += fmt.Sprintf(", position %.0f s old", r.FixAgeS)
			}
			tier, why = r.Tier, inTier(r, detail)
		}
	}
	if o := inc.Offer; o != nil && o.Unit == unit {
		why = Entry{Detail: fmt.Sprintf("the unit offered after the sighting: eta %.0f s; the best unit on its way needed %.0f s", o.ETAS, o.BestETAS),
			Reason: api.ReasonOfferTaken, Params: &api.Params{ETAS: secs(o.ETAS), BestETAS: secs(o.BestETAS)}}
	}
	k := d.keep(inc)
	out := d.dispatch(inc, unit, tier, actor, why, now)
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	c := clone(inc)
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
	switch e.Type {
	case protocol.EventStatus:
		return out
	case protocol.EventSOS:
		return d.onSOS(e, now)
	}
	if strings.HasPrefix(e.Incident, api.MoveUpPrefix) {
		d.onMoveUpEvent(e)
		return out
	}
	inc, ok := d.incidents[e.Incident]
	var a *Assignment
	if ok {
		a = assignmentOf(inc, e.Unit)
	}
	if a == nil {
		d.m.eventsIgnored.Inc()
		d.log.Warn("dispatch: event for an incident the unit is not assigned to", "unit", e.Unit, "incident", e.Incident, "type", e.Type)
		return out
	}
	if belongsEarlier(inc, a, e.Seq) {
		// A replay, or a queued message arriving late: its step is on the
		// timeline already, under the unit's earlier assignment.
		d.log.Debug("dispatch: event of an earlier assignment", "unit", e.Unit, "incident", e.Incident, "seq", e.Seq)
		return out
	}
	// Noted first: a replacement's dispatch may move the assignments.
	a.EventSeq = max(a.EventSeq, e.Seq)
	at := min(e.TS, now.UnixMilli()) // a device clock ahead must not date steps in the future
	ts := time.UnixMilli(at)
	switch e.Type {
	case protocol.EventAck:
		switch a.State {
		case AssignDispatched:
			a.State, a.Acked = AssignEnroute, at
			d.stopTimer(a.Command)
			add(inc, ts, Entry{Type: api.EntryAck, Unit: e.Unit, Actor: e.Unit})
			since(inc, &inc.Figures.ToAckS, at)
			d.m.ackLatency.Observe(float64(at-a.Dispatched) / 1000)
			d.clearUncovered(inc, ts, now)
		case AssignTimeout, AssignCancelled:
			// Too late: it has been replaced or called off. Say so again.
			add(inc, ts, Entry{Type: api.EntryCancelled, Unit: e.Unit, Actor: ActorAuto, Detail: "ack after the assignment ended (" + a.State + ")",
				Reason: api.ReasonLateAck, Params: &api.Params{State: a.State}})
			out.commands = append(out.commands, d.cancel(inc, e.Unit, now))
		default:
			return out
		}
	case protocol.EventDecline:
		if a.State != AssignDispatched && a.State != AssignEnroute {
			return out
		}
		d.release(inc, a, AssignDeclined, at, &out)
		decline := Entry{Type: api.EntryDecline, Unit: e.Unit, Actor: e.Unit, Reason: api.ReasonByOfficer}
		if e.Reason != "" {
			decline.Params = &api.Params{Note: e.Reason}
		}
		add(inc, ts, decline)
		out.merge(d.replace(inc, *a, e.Unit+" declined", now))
	case protocol.EventArrived:
		if a.State != AssignDispatched && a.State != AssignEnroute {
			return out
		}
		if a.State == AssignDispatched { // arrived without acking first
			a.Acked = at
			d.stopTimer(a.Command)
			since(inc, &inc.Figures.ToAckS, at)
		}
		a.State, a.Arrived = AssignOnScene, at
		add(inc, ts, Entry{Type: api.EntryArrived, Unit: e.Unit, Actor: e.Unit})
		if inc.Figures.ToArrivalS == nil {
			d.m.arrival.Observe(float64(at-inc.Created) / 1000)
		}
		since(inc, &inc.Figures.ToArrivalS, at)
		d.clearUncovered(inc, ts, now)
	case protocol.EventCleared:
		if !active(a.State) {
			return out
		}
		d.release(inc, a, AssignCleared, at, &out)
		add(inc, ts, Entry{Type: api.EntryCleared, Unit: e.Unit, Actor: e.Unit})
		if d.allDone(inc) {
			d.close(inc, ActorAuto, Entry{Detail: "every unit cleared", Reason: api.ReasonAllCleared}, now)
		} else {
			d.reviewCover(inc, nil, now) // it may have been the one covering it
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
	a := assignmentOf(inc, unit)
	if a == nil || a.Command != cmd || a.State != AssignDispatched {
		return
	}
	now := d.cfg.Now()
	var out outbox
	// Called off first, so a dispatch delivered late is not acted on.
	out.commands = append(out.commands, d.cancel(inc, unit, now))
	d.release(inc, a, AssignTimeout, now.UnixMilli(), &out)
	timeout := time.Duration(d.pol.AckTimeout)
	add(inc, now, Entry{Type: api.EntryTimeout, Unit: unit, Actor: ActorSystem, Detail: fmt.Sprintf("no ack within %v", timeout),
		Reason: api.ReasonNoAck, Params: &api.Params{TimeoutS: secs(timeout.Seconds())}})
	out.changed(inc)
	out.merge(d.replace(inc, *a, unit+" did not answer", now))
	_ = d.flush(&out) // flush logs what fails
}

// replace sends the next candidate when an assignment failed, if the hub
// dispatches this incident by itself; otherwise the dispatcher sees the
// refreshed recommendations and chooses. Either way the incident's coverage
// is checked again: the failed unit may have been the one covering it.
func (d *Dispatcher) replace(inc *Incident, failed Assignment, why string, now time.Time) outbox {
	var out outbox
	out.changed(inc)
	if inc.Status == StatusClosed {
		return out
	}
	if d.pol.autoUnits(inc.Priority, inc.Kind) == 0 {
		d.reviewCover(inc, nil, now)
		return out
	}
	recs := d.recommend(inc, now)
	picks := d.autoPicks(inc, recs, 1)
	if len(picks) == 0 {
		d.raiseNoReplacement(inc, failed, why, now)
		return out
	}
	d.reviewCover(inc, recs, now)
	p := picks[0]
	out.merge(d.dispatch(inc, p.Unit, p.Tier, ActorAuto, Entry{
		Detail: fmt.Sprintf("instead: %s; tier %d, eta %.0f s", why, p.Tier, p.ETAS), Reason: api.ReasonReplacing,
		Params: &api.Params{Other: failed.Unit, State: failed.State, Tier: p.Tier, ETAS: secs(p.ETAS)}}, now))
	return out
}

func (d *Dispatcher) cancel(inc *Incident, unit string, now time.Time) command {
	return command{unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdCancel, Incident: inc.ID}}
}

// Sighting moves an incident, sends the new place to the units on their way
// (an update_location entry each), and offers (never forces) a free unit
// that would now arrive much sooner. A camera it names must be one of the
// hub's (Config.Cameras); the place is the one reported, not the camera's.
func (d *Dispatcher) Sighting(id string, s Sighting, actor string) (Incident, error) {
	if err := validateSighting(&s); err != nil {
		return Incident{}, err
	}
	cam, err := d.camera(s.Camera)
	if err != nil {
		return Incident{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, err := d.open(id)
	if err != nil {
		return Incident{}, err
	}
	now := d.cfg.Now()
	k := d.keep(inc)
	detail := fmt.Sprintf("%s at %.6f, %.6f", orUnknown(s.Source), s.Lat, s.Lon)
	if cam.ID != "" {
		detail += ", camera " + cam.ID
		if cam.Name != "" {
			detail += " (" + cam.Name + ")"
		}
	}
	if s.Note != "" {
		detail += ": " + s.Note
	}
	out, recs := d.relocate(inc, s.Lat, s.Lon, Entry{Type: api.EntrySighting, Actor: actor, Detail: detail, Reason: api.ReasonSighted,
		Params: &api.Params{Source: s.Source, Lat: ptr(s.Lat), Lon: ptr(s.Lon), Note: s.Note, Camera: s.Camera}}, now, now)
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	c := clone(inc)
	c.Recommendations = recs
	return c, nil
}

// relocate moves an incident to lat, lon with the sighting entry (dated
// seen), sends the new place to the units on their way (an
// update_location entry each), checks the coverage, and offers (never
// forces) a free unit that would now arrive much sooner. It returns what
// to flush and the fresh recommendations. d.mu is held.
func (d *Dispatcher) relocate(inc *Incident, lat, lon float64, sighting Entry, seen, now time.Time) (outbox, []Recommendation) {
	inc.Lat, inc.Lon = lat, lon
	add(inc, seen, sighting)
	var out outbox
	out.changed(inc)
	bestEnroute := -1.0
	for _, a := range inc.Assignments {
		if a.State != AssignDispatched && a.State != AssignEnroute {
			continue
		}
		out.commands = append(out.commands, command{a.Unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(),
			Type: protocol.CmdUpdateLocation, Incident: inc.ID, Lat: ptr(lat), Lon: ptr(lon), Priority: inc.Priority, Kind: inc.Kind}})
		add(inc, now, Entry{Type: api.EntryUpdateLocation, Unit: a.Unit, Actor: ActorAuto,
			Detail: fmt.Sprintf("new place sent: %.6f, %.6f", lat, lon), Reason: api.ReasonRetargeted,
			Params: &api.Params{Lat: ptr(lat), Lon: ptr(lon)}})
		if eta, ok := d.etaOf(a.Unit, lat, lon); ok && (bestEnroute < 0 || eta < bestEnroute) {
			bestEnroute = eta
		}
	}
	recs := d.recommend(inc, now)
	d.reviewCover(inc, recs, now)
	inc.Offer = nil
	if bestEnroute >= 0 {
		for _, r := range recs {
			if r.Stale || d.busy[r.Unit] != "" {
				continue
			}
			if r.ETAS+d.cfg.BetterBy.Seconds() < bestEnroute {
				inc.Offer = &Offer{Unit: r.Unit, ETAS: r.ETAS, BestETAS: bestEnroute, Sighting: now.UnixMilli()}
				add(inc, now, Entry{Type: api.EntryOffered, Unit: r.Unit, Actor: ActorAuto,
					Detail: fmt.Sprintf("eta %.0f s; the best unit on its way needs %.0f s", r.ETAS, bestEnroute),
					Reason: api.ReasonSooner, Params: &api.Params{ETAS: secs(r.ETAS), BestETAS: secs(bestEnroute)}})
			}
			break
		}
	}
	return out, recs
}

// camera is the camera of the hub's set with this id; none for "".
func (d *Dispatcher) camera(id string) (api.Camera, error) {
	if id == "" {
		return api.Camera{}, nil
	}
	c, ok := d.cameras[id]
	switch {
	case ok:
		return c, nil
	case len(d.cameras) == 0:
		return api.Camera{}, fmt.Errorf("%w: no camera %q: the hub has no cameras (hub -cameras)", ErrInvalid, id)
	}
	return api.Camera{}, fmt.Errorf("%w: no camera %q among the hub's %d (GET /api/cameras)", ErrInvalid, id, len(d.cameras))
}

// DismissOffer turns the incident's offer down: the offered unit is not
// sent, an offer_dismissed entry says so (with the person's note, if they
// gave one), and there is no offer until a sighting makes another.
func (d *Dispatcher) DismissOffer(id, actor, note string) (Incident, error) {
	note, err := cleanNote(note, "note", false)
	if err != nil {
		return Incident{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, err := d.find(id)
	if err != nil {
		return Incident{}, err
	}
	if inc.Status == StatusClosed {
		return Incident{}, fmt.Errorf("%w: incident %s is closed", ErrConflict, id)
	}
	if inc.Offer == nil {
		return Incident{}, fmt.Errorf("%w: incident %s has no offer", ErrConflict, id)
	}
	now := d.cfg.Now()
	k := d.keep(inc)
	unit := inc.Offer.Unit
	why := Entry{Type: api.EntryOfferDismissed, Unit: unit, Actor: actor, Detail: "the offer of " + unit + " dismissed by " + actor,
		Reason: api.ReasonDismissed}
	if note != "" {
		why.Detail += ": " + note
		why.Params = &api.Params{Note: note}
	}
	add(inc, now, why)
	inc.Offer = nil
	var out outbox
	out.changed(inc)
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	c := clone(inc)
	c.Recommendations = d.recommend(inc, now)
	return c, nil
}

// etaOf is a unit's estimated arrival at a place from its latest fix.
func (d *Dispatcher) etaOf(unit string, lat, lon float64) (float64, bool) {
	ap, ok := d.approach(unit, lat, lon, d.cfg.Now())
	return ap.etaS, ok
}

// Close ends an incident; units still assigned are called off. note is why,
// if the person said (optional).
func (d *Dispatcher) Close(id, actor, note string) (Incident, error) {
	note, err := cleanNote(note, "note", false)
	if err != nil {
		return Incident{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, ok := d.incidents[id]
	if !ok {
		return Incident{}, fmt.Errorf("%w: no incident %q", ErrNotFound, id)
	}
	if inc.Status == StatusClosed {
		return clone(inc), nil
	}
	why := Entry{Detail: "closed by " + actor, Reason: api.ReasonByPerson}
	if note != "" {
		why.Detail += ": " + note
		why.Params = &api.Params{Note: note}
	}
	k := d.keep(inc)
	out := d.close(inc, actor, why, d.cfg.Now())
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	return clone(inc), nil
}

// close ends an incident; why is the closed entry's detail, reason and params.
func (d *Dispatcher) close(inc *Incident, actor string, why Entry, now time.Time) outbox {
	var out outbox
	out.changed(inc)
	for i := range inc.Assignments {
		a := &inc.Assignments[i]
		if !active(a.State) {
			continue
		}
		out.commands = append(out.commands, d.cancel(inc, a.Unit, now))
		d.release(inc, a, AssignCancelled, now.UnixMilli(), &out)
		add(inc, now, Entry{Type: api.EntryCancelled, Unit: a.Unit, Actor: actor, Detail: "incident closed", Reason: api.ReasonIncidentClosed})
	}
	d.endSOS(inc, now, &out)
	inc.Status, inc.Closed, inc.Offer, inc.Uncovered = StatusClosed, now.UnixMilli(), nil, false
	why.Type, why.Actor = api.EntryClosed, actor
	add(inc, now, why)
	since(inc, &inc.Figures.ToCloseS, now.UnixMilli())
	return out
}

// Reopen opens a closed incident again: it was closed too soon, or the
// trouble came back. reason is required: the timeline keeps why. Its units
// all ended at the close, so it is open with nobody assigned (the hub does
// not dispatch by itself here: a person is looking at it); its coverage is
// checked again. One closed more than a day ago is read back from the store.
func (d *Dispatcher) Reopen(id, actor, reason string) (Incident, error) {
	reason, err := cleanNote(reason, "reason", true)
	if err != nil {
		return Incident{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inc, err := d.find(id)
	if err != nil {
		return Incident{}, err
	}
	if inc.Status != StatusClosed {
		return Incident{}, fmt.Errorf("%w: incident %s is %s, not closed", ErrConflict, id, inc.Status)
	}
	now := d.cfg.Now()
	k := d.keep(inc)
	inc.Status, inc.Closed, inc.Figures.ToCloseS = StatusOpen, 0, nil // settle derives it from the assignments
	add(inc, now, Entry{Type: api.EntryReopened, Actor: actor, Detail: "reopened by " + actor + ": " + reason,
		Reason: api.ReasonReopened, Params: &api.Params{Note: reason}})
	recs := d.recommend(inc, now)
	d.raiseUncovered(inc, recs, now)
	var out outbox
	out.changed(inc)
	if err := d.flush(&out); err != nil {
		d.takeBack(k)
		return Incident{}, err
	}
	d.incidents[id] = inc
	d.m.reopened.Inc()
	c := clone(inc)
	c.Recommendations = recs
	return c, nil
}

// find is an incident in memory, or read back from the store (one closed
// more than a day ago); d.mu held.
func (d *Dispatcher) find(id string) (*Incident, error) {
	if inc, ok := d.incidents[id]; ok {
		return inc, nil
	}
	return d.load(id)
}

// load reads an incident that is no longer in memory from the store.
func (d *Dispatcher) load(id string) (*Incident, error) {
	b, err := d.store.Get(keyPrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no incident %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("dispatch: read %s: %w", id, err)
	}
	var inc Incident
	if err := json.Unmarshal(b, &inc); err != nil {
		return nil, fmt.Errorf("dispatch: decode %s: %w", id, err)
	}
	return &inc, nil
}

// Get returns an incident, with fresh recommendations while it is open.
func (d *Dispatcher) Get(id string) (Incident, error) {
	d.mu.Lock()
	inc, ok := d.incidents[id]
	if ok {
		c := clone(inc)
		if inc.Status != StatusClosed {
			c.Recommendations = d.recommend(inc, d.cfg.Now())
		}
		d.mu.Unlock()
		return c, nil
	}
	d.mu.Unlock()
	inc, err := d.load(id)
	if err != nil {
		return Incident{}, err
	}
	return *inc, nil
}

// List returns incidents by priority, then age: the open ones, or with
// closed also those closed in the last day.
func (d *Dispatcher) List(withClosed bool) []Incident {
	d.mu.Lock()
	out := make([]Incident, 0, len(d.incidents))
	for _, inc := range d.incidents {
		if inc.Status != StatusClosed || withClosed {
			out = append(out, clone(inc))
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
				out = append(out, clone(inc))
			}
		}
		return out
	}
	for _, id := range ids {
		if inc, ok := d.incidents[id]; ok {
			out = append(out, clone(inc))
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

// NewCommandID is a fresh command id, for the hub's other commands.
func NewCommandID() string { return newCommandID() }

func newCommandID() string {
	var b [8]byte
	rand.Read(b[:])
	return "cmd-" + hex.EncodeToString(b[:])
}

func ptr(f float64) *float64 { return &f }

// secs is a duration in seconds as the timeline keeps it: to a tenth, which
// is all an estimate is worth, and what keeps stored entries short.
func secs(s float64) *float64 { return ptr(math.Round(s*10) / 10) }

func orUnknown(s string) string {
	if s == "" {
		return "unknown source"
	}
	return s
}

// ranked is the recommended entry: the best n units as the timeline
// remembers them.
func ranked(recs []Recommendation, n int) Entry {
	if len(recs) == 0 {
		return Entry{Type: api.EntryRecommended, Actor: ActorAuto, Detail: "no unit available", Reason: api.ReasonNoUnit}
	}
	p := &api.Params{}
	var parts []string
	for _, r := range recs[:min(n, len(recs))] {
		s := fmt.Sprintf("%s eta %.0f s", r.Unit, r.ETAS)
		if r.Stale {
			s += " (stale)"
		}
		parts = append(parts, s)
		p.Ranked = append(p.Ranked, api.Ranked{Unit: r.Unit, ETAS: *secs(r.ETAS), Stale: r.Stale})
	}
	return Entry{Type: api.EntryRecommended, Actor: ActorAuto, Detail: strings.Join(parts, ", "), Reason: api.ReasonRanked, Params: p}
}

// inTier is why a recommended unit was dispatched: its tier and ETA, and
// its fix's age when the position was stale.
func inTier(r Recommendation, detail string) Entry {
	p := &api.Params{Tier: r.Tier, ETAS: secs(r.ETAS)}
	if r.Stale {
		p.FixAgeS = secs(r.FixAgeS)
	}
	return Entry{Detail: detail, Reason: api.ReasonInTier, Params: p}
}
