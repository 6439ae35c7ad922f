// Package simulator runs a city's fleet of patrol units against a kuaifan
// hub: what `make run` shows, what the end-to-end tests drive, and what loads
// the hub for the benchmarks.
//
// It stands in for the hardware, not for the software. Every unit is the
// real agent package (kuaifan/agent) with its queue in memory, a simulated
// GPS receiver its Mover drives through the city model (Changsha by default:
// patrols at fixed posts, along routes and in areas, at each type's speed),
// one MQTT connection of its own, and a simulated officer who acknowledges
// a dispatch after a human delay (or declines, or never answers), drives
// there, stays a service time, and clears. A call-taker reports incidents
// from a Poisson generator with hot spots through the hub's API; a simulated
// dispatcher assigns the incidents the hub does not dispatch by itself.
// Scenarios script incidents, camera sightings, rate changes, outages and
// faults at simulated times; a time scale runs them faster than real time.
//
// Run is one run (simulator run); RunLoad is the load test (simulator load).
// Both return a report (text and JSON).
package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"kuaifan/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultUnits        = 300
	DefaultPrefix       = "sim"
	DefaultHubWait      = 30 * time.Second
	DefaultTick         = 200 * time.Millisecond
	DefaultGPSInterval  = time.Second
	DefaultGPSNoiseM    = 4
	DefaultFaultEvery   = 2 * time.Minute
	DefaultSettle       = 30 * time.Second
	DefaultDrainWait    = 20 * time.Second
	DefaultConnectWait  = 60 * time.Second
	DefaultReconnectMax = 10 * time.Second
	DefaultStartRate    = 500
	progressEvery       = 10 * time.Second
	enrolWorkers        = 8 // concurrent enrolments: each is an fsync on the hub
	maxJobsReported     = 10_000
)

// Config is one run of the simulator. Zero values take the defaults; a
// scenario's own duration, time scale, fleet size and incidents apply where
// the Config leaves them zero.
type Config struct {
	HubURL    string // the hub's HTTP API, e.g. http://127.0.0.1:8080
	BrokerURL string // the MQTT broker the units connect to, e.g. tcp://127.0.0.1:1883
	TopicRoot string // "rr"

	// AdminToken authorises the API. If empty, it is read from
	// AdminTokenFile once the hub answers: a hub started at the same time
	// writes that file on its first start.
	AdminToken     string
	AdminTokenFile string

	Units    int           // fleet size; 0: the scenario's, else DefaultUnits
	Prefix   string        // unit ids are {Prefix}-car-0001 …; "" means DefaultPrefix
	Duration time.Duration // simulated; 0: the scenario's, else until ctx ends
	Seed     uint64        // 0 picks one (the report shows it)

	City      *CityModel // nil: ChangshaCity()
	Scenario  *Scenario  // nil: a free run with the background incidents only
	TimeScale float64    // simulated seconds per real second; 0: the scenario's, else 1
	// Incidents is the background of incidents; nil: the scenario's (none if
	// it has none), or DefaultIncidentMix without a scenario.
	Incidents *IncidentMix
	// IncidentsPerHour overrides the background's rate (simulated hours)
	// when > 0; < 0 turns the background off.
	IncidentsPerHour float64

	Officer    *OfficerConfig // nil: DefaultOfficerConfig()
	Dispatcher DispatcherConfig

	Faults     []string      // FaultNames; none by default
	FaultEvery time.Duration // mean simulated time between two injections of each fault; 2 min
	// BrokerRestart restarts the external broker (the broker_restart fault);
	// nil: that fault is skipped, with a note.
	BrokerRestart func(context.Context) error

	// MosquittoPasswd, if set, is a Mosquitto password file: after enrolling
	// the units the run writes each one's secret into it (Mosquitto 2's
	// PBKDF2-SHA512 format; other users' lines are kept), because an
	// external broker checks its own accounts, not the hub's secrets. Then
	// AfterEnrol must make Mosquitto read it (a reload or restart).
	MosquittoPasswd string
	// AfterEnrol, if set, runs after the enrolment (and the password file)
	// and before any unit connects.
	AfterEnrol func(context.Context) error

	Tick         time.Duration // real time between movement steps; 200 ms
	GPSInterval  time.Duration // real time between GPS fixes; 1 s
	ConnectWait  time.Duration // real time to wait for the fleet to connect before the clock starts; 60 s
	Settle       time.Duration // real time after Duration for the last incidents to be dispatched; 30 s (negative: none)
	DrainWait    time.Duration // real time for the last reports to be confirmed; 20 s
	ReconnectMax time.Duration // the agents' reconnect backoff cap; 10 s
	StartRate    int           // agents started per second; 500
	HubWait      time.Duration // how long to wait for the hub's /healthz; 30 s
	KeepOpen     bool          // leave the run's incidents open at the end (else the simulator closes them)

	Logger      *slog.Logger // nil: discard
	AgentLogger *slog.Logger // the agents' own logs; nil: Logger at Error and above (a fleet of agents each logging a lost link drowns the rest)
	Out         io.Writer    // a progress line every 10 s; nil: none
}

