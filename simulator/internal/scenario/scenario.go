// Package scenario is a scripted, timed run: a background of incidents and
// steps at simulated times (incidents, camera sightings, rate changes,
// outages, faults, notes), read from JSON files and checked before anything
// starts. The built-in scenarios are citydata/scenarios/*.json. No I/O
// beyond reading a scenario file; package director carries the steps out.
package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/incident"
)

// Scenario is a scripted, timed run: a background of incidents and a list of
// steps at given simulated times. It is read from JSON (see Load);
// all times are simulated time, which runs TimeScale times faster than real
// time.
type Scenario struct {
	Name, Description string
	Duration          time.Duration // of simulated time
	TimeScale         float64       // simulated seconds per real second; 1 if the file leaves it out
	Units             int           // suggested fleet size; 0: the runner's default
	// StartOfDay is the simulated clock at the start (16h45m for 16:45), for
	// notes and reports ("the rate triples at 17:00"); 0: not given.
	StartOfDay time.Duration
	Incidents  *incident.Mix // the background; nil: none
	Steps      []Step
}

// Step is one scripted event. Which fields an action takes:
//
//	incident  Incident (required); Ref, a name later sightings use
//	sighting  Ref of an earlier incident and Point (required); Source ("camera 南门口")
//	rate      Rate: the background's incidents per hour from now (0 stops it)
//	outage    Share of the fleet (0 < share ≤ 1) losing its link, For how long (> 0)
//	fault     Fault (link_drop, agent_kill, gps_jump, gps_nofix, duplicate,
//	          reorder, rogue, broker_restart); For how long (0: the runner's
//	          default or instantaneous); Share of the fleet (0: the runner's default)
//	note      Note (required): a line for the report and the progress output
//
// Every action may carry a Note too.
type Step struct {
	At       time.Duration    // from the start, simulated time
	Action   string           // incident, sighting, rate, outage, fault, note
	Ref      string           // a name for the incident a later sighting refers to
	Incident *api.NewIncident // for "incident"
	Point    *city.Point      // for "sighting": where
	Source   string           // for "sighting": who saw it
	Rate     float64          // for "rate": incidents per hour from now
	Share    float64          // for "outage" (and "fault"): share of the fleet
	For      time.Duration    // for "outage"/"fault": how long
	Fault    string           // for "fault"
	Note     string
}

// Limits that keep a scenario file sane.
const (
	maxScenarioDuration = 7 * 24 * time.Hour
	maxTimeScale        = 10000
	maxScenarioUnits    = 1000000
	maxScenarioSteps    = 100000
	maxScenarioText     = 4096 // bytes of a name, description, source or note
)

// stepFaults are the faults a "fault" step may name.
func stepFaults() []string {
	return []string{"link_drop", "agent_kill", "gps_jump", "gps_nofix", "duplicate", "reorder", "rogue", "broker_restart"}
}

// stepFieldSet says which of a step's optional fields an action uses; a
// field given to another action is refused, as it is almost always a
// mistake (a sighting's point on the incident step, say).
type stepFieldSet struct{ ref, incident, point, source, rate, share, dur, fault bool }

func stepFieldsFor(action string) (stepFieldSet, bool) {
	switch action {
	case "incident":
		return stepFieldSet{ref: true, incident: true}, true
	case "sighting":
		return stepFieldSet{ref: true, point: true, source: true}, true
	case "rate":
		return stepFieldSet{rate: true}, true
	case "outage":
		return stepFieldSet{share: true, dur: true}, true
	case "fault":
		return stepFieldSet{fault: true, share: true, dur: true}, true
	case "note":
		return stepFieldSet{}, true
	}
	return stepFieldSet{}, false
}

// Validate reports the first thing wrong with the scenario, naming the step
// (counted from 1).
func (s Scenario) Validate() error {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return errors.New("no name")
	case len(s.Name) > maxScenarioText || len(s.Description) > maxScenarioText:
		return fmt.Errorf("name or description longer than %d bytes", maxScenarioText)
	case s.Duration <= 0 || s.Duration > maxScenarioDuration:
		return fmt.Errorf("duration %v: want 0 < duration ≤ %v", s.Duration, maxScenarioDuration)
	case !(s.TimeScale > 0 && s.TimeScale <= maxTimeScale):
		return fmt.Errorf("time_scale %v: want 0 < scale ≤ %d", s.TimeScale, maxTimeScale)
	case s.Units < 0 || s.Units > maxScenarioUnits:
		return fmt.Errorf("units %d: want 0 … %d", s.Units, maxScenarioUnits)
	case s.StartOfDay < 0 || s.StartOfDay >= 24*time.Hour:
		return fmt.Errorf("start_of_day %v: want a time of day", s.StartOfDay)
	case len(s.Steps) > maxScenarioSteps:
		return fmt.Errorf("%d steps; at most %d", len(s.Steps), maxScenarioSteps)
	}
	if s.Incidents != nil {
		if err := s.Incidents.Validate(); err != nil {
			return fmt.Errorf("incidents: %w", err)
		}
	}
	refs := map[string]bool{}
	var last time.Duration
	for i, st := range s.Steps {
		if err := s.validateStep(st, last, refs); err != nil {
			return fmt.Errorf("step %d (%q at %v): %w", i+1, st.Action, st.At, err)
		}
		last = st.At
	}
	return nil
}

