package simulator

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/protocol/cameras/changsha"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/mosquitto"
	"kuaifan/simulator/internal/patrol"
	"kuaifan/simulator/internal/report"
	"kuaifan/simulator/internal/scenario"
)

// testConfig is a run against h: a small fleet, quick to connect and to
// wind down, its logs in the test's output when verbose.
func testConfig(t *testing.T, h *hubtest.Hub, broker string) Config {
	return Config{
		HubURL: h.URL, BrokerURL: broker, AdminToken: h.AdminToken(),
		Seed: 42, Tick: 100 * time.Millisecond, ConnectWait: 30 * time.Second,
		Settle: 20 * time.Second, DrainWait: 30 * time.Second, ReconnectMax: 2 * time.Second,
		Dispatcher: DispatcherConfig{Poll: 200 * time.Millisecond},
		Logger:     hubtest.Logger(t),
	}
}

// checkDelivery: every report queued was confirmed by the hub; nothing
// thinned, nothing lost (a killed agent's queue aside).
func checkDelivery(t *testing.T, rep Report) {
	t.Helper()
	m := rep.Messages
	if m.Lost != 0 || m.Thinned != 0 || m.Confirmed+m.LostByKill != m.Positions+m.Events || m.Positions == 0 {
		t.Errorf("delivery: %+v", m)
	}
	if rep.Hub.PublishDropped != 0 {
		t.Errorf("the embedded broker dropped %v messages", rep.Hub.PublishDropped)
	}
}

// A small fleet with incidents: every incident dispatched, nothing lost,
// every arrival consistent with the unit's speed (no faster than the
// straight line at its response speed, no slower than the hub's ETA, which
// assumes a 1.4 detour), the fleet busy some of the time.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Units, cfg.TimeScale, cfg.Duration = 30, 30, 15*time.Minute
	cfg.IncidentsPerHour = 80
	cfg.Officer = &OfficerConfig{AckMedian: 6 * time.Second, AckSigma: 0.5, DeclineRate: 0.1,
		ServiceMin: 2 * time.Minute, ServiceMax: 4 * time.Minute}
	var progress strings.Builder
	cfg.Out = &progress // written by Run's progress goroutine, read once Run returned
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	in := rep.Incidents
	if in.Created < 5 || in.Dispatched != in.Created || len(in.NeverDispatched) > 0 {
		t.Errorf("incidents: %d created, %d dispatched (never: %v)", in.Created, in.Dispatched, in.NeverDispatched)
	}
	if in.Reached == 0 || in.ToArrival.N != in.Reached || in.ToDispatch.N != in.Dispatched {
		t.Errorf("figures: %+v", in)
	}
	if in.AutoDispatched+in.ByDispatcher < in.Dispatched {
		t.Errorf("%d dispatched, %d by the hub, %d by the dispatcher", in.Dispatched, in.AutoDispatched, in.ByDispatcher)
	}
	checkDelivery(t, rep)
	if rep.Units.Connected != 30 || rep.Units.Utilisation <= 0 || rep.Units.Utilisation > 1 {
		t.Errorf("units: %+v", rep.Units)
	}
	o := rep.Officers
	if o.Acks == 0 || o.Arrivals == 0 || o.Clears == 0 || o.Dispatches < uint64(in.Dispatched) {
		t.Errorf("officers: %+v", o)
	}
	if rep.SimulatedS < 15*60 || rep.SimulatedS > 16*60 {
		t.Errorf("simulated %v s, want 15 min", rep.SimulatedS)
	}

	// Arrivals against the units' speeds.
	tick := rep.Units.MovementTick
	checked := 0
	for _, j := range rep.Jobs {
		if j.AckS == nil || j.ArrivedS == nil || j.Retargets > 0 {
			continue
		}
		travel := *j.ArrivedS - *j.AckS
		d := city.DistanceM(j.From, j.Target)
		v := patrol.ResponseSpeed(protocol.UnitType(j.Type))
		// The agent may declare the arrival within 50 m of its (noisy) fix;
		// the officer acts on the step after the Mover got there.
		if low := (d - 50 - 15) / v; travel < low-tick {
			t.Errorf("%s reached %s in %.0f s: faster than %.0f m at %.1f m/s (%.0f s)", j.Unit, j.Incident, travel, d, v, low)
		}
		if high := d * 1.4 / v; travel > high+2*tick {
			t.Errorf("%s reached %s in %.0f s: slower than the hub's ETA %.0f s for %.0f m", j.Unit, j.Incident, travel, high, d)
		}
		checked++
	}
	if checked == 0 {
		t.Error("no arrival to check")
	}
	if !strings.Contains(progress.String(), "units online") {
		t.Errorf("no progress line in %q", progress.String())
	}
	for _, want := range []string{"incidents", "to arrival", "utilisation", "LOST 0"} {
		if !strings.Contains(rep.String(), want) {
			t.Errorf("report text lacks %q", want)
		}
	}
}

