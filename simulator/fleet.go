package simulator

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/agent"
	"kuaifan/protocol"
)

// unitSpec is what the simulator enrols for one unit.
type unitSpec struct {
	ID           string
	Type         protocol.UnitType
	Callsign     string
	Capabilities []string
}

// typeShare is one unit type's share of the fleet.
type typeShare struct {
	kind   protocol.UnitType
	weight int    // of 20
	short  string // in unit ids
}

// fleetMix is the fleet's composition — car 40 %, motorcycle 25 %, foot
// 20 %, volunteer 15 % — as weights of a smooth weighted round robin, so
// every prefix of the fleet has close to these shares and every 20 units
// exactly: a small test fleet is as mixed as a city's.
var fleetMix = [...]typeShare{
	{protocol.TypeCar, 8, "car"},
	{protocol.TypeMotorcycle, 5, "moto"},
	{protocol.TypeFoot, 4, "foot"},
	{protocol.TypeVolunteer, 3, "vol"},
}

// planFleet names n units "{prefix}-car-0001", "{prefix}-moto-0002", …
// (numbered across the fleet) with callsigns as the city's radio uses them
// ("湘A-0001" for cars, "铁骑-0002" for motorcycle squads, "步巡-" foot,
// "志愿-" volunteers). Capabilities follow a fixed pattern per type, so the
// same fleet is enrolled every time: a third of the cars and a quarter of
// the motorcycles armed, a quarter of the cars and a fifth of the rest with
// medical kit, one car in ten with a dog (k9).
func planFleet(prefix string, n int) ([]unitSpec, error) {
	width := max(4, len(fmt.Sprint(n)))
	if longest := fmt.Sprintf("%s-moto-%0*d", prefix, width, n); !protocol.ValidUnitID(longest) {
		return nil, fmt.Errorf("simulator: prefix %q gives unit ids like %q, not [A-Za-z0-9_-]{1,32}", prefix, longest)
	}
	var current [len(fleetMix)]int
	var count [len(fleetMix)]int
	specs := make([]unitSpec, 0, n)
	for i := 1; i <= n; i++ {
		best := 0
		for j, t := range fleetMix {
			current[j] += t.weight
			if current[j] > current[best] {
				best = j
			}
		}
		current[best] -= 20
		count[best]++
		k := count[best] // this unit's number among its type
		t := fleetMix[best]
		s := unitSpec{ID: fmt.Sprintf("%s-%s-%0*d", prefix, t.short, width, i), Type: t.kind, Capabilities: []string{}}
		add := func(every, offset int, capability string) {
			if k%every == offset%every {
				s.Capabilities = append(s.Capabilities, capability)
			}
		}
		switch t.kind {
		case protocol.TypeCar:
			s.Callsign = fmt.Sprintf("湘A-%0*d", width, i)
			add(3, 1, "armed")
			add(4, 2, "medical")
			add(10, 5, "k9")
		case protocol.TypeMotorcycle:
			s.Callsign = fmt.Sprintf("铁骑-%0*d", width, i)
			add(4, 1, "armed")
			add(5, 3, "medical")
		case protocol.TypeFoot:
			s.Callsign = fmt.Sprintf("步巡-%0*d", width, i)
			add(5, 2, "medical")
		default:
			s.Callsign = fmt.Sprintf("志愿-%0*d", width, i)
			add(5, 4, "medical")
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// fleetConfig is what the fleet needs of the run's configuration.
type fleetConfig struct {
	Broker      string
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
}

// fleet is the running units: their agents, their movement and their
// officers. Its goroutines: each agent's Run (restarted by agent_kill), and
// one stepper per CPU that moves a shard of the units and lets their
// officers act.
type fleet struct {
	cfg     fleetConfig
	clock   *simClock
	city    *CityModel
	units   []*unit
	byID    map[string]*unit
	journal *journal
	reg     *registry
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
}

// newFleet builds the units (agents created, nothing connected). seed makes
// the movement and the officers repeatable.
// The clock is set before the units start moving.
func newFleet(cfg fleetConfig, city *CityModel, specs []unitSpec, secrets []string,
	seed uint64, jr *journal, reg *registry) (*fleet, error) {
	f := &fleet{cfg: cfg, city: city, journal: jr, reg: reg, byID: make(map[string]*unit, len(specs))}
	topics := protocol.Topics{Root: cfg.TopicRoot}
	for i, s := range specs {
		rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
		u := &unit{
			f: f, spec: s, secret: secrets[i], rng: rng,
			mover:   NewMover(city, s.Type, rng),
			link:    &link{telemetryTopic: topics.Unit(s.ID, protocol.KindTelemetry), keep: cfg.KeepRecent},
			gpsSeed: rng.Uint64(),
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
func (f *fleet) closeAgents() {
	for _, u := range f.units {
		if a := u.current(); a != nil {
			a.Close()
		}
	}
}

// startAgents starts the agents, at StartRate a second so a big fleet
// does not hit the broker with every CONNECT at once (real devices come up
// over minutes). It returns when every agent is started; ctx is their
// lifetime.
func (f *fleet) startAgents(ctx context.Context) {
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

// waitConnected waits until every unit has connected once, or d has passed,
// or ctx ended; it returns how many have.
func (f *fleet) waitConnected(ctx context.Context, d time.Duration) int {
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

// startMoving starts the steppers (the clock must be set): one per CPU, each
// moving a shard of the units.
func (f *fleet) startMoving(ctx context.Context) {
	sctx, stop := context.WithCancel(ctx)
	f.stop = stop
	shards := min(runtime.GOMAXPROCS(0), max(1, len(f.units)/64))
	for s := range shards {
		var mine []*unit
		for i := s; i < len(f.units); i += shards {
			mine = append(mine, f.units[i])
		}
		f.steps.Go(func() { f.stepLoop(sctx, mine) })
	}
}

// stepLoop moves its units every Tick of real time, by the simulated time
// that passed, and lets their officers act.
func (f *fleet) stepLoop(ctx context.Context, units []*unit) {
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

// stopMoving ends the steppers; the agents keep running (their queues drain).
func (f *fleet) stopMoving() {
	if f.stop != nil {
		f.stop()
	}
	f.steps.Wait()
}

// silence stops every unit's fixes: no new positions, so the queues can
// empty for the final count.
func (f *fleet) silence() {
	for _, u := range f.units {
		u.mu.Lock()
		u.silent = true
		if u.gps != nil {
			u.gps.SetNoFix(true)
		}
		u.mu.Unlock()
	}
}

// stopAgents ends every agent (a clean shutdown: offline state, disconnect)
// and waits for them.
func (f *fleet) stopAgents() {
	for _, u := range f.units {
		u.mu.Lock()
		if u.cancel != nil {
			u.cancel()
		}
		u.mu.Unlock()
	}
	f.agents.Wait()
}

// totals sums every unit's agent statistics, over its incarnations.
func (f *fleet) totals() fleetTotals {
	var t fleetTotals
	for _, u := range f.units {
		s, past, lost := u.stats()
		t.add(s)
		t.add(past)
		t.lostByKill += lost
		if s.Connected {
			t.connected++
		}
		if s.Connects > 0 || past.Connects > 0 {
			t.everConnected++
		}
	}
	return t
}

// fleetTotals are the agents' counters summed.
type fleetTotals struct {
	positions, events, sent, resent, confirmed, dropped, queued, queuedPositions uint64
	publishErrors, connects, connectFailures, commands, duplicates, appendErrors uint64
	connected, everConnected                                                     int
	lostByKill                                                                   uint64
}

func (t *fleetTotals) add(s agent.Stats) {
	t.positions += s.Positions
	t.events += s.Events
	t.sent += s.Sent
	t.resent += s.Resent
	t.confirmed += s.Confirmed
	t.dropped += s.Dropped
	t.queued += uint64(s.Queued)
	t.queuedPositions += uint64(s.QueuedPositions)
	t.publishErrors += s.PublishErrors
	t.connects += s.Connects
	t.connectFailures += s.ConnectFailures
	t.commands += s.Commands
	t.duplicates += s.Duplicates
	t.appendErrors += s.AppendErrors
}

// waitDrained waits until no agent holds an unconfirmed report, or d has
// passed.
func (f *fleet) waitDrained(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f.totals().queued == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle lets the dispatcher and the units go on after the run's time until
// every incident the run created has been dispatched (or closed), or d has
// passed.
func (f *fleet) settle(ctx context.Context, api *hubAPI, reg *registry, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		incs, err := api.incidents(ctx, true)
		if err == nil {
			waiting := 0
			for i := range incs {
				if !reg.with(incs[i].ID, func(*incidentRec) {}) {
					continue // not this run's
				}
				if incs[i].Status != "closed" && !incs[i].has("dispatched") {
					waiting++
				}
			}
			if waiting == 0 {
				return
			}
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// kills counts the agent_kill faults carried out.
func (f *fleet) kills() int {
	n := 0
	for _, u := range f.units {
		u.mu.Lock()
		n += u.kills
		u.mu.Unlock()
	}
	return n
}

// officersReport reads the officers' counts.
func (f *fleet) officersReport() OfficersReport {
	c := &f.count
	return OfficersReport{Dispatches: c.dispatches.Load(), Acks: c.acks.Load(), Declines: c.declines.Load(),
		NoAnswers: c.noAnswers.Load(), Arrivals: c.arrivals.Load(), AutoArrivals: c.autoArrivals.Load(),
		Clears: c.clears.Load(), Cancels: c.cancels.Load(), Retargets: c.retargets.Load()}
}

// jobs collects every unit's jobs, oldest first, with the scenario's refs.
// Call it once the steppers have stopped (they own the jobs).
func (f *fleet) jobs(reg *registry) []Job {
	var out []Job
	for _, u := range f.units {
		for _, j := range u.jobs {
			jj := *j
			jj.Ref = reg.ref(j.Incident)
			out = append(out, jj)
		}
	}
	slices.SortStableFunc(out, func(a, b Job) int { return cmp.Compare(a.DispatchedS, b.DispatchedS) })
	return out
}

// pick returns a random unit (not one of skip).
func (f *fleet) pick(r *rand.Rand, skip func(*unit) bool) *unit {
	for range 20 {
		u := f.units[r.IntN(len(f.units))]
		if skip == nil || !skip(u) {
			return u
		}
	}
	return nil
}
