package report

import (
	"fmt"
	"math"
	"slices"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
	"kuaifan/protocol/patrol"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/director"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/simclock"
)

// maxJobs is how many jobs a report lists: a longer list is left out.
const maxJobs = 10_000

// End is what a run's report is read from once the run is over.
type End struct {
	Fleet    *fleet.Fleet
	Totals   fleet.Totals // the agents' counters after the final wait
	Registry *dispatch.Registry
	Journal  *journal.Journal
	Faults   *faults.Injector
	Director *director.Director // nil without a scenario
	Clock    *simclock.Clock

	Simulated time.Duration // the simulated time when the run was over
	Moved     time.Duration // the simulated time when the units stopped moving
	DrainWait time.Duration // real, the final wait for the last reports

	// Incidents are the run's incidents as the hub had them at the end,
	// before the run closed any; IncidentsErr says what could not be read.
	Incidents    []api.Incident
	IncidentsErr error
	ClosedByRun  int
	// SOSIncidents are the incidents the hub opened for the run's sos
	// (Faults.SOSUnits), as it had them at the end; SOSClosedByRun of them
	// the run closed.
	SOSIncidents   []api.Incident
	SOSClosedByRun int
	Outages        []director.OutageReport

	MetricsBefore, MetricsAfter hubapi.Metrics // the hub's /metrics before and after (nil: no scrape)
	MetricsErr                  error

	DispatchDelay time.Duration // the simulated dispatcher's, for the notes

	// Compliance is the hub's report on the run's shift of its patrol plan
	// (Run.Patrol), ComplianceErr why there is none; Coverage the sampler
	// of the hub's coverage (nil: not sampled). Additive (2026-12).
	Compliance    *patrol.Report
	ComplianceErr error
	Coverage      *CoverageSampler
}

// Finish fills in the figures of the run that ended as e says.
func (r *Run) Finish(e End) {
	if e.IncidentsErr != nil {
		r.Notes = append(r.Notes, "incident figures incomplete: "+e.IncidentsErr.Error())
	}
	r.Outages = e.Outages
	r.Hub = hubFigures(e.MetricsBefore, e.MetricsAfter, e.MetricsErr)
	r.SimulatedS = e.Simulated.Seconds()
	r.Units.Connected = e.Totals.EverConnected
	r.Units.OnlineAtEnd = e.Totals.Connected
	r.Units.Kills = e.Fleet.Kills()
	r.Messages = messageFigures(e.Totals, e.DrainWait.Seconds())
	r.Officers = e.Fleet.Officers()
	jobs := e.Fleet.Jobs(e.Registry.Ref)
	r.Units.Utilisation = utilisation(jobs, e.Fleet.Len(), e.Moved)
	r.Incidents = incidentFigures(e.Registry.Snapshot(), e.Incidents, e.Clock, jobs, e.ClosedByRun)
	r.Faults = e.Faults.Reports()
	r.SOS = sosFigures(r.Faults, e.SOSIncidents, e.SOSClosedByRun, e.Clock)
	r.Steps = e.Director.StepReports()
	r.Chases = chases(e.Registry.Snapshot(), e.Journal.All(), jobs)
	if len(jobs) <= maxJobs {
		r.Jobs = jobs
	}
	r.patrolFigures(e)
	r.Notes = append(r.Notes,
		"priority 1 incidents are dispatched by the hub itself (its policy); the rest by the simulated dispatcher, who sends the first fresh recommendation after "+e.DispatchDelay.String()+" (simulated) and takes the hub's offers after sightings",
		fmt.Sprintf("the hub's figures are real seconds; shown here ×%g as simulated time", r.TimeScale))
	if e.Totals.LostByKill > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d report(s) died with killed agents' in-memory queues: a simulated device reset, not a loss of the system", e.Totals.LostByKill))
	}
	if n := e.Journal.Dropped(); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the timeline kept its first %d entries (%d more not kept)", journal.Max, n))
	}
}

// hubFigures is what the hub's metrics counted between the two scrapes.
func hubFigures(before, after hubapi.Metrics, err error) Hub {
	if before == nil || after == nil {
		msg := "no scrape"
		if err != nil {
			msg = err.Error()
		}
		return Hub{Unavailable: msg}
	}
	h := Hub{
		TelemetryReceived: hubapi.Delta(before, after, "kuaifan_ingest_received_total", "kind", "telemetry"),
		Committed:         hubapi.Delta(before, after, "kuaifan_ingest_results_total", "result", "committed"),
		Duplicates:        hubapi.Delta(before, after, "kuaifan_ingest_results_total", "result", "duplicate"),
		Older:             hubapi.Delta(before, after, "kuaifan_ingest_results_total", "result", "older"),
		AuthRefused:       hubapi.Delta(before, after, "kuaifan_broker_auth_refused_total"),
		ACLDenied:         hubapi.Delta(before, after, "kuaifan_broker_acl_denied_total"),
		PublishDropped:    hubapi.Delta(before, after, "kuaifan_broker_publish_dropped_total"),
		Rejected:          map[string]float64{},
	}
	for _, reason := range after.LabelValues("kuaifan_ingest_rejected_total", "reason") {
		if d := hubapi.Delta(before, after, "kuaifan_ingest_rejected_total", "reason", reason); d > 0 {
			h.Rejected[reason] = d
		}
	}
	return h
}

