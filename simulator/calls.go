package simulator

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// DispatcherConfig is the simulated dispatcher in the command centre.
type DispatcherConfig struct {
	// Delay is how long (simulated) an incident the hub did not dispatch by
	// itself waits before the dispatcher assigns a unit — reading the call,
	// looking at the map. It also spaces out retries when no unit was free.
	Delay time.Duration
	// Poll is how often (real time) the dispatcher looks at the open
	// incidents.
	Poll time.Duration
	// IgnoreOffers leaves the hub's offers (a free unit better placed after
	// a sighting) alone; by default the dispatcher sends the offered unit.
	IgnoreOffers bool
}

// Defaults of DispatcherConfig.
const (
	DefaultDispatchDelay = 20 * time.Second
	DefaultDispatchPoll  = time.Second
)

// callTaker creates incidents at the generator's rate, as calls come in.
type callTaker struct {
	api   *hubAPI
	clock *simClock
	reg   *registry
	jr    *journal
	log   *slog.Logger

	mu      sync.Mutex
	gen     *IncidentGen
	changed chan struct{} // the rate changed: draw again
	errors  int
}

func newCallTaker(api *hubAPI, clock *simClock, reg *registry, jr *journal, log *slog.Logger,
	city *CityModel, mix IncidentMix, rng *rand.Rand) *callTaker {
	return &callTaker{api: api, clock: clock, reg: reg, jr: jr, log: log,
		gen: NewIncidentGen(city, mix, rng), changed: make(chan struct{}, 1)}
}

// setRate changes the incident rate (per simulated hour) from now on.
func (c *callTaker) setRate(perHour float64) {
	c.mu.Lock()
	c.gen.SetRate(perHour)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *callTaker) rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen.Rate()
}

// run reports incidents until ctx ends. The process is Poisson (memoryless),
// so after a rate change the pending incident is drawn again.
func (c *callTaker) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		now := c.clock.Now()
		at, inc := c.gen.Next(now)
		c.mu.Unlock()
		t := time.NewTimer(c.clock.Real(at.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.changed:
			t.Stop()
			continue
		case <-t.C:
		}
		if _, err := c.create(ctx, inc, ""); err != nil && ctx.Err() == nil {
			c.mu.Lock()
			c.errors++
			c.mu.Unlock()
			c.log.Warn("simulator: reporting an incident failed", "err", err)
		}
	}
}

// create reports one incident and registers it.
func (c *callTaker) create(ctx context.Context, n NewIncident, ref string) (hubIncident, error) {
	inc, err := c.api.createIncident(ctx, n)
	if err != nil {
		return inc, fmt.Errorf("reporting a %s incident: %w", n.Kind, err)
	}
	now := c.clock.Elapsed()
	c.reg.add(&incidentRec{ID: inc.ID, Ref: ref, Kind: n.Kind, Priority: n.Priority, CreatedS: secs(now),
		Auto: len(inc.Assignments) > 0, At: Point{Lat: n.Lat, Lon: n.Lon}})
	if ref != "" {
		c.jr.add(Entry{AtS: secs(now), Kind: "incident", Incident: inc.ID, Ref: ref,
			Detail: fmt.Sprintf("%s P%d at %.5f, %.5f: %s; %d unit(s) sent by the hub", n.Kind, n.Priority, n.Lat, n.Lon, n.Summary, len(inc.Assignments))})
	}
	return inc, nil
}

// dispatcher assigns units to the run's incidents the hub did not dispatch
// by itself (priority 2 and 3 by the default policy, and any incident left
// without a unit after a decline or a timeout), takes the hub's offers, and
// after a sighting that found nobody on the way to the new place (the units
// sent are on scene where the suspects were) sends a unit to intercept. It
// sends the first recommendation that is not stale, as a dispatcher looking
// at the ranked list would.
type dispatcher struct {
	cfg   DispatcherConfig
	api   *hubAPI
	clock *simClock
	reg   *registry
	jr    *journal
	log   *slog.Logger
}

