package simulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/director"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/mosquitto"
	"kuaifan/simulator/internal/patrolplan"
	"kuaifan/simulator/internal/report"
	"kuaifan/simulator/internal/scenario"
	"kuaifan/simulator/internal/simclock"
)

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
	if cfg, err = cfg.resolve(); err != nil {
		return Report{Mode: "run"}, err
	}
	log := cfg.Logger
	rep = cfg.newReport()
	defer func() { rep.WallS = time.Since(wall).Seconds() }()

	// The hub: the fleet enrolled, the hub's counters before.
	specs, err := fleet.Plan(cfg.Prefix, cfg.Units)
	if err != nil {
		return rep, err
	}
	rep.Units.ByType = fleet.ByType(specs)
	client := hubapi.New(cfg.HubURL, cfg.AdminToken, cfg.tls)
	defer client.Close()
	secrets, err := enrol(ctx, cfg, client, specs)
	if err != nil {
		return rep, err
	}
	rep.Units.Enrolled = len(specs)
	before, merr := client.Metrics(ctx)
	if merr != nil {
		log.Warn("simulator: the hub's /metrics", "err", merr)
	}

	// The fleet, connected before the clock starts. The agents outlive ctx:
	// after it ends they still drain their queues.
	stateDir, err := os.MkdirTemp("", "kuaifan-sim-*")
	if err != nil {
		return rep, fmt.Errorf("simulator: %w", err)
	}
	defer os.RemoveAll(stateDir)
	jr, reg := &journal.Journal{}, dispatch.NewRegistry()
	lapses := cfg.lapses(specs)
	fc := cfg.fleetConfig(stateDir)
	fc.Lapses = lapses
	f, err := fleet.New(fc, cfg.City, specs, secrets, cfg.Seed, jr)
	if err != nil {
		return rep, err
	}
	// The patrol plan, from the units' beats, before they connect: the
	// hub sends each its tasks when it comes online.
	plan := loadPlan(ctx, cfg, client, f, lapses, &rep)
	agentsCtx, stopAgents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgents()
	f.StartAgents(agentsCtx)
	defer f.StopAgents()
	log.Info("simulator: fleet starting", "units", len(specs), "broker", cfg.BrokerURL, "seed", cfg.Seed, "time_scale", cfg.TimeScale)
	if err := waitFleet(ctx, cfg, f, &rep); err != nil {
		return rep, err
	}

	// The run: the clock starts (the scenario's times count from here), the
	// units move, and the call-taker, the dispatcher, the scenario and the
	// faults act until Duration has passed or ctx ends.
	clock := simclock.New(cfg.TimeScale)
	rep.Units.MovementTick = clock.Sim(cfg.Tick).Seconds()
	runCtx, stopRun := cfg.runContext(ctx, clock)
	defer stopRun()
	f.StartMoving(agentsCtx, clock)
	c := cfg.newCast(client, f, clock, reg, jr, &rep)
	if c.dir != nil {
		rep.Notes = append(rep.Notes, c.dir.HubCameras(ctx)...)
	}
	c.start(runCtx, agentsCtx, cfg.Out, f, reg, clock)
	defer c.stop()
	c.waitRun(runCtx)

	// Winding down: the last incidents get their units (unless the run was
	// interrupted); then no more positions, so the queues can empty.
	end := report.End{Fleet: f, Registry: reg, Journal: jr, Faults: c.faults, Director: c.dir, Clock: clock,
		Simulated: clock.Elapsed(), MetricsBefore: before, DispatchDelay: cfg.Dispatcher.Delay, Coverage: c.cover}
	log.Info("simulator: run over; winding down", "simulated", end.Simulated.Round(time.Second))
	if ctx.Err() == nil && cfg.Settle > 0 {
		dispatch.Settle(ctx, client, reg, cfg.Settle)
	}
	c.stopDispatcher()
	f.StopMoving()
	end.Moved = clock.Elapsed()
	end.DrainWait = f.Drain(cfg.DrainWait)
	end.Totals = f.Totals()
	readHub(ctx, cfg, client, reg, c.dir, plan, &end, merr)
	rep.Finish(end)
	log.Info("simulator: done", "incidents", rep.Incidents.Created, "confirmed", rep.Messages.Confirmed, "lost", rep.Messages.Lost)
	return rep, nil
}

