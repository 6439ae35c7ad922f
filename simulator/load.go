package simulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/loadtest"
	"kuaifan/simulator/internal/simclock"
)

// LoadConfig is one load test (simulator load): Units real agents reporting
// at a fixed Hz for Duration, measured.
type LoadConfig struct {
	HubURL, BrokerURL string
	CAFile            string // as Config.CAFile
	tls               *tls.Config
	TopicRoot         string
	AdminToken        string
	AdminTokenFile    string
	Units             int           // 10,000 by the target
	Hz                float64       // reports per unit per second; 1
	Duration          time.Duration // the measured window (real time); 60 s
	Seed              uint64
	Prefix            string        // "load"
	City              *CityModel    // nil: Changsha, built in
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
	rc, err := Config{HubURL: c.HubURL, BrokerURL: c.BrokerURL, CAFile: c.CAFile, AdminToken: c.AdminToken, AdminTokenFile: c.AdminTokenFile,
		TopicRoot: c.TopicRoot, Units: max(c.Units, 1), City: c.City, Prefix: c.Prefix}.resolve()
	if err != nil {
		return c, err
	}
	c.HubURL, c.TopicRoot, c.City, c.tls = rc.HubURL, rc.TopicRoot, rc.City, rc.tls
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

// RunLoad runs the load test: it enrols the units, starts them (real
// agents, each with its own MQTT connection, reporting every 1/Hz s
// whatever they do), waits for all to connect, measures for Duration —
// throughput, the hub's ingest counters, end-to-end latency to the
// websocket stream, the simulator's own CPU and memory — then stops the
// fixes and waits for the last reports to be confirmed, and counts loss.
func RunLoad(ctx context.Context, cfg LoadConfig) (rep LoadReport, err error) {
	wall := time.Now()
	if cfg, err = cfg.resolve(); err != nil {
		return LoadReport{Mode: "load"}, err
	}
	rep = loadtest.NewReport(cfg.Units, cfg.Hz)
	defer func() { rep.WallS = time.Since(wall).Seconds() }()
	log := cfg.Logger
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	base := loadtest.Before()

	// The hub: the fleet enrolled.
	specs, err := fleet.Plan(cfg.Prefix, cfg.Units)
	if err != nil {
		return rep, err
	}
	api := hubapi.New(cfg.HubURL, cfg.AdminToken, cfg.tls)
	defer api.Close()
	if err := api.Connect(ctx, cfg.HubWait, cfg.AdminTokenFile); err != nil {
		return rep, err
	}
	log.Info("simulator: load: enrolling", "units", len(specs))
	secrets, err := api.EnrolAll(ctx, specs, 16)
	if err != nil {
		return rep, err
	}

	// The fleet, every fix reported: a fixed rate rather than the adaptive
	// policy.
	interval := time.Duration(float64(time.Second) / cfg.Hz)
	f, err := fleet.New(fleet.Config{
		Broker: cfg.BrokerURL, TLS: cfg.tls, TopicRoot: cfg.TopicRoot, GPSInterval: interval, GPSNoiseM: DefaultGPSNoiseM,
		Tick: interval, ReconnectMax: DefaultReconnectMax, StartRate: cfg.StartRate,
		Officer: fleet.DefaultOfficerConfig(), Logger: log, AgentLogger: fleet.AgentLogger(log),
		Report: loadtest.FixedRate(interval),
	}, cfg.City, specs, secrets, cfg.Seed, &journal.Journal{})
	if err != nil {
		return rep, err
	}
	agentsCtx, stopAll := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAll()
	defer f.StopAgents()
	f.StartMoving(agentsCtx, simclock.New(1))
	defer f.StopMoving()

	// The stream first: its snapshot of 10,000 units is large, and the
	// latency counts only the deltas after it.
	var st *loadtest.Stream
	var streamWG sync.WaitGroup
	if !cfg.NoStream {
		s, err := loadtest.Dial(ctx, cfg.HubURL, api.Token(), cfg.Prefix+"-", cfg.tls)
		if err != nil {
			rep.StreamError = err.Error()
		} else {
			st = s
			streamWG.Go(func() { st.Read(agentsCtx) })
			defer func() { st.Close(); streamWG.Wait() }()
		}
	}

	connStart := time.Now()
	f.StartAgents(agentsCtx)
	n := f.WaitConnected(ctx, cfg.ConnectWait)
	rep.ConnectS = time.Since(connStart).Seconds()
	rep.Connected = n
	if n == 0 {
		return rep, fmt.Errorf("simulator: load: no unit could connect to %s", cfg.BrokerURL)
	}
	if n < f.Len() {
		rep.Notes = append(rep.Notes, fmt.Sprintf("only %d of %d units connected within %v", n, f.Len(), cfg.ConnectWait))
	}
	log.Info("simulator: load: measuring", "units", n, "window", cfg.Duration)

	// The window.
	w := loadtest.Open(ctx, f, api, st)
	var prog sync.WaitGroup
	pctx, stopProg := context.WithCancel(ctx)
	if cfg.Out != nil {
		prog.Go(func() { loadtest.Progress(pctx, cfg.Out, f, st) })
	}
	timer := time.NewTimer(cfg.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	stopProg()
	prog.Wait()
	w.Close(ctx, &rep)

	// No more fixes; the last reports get DrainWait to be confirmed.
	f.StopMoving()
	rep.DrainWaitS = f.Drain(cfg.DrainWait).Seconds()
	rep.Finish(f.Totals(), st, base)
	return rep, nil
}
