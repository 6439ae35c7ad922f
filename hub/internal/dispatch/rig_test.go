package dispatch

import (
	"sync"
	"testing"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// The incident site of the tests; 0.001° of latitude is 111 m, so a car
// (8.3 m/s, detour 1.4) 0.003° away is 56 s off (tier 1), 0.01° 187 s
// (tier 3), 0.02° 375 s (tier 4).
const siteLat, siteLon = 28.2, 112.97

// clock is the rig's time: it moves only when a test says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bus records the commands dispatch sends, and the topics they went to.
type bus struct {
	mu     sync.Mutex
	sent   []protocol.Command
	topics []string
}

var _ broker.Bus = (*bus)(nil)

func (b *bus) Subscribe(string, broker.Handler) error { return nil }
func (b *bus) Close() error                           { return nil }
func (b *bus) Publish(topic string, payload []byte, _ bool) error {
	c, err := protocol.DecodeCommand(payload)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, c)
	b.topics = append(b.topics, topic)
	return nil
}

// rig is a dispatcher over a real store and fleet, on a fake clock and bus,
// without Run: ack deadlines are not started, and tests call reviewCovers
// and timeout themselves.
type rig struct {
	t     *testing.T
	dir   string
	clock *clock
	bus   *bus
	st    *store.Store
	fleet *fleet.Fleet
	d     *Dispatcher
	seq   map[string]uint64
	opts  []func(*Config) // applied at every open

	mu      sync.Mutex
	changed []string // incidents OnChange heard of
}

// newRig starts a rig; opts change the dispatcher's Config (at every start).
func newRig(t *testing.T, opts ...func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), clock: &clock{t: time.UnixMilli(1795949890237)}, bus: &bus{}, seq: map[string]uint64{}, opts: opts}
	r.open()
	t.Cleanup(r.close)
	return r
}

func (r *rig) open() {
	r.t.Helper()
	var err error
	if r.st, err = store.Open(store.Config{Dir: r.dir, SnapshotInterval: -1}); err != nil {
		r.t.Fatal(err)
	}
	mc := match.DefaultConfig()
	mc.Tiers = DefaultPolicy().Circles()
	if r.fleet, err = fleet.Open(fleet.Config{Store: r.st, Match: mc}); err != nil {
		r.t.Fatal(err)
	}
	onChange := func(ids ...string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changed = append(r.changed, ids...)
	}
	cfg := Config{Policy: DefaultPolicy(), Topics: protocol.Topics{Root: protocol.DefaultRoot}, OnChange: onChange, Now: r.clock.Now}
	for _, o := range r.opts {
		o(&cfg)
	}
	if r.d, err = New(cfg, mc, r.st, r.fleet, r.bus); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) close() {
	r.fleet.Close()
	r.st.Close()
}

// restart is the hub stopping and starting again on the same store.
func (r *rig) restart() {
	r.t.Helper()
	r.close()
	r.open()
	for id := range r.seq {
		r.apply(fleet.Message{Kind: protocol.KindState, State: protocol.State{Unit: id, Online: true, Boot: "b2"}})
	}
}

func (r *rig) apply(msgs ...fleet.Message) {
	r.t.Helper()
	if _, err := r.fleet.Apply(msgs, r.clock.Now()); err != nil {
		r.t.Fatal(err)
	}
}

// place enrols a unit (the first time), brings it online and reports a fix
// dLat degrees north of the site, age old.
func (r *rig) place(id string, typ protocol.UnitType, dLat float64, age time.Duration) {
	r.t.Helper()
	if _, ok := r.seq[id]; !ok {
		if _, err := r.fleet.Enrol(fleet.Enrolment{ID: id, Type: typ}, r.clock.Now()); err != nil {
			r.t.Fatal(err)
		}
		r.apply(fleet.Message{Kind: protocol.KindState, State: protocol.State{Unit: id, Online: true, Boot: "b1"}})
	}
	r.seq[id]++
	r.apply(fleet.Message{Kind: protocol.KindTelemetry, Telemetry: protocol.Telemetry{Unit: id, Seq: r.seq[id],
		TS: r.clock.Now().Add(-age).UnixMilli(), Lat: siteLat + dLat, Lon: siteLon, Status: protocol.StatusAvailable}})
}

// event is a unit's answer, committed by the fleet and handed to dispatch
// as ingest does.
func (r *rig) event(id string, typ protocol.EventType, incident string) {
	r.t.Helper()
	r.seq[id]++
	e := protocol.Event{Unit: id, Seq: r.seq[id], TS: r.clock.Now().UnixMilli(), Type: typ, Incident: incident}
	r.apply(fleet.Message{Kind: protocol.KindEvents, Event: e})
	r.d.HandleEventsNow([]protocol.Event{e})
}

func (r *rig) create(kind string, priority int) Incident {
	r.t.Helper()
	inc, err := r.d.Create(NewIncident{Lat: siteLat, Lon: siteLon, Kind: kind, Priority: priority}, ActorDispatcher)
	if err != nil {
		r.t.Fatal(err)
	}
	return inc
}

func (r *rig) get(id string) Incident {
	r.t.Helper()
	inc, err := r.d.Get(id)
	if err != nil {
		r.t.Fatal(err)
	}
	return inc
}

// heard reports whether OnChange was told of the incident since the last call.
func (r *rig) heard(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for _, c := range r.changed {
		found = found || c == id
	}
	r.changed = nil
	return found
}

// checkTimeline holds every entry to what its type and reason promise.
func checkTimeline(t *testing.T, inc Incident) {
	t.Helper()
	for i, e := range inc.Timeline {
		if err := e.Check(); err != nil {
			t.Errorf("%s entry %d %+v: %v", inc.ID, i, e, err)
		}
	}
}
