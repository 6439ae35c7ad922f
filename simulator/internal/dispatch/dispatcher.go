// Package dispatch is the simulated command centre: a call-taker who
// reports incidents through the hub's API as calls come in (a Poisson
// process with hot spots), a dispatcher who assigns the incidents the hub
// does not dispatch by itself and takes the hub's offers, and the registry
// of every incident the run created, which the report reads at the end.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/simclock"
)

// Config is the simulated dispatcher in the command centre.
type Config struct {
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

// Defaults of Config.
const (
	DefaultDelay = 20 * time.Second
	DefaultPoll  = time.Second
)

// Dispatcher assigns units to the run's incidents the hub did not dispatch
// by itself (priority 2 and 3 by the default policy, and any incident left
// without a unit after a decline or a timeout), takes the hub's offers, and
// after a sighting that found nobody on the way to the new place (the units
// sent are on scene where the suspects were) sends a unit to intercept. It
// sends the first recommendation that is not stale, as a dispatcher looking
// at the ranked list would.
type Dispatcher struct {
	cfg   Config
	api   *hubapi.Client
	clock *simclock.Clock
	reg   *Registry
	jr    *journal.Journal
	log   *slog.Logger
}

// NewDispatcher is a dispatcher for the incidents in reg.
func NewDispatcher(cfg Config, api *hubapi.Client, clock *simclock.Clock, reg *Registry, jr *journal.Journal, log *slog.Logger) *Dispatcher {
	return &Dispatcher{cfg: cfg, api: api, clock: clock, reg: reg, jr: jr, log: log}
}

// Run looks at the open incidents every Poll until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.reg.Len() == 0 {
			continue
		}
		open, err := d.api.Incidents(ctx, false)
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
func (d *Dispatcher) consider(ctx context.Context, inc *api.Incident) {
	now := d.clock.Elapsed()
	var act, offer, intercept bool
	var offerUnit string
	known := d.reg.with(inc.ID, func(r *Record) {
		if inc.Offer != nil && !d.cfg.IgnoreOffers && inc.Offer.Sighting != r.offerSeen {
			r.offerSeen = inc.Offer.Sighting
			offer, offerUnit = true, inc.Offer.Unit
		}
		if r.intercept && now-r.sightedAt >= d.cfg.Delay {
			r.intercept = false
			intercept = len(hubapi.OnTheWay(inc)) == 0
		}
		if inc.Status != api.IncidentOpen || hubapi.Active(inc) {
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
		err := d.api.Assign(ctx, inc.ID, offerUnit)
		detail := "sent " + offerUnit
		if err != nil {
			detail = fmt.Sprintf("could not send %s: %v", offerUnit, err)
		} else {
			d.reg.with(inc.ID, func(r *Record) { r.OffersTaken++ })
		}
		d.jr.Add(journal.Entry{AtS: now.Seconds(), Kind: "offer", Unit: offerUnit, Incident: inc.ID, Detail: "the hub offered a better-placed unit; the dispatcher " + detail})
	}
	if act || intercept {
		d.dispatch(ctx, inc.ID, now, intercept && !act)
	}
}

// dispatch assigns the first fresh recommendation that the hub accepts;
// intercept sends one more unit to an incident whose units are on scene
// where it was.
func (d *Dispatcher) dispatch(ctx context.Context, id string, now time.Duration, intercept bool) {
	full, err := d.api.Incident(ctx, id)
	if err != nil {
		d.log.Warn("simulator: dispatcher: reading an incident", "incident", id, "err", err)
		return
	}
	switch {
	case full.Status == api.IncidentClosed:
		return
	case intercept && len(hubapi.OnTheWay(&full)) > 0:
		return
	case !intercept && (full.Status != api.IncidentOpen || hubapi.Active(&full)):
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
		err := d.api.Assign(ctx, id, r.Unit)
		if err == nil {
			sent++
			d.reg.with(id, func(rec *Record) { rec.assigned++; rec.waiting = false })
			d.jr.Add(journal.Entry{AtS: now.Seconds(), Kind: "assigned", Unit: r.Unit, Incident: id,
				Detail: fmt.Sprintf("%s: %s, %.0f m, eta %.0f s (hub's estimate)", why, r.Type, r.DistanceM, r.ETAS)})
			continue
		}
		if !hubapi.IsStatus(err, http.StatusConflict) {
			d.log.Warn("simulator: dispatcher: assigning", "incident", id, "unit", r.Unit, "err", err)
			break
		}
		// Taken meanwhile (auto-dispatched elsewhere, went offline): the next one.
	}
	if sent == 0 {
		d.reg.with(id, func(rec *Record) { rec.failed++ })
	}
}