func (d *dispatcher) run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.reg.len() == 0 {
			continue
		}
		open, err := d.api.incidents(ctx, false)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("simulator: dispatcher: listing incidents", "err", err)
			}
			continue
		}
		for i := range open {
			d.consider(ctx, &open[i])
		}
	}
}

// consider acts on one open incident if it is the run's and needs it.
func (d *dispatcher) consider(ctx context.Context, inc *hubIncident) {
	now := d.clock.Elapsed()
	var act, offer, intercept bool
	var offerUnit string
	known := d.reg.with(inc.ID, func(r *incidentRec) {
		if inc.Offer != nil && !d.cfg.IgnoreOffers && inc.Offer.Sighting != r.offerSeen {
			r.offerSeen = inc.Offer.Sighting
			offer, offerUnit = true, inc.Offer.Unit
		}
		if r.intercept && now-r.sightedAt >= d.cfg.Delay {
			r.intercept = false
			intercept = !onTheWay(inc)
		}
		if inc.Status != "open" || inc.active() {
			r.waiting = false
			return
		}
		if !r.waiting {
			r.waiting, r.waitingSince = true, now
		}
		if now-r.waitingSince >= d.cfg.Delay {
			act = true
			r.waitingSince = now // the next try, if this one finds nobody, after another delay
		}
	})
	if !known {
		return
	}
	if offer {
		err := d.api.assign(ctx, inc.ID, offerUnit)
		detail := "sent " + offerUnit
		if err != nil {
			detail = fmt.Sprintf("could not send %s: %v", offerUnit, err)
		} else {
			d.reg.with(inc.ID, func(r *incidentRec) { r.offersTaken++ })
		}
		d.jr.add(Entry{AtS: secs(now), Kind: "offer", Unit: offerUnit, Incident: inc.ID, Detail: "the hub offered a better-placed unit; the dispatcher " + detail})
	}
	if act || intercept {
		d.dispatch(ctx, inc.ID, now, intercept && !act)
	}
}

// onTheWay reports whether a unit is dispatched to the incident or en route.
func onTheWay(inc *hubIncident) bool {
	for _, a := range inc.Assignments {
		if a.State == "dispatched" || a.State == "enroute" {
			return true
		}
	}
	return false
}

// dispatch assigns the first fresh recommendation that the hub accepts;
// intercept sends one more unit to an incident whose units are on scene
// where it was.
func (d *dispatcher) dispatch(ctx context.Context, id string, now time.Duration, intercept bool) {
	full, err := d.api.incident(ctx, id)
	if err != nil {
		d.log.Warn("simulator: dispatcher: reading an incident", "incident", id, "err", err)
		return
	}
	switch {
	case full.Status == "closed":
		return
	case intercept && onTheWay(&full):
		return
	case !intercept && (full.Status != "open" || full.active()):
		return
	}
	why := "by the dispatcher"
	if intercept {
		why = "by the dispatcher, to intercept after the sighting"
	}
	// One unit; two to cut off fleeing suspects, as the hub's own policy
	// sends two to a robbery.
	want := 1
	if intercept {
		want = 2
	}
	tried, sent := 0, 0
	for _, r := range full.Recommendations {
		if r.Stale || tried >= 5+want || sent == want {
			break // stale ones rank after every fresh one
		}
		tried++
		err := d.api.assign(ctx, id, r.Unit)
		if err == nil {
			sent++
			d.reg.with(id, func(rec *incidentRec) { rec.assigned++; rec.waiting = false })
			d.jr.add(Entry{AtS: secs(now), Kind: "assigned", Unit: r.Unit, Incident: id,
				Detail: fmt.Sprintf("%s: %s, %.0f m, eta %.0f s (hub's estimate)", why, r.Type, r.DistanceM, r.ETAS)})
			continue
		}
		if !isStatus(err, http.StatusConflict) {
			d.log.Warn("simulator: dispatcher: assigning", "incident", id, "unit", r.Unit, "err", err)
			break
		}
		// Taken meanwhile (auto-dispatched elsewhere, went offline): the next one.
	}
	if sent == 0 {
		d.reg.with(id, func(rec *incidentRec) { rec.failed++ })
	}
}
