package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"kuaifan/agent"
)

// LoadConfig is one load test (simulator load): Units real agents reporting
// at a fixed Hz for Duration, measured.
type LoadConfig struct {
	HubURL, BrokerURL string
	TopicRoot         string
	AdminToken        string
	AdminTokenFile    string
	Units             int           // 10,000 by the target
	Hz                float64       // reports per unit per second; 1
	Duration          time.Duration // the measured window (real time); 60 s
	Seed              uint64
	Prefix            string        // "load"
	City              *CityModel    // nil: ChangshaCity()
	StartRate         int           // agents started per second; 1000
	ConnectWait       time.Duration // for the fleet to connect before measuring; 3 min
	DrainWait         time.Duration // for the last reports to be confirmed; 60 s
	HubWait           time.Duration
	// NoStream skips the websocket client (and the latency figures).
	NoStream bool
	Logger   *slog.Logger
	Out      io.Writer // progress every 10 s
}

// Defaults of LoadConfig.
const (
	DefaultLoadUnits    = 10_000
	DefaultLoadHz       = 1
	DefaultLoadDuration = 60 * time.Second
	DefaultLoadPrefix   = "load"
)

func (c LoadConfig) resolve() (LoadConfig, error) {
	rc, err := Config{HubURL: c.HubURL, BrokerURL: c.BrokerURL, AdminToken: c.AdminToken, AdminTokenFile: c.AdminTokenFile,
		TopicRoot: c.TopicRoot, Units: max(c.Units, 1), City: c.City, Prefix: c.Prefix}.resolve()
	if err != nil {
		return c, err
	}
	c.HubURL, c.TopicRoot, c.City = rc.HubURL, rc.TopicRoot, rc.City
	if c.Units == 0 {
		c.Units = DefaultLoadUnits
	}
	if c.Hz == 0 {
		c.Hz = DefaultLoadHz
	}
	if c.Duration == 0 {
		c.Duration = DefaultLoadDuration
	}
	if c.Prefix == "" {
		c.Prefix = DefaultLoadPrefix
	}
	if c.StartRate == 0 {
		c.StartRate = 1000
	}
	if c.ConnectWait == 0 {
		c.ConnectWait = 3 * time.Minute
	}
	if c.DrainWait == 0 {
		c.DrainWait = time.Minute
	}
	if c.HubWait == 0 {
		c.HubWait = DefaultHubWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Units < 1:
		return c, fmt.Errorf("simulator: load: units %d: at least 1", c.Units)
	case !(c.Hz > 0 && c.Hz <= 20):
		return c, fmt.Errorf("simulator: load: %v Hz: want (0, 20]", c.Hz)
	case c.Duration < 0:
		return c, errors.New("simulator: load: duration cannot be negative")
	}
	return c, nil
}

// LoadReport is what a load test measured.
type LoadReport struct {
	Mode      string  `json:"mode"` // "load"
	Units     int     `json:"units"`
	Connected int     `json:"connected"`
	Hz        float64 `json:"hz"`
	WindowS   float64 `json:"window_s"`  // the measured window, real seconds
	ConnectS  float64 `json:"connect_s"` // from the first agent started to all connected
	WallS     float64 `json:"wall_s"`

	// Throughput in the window.
	TargetPerS    float64 `json:"target_per_s"` // Units × Hz
	QueuedPerS    float64 `json:"queued_per_s"` // positions the agents made
	SentPerS      float64 `json:"sent_per_s"`   // publishes
	ConfirmedPerS float64 `json:"confirmed_per_s"`

	// Totals over the whole run, after the final wait.
	Positions  uint64  `json:"positions"`
	Confirmed  uint64  `json:"confirmed"`
	Thinned    uint64  `json:"thinned"`
	Lost       uint64  `json:"lost"`
	Resent     uint64  `json:"resent"`
	DrainWaitS float64 `json:"drain_wait_s"`

	// The hub's own counters in the window (from /metrics).
	HubReceivedPerS  float64 `json:"hub_received_per_s"`
	HubCommittedPerS float64 `json:"hub_committed_per_s"`
	HubDropped       float64 `json:"hub_publish_dropped"`
	HubUnavailable   string  `json:"hub_unavailable,omitempty"`

	// End to end: a position's GPS time to the websocket delta carrying it.
	Latency      Dist   `json:"latency_ms"`
	StreamFrames int64  `json:"stream_frames"`
	StreamError  string `json:"stream_error,omitempty"`

	// The simulator itself.
	CPUCores          float64  `json:"cpu_cores"`          // CPU time ÷ wall time in the window
	CPUPerUnitPct     float64  `json:"cpu_per_unit_pct"`   // of one core
	MemPeakBytes      int64    `json:"mem_peak_bytes"`     // VmHWM
	MemPerUnitBytes   int64    `json:"mem_per_unit_bytes"` // (VmHWM − RSS before the fleet) ÷ units
	Goroutines        int      `json:"goroutines"`
	GoroutinesPerUnit float64  `json:"goroutines_per_unit"`
	GOMAXPROCS        int      `json:"gomaxprocs"`
	Notes             []string `json:"notes,omitempty"`
}

