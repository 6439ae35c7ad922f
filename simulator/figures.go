package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"kuaifan/protocol"
)

// progress writes a line every 10 s (real) until ctx ends.
func progress(ctx context.Context, out io.Writer, f *fleet, reg *registry, clock *simClock, calls *callTaker) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tot := f.totals()
		c := f.officersReport()
		fmt.Fprintf(out, "[%s wall, %s sim] %d/%d units online · %d incidents (%.0f/h): %d dispatches, %d arrivals, %d cleared · %d positions, %d confirmed, %d waiting\n",
			hms(time.Since(start).Seconds()), hms(clock.Elapsed().Seconds()), tot.connected, len(f.units),
			reg.len(), calls.rate(), c.Dispatches, c.Arrivals, c.Clears, tot.positions, tot.confirmed, tot.queued)
	}
}

// collectIncidents reads the run's incidents from the hub.
func collectIncidents(ctx context.Context, api *hubAPI, reg *registry) ([]hubIncident, error) {
	recs := reg.snapshot()
	if len(recs) == 0 {
		return nil, nil
	}
	all, err := api.incidents(ctx, true)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]hubIncident, len(all))
	for _, inc := range all {
		byID[inc.ID] = inc
	}
	out := make([]hubIncident, 0, len(recs))
	var errs []error
	for _, r := range recs {
		inc, ok := byID[r.ID]
		if !ok {
			if inc, err = api.incident(ctx, r.ID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.ID, err))
				continue
			}
		}
		out = append(out, inc)
	}
	return out, errors.Join(errs...)
}

// hubReport is what the hub's metrics counted between the two scrapes.
func hubReport(before, after metrics, err error) HubReport {
	if before == nil || after == nil {
		msg := "no scrape"
		if err != nil {
			msg = err.Error()
		}
		return HubReport{Unavailable: msg}
	}
	h := HubReport{
		TelemetryReceived: delta(before, after, "kuaifan_ingest_received_total", "kind", "telemetry"),
		Committed:         delta(before, after, "kuaifan_ingest_results_total", "result", "committed"),
		Duplicates:        delta(before, after, "kuaifan_ingest_results_total", "result", "duplicate"),
		Older:             delta(before, after, "kuaifan_ingest_results_total", "result", "older"),
		AuthRefused:       delta(before, after, "kuaifan_broker_auth_refused_total"),
		ACLDenied:         delta(before, after, "kuaifan_broker_acl_denied_total"),
		PublishDropped:    delta(before, after, "kuaifan_broker_publish_dropped_total"),
		Rejected:          map[string]float64{},
	}
	for _, reason := range after.labelValues("kuaifan_ingest_rejected_total", "reason") {
		if d := delta(before, after, "kuaifan_ingest_rejected_total", "reason", reason); d > 0 {
			h.Rejected[reason] = d
		}
	}
	return h
}

// messagesReport sums the agents' counters. Whatever was queued and is
// neither confirmed, thinned, nor dead with a killed agent is still queued:
// lost, after the final wait.
func messagesReport(t fleetTotals, drainS float64) MessagesReport {
	m := MessagesReport{Positions: t.positions, Events: t.events, Sent: t.sent, Resent: t.resent,
		Confirmed: t.confirmed, Thinned: t.dropped, LostByKill: t.lostByKill, PublishErrors: t.publishErrors,
		Connects: t.connects, Commands: t.commands, DrainWaitS: drainS}
	in := t.positions + t.events
	if out := m.Confirmed + m.Thinned + m.LostByKill; in > out {
		m.Lost = in - out
	}
	return m
}

// utilisation is the share of the fleet's simulated time spent on jobs,
// from the dispatch to the clear (or whatever ended it).
func utilisation(jobs []Job, units int, moved time.Duration) float64 {
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

// incidentsReport reads the response figures off the hub's incidents.
func incidentsReport(recs []incidentRec, incs []hubIncident, clock *simClock, jobs []Job, closedByRun int) IncidentsReport {
	r := IncidentsReport{Created: len(recs), ClosedByRun: closedByRun}
	var toDispatch, toAck, toArrival []float64
	w1, w3, w5 := 0, 0, 0
	for _, inc := range incs {
		if inc.has("dispatched") {
			r.Dispatched++
		} else if len(r.NeverDispatched) < 20 {
			r.NeverDispatched = append(r.NeverDispatched, inc.ID)
		}
		if inc.has("cleared") {
			r.Cleared++
		}
		if inc.Status == "closed" {
			r.Closed++
		} else {
			r.OpenAtEnd++
		}
		auto, disp := false, false
		for _, a := range inc.Assignments {
			auto = auto || a.By == "auto"
			disp = disp || a.By == "dispatcher"
		}
		if auto {
			r.AutoDispatched++
		}
		if disp {
			r.ByDispatcher++
		}
		fig := inc.Figures
		if fig.ToDispatchS != nil {
			toDispatch = append(toDispatch, clock.SimSeconds(*fig.ToDispatchS))
		}
		if fig.ToAckS != nil {
			toAck = append(toAck, clock.SimSeconds(*fig.ToAckS))
		}
		if fig.ToArrivalS != nil {
			r.Reached++
			s := clock.SimSeconds(*fig.ToArrivalS)
			toArrival = append(toArrival, s)
			if s <= 60 {
				w1++
			}
			if s <= 180 {
				w3++
			}
			if s <= 300 {
				w5++
			}
		}
	}
	for _, rec := range recs {
		r.OffersTaken += rec.offersTaken
	}
	r.ToDispatch, r.ToAck, r.ToArrival = dist(toDispatch), dist(toAck), dist(toArrival)
	if r.Created > 0 {
		n := float64(r.Created)
		r.Within1Min, r.Within3Min, r.Within5Min = float64(w1)/n, float64(w3)/n, float64(w5)/n
	}
	var ratios []float64
	for _, j := range jobs {
		if ratio, ok := travelRatio(j); ok {
			ratios = append(ratios, ratio)
		}
	}
	r.Travel = dist(ratios)
	return r
}

// travelRatio is a job's travel time over the straight drive at the
// response speed, for arrivals without a re-target over more than 200 m
// (below that the GPS noise and the arrival radius dominate).
func travelRatio(j Job) (float64, bool) {
	if j.AckS == nil || j.ArrivedS == nil || j.Retargets > 0 || j.ResponseMPS <= 0 {
		return 0, false
	}
	d := haversine(j.From, j.Target)
	if d < 200 {
		return 0, false
	}
	return (*j.ArrivedS - *j.AckS) / (d / j.ResponseMPS), true
}

func haversine(a, b Point) float64 { return protocol.Haversine(a.Lat, a.Lon, b.Lat, b.Lon) }

// chases follows each of the scenario's incidents.
func chases(recs []incidentRec, entries []Entry, jobs []Job) []ChaseReport {
	var out []ChaseReport
	for _, rec := range recs {
		if rec.Ref == "" {
			continue
		}
		c := ChaseReport{Ref: rec.Ref, Incident: rec.ID, Final: rec.At}
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
			rep := SightingReport{AtS: sr.AtS, Point: sr.Point, Source: sr.Source, EnRoute: sr.EnRoute, Offered: sr.Offered, Retargeted: []string{}}
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
			if haversine(j.At, c.Final) <= interceptRadiusM && (!c.Intercepted || *j.ArrivedS < c.AtS) {
				c.Intercepted, c.By, c.AtS = true, j.Unit, *j.ArrivedS
			}
		}
		out = append(out, c)
	}
	return out
}
