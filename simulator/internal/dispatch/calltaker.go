package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/simclock"
)

// CallTaker creates incidents at the generator's rate, as calls come in,
// and the scenario's incidents when told.
type CallTaker struct {
	api   *hubapi.Client
	clock *simclock.Clock
	reg   *Registry
	jr    *journal.Journal
	log   *slog.Logger

	mu      sync.Mutex
	gen     *incident.Generator
	changed chan struct{} // the rate changed: draw again
	errors  int
}

// NewCallTaker is a call-taker reporting the mix's incidents in the city
// to the hub, registering them in reg.
func NewCallTaker(api *hubapi.Client, clock *simclock.Clock, reg *Registry, jr *journal.Journal, log *slog.Logger,
	c *city.Model, mix incident.Mix, rng *rand.Rand) *CallTaker {
	return &CallTaker{api: api, clock: clock, reg: reg, jr: jr, log: log,
		gen: incident.NewGenerator(c, mix, rng), changed: make(chan struct{}, 1)}
}

// SetRate changes the incident rate (per simulated hour) from now on.
func (c *CallTaker) SetRate(perHour float64) {
	c.mu.Lock()
	c.gen.SetRate(perHour)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Rate is the incident rate now (per simulated hour).
func (c *CallTaker) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen.Rate()
}

// Run reports incidents until ctx ends. The process is Poisson (memoryless),
// so after a rate change the pending incident is drawn again.
func (c *CallTaker) Run(ctx context.Context) {
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
		if _, err := c.Create(ctx, inc, ""); err != nil && ctx.Err() == nil {
			c.mu.Lock()
			c.errors++
			c.mu.Unlock()
			c.log.Warn("simulator: reporting an incident failed", "err", err)
		}
	}
}

// Create reports one incident and registers it, under the scenario's ref
// if it has one.
func (c *CallTaker) Create(ctx context.Context, n api.NewIncident, ref string) (api.Incident, error) {
	inc, err := c.api.CreateIncident(ctx, n)
	if err != nil {
		return inc, fmt.Errorf("reporting a %s incident: %w", n.Kind, err)
	}
	now := c.clock.Elapsed()
	c.reg.add(&Record{ID: inc.ID, Ref: ref, Kind: n.Kind, Priority: n.Priority, CreatedS: now.Seconds(),
		Auto: len(inc.Assignments) > 0, At: city.Point{Lat: n.Lat, Lon: n.Lon}})
	if ref != "" {
		c.jr.Add(journal.Entry{AtS: now.Seconds(), Kind: "incident", Incident: inc.ID, Ref: ref,
			Detail: fmt.Sprintf("%s P%d at %.5f, %.5f: %s; %d unit(s) sent by the hub", n.Kind, n.Priority, n.Lat, n.Lon, n.Summary, len(inc.Assignments))})
	}
	return inc, nil
}