func (s Scenario) validateStep(st Step, last time.Duration, refs map[string]bool) error {
	f, ok := stepFieldsFor(st.Action)
	if !ok {
		return errors.New("unknown action; want incident, sighting, rate, outage, fault or note")
	}
	switch {
	case st.At < 0:
		return errors.New("negative time")
	case st.At < last:
		return fmt.Errorf("before the step above it (at %v): steps go in time order", last)
	case st.At > s.Duration:
		return fmt.Errorf("after the end of the scenario (%v)", s.Duration)
	case len(st.Note) > maxScenarioText || len(st.Source) > maxScenarioText:
		return fmt.Errorf("note or source longer than %d bytes", maxScenarioText)
	}
	for _, c := range []struct {
		set, allowed bool
		name         string
	}{
		{st.Ref != "", f.ref, "ref"}, {st.Incident != nil, f.incident, "incident"},
		{st.Point != nil, f.point, "point"}, {st.Source != "", f.source, "source"},
		{st.Rate != 0, f.rate, "rate"}, {st.Share != 0, f.share, "share"},
		{st.For != 0, f.dur, "for"}, {st.Fault != "", f.fault, "fault"},
	} {
		if c.set && !c.allowed {
			return fmt.Errorf("%s does not go with this action", c.name)
		}
	}
	switch st.Action {
	case "incident":
		if st.Incident == nil {
			return errors.New("no incident")
		}
		if err := st.Incident.Check(); err != nil {
			return fmt.Errorf("incident: %w", err)
		}
		if st.Ref != "" {
			if refs[st.Ref] {
				return fmt.Errorf("ref %q is already taken by an earlier incident", st.Ref)
			}
			refs[st.Ref] = true
		}
	case "sighting":
		switch {
		case st.Ref == "":
			return errors.New("no ref: a sighting names the incident it moves")
		case !refs[st.Ref]:
			return fmt.Errorf("ref %q names no earlier incident", st.Ref)
		case st.Point == nil:
			return errors.New("no point")
		}
		if err := city.ValidPoint(*st.Point); err != nil {
			return fmt.Errorf("point: %w", err)
		}
	case "rate":
		if s.Incidents == nil {
			return errors.New("a rate needs a background: give the scenario incidents (per_hour 0 to start quiet)")
		}
		if !(st.Rate >= 0 && st.Rate <= incident.MaxPerHour) {
			return fmt.Errorf("rate %v: want 0 … %g incidents per hour", st.Rate, float64(incident.MaxPerHour))
		}
	case "outage", "fault":
		if st.Action == "fault" && !slices.Contains(stepFaults(), st.Fault) {
			return fmt.Errorf("fault %q: want one of %s", st.Fault, strings.Join(stepFaults(), ", "))
		}
		if st.Action == "outage" && !(st.Share > 0 && st.Share <= 1) {
			return fmt.Errorf("share %v: want 0 < share ≤ 1", st.Share)
		}
		if !(st.Share >= 0 && st.Share <= 1) {
			return fmt.Errorf("share %v: want 0 … 1", st.Share)
		}
		if st.For < 0 || st.Action == "outage" && st.For == 0 {
			return fmt.Errorf("for %v: want a positive duration", st.For)
		}
		if st.At+st.For > s.Duration {
			return fmt.Errorf("lasts until %v, after the end of the scenario (%v): the run should see the recovery", st.At+st.For, s.Duration)
		}
	case "note":
		if strings.TrimSpace(st.Note) == "" {
			return errors.New("no note")
		}
	}
	return nil
}

// Clock is the simulated time of day at offset at, "17:00", or "" if the
// scenario gives no StartOfDay.
func (s Scenario) Clock(at time.Duration) string {
	if s.StartOfDay == 0 {
		return ""
	}
	return clockString((s.StartOfDay + at) % (24 * time.Hour))
}