// messageFigures sums the agents' counters. Whatever was queued and is
// neither confirmed, thinned, nor dead with a killed agent is still queued:
// lost, after the final wait.
func messageFigures(t fleet.Totals, drainS float64) Messages {
	m := Messages{Positions: t.Positions, Events: t.Events, Sent: t.Sent, Resent: t.Resent,
		Confirmed: t.Confirmed, Thinned: t.Dropped, LostByKill: t.LostByKill, PublishErrors: t.PublishErrors,
		Connects: t.Connects, Commands: t.Commands, DrainWaitS: drainS}
	in := t.Positions + t.Events
	if out := m.Confirmed + m.Thinned + m.LostByKill; in > out {
		m.Lost = in - out
	}
	return m
}

// utilisation is the share of the fleet's simulated time spent on jobs,
// from the dispatch to the clear (or whatever ended it).
func utilisation(jobs []fleet.Job, units int, moved time.Duration) float64 {
	if units == 0 || moved <= 0 {
		return 0
	}
	var busy float64
	for _, j := range jobs {
		end := moved.Seconds()
		if j.EndedS != nil {
			end = *j.EndedS
		}
		busy += max(end-j.DispatchedS, 0)
	}
	return busy / (float64(units) * moved.Seconds())
}

// incidentFigures reads the response figures off the hub's incidents.
func incidentFigures(recs []dispatch.Record, incs []api.Incident, clock *simclock.Clock, jobs []fleet.Job, closedByRun int) Incidents {
	r := Incidents{Created: len(recs), ClosedByRun: closedByRun}
	var toDispatch, toAck, toArrival []float64
	facts := make([]kpi.Facts, 0, len(incs))
	t0 := time.Now()
	for i := range incs {
		if c := time.UnixMilli(incs[i].Created); c.Before(t0) {
			t0 = c
		}
	}
	for i := range incs {
		inc := &incs[i]
		if hubapi.HasEntry(inc, api.EntryDispatched) {
			r.Dispatched++
		} else if len(r.NeverDispatched) < 20 {
			r.NeverDispatched = append(r.NeverDispatched, inc.ID)
		}
		if hubapi.HasEntry(inc, api.EntryCleared) {
			r.Cleared++
		}
		if inc.Status == api.IncidentClosed {
			r.Closed++
		} else {
			r.OpenAtEnd++
		}
		auto, disp := false, false
		for _, a := range inc.Assignments {
			auto = auto || a.By == api.ActorAuto
			disp = disp || api.ByCaller(a.By)
		}
		if auto {
			r.AutoDispatched++
		}
		if disp {
			r.ByDispatcher++
		}
		if inc.Figures.ToArrivalS != nil {
			r.Reached++
		}
		facts = append(facts, simFacts(kpi.FactsOf(*inc, nil, nil), clock, t0))
	}
	// The shared figures are kuaifan/protocol/kpi's, on simulated time.
	tot := kpi.Total(facts, t0.Add(clock.Sim(time.Since(t0))))
	for _, f := range facts {
		if f.ToDispatchS >= 0 {
			toDispatch = append(toDispatch, f.ToDispatchS)
		}
		if f.ToAckS >= 0 {
			toAck = append(toAck, f.ToAckS)
		}
		if f.Reached() {
			toArrival = append(toArrival, f.ToArrivalS)
		}
	}
	for _, rec := range recs {
		r.OffersTaken += rec.OffersTaken
	}
	r.ToDispatch, r.ToAck, r.ToArrival = DistOf(toDispatch), DistOf(toAck), DistOf(toArrival)
	if tot.ReachBase > 0 {
		r.Within1Min, r.Within3Min, r.Within5Min = *tot.Reached1, *tot.Reached3, *tot.Reached5
	}
	var ratios []float64
	for _, j := range jobs {
		if ratio, ok := travelRatio(j); ok {
			ratios = append(ratios, ratio)
		}
	}
	r.Travel = DistOf(ratios)
	return r
}

// simFacts is an incident's facts on simulated time: the hub's figures are
// real seconds, so its durations, and its creation after t0, are scaled.
func simFacts(f kpi.Facts, clock *simclock.Clock, t0 time.Time) kpi.Facts {
	for _, d := range []*float64{&f.ToDispatchS, &f.ToAckS, &f.ToArrivalS, &f.ToCloseS} {
		if *d >= 0 {
			*d = clock.SimSeconds(*d)
		}
	}
	f.Created = t0.Add(clock.Sim(time.UnixMilli(f.Created).Sub(t0))).UnixMilli()
	return f
}

