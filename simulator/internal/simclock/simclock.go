// Package simclock is the simulation's time: it starts when the run's clock
// starts and runs a time scale faster than real time. Movement, the
// officers' delays, service times, the incident rate and the scenario's
// steps are in simulated time; what the hub sees is real.
package simclock

import (
	"context"
	"time"
)

// Clock is the simulation's time: it starts at the real time of the run's
// start and runs Scale times faster. Movement, the officers' delays, service
// times, the incident rate and the scenario's steps are in simulated time.
// What the hub sees is real: positions carry their real GPS time (the hub
// refuses timestamps ahead of its clock), and the hub's figures are real
// seconds, which the report multiplies by Scale.
type Clock struct {
	start time.Time // real, with its monotonic reading
	scale float64
}

// New starts a clock running scale times faster than real time.
func New(scale float64) *Clock {
	return &Clock{start: time.Now(), scale: scale}
}

// Now is the simulated time now.
func (c *Clock) Now() time.Time { return c.start.Add(c.Elapsed()) }

// Elapsed is the simulated time since the start.
func (c *Clock) Elapsed() time.Duration { return c.Sim(time.Since(c.start)) }

// Sim converts a real duration into simulated time.
func (c *Clock) Sim(real time.Duration) time.Duration {
	return time.Duration(float64(real) * c.scale)
}

// Real converts a simulated duration into real time.
func (c *Clock) Real(sim time.Duration) time.Duration {
	return time.Duration(float64(sim) / c.scale)
}

// SimSeconds converts real seconds (the hub's figures) into simulated ones.
func (c *Clock) SimSeconds(real float64) float64 { return real * c.scale }

// SleepUntil waits until the simulated time at (since the start) has come,
// or ctx ends; it reports whether the time came.
func (c *Clock) SleepUntil(ctx context.Context, at time.Duration) bool {
	d := c.Real(at - c.Elapsed())
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Sleep waits for a simulated duration, or until ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) bool {
	return c.SleepUntil(ctx, c.Elapsed()+d)
}
