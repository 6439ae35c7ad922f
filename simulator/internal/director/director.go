// Package director carries out a scenario's steps at their simulated
// times: it has the call-taker report the scripted incidents, reports the
// camera sightings to the hub (with the camera's id if the hub knows the
// camera), changes the incident rate, cuts a share of
// the fleet's links for an outage and restores them, and has the faults
// injected. At the end it checks that every position the cut units queued
// during an outage is in the hub's history.
package director

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

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/scenario"
	"kuaifan/simulator/internal/simclock"
)

// Director carries out a scenario's steps at their simulated times.
type Director struct {
	sc     scenario.Scenario
	f      *fleet.Fleet
	calls  *dispatch.CallTaker
	faults *faults.Injector
	api    *hubapi.Client
	clock  *simclock.Clock
	reg    *dispatch.Registry
	jr     *journal.Journal
	log    *slog.Logger
	rng    *rand.Rand

	// hubCams are the cameras the hub knows (HubCameras), by id: a camera
	// step's sighting carries the id only if it is one of them.
	hubCams map[string]api.Camera

	restores sync.WaitGroup // outages ending
	mu       sync.Mutex
	steps    []StepReport
	outages  []*outage
}

// New is a director of sc: calls reports its incidents, faults injects its
// faults, rng picks the units an outage cuts.
func New(sc scenario.Scenario, f *fleet.Fleet, calls *dispatch.CallTaker, fi *faults.Injector, api *hubapi.Client,
	clock *simclock.Clock, reg *dispatch.Registry, jr *journal.Journal, log *slog.Logger, rng *rand.Rand) *Director {
	return &Director{sc: sc, f: f, calls: calls, faults: fi, api: api, clock: clock, reg: reg, jr: jr, log: log, rng: rng}
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
	u                *fleet.Unit
	seqFrom, seqTo   uint64 // the agent's next seq when cut and when restored
	posFrom, posTo   uint64 // positions queued by then
	fromMs, toMs     int64
	killed, restored bool
}

// Run executes the steps in time order until they are done or ctx ends; an
// outage in progress is ended (its links restored) either way.
func (r *Director) Run(ctx context.Context) {
	defer r.restores.Wait()
	steps := slices.Clone(r.sc.Steps)
	slices.SortStableFunc(steps, func(a, b scenario.Step) int { return cmp.Compare(a.At, b.At) })
	for _, st := range steps {
		if !r.clock.SleepUntil(ctx, st.At) {
			return
		}
		rep := StepReport{AtS: st.At.Seconds(), Action: st.Action, Ref: st.Ref}
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
			r.jr.Add(journal.Entry{AtS: st.At.Seconds(), Kind: kind, Ref: st.Ref, Detail: line})
		case st.Note != "":
			// Incidents and sightings have entries of their own; the note joins them.
			r.jr.Add(journal.Entry{AtS: st.At.Seconds(), Kind: "note", Ref: st.Ref, Detail: st.Note})
		}
	}
}

