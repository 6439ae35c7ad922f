package fleet

import (
	"errors"
	"fmt"
	"math"
	"time"

	"kuaifan/agent"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/patrol"
)

// OfficerConfig is how the simulated officers answer. Times are simulated.
type OfficerConfig struct {
	// AckMedian and AckSigma shape the time an officer takes to acknowledge
	// a dispatch on the terminal: lognormal, median AckMedian, σ of its log
	// AckSigma (0.5: nine in ten within about 2.3 × the median).
	AckMedian time.Duration
	AckSigma  float64
	// DeclineRate is the share of dispatches declined (after the same
	// delay); NoAnswerRate the share never answered, which the hub's ack
	// deadline turns into a timeout and a cancel.
	DeclineRate  float64
	NoAnswerRate float64
	// ServiceMin and ServiceMax bound the time on scene, drawn uniformly.
	ServiceMin, ServiceMax time.Duration
}

// Defaults of OfficerConfig.
const (
	DefaultAckMedian    = 6 * time.Second
	DefaultAckSigma     = 0.5
	DefaultDeclineRate  = 0.03
	DefaultNoAnswerRate = 0.02
	DefaultServiceMin   = 5 * time.Minute
	DefaultServiceMax   = 15 * time.Minute
)

// Fill fills the zero fields with the defaults and checks the rest.
func (c *OfficerConfig) Fill() error {
	if c.AckMedian == 0 {
		c.AckMedian = DefaultAckMedian
	}
	if c.AckSigma == 0 {
		c.AckSigma = DefaultAckSigma
	}
	if c.ServiceMin == 0 && c.ServiceMax == 0 {
		c.ServiceMin, c.ServiceMax = DefaultServiceMin, DefaultServiceMax
	}
	switch {
	case c.AckMedian < 0 || c.AckSigma < 0:
		return errors.New("officer: the ack delay's median and sigma cannot be negative")
	case c.DeclineRate < 0 || c.NoAnswerRate < 0 || c.DeclineRate+c.NoAnswerRate > 1:
		return fmt.Errorf("officer: decline rate %v and no-answer rate %v must be shares adding up to at most 1", c.DeclineRate, c.NoAnswerRate)
	case c.ServiceMin < 0 || c.ServiceMax < c.ServiceMin:
		return fmt.Errorf("officer: service time %v…%v is not a range", c.ServiceMin, c.ServiceMax)
	}
	return nil
}

// DefaultOfficerConfig is the officers as a run has them without options.
func DefaultOfficerConfig() OfficerConfig {
	return OfficerConfig{AckMedian: DefaultAckMedian, AckSigma: DefaultAckSigma, DeclineRate: DefaultDeclineRate,
		NoAnswerRate: DefaultNoAnswerRate, ServiceMin: DefaultServiceMin, ServiceMax: DefaultServiceMax}
}

// OfficersReport counts what the simulated officers did.
type OfficersReport struct {
	Dispatches   uint64 `json:"dispatches"`
	Acks         uint64 `json:"acks"`
	Declines     uint64 `json:"declines"`
	NoAnswers    uint64 `json:"no_answers"` // the hub timed out and cancelled
	Arrivals     uint64 `json:"arrivals"`
	AutoArrivals uint64 `json:"auto_arrivals"` // of which the agent's own, by position
	Clears       uint64 `json:"clears"`
	Cancels      uint64 `json:"cancels"`
	Retargets    uint64 `json:"retargets"` // update_location received while on a job
	// Move-ups (the hub's reposition, additive 2026-12): received (a new
	// move-up id), reported there (by the officer or, of those, by the
	// agent's own radius), and dropped (cancelled, or replaced by a dispatch
	// or another move-up).
	Repositions            uint64 `json:"repositions"`
	RepositionArrivals     uint64 `json:"reposition_arrivals"`
	RepositionAutoArrivals uint64 `json:"reposition_auto_arrivals"`
	RepositionsDropped     uint64 `json:"repositions_dropped"`
}

