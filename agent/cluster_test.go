package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/queue"
	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/testkit/natstest"
)

// clusterRun is a fleet of agents and a hub on a 3-node NATS cluster (MQTT
// with JetStream), given every node's URL.
type clusterRun struct {
	cluster *natstest.Cluster
	hub     *hubtest.Hub
	agents  []*running
}

// FailoverFigures are what losing a broker node cost: how many units were on
// it, how long until every one of them was connected again (to another
// node), and how long until every agent's backlog was confirmed by the hub.
type FailoverFigures struct {
	Units, OnKilledNode     int
	MaxOffline, MeanOffline time.Duration
	AllConfirmed            time.Duration // from the kill
	Reports                 int           // positions made in the run, each in the history once
}

// startCluster starts the cluster, a hub consuming from it and units agents
// reporting once a second, spread over the nodes.
func startCluster(t testing.TB, units int) *clusterRun {
	t.Helper()
	c := natstest.Start(t, natstest.Options{})
	brokers := strings.Join(c.MQTTURLs(), ",")
	// Warnings of the hub and the agents, shown if the test fails (a
	// failover makes hundreds: not in the log of a passing run).
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings of the hub and the agents (end):\n%s", tail(logs.String(), 80))
		}
	})
	warn := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := hubtest.Start(t, func(cfg *hub.Config) {
		cfg.BrokerURL = brokers
		cfg.Logger = warn.With("component", "hub")
	})
	run := &clusterRun{cluster: c, hub: h}
	report := fastReport()
	report.Dispatched, report.Fast, report.Moving, report.Patrol, report.Stationary = time.Second, time.Second,
		time.Second, time.Second, time.Second
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // units starting at a time
	for i := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := fmt.Sprintf("c-%03d", i)
			cfg := testConfig(t, brokers, id, h.Enrol(id, "car"))
			cfg.MemoryQueue, cfg.Report = true, report
			// As in the field: a fleet reconnecting at once must not hammer
			// the cluster while it elects new leaders.
			cfg.ReconnectMin, cfg.ReconnectMax = time.Second, 5*time.Second
			cfg.Logger = warn.With("unit", id)
			a, err := New(cfg)
			if err != nil {
				t.Error(err)
				return
			}
			sim := gps.NewSim(gps.SimConfig{Interval: time.Second, NoiseM: -1})
			sim.Set(lat0+float64(i%20)*0.002, lon0+float64(i/20)*0.002, 8, 90)
			r := runWith(a, sim)
			mu.Lock()
			run.agents = append(run.agents, r)
			mu.Unlock()
			// The next unit starts once this one is connected: a fleet
			// coming up unit by unit, as a shift starts, not 300 sessions
			// and 600 replicated consumers asked for in the same second.
			for deadline := time.Now().Add(60 * time.Second); !a.link.Connected() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, r := range run.agents {
			wg.Add(1)
			go func() { defer wg.Done(); r.stop(t) }()
		}
		wg.Wait()
	})
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 90*time.Second, func() error {
		var down []string
		for _, r := range run.agents {
			if s := r.Stats(); !s.Connected || s.Confirmed == 0 {
				down = append(down, fmt.Sprintf("%s (connected %v, %d confirmed, %d failed attempts)", r.cfg.Unit, s.Connected, s.Confirmed, s.ConnectFailures))
			}
		}
		if len(down) > 0 {
			return fmt.Errorf("%d units not up: %v", len(down), down[:min(5, len(down))])
		}
		return nil
	})
	return run
}

// killNode kills node i mid-run, measures how long the units on it were
// offline and how long until every backlog was confirmed, then brings the
// node back and checks that every position any agent made is in the hub's
// history exactly once.
func (run *clusterRun) killNode(t testing.TB, i int, steady time.Duration) FailoverFigures {
	t.Helper()
	killed := run.cluster.MQTTURL(i)
	f := FailoverFigures{Units: len(run.agents)}
	on := map[*running]bool{}
	for _, r := range run.agents {
		if r.Stats().Broker == killed {
			on[r] = true
		}
	}
	f.OnKilledNode = len(on)
	time.Sleep(steady)

	kill := time.Now()
	run.cluster.Kill(i)
	// Offline: from the kill until the unit is connected to another node.
	back := map[*running]time.Duration{}
	waitFor(t, 90*time.Second, func() error {
		for r := range on {
			if _, ok := back[r]; ok {
				continue
			}
			if s := r.Stats(); s.Connected && s.Broker != killed {
				back[r] = time.Since(kill)
			}
		}
		if len(back) < len(on) {
			return fmt.Errorf("%d of %d units of the killed node connected again", len(back), len(on))
		}
		return nil
	})
	var sum time.Duration
	for _, d := range back {
		f.MaxOffline = max(f.MaxOffline, d)
		sum += d
	}
	if len(back) > 0 {
		f.MeanOffline = sum / time.Duration(len(back))
	}
	// Confirmed: every position made before the kill and while units were
	// offline is in the history once, and no agent's queue holds anything
	// older than a report interval.
	until := time.Now()
	waitFor(t, 90*time.Second, func() error { return run.unconfirmed(t, until, on) })
	f.AllConfirmed = time.Since(kill)

	run.cluster.Restart(i)
	run.cluster.WaitHealthy(60 * time.Second)
	time.Sleep(steady)
	// The end: every position of the run up to now, confirmed and in the
	// history once. The end is fixed here: the agents go on reporting, and
	// on a loaded machine the newest positions are always a few seconds
	// from their ack, so "all but the last 2 s", asked anew at every poll,
	// could stay false while nothing is lost.
	end := time.Now()
	waitFor(t, 90*time.Second, func() error { return run.unconfirmed(t, end, on) })
	for _, r := range run.agents {
		f.Reports += len(r.rec.positions())
	}
	return f
}