// newReport is the report's head: what the run was asked.
func (c Config) newReport() Report {
	rep := Report{Mode: "run", City: c.City.Name, Seed: c.Seed, TimeScale: c.TimeScale,
		Units: report.Units{Asked: c.Units, ByType: map[string]int{}}}
	if c.Scenario != nil {
		rep.Scenario = c.Scenario.Name
	}
	return rep
}

// runContext ends when Duration of simulated time has passed, or with ctx.
func (c Config) runContext(ctx context.Context, clock *simclock.Clock) (context.Context, context.CancelFunc) {
	if c.Duration > 0 {
		return context.WithTimeout(ctx, clock.Real(c.Duration))
	}
	return context.WithCancel(ctx)
}

// readHub reads the figures of the run's end from the hub — its incidents,
// the outages' positions in its history, its /metrics, the patrol plan's
// compliance — and then closes the run's incidents still open (unless
// KeepOpen).
func readHub(ctx context.Context, cfg Config, client *hubapi.Client, reg *dispatch.Registry, dir *director.Director,
	plan *runPlan, end *report.End, merr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if plan != nil {
		// First: the compliance is judged up to now, and now the units
		// have stopped and their last positions are in.
		end.Compliance, end.ComplianceErr = client.Compliance(ctx, plan.id, plan.shift, plan.date)
	}
	end.Incidents, end.IncidentsErr = dispatch.Collect(ctx, client, reg)
	if units, since := end.Faults.SOSUnits(); len(units) > 0 {
		var err error
		end.SOSIncidents, err = dispatch.CollectSOS(ctx, client, units, since)
		end.IncidentsErr = errors.Join(end.IncidentsErr, err)
	}
	end.Outages = dir.CheckOutages(ctx)
	after, aerr := client.Metrics(ctx)
	end.MetricsAfter, end.MetricsErr = after, errors.Join(merr, aerr)
	if !cfg.KeepOpen {
		end.ClosedByRun = dispatch.CloseOpen(ctx, client, end.Incidents)
		end.SOSClosedByRun = dispatch.CloseOpen(ctx, client, end.SOSIncidents)
	}
}

// enrol waits for the hub and enrols the units; with an external Mosquitto
// it writes their secrets into its password file, and it runs AfterEnrol.
// It returns the units' secrets.
func enrol(ctx context.Context, cfg Config, client *hubapi.Client, specs []api.Enrolment) ([]string, error) {
	if err := client.Connect(ctx, cfg.HubWait, cfg.AdminTokenFile); err != nil {
		return nil, err
	}
	cfg.Logger.Info("simulator: enrolling units", "units", len(specs), "hub", cfg.HubURL)
	secrets, err := client.EnrolAll(ctx, specs, enrolWorkers)
	if err != nil {
		return nil, err
	}
	if cfg.MosquittoPasswd != "" {
		ids := make([]string, len(specs))
		for i, s := range specs {
			ids[i] = s.ID
		}
		if err := mosquitto.WritePasswd(cfg.MosquittoPasswd, ids, secrets); err != nil {
			return nil, err
		}
		cfg.Logger.Info("simulator: units written to the Mosquitto password file", "file", cfg.MosquittoPasswd)
	}
	if cfg.AfterEnrol != nil {
		if err := cfg.AfterEnrol(ctx); err != nil {
			return nil, fmt.Errorf("simulator: after enrolling: %w", err)
		}
	}
	return secrets, nil
}

// fleetConfig is the fleet's part of the configuration.
func (c Config) fleetConfig(stateDir string) fleet.Config {
	faultSteps := c.Scenario != nil && slices.ContainsFunc(c.Scenario.Steps, func(s scenario.Step) bool { return s.Action == "fault" })
	return fleet.Config{
		Broker: c.BrokerURL, TLS: c.tls, TopicRoot: c.TopicRoot, StateDir: stateDir,
		GPSInterval: c.GPSInterval, GPSNoiseM: DefaultGPSNoiseM, Tick: c.Tick,
		ReconnectMax: c.ReconnectMax, StartRate: c.StartRate, KeepRecent: len(c.Faults) > 0 || faultSteps,
		Officer: *c.Officer, Logger: c.Logger, AgentLogger: c.AgentLogger,
	}
}

