package agent

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/queue"
	"kuaifan/agent/internal/report"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// Changsha, where the city's fleet patrols.
const lat0, lon0 = 28.1941, 112.9823

// fastReport reports every 100 ms whatever the unit does: tests make many
// positions quickly.
func fastReport() report.Config {
	c := report.DefaultConfig()
	c.Dispatched, c.Fast, c.Moving, c.Patrol, c.Stationary = 100*time.Millisecond, 100*time.Millisecond,
		100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	return c
}

// testConfig is an agent for a test: fast reports from a Sim every 100 ms,
// quick reconnects, its data in a temporary directory.
func testConfig(t testing.TB, broker, unit, secret string) Config {
	cfg := DefaultConfig()
	cfg.Unit, cfg.Secret, cfg.Broker = unit, secret, broker
	cfg.GPS = ""
	cfg.DataDir = t.TempDir()
	cfg.Report = fastReport()
	cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, 500*time.Millisecond
	cfg.Terminal = ""
	cfg.Logger = hubtest.Logger(t)
	return cfg
}

// recorder keeps every report an agent queued and published.
type recorder struct {
	mu        sync.Mutex
	queued    []queue.Item
	published []published
	offline   map[uint64]bool // positions queued while the link was down
}

type published struct {
	seq  uint64
	kind queue.Kind
	qos  byte
	at   time.Time
}

func (r *recorder) hook(a *Agent) {
	r.offline = map[uint64]bool{}
	a.onQueued = func(it queue.Item) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.queued = append(r.queued, it)
		if it.Kind == queue.Telemetry && !a.link.Connected() {
			r.offline[it.Seq] = true
		}
	}
	a.onPublish = func(it queue.Item, qos byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.published = append(r.published, published{it.Seq, it.Kind, qos, time.Now()})
	}
}

// positions returns the seqs of the positions queued so far.
func (r *recorder) positions() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, it := range r.queued {
		if it.Kind == queue.Telemetry {
			out = append(out, it.Seq)
		}
	}
	return out
}

func (r *recorder) events() []protocol.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.Event
	for _, it := range r.queued {
		if it.Kind == queue.Event {
			e, err := protocol.DecodeEvent(it.Payload)
			if err != nil {
				panic(err)
			}
			out = append(out, e)
		}
	}
	return out
}

// resetOffline forgets the offline positions so far: call it once the link
// is seen down, to count only what was queued from then on.
func (r *recorder) resetOffline() {
	r.mu.Lock()
	clear(r.offline)
	r.mu.Unlock()
}

func (r *recorder) offlineSeqs() map[uint64]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint64]bool, len(r.offline))
	for k := range r.offline {
		out[k] = true
	}
	return out
}

func (r *recorder) publishes() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.published)
}

// running is an agent running in the test's process.
type running struct {
	*Agent
	Sim    *gps.Sim
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

// start runs an agent with a Sim at (lat, lon) moving at speed m/s due east.
func start(t *testing.T, cfg Config, lat, lon, speed float64) *running {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim := gps.NewSim(gps.SimConfig{Interval: 100 * time.Millisecond, NoiseM: -1})
	sim.Set(lat, lon, speed, 90)
	r := runWith(a, sim)
	t.Cleanup(func() { r.stop(t) })
	return r
}

// runWith runs a with sim as its GPS and a recorder; the caller stops it.
func runWith(a *Agent, sim *gps.Sim) *running {
	a.UseGPS(sim)
	r := &running{Agent: a, Sim: sim, rec: &recorder{}, done: make(chan error, 1)}
	r.rec.hook(a)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	return r
}

// stop ends Run and waits for it; again does nothing.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("agent did not stop within 20 s")
	}
}

// unitView is the hub's /api/units/{id}.
type unitView struct {
	ID     string          `json:"id"`
	Status protocol.Status `json:"status"`
	Online bool            `json:"online"`
	Lat    *float64        `json:"lat"`
	Lon    *float64        `json:"lon"`
	TS     *int64          `json:"ts"`
	Seq    *uint64         `json:"seq"`
}

func unitOf(t testing.TB, h *hubtest.Hub, id string) unitView {
	t.Helper()
	var u unitView
	if st := h.Do(http.MethodGet, "/api/units/"+id, nil, &u); st != http.StatusOK {
		t.Fatalf("GET unit %s: %d", id, st)
	}
	return u
}

type point struct {
	Seq    uint64          `json:"seq"`
	TS     int64           `json:"ts"`
	Lat    float64         `json:"lat"`
	Lon    float64         `json:"lon"`
	Status protocol.Status `json:"status"`
}

func trackOf(t testing.TB, h *hubtest.Hub, id string) []point {
	t.Helper()
	var out []point
	if st := h.Do(http.MethodGet, "/api/units/"+id+"/track?limit=100000", nil, &out); st != http.StatusOK {
		t.Fatalf("GET track %s: %d", id, st)
	}
	return out
}

// checkTrack fails unless the hub's history holds every seq exactly once.
func checkTrack(h *hubtest.Hub, t testing.TB, id string, seqs []uint64) error {
	tr := trackOf(t, h, id)
	count := make(map[uint64]int, len(tr))
	for _, p := range tr {
		count[p.Seq]++
	}
	missing := 0
	for _, s := range seqs {
		if count[s] == 0 {
			missing++
		}
	}
	for s, n := range count {
		if n > 1 {
			return fmt.Errorf("seq %d is %d times in the history", s, n)
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d positions missing from the history (it has %d)", missing, len(seqs), len(tr))
	}
	return nil
}

type incidentView struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Lat         float64
	Lon         float64
	Assignments []struct {
		Unit  string `json:"unit"`
		State string `json:"state"`
	} `json:"assignments"`
	Timeline []struct {
		Type string `json:"type"`
		Unit string `json:"unit"`
	} `json:"timeline"`
}

func (inc incidentView) state(unit string) string {
	for _, a := range inc.Assignments {
		if a.Unit == unit {
			return a.State
		}
	}
	return ""
}

func createIncident(t testing.TB, h *hubtest.Hub, lat, lon float64, priority int) incidentView {
	t.Helper()
	var inc incidentView
	if st := h.Do(http.MethodPost, "/api/incidents", map[string]any{"lat": lat, "lon": lon, "kind": "theft",
		"priority": priority, "summary": "手机被抢，嫌疑人向西逃窜"}, &inc); st != http.StatusCreated {
		t.Fatalf("create incident: %d", st)
	}
	return inc
}

func incidentOf(t testing.TB, h *hubtest.Hub, id string) incidentView {
	t.Helper()
	var inc incidentView
	if st := h.Do(http.MethodGet, "/api/incidents/"+id, nil, &inc); st != http.StatusOK {
		t.Fatalf("GET incident %s: %d", id, st)
	}
	return inc
}

func waitFor(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	hubtest.WaitFor(t, d, check)
}

// waitConfirmed waits until the agent's queue is empty and every position
// it queued is in the hub's history exactly once.
func waitConfirmed(t testing.TB, h *hubtest.Hub, r *running, d time.Duration) {
	t.Helper()
	waitFor(t, d, func() error {
		if n := r.q.Len(); n > 0 {
			return fmt.Errorf("%d reports still queued (stats %+v)", n, r.Stats())
		}
		return checkTrack(h, t, r.cfg.Unit, r.rec.positions())
	})
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