// resolve fills the defaults, applies the scenario, and checks everything.
func (c Config) resolve() (Config, error) {
	var errs []error
	if u, err := url.Parse(c.HubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("hub URL %q: want http://host:port", c.HubURL))
	}
	c.HubURL = strings.TrimRight(c.HubURL, "/")
	if u, err := url.Parse(c.BrokerURL); err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
		errs = append(errs, fmt.Errorf("broker URL %q: want tcp://host:port (simulated links need plain TCP)", c.BrokerURL))
	}
	if c.AdminToken == "" && c.AdminTokenFile == "" {
		errs = append(errs, errors.New("no admin token (AdminToken or AdminTokenFile)"))
	}
	if c.TopicRoot == "" {
		c.TopicRoot = protocol.DefaultRoot
	} else if !protocol.ValidRoot(c.TopicRoot) {
		errs = append(errs, fmt.Errorf("topic root %q: one or more levels, no wildcards", c.TopicRoot))
	}
	if c.City == nil {
		c.City = ChangshaCity()
	}
	if sc := c.Scenario; sc != nil {
		if err := sc.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Units == 0 {
			c.Units = sc.Units
		}
		if c.Duration == 0 {
			c.Duration = sc.Duration
		}
		if c.TimeScale == 0 {
			c.TimeScale = sc.TimeScale
		}
		if c.Incidents == nil && sc.Incidents != nil {
			mix := *sc.Incidents
			c.Incidents = &mix
		}
		if c.Incidents == nil {
			// No background: a mix to draw from if a rate step starts one.
			mix := DefaultIncidentMix()
			mix.PerHour = 0
			c.Incidents = &mix
		}
	}
	if c.Incidents == nil {
		mix := DefaultIncidentMix()
		c.Incidents = &mix
	}
	switch {
	case c.IncidentsPerHour > 0:
		c.Incidents.PerHour = c.IncidentsPerHour
	case c.IncidentsPerHour < 0:
		c.Incidents.PerHour = 0
	}
	if err := c.Incidents.Validate(); err != nil {
		errs = append(errs, err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Units == 0 {
		c.Units = DefaultUnits
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	def(&c.FaultEvery, DefaultFaultEvery)
	def(&c.Tick, DefaultTick)
	def(&c.GPSInterval, DefaultGPSInterval)
	def(&c.ConnectWait, DefaultConnectWait)
	def(&c.Settle, DefaultSettle)
	def(&c.DrainWait, DefaultDrainWait)
	def(&c.ReconnectMax, DefaultReconnectMax)
	def(&c.HubWait, DefaultHubWait)
	def(&c.Dispatcher.Delay, DefaultDispatchDelay)
	def(&c.Dispatcher.Poll, DefaultDispatchPoll)
	if c.StartRate == 0 {
		c.StartRate = DefaultStartRate
	}
	if c.Officer == nil {
		o := DefaultOfficerConfig()
		c.Officer = &o
	} else {
		o := *c.Officer
		c.Officer = &o
	}
	if err := c.Officer.fill(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Units < 1:
		errs = append(errs, fmt.Errorf("units %d: at least 1", c.Units))
	case c.Duration < 0:
		errs = append(errs, errors.New("duration cannot be negative"))
	case !(c.TimeScale > 0) || math.IsInf(c.TimeScale, 0):
		errs = append(errs, fmt.Errorf("time scale %v: want a positive number", c.TimeScale))
	case c.Tick < 10*time.Millisecond || c.GPSInterval < 50*time.Millisecond:
		errs = append(errs, errors.New("tick below 10 ms or GPS interval below 50 ms"))
	case c.StartRate < 0:
		errs = append(errs, errors.New("start rate cannot be negative"))
	}
	for _, f := range c.Faults {
		if !slices.Contains(FaultNames(), f) {
			errs = append(errs, fmt.Errorf("unknown fault %q", f))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AgentLogger == nil {
		c.AgentLogger = slog.New(minLevel{c.Logger.Handler(), slog.LevelError})
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("simulator: config: %w", err)
	}
	return c, nil
}

// minLevel drops records below a level: the agents log every dispatch at
// Info, which for hundreds of units drowns the simulator's own lines.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.level} }

// newAPI is the hub's API client with a transport of its own (closed at the end).
func newAPI(base, token string) (*hubAPI, *http.Transport) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &hubAPI{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, tr
}

// connectHub waits for the hub and settles the admin token.
func connectHub(ctx context.Context, api *hubAPI, wait time.Duration, tokenFile string) error {
	if err := api.waitHealthy(ctx, wait); err != nil {
		return err
	}
	if api.token == "" {
		t, err := readToken(tokenFile)
		if err != nil {
			return err
		}
		api.token = t
	}
	return nil
}

// Run enrols the fleet, connects it, waits for it to come up, and then runs
// the simulation — incidents, dispatches, the scenario, faults — for
// Duration of simulated time or until ctx ends. Then it winds down: the
// last incidents get Settle to be dispatched, the units stop moving and
// reporting, their last reports get DrainWait to be confirmed, the figures
// are read from the hub, and the units shut down cleanly. The report is
// returned even with an error; ctx ending is the normal way to stop a run
// without Duration and is no error.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	wall := time.Now()
	cfg, err = cfg.resolve()
	if err != nil {
		return Report{Mode: "run"}, err
	}
	log := cfg.Logger
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	rep = Report{Mode: "run", City: cfg.City.Name, Seed: cfg.Seed, TimeScale: cfg.TimeScale,
		Units: UnitsReport{Asked: cfg.Units, ByType: map[string]int{}}}
	if cfg.Scenario != nil {
		rep.Scenario = cfg.Scenario.Name
	}
	defer func() { rep.WallS = time.Since(wall).Seconds() }()

	specs, err := planFleet(cfg.Prefix, cfg.Units)
	if err != nil {
		return rep, err
	}
	for _, s := range specs {
		rep.Units.ByType[string(s.Type)]++
	}
	api, transport := newAPI(cfg.HubURL, cfg.AdminToken)
	defer transport.CloseIdleConnections()
	if err := connectHub(ctx, api, cfg.HubWait, cfg.AdminTokenFile); err != nil {
		return rep, err
	}
	log.Info("simulator: enrolling units", "units", len(specs), "hub", cfg.HubURL)
	secrets, err := api.enrolAll(ctx, specs, enrolWorkers)
	if err != nil {
		return rep, err
	}
	rep.Units.Enrolled = len(specs)
	if cfg.MosquittoPasswd != "" {
		if err := writeMosquittoPasswd(cfg.MosquittoPasswd, specs, secrets); err != nil {
			return rep, err
		}
		log.Info("simulator: units written to the Mosquitto password file", "file", cfg.MosquittoPasswd)
	}
	if cfg.AfterEnrol != nil {
		if err := cfg.AfterEnrol(ctx); err != nil {
			return rep, fmt.Errorf("simulator: after enrolling: %w", err)
		}
	}
	before, merr := api.metrics(ctx)
	if merr != nil {
		log.Warn("simulator: the hub's /metrics", "err", merr)
	}

	stateDir, err := os.MkdirTemp("", "kuaifan-sim-*")
	if err != nil {
		return rep, fmt.Errorf("simulator: %w", err)
	}
	defer os.RemoveAll(stateDir)

	jr, reg := &journal{}, newRegistry()
	faultsOn := len(cfg.Faults) > 0 || (cfg.Scenario != nil && slices.ContainsFunc(cfg.Scenario.Steps, func(s Step) bool { return s.Action == "fault" }))
	f, err := newFleet(fleetConfig{
		Broker: cfg.BrokerURL, TopicRoot: cfg.TopicRoot, StateDir: stateDir,
		GPSInterval: cfg.GPSInterval, GPSNoiseM: DefaultGPSNoiseM, Tick: cfg.Tick,
		ReconnectMax: cfg.ReconnectMax, StartRate: cfg.StartRate, KeepRecent: faultsOn,
		Officer: *cfg.Officer, Logger: log, AgentLogger: cfg.AgentLogger,
	}, cfg.City, specs, secrets, cfg.Seed, jr, reg)
	if err != nil {
		return rep, err
	}
	// The agents outlive ctx: after it ends they still drain their queues.
	agentsCtx, stopAgents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgents()
	f.startAgents(agentsCtx)
	defer f.stopAgents()
	log.Info("simulator: fleet starting", "units", len(specs), "broker", cfg.BrokerURL, "seed", cfg.Seed, "time_scale", cfg.TimeScale)

	if n := f.waitConnected(ctx, cfg.ConnectWait); n < len(f.units) {
		if n == 0 {
			t := f.totals()
			rep.Units.Connected = t.everConnected
			return rep, fmt.Errorf("simulator: no unit could connect to %s within %v", cfg.BrokerURL, cfg.ConnectWait)
		}
		log.Warn("simulator: not every unit connected; starting anyway", "connected", n, "units", len(f.units))
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}

	// The clock starts with the fleet up: the scenario's times count from here.
	clock := newSimClock(cfg.TimeScale)
	f.clock = clock
	rep.Units.MovementTick = clock.Sim(cfg.Tick).Seconds()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if cfg.Duration > 0 {
		runCtx, stopRun = context.WithTimeout(ctx, clock.Real(cfg.Duration))
		defer stopRun()
	}
	f.startMoving(agentsCtx)

	calls := newCallTaker(api, clock, reg, jr, log, cfg.City, *cfg.Incidents, rand.New(rand.NewPCG(cfg.Seed, 0xca11)))
	disp := &dispatcher{cfg: cfg.Dispatcher, api: api, clock: clock, reg: reg, jr: jr, log: log}
	var rn *runner
	fi := &faultInjector{f: f, enabled: cfg.Faults, every: cfg.FaultEvery, clock: clock, jr: jr, log: log,
		broker: cfg.BrokerURL, topics: protocol.Topics{Root: cfg.TopicRoot}, restart: cfg.BrokerRestart,
		rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa17))}
	if cfg.Scenario != nil {
		rn = &runner{sc: *cfg.Scenario, f: f, calls: calls, faults: fi, api: api, clock: clock, reg: reg, jr: jr,
			log: log, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5ce))}
		fi.spared = rn.inOutage
	}
	if slices.Contains(cfg.Faults, FaultBrokerRestart) && cfg.BrokerRestart == nil {
		rep.Notes = append(rep.Notes, "broker_restart skipped: it needs an external broker and -broker-restart-cmd")
	}

	var active, dispatching sync.WaitGroup
	dispCtx, stopDisp := context.WithCancel(agentsCtx)
	defer stopDisp()
	dispatching.Go(func() { disp.run(dispCtx) })
	active.Go(func() { calls.run(runCtx) })
	if len(cfg.Faults) > 0 {
		active.Go(func() { fi.run(runCtx) })
	}
	if rn != nil {
		active.Go(func() { rn.run(runCtx) })
	}
	progCtx, stopProg := context.WithCancel(agentsCtx)
	var prog sync.WaitGroup
	if cfg.Out != nil {
		prog.Go(func() { progress(progCtx, cfg.Out, f, reg, clock, calls) })
	}
	defer func() { stopProg(); prog.Wait() }()

	<-runCtx.Done()
	active.Wait()
	fi.bg.Wait()
	simulated := clock.Elapsed()
	log.Info("simulator: run over; winding down", "simulated", simulated.Round(time.Second))

	// The last incidents get their units (unless the run was interrupted).
	if ctx.Err() == nil && cfg.Settle > 0 {
		f.settle(ctx, api, reg, cfg.Settle)
	}
	stopDisp()
	dispatching.Wait()
	f.stopMoving()
	moved := clock.Elapsed()

	// No more positions: the queues can empty for the final count.
	f.silence()
	drainStart := time.Now()
	f.waitDrained(cfg.DrainWait)
	rep.Messages.DrainWaitS = time.Since(drainStart).Seconds()
	totals := f.totals()

	figCtx, cancelFig := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancelFig()
	hubIncs, ierr := collectIncidents(figCtx, api, reg)
	if ierr != nil {
		rep.Notes = append(rep.Notes, "incident figures incomplete: "+ierr.Error())
	}
	rep.Outages = rn.checkOutages(figCtx)
	after, aerr := api.metrics(figCtx)
	rep.Hub = hubReport(before, after, errors.Join(merr, aerr))
	if !cfg.KeepOpen {
		for _, inc := range hubIncs {
			if inc.Status != "closed" {
				if err := api.closeIncident(figCtx, inc.ID); err == nil {
					rep.Incidents.ClosedByRun++
				}
			}
		}
	}

	rep.SimulatedS = simulated.Seconds()
	rep.Units.Connected = totals.everConnected
	rep.Units.OnlineAtEnd = totals.connected
	rep.Units.Kills = f.kills()
	rep.Messages = messagesReport(totals, rep.Messages.DrainWaitS)
	rep.Officers = f.officersReport()
	jobs := f.jobs(reg)
	rep.Units.Utilisation = utilisation(jobs, len(f.units), moved)
	rep.Incidents = incidentsReport(reg.snapshot(), hubIncs, clock, jobs, rep.Incidents.ClosedByRun)
	rep.Faults = fi.reports()
	rep.Steps = rn.stepReports()
	rep.Chases = chases(reg.snapshot(), jr.all(), jobs)
	if len(jobs) <= maxJobsReported {
		rep.Jobs = jobs
	}
	rep.Notes = append(rep.Notes,
		"priority 1 incidents are dispatched by the hub itself (its policy); the rest by the simulated dispatcher, who sends the first fresh recommendation after "+cfg.Dispatcher.Delay.String()+" (simulated) and takes the hub's offers after sightings",
		fmt.Sprintf("the hub's figures are real seconds; shown here ×%g as simulated time", cfg.TimeScale))
	if totals.lostByKill > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d report(s) died with killed agents' in-memory queues: a simulated device reset, not a loss of the system", totals.lostByKill))
	}
	if jr.dropped > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the timeline kept its first %d entries (%d more not kept)", maxJournal, jr.dropped))
	}
	log.Info("simulator: done", "incidents", rep.Incidents.Created, "confirmed", rep.Messages.Confirmed, "lost", rep.Messages.Lost)
	return rep, nil
}

// readToken reads the admin token file the hub writes on its first start.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("simulator: admin token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("simulator: admin token: %s is empty", file)
	}
	return t, nil
}