func (r *Director) exec(ctx context.Context, st scenario.Step) (string, error) {
	switch st.Action {
	case "incident":
		if st.Incident == nil {
			return "", errors.New("no incident given")
		}
		inc, err := r.calls.Create(ctx, *st.Incident, st.Ref)
		if err != nil {
			return "", err
		}
		var sent []string
		for _, a := range inc.Assignments {
			sent = append(sent, a.Unit)
		}
		return fmt.Sprintf("%s %s P%d reported; the hub sent %v", inc.ID, st.Incident.Kind, st.Incident.Priority, sent), nil
	case "sighting":
		id, ok := r.reg.ByRef(st.Ref)
		if !ok {
			return "", fmt.Errorf("no incident %q reported before this sighting", st.Ref)
		}
		if st.Point == nil && st.Camera == "" {
			return "", errors.New("no point or camera given")
		}
		fromCamera := st.Camera != ""
		cam, ok := r.sc.Camera(st.Camera)
		if fromCamera && !ok {
			return "", fmt.Errorf("camera %q is not in the scenario's camera set", st.Camera)
		}
		sg := r.sc.Sighting(st)
		if _, known := r.hubCams[st.Camera]; fromCamera && !known {
			sg = scenario.WithoutCameraID(sg, cam)
		}
		inc, err := r.api.Sighting(ctx, id, sg)
		if err != nil {
			return "", err
		}
		enroute := hubapi.OnTheWay(&inc)
		where := r.sc.Where(st)
		sr := dispatch.Sighting{AtS: st.At.Seconds(), Point: where, Source: sg.Source, EnRoute: enroute}
		if fromCamera {
			sr.Camera, sr.CameraName, sr.CameraPosted = cam.ID, cam.Name, sg.Camera != ""
		}
		if inc.Offer != nil {
			sr.Offered = inc.Offer.Unit
		}
		// Nobody on the way to the new place: the dispatcher sends someone.
		r.reg.Sighted(id, sr, r.clock.Elapsed())
		who := orUnknown(sg.Source)
		switch {
		case sr.CameraPosted:
			who = strings.TrimSpace(fmt.Sprintf("camera %s %s", cam.ID, cam.Name))
		case fromCamera:
			who += " (" + cam.ID + ", unknown to the hub: no camera id)"
		}
		d := fmt.Sprintf("%s at %.5f, %.5f; the hub re-targets %v", who, where.Lat, where.Lon, enroute)
		if inc.Offer != nil {
			d += fmt.Sprintf(", offers %s (eta %.0f s)", inc.Offer.Unit, inc.Offer.ETAS)
		}
		r.jr.Add(journal.Entry{AtS: st.At.Seconds(), Kind: "sighting", Incident: id, Ref: st.Ref, Detail: d})
		return d, nil
	case "rate":
		r.calls.SetRate(st.Rate)
		return fmt.Sprintf("incidents at %.1f an hour", st.Rate), nil
	case "outage":
		return r.outage(ctx, st)
	case "fault":
		if r.faults == nil {
			return "", errors.New("no fault injector")
		}
		// A share of the fleet, or one unit; the fleet-wide faults once.
		n := 1
		if st.Share > 0 && st.Fault != faults.Rogue && st.Fault != faults.BrokerRestart {
			n = min(max(int(math.Ceil(st.Share*float64(r.f.Len()))), 1), r.f.Len())
		}
		var details []string
		var errs []error
		for range n {
			d, err := r.faults.Inject(ctx, st.Fault, st.For)
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

// HubCameras asks the hub which cameras it knows (GET /api/cameras), once,
// before the steps run, if any step names a camera. The hub refuses a
// sighting with a camera id it does not know (400), so a camera step's
// sighting carries the id only if the hub knows the camera; otherwise it
// is reported as before cameras were data: without the id, with source
// "camera <name>". It returns notes for the report (and logs them): the
// scenario's cameras the hub does not know, and those it has more than
// scenario.CameraRadiusM from where the scenario's set has them.
func (r *Director) HubCameras(ctx context.Context) []string {
	if r.sc.CameraSteps() == 0 {
		return nil
	}
	var ids []string // the scenario's cameras, in step order
	for _, st := range r.sc.Steps {
		if st.Action == "sighting" && st.Camera != "" && !slices.Contains(ids, st.Camera) {
			ids = append(ids, st.Camera)
		}
	}
	hub, err := r.api.Cameras(ctx)
	r.hubCams = make(map[string]api.Camera, len(hub))
	for _, c := range hub {
		r.hubCams[c.ID] = c
	}
	var unknown, moved []string
	for _, id := range ids {
		hc, ok := r.hubCams[id]
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		if c, ok := r.sc.Camera(id); ok {
			if d := protocol.Haversine(c.Lat, c.Lon, hc.Lat, hc.Lon); d > scenario.CameraRadiusM {
				moved = append(moved, fmt.Sprintf("%s (%.0f m)", id, d))
			}
		}
	}
	var notes []string
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("the hub's cameras could not be read (%v): the scenario's %d camera sightings are reported without camera ids, as \"camera <name>\"", err, r.sc.CameraSteps()))
	case len(unknown) == len(ids):
		notes = append(notes, fmt.Sprintf("the hub has none of the scenario's %d cameras (%d loaded; start it with -cameras, e.g. protocol/cameras/changsha/cameras.geojson): their sightings are reported without camera ids, as \"camera <name>\"", len(ids), len(hub)))
	case len(unknown) > 0:
		notes = append(notes, fmt.Sprintf("the hub does not know camera(s) %s: their sightings are reported without camera ids, as \"camera <name>\"", strings.Join(unknown, ", ")))
	}
	if len(moved) > 0 {
		notes = append(notes, fmt.Sprintf("the hub has camera(s) %s away from where the simulator's set has them; the sightings are reported at the simulator's places", strings.Join(moved, ", ")))
	}
	for _, n := range notes {
		r.log.Warn("simulator: " + n)
	}
	return notes
}

func orUnknown(s string) string {
	if s == "" {
		return "a sighting"
	}
	return s
}

// outage cuts the links of a share of the fleet for st.For (simulated) and
// restores them; what the units queue meanwhile is checked at the end.
func (r *Director) outage(ctx context.Context, st scenario.Step) (string, error) {
	units := r.f.Units()
	n := int(math.Ceil(st.Share * float64(len(units))))
	n = min(max(n, 1), len(units))
	if !(st.Share > 0) || st.For <= 0 {
		return "", fmt.Errorf("outage needs a share in (0, 1] and a duration, got %v for %v", st.Share, st.For)
	}
	o := &outage{atS: st.At.Seconds(), forS: st.For.Seconds()}
	for _, i := range r.rng.Perm(len(units))[:n] {
		u := units[i]
		ou := &outageUnit{u: u}
		u.Link().Cut()
		if a := u.Agent(); a != nil {
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
			if a := ou.u.Agent(); a != nil && !ou.killed {
				s := a.Stats()
				ou.seqTo, ou.posTo = s.NextSeq, s.Positions
				if s.NextSeq < ou.seqFrom {
					ou.killed = true // a new incarnation: its seqs are not comparable
				}
			} else {
				ou.killed = true
			}
			ou.toMs = time.Now().UnixMilli()
			ou.u.Link().Restore()
			ou.restored = true
		}
		o.ended = true
		r.jr.Note(r.clock.Elapsed(), "outage", "%d unit(s) back after %v", len(o.units), st.For)
	})
	return fmt.Sprintf("%d unit(s) (%.0f%%) lose their link for %v", n, st.Share*100, st.For), nil
}

// InOutage reports whether u is cut by an outage now (agent_kill spares
// them: their queued positions are what the outage checks).
func (r *Director) InOutage(u *fleet.Unit) bool {
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

// CheckOutages reads the cut units' tracks from the hub: every position
// they queued while cut must be in the history.
func (r *Director) CheckOutages(ctx context.Context) []OutageReport {
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
			tr, err := r.api.Track(ctx, ou.u.ID(), ou.fromMs-60_000, ou.toMs+60_000)
			if err != nil {
				r.log.Warn("simulator: reading a track", "unit", ou.u.ID(), "err", err)
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

// StepReports are the steps carried out so far.
func (r *Director) StepReports() []StepReport {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}
