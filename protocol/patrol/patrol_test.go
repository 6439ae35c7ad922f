package patrol_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/patrol"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func changsha(t testing.TB) *patrol.Plan {
	t.Helper()
	p, err := patrol.Parse(load(t, "changsha.json"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func task(t testing.TB, p *patrol.Plan, id string) *patrol.Task {
	t.Helper()
	for i := range p.Tasks {
		if p.Tasks[i].ID == id {
			return &p.Tasks[i]
		}
	}
	t.Fatalf("no task %q", id)
	return nil
}

func TestParseChangsha(t *testing.T) {
	p := changsha(t)
	if p.ID != "furong-wuyi" || p.Zone != "Asia/Shanghai" || len(p.Shifts) != 2 || len(p.Tasks) != 7 {
		t.Fatalf("plan %q zone %q, %d shifts, %d tasks", p.ID, p.Zone, len(p.Shifts), len(p.Tasks))
	}
	if night := p.Shifts[1]; night.Start != 20*60 || night.End != 8*60 || night.Minutes() != 720 {
		t.Errorf("night shift %+v, %d minutes", night, night.Minutes())
	}
	// Defaults.
	if m := task(t, p, "cp-museum"); m.RadiusM != patrol.DefaultRadiusM || m.Windows != nil || m.Shifts != nil {
		t.Errorf("museum: radius %v, windows %v, shifts %v", m.RadiusM, m.Windows, m.Shifts)
	}
	if r := task(t, p, "r-huangxing-road"); r.CoverShare != patrol.DefaultCoverShare || r.BufferM != 20 {
		t.Errorf("Huangxing Road: cover %v, buffer %v", r.CoverShare, r.BufferM)
	}
	// The closing repeat of a ring is dropped.
	if a := task(t, p, "a-orange-isle"); len(a.Polygon) != 5 || a.Polygon[0] != (patrol.Position{112.956, 28.17}) {
		t.Errorf("Orange Isle's ring: %v", a.Polygon)
	}
	if w := task(t, p, "cp-railway-station").Windows; len(w) != 1 || w[0].String() != "23:30-00:30" || w[0].Minutes() != 60 {
		t.Errorf("railway station windows %v", w)
	}
}

// What encoding/json writes, Parse reads back as the same plan, and
// writing that again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, p := range []*patrol.Plan{changsha(t), fromGeoJSON(t)} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := patrol.Parse(b)
		if err != nil {
			t.Fatalf("Parse of what Marshal wrote: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(p, again) {
			t.Errorf("round trip changed the plan:\n%+v\n%+v", p, again)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Errorf("not stable:\n%s\n%s", b, b2)
		}
	}
}

func TestTaskJSON(t *testing.T) {
	for _, tc := range []struct {
		task patrol.Task
		want string
	}{
		{patrol.Task{ID: "p", Kind: patrol.KindPoint, Units: []string{"u"}, Lat: 0, Lon: 9.5, RadiusM: 50},
			`{"id":"p","kind":"point","units":["u"],"lat":0,"lon":9.5,"radius_m":50,"dwell_min":0}`},
		{patrol.Task{ID: "p", Kind: patrol.KindPoint, UnitTypes: []protocol.UnitType{"car"}, Lat: 28, Lon: 113, RadiusM: 50, DwellMin: 5,
			Windows: []patrol.Window{{Start: 9 * 60, End: 10 * 60}}},
			`{"id":"p","kind":"point","unit_types":["car"],"lat":28,"lon":113,"radius_m":50,"dwell_min":5,"windows":["09:00-10:00"]}`},
		{patrol.Task{ID: "l", Kind: patrol.KindLine, Name: "路", Units: []string{"u"}, Shifts: []string{"day"},
			Route: []patrol.Position{{113, 28}, {113.01, 28}}, BufferM: 30, CoverShare: 0.8},
			`{"id":"l","kind":"line","name":"路","units":["u"],"shifts":["day"],"route":[[113,28],[113.01,28]],"buffer_m":30,"cover_share":0.8}`},
		{patrol.Task{ID: "a", Kind: patrol.KindArea, Units: []string{"u"},
			Polygon: []patrol.Position{{113, 28}, {113.01, 28}, {113, 28.01}}, MinPresenceMin: 60},
			`{"id":"a","kind":"area","units":["u"],"polygon":[[113,28],[113.01,28],[113,28.01]],"min_presence_min":60}`},
	} {
		b, err := json.Marshal(tc.task)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal = %s, %v\nwant %s", b, err, tc.want)
		}
	}
}