// The outage scenario, faster: a fifth of the fleet loses its link for a
// (simulated) minute; every position those units queued meanwhile is in the
// hub's history afterwards.
func TestOutageScenario(t *testing.T) {
	t.Parallel()
	sc, ok := scenario.Builtin("outage")
	if !ok {
		t.Fatal("no built-in outage scenario")
	}
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Scenario, cfg.Units, cfg.TimeScale = &sc, 30, 10
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if len(rep.Outages) != 1 {
		t.Fatalf("outages: %+v", rep.Outages)
	}
	o := rep.Outages[0]
	if o.Units != 6 || o.Skipped != 0 || o.QueuedOffline < 6 || o.InHistory != o.QueuedOffline {
		t.Errorf("outage: %+v", o)
	}
	for _, s := range rep.Steps {
		if s.Error != "" {
			t.Errorf("step %+v", s)
		}
	}
	checkDelivery(t, rep)
}

// robbery-chase with its sightings closer together (every 75 s instead of
// 3 min) so that units are on their way at each of them, against a hub
// with Changsha's sample cameras (as make run starts it): every sighting
// is reported from its camera with the camera's id, and the hub's timeline
// has it; every sighting re-targets the units en route (update_location
// reaches their agents), the report lists sightings, re-targets and
// arrivals, and a unit reaches the last place the suspects were seen.
func TestRobberyChase(t *testing.T) {
	t.Parallel()
	sc, ok := scenario.Builtin("robbery-chase")
	if !ok {
		t.Fatal("no built-in robbery-chase")
	}
	k := 0
	for i := range sc.Steps {
		switch sc.Steps[i].Action {
		case "sighting":
			k++
			sc.Steps[i].At = 30*time.Second + time.Duration(k)*75*time.Second
		case "note":
			if sc.Steps[i].At > 0 {
				sc.Steps[i].At = 30*time.Second + 6*75*time.Second
			}
		}
	}
	sc.Duration = 30*time.Second + 9*75*time.Second
	h := hubtest.Start(t, func(c *hub.Config) { c.Cameras = sampleCameras(t) })
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Scenario, cfg.Units, cfg.TimeScale = &sc, 60, 20
	cfg.Officer = &OfficerConfig{AckMedian: 5 * time.Second, AckSigma: 0.3} // always answer
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v wall\n%s", time.Since(start).Round(time.Second), rep)
	if len(rep.Chases) != 1 {
		t.Fatalf("chases: %+v", rep.Chases)
	}
	c := rep.Chases[0]
	if len(c.Sightings) != 5 {
		t.Fatalf("%d sightings, want 5: %+v", len(c.Sightings), c.Sightings)
	}
	if c.FromCameras != 5 || c.CameraIDs != 5 || slices.ContainsFunc(rep.Notes, func(n string) bool {
		return strings.Contains(n, "without camera ids") || strings.Contains(n, "away from where")
	}) {
		t.Errorf("%d sightings from cameras, %d with the id; notes %q", c.FromCameras, c.CameraIDs, rep.Notes)
	}
	route := []string{"cs-yh-002", "cs-yh-003", "cs-tx-001", "cs-tx-002", "cs-tx-003"}
	enroute := 0
	for i, s := range c.Sightings {
		if s.Camera != route[i] || !s.CameraID || s.Source != "camera" || s.CameraName == "" {
			t.Errorf("sighting %d: %+v", i, s)
		}
		for _, u := range s.EnRoute {
			enroute++
			if !slices.Contains(s.Retargeted, u) {
				t.Errorf("sighting at %s: %s was en route but got no update_location (re-targeted %v)", report.HMS(s.AtS), u, s.Retargeted)
			}
		}
	}
	if enroute == 0 || len(c.Retargets) < enroute {
		t.Errorf("%d units en route at sightings, %d re-targets", enroute, len(c.Retargets))
	}
	if len(c.Arrivals) == 0 || !c.Intercepted {
		t.Errorf("arrivals %d, intercepted %v at %v", len(c.Arrivals), c.Intercepted, c.Final)
	}
	for _, s := range rep.Steps {
		if s.Error != "" {
			t.Errorf("step %+v", s)
		}
	}
	text := rep.String()
	for _, want := range []string{"sighting", "retarget", "arrived", "intercepted by", "(5 from cameras, 5 with the camera's id)", "camera cs-tx-003 黄兴南路·南门口"} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
	// At the hub: the incident's sightings carry the cameras' ids, at the
	// cameras' places, with their names as the notes.
	inc := hubIncident(t, h, c.Incident)
	var got []string
	for _, e := range inc.Timeline {
		if e.Type != api.EntrySighting {
			continue
		}
		if e.Params == nil {
			t.Errorf("sighting entry without params: %+v", e)
			continue
		}
		got = append(got, e.Params.Camera)
		cam, _ := sc.Camera(e.Params.Camera)
		// The hub names the camera in the entry's detail, from its own set.
		if e.Params.Source != "camera" || e.Params.Lat == nil || *e.Params.Lat != cam.Lat || *e.Params.Lon != cam.Lon ||
			cam.Name == "" || !strings.Contains(e.Detail, cam.Name) {
			t.Errorf("sighting entry %+v: params %+v", e, *e.Params)
		}
	}
	if !slices.Equal(got, route) {
		t.Errorf("the hub's sightings came from cameras %q; want %q", got, route)
	}
	checkDelivery(t, rep)
}

