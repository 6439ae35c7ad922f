// Package fleet is the simulated units, as a city's fleet: each one the
// real agent (kuaifan/agent) with its queue in memory, a simulated GPS
// receiver its patrol.Mover drives, its own MQTT connection through a radio
// link that can be cut, and a simulated officer who answers dispatches.
// Plan names and equips the fleet; Fleet starts, moves, drains and stops
// it, and sums its agents' counters; Unit is what faults and scenarios act on.
package fleet

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/agent"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/link"
	"kuaifan/simulator/internal/patrol"
	"kuaifan/simulator/internal/simclock"
)

// Config is what the fleet needs of the run's configuration.
type Config struct {
	Broker      string
	TLS         *tls.Config // for an ssl:// broker (the agents' -ca); nil: the system's roots
	TopicRoot   string
	StateDir    string        // each unit's agent-state.json below it; "" keeps the state in memory
	GPSInterval time.Duration // real time between fixes
	GPSNoiseM   float64
	Tick        time.Duration // real time between movement steps
	// Report, if set, changes each agent's reporting policy (load mode: a
	// fixed rate).
	Report       func(*agent.Config)
	ReconnectMax time.Duration
	StartRate    int  // agents started per second
	KeepRecent   bool // links remember recent telemetry (the duplicate fault)
	Officer      OfficerConfig
	Logger       *slog.Logger // the simulator's
	AgentLogger  *slog.Logger // the agents' (quieter)
	// Lapses are the units (by id) that do not keep their beat
	// (patrol.Mover.Lapse): the patrol plan's lapses.
	Lapses map[string]bool
}

// Fleet is the running units: their agents, their movement and their
// officers. Its goroutines: each agent's Run (restarted by agent_kill), and
// one stepper per CPU that moves a shard of the units and lets their
// officers act.
type Fleet struct {
	cfg     Config
	clock   *simclock.Clock
	city    *city.Model
	units   []*Unit
	byID    map[string]*Unit
	journal *journal.Journal
	count   officerCounts

	ctx    context.Context // the agents' lifetime
	agents sync.WaitGroup
	steps  sync.WaitGroup
	stop   context.CancelFunc // the steppers'
}

// officerCounts are the officers' doings, for the progress line and the report.
type officerCounts struct {
	dispatches, acks, declines, noAnswers, arrivals, autoArrivals,
	clears, cancels, retargets atomic.Uint64
	repositions, repositionArrivals, repositionAutoArrivals, repositionsDropped atomic.Uint64
}

// New builds the units of specs, secrets[i] specs[i]'s (agents created,
// nothing connected); the officers write what they do into jr. seed makes
// the movement and the officers repeatable.
func New(cfg Config, c *city.Model, specs []api.Enrolment, secrets []string,
	seed uint64, jr *journal.Journal) (*Fleet, error) {
	f := &Fleet{cfg: cfg, city: c, journal: jr, byID: make(map[string]*Unit, len(specs))}
	topics := protocol.Topics{Root: cfg.TopicRoot}
	for i, s := range specs {
		rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
		u := &Unit{
			f: f, spec: s, secret: secrets[i], rng: rng,
			mover:   patrol.NewMover(c, s.Type, rng),
			link:    link.New(topics.Unit(s.ID, protocol.KindTelemetry), cfg.KeepRecent, secureBroker(cfg.Broker)),
			gpsSeed: rng.Uint64(),
		}
		if cfg.Lapses[s.ID] {
			u.mover.Lapse(c) // on the unit's own random source: the others move as without lapses
		}
		u.pos = u.mover.Position()
		if cfg.StateDir != "" {
			u.stateDir = filepath.Join(cfg.StateDir, s.ID)
			if err := os.MkdirAll(u.stateDir, 0o700); err != nil {
				return nil, fmt.Errorf("simulator: %w", err)
			}
		}
		if err := u.newAgent(); err != nil {
			f.closeAgents()
			return nil, err
		}
		f.units = append(f.units, u)
		f.byID[s.ID] = u
	}
	return f, nil
}