// Job is one dispatch a unit received, as its officer lived it. Times are
// simulated seconds since the start.
type Job struct {
	Unit        string     `json:"unit"`
	Type        string     `json:"type"`
	Incident    string     `json:"incident"`
	Ref         string     `json:"ref,omitempty"`
	DispatchedS float64    `json:"dispatched_s"`
	AckS        *float64   `json:"ack_s,omitempty"`
	ArrivedS    *float64   `json:"arrived_s,omitempty"`
	EndedS      *float64   `json:"ended_s,omitempty"`
	End         string     `json:"end"`                  // cleared, cancelled, declined, timeout, replaced, running
	ArrivedBy   string     `json:"arrived_by,omitempty"` // officer (pressed arrived) or agent (by position)
	From        city.Point `json:"from"`                 // where the unit was at the ack (at the dispatch before one)
	Target      city.Point `json:"target"`               // the target at the arrival (or now)
	At          city.Point `json:"at"`                   // where it arrived
	Retargets   int        `json:"retargets"`
	ResponseMPS float64    `json:"response_mps"`
}

// phase is where an officer is with a dispatch.
type phase int

const (
	patrolling phase = iota
	answering        // dispatched; will ack or decline at due
	ignoring         // dispatched; will never answer
	enroute
	onScene // until due
)

// officer is the person with the unit: told of dispatches by the agent
// (OnAssignment, through the unit's notes), answering after a human delay,
// driving there (the unit's Mover), staying, clearing. Told of move-ups
// (OnReposition), it drives to the spot while patrolling — available for
// a dispatch all the way — says so there if the agent has not, and
// patrols round it. Its methods run on the unit's stepper.
type officer struct {
	phase    phase
	incident string
	target   city.Point
	due      time.Duration // simulated time of the next action
	decline  bool
	job      *Job
	// moveUp is the move-up the unit is driving to ("" none). A dispatch
	// ends it: the agent drops the move-up and says so before the dispatch.
	moveUp string
}

var errDeviceOff = errors.New("the device is resetting")

// onNote takes in a change the agent made: a dispatch, a cancel, a new
// target, an arrival it detected by position.
func (o *officer) onNote(u *Unit, n note, now time.Duration) {
	f := u.f
	if n.moveUp != nil {
		o.onMoveUp(u, *n.moveUp, now)
		return
	}
	switch {
	case !n.ok:
		if o.phase == patrolling {
			return
		}
		end := "cancelled"
		if o.phase == ignoring {
			end = "timeout" // the hub gave up waiting for the ack
			f.count.noAnswers.Add(1)
		}
		f.count.cancels.Add(1)
		o.finish(u, now, end)
	case n.as.Incident != o.incident:
		if o.phase != patrolling {
			o.finish(u, now, "replaced")
		}
		o.begin(u, n.as, now)
	default:
		target := city.Point{Lat: n.as.Lat, Lon: n.as.Lon}
		if target != o.target {
			o.retarget(u, target, now)
		}
		if n.as.State == agent.StateOnScene && o.phase != onScene {
			o.arrive(u, now, "agent")
		}
	}
}

// onMoveUp takes in a change of the move-up that the agent made: a new one
// (or its spot moved), its cancel, a dispatch or another move-up replacing
// it, an arrival the agent detected by position; or what a restarted agent
// has.
func (o *officer) onMoveUp(u *Unit, n moveUpNote, now time.Duration) {
	f := u.f
	r := n.r
	spot := city.Point{Lat: r.Lat, Lon: r.Lon}
	switch {
	case n.restart && r.ID == "":
		// The device reset without it (a state kept in memory only).
		if o.moveUp != "" {
			o.moveUp = ""
			if _, ok := u.mover.MovingUp(); ok {
				u.mover.Patrol()
			}
		}
	case n.end == agent.RepositionOn:
		if r.ID != o.moveUp && !n.restart {
			f.count.repositions.Add(1)
			f.journal.UnitEvent(now, "reposition", u.spec.ID, r.ID,
				fmt.Sprintf("move up to %.5f, %.5f, %.0f m away", r.Lat, r.Lon, u.mover.DistanceTo(spot)))
		}
		// The agent takes a move-up only without an assignment, so the
		// officer is on patrol; a unit on a job would finish it first.
		if o.phase != patrolling {
			f.cfg.Logger.Warn("simulator: move-up while on a job; not driven", "unit", u.spec.ID, "move_up", r.ID, "incident", o.incident)
			return
		}
		o.moveUp = r.ID
		u.mover.Reposition(spot)
	case n.end == agent.RepositionArrived:
		f.count.repositionArrivals.Add(1)
		f.count.repositionAutoArrivals.Add(1)
		f.journal.UnitEvent(now, "moved_up", u.spec.ID, r.ID, fmt.Sprintf("at %.0f m from the spot (agent)", u.mover.DistanceTo(spot)))
		if o.moveUp == r.ID {
			o.moveUp = "" // the unit drives on to the spot and patrols there
		}
	default: // cancelled or replaced
		f.count.repositionsDropped.Add(1)
		f.journal.UnitEvent(now, "move_up_"+string(n.end), u.spec.ID, r.ID, "")
		if o.moveUp != r.ID {
			return
		}
		o.moveUp = ""
		// Called off: back to the pattern from where the unit is. Replaced:
		// the note that follows (the dispatch, the next move-up) says where
		// to; until the officer acks, the unit drives on.
		if _, ok := u.mover.MovingUp(); ok && n.end == agent.RepositionCancelled && o.phase == patrolling {
			u.mover.Patrol()
		}
	}
}