// unconfirmed says which units have positions made before t0 that are not
// confirmed or not in the history exactly once, with what the hub has of
// them and its ack counters; nil when there are none.
func (run *clusterRun) unconfirmed(t testing.TB, t0 time.Time, onKilled map[*running]bool) error {
	var errs []string
	for _, r := range run.agents {
		if err := run.confirmedUpTo(t, r, t0); err != nil {
			u := unitOf(t, run.hub, r.cfg.Unit)
			var ts int64
			if u.TS != nil {
				ts = *u.TS
			}
			errs = append(errs, fmt.Sprintf("%v [the hub's latest position %v, online %v; on the killed node %v; acks the unit received %d]",
				err, time.UnixMilli(ts), u.Online, onKilled[r], r.link.Stats().Acks))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// What the hub says of its acks: sent, or refused by the bus.
	var acks []string
	req, _ := http.NewRequest(http.MethodGet, run.hub.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer test-admin-token")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(line, "ack") && !strings.HasPrefix(line, "#") {
				acks = append(acks, line)
			}
		}
	}
	return fmt.Errorf("%d units: %v; the hub's metrics: %s", len(errs), errs[:min(3, len(errs))], strings.Join(acks, "; "))
}

// confirmedUpTo: every position r queued before t0 is confirmed (out of its
// queue) and in the hub's history exactly once.
func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func (run *clusterRun) confirmedUpTo(t testing.TB, r *running, t0 time.Time) error {
	var seqs []uint64
	r.rec.mu.Lock()
	for _, it := range r.rec.queued {
		if it.Kind == queue.Telemetry && time.UnixMilli(it.TS).Before(t0) {
			seqs = append(seqs, it.Seq)
		}
	}
	r.rec.mu.Unlock()
	for _, seq := range seqs {
		if r.q.Has(seq) {
			return fmt.Errorf("%s: position %d still unconfirmed (stats %+v)", r.cfg.Unit, seq, r.Stats())
		}
	}
	if err := checkTrack(run.hub, t, r.cfg.Unit, seqs); err != nil {
		return fmt.Errorf("%s: %w", r.cfg.Unit, err)
	}
	return nil
}

// TestClusterFailover: 300 agents spread over a 3-node NATS cluster, the hub
// on it too; a node is killed mid-run and brought back. Every unit of that
// node fails over to another, and every position made in the run — before,
// during and after — is in the hub's history exactly once: nothing confirmed
// is lost, nothing is stored twice. The node killed is one the hub is not on
// (the hub takes the list in order: node 0); BenchmarkClusterFailover also
// kills the hub's.
func TestClusterFailover(t *testing.T) {
	run := startCluster(t, 300)
	nodes := map[string]int{}
	for _, r := range run.agents {
		nodes[r.Stats().Broker]++
	}
	if len(nodes) != 3 {
		t.Fatalf("units per node %v, want all three nodes used", nodes)
	}
	f := run.killNode(t, 1, 5*time.Second)
	t.Logf("units per node %v; node 1 killed: %d units on it, offline max %v (mean %v); every backlog confirmed %v after the kill; %d positions, each in the history once",
		nodes, f.OnKilledNode, f.MaxOffline.Round(time.Millisecond), f.MeanOffline.Round(time.Millisecond),
		f.AllConfirmed.Round(time.Millisecond), f.Reports)
	if f.OnKilledNode == 0 {
		t.Error("no unit was on the killed node")
	}
}

// BenchmarkClusterFailover is TestClusterFailover's run, measured: 300
// agents on a 3-node NATS cluster, a node killed — one with units only
// (node=units), or the one the hub is on too (node=hub's). It reports how
// long the killed node's units were offline (the longest and the mean), how
// long until every agent's backlog was confirmed by the hub, and that as a
// share of the 30 s target (x-target, under 1 is met). b.N is ignored.
func BenchmarkClusterFailover(b *testing.B) {
	for _, c := range []struct {
		name string
		node int
	}{{"node=units", 1}, {"node=hub's", 0}} {
		b.Run(c.name, func(b *testing.B) {
			const target = 30 * time.Second
			run := startCluster(b, 300)
			f := run.killNode(b, c.node, 5*time.Second)
			b.ReportMetric(float64(f.OnKilledNode), "units-on-node")
			b.ReportMetric(f.MaxOffline.Seconds(), "offline-max-s")
			b.ReportMetric(f.MeanOffline.Seconds(), "offline-mean-s")
			b.ReportMetric(f.AllConfirmed.Seconds(), "confirmed-s")
			b.ReportMetric(f.AllConfirmed.Seconds()/target.Seconds(), "x-target")
			b.ReportMetric(float64(f.Reports), "positions")
		})
	}
}
