package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"kuaifan/agent"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/link"
	"kuaifan/simulator/internal/patrol"
)

// Unit is one simulated patrol unit: the real agent (with its queue in
// memory and no terminal port), a simulated GPS receiver the unit's Mover
// drives, the radio link the agent dials through, and the officer who
// answers dispatches.
//
// The stepper goroutine owns rng, mover, officer and jobs. mu guards the
// agent's incarnation (agent_kill replaces it), the receiver, and the notes
// the agent's OnAssignment hands over; officer actions are taken with mu held,
// so a kill never comes between an action and the agent it was meant for
// (the agent calls OnAssignment outside its own locks: no lock cycle).
type Unit struct {
	f        *Fleet
	spec     api.Enrolment
	secret   string
	stateDir string
	gpsSeed  uint64
	link     *link.Link

	rng   *rand.Rand
	mover *patrol.Mover
	off   officer
	jobs  []*Job

	mu      sync.Mutex
	ag      *agent.Agent
	gps     *agent.SimGPS
	cancel  context.CancelFunc // the running incarnation's
	done    chan struct{}      // closed when its Run returned
	notes   []note
	pos     city.Point // where the unit is, as of the last step (for a restart off the stepper)
	noFix   bool       // a gps_nofix fault is on
	silent  bool       // the run is ending: no more fixes
	killed  bool       // between an agent_kill and the restart
	past    agent.Stats
	lost    uint64 // queued in incarnations killed (device resets)
	kills   int
	started bool
}

// note is one OnAssignment call: the assignment after a change the officer
// did not make; or, with moveUp set, one OnReposition call.
type note struct {
	as     agent.Assignment
	ok     bool
	moveUp *moveUpNote
}

// moveUpNote is a change of the unit's move-up (a reposition, additive
// 2026-12), in the agent's words; or, with restart, what the restarted
// agent has (r.ID "" for none).
type moveUpNote struct {
	r       agent.Reposition
	end     agent.RepositionEnd
	restart bool
}

// agentConfig is the unit's agent configuration.
func (u *Unit) agentConfig() agent.Config {
	c := agent.DefaultConfig()
	fc := &u.f.cfg
	c.Unit, c.Secret, c.Broker, c.TLS = u.spec.ID, u.secret, fc.Broker, fc.TLS
	c.TopicRoot = fc.TopicRoot
	c.GPS = ""
	c.Terminal = ""
	c.AutoAck = false
	c.MemoryQueue = true
	c.DataDir = u.stateDir
	c.Dial = u.link.Dial
	c.OnAssignment = u.notify
	c.OnReposition = u.notifyMoveUp
	c.ReconnectMax = fc.ReconnectMax
	c.Logger = fc.AgentLogger
	if fc.Report != nil {
		fc.Report(&c)
	}
	return c
}

// newAgent makes the unit's next incarnation (not started): an agent with a
// fresh in-memory queue and a receiver placed where the unit is.
func (u *Unit) newAgent() error {
	a, err := agent.New(u.agentConfig())
	if err != nil {
		return fmt.Errorf("simulator: unit %s: %w", u.spec.ID, err)
	}
	g := agent.NewSimGPS(agent.SimGPSConfig{Interval: u.f.cfg.GPSInterval, NoiseM: u.f.cfg.GPSNoiseM, Seed: u.gpsSeed + uint64(u.kills)})
	u.mu.Lock()
	g.Set(u.pos.Lat, u.pos.Lon, 0, 0)
	if u.noFix || u.silent {
		g.SetNoFix(true)
	}
	u.mu.Unlock()
	a.UseGPS(g)
	u.mu.Lock()
	u.ag, u.gps = a, g
	u.mu.Unlock()
	return nil
}

// startAgent runs the current incarnation until the fleet's context ends or
// a kill cancels it.
func (u *Unit) startAgent() {
	ctx, cancel := context.WithCancel(u.f.ctx)
	done := make(chan struct{})
	u.mu.Lock()
	a := u.ag
	u.cancel, u.done, u.started = cancel, done, true
	u.mu.Unlock()
	u.f.agents.Go(func() {
		defer close(done)
		defer cancel()
		if err := a.Run(ctx); err != nil {
			u.f.cfg.Logger.Error("simulator: agent stopped", "unit", u.spec.ID, "err", err)
		}
	})
}

// ID is the unit's id.
func (u *Unit) ID() string { return u.spec.ID }

// Type is the unit's type.
func (u *Unit) Type() protocol.UnitType { return u.spec.Type }

// Beat is the patrol pattern the unit was given (fixed when the fleet was
// built, so safe to read while it moves).
func (u *Unit) Beat() patrol.Beat { return u.mover.Beat() }

// Lapsing reports whether the unit was made not to keep its beat. Like
// Beat, it is fixed when the fleet is built; a move-up ends the lapse in
// the unit's moves, not here.
func (u *Unit) Lapsing() bool { return u.f.cfg.Lapses[u.spec.ID] }

// Link is the unit's radio link.
func (u *Unit) Link() *link.Link { return u.link }

// Agent is the running incarnation (nil while killed).
func (u *Unit) Agent() *agent.Agent { return u.current() }

