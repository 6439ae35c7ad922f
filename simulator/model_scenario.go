package simulator

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Scenario is a scripted, timed run: a background of incidents and a list of
// steps at given simulated times. It is read from JSON (see LoadScenario);
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
	Incidents  *IncidentMix // the background; nil: none
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
	At       time.Duration // from the start, simulated time
	Action   string        // incident, sighting, rate, outage, fault, note
	Ref      string        // a name for the incident a later sighting refers to
	Incident *NewIncident  // for "incident"
	Point    *Point        // for "sighting": where
	Source   string        // for "sighting": who saw it
	Rate     float64       // for "rate": incidents per hour from now
	Share    float64       // for "outage" (and "fault"): share of the fleet
	For      time.Duration // for "outage"/"fault": how long
	Fault    string        // for "fault"
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

// scenarioFaults are the faults a "fault" step may name.
func scenarioFaults() []string {
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
		if err := st.Incident.Validate(); err != nil {
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
		if err := validPoint(*st.Point); err != nil {
			return fmt.Errorf("point: %w", err)
		}
	case "rate":
		if s.Incidents == nil {
			return errors.New("a rate needs a background: give the scenario incidents (per_hour 0 to start quiet)")
		}
		if !(st.Rate >= 0 && st.Rate <= maxMixPerHour) {
			return fmt.Errorf("rate %v: want 0 … %g incidents per hour", st.Rate, float64(maxMixPerHour))
		}
	case "outage", "fault":
		if st.Action == "fault" && !slices.Contains(scenarioFaults(), st.Fault) {
			return fmt.Errorf("fault %q: want one of %s", st.Fault, strings.Join(scenarioFaults(), ", "))
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

// scenarioJSON is the file form: durations as strings ("90s", "18m"), the
// clock as "16:45".
type scenarioJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Duration    string          `json:"duration"`
	TimeScale   float64         `json:"time_scale,omitempty"`
	Units       int             `json:"units,omitempty"`
	StartOfDay  string          `json:"start_of_day,omitempty"`
	Incidents   json.RawMessage `json:"incidents,omitempty"`
	Steps       []stepJSON      `json:"steps"`
}

type stepJSON struct {
	At       string       `json:"at"`
	Action   string       `json:"action"`
	Ref      string       `json:"ref,omitempty"`
	Incident *NewIncident `json:"incident,omitempty"`
	Point    *Point       `json:"point,omitempty"`
	Source   string       `json:"source,omitempty"`
	Rate     *float64     `json:"rate,omitempty"`
	Share    float64      `json:"share,omitempty"`
	For      string       `json:"for,omitempty"`
	Fault    string       `json:"fault,omitempty"`
	Note     string       `json:"note,omitempty"`
}

// MarshalJSON writes the file form LoadScenario reads.
func (s Scenario) MarshalJSON() ([]byte, error) {
	f := scenarioJSON{Name: s.Name, Description: s.Description, Duration: s.Duration.String(),
		TimeScale: s.TimeScale, Units: s.Units, Steps: make([]stepJSON, 0, len(s.Steps))}
	if s.StartOfDay != 0 {
		f.StartOfDay = clockString(s.StartOfDay)
	}
	if s.Incidents != nil {
		b, err := json.Marshal(s.Incidents)
		if err != nil {
			return nil, err
		}
		f.Incidents = b
	}
	for _, st := range s.Steps {
		j := stepJSON{At: st.At.String(), Action: st.Action, Ref: st.Ref, Incident: st.Incident,
			Point: st.Point, Source: st.Source, Share: st.Share, Fault: st.Fault, Note: st.Note}
		if st.Action == "rate" || st.Rate != 0 {
			r := st.Rate
			j.Rate = &r
		}
		if st.For != 0 {
			j.For = st.For.String()
		}
		f.Steps = append(f.Steps, j)
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads the file form, refusing unknown fields (a misspelt
// "sorce" would otherwise vanish). It does not validate or fill defaults:
// ParseScenario does.
func (s *Scenario) UnmarshalJSON(data []byte) error {
	var f scenarioJSON
	if err := strictJSON(data, &f); err != nil {
		return err
	}
	out := Scenario{Name: f.Name, Description: f.Description, TimeScale: f.TimeScale, Units: f.Units}
	var err error
	if out.Duration, err = parseDurationField("duration", f.Duration); err != nil {
		return err
	}
	if f.StartOfDay != "" {
		if out.StartOfDay, err = parseClock(f.StartOfDay); err != nil {
			return err
		}
	}
	if len(f.Incidents) > 0 && !bytes.Equal(bytes.TrimSpace(f.Incidents), []byte("null")) {
		// Fields left out keep the defaults; kinds are decoded afresh
		// rather than over the default ones, which would leave their
		// summaries and needs behind.
		var m struct {
			PerHour      *float64    `json:"per_hour"`
			HotSpotShare *float64    `json:"hotspot_share"`
			Kinds        []KindShare `json:"kinds"`
		}
		if err := strictJSON(f.Incidents, &m); err != nil {
			return fmt.Errorf("incidents: %w", err)
		}
		mix := DefaultIncidentMix()
		if m.PerHour != nil {
			mix.PerHour = *m.PerHour
		}
		if m.HotSpotShare != nil {
			mix.HotSpotShare = *m.HotSpotShare
		}
		if len(m.Kinds) > 0 {
			mix.Kinds = m.Kinds
		}
		out.Incidents = &mix
	}
	for i, j := range f.Steps {
		st := Step{Action: j.Action, Ref: j.Ref, Incident: j.Incident, Point: j.Point, Source: j.Source,
			Share: j.Share, Fault: j.Fault, Note: j.Note}
		if st.At, err = parseDurationField("at", j.At); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if j.For != "" {
			if st.For, err = parseDurationField("for", j.For); err != nil {
				return fmt.Errorf("step %d: %w", i+1, err)
			}
		}
		if j.Rate != nil {
			st.Rate = *j.Rate
		} else if j.Action == "rate" {
			return fmt.Errorf("step %d (\"rate\"): no rate", i+1)
		}
		out.Steps = append(out.Steps, st)
	}
	*s = out
	return nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func parseDurationField(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("no %s: want a duration like \"90s\"", name)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// parseClock reads "16:45" or "16:45:30".
func parseClock(s string) (time.Duration, error) {
	for _, layout := range []string{"15:04", "15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
				time.Duration(t.Second())*time.Second, nil
		}
	}
	return 0, fmt.Errorf("start_of_day %q: want a time of day like \"16:45\"", s)
}

func clockString(d time.Duration) string {
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if s != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// Clock is the simulated time of day at offset at, "17:00", or "" if the
// scenario gives no StartOfDay.
func (s Scenario) Clock(at time.Duration) string {
	if s.StartOfDay == 0 {
		return ""
	}
	return clockString((s.StartOfDay + at) % (24 * time.Hour))
}

// ParseScenario reads a scenario from JSON, fills the defaults (time_scale
// 1) and validates it.
func ParseScenario(data []byte) (Scenario, error) {
	s, err := parseScenario(data, "")
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario: %w", err)
	}
	return s, nil
}

// LoadScenario reads a scenario file: JSON with durations as strings
// ("90s"), as in citydata/scenarios/; the name defaults to the file's.
// Besides each step's own fields (see Step), it checks that steps go in
// time order within the duration and that sightings name an earlier
// incident's ref.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario: %w", err)
	}
	s, err := parseScenario(b, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario %s: %w", path, err)
	}
	return s, nil
}

func parseScenario(data []byte, name string) (Scenario, error) {
	var s Scenario
	if err := json.Unmarshal(data, &s); err != nil {
		return Scenario{}, err
	}
	if s.Name == "" {
		s.Name = name
	}
	if s.TimeScale == 0 {
		s.TimeScale = 1
	}
	if err := s.Validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

//go:embed citydata/scenarios/*.json
var builtinScenarios embed.FS

const builtinScenarioDir = "citydata/scenarios"

// BuiltinScenario returns a scenario shipped with the simulator, freshly
// decoded (callers may change their copy).
func BuiltinScenario(name string) (Scenario, bool) {
	if !slices.Contains(BuiltinScenarioNames(), name) {
		return Scenario{}, false
	}
	b, err := builtinScenarios.ReadFile(path.Join(builtinScenarioDir, name+".json"))
	if err != nil {
		return Scenario{}, false
	}
	s, err := parseScenario(b, name)
	if err != nil {
		// Part of the build, and TestScenarioBuiltins checks every one.
		panic(fmt.Sprintf("simulator: built-in scenario %s: %v", name, err))
	}
	return s, true
}

// BuiltinScenarioNames lists the built-in scenarios, sorted.
func BuiltinScenarioNames() []string {
	entries, err := fs.ReadDir(builtinScenarios, builtinScenarioDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