// A hub without cameras refuses a sighting with a camera id; the simulator
// asks it first (GET /api/cameras) and reports the camera steps' sightings
// without the ids, as "camera <name>", with a note saying so.
func TestCameraSightingsHubWithoutCameras(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse([]byte(`{"name":"cams","duration":"3m","time_scale":20,"units":10,"steps":[
		{"at":"10s","action":"incident","ref":"r","incident":{"lat":28.1760,"lon":112.9900,"kind":"robbery","priority":1,"summary":"抢劫","needs":[]}},
		{"at":"1m","action":"sighting","ref":"r","camera":"cs-tx-002"},
		{"at":"2m","action":"sighting","ref":"r","camera":"cs-tx-003","note":"截获"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Scenario = &sc
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	for _, s := range rep.Steps {
		if s.Error != "" {
			t.Errorf("step %+v", s)
		}
	}
	if len(rep.Chases) != 1 {
		t.Fatalf("chases: %+v", rep.Chases)
	}
	c := rep.Chases[0]
	if len(c.Sightings) != 2 || c.FromCameras != 2 || c.CameraIDs != 0 ||
		c.Sightings[1].Camera != "cs-tx-003" || c.Sightings[1].CameraID || c.Sightings[1].Source != "camera 黄兴南路·南门口" {
		t.Errorf("chase %+v", c)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "the hub has none of the scenario's 2 cameras") }) {
		t.Errorf("notes %q", rep.Notes)
	}
	inc := hubIncident(t, h, c.Incident)
	var sources []string
	for _, e := range inc.Timeline {
		if e.Type == api.EntrySighting && e.Params != nil {
			if e.Params.Camera != "" {
				t.Errorf("a camera id reached a hub without cameras: %+v", *e.Params)
			}
			sources = append(sources, e.Params.Source)
		}
	}
	if want := []string{"camera 城南路·天心阁", "camera 黄兴南路·南门口"}; !slices.Equal(sources, want) {
		t.Errorf("the hub's sightings %q; want %q", sources, want)
	}
}

// sampleCameras is Changsha's sample camera set as a file, for the hub's
// Cameras (what make run passes it).
func sampleCameras(t *testing.T) string {
	file := filepath.Join(t.TempDir(), "cameras.geojson")
	if err := os.WriteFile(file, changsha.GeoJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// hubIncident reads an incident from the hub, closed or not.
func hubIncident(t *testing.T, h *hubtest.Hub, id string) api.Incident {
	t.Helper()
	client := hubapi.New(h.URL, h.AdminToken(), nil)
	defer client.Close()
	inc, err := client.Incident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// Every fault at a high rate: the links, agents and receivers recover and
// nothing is lost (a killed agent's in-memory queue counted apart); the
// rogue's wrong secret, garbage and spoofed unit id are all refused and
// counted by the hub; the repeated reports are dropped as duplicates.
func TestFaults(t *testing.T) {
	t.Parallel()
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Units, cfg.TimeScale, cfg.Duration = 20, 20, 10*time.Minute
	cfg.Faults, cfg.FaultEvery = faults.Names(), time.Minute
	cfg.IncidentsPerHour = -1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	counts := map[string]faults.Report{}
	for _, f := range rep.Faults {
		counts[f.Name] = f
	}
	for _, n := range faults.Names() {
		if n == faults.BrokerRestart {
			continue
		}
		if counts[n].Injected == 0 {
			t.Errorf("%s never injected: %+v", n, counts[n])
		}
	}
	if f := counts[faults.BrokerRestart]; f.Injected != 0 ||
		!slices.ContainsFunc(rep.Notes, func(s string) bool { return strings.Contains(s, "broker_restart skipped") }) {
		t.Errorf("broker_restart with the embedded broker: %+v, notes %q", f, rep.Notes)
	}
	rogue := counts[faults.Rogue]
	if rogue.Refused != rogue.Injected {
		t.Errorf("rogue: %+v (a wrong secret accepted?)", rogue)
	}
	hr := rep.Hub
	if hr.AuthRefused < float64(rogue.Injected) || hr.Rejected["bad_json"] == 0 || hr.Rejected["unit_mismatch"] == 0 {
		t.Errorf("the hub's refusals: %+v for %+v", hr, rogue)
	}
	if hr.Duplicates == 0 {
		t.Errorf("no duplicates counted: %+v", hr)
	}
	if rep.Units.Kills == 0 || rep.Units.Kills != counts[faults.AgentKill].Injected {
		t.Errorf("%d kills for %+v", rep.Units.Kills, counts[faults.AgentKill])
	}
	m := rep.Messages
	if m.Lost != 0 || m.Thinned != 0 || m.Confirmed+m.LostByKill != m.Positions+m.Events {
		t.Errorf("delivery: %+v", m)
	}
}

// mosquittoRun sets up a run through Debian's Mosquitto with the
// deployment's ACL: the simulator writes the units' secrets into
// Mosquitto's password file (hashed as mosquitto_passwd does) and has
// Mosquitto restarted to read it.
func mosquittoRun(t *testing.T) (*hubtest.Mosquitto, Config) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	hubHash, err := mosquitto.Hash("hub-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwd, []byte("kuaifan-hub:"+hubHash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// hubtest allows anonymous clients when given no users; the lines after
	// it turn that off and name our password file (Mosquitto takes the last).
	mosq := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{
		ACLFile:     "../hub/deploy/mosquitto/acl",
		Persistence: true,
		ExtraConfig: fmt.Sprintf("allow_anonymous false\npassword_file %s\n", passwd),
	})
	h := hubtest.Start(t, func(c *hub.Config) {
		c.BrokerURL, c.BrokerUsername, c.BrokerPassword = mosq.URL(), "kuaifan-hub", "hub-pw"
	})
	cfg := testConfig(t, h, mosq.URL())
	cfg.MosquittoPasswd = passwd
	// Run calls it on the test's goroutine, as hubtest.Mosquitto requires.
	cfg.AfterEnrol = func(context.Context) error { mosq.Restart(); return nil }
	return mosq, cfg
}

// Through Mosquitto the run goes as with the embedded broker: every
// incident dispatched, nothing lost; Mosquitto refuses the rogue's wrong
// secret itself (the hub never sees it) and ingest refuses the garbage and
// the spoofed payload.
func TestThroughMosquitto(t *testing.T) {
	t.Parallel()
	mosq, cfg := mosquittoRun(t)
	cfg.Units, cfg.TimeScale, cfg.Duration = 12, 20, 6*time.Minute
	cfg.IncidentsPerHour = 60
	cfg.Faults, cfg.FaultEvery = []string{faults.Rogue, faults.Duplicate}, time.Minute
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if rep.Units.Connected != 12 || rep.Incidents.Dispatched != rep.Incidents.Created {
		t.Errorf("units %+v, incidents %+v", rep.Units, rep.Incidents)
	}
	checkDelivery(t, rep)
	for _, f := range rep.Faults {
		if f.Name == faults.Rogue && (f.Injected == 0 || f.Refused != f.Injected) {
			t.Errorf("rogue: %+v", f)
		}
	}
	if rep.Hub.Rejected["bad_json"] == 0 || rep.Hub.Rejected["unit_mismatch"] == 0 {
		t.Errorf("hub refusals: %+v", rep.Hub)
	}
	if !strings.Contains(mosq.Log(), "sim-car-0001") {
		t.Error("Mosquitto never saw the units")
	}
}

// The broker_restart fault restarts Mosquitto again and again under the
// running fleet and hub: every position queued is confirmed in the end.
func TestBrokerRestarts(t *testing.T) {
	t.Parallel()
	mosq, cfg := mosquittoRun(t)
	cfg.Units, cfg.TimeScale, cfg.Duration = 12, 20, 6*time.Minute
	cfg.IncidentsPerHour = 30
	cfg.Faults, cfg.FaultEvery = []string{faults.BrokerRestart}, time.Minute
	cfg.BrokerRestart = func(context.Context) error { return mosq.RestartErr() }
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if len(rep.Faults) != 1 || rep.Faults[0].Injected == 0 {
		t.Errorf("the broker was never restarted: %+v", rep.Faults)
	}
	if rep.Units.Connected != 12 || rep.Units.OnlineAtEnd != 12 {
		t.Errorf("units %+v", rep.Units)
	}
	checkDelivery(t, rep)
}

// The load mode, small: 100 units at 1 Hz for 2 s.
func TestLoadSmoke(t *testing.T) {
	t.Parallel()
	h := hubtest.Start(t, nil)
	rep, err := RunLoad(context.Background(), LoadConfig{HubURL: h.URL, BrokerURL: h.MQTTURL(), AdminToken: h.AdminToken(),
		Units: 100, Hz: 1, Duration: 2 * time.Second, Seed: 3, DrainWait: 20 * time.Second, Logger: hubtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if rep.Connected != 100 || rep.Lost != 0 || rep.Positions == 0 || rep.Confirmed != rep.Positions {
		t.Errorf("load: %+v", rep)
	}
	if rep.QueuedPerS < 50 || rep.QueuedPerS > 150 || rep.HubUnavailable != "" || rep.HubReceivedPerS == 0 {
		t.Errorf("throughput: %+v", rep)
	}
	if rep.Latency.N == 0 || rep.StreamError != "" || math.IsNaN(rep.Latency.Median) {
		t.Errorf("latency: %+v, stream error %q", rep.Latency, rep.StreamError)
	}
	if rep.CPUCores <= 0 || rep.MemPeakBytes <= 0 {
		t.Errorf("process figures: %+v", rep)
	}
}

// Officers press SOS (the sos fault at -sos-per-hour, not named in
// -faults): the report counts them, and the incidents the hub opened for
// them, each with units sent; nothing is lost on the way.
func TestSOSFault(t *testing.T) {
	t.Parallel()
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Units, cfg.TimeScale, cfg.Duration = 20, 20, 10*time.Minute
	cfg.SOSPerHour = 30
	cfg.IncidentsPerHour = -1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	s := rep.SOS
	if s == nil || s.Sent == 0 {
		t.Fatalf("no sos counted: %+v, faults %+v", s, rep.Faults)
	}
	if s.Incidents == 0 || s.Incidents > s.Sent || s.Dispatched == 0 || s.Units < s.Dispatched || s.ToDispatch.N == 0 {
		t.Errorf("sos figures %+v", s)
	}
	if !strings.Contains(rep.String(), "sos        ") {
		t.Errorf("the text report has no sos line")
	}
	checkDelivery(t, rep)
}

// The patrol plan and coverage (additive, 2026-12) against a real hub: the
// plan built from the units' beats is at the hub (GET /api/patrols), one
// task for each unit, of a kind its type patrols; the report carries the
// hub's compliance report on the run's shift — every unit judged, the
// lapsing units apart — and the city's coverage sampled through the run.
func TestRunPatrolPlan(t *testing.T) {
	t.Parallel()
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h, h.MQTTURL())
	cfg.Units, cfg.TimeScale, cfg.Duration = 20, 20, 4*time.Minute
	cfg.Lapses, cfg.CoverageEvery = 0.25, time.Second
	cfg.IncidentsPerHour = 30
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	checkDelivery(t, rep)

	p := rep.Patrol
	if p == nil || p.Unavailable != "" || p.Plan != "sim-changsha" || p.Units != 20 || len(p.Lapsing) != 5 {
		t.Fatalf("patrol section %+v", p)
	}
	client := hubapi.New(h.URL, h.AdminToken(), nil)
	defer client.Close()
	plans, err := client.Patrols(context.Background())
	if err != nil || len(plans) != 1 || plans[0].ID != p.Plan {
		t.Fatalf("the hub's plans: %+v, %v", plans, err)
	}
	kinds := map[protocol.UnitType][]string{ // what each type patrols
		protocol.TypeCar: {"line", "area"}, protocol.TypeMotorcycle: {"line"},
		protocol.TypeFoot: {"point", "area"}, protocol.TypeVolunteer: {"area"},
	}
	specs, err := fleet.Plan(DefaultPrefix, cfg.Units) // the run's units, as it enrolled them
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]protocol.UnitType{}
	for _, s := range specs {
		types[s.ID] = s.Type
	}
	seen := map[string]int{}
	for _, task := range plans[0].Tasks {
		for _, u := range task.Units {
			seen[u]++
			if !slices.Contains(kinds[types[u]], string(task.Kind)) {
				t.Errorf("%s (%s) has a %s task", u, types[u], task.Kind)
			}
		}
	}
	if len(seen) != 20 {
		t.Errorf("%d units have tasks: %v", len(seen), seen)
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s has %d tasks", u, n)
		}
	}

	c := p.Compliance
	if c == nil || c.Unavailable != "" || c.Total != 20 || c.Lapsing.Total != 5 || c.Others.Total != 15 ||
		c.Met != c.Lapsing.Met+c.Others.Met || c.JudgedS <= 0 || c.NoFixes != 0 {
		t.Fatalf("compliance %+v", c)
	}
	total := 0
	for kind, k := range c.ByKind {
		total += k.Total
		if k.Total != p.Tasks[kind] && kind == "area" {
			t.Errorf("%s: %d results for %d tasks", kind, k.Total, p.Tasks[kind])
		}
	}
	if total != 20 {
		t.Errorf("results by kind %+v", c.ByKind)
	}

	cov := rep.Coverage
	if cov == nil || cov.Unavailable != "" || cov.Samples < 5 || len(cov.Series) != cov.Samples || cov.CoverTier != 2 || cov.CoverS != 180 {
		t.Fatalf("coverage %+v", cov)
	}
	for _, s := range []report.Stat{cov.Demand, cov.Area} {
		if s.Min < 0 || s.Min > s.Mean+1e-9 || s.Mean > 1 || s.Last < 0 || s.Last > 1 || s.Mean == 0 {
			t.Errorf("shares %+v", s)
		}
	}
	if cov.Units.Last < 1 || cov.Units.Last > 20 {
		t.Errorf("units counted %+v", cov.Units)
	}
	text := rep.String()
	for _, want := range []string{"patrol     plan sim-changsha, shift run", "compliance ", "lapsing units ", "coverage   3-min share of the city by demand"} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
}
