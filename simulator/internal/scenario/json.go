package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/incident"
)

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
	At       string           `json:"at"`
	Action   string           `json:"action"`
	Ref      string           `json:"ref,omitempty"`
	Incident *api.NewIncident `json:"incident,omitempty"`
	Point    *city.Point      `json:"point,omitempty"`
	Source   string           `json:"source,omitempty"`
	Camera   string           `json:"camera,omitempty"`
	Rate     *float64         `json:"rate,omitempty"`
	Share    float64          `json:"share,omitempty"`
	For      string           `json:"for,omitempty"`
	Fault    string           `json:"fault,omitempty"`
	Note     string           `json:"note,omitempty"`
}

// MarshalJSON writes the file form Load reads.
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
			Point: st.Point, Source: st.Source, Camera: st.Camera, Share: st.Share, Fault: st.Fault, Note: st.Note}
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
// Parse does.
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
			PerHour      *float64             `json:"per_hour"`
			HotSpotShare *float64             `json:"hotspot_share"`
			Kinds        []incident.KindShare `json:"kinds"`
		}
		if err := strictJSON(f.Incidents, &m); err != nil {
			return fmt.Errorf("incidents: %w", err)
		}
		mix := incident.DefaultMix()
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
			Camera: j.Camera, Share: j.Share, Fault: j.Fault, Note: j.Note}
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

// Parse reads a scenario from JSON, fills the defaults (time_scale
// 1) and validates it, its camera steps against Changsha's sample set.
func Parse(data []byte) (Scenario, error) {
	s, err := parse(data, "", nil)
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario: %w", err)
	}
	return s, nil
}

// Load reads a scenario file: JSON with durations as strings
// ("90s"), as in citydata/scenarios/; the name defaults to the file's.
// Besides each step's own fields (see Step), it checks that steps go in
// time order within the duration, that sightings name an earlier
// incident's ref, and that their cameras are in Changsha's sample set
// (LoadWith takes another).
func Load(path string) (Scenario, error) { return LoadWith(path, nil) }

// LoadWith is Load with the camera set the sighting steps name (the
// scenario's Cameras); nil: Changsha's sample set.
func LoadWith(path string, cameras []api.Camera) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario: %w", err)
	}
	s, err := parse(b, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), cameras)
	if err != nil {
		return Scenario{}, fmt.Errorf("simulator: scenario %s: %w", path, err)
	}
	return s, nil
}

func parse(data []byte, name string, cameras []api.Camera) (Scenario, error) {
	var s Scenario
	if err := json.Unmarshal(data, &s); err != nil {
		return Scenario{}, err
	}
	s.Cameras = cameras
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