// begin is a new dispatch (or, after a device reset, the assignment the
// restarted agent restored).
func (o *officer) begin(u *Unit, as agent.Assignment, now time.Duration) {
	f := u.f
	o.incident, o.target = as.Incident, city.Point{Lat: as.Lat, Lon: as.Lon}
	o.job = &Job{Unit: u.spec.ID, Type: string(u.spec.Type), Incident: as.Incident,
		DispatchedS: now.Seconds(), ResponseMPS: patrol.ResponseSpeed(u.spec.Type), End: "running",
		Target: o.target, From: u.mover.Position()}
	u.jobs = append(u.jobs, o.job)
	f.count.dispatches.Add(1)
	f.journal.UnitEvent(now, "dispatched", u.spec.ID, as.Incident,
		fmt.Sprintf("%.0f m away", u.mover.DistanceTo(o.target)))
	switch as.State {
	case agent.StateEnroute:
		o.phase = enroute
		u.mover.GoTo(o.target)
		return
	case agent.StateOnScene:
		o.phase = onScene
		o.due = now + o.serviceTime(u)
		u.mover.Hold()
		return
	}
	cfg := &f.cfg.Officer
	delay := time.Duration(float64(cfg.AckMedian) * math.Exp(cfg.AckSigma*u.rng.NormFloat64()))
	switch r := u.rng.Float64(); {
	case r < cfg.DeclineRate:
		o.phase, o.decline, o.due = answering, true, now+delay
	case r < cfg.DeclineRate+cfg.NoAnswerRate:
		o.phase = ignoring
	default:
		o.phase, o.decline, o.due = answering, false, now+delay
	}
}

func (o *officer) retarget(u *Unit, target city.Point, now time.Duration) {
	f := u.f
	o.target = target
	f.count.retargets.Add(1)
	if o.job != nil {
		o.job.Retargets++
		o.job.Target = target
	}
	f.journal.UnitEvent(now, "retarget", u.spec.ID, o.incident,
		fmt.Sprintf("update_location to %.5f, %.5f, %.0f m away", target.Lat, target.Lon, u.mover.DistanceTo(target)))
	if o.phase == enroute {
		u.mover.GoTo(target)
	}
}