// travelRatio is a job's travel time over the straight drive at the
// response speed, for arrivals without a re-target over more than 200 m
// (below that the GPS noise and the arrival radius dominate).
func travelRatio(j fleet.Job) (float64, bool) {
	if j.AckS == nil || j.ArrivedS == nil || j.Retargets > 0 || j.ResponseMPS <= 0 {
		return 0, false
	}
	d := city.DistanceM(j.From, j.Target)
	if d < 200 {
		return 0, false
	}
	return (*j.ArrivedS - *j.AckS) / (d / j.ResponseMPS), true
}

// chases follows each of the scenario's incidents.
func chases(recs []dispatch.Record, entries []journal.Entry, jobs []fleet.Job) []Chase {
	var out []Chase
	for _, rec := range recs {
		if rec.Ref == "" {
			continue
		}
		c := Chase{Ref: rec.Ref, Incident: rec.ID, Final: rec.At}
		lastSeen := rec.CreatedS
		if n := len(rec.Sightings); n > 0 {
			c.Final, lastSeen = rec.Sightings[n-1].Point, rec.Sightings[n-1].AtS
		}
		for _, e := range entries {
			if e.Incident != rec.ID && (e.Ref == "" || e.Ref != rec.Ref) {
				continue
			}
			e.Ref = rec.Ref
			c.Timeline = append(c.Timeline, e)
			switch e.Kind {
			case "retarget":
				c.Retargets = append(c.Retargets, e)
			case "arrived":
				c.Arrivals = append(c.Arrivals, e)
			}
		}
		for i, sr := range rec.Sightings {
			until := math.Inf(1)
			if i+1 < len(rec.Sightings) {
				until = rec.Sightings[i+1].AtS
			}
			rep := Sighting{AtS: sr.AtS, Point: sr.Point, Source: sr.Source, Camera: sr.Camera, CameraName: sr.CameraName,
				CameraID: sr.CameraPosted, EnRoute: sr.EnRoute, Offered: sr.Offered, Retargeted: []string{}}
			if sr.Camera != "" {
				c.FromCameras++
				if sr.CameraPosted {
					c.CameraIDs++
				}
			}
			if rep.EnRoute == nil {
				rep.EnRoute = []string{}
			}
			for _, e := range c.Retargets {
				if e.AtS >= sr.AtS && e.AtS < until && !slices.Contains(rep.Retargeted, e.Unit) {
					rep.Retargeted = append(rep.Retargeted, e.Unit)
				}
			}
			c.Sightings = append(c.Sightings, rep)
		}
		for _, j := range jobs {
			if j.Incident != rec.ID || j.ArrivedS == nil || *j.ArrivedS < lastSeen {
				continue
			}
			if city.DistanceM(j.At, c.Final) <= interceptRadiusM && (!c.Intercepted || *j.ArrivedS < c.AtS) {
				c.Intercepted, c.By, c.AtS = true, j.Unit, *j.ArrivedS
			}
		}
		out = append(out, c)
	}
	return out
}

// sosFigures reads the sos section: how many the officers raised, and what
// the hub made of them. Nil when the run raised none.
func sosFigures(fs []faults.Report, incs []api.Incident, closedByRun int, clock *simclock.Clock) *SOS {
	sent := 0
	for _, f := range fs {
		if f.Name == faults.SOS {
			sent = f.Injected
		}
	}
	if sent == 0 && len(incs) == 0 {
		return nil
	}
	s := &SOS{Sent: sent, Incidents: len(incs), ClosedByRun: closedByRun}
	var toDispatch []float64
	for _, inc := range incs {
		if len(inc.Assignments) > 0 {
			s.Dispatched++
			s.Units += len(inc.Assignments)
		}
		if f := inc.Figures.ToDispatchS; f != nil {
			toDispatch = append(toDispatch, clock.SimSeconds(*f))
		}
	}
	s.ToDispatch = DistOf(toDispatch)
	return s
}

// patrolFigures reads the compliance and the coverage sections, with
// notes on what they mean for this run.
func (r *Run) patrolFigures(e End) {
	if e.Coverage != nil {
		r.Coverage = e.Coverage.Report()
	}
	if r.Patrol == nil || r.Patrol.Unavailable != "" {
		return
	}
	moved := e.Fleet.MovedUp()
	r.Patrol.Judge(e.Compliance, e.ComplianceErr, moved)
	if len(moved) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d unit(s) moved up and patrolled round their new spots from then on; the plan still judges them by their own tasks (compliance: moved up)", len(moved)))
	}
	if r.TimeScale > 1 {
		r.Notes = append(r.Notes, fmt.Sprintf("the patrol plan's minutes are real, as the hub judges them (a simulated minute is %.3g real at ×%g); the agents report at real intervals (about 10 s moving, 60 s standing), so at a time scale above 1 the checkpoint and presence figures are coarse", 1/r.TimeScale, r.TimeScale))
	}
}
