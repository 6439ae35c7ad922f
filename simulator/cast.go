package simulator

import (
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"kuaifan/simulator/internal/director"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/report"
	"kuaifan/simulator/internal/simclock"
)

// cast is who acts in a run besides the units — the call-taker, the
// dispatcher, the fault injector and, with a scenario, its director — and
// the goroutines they run on.
type cast struct {
	calls       *dispatch.CallTaker
	disp        *dispatch.Dispatcher
	faults      *faults.Injector
	randomFault bool               // faults are injected at random, not only by the scenario
	dir         *director.Director // nil without a scenario

	cover *report.CoverageSampler // nil: the coverage is not sampled

	active      sync.WaitGroup // the call-taker, the faults, the director: the run's time
	dispatching sync.WaitGroup // the dispatcher: until the last incidents have settled
	progress    sync.WaitGroup
	sampling    sync.WaitGroup // the coverage sampler: the run's time
	stopDisp    context.CancelFunc
	stopProg    context.CancelFunc
}

// newCast sets up the run's cast, each with a random source of its own
// drawn from the seed. A fault that cannot be injected gets a note in rep.
func (c Config) newCast(api *hubapi.Client, f *fleet.Fleet, clock *simclock.Clock, reg *dispatch.Registry,
	jr *journal.Journal, rep *Report) *cast {
	log := c.Logger
	k := &cast{
		calls: dispatch.NewCallTaker(api, clock, reg, jr, log, c.City, *c.Incidents, rand.New(rand.NewPCG(c.Seed, 0xca11))),
		disp:  dispatch.NewDispatcher(c.Dispatcher, api, clock, reg, jr, log),
		faults: faults.New(faults.Config{Enabled: c.Faults, Every: c.FaultEvery, Broker: c.BrokerURL, TLS: c.tls, Restart: c.BrokerRestart,
			SOSEvery: sosEvery(c.SOSPerHour)}, f, clock, jr, log, rand.New(rand.NewPCG(c.Seed, 0xfa17))),
	}
	k.randomFault = k.faults.Random()
	if c.CoverageEvery > 0 {
		k.cover = report.NewCoverageSampler(api, clock, c.CoverageEvery)
	}
	if c.Scenario != nil {
		k.dir = director.New(*c.Scenario, f, k.calls, k.faults, api, clock, reg, jr, log, rand.New(rand.NewPCG(c.Seed, 0x5ce)))
		k.faults.Spare(k.dir.InOutage)
	}
	if slices.Contains(c.Faults, faults.BrokerRestart) && c.BrokerRestart == nil {
		rep.Notes = append(rep.Notes, "broker_restart skipped: it needs an external broker and -broker-restart-cmd")
	}
	return k
}

// sosEvery is the mean interval of perHour sos an hour; 0 for none.
func sosEvery(perHour float64) time.Duration {
	if perHour <= 0 {
		return 0
	}
	return time.Duration(float64(time.Hour) / perHour)
}

// start sets everyone going: the call-taker, the random faults and the
// director and the coverage sampler until runCtx ends; the dispatcher
// until stopDispatcher (the last incidents settle after the run's time);
// the progress line on out, if not nil, until stop.
func (k *cast) start(runCtx, agentsCtx context.Context, out io.Writer, f *fleet.Fleet, reg *dispatch.Registry, clock *simclock.Clock) {
	dispCtx, stopDisp := context.WithCancel(agentsCtx)
	k.stopDisp = stopDisp
	k.dispatching.Go(func() { k.disp.Run(dispCtx) })
	k.active.Go(func() { k.calls.Run(runCtx) })
	if k.randomFault {
		k.active.Go(func() { k.faults.Run(runCtx) })
	}
	if k.dir != nil {
		k.active.Go(func() { k.dir.Run(runCtx) })
	}
	if k.cover != nil {
		k.sampling.Go(func() { k.cover.Run(runCtx) })
	}
	progCtx, stopProg := context.WithCancel(agentsCtx)
	k.stopProg = stopProg
	if out != nil {
		k.progress.Go(func() { report.Progress(progCtx, out, f, reg, clock, k.calls) })
	}
}

// waitRun waits for the run's time to be over: runCtx ended, the
// call-taker, the scenario, the faults and the coverage sampler done, the
// faults in progress ended (links restored, agents restarted).
func (k *cast) waitRun(runCtx context.Context) {
	<-runCtx.Done()
	k.active.Wait()
	k.sampling.Wait()
	k.faults.Wait()
}

// stopDispatcher stops the dispatcher and waits for it.
func (k *cast) stopDispatcher() {
	k.stopDisp()
	k.dispatching.Wait()
}

// stop stops the dispatcher (if it still runs) and the progress line.
func (k *cast) stop() {
	k.stopDispatcher()
	k.stopProg()
	k.progress.Wait()
}