func fromGeoJSON(t testing.TB) *patrol.Plan {
	t.Helper()
	p, err := patrol.ParseGeoJSON(load(t, "changsha.geojson"), patrol.GeoJSONOptions{
		ID: "furong-wuyi", Name: "芙蓉区五一商圈巡逻 Furong Wuyi patrols",
		Shifts: []patrol.Shift{{ID: "day", Name: "白班", Start: 8 * 60, End: 20 * 60}, {ID: "night", Name: "夜班", Start: 20 * 60, End: 8 * 60}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The GeoJSON fixture has the JSON fixture's tasks: the kind from the
// geometry, the id from the feature or its properties, the altitude
// dropped.
func TestParseGeoJSONMatchesJSON(t *testing.T) {
	want, got := changsha(t), fromGeoJSON(t)
	if !reflect.DeepEqual(want, got) {
		wb, _ := json.MarshalIndent(want, "", " ")
		gb, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("GeoJSON gives\n%s\nJSON gives\n%s", gb, wb)
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := patrol.Parse([]byte(`{"id":"p","tasks":[{"id":"t","kind":"line","units":["u1"],"route":[[113,28],[113.01,28]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Zone != patrol.DefaultZone || !reflect.DeepEqual(p.Shifts, patrol.DefaultShifts()) {
		t.Errorf("zone %q shifts %+v", p.Zone, p.Shifts)
	}
	if tk := p.Tasks[0]; tk.BufferM != patrol.DefaultBufferM || tk.CoverShare != patrol.DefaultCoverShare {
		t.Errorf("task %+v", tk)
	}
	// A plan without tasks is a plan being written.
	p, err = patrol.Parse([]byte(`{"id":"empty","shifts":[{"id":"all","start":"00:00","end":"24:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Tasks == nil || len(p.Tasks) != 0 || p.Shifts[0].Minutes() != 1440 {
		t.Errorf("tasks %v, shift %+v", p.Tasks, p.Shifts[0])
	}
}

// plan wraps tasks (JSON) in a plan with day and night shifts.
func plan(tasks ...string) string {
	return `{"id":"p","shifts":[{"id":"day","start":"08:00","end":"20:00"},{"id":"night","start":"20:00","end":"08:00"}],"tasks":[` +
		strings.Join(tasks, ",") + `]}`
}

const (
	point = `"kind":"point","units":["car-1"],"lat":28.2,"lon":112.97`
	line  = `"kind":"line","unit_types":["car"],"route":[[112.97,28.2],[112.98,28.2]]`
	area  = `"kind":"area","unit_types":["foot"],"polygon":[[112.97,28.2],[112.98,28.2],[112.98,28.21]],"min_presence_min":60`
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		where     string // Error.Where
		task      string // Error.Task
		field     string // Error.Field
		want      string // in Error()
	}{
		{"not JSON", `{`, "", "", "", "not JSON"},
		{"empty", ``, "", "", "", "empty"},
		{"array", `[]`, "", "", "", "want an object, not a JSON array"},
		{"trailing", `{"id":"p"} {}`, "", "", "", "text after"},
		{"unknown plan field", `{"id":"p","owner":"x"}`, "", "", "owner", "unknown field"},
		{"no id", `{}`, "", "", "id", `"": want [a-z0-9_-]{1,64}`},
		{"bad id", `{"id":"Plan 1"}`, "", "", "id", `"Plan 1"`},
		{"unknown zone", `{"id":"p","zone":"Mars/Olympus"}`, "", "", "zone", `"Mars/Olympus"`},
		{"local zone", `{"id":"p","zone":"Local"}`, "", "", "zone", "not an IANA"},
		{"zone path", `{"id":"p","zone":"/etc/passwd"}`, "", "", "zone", "not an IANA"},
		{"no shifts", `{"id":"p","shifts":[]}`, "", "", "shifts", "at least one"},
		{"shift start", `{"id":"p","shifts":[{"id":"d","start":"25:00","end":"08:00"}]}`, `shift "d"`, "", "start", `"25:00" is not a time of day`},
		{"shift end missing", `{"id":"p","shifts":[{"id":"d","start":"08:00"}]}`, `shift "d"`, "", "end", "required"},
		{"shift clock shape", `{"id":"p","shifts":[{"id":"d","start":"8:00","end":"20:00"}]}`, `shift "d"`, "", "start", `"8:00" is not HH:MM`},
		{"shift unknown field", `{"id":"p","shifts":[{"id":"d","start":"08:00","end":"20:00","len":3}]}`, `shift "d"`, "", "len", "unknown field"},
		{"shift id twice", `{"id":"p","shifts":[{"id":"d","start":"08:00","end":"20:00"},{"id":"d","start":"20:00","end":"08:00"}]}`, `shift "d"`, "", "id", "two shifts"},
		{"shift bad id", `{"id":"p","shifts":[{"id":"Day","start":"08:00","end":"20:00"}]}`, `shift 1`, "", "id", `"Day"`},

		{"task no id", plan(`{` + point + `}`), "task 1", "", "id", "required"},
		{"task bad id", plan(`{"id":"CP 3",` + point + `}`), "task 1", "", "id", `"CP 3"`},
		{"task id twice", plan(`{"id":"a",`+point+`}`, `{"id":"a",`+line+`}`), `task "a"`, "a", "id", "two tasks"},
		{"no kind", plan(`{"id":"t","units":["u"]}`), `task "t"`, "t", "kind", "required"},
		{"bad kind", plan(`{"id":"t","kind":"circle","units":["u"]}`), `task "t"`, "t", "kind", `"circle" is not point`},
		{"unknown task field", plan(`{"id":"cp-3",` + point + `,"radius":50}`), `task "cp-3"`, "cp-3", "radius", "unknown field"},
		{"wrong type", plan(`{"id":"cp-3",` + point + `,"radius_m":"50"}`), `task "cp-3"`, "cp-3", "radius_m", "want a number, not a JSON string"},
		{"negative radius", plan(`{"id":"cp-3",` + point + `,"radius_m":-5}`), `task "cp-3"`, "cp-3", "radius_m", `task "cp-3": radius_m: -5 is not > 0`},
		{"zero radius", plan(`{"id":"cp-3",` + point + `,"radius_m":0}`), `task "cp-3"`, "cp-3", "radius_m", "0 is not > 0"},
		{"huge radius", plan(`{"id":"cp-3",` + point + `,"radius_m":9000}`), `task "cp-3"`, "cp-3", "radius_m", "9000 is over 5000"},
		{"negative dwell", plan(`{"id":"cp-3",` + point + `,"dwell_min":-1}`), `task "cp-3"`, "cp-3", "dwell_min", "-1 is not >= 0"},
		{"no lat", plan(`{"id":"cp-3","kind":"point","units":["u"],"lon":112}`), `task "cp-3"`, "cp-3", "lat", "required"},
		{"no lon", plan(`{"id":"cp-3","kind":"point","units":["u"],"lat":28}`), `task "cp-3"`, "cp-3", "lon", "required"},
		{"lat out of range", plan(`{"id":"cp-3","kind":"point","units":["u"],"lat":112.97,"lon":28.2}`), `task "cp-3"`, "cp-3", "lat", "not a WGS-84"},
		{"foreign field", plan(`{"id":"cp-3",` + point + `,"buffer_m":30}`), `task "cp-3"`, "cp-3", "buffer_m", "a field of a line task, not of a point task"},
		{"foreign zero", plan(`{"id":"r",` + line + `,"lat":0}`), `task "r"`, "r", "lat", "a field of a point task"},
		{"nobody", plan(`{"id":"t","kind":"point","lat":28,"lon":112}`), `task "t"`, "t", "units", "assigned to nobody"},
		{"bad unit", plan(`{"id":"t","kind":"point","units":["car 1"],"lat":28,"lon":112}`), `task "t"`, "t", "units", `"car 1" is not a unit id`},
		{"unit twice", plan(`{"id":"t","kind":"point","units":["c","c"],"lat":28,"lon":112}`), `task "t"`, "t", "units", `"c" listed twice`},
		{"bad unit type", plan(`{"id":"t","kind":"point","unit_types":["tank"],"lat":28,"lon":112}`), `task "t"`, "t", "unit_types", `"tank" is not a unit type`},
		{"unknown shift", plan(`{"id":"t",` + point + `,"shifts":["evening"]}`), `task "t"`, "t", "shifts", `no shift "evening"`},
		{"shift twice", plan(`{"id":"t",` + point + `,"shifts":["day","day"]}`), `task "t"`, "t", "shifts", `"day" listed twice`},
		{"bad window", plan(`{"id":"t",` + point + `,"windows":["9-10"]}`), `task "t"`, "t", "windows", `"9-10": start "9" is not HH:MM`},
		{"window outside the shift", plan(`{"id":"t",` + point + `,"shifts":["night"],"windows":["09:00-10:00"]}`), `task "t"`, "t", "windows",
			`"09:00-10:00" is not within shift "night" (20:00-08:00)`},
		{"window across the shift's end", plan(`{"id":"t",` + point + `,"shifts":["day"],"windows":["19:30-20:30"]}`), `task "t"`, "t", "windows", "not within"},
		{"window not in every shift", plan(`{"id":"t",` + point + `,"windows":["09:00-10:00"]}`), `task "t"`, "t", "windows", `shift "night"`},
		{"dwell longer than window", plan(`{"id":"t",` + point + `,"shifts":["day"],"dwell_min":30,"windows":["09:00-09:20"]}`), `task "t"`, "t", "dwell_min",
			`30 minutes do not fit in window "09:00-09:20"`},
		{"dwell longer than shift", plan(`{"id":"t",` + point + `,"dwell_min":800}`), `task "t"`, "t", "dwell_min", `do not fit in shift "day"`},
		{"route one position", plan(`{"id":"r","kind":"line","units":["u"],"route":[[112.97,28.2]]}`), `task "r"`, "r", "route", "at least 2"},
		{"route no length", plan(`{"id":"r","kind":"line","units":["u"],"route":[[112.97,28.2],[112.97,28.2]]}`), `task "r"`, "r", "route", "no length"},
		{"route swapped", plan(`{"id":"r","kind":"line","units":["u"],"route":[[28.2,112.97],[28.3,112.97]]}`), `task "r"`, "r", "route",
			"position 1: [28.2, 112.97] is not WGS-84 [lon, lat]"},
		{"route position shape", plan(`{"id":"r","kind":"line","units":["u"],"route":[[112.97],[112.98,28.2]]}`), `task "r"`, "r", "route", "position 1: want [lon, lat]"},
		{"route too long", plan(`{"id":"r","kind":"line","units":["u"],"route":[[112,28],[114,28]]}`), `task "r"`, "r", "route", "at most 100 km"},
		{"no route", plan(`{"id":"r","kind":"line","units":["u"]}`), `task "r"`, "r", "route", "required"},
		{"cover share over 1", plan(`{"id":"r",` + line + `,"cover_share":1.5}`), `task "r"`, "r", "cover_share", "1.5 is over 1"},
		{"buffer zero", plan(`{"id":"r",` + line + `,"buffer_m":0}`), `task "r"`, "r", "buffer_m", "0 is not > 0"},
		{"polygon flat", plan(`{"id":"a","kind":"area","units":["u"],"polygon":[[1,1],[2,2],[3,3]],"min_presence_min":5}`), `task "a"`, "a", "polygon", "no area"},
		{"polygon two", plan(`{"id":"a","kind":"area","units":["u"],"polygon":[[1,1],[2,2],[1,1]],"min_presence_min":5}`), `task "a"`, "a", "polygon", "at least 3"},
		{"no presence", plan(`{"id":"a","kind":"area","units":["u"],"polygon":[[1,1],[2,2],[1,2]]}`), `task "a"`, "a", "min_presence_min", "required"},
		{"presence over shift", plan(`{"id":"a",`+area+`}`, `{"id":"b","kind":"area","units":["u"],"polygon":[[1,1],[2,2],[1,2]],"min_presence_min":721}`),
			`task "b"`, "b", "min_presence_min", "721 is over 720"},
		{"long name", plan(`{"id":"t",` + point + `,"name":"` + strings.Repeat("长", 100) + `"}`), `task "t"`, "t", "name", "300 bytes"},
		{"null task", plan(`null`), "task 1", "", "id", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := patrol.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", tc.doc, p)
			}
			var e *patrol.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *patrol.Error", err, err)
			}
			if e.Where != tc.where || e.Task != tc.task || e.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (where %q, task %q, field %q); want where %q, task %q, field %q, mentioning %q",
					err, e.Where, e.Task, e.Field, tc.where, tc.task, tc.field, tc.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"id":"p","tasks":[`)
	for i := range patrol.MaxTasks + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{}`)
	}
	b.WriteString(`]}`)
	if _, err := patrol.Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "10001 tasks; at most 10000") {
		t.Errorf("too many tasks: %v", err)
	}
	b.Reset()
	b.WriteString(`{"id":"p","tasks":[{"id":"r","kind":"line","units":["u"],"route":[`)
	for i := range patrol.MaxVertices + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`[113,28]`)
	}
	b.WriteString(`]}]}`)
	if _, err := patrol.Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), `task "r": route: 10001 positions; at most 10000`) {
		t.Errorf("too many vertices: %v", err)
	}
	if _, err := patrol.Parse(make([]byte, patrol.MaxPlanBytes+1)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("too big: %v", err)
	}
}

func TestParseGeoJSONErrors(t *testing.T) {
	fc := func(features ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
	}
	pt := func(props string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":{"type":"Point","coordinates":[112.97,28.2]}}`
	}
	for _, tc := range []struct {
		name, doc    string
		opts         patrol.GeoJSONOptions
		where, field string
		want         string
	}{
		{"not JSON", `{`, patrol.GeoJSONOptions{ID: "p"}, "", "", "not GeoJSON"},
		{"not a collection", `{"type":"Feature"}`, patrol.GeoJSONOptions{ID: "p"}, "", "", "want a FeatureCollection"},
		{"no plan id", fc(), patrol.GeoJSONOptions{}, "", "id", `""`},
		{"not a feature", fc(`{"type":"Point"}`), patrol.GeoJSONOptions{ID: "p"}, "feature 1", "", "want a Feature"},
		{"no id", fc(pt(`{"units":["u"]}`)), patrol.GeoJSONOptions{ID: "p"}, "feature 1", "properties.id", "required"},
		{"unknown property", fc(pt(`{"id":"a","units":["u"],"stroke":"#f00"}`)), patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "properties.stroke", "unknown field"},
		{"kind disagrees", fc(pt(`{"id":"a","kind":"area","units":["u"]}`)), patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "properties.kind", `"area", but a Point is a point task`},
		{"place as property", fc(pt(`{"id":"a","units":["u"],"lat":28}`)), patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "properties.lat", "the geometry gives"},
		{"foreign property", fc(pt(`{"id":"a","units":["u"],"cover_share":0.5}`)), patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "properties.cover_share", "a field of a line task"},
		{"no geometry", fc(`{"type":"Feature","properties":{"id":"a","units":["u"]}}`), patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "geometry", "required"},
		{"multipolygon", fc(`{"type":"Feature","properties":{"id":"a","units":["u"]},"geometry":{"type":"MultiPolygon","coordinates":[]}}`),
			patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "geometry", `"MultiPolygon": want a Point, LineString or Polygon`},
		{"hole", fc(`{"type":"Feature","properties":{"id":"a","units":["u"],"min_presence_min":5},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]],[[1.1,1.1],[1.2,1.1],[1.2,1.2],[1.1,1.1]]]}}`),
			patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "geometry", "1 holes"},
		{"point shape", fc(`{"type":"Feature","properties":{"id":"a","units":["u"]},"geometry":{"type":"Point","coordinates":[1]}}`),
			patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "geometry", "want [lon, lat]"},
		{"bad coordinates", fc(`{"type":"Feature","properties":{"id":"a","units":["u"]},"geometry":{"type":"LineString","coordinates":"x"}}`),
			patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "geometry", "LineString coordinates: want a list"},
		{"area without presence", fc(`{"type":"Feature","properties":{"id":"a","units":["u"]},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}}`),
			patrol.GeoJSONOptions{ID: "p"}, `feature 1 ("a")`, "properties.min_presence_min", "required"},
		{"value checked by Validate", fc(pt(`{"id":"a","units":["u"],"radius_m":-5}`)), patrol.GeoJSONOptions{ID: "p"}, `task "a"`, "radius_m", "-5 is not > 0"},
		{"window outside the given shifts", fc(pt(`{"id":"a","units":["u"],"windows":["03:00-04:00"]}`)),
			patrol.GeoJSONOptions{ID: "p", Shifts: []patrol.Shift{{ID: "day", Start: 8 * 60, End: 20 * 60}}}, `task "a"`, "windows", `not within shift "day"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := patrol.ParseGeoJSON([]byte(tc.doc), tc.opts)
			if err == nil {
				t.Fatalf("accepted %s: %+v", tc.doc, p)
			}
			var e *patrol.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *patrol.Error", err, err)
			}
			if e.Where != tc.where || e.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (where %q, field %q); want where %q, field %q, mentioning %q", err, e.Where, e.Field, tc.where, tc.field, tc.want)
			}
		})
	}
}

func TestParseGeoJSONIgnoreUnknown(t *testing.T) {
	doc := `{"type":"FeatureCollection","crs":{},"features":[{"type":"Feature","id":7,"bbox":[1,2,3,4],
		"properties":{"units":["u"],"stroke":"#f00","fid":3},"geometry":{"type":"Point","coordinates":[112.97,28.2]}}]}`
	p, err := patrol.ParseGeoJSON([]byte(doc), patrol.GeoJSONOptions{ID: "p", IgnoreUnknownProperties: true})
	if err != nil {
		t.Fatal(err)
	}
	if tk := p.Tasks[0]; tk.ID != "7" || tk.Kind != patrol.KindPoint || tk.Lat != 28.2 || tk.RadiusM != patrol.DefaultRadiusM {
		t.Errorf("task %+v", tk)
	}
}

func TestClockAndWindow(t *testing.T) {
	for _, tc := range []struct {
		in      string
		minutes int
		err     bool
	}{
		{"09:00-10:00", 60, false}, {"23:30-00:30", 60, false}, {"20:00-08:00", 720, false},
		{"00:00-24:00", 1440, false}, {"08:00-08:00", 1440, false}, {"22:00-24:00", 120, false},
		{"24:01-01:00", 0, true}, {"09:60-10:00", 0, true}, {"0900-1000", 0, true}, {"09:00", 0, true}, {"-1:00-02:00", 0, true},
	} {
		w, err := patrol.ParseWindow(tc.in)
		if (err != nil) != tc.err || err == nil && w.Minutes() != tc.minutes {
			t.Errorf("ParseWindow(%q) = %v (%d min), %v", tc.in, w, w.Minutes(), err)
		}
	}
	night := patrol.Window{Start: 20 * 60, End: 8 * 60}
	for in, want := range map[string]bool{"23:30-00:30": true, "20:00-08:00": true, "07:00-08:00": true, "19:59-20:30": false,
		"07:30-08:30": false, "09:00-10:00": false, "20:00-20:00": false} {
		w, _ := patrol.ParseWindow(in)
		if got := w.Within(night); got != want {
			t.Errorf("%s within the night shift: %v", in, got)
		}
	}
}

func TestShiftBounds(t *testing.T) {
	p := changsha(t)
	cst := time.FixedZone("CST", 8*3600)
	for _, tc := range []struct {
		shift      string
		date       time.Time
		start, end string
	}{
		{"day", time.Date(2026, 12, 6, 12, 0, 0, 0, cst), "2026-12-06 08:00", "2026-12-06 20:00"},
		{"night", time.Date(2026, 12, 6, 12, 0, 0, 0, cst), "2026-12-06 20:00", "2026-12-07 08:00"},
		{"night", time.Date(2026, 12, 31, 0, 0, 0, 0, cst), "2026-12-31 20:00", "2027-01-01 08:00"},
		// The date is taken in the plan's zone: 17:00 UTC is 01:00 the next day in Changsha.
		{"day", time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC), "2026-12-07 08:00", "2026-12-07 20:00"},
	} {
		start, end, err := p.ShiftBounds(tc.shift, tc.date)
		if err != nil {
			t.Fatal(err)
		}
		const layout = "2006-01-02 15:04"
		if s, e := start.In(cst).Format(layout), end.In(cst).Format(layout); s != tc.start || e != tc.end {
			t.Errorf("%s on %v: %s to %s, want %s to %s", tc.shift, tc.date, s, e, tc.start, tc.end)
		}
	}
	if _, _, err := p.ShiftBounds("evening", time.Now()); err == nil || !strings.Contains(err.Error(), `no shift "evening"`) {
		t.Errorf("unknown shift: %v", err)
	}
}

func TestCurrentTasks(t *testing.T) {
	p := changsha(t)
	cst := time.FixedZone("CST", 8*3600)
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, cst) }
	ms := func(day, h, m int) int64 { return at(day, h, m).UnixMilli() }
	type want struct {
		task, shift string
		window      *patrol.Span
	}
	for _, tc := range []struct {
		name string
		unit string
		typ  protocol.UnitType
		now  time.Time
		want []want
	}{
		{"car in the first window", "car-001", protocol.TypeCar, at(6, 9, 30), []want{
			{"cp-wuyi-square", "day", &patrol.Span{From: ms(6, 9, 0), To: ms(6, 10, 0)}},
			{"r-wuyi-avenue", "day", nil}}},
		{"car before the second window", "car-001", protocol.TypeCar, at(6, 10, 0), []want{
			{"cp-wuyi-square", "day", &patrol.Span{From: ms(6, 17, 0), To: ms(6, 18, 0)}},
			{"r-wuyi-avenue", "day", nil}}},
		{"car after the windows", "car-001", protocol.TypeCar, at(6, 19, 0), []want{
			{"cp-wuyi-square", "day", nil},
			{"r-wuyi-avenue", "day", nil}}},
		{"car at night", "car-001", protocol.TypeCar, at(6, 22, 0), []want{{"r-wuyi-avenue", "night", nil}}},
		{"another car by type only", "car-777", protocol.TypeCar, at(6, 9, 30), []want{{"r-wuyi-avenue", "day", nil}}},
		{"motorcycle before midnight", "moto-009", protocol.TypeMotorcycle, at(6, 21, 0), []want{
			{"cp-railway-station", "night", &patrol.Span{From: ms(6, 23, 30), To: ms(7, 0, 30)}}}},
		{"motorcycle after midnight, window open", "moto-009", protocol.TypeMotorcycle, at(7, 0, 10), []want{
			{"cp-railway-station", "night", &patrol.Span{From: ms(6, 23, 30), To: ms(7, 0, 30)}}}},
		{"motorcycle after the window", "moto-009", protocol.TypeMotorcycle, at(7, 3, 0), []want{{"cp-railway-station", "night", nil}}},
		{"foot officer by id and type", "foot-011", protocol.TypeFoot, at(6, 12, 0), []want{
			{"cp-museum", "day", &patrol.Span{From: ms(6, 8, 0), To: ms(6, 20, 0)}},
			{"r-huangxing-road", "day", nil},
			{"a-wuyi-business", "day", nil}}},
		{"unknown type", "foot-011", "", at(6, 21, 0), []want{{"cp-museum", "night", &patrol.Span{From: ms(6, 20, 0), To: ms(7, 8, 0)}}}},
		{"volunteer by type", "vol-1", protocol.TypeVolunteer, at(6, 22, 0), []want{{"a-wuyi-business", "night", nil}}},
		{"nobody's", "moto-1", protocol.TypeMotorcycle, at(6, 12, 0), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := p.CurrentTasks(tc.unit, tc.typ, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, c := range cur {
				got = append(got, want{c.Task.ID, c.Shift, c.Window})
				s, e, _ := p.ShiftBounds(c.Shift, time.UnixMilli(c.ShiftStart))
				if s.UnixMilli() != c.ShiftStart || e.UnixMilli() != c.ShiftEnd || tc.now.Before(s) || !tc.now.Before(e) {
					t.Errorf("%s: shift %d to %d does not hold %v", c.Task.ID, c.ShiftStart, c.ShiftEnd, tc.now)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	r := patrol.Report{Plan: "p", Shift: "day", Date: "2026-12-06", Zone: "Asia/Shanghai", From: 1, To: 2, MaxGapS: 90, Met: 0, Total: 1,
		Tasks: []patrol.TaskSummary{{Task: "cp", Kind: patrol.KindPoint, Met: 0, Total: 1}},
		Units: []patrol.UnitSummary{{Unit: "car-1", Type: protocol.TypeCar, Fixes: 10, Total: 1}},
		Results: []patrol.Result{{Task: "cp", Unit: "car-1", Kind: patrol.KindPoint, Point: &patrol.PointResult{RadiusM: 50, DwellMin: 10,
			Windows: []patrol.WindowResult{{Window: patrol.Window{Start: 9 * 60, End: 10 * 60}, From: 1, To: 2, DwellMin: 0}}}}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"plan":"p","shift":"day","date":"2026-12-06","zone":"Asia/Shanghai","from":1,"to":2,"max_gap_s":90,"met":0,"total":1,` +
		`"tasks":[{"task":"cp","kind":"point","met":0,"total":1}],"units":[{"unit":"car-1","type":"car","fixes":10,"met":0,"total":1}],` +
		`"results":[{"task":"cp","unit":"car-1","kind":"point","met":false,"point":{"radius_m":50,"dwell_min":10,"held":0,` +
		`"windows":[{"window":"09:00-10:00","from":1,"to":2,"held":false,"dwell_min":0}]}}]}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back patrol.Report
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("decoding the report: %v\n%+v", err, back)
	}
}