// String is the load report for people.
func (r LoadReport) String() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("simulator load: %d units at %g Hz, %s measured (%s wall in all)\n", r.Units, r.Hz, hms(r.WindowS), hms(r.WallS))
	p("  fleet        %d connected in %.1f s\n", r.Connected, r.ConnectS)
	p("  throughput   target %.0f/s; queued %.0f/s, sent %.0f/s, confirmed %.0f/s\n", r.TargetPerS, r.QueuedPerS, r.SentPerS, r.ConfirmedPerS)
	if r.HubUnavailable != "" {
		p("  hub          /metrics unavailable: %s\n", r.HubUnavailable)
	} else {
		p("  hub          received %.0f/s, committed %.0f/s; broker drops %.0f\n", r.HubReceivedPerS, r.HubCommittedPerS, r.HubDropped)
	}
	p("  delivery     %d positions, %d confirmed, %d thinned, %d resent; LOST %d (after %.1f s of final wait)\n",
		r.Positions, r.Confirmed, r.Thinned, r.Resent, r.Lost, r.DrainWaitS)
	if r.StreamError != "" {
		p("  latency      stream: %s\n", r.StreamError)
	} else if r.Latency.N > 0 {
		p("  latency      GPS time → websocket: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%d samples, %d frames)\n",
			r.Latency.Median, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.N, r.StreamFrames)
	}
	p("  simulator    %.2f cores (%.4f%% of a core per unit), peak memory %.0f MB (%.0f KB per unit), %d goroutines (%.1f per unit), GOMAXPROCS %d\n",
		r.CPUCores, r.CPUPerUnitPct, float64(r.MemPeakBytes)/(1<<20), float64(r.MemPerUnitBytes)/1024, r.Goroutines, r.GoroutinesPerUnit, r.GOMAXPROCS)
	for _, n := range r.Notes {
		p("  note         %s\n", n)
	}
	return b.String()
}

