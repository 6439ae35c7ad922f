package loadtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"kuaifan/agent"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
)

// FixedRate is a fleet.Config.Report that has every fix reported, every
// interval, whatever the unit does: a fixed rate rather than the agents'
// adaptive policy.
func FixedRate(interval time.Duration) func(*agent.Config) {
	return func(c *agent.Config) {
		c.Report.Dispatched, c.Report.Fast, c.Report.Moving, c.Report.Patrol, c.Report.Stationary =
			interval, interval, interval, interval, interval
	}
}

// Window is the measured window, from Open to Close.
type Window struct {
	f   *fleet.Fleet
	api *hubapi.Client
	st  *Stream // nil: no latency

	t0   fleet.Totals
	p0   procSample
	m0   hubapi.Metrics
	merr error
}

// Open starts the window: the fleet's counters, this process's CPU, the
// hub's /metrics, and the stream's latency samples from now on.
func Open(ctx context.Context, f *fleet.Fleet, api *hubapi.Client, st *Stream) *Window {
	w := &Window{f: f, api: api, st: st}
	w.t0, w.p0 = f.Totals(), sampleProcOr()
	w.m0, w.merr = api.Metrics(ctx)
	if st != nil {
		st.measure(true)
	}
	return w
}

// Close ends the window and writes its figures into r: the throughput, the
// simulator's CPU and goroutines, the hub's ingest counters.
func (w *Window) Close(ctx context.Context, r *Report) {
	t1, p1 := w.f.Totals(), sampleProcOr()
	m1, merr2 := w.api.Metrics(context.WithoutCancel(ctx))
	if w.st != nil {
		w.st.measure(false)
	}
	t0, p0, m0 := w.t0, w.p0, w.m0
	win := p1.at.Sub(p0.at).Seconds()
	r.WindowS = win
	r.QueuedPerS = float64(t1.Positions-t0.Positions) / win
	r.SentPerS = float64(t1.Sent-t0.Sent) / win
	r.ConfirmedPerS = float64(t1.Confirmed-t0.Confirmed) / win
	r.CPUCores = (p1.cpu - p0.cpu).Seconds() / win
	r.CPUPerUnitPct = 100 * r.CPUCores / float64(r.Units)
	r.Goroutines = runtime.NumGoroutine()
	r.GoroutinesPerUnit = float64(r.Goroutines) / float64(r.Units)
	if m0 == nil || m1 == nil {
		r.HubUnavailable = fmt.Sprint(errors.Join(w.merr, merr2))
	} else {
		r.HubReceivedPerS = hubapi.Delta(m0, m1, "kuaifan_ingest_received_total", "kind", "telemetry") / win
		r.HubCommittedPerS = hubapi.Delta(m0, m1, "kuaifan_ingest_results_total", "kind", "telemetry", "result", "committed") / win
		r.HubDropped = hubapi.Delta(m0, m1, "kuaifan_broker_publish_dropped_total")
	}
}

// Baseline is this process's memory before the fleet, for the memory per
// unit.
type Baseline struct{ p procSample }

// Before samples this process before the fleet starts.
func Before() Baseline {
	p, _ := sampleProc()
	return Baseline{p}
}

// Finish writes the figures of the whole run into r once the last reports
// had their final wait: delivery and loss from the fleet's counters t, the
// latency from st (nil: none), this process's peak memory over base.
func (r *Report) Finish(t fleet.Totals, st *Stream, base Baseline) {
	r.Positions, r.Confirmed, r.Thinned, r.Resent = t.Positions, t.Confirmed, t.Dropped, t.Resent
	if out := t.Confirmed + t.Dropped; t.Positions+t.Events > out {
		r.Lost = t.Positions + t.Events - out
	}
	if st != nil {
		r.Latency, r.StreamFrames = st.Latency()
		if e := st.Err(); e != "" {
			r.StreamError = e
		}
	}
	pEnd := sampleProcOr()
	r.MemPeakBytes = pEnd.hwmBytes
	r.MemPerUnitBytes = (pEnd.hwmBytes - base.p.rssBytes) / int64(r.Units)
	if r.Lost > 0 {
		r.Notes = append(r.Notes, "lost = reports still unconfirmed after the final wait")
	}
}