// tick takes the officer's due action.
func (o *officer) tick(u *Unit, now time.Duration) {
	switch o.phase {
	case patrolling:
		o.movedUp(u, now)
	case answering:
		if now < o.due {
			return
		}
		inc := o.incident
		if o.decline {
			err := u.act(func(a *agent.Agent) error { return a.Decline(inc, "") })
			if err == nil {
				u.f.count.declines.Add(1)
				o.finish(u, now, "declined")
			} else {
				o.resync(u, now, err)
			}
			return
		}
		if err := u.act(func(a *agent.Agent) error { return a.Ack(inc) }); err != nil {
			o.resync(u, now, err)
			return
		}
		u.f.count.acks.Add(1)
		o.phase = enroute
		o.job.AckS = ptr(now.Seconds())
		o.job.From = u.mover.Position()
		u.mover.GoTo(o.target)
		u.f.journal.UnitEvent(now, "ack", u.spec.ID, inc, "")
	case enroute:
		if !u.mover.Arrived() {
			return
		}
		inc := o.incident
		err := u.act(func(a *agent.Agent) error { return a.Arrived(inc) })
		switch {
		case err == nil:
			o.arrive(u, now, "officer")
		case errors.Is(err, agent.ErrWrongState):
			// The agent got there first (auto-arrival); its note is on the way.
			if as, ok := u.assignment(); ok && as.Incident == inc && as.State == agent.StateOnScene {
				o.arrive(u, now, "agent")
			}
		default:
			o.resync(u, now, err)
		}
	case onScene:
		if now < o.due {
			return
		}
		inc := o.incident
		if err := u.act(func(a *agent.Agent) error { return a.Cleared(inc) }); err != nil {
			o.resync(u, now, err)
			return
		}
		u.f.count.clears.Add(1)
		o.finish(u, now, "cleared")
	}
}

// movedUp reports the move-up done once the unit is at its spot and the
// agent has not said so (its fixes fell either side of its radius, or it
// had none): the officer presses Arrived on the move-up card.
func (o *officer) movedUp(u *Unit, now time.Duration) {
	if o.moveUp == "" {
		return
	}
	if _, ok := u.mover.MovingUp(); ok {
		return
	}
	id := o.moveUp
	err := u.act(func(a *agent.Agent) error { return a.RepositionArrived(id) })
	switch {
	case errors.Is(err, errDeviceOff):
		return // the next step
	case err == nil:
		u.f.count.repositionArrivals.Add(1)
		u.f.journal.UnitEvent(now, "moved_up", u.spec.ID, id, "at the spot (officer)")
	}
	// Otherwise it has ended meanwhile: the agent's note is on its way.
	o.moveUp = ""
}

func (o *officer) arrive(u *Unit, now time.Duration, by string) {
	f := u.f
	if by == "agent" {
		f.count.autoArrivals.Add(1)
	}
	f.count.arrivals.Add(1)
	o.phase = onScene
	o.due = now + o.serviceTime(u)
	u.mover.Hold()
	p := u.mover.Position()
	if o.job != nil {
		o.job.ArrivedS = ptr(now.Seconds())
		o.job.ArrivedBy = by
		o.job.At = p
		o.job.Target = o.target
	}
	f.journal.UnitEvent(now, "arrived", u.spec.ID, o.incident,
		fmt.Sprintf("at %.5f, %.5f (%s)", p.Lat, p.Lon, by))
}

func (o *officer) serviceTime(u *Unit) time.Duration {
	c := &u.f.cfg.Officer
	return c.ServiceMin + time.Duration(u.rng.Float64()*float64(c.ServiceMax-c.ServiceMin))
}

// resync follows the agent when an action failed: the hub cancelled
// meanwhile, or the device is resetting (then try again next step).
func (o *officer) resync(u *Unit, now time.Duration, err error) {
	if errors.Is(err, errDeviceOff) {
		return
	}
	as, ok := u.assignment()
	switch {
	case !ok:
		o.finish(u, now, "cancelled")
	case as.Incident != o.incident:
		o.finish(u, now, "replaced")
		o.begin(u, as, now)
	default:
		u.f.cfg.Logger.Warn("simulator: officer action failed", "unit", u.spec.ID, "incident", o.incident, "err", err)
	}
}

// finish ends the job and sends the unit back on patrol.
func (o *officer) finish(u *Unit, now time.Duration, end string) {
	if o.job != nil {
		o.job.End = end
		o.job.EndedS = ptr(now.Seconds())
		u.f.journal.UnitEvent(now, end, u.spec.ID, o.incident, "")
	}
	*o = officer{}
	u.mover.Patrol()
}

// assignment is the running agent's assignment.
func (u *Unit) assignment() (agent.Assignment, bool) {
	a := u.current()
	if a == nil {
		return agent.Assignment{}, false
	}
	return a.Assignment()
}

func ptr[T any](v T) *T { return &v }