// RunLoad runs the load test: it enrols the units, starts them (real
// agents, each with its own MQTT connection, reporting every 1/Hz s
// whatever they do), waits for all to connect, measures for Duration —
// throughput, the hub's ingest counters, end-to-end latency to the
// websocket stream, the simulator's own CPU and memory — then stops the
// fixes and waits for the last reports to be confirmed, and counts loss.
func RunLoad(ctx context.Context, cfg LoadConfig) (rep LoadReport, err error) {
	wall := time.Now()
	cfg, err = cfg.resolve()
	if err != nil {
		return LoadReport{Mode: "load"}, err
	}
	rep = LoadReport{Mode: "load", Units: cfg.Units, Hz: cfg.Hz, TargetPerS: float64(cfg.Units) * cfg.Hz, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	defer func() { rep.WallS = time.Since(wall).Seconds() }()
	log := cfg.Logger
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	base, _ := sampleProc()

	specs, err := planFleet(cfg.Prefix, cfg.Units)
	if err != nil {
		return rep, err
	}
	api, transport := newAPI(cfg.HubURL, cfg.AdminToken)
	defer transport.CloseIdleConnections()
	if err := connectHub(ctx, api, cfg.HubWait, cfg.AdminTokenFile); err != nil {
		return rep, err
	}
	log.Info("simulator: load: enrolling", "units", len(specs))
	secrets, err := api.enrolAll(ctx, specs, 16)
	if err != nil {
		return rep, err
	}

	interval := time.Duration(float64(time.Second) / cfg.Hz)
	f, err := newFleet(fleetConfig{
		Broker: cfg.BrokerURL, TopicRoot: cfg.TopicRoot, GPSInterval: interval, GPSNoiseM: DefaultGPSNoiseM,
		Tick: interval, ReconnectMax: DefaultReconnectMax, StartRate: cfg.StartRate,
		Officer: DefaultOfficerConfig(), Logger: log, AgentLogger: slog.New(minLevel{log.Handler(), slog.LevelError}),
		// Every fix reported, whatever the unit does: a fixed rate rather
		// than the adaptive policy.
		Report: func(c *agent.Config) {
			c.Report.Dispatched, c.Report.Fast, c.Report.Moving, c.Report.Patrol, c.Report.Stationary =
				interval, interval, interval, interval, interval
		},
	}, cfg.City, specs, secrets, cfg.Seed, &journal{}, newRegistry())
	if err != nil {
		return rep, err
	}
	f.clock = newSimClock(1)
	agentsCtx, stopAll := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAll()
	defer f.stopAgents()
	f.startMoving(agentsCtx)
	defer f.stopMoving()

	// The stream first: its snapshot of 10,000 units is large, and the
	// latency counts only the deltas after it.
	var st *streamWatch
	var streamWG sync.WaitGroup
	if !cfg.NoStream {
		st = &streamWatch{prefix: cfg.Prefix + "-"}
		if err := st.connect(ctx, cfg.HubURL, api.token); err != nil {
			rep.StreamError = err.Error()
			st = nil
		} else {
			streamWG.Go(func() { st.read(agentsCtx) })
			defer func() { st.close(); streamWG.Wait() }()
		}
	}

	connStart := time.Now()
	f.startAgents(agentsCtx)
	n := f.waitConnected(ctx, cfg.ConnectWait)
	rep.ConnectS = time.Since(connStart).Seconds()
	rep.Connected = n
	if n == 0 {
		return rep, fmt.Errorf("simulator: load: no unit could connect to %s", cfg.BrokerURL)
	}
	if n < len(f.units) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("only %d of %d units connected within %v", n, len(f.units), cfg.ConnectWait))
	}
	log.Info("simulator: load: measuring", "units", n, "window", cfg.Duration)

	// The window.
	t0, p0 := f.totals(), sampleProcOr()
	m0, merr := api.metrics(ctx)
	if st != nil {
		st.measure(true)
	}
	var prog sync.WaitGroup
	pctx, stopProg := context.WithCancel(ctx)
	if cfg.Out != nil {
		prog.Go(func() { loadProgress(pctx, cfg.Out, f, st) })
	}
	timer := time.NewTimer(cfg.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	stopProg()
	prog.Wait()
	t1, p1 := f.totals(), sampleProcOr()
	m1, merr2 := api.metrics(context.WithoutCancel(ctx))
	if st != nil {
		st.measure(false)
	}
	win := p1.at.Sub(p0.at).Seconds()
	rep.WindowS = win
	rep.QueuedPerS = float64(t1.positions-t0.positions) / win
	rep.SentPerS = float64(t1.sent-t0.sent) / win
	rep.ConfirmedPerS = float64(t1.confirmed-t0.confirmed) / win
	rep.CPUCores = (p1.cpu - p0.cpu).Seconds() / win
	rep.CPUPerUnitPct = 100 * rep.CPUCores / float64(cfg.Units)
	rep.Goroutines = runtime.NumGoroutine()
	rep.GoroutinesPerUnit = float64(rep.Goroutines) / float64(cfg.Units)
	if m0 == nil || m1 == nil {
		rep.HubUnavailable = fmt.Sprint(errors.Join(merr, merr2))
	} else {
		rep.HubReceivedPerS = delta(m0, m1, "kuaifan_ingest_received_total", "kind", "telemetry") / win
		rep.HubCommittedPerS = delta(m0, m1, "kuaifan_ingest_results_total", "kind", "telemetry", "result", "committed") / win
		rep.HubDropped = delta(m0, m1, "kuaifan_broker_publish_dropped_total")
	}

	// No more fixes; the last reports get DrainWait to be confirmed.
	f.stopMoving()
	f.silence()
	ds := time.Now()
	f.waitDrained(cfg.DrainWait)
	rep.DrainWaitS = time.Since(ds).Seconds()
	t2 := f.totals()
	rep.Positions, rep.Confirmed, rep.Thinned, rep.Resent = t2.positions, t2.confirmed, t2.dropped, t2.resent
	if out := t2.confirmed + t2.dropped; t2.positions+t2.events > out {
		rep.Lost = t2.positions + t2.events - out
	}
	if st != nil {
		rep.Latency, rep.StreamFrames = st.latency()
		if e := st.error(); e != "" {
			rep.StreamError = e
		}
	}
	pEnd := sampleProcOr()
	rep.MemPeakBytes = pEnd.hwmBytes
	rep.MemPerUnitBytes = (pEnd.hwmBytes - base.rssBytes) / int64(cfg.Units)
	if rep.Lost > 0 {
		rep.Notes = append(rep.Notes, "lost = reports still unconfirmed after the final wait")
	}
	return rep, nil
}

