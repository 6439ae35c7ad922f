package simulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// runner carries out a scenario's steps at their simulated times.
type runner struct {
	sc     Scenario
	f      *fleet
	calls  *callTaker
	faults *faultInjector
	api    *hubAPI
	clock  *simClock
	reg    *registry
	jr     *journal
	log    *slog.Logger
	rng    *rand.Rand

	restores sync.WaitGroup // outages ending
	mu       sync.Mutex
	steps    []StepReport
	outages  []*outage
}

// StepReport is one scenario step as carried out.
type StepReport struct {
	AtS    float64 `json:"at_s"` // simulated, when it was due
	Action string  `json:"action"`
	Ref    string  `json:"ref,omitempty"`
	Detail string  `json:"detail,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// outage is one outage step: the units cut and what they queued meanwhile.
type outage struct {
	atS, forS float64
	units     []*outageUnit
	ended     bool
}

type outageUnit struct {
	u                *unit
	seqFrom, seqTo   uint64 // the agent's next seq when cut and when restored
	posFrom, posTo   uint64 // positions queued by then
	fromMs, toMs     int64
	killed, restored bool
}

// run executes the steps in time order until they are done or ctx ends; an
// outage in progress is ended (its links restored) either way.
func (r *runner) run(ctx context.Context) {
	defer r.restores.Wait()
	steps := slices.Clone(r.sc.Steps)
	slices.SortStableFunc(steps, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	for _, st := range steps {
		if !r.clock.SleepUntil(ctx, st.At) {
			return
		}
		rep := StepReport{AtS: secs(st.At), Action: st.Action, Ref: st.Ref}
		detail, err := r.exec(ctx, st)
		rep.Detail = detail
		if err != nil {
			rep.Error = err.Error()
			r.log.Warn("simulator: scenario step failed", "at", st.At, "action", st.Action, "ref", st.Ref, "err", err)
		}
		r.mu.Lock()
		r.steps = append(r.steps, rep)
		r.mu.Unlock()
		kind := "step"
		if st.Action == "note" {
			kind = "note"
		}
		line := st.Action + ": " + detail
		if st.Note != "" && st.Action != "note" {
			line += " — " + st.Note
		}
		if err != nil {
			line += " — failed: " + err.Error()
		}
		switch {
		case st.Action != "incident" && st.Action != "sighting" || err != nil:
			r.jr.add(Entry{AtS: secs(st.At), Kind: kind, Ref: st.Ref, Detail: line})
		case st.Note != "":
			// Incidents and sightings have entries of their own; the note joins them.
			r.jr.add(Entry{AtS: secs(st.At), Kind: "note", Ref: st.Ref, Detail: st.Note})
		}
	}
}

func (r *runner) exec(ctx context.Context, st Step) (string, error) {
	switch st.Action {
	case "incident":
		if st.Incident == nil {
			return "", errors.New("no incident given")
		}
		inc, err := r.calls.create(ctx, *st.Incident, st.Ref)
		if err != nil {
			return "", err
		}
		var sent []string
		for _, a := range inc.Assignments {
			sent = append(sent, a.Unit)
		}
		return fmt.Sprintf("%s %s P%d reported; the hub sent %v", inc.ID, st.Incident.Kind, st.Incident.Priority, sent), nil
	case "sighting":
		id, ok := r.reg.byRef(st.Ref)
		if !ok {
			return "", fmt.Errorf("no incident %q reported before this sighting", st.Ref)
		}
		if st.Point == nil {
			return "", errors.New("no point given")
		}
		inc, err := r.api.sighting(ctx, id, *st.Point, st.Source)
		if err != nil {
			return "", err
		}
		var enroute []string
		for _, a := range inc.Assignments {
			if a.State == "dispatched" || a.State == "enroute" {
				enroute = append(enroute, a.Unit)
			}
		}
		sr := sightingRec{AtS: secs(st.At), Point: *st.Point, Source: st.Source, EnRoute: enroute}
		if inc.Offer != nil {
			sr.Offered = inc.Offer.Unit
		}
		r.reg.with(id, func(rec *incidentRec) {
			rec.Sightings = append(rec.Sightings, sr)
			// Nobody on the way to the new place: the dispatcher sends someone.
			rec.intercept, rec.sightedAt = len(enroute) == 0, r.clock.Elapsed()
		})
		d := fmt.Sprintf("%s at %.5f, %.5f; the hub re-targets %v", orUnknown(st.Source), st.Point.Lat, st.Point.Lon, enroute)
		if inc.Offer != nil {
			d += fmt.Sprintf(", offers %s (eta %.0f s)", inc.Offer.Unit, inc.Offer.ETAS)
		}
		r.jr.add(Entry{AtS: secs(st.At), Kind: "sighting", Incident: id, Ref: st.Ref, Detail: d})
		return d, nil
	case "rate":
		r.calls.setRate(st.Rate)
		return fmt.Sprintf("incidents at %.1f an hour", st.Rate), nil
	case "outage":
		return r.outage(ctx, st)
	case "fault":
		if r.faults == nil {
			return "", errors.New("no fault injector")
		}
		// A share of the fleet, or one unit; the fleet-wide faults once.
		n := 1
		if st.Share > 0 && st.Fault != FaultRogue && st.Fault != FaultBrokerRestart {
			n = min(max(int(math.Ceil(st.Share*float64(len(r.f.units)))), 1), len(r.f.units))
		}
		var details []string
		var errs []error
		for range n {
			d, err := r.faults.inject(ctx, st.Fault, st.For)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			details = append(details, d)
		}
		if n > 3 && len(details) > 3 {
			details = append(details[:3], fmt.Sprintf("… %d in all", len(details)))
		}
		return strings.Join(details, "; "), errors.Join(errs...)
	case "note":
		return st.Note, nil
	}
	return "", fmt.Errorf("unknown action %q", st.Action)
}

func orUnknown(s string) string {
	if s == "" {
		return "a sighting"
	}
	return s
}

// outage cuts the links of a share of the fleet for st.For (simulated) and
// restores them; what the units queue meanwhile is checked at the end.
func (r *runner) outage(ctx context.Context, st Step) (string, error) {
	units := r.f.units
	n := int(math.Ceil(st.Share * float64(len(units))))
	n = min(max(n, 1), len(units))
	if !(st.Share > 0) || st.For <= 0 {
		return "", fmt.Errorf("outage needs a share in (0, 1] and a duration, got %v for %v", st.Share, st.For)
	}
	o := &outage{atS: secs(st.At), forS: st.For.Seconds()}
	for _, i := range r.rng.Perm(len(units))[:n] {
		u := units[i]
		ou := &outageUnit{u: u}
		u.link.cut()
		if a := u.current(); a != nil {
			s := a.Stats()
			ou.seqFrom, ou.posFrom = s.NextSeq, s.Positions
		} else {
			ou.killed = true
		}
		ou.fromMs = time.Now().UnixMilli()
		o.units = append(o.units, ou)
	}
	r.mu.Lock()
	r.outages = append(r.outages, o)
	r.mu.Unlock()
	r.restores.Go(func() {
		r.clock.Sleep(ctx, st.For) // cut short if the run ends: the links come back either way
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ou := range o.units {
			if a := ou.u.current(); a != nil && !ou.killed {
				s := a.Stats()
				ou.seqTo, ou.posTo = s.NextSeq, s.Positions
				if s.NextSeq < ou.seqFrom {
					ou.killed = true // a new incarnation: its seqs are not comparable
				}
			} else {
				ou.killed = true
			}
			ou.toMs = time.Now().UnixMilli()
			ou.u.link.restore()
			ou.restored = true
		}
		o.ended = true
		r.jr.note(r.clock.Elapsed(), "outage", "%d unit(s) back after %v", len(o.units), st.For)
	})
	return fmt.Sprintf("%d unit(s) (%.0f%%) lose their link for %v", n, st.Share*100, st.For), nil
}

// inOutage reports whether u is cut by an outage now (agent_kill spares
// them: their queued positions are what the outage checks).
func (r *runner) inOutage(u *unit) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.outages {
		if o.ended {
			continue
		}
		for _, ou := range o.units {
			if ou.u == u {
				return true
			}
		}
	}
	return false
}

// OutageReport is one outage: what the cut units queued while cut, and how
// much of it the hub's history holds at the end.
type OutageReport struct {
	AtS           float64 `json:"at_s"`
	ForS          float64 `json:"for_s"`
	Units         int     `json:"units"`
	QueuedOffline uint64  `json:"queued_offline"` // positions queued by the cut units while cut
	InHistory     uint64  `json:"in_history"`     // of those, in the hub's history at the end
	Skipped       int     `json:"skipped,omitempty"`
}

// checkOutages reads the cut units' tracks from the hub: every position
// they queued while cut must be in the history.
func (r *runner) checkOutages(ctx context.Context) []OutageReport {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	outs := slices.Clone(r.outages)
	r.mu.Unlock()
	var reps []OutageReport
	for _, o := range outs {
		rep := OutageReport{AtS: o.atS, ForS: o.forS, Units: len(o.units)}
		for _, ou := range o.units {
			if ou.killed || !ou.restored {
				rep.Skipped++
				continue
			}
			rep.QueuedOffline += ou.posTo - ou.posFrom
			// Positions carry their fix time: a minute's margin either side.
			tr, err := r.api.track(ctx, ou.u.spec.ID, ou.fromMs-60_000, ou.toMs+60_000)
			if err != nil {
				r.log.Warn("simulator: reading a track", "unit", ou.u.spec.ID, "err", err)
				rep.Skipped++
				continue
			}
			for _, p := range tr {
				if p.Seq >= ou.seqFrom && p.Seq < ou.seqTo {
					rep.InHistory++
				}
			}
		}
		reps = append(reps, rep)
	}
	return reps
}

func (r *runner) stepReports() []StepReport {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}
