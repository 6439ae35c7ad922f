package scenario

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kuaifan/protocol/api"
	"kuaifan/protocol/cameras/changsha"
	"kuaifan/simulator/citydata"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/incident"
)

// Districts of the built-in city the scenarios play in.
const (
	tianxin = "天心区 Tianxin"
	yuhua   = "雨花区 Yuhua"
)

func TestScenarioBuiltins(t *testing.T) {
	names := BuiltinNames()
	if want := []string{"outage", "robbery-chase", "rush-hour"}; !slices.Equal(names, want) {
		t.Fatalf("built-in scenarios %v; want %v", names, want)
	}
	c := city.Changsha()
	for _, name := range names {
		s, ok := Builtin(name)
		if !ok {
			t.Fatalf("%s: not found", name)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if s.Name != name || len(s.Description) < 100 || s.Units <= 0 || s.TimeScale < 1 || s.StartOfDay == 0 {
			t.Errorf("%s: %+v", name, s)
		}
		// Every built-in runs in at most 3 real minutes at its scale.
		if real := time.Duration(float64(s.Duration) / s.TimeScale); real > 3*time.Minute {
			t.Errorf("%s: %v at %v× takes %v", name, s.Duration, s.TimeScale, real)
		}
		for _, p := range scenarioPoints(s) {
			if c.DistrictOf(p) == "" {
				t.Errorf("%s: %v is outside Changsha's districts", name, p)
			}
		}
	}
	if _, ok := Builtin("nope"); ok {
		t.Error("found a scenario that is not there")
	}
	if _, ok := Builtin("../changsha"); ok {
		t.Error("found a scenario outside the folder")
	}
}

func TestScenarioRobberyChase(t *testing.T) {
	s, _ := Builtin("robbery-chase")
	c := city.Changsha()
	if s.Incidents != nil {
		t.Errorf("background %+v; want none", s.Incidents)
	}
	if real := time.Duration(float64(s.Duration) / s.TimeScale); real > 2*time.Minute || s.Duration > 20*time.Minute {
		t.Errorf("%v simulated, %v real", s.Duration, real)
	}
	var robbery *Step
	var sightings []Step
	for i, st := range s.Steps {
		switch st.Action {
		case "incident":
			robbery = &s.Steps[i]
		case "sighting":
			sightings = append(sightings, st)
		}
	}
	if robbery == nil || robbery.Incident.Kind != "robbery" || robbery.Incident.Priority != 1 {
		t.Fatalf("robbery step %+v", robbery)
	}
	if d := c.DistrictOf(city.Point{Lat: robbery.Incident.Lat, Lon: robbery.Incident.Lon}); d != yuhua {
		t.Errorf("robbery in %q; want Yuhua", d)
	}
	if n := len(sightings); n != 5 {
		t.Fatalf("%d sightings; want 5", n)
	}
	// The five cameras of the route, west of each other, in Changsha's
	// sample set (what the hub's -cameras file of make run has).
	route := []string{"cs-yh-002", "cs-yh-003", "cs-tx-001", "cs-tx-002", "cs-tx-003"}
	prevAt, prevLon := robbery.At, robbery.Incident.Lon
	for i, st := range sightings {
		cam, ok := s.Camera(st.Camera)
		if st.Ref != robbery.Ref || st.Camera != route[i] || !ok || st.Source != "" || st.Point != nil {
			t.Errorf("sighting %d: %+v (camera %+v)", i, st, cam)
		}
		where := s.Where(st)
		if where != (city.Point{Lat: cam.Lat, Lon: cam.Lon}) {
			t.Errorf("sighting %d at %v; want camera %s's place", i, where, cam.ID)
		}
		sg := s.Sighting(st)
		if sg.Source != "camera" || sg.Camera != cam.ID || sg.Lat != cam.Lat || sg.Lon != cam.Lon ||
			sg.Note != st.Note || cam.Name == "" || sg.Check() != nil {
			t.Errorf("sighting %d reported as %+v (%v)", i, sg, sg.Check())
		}
		if gap := st.At - prevAt; gap != 3*time.Minute {
			t.Errorf("sighting %d: %v after the one before; want 3m", i, gap)
		}
		if where.Lon >= prevLon {
			t.Errorf("sighting %d at %v: not west of the one before", i, where)
		}
		prevAt, prevLon = st.At, where.Lon
	}
	last := sightings[len(sightings)-1]
	if d := c.DistrictOf(s.Where(last)); d != tianxin {
		t.Errorf("the chase ends in %q; want Tianxin", d)
	}
	if !strings.Contains(last.Note, "intercept") || s.Duration-last.At < time.Minute {
		t.Errorf("last sighting %+v, %v before the end: want the interception with time to arrive", last, s.Duration-last.At)
	}
	if sg := s.Sighting(last); sg.Note != last.Note {
		t.Errorf("the last sighting's note %q", sg.Note)
	}
}

func TestScenarioRushHour(t *testing.T) {
	s, _ := Builtin("rush-hour")
	if s.Incidents == nil || s.Incidents.PerHour != incident.DefaultPerHour || !reflect.DeepEqual(s.Incidents.Kinds, incident.DefaultMix().Kinds) {
		t.Fatalf("background %+v; want the default", s.Incidents)
	}
	var rates []Step
	for _, st := range s.Steps {
		if st.Action == "rate" {
			rates = append(rates, st)
		}
	}
	if len(rates) != 2 || rates[0].Rate != 3*incident.DefaultPerHour || rates[1].Rate != incident.DefaultPerHour ||
		rates[1].At-rates[0].At != 30*time.Minute || s.Clock(rates[0].At) != "17:00" || s.Clock(rates[1].At) != "17:30" {
		t.Errorf("rate steps %+v", rates)
	}
}

func TestScenarioOutage(t *testing.T) {
	s, _ := Builtin("outage")
	var outages []Step
	for _, st := range s.Steps {
		if st.Action == "outage" {
			outages = append(outages, st)
		}
	}
	if len(outages) != 1 || outages[0].Share != 0.2 || outages[0].For != time.Minute || outages[0].At != 2*time.Minute {
		t.Errorf("outages %+v", outages)
	}
	if s.Incidents == nil || s.Incidents.PerHour > 15 {
		t.Errorf("background %+v; want a light one", s.Incidents)
	}
}

func TestLoadScenario(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "test-chase" || s.Duration != 10*time.Minute || s.TimeScale != 1 || s.Units != 20 ||
		s.StartOfDay != 8*time.Hour+30*time.Minute || len(s.Steps) != 7 {
		t.Fatalf("%+v", s)
	}
	// The mix: per_hour given, the share left at its default, the kinds
	// replaced (not merged into the default ones).
	if m := s.Incidents; m.PerHour != 6 || m.HotSpotShare != incident.DefaultHotSpotShare || len(m.Kinds) != 1 ||
		m.Kinds[0].Needs != nil || m.Kinds[0].Summary[0] != "手机被盗" {
		t.Errorf("incidents %+v", m)
	}
	st := s.Steps
	if st[1].Incident.Kind != "robbery" || st[2].Point.Lon != 113.0 || st[2].Source != "camera 1" ||
		st[3].Rate != 0 || st[4].For != time.Minute || st[5].Fault != "gps_jump" || st[5].Share != 0.1 || st[6].For != 10*time.Second {
		t.Errorf("steps %+v", st)
	}
	if got := s.Clock(90 * time.Minute); got != "10:00" {
		t.Errorf("Clock: %q", got)
	}
	if (Scenario{}).Clock(time.Hour) != "" {
		t.Error("Clock without a start of day")
	}
}

// TestScenarioRoundTrip: MarshalJSON writes what Load reads.
func TestScenarioRoundTrip(t *testing.T) {
	for _, name := range BuiltinNames() {
		s, _ := Builtin(name)
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		if !reflect.DeepEqual(s, back) {
			t.Errorf("%s: round trip changed it:\n%+v\n%+v", name, s, back)
		}
	}
	s := Scenario{Name: "x", Duration: time.Hour, TimeScale: 2, StartOfDay: 7*time.Hour + 5*time.Second,
		Steps: []Step{{At: time.Minute, Action: "note", Note: "n"}}}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"start_of_day":"07:00:05"`) {
		t.Errorf("%s", b)
	}
	if back, err := Parse(b); err != nil || !reflect.DeepEqual(s, back) {
		t.Errorf("%+v, %v", back, err)
	}
}

func TestLoadScenarioErrors(t *testing.T) {
	dir := t.TempDir()
	incident := `{"at":"10s","action":"incident","ref":"a","incident":{"lat":28.2,"lon":112.97,"kind":"robbery","priority":1,"summary":"s"}}`
	doc := func(steps ...string) string {
		return `{"name":"t","duration":"10m","incidents":{"per_hour":5},"steps":[` + strings.Join(steps, ",") + `]}`
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not JSON", `{"name":`, "unexpected end"},
		{"unknown field", `{"name":"t","duration":"1m","stepz":[]}`, `unknown field "stepz"`},
		{"unknown step field", doc(`{"at":"1s","action":"note","note":"n","sorce":"x"}`), `unknown field "sorce"`},
		{"unknown mix field", `{"name":"t","duration":"1m","incidents":{"perhour":5}}`, `incidents: json: unknown field "perhour"`},
		{"no duration", `{"name":"t","steps":[]}`, "no duration"},
		{"bad duration", `{"name":"t","duration":"ten minutes"}`, `duration: time: invalid duration`},
		{"zero duration", `{"name":"t","duration":"0s"}`, "duration 0s"},
		{"bad scale", `{"name":"t","duration":"1m","time_scale":-2}`, "time_scale -2"},
		{"bad clock", `{"name":"t","duration":"1m","start_of_day":"25:00"}`, "start_of_day"},
		{"negative units", `{"name":"t","duration":"1m","units":-1}`, "units -1"},
		{"bad mix", `{"name":"t","duration":"1m","incidents":{"hotspot_share":2}}`, "incidents: hotspot_share 2"},
		{"unknown action", doc(`{"at":"1s","action":"explode"}`), `step 1 ("explode" at 1s): unknown action`},
		{"no at", doc(`{"action":"note","note":"n"}`), "step 1: no at"},
		{"bad at", doc(`{"at":"soon","action":"note","note":"n"}`), "step 1: at: time: invalid duration"},
		{"negative at", doc(`{"at":"-1s","action":"note","note":"n"}`), "negative time"},
		{"out of order", doc(`{"at":"2m","action":"note","note":"n"}`, `{"at":"1m","action":"note","note":"n"}`), "step 2 (\"note\" at 1m0s): before the step above it"},
		{"after the end", doc(`{"at":"11m","action":"note","note":"n"}`), "after the end"},
		{"empty note", doc(`{"at":"1s","action":"note","note":" "}`), "no note"},
		{"no incident", doc(`{"at":"1s","action":"incident"}`), "no incident"},
		{"bad incident", doc(`{"at":"1s","action":"incident","incident":{"lat":28,"lon":113,"kind":"x","priority":5}}`), "incident: priority 5"},
		{"duplicate ref", doc(incident, incident), `ref "a" is already taken`},
		{"unknown ref", doc(incident, `{"at":"1m","action":"sighting","ref":"b","point":{"lat":28.2,"lon":112.96}}`), `ref "b" names no earlier incident`},
		{"sighting first", doc(`{"at":"0s","action":"sighting","ref":"a","point":{"lat":28.2,"lon":112.96}}`, incident), `ref "a" names no earlier incident`},
		{"sighting without ref", doc(incident, `{"at":"1m","action":"sighting","point":{"lat":28.2,"lon":112.96}}`), "no ref"},
		{"sighting without point", doc(incident, `{"at":"1m","action":"sighting","ref":"a"}`), "no point and no camera"},
		{"unknown camera", doc(incident, `{"at":"1m","action":"sighting","ref":"a","camera":"cs-xx-999"}`), `step 2 ("sighting" at 1m0s): camera "cs-xx-999" is not in the camera set (16 cameras)`},
		{"camera and a far point", doc(incident, `{"at":"1m","action":"sighting","ref":"a","camera":"cs-tx-003","point":{"lat":28.186,"lon":112.9775}}`),
			`step 2 ("sighting" at 1m0s): point 28.18600, 112.97750 is 222 m from camera cs-tx-003 (黄兴南路·南门口)`},
		{"camera and a source", doc(incident, `{"at":"1m","action":"sighting","ref":"a","camera":"cs-tx-003","source":"camera 南门口"}`), "source does not go with camera"},
		{"camera of a note", doc(`{"at":"1s","action":"note","note":"n","camera":"cs-tx-003"}`), "camera does not go with this action"},
		{"sighting note too long", doc(incident, `{"at":"1m","action":"sighting","ref":"a","camera":"cs-tx-003","note":"`+strings.Repeat("x", 513)+`"}`), "note longer than 512 bytes"},
		{"sighting off the map", doc(incident, `{"at":"1m","action":"sighting","ref":"a","point":{"lat":128.2,"lon":112.96}}`), "point: lat, lon 128.2"},
		{"field of another action", doc(`{"at":"1s","action":"note","note":"n","point":{"lat":1,"lon":1}}`), "point does not go with this action"},
		{"rate without rate", doc(`{"at":"1s","action":"rate"}`), "no rate"},
		{"negative rate", doc(`{"at":"1s","action":"rate","rate":-1}`), "rate -1"},
		{"rate without background", `{"name":"t","duration":"1m","steps":[{"at":"1s","action":"rate","rate":3}]}`, "a rate needs a background"},
		{"outage without share", doc(`{"at":"1s","action":"outage","for":"1m"}`), "share 0"},
		{"outage share above 1", doc(`{"at":"1s","action":"outage","share":1.5,"for":"1m"}`), "share 1.5"},
		{"outage without for", doc(`{"at":"1s","action":"outage","share":0.2}`), "for 0s"},
		{"outage past the end", doc(`{"at":"9m30s","action":"outage","share":0.2,"for":"1m"}`), "after the end of the scenario"},
		{"unknown fault", doc(`{"at":"1s","action":"fault","fault":"meteor"}`), `fault "meteor": want one of link_drop`},
		{"negative fault for", doc(`{"at":"1s","action":"fault","fault":"link_drop","for":"-1s"}`), "for -1s"},
		{"fault share", doc(`{"at":"1s","action":"fault","fault":"rogue","share":-0.5}`), "share -0.5"},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
		if err := os.WriteFile(file, []byte(tc.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "simulator: scenario "+file) {
			t.Errorf("%s: %v; want %q in it", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	// A file without a name is named after itself; Parse has no
	// file to name it after.
	file := filepath.Join(dir, "nameless.json")
	if err := os.WriteFile(file, []byte(`{"duration":"1m"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Load(file); err != nil || s.Name != "nameless" || s.TimeScale != 1 {
		t.Errorf("%+v, %v", s, err)
	}
	if _, err := Parse([]byte(`{"duration":"1m"}`)); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Errorf("Parse without a name: %v", err)
	}
}

// scenarioPoints lists every place a scenario names, for checks against a
// city.
func scenarioPoints(s Scenario) []city.Point {
	var ps []city.Point
	for _, st := range s.Steps {
		if st.Incident != nil {
			ps = append(ps, city.Point{Lat: st.Incident.Lat, Lon: st.Incident.Lon})
		}
		if st.Action == "sighting" {
			ps = append(ps, s.Where(st))
		}
	}
	return ps
}

// A sighting step may name a camera of the scenario's set instead of a
// point, or with a point near it; the hub is sent the camera's id and
// place, source "camera" and its name as the note. Another set (as
// -cameras gives it) is checked the same way.
func TestScenarioCameras(t *testing.T) {
	doc := func(steps ...string) []byte {
		return []byte(`{"name":"t","duration":"10m","steps":[` +
			`{"at":"10s","action":"incident","ref":"a","incident":{"lat":28.2,"lon":112.97,"kind":"robbery","priority":1,"summary":"s"}},` +
			strings.Join(steps, ",") + `]}`)
	}
	s, err := Parse(doc(
		`{"at":"1m","action":"sighting","ref":"a","camera":"cs-tx-003"}`,
		`{"at":"2m","action":"sighting","ref":"a","camera":"cs-tx-002","point":{"lat":28.1805,"lon":112.9825},"note":"嫌疑人下车"}`,
		`{"at":"3m","action":"sighting","ref":"a","point":{"lat":28.19,"lon":112.97},"source":"caller","note":"路人报警"}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CameraSteps(); n != 2 {
		t.Errorf("%d camera steps", n)
	}
	for i, want := range []api.Sighting{
		{Lat: 28.184, Lon: 112.9775, Source: "camera", Camera: "cs-tx-003"},                 // no note: the hub names the camera by its id
		{Lat: 28.1805, Lon: 112.9825, Source: "camera", Note: "嫌疑人下车", Camera: "cs-tx-002"}, // the point given, near the camera
		{Lat: 28.19, Lon: 112.97, Source: "caller", Note: "路人报警"},
	} {
		st := s.Steps[i+1]
		if got := s.Sighting(st); got != want {
			t.Errorf("step %d reported as %+v; want %+v", i+2, got, want)
		}
		if got := s.Where(st); got != (city.Point{Lat: want.Lat, Lon: want.Lon}) {
			t.Errorf("step %d at %v", i+2, got)
		}
	}
	// A hub that does not know the camera: no id, the name in the source.
	cam, _ := s.Camera("cs-tx-003")
	if got := WithoutCameraID(s.Sighting(s.Steps[1]), cam); got != (api.Sighting{Lat: 28.184, Lon: 112.9775, Source: "camera 黄兴南路·南门口"}) {
		t.Errorf("without the id: %+v", got)
	}
	long := api.Camera{ID: "x", Name: strings.Repeat("天", 42)} // 126 bytes
	if got := WithoutCameraID(api.Sighting{Camera: "x"}, long).Source; len(got) > api.MaxSightingSource || !utf8.ValidString(got) {
		t.Errorf("source %q, %d bytes", got, len(got))
	}
	if got := WithoutCameraID(api.Sighting{Camera: "x"}, api.Camera{ID: "x"}).Source; got != "camera x" {
		t.Errorf("a nameless camera: %q", got)
	}

	// Another camera set: the built-in cameras are not in it.
	other := []api.Camera{{ID: "gz-001", Name: "天河路", Lat: 23.1317, Lon: 113.3278}}
	dir := t.TempDir()
	file := filepath.Join(dir, "s.json")
	if err := os.WriteFile(file, doc(`{"at":"1m","action":"sighting","ref":"a","camera":"gz-001"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), `step 2 ("sighting" at 1m0s): camera "gz-001" is not in the camera set`) {
		t.Errorf("Load with Changsha's cameras: %v", err)
	}
	sc, err := Open(file, other)
	if err != nil {
		t.Fatal(err)
	}
	if sg := sc.Sighting(sc.Steps[1]); sg.Camera != "gz-001" || sg.Lat != 23.1317 || sg.Note != "" {
		t.Errorf("with another set: %+v", sg)
	}
	if _, err := Open("robbery-chase", other); err == nil ||
		!strings.Contains(err.Error(), `built-in robbery-chase: step 3 ("sighting" at 3m30s): camera "cs-yh-002" is not in the camera set (1 cameras)`) {
		t.Errorf("robbery-chase with a set without its cameras: %v", err)
	}
	if sc, err := Open("robbery-chase", changsha.Cameras()); err != nil || sc.CameraSteps() != 5 {
		t.Errorf("robbery-chase with Changsha's set given: %v", err)
	}
	// Bound to another set afterwards (as the runner's Config.Cameras does).
	rc, _ := Builtin("robbery-chase")
	rc.Cameras = other
	if err := rc.Validate(); err == nil || !strings.Contains(err.Error(), `camera "cs-yh-002"`) {
		t.Errorf("rebound: %v", err)
	}
}

// FuzzParseScenario: whatever the file, Parse either refuses it or
// returns a scenario that validates and survives its own round trip.
func FuzzParseScenario(f *testing.F) {
	for _, n := range BuiltinNames() {
		b, err := fs.ReadFile(citydata.Scenarios(), n+".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "scenario.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"name":"t","duration":"1m","steps":[{"at":"1s","action":"sighting","ref":"x","point":{"lat":1,"lon":2}}]}`))
	f.Add([]byte(`{"name":"t","duration":"1m","steps":[{"at":"1s","action":"incident","ref":"x","incident":{"lat":28.2,"lon":112.97,"kind":"robbery","priority":1}},{"at":"2s","action":"sighting","ref":"x","camera":"cs-tx-003","point":{"lat":28.1841,"lon":112.9776}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse(data)
		if err != nil {
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
		again, err := json.Marshal(sc)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("its own JSON %s is refused: %v", again, err)
		}
	})
}