func sampleProcOr() procSample {
	s, _ := sampleProc()
	return s
}

func loadProgress(ctx context.Context, out io.Writer, f *fleet, st *streamWatch) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	start := time.Now()
	last := f.totals()
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			tot := f.totals()
			secs := now.Sub(lastAt).Seconds()
			line := fmt.Sprintf("[%s] %d units online · %.0f queued/s, %.0f confirmed/s · %d waiting",
				hms(now.Sub(start).Seconds()), tot.connected, float64(tot.positions-last.positions)/secs,
				float64(tot.confirmed-last.confirmed)/secs, tot.queued)
			if st != nil {
				l, _ := st.latency()
				line += fmt.Sprintf(" · latency p50 %.0f ms p99 %.0f ms", l.Median, l.P99)
			}
			fmt.Fprintln(out, line)
			last, lastAt = tot, now
		}
	}
}

// streamWatch reads the hub's websocket stream and measures, for each of
// our units in a delta, the time from the position's GPS time ("ts") to the
// frame's arrival.
type streamWatch struct {
	prefix string
	conn   *websocket.Conn

	mu        sync.Mutex
	measuring bool
	samples   []float64 // ms
	frames    int64
	err       string
}

func (s *streamWatch) connect(ctx context.Context, hubURL, token string) error {
	u := "ws" + strings.TrimPrefix(hubURL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", u, err)
	}
	c.SetReadLimit(-1) // a snapshot of 10,000 units is megabytes
	s.conn = c
	return nil
}

// frame is the part of a stream frame the latency needs.
type frame struct {
	Type  string `json:"type"`
	Units []struct {
		ID string `json:"id"`
		TS *int64 `json:"ts"`
	} `json:"units"`
}

func (s *streamWatch) read(ctx context.Context) {
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && websocket.CloseStatus(err) == -1 {
				s.mu.Lock()
				if s.err == "" {
					s.err = err.Error()
				}
				s.mu.Unlock()
			}
			return
		}
		now := time.Now().UnixMilli()
		var fr frame
		if err := json.Unmarshal(data, &fr); err != nil || fr.Type != "delta" {
			continue
		}
		s.mu.Lock()
		s.frames++
		if s.measuring {
			for _, u := range fr.Units {
				if u.TS != nil && strings.HasPrefix(u.ID, s.prefix) {
					s.samples = append(s.samples, float64(now-*u.TS))
				}
			}
		}
		s.mu.Unlock()
	}
}

func (s *streamWatch) measure(on bool) {
	s.mu.Lock()
	s.measuring = on
	s.mu.Unlock()
}

func (s *streamWatch) latency() (Dist, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return dist(s.samples), s.frames
}

func (s *streamWatch) error() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *streamWatch) close() {
	s.conn.Close(websocket.StatusNormalClosure, "load test over")
}
