// Package scenario is a scripted, timed run: a background of incidents and
// steps at simulated times (incidents, camera sightings, rate changes,
// outages, faults, notes), read from JSON files and checked before anything
// starts. The built-in scenarios are citydata/scenarios/*.json. A sighting
// may name a camera of the scenario's camera set (Changsha's sample set,
// kuaifan/protocol/cameras/changsha, unless another is given). No I/O
// beyond reading a scenario file; package director carries the steps out.
package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"kuaifan/protocol/api"
	"kuaifan/protocol/cameras/changsha"
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
	// Cameras is the camera set sighting steps name (Step.Camera): a 天网
	// inventory as kuaifan/protocol/cameras reads it. Not part of the file;
	// nil: Changsha's sample set (kuaifan/protocol/cameras/changsha).
	Cameras []api.Camera
}

// Step is one scripted event. Which fields an action takes:
//
//	incident  Incident (required); Ref, a name later sightings use
//	sighting  Ref of an earlier incident, and Point or Camera (or both): where
//	          it was seen; Source ("camera 南门口", not with Camera). A Camera
//	          is the id of one of the scenario's Cameras: the point may be
//	          left out (it is the camera's position) or given within
//	          CameraRadiusM of it; the sighting is reported with source
//	          "camera", the camera's id and its name as the note (see Sighting)
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
	Point    *city.Point      // for "sighting": where; nil with a Camera: the camera's position
	Source   string           // for "sighting": who saw it
	Camera   string           // for "sighting": the id of the camera that saw it (Scenario.Cameras)
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

// CameraRadiusM is how far from its camera a sighting step's point may be:
// what a road camera at a junction sees.
const CameraRadiusM = 150

// changshaCameras is the default camera set, parsed once.
var changshaCameras = sync.OnceValue(changsha.Cameras)

// stepFaults are the faults a "fault" step may name.
func stepFaults() []string {
	return []string{"link_drop", "agent_kill", "gps_jump", "gps_nofix", "duplicate", "reorder", "rogue", "broker_restart"}
}

// stepFieldSet says which of a step's optional fields an action uses; a
// field given to another action is refused, as it is almost always a
// mistake (a sighting's point on the incident step, say).
type stepFieldSet struct{ ref, incident, point, source, camera, rate, share, dur, fault bool }

func stepFieldsFor(action string) (stepFieldSet, bool) {
	switch action {
	case "incident":
		return stepFieldSet{ref: true, incident: true}, true
	case "sighting":
		return stepFieldSet{ref: true, point: true, source: true, camera: true}, true
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
	var cams map[string]api.Camera // by id, if a step names one
	if s.CameraSteps() > 0 {
		cams = s.cameraSet()
	}
	var last time.Duration
	for i, st := range s.Steps {
		if err := s.validateStep(st, last, refs, cams); err != nil {
			return fmt.Errorf("step %d (%q at %v): %w", i+1, st.Action, st.At, err)
		}
		last = st.At
	}
	return nil
}

func (s Scenario) validateStep(st Step, last time.Duration, refs map[string]bool, cams map[string]api.Camera) error {
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
		{st.Point != nil, f.point, "point"}, {st.Source != "", f.source, "source"}, {st.Camera != "", f.camera, "camera"},
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
		case st.Point == nil && st.Camera == "":
			return errors.New("no point and no camera: say where it was seen")
		case st.Camera != "" && st.Source != "":
			return errors.New(`source does not go with camera: a camera's sighting is reported with source "camera"`)
		case len(st.Note) > api.MaxSightingNote:
			return fmt.Errorf("note longer than %d bytes (the hub's limit for a sighting's note)", api.MaxSightingNote)
		}
		if st.Point != nil {
			if err := city.ValidPoint(*st.Point); err != nil {
				return fmt.Errorf("point: %w", err)
			}
		}
		if st.Camera != "" {
			cam, ok := cams[st.Camera]
			if !ok {
				return fmt.Errorf("camera %q is not in the camera set (%d cameras)", st.Camera, len(cams))
			}
			if st.Point != nil {
				if d := city.DistanceM(*st.Point, cameraPoint(cam)); d > CameraRadiusM {
					return fmt.Errorf("point %.5f, %.5f is %.0f m from camera %s (%s) at %.5f, %.5f: at most %d m (or leave the point out)",
						st.Point.Lat, st.Point.Lon, d, cam.ID, cam.Name, cam.Lat, cam.Lon, CameraRadiusM)
				}
			}
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

// cameras is the scenario's camera set.
func (s Scenario) cameras() []api.Camera {
	if s.Cameras == nil {
		return changshaCameras()
	}
	return s.Cameras
}

// cameraSet is the scenario's cameras by id.
func (s Scenario) cameraSet() map[string]api.Camera {
	cs := s.cameras()
	m := make(map[string]api.Camera, len(cs))
	for _, c := range cs {
		m[c.ID] = c
	}
	return m
}

// Camera is the camera of the scenario's set with that id.
func (s Scenario) Camera(id string) (api.Camera, bool) {
	cs := s.cameras()
	i := slices.IndexFunc(cs, func(c api.Camera) bool { return c.ID == id })
	if i < 0 {
		return api.Camera{}, false
	}
	return cs[i], true
}

// CameraSteps counts the sighting steps that name a camera.
func (s Scenario) CameraSteps() int {
	n := 0
	for _, st := range s.Steps {
		if st.Action == "sighting" && st.Camera != "" {
			n++
		}
	}
	return n
}

// Where is the place a sighting step reports: its point, or else its
// camera's position (the zero point if it has neither, which Validate
// refuses).
func (s Scenario) Where(st Step) city.Point {
	if st.Point != nil {
		return *st.Point
	}
	if cam, ok := s.Camera(st.Camera); ok {
		return cameraPoint(cam)
	}
	return city.Point{}
}

// Sighting is what a (valid) sighting step reports to the hub, the body of
// POST /api/incidents/{id}/sightings: at Where(st); from a camera, with
// source "camera", the camera's id, and its name as the note (followed by
// the step's note, if any); else with the step's source and note.
func (s Scenario) Sighting(st Step) api.Sighting {
	p := s.Where(st)
	sg := api.Sighting{Lat: p.Lat, Lon: p.Lon, Source: st.Source, Note: st.Note}
	if cam, ok := s.Camera(st.Camera); ok && st.Camera != "" {
		sg.Source, sg.Camera, sg.Note = "camera", cam.ID, st.Note // the hub knows the camera's name by its id
	}
	return sg
}

// WithoutCameraID is sg, from camera cam, as a hub that does not know the
// camera takes it: no camera id, the source "camera " and the camera's
// name (or id), as a sighting was reported before cameras were data.
func WithoutCameraID(sg api.Sighting, cam api.Camera) api.Sighting {
	label := cam.Name
	if label == "" {
		label = cam.ID
	}
	sg.Camera, sg.Source = "", truncate("camera "+label, api.MaxSightingSource)
	return sg
}

func cameraPoint(c api.Camera) city.Point { return city.Point{Lat: c.Lat, Lon: c.Lon} }

// truncate cuts s to at most n bytes, at a character's boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clock is the simulated time of day at offset at, "17:00", or "" if the
// scenario gives no StartOfDay.
func (s Scenario) Clock(at time.Duration) string {
	if s.StartOfDay == 0 {
		return ""
	}
	return clockString((s.StartOfDay + at) % (24 * time.Hour))
}