// current is the running incarnation (nil while killed).
func (u *Unit) current() *agent.Agent {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ag
}

// notify is the agent's OnAssignment: it only hands over (the agent must not
// wait on the simulator).
func (u *Unit) notify(as agent.Assignment, ok bool) {
	u.mu.Lock()
	u.notes = append(u.notes, note{as: as, ok: ok})
	u.mu.Unlock()
}

// notifyMoveUp is the agent's OnReposition: like notify, it only hands over,
// in the same queue, so the officer hears of a move-up replaced by a
// dispatch before the dispatch.
func (u *Unit) notifyMoveUp(r agent.Reposition, end agent.RepositionEnd) {
	u.mu.Lock()
	u.notes = append(u.notes, note{moveUp: &moveUpNote{r: r, end: end}})
	u.mu.Unlock()
}

// step moves the unit through the dt of simulated time that just passed
// (under the orders it had), then lets its officer act at now, the
// simulated time since the run's start: an order given now moves the unit
// from the next step on, so no arrival comes sooner than the drive takes.
func (u *Unit) step(now, dt time.Duration) {
	p, speed, heading := u.mover.Step(dt)
	u.mu.Lock()
	u.pos = p
	if u.gps != nil {
		u.gps.Set(p.Lat, p.Lon, speed, heading)
	}
	notes := u.notes
	u.notes = nil
	u.mu.Unlock()
	for _, n := range notes {
		u.off.onNote(u, n, now)
	}
	u.off.tick(u, now)
}

// act takes an officer's action on the running agent; while the device is
// being reset there is none.
func (u *Unit) act(f func(*agent.Agent) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ag == nil || u.killed {
		return errDeviceOff
	}
	return f(u.ag)
}

// SOS presses the officer's SOS on the running agent.
func (u *Unit) SOS() (agent.SOS, error) {
	var s agent.SOS
	err := u.act(func(a *agent.Agent) error {
		var err error
		s, err = a.SOS()
		return err
	})
	return s, err
}

// WithGPS runs f on the current receiver, if there is one.
func (u *Unit) WithGPS(f func(*agent.SimGPS)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gps != nil && !u.killed {
		f(u.gps)
	}
}

// SetNoFix starts or ends a no-fix period (a tunnel, a car park).
func (u *Unit) SetNoFix(lost bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.noFix = lost
	if u.gps != nil && !u.silent {
		u.gps.SetNoFix(lost)
	}
}

// Kill stops the unit's agent abruptly — the link is cut first, so no
// goodbye reaches the broker and its Last Will fires: a simulated device
// reset. With the queue in memory, what it had queued dies with it; that is
// counted apart from real loss. Restart brings it back.
func (u *Unit) Kill() (lost uint64, err error) {
	u.mu.Lock()
	if u.killed || !u.started || u.ag == nil || u.silent {
		u.mu.Unlock()
		return 0, errDeviceOff
	}
	u.killed = true
	a, cancel, done := u.ag, u.cancel, u.done
	u.mu.Unlock()

	u.link.Cut()
	cancel()
	<-done
	s := a.Stats()
	u.mu.Lock()
	addStats(&u.past, s)
	u.lost += uint64(s.Queued)
	u.kills++
	u.ag, u.gps = nil, nil
	u.mu.Unlock()
	return uint64(s.Queued), nil
}

// Restart starts a fresh incarnation after a kill. The assignment and the
// move-up survive in agent-state.json (flash survives a reset), and the
// officer is told what the new agent has.
func (u *Unit) Restart() error {
	u.link.Restore()
	if u.f.ctx.Err() != nil {
		return nil // the run is over: stay off
	}
	if err := u.newAgent(); err != nil {
		return err
	}
	u.mu.Lock()
	u.killed = false
	as, ok := u.ag.Assignment()
	u.notes = append(u.notes, note{as: as, ok: ok})
	r, _ := u.ag.Reposition() // the zero move-up when there is none
	u.notes = append(u.notes, note{moveUp: &moveUpNote{r: r, restart: true}})
	u.mu.Unlock()
	u.startAgent()
	return nil
}

// Killed reports whether the unit is between a Kill and its Restart.
func (u *Unit) Killed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.killed
}

// stats returns the running incarnation's statistics, those of the killed
// ones summed, and what the kills lost.
func (u *Unit) stats() (cur, past agent.Stats, lost uint64) {
	u.mu.Lock()
	a := u.ag
	past, lost = u.past, u.lost
	u.mu.Unlock()
	if a != nil {
		cur = a.Stats()
	}
	return cur, past, lost
}

// addStats adds the counters of s to sum (the queue sizes too: a killed
// incarnation's queue is what it lost).
func addStats(sum *agent.Stats, s agent.Stats) {
	sum.Positions += s.Positions
	sum.Events += s.Events
	sum.Sent += s.Sent
	sum.Resent += s.Resent
	sum.Confirmed += s.Confirmed
	sum.Dropped += s.Dropped
	sum.PublishErrors += s.PublishErrors
	sum.Connects += s.Connects
	sum.ConnectFailures += s.ConnectFailures
	sum.Commands += s.Commands
	sum.Duplicates += s.Duplicates
	sum.AppendErrors += s.AppendErrors
}