// closeAgents releases the agents of a fleet that never started.
func (f *Fleet) closeAgents() {
	for _, u := range f.units {
		if a := u.current(); a != nil {
			a.Close()
		}
	}
}

// StartAgents starts the agents, at StartRate a second so a big fleet
// does not hit the broker with every CONNECT at once (real devices come up
// over minutes). It returns when every agent is started; ctx is their
// lifetime.
func (f *Fleet) StartAgents(ctx context.Context) {
	f.ctx = ctx
	rate := max(f.cfg.StartRate, 1)
	batch := max(rate/20, 1) // every 50 ms
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for i, u := range f.units {
		if i > 0 && i%batch == 0 {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		u.startAgent()
	}
}

// WaitConnected waits until every unit has connected once, or d has passed,
// or ctx ended; it returns how many have.
func (f *Fleet) WaitConnected(ctx context.Context, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, u := range f.units {
			if a := u.current(); a != nil && a.Stats().Connects > 0 {
				n++
			}
		}
		if n == len(f.units) || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// StartMoving starts the steppers on the run's clock: one per CPU, each
// moving a shard of the units.
func (f *Fleet) StartMoving(ctx context.Context, clock *simclock.Clock) {
	f.clock = clock
	sctx, stop := context.WithCancel(ctx)
	f.stop = stop
	shards := min(runtime.GOMAXPROCS(0), max(1, len(f.units)/64))
	for s := range shards {
		var mine []*Unit
		for i := s; i < len(f.units); i += shards {
			mine = append(mine, f.units[i])
		}
		f.steps.Go(func() { f.stepLoop(sctx, mine) })
	}
}

// stepLoop moves its units every Tick of real time, by the simulated time
// that passed, and lets their officers act.
func (f *Fleet) stepLoop(ctx context.Context, units []*Unit) {
	t := time.NewTicker(f.cfg.Tick)
	defer t.Stop()
	last := f.clock.Elapsed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := f.clock.Elapsed()
		dt := now - last
		last = now
		for _, u := range units {
			u.step(now, dt)
		}
	}
}

// StopMoving ends the steppers; the agents keep running (their queues drain).
func (f *Fleet) StopMoving() {
	if f.stop != nil {
		f.stop()
	}
	f.steps.Wait()
}

// Drain stops every unit's fixes (no new positions, so the queues can
// empty for the final count) and then waits until no agent holds an
// unconfirmed report, or d has passed; it returns how long it waited.
func (f *Fleet) Drain(d time.Duration) time.Duration {
	f.silence()
	start := time.Now()
	f.waitDrained(d)
	return time.Since(start)
}

// silence stops every unit's fixes: no new positions, so the queues can
// empty for the final count.
func (f *Fleet) silence() {
	for _, u := range f.units {
		u.mu.Lock()
		u.silent = true
		if u.gps != nil {
			u.gps.SetNoFix(true)
		}
		u.mu.Unlock()
	}
}

// StopAgents ends every agent (a clean shutdown: offline state, disconnect)
// and waits for them.
func (f *Fleet) StopAgents() {
	for _, u := range f.units {
		u.mu.Lock()
		if u.cancel != nil {
			u.cancel()
		}
		u.mu.Unlock()
	}
	f.agents.Wait()
}

// Totals sums every unit's agent statistics, over its incarnations.
func (f *Fleet) Totals() Totals {
	var t Totals
	for _, u := range f.units {
		s, past, lost := u.stats()
		t.add(s)
		t.add(past)
		t.LostByKill += lost
		if s.Connected {
			t.Connected++
		}
		if s.Connects > 0 || past.Connects > 0 {
			t.EverConnected++
		}
	}
	return t
}

// Totals are the agents' counters (agent.Stats) summed over the fleet.
type Totals struct {
	Positions, Events, Sent, Resent, Confirmed, Dropped, Queued, QueuedPositions uint64
	PublishErrors, Connects, ConnectFailures, Commands, Duplicates, AppendErrors uint64
	Connected                                                                    int    // units connected now
	EverConnected                                                                int    // units connected at least once
	LostByKill                                                                   uint64 // reports queued in incarnations killed (device resets)
}

func (t *Totals) add(s agent.Stats) {
	t.Positions += s.Positions
	t.Events += s.Events
	t.Sent += s.Sent
	t.Resent += s.Resent
	t.Confirmed += s.Confirmed
	t.Dropped += s.Dropped
	t.Queued += uint64(s.Queued)
	t.QueuedPositions += uint64(s.QueuedPositions)
	t.PublishErrors += s.PublishErrors
	t.Connects += s.Connects
	t.ConnectFailures += s.ConnectFailures
	t.Commands += s.Commands
	t.Duplicates += s.Duplicates
	t.AppendErrors += s.AppendErrors
}

// waitDrained waits until no agent holds an unconfirmed report, or d has
// passed.
func (f *Fleet) waitDrained(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f.Totals().Queued == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kills counts the agent_kill faults carried out.
func (f *Fleet) Kills() int {
	n := 0
	for _, u := range f.units {
		u.mu.Lock()
		n += u.kills
		u.mu.Unlock()
	}
	return n
}

// Officers reads the officers' counts.
func (f *Fleet) Officers() OfficersReport {
	c := &f.count
	return OfficersReport{Dispatches: c.dispatches.Load(), Acks: c.acks.Load(), Declines: c.declines.Load(),
		NoAnswers: c.noAnswers.Load(), Arrivals: c.arrivals.Load(), AutoArrivals: c.autoArrivals.Load(),
		Clears: c.clears.Load(), Cancels: c.cancels.Load(), Retargets: c.retargets.Load(),
		Repositions: c.repositions.Load(), RepositionArrivals: c.repositionArrivals.Load(),
		RepositionAutoArrivals: c.repositionAutoArrivals.Load(), RepositionsDropped: c.repositionsDropped.Load()}
}

// Jobs collects every unit's jobs, oldest first, with the scenario's refs
// (ref names an incident, "" if the scenario does not). Call it once the
// steppers have stopped (they own the jobs).
func (f *Fleet) Jobs(ref func(incident string) string) []Job {
	var out []Job
	for _, u := range f.units {
		for _, j := range u.jobs {
			jj := *j
			jj.Ref = ref(j.Incident)
			out = append(out, jj)
		}
	}
	slices.SortStableFunc(out, func(a, b Job) int { return cmp.Compare(a.DispatchedS, b.DispatchedS) })
	return out
}

// Pick returns a random unit (not one of skip), or nil after 20 tries.
func (f *Fleet) Pick(r *rand.Rand, skip func(*Unit) bool) *Unit {
	for range 20 {
		u := f.units[r.IntN(len(f.units))]
		if skip == nil || !skip(u) {
			return u
		}
	}
	return nil
}

// MovedUp lists the units that have settled at a move-up's spot (they
// patrol round it, not their beat), in the fleet's order. Call it once the
// steppers have stopped (they own the movers).
func (f *Fleet) MovedUp() []string {
	var ids []string
	for _, u := range f.units {
		if u.mover.MovedUp() {
			ids = append(ids, u.spec.ID)
		}
	}
	return ids
}

// Units are the fleet's units, in the order of the specs (not to be changed).
func (f *Fleet) Units() []*Unit { return f.units }

// Len is the number of units.
func (f *Fleet) Len() int { return len(f.units) }

// AgentLogger is l at Error and above, for the agents: they log every
// dispatch at Info and every lost link at Warn, which for hundreds of units
// drowns the simulator's own lines.
func AgentLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelError})
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.level} }

// secureBroker says whether the agents speak TLS to broker (ssl://, tls://,
// mqtts://): their links then carry TLS, into which nothing can be slipped.
func secureBroker(broker string) bool {
	scheme, _, _ := strings.Cut(broker, "://")
	return scheme == "ssl" || scheme == "tls" || scheme == "mqtts"
}