// waitFleet waits up to ConnectWait for the units to connect: with none
// connected the run fails; with some, it goes on without the others.
func waitFleet(ctx context.Context, cfg Config, f *fleet.Fleet, rep *Report) error {
	if n := f.WaitConnected(ctx, cfg.ConnectWait); n < f.Len() {
		if n == 0 {
			rep.Units.Connected = f.Totals().EverConnected
			return fmt.Errorf("simulator: no unit could connect to %s within %v", cfg.BrokerURL, cfg.ConnectWait)
		}
		cfg.Logger.Warn("simulator: not every unit connected; starting anyway", "connected", n, "units", f.Len())
	}
	return ctx.Err()
}

// lapses picks the units that do not keep the patrol plan: Lapses of them,
// by Seed; none without a plan.
func (c Config) lapses(specs []api.Enrolment) map[string]bool {
	if c.NoPlan || c.Lapses == 0 {
		return nil
	}
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	return patrolplan.Lapsing(ids, c.Lapses, c.Seed)
}

// runPlan is the patrol plan a run loaded: what the compliance report is
// asked about at the end.
type runPlan struct{ id, shift, date string }

// loadPlan builds the run's patrol plan from its units' beats, checks it
// as the hub would and loads it into the hub (PUT /api/patrols/{id}),
// replacing an earlier run's; the report's patrol section says what it
// is. A hub that does not take it (one from before patrol plans, a token
// that may not edit them) leaves the run without a plan, with a note, and
// loadPlan returns nil; the lapsing units lapse all the same.
func loadPlan(ctx context.Context, cfg Config, client *hubapi.Client, f *fleet.Fleet, lapses map[string]bool, rep *Report) *runPlan {
	if cfg.NoPlan {
		return nil
	}
	log := cfg.Logger
	start := time.Now()
	units := make([]patrolplan.Unit, 0, f.Len())
	for _, u := range f.Units() {
		units = append(units, patrolplan.Unit{ID: u.ID(), Beat: u.Beat()})
	}
	id := patrolplan.ID(cfg.Prefix, cfg.City.Name)
	plan, err := patrolplan.Build(units, patrolplan.Options{ID: id, Start: start, TimeScale: cfg.TimeScale, Duration: cfg.Duration,
		Name: fmt.Sprintf("simulator run: %d units %s-…, seed %d", len(units), cfg.Prefix, cfg.Seed)})
	if err != nil {
		log.Error("simulator: the patrol plan", "err", err)
		rep.Patrol = &report.Patrol{Plan: id, Unavailable: err.Error()}
		rep.Notes = append(rep.Notes, "no patrol plan loaded: "+err.Error())
		return nil
	}
	rep.Patrol = report.NewPatrol(plan, lapses, cfg.Lapses)
	if rep.Patrol.Date, err = patrolplan.ShiftDate(plan, start); err != nil {
		rep.Patrol.Unavailable = err.Error()
		return nil
	}
	created, err := client.PutPatrol(ctx, plan)
	if err != nil {
		why := err.Error()
		if errors.Is(err, hubapi.ErrNotServed) {
			why = "the hub does not serve /api/patrols (a hub from before patrol plans): " + why
		}
		rep.Patrol.Unavailable = why
		if ctx.Err() == nil {
			log.Warn("simulator: no patrol plan loaded", "plan", id, "err", err)
			rep.Notes = append(rep.Notes, "no patrol plan loaded, so no compliance: "+why)
		}
		return nil
	}
	log.Info("simulator: patrol plan loaded", "plan", id, "created", created, "tasks", len(plan.Tasks), "lapsing", len(lapses))
	return &runPlan{id: plan.ID, shift: patrolplan.ShiftID, date: rep.Patrol.Date}
}
