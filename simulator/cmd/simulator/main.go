// Command simulator runs a city's fleet of simulated patrol units — real
// agents with simulated GPS and officers — against a kuaifan hub, with
// incidents, scripted scenarios and faults (simulator run), measures the
// hub under load (simulator load), and lists its scenarios (simulator
// scenarios). It only turns flags into the simulator package's configs and
// runs them; package cli does the rest of a command's work.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"kuaifan/protocol/cameras"
	"kuaifan/simulator"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/cli"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/report"
	"kuaifan/simulator/internal/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	sub := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "run":
		return runCmd(args, stdout, stderr)
	case "load":
		return loadCmd(args, stdout, stderr)
	case "scenarios":
		return scenariosCmd(args, stdout, stderr)
	case "help":
		fs := runFlags(&runOpts{}, stderr)
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	fmt.Fprintf(stderr, "simulator: unknown command %q: want run, load or scenarios (simulator -h)\n", sub)
	return 2
}

// common are the options every command shares.
type common struct {
	hub, broker, ca, tokenFile, topicRoot, logLevel string
	json, quiet                                     bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.hub, "hub", "http://127.0.0.1:8080", "the hub's HTTP API `URL` (https:// with the hub's TLS)")
	fs.StringVar(&c.broker, "broker", "tcp://127.0.0.1:1883", "the MQTT broker's `URL` the units connect to (tcp://, or ssl:// for TLS; the hub's embedded one, or Mosquitto)")
	fs.StringVar(&c.ca, "ca", "", "PEM `file` of the CA for an https:// hub and an ssl:// broker (the hub's -tls auto certificate, <data>/tls-cert.pem); default: the system's roots")
	fs.StringVar(&c.tokenFile, "token-file", "", "read the token from this `file`: the hub's <data>/admin.token, or an API token with the admin role\n(hub token add simulator -role admin); without it, from env HUB_ADMIN_TOKEN")
	fs.StringVar(&c.topicRoot, "topic-root", "rr", "first `level` of every MQTT topic (as the hub's -topic-root)")
	fs.BoolVar(&c.json, "json", false, "print the final report as JSON on stdout (progress goes to stderr then)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line every 10 s")
	fs.StringVar(&c.logLevel, "log-level", "warn", "the log `level` on stderr: debug, info, warn or error (the agents log errors only, unless debug)")
}

// setup reads the admin token (without -token-file) and builds the
// logger; it returns a non-zero exit code on a problem.
func (c *common) setup(stderr io.Writer) (token string, log *slog.Logger, code int) {
	token, err := cli.AdminToken(c.tokenFile)
	if err != nil {
		fmt.Fprintln(stderr, "simulator:", err)
		return "", nil, 2
	}
	if log, err = cli.Logger(stderr, c.logLevel); err != nil {
		fmt.Fprintln(stderr, "simulator: -log-level:", err)
		return "", nil, 2
	}
	return token, log, 0
}

func (c *common) progressOut(stdout, stderr io.Writer) io.Writer {
	switch {
	case c.quiet:
		return nil
	case c.json:
		return stderr
	}
	return stdout
}

type runOpts struct {
	common
	cfg                    simulator.Config
	plan                   bool
	lapses                 float64
	coverageEvery          time.Duration
	officer                fleet.OfficerConfig
	city, scenario, faults string
	cameras                string
	restartCmd, reloadCmd  string
}

func runFlags(o *runOpts, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("simulator run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.common.register(fs)
	c := &o.cfg
	o.officer = fleet.DefaultOfficerConfig()
	fs.IntVar(&c.Units, "units", 0, fmt.Sprintf("how many units (car 40%%, motorcycle 25%%, foot 20%%, volunteer 15%%); 0: the scenario's, else %d", simulator.DefaultUnits))
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run, in simulated time (e.g. 2h); 0: the scenario's, else until interrupted")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed of the fleet's patterns, the incidents, the officers and the faults; 0 picks one (the report shows it)")
	fs.StringVar(&o.city, "city", "", "the city model, a JSON or GeoJSON `file` (districts, stations, posts, routes, hot spots); default: Changsha, built in")
	fs.StringVar(&o.scenario, "scenario", "", "a built-in scenario's `name` (see below) or a scenario file")
	fs.StringVar(&o.cameras, "cameras", "", "the camera set a scenario's sightings name (\"camera\": id), a GeoJSON `file` of Point features with properties id and name\n(a 天网 inventory, as the hub's -cameras takes it); default: Changsha's sample set, built in (protocol/cameras/changsha)")
	fs.Float64Var(&c.TimeScale, "time-scale", 0, "simulated seconds per real second; 0: the scenario's, else 1")
	fs.Float64Var(&c.IncidentsPerHour, "incidents-per-hour", 0, fmt.Sprintf("background incidents per simulated hour; 0: the scenario's or the default mix's (%d), -1: none", incident.DefaultPerHour))
	fs.StringVar(&o.faults, "faults", "", "faults to inject, comma-separated, or all (see below); none by default")
	fs.DurationVar(&c.FaultEvery, "fault-every", simulator.DefaultFaultEvery, "mean simulated time between two injections of each fault")
	fs.Float64Var(&c.SOSPerHour, "sos-per-hour", 0, "officers' SOS per simulated hour across the fleet (the sos fault at this rate, named in -faults or not); 0: sos only if named, at -fault-every")
	fs.StringVar(&o.restartCmd, "broker-restart-cmd", "", "shell `command` restarting the external broker, for the broker_restart fault (e.g. 'systemctl restart mosquitto')")
	fs.StringVar(&c.MosquittoPasswd, "mosquitto-passwd", "", "with an external Mosquitto: write every unit's secret into this password `file` after enrolling\n(Mosquitto 2's hash; other lines kept), then run -broker-reload-cmd so Mosquitto reads it")
	fs.StringVar(&o.reloadCmd, "broker-reload-cmd", "", "shell `command` run after enrolling, before the units connect (e.g. 'systemctl reload mosquitto')")
	fs.DurationVar(&o.officer.AckMedian, "ack-median", fleet.DefaultAckMedian, "officers' median time to acknowledge a dispatch (simulated; lognormal)")
	fs.Float64Var(&o.officer.AckSigma, "ack-sigma", fleet.DefaultAckSigma, "σ of the log of the ack time")
	fs.Float64Var(&o.officer.DeclineRate, "decline-rate", fleet.DefaultDeclineRate, "share of dispatches declined")
	fs.Float64Var(&o.officer.NoAnswerRate, "no-answer-rate", fleet.DefaultNoAnswerRate, "share of dispatches never answered (the hub times out)")
	fs.DurationVar(&o.officer.ServiceMin, "service-min", fleet.DefaultServiceMin, "shortest time on scene (simulated)")
	fs.DurationVar(&o.officer.ServiceMax, "service-max", fleet.DefaultServiceMax, "longest time on scene (simulated)")
	fs.DurationVar(&c.Dispatcher.Delay, "dispatch-delay", dispatch.DefaultDelay, "the simulated dispatcher's delay before assigning an incident the hub did not dispatch (simulated)")
	fs.BoolVar(&c.Dispatcher.IgnoreOffers, "ignore-offers", false, "the dispatcher does not send the better-placed unit the hub offers after a sighting")
	fs.StringVar(&c.Prefix, "prefix", simulator.DefaultPrefix, "unit id `prefix`: ids are PREFIX-car-0001, PREFIX-moto-0002, …;\nunits enrolled by an earlier run with the same prefix are revoked and enrolled again")
	fs.DurationVar(&c.Tick, "tick", simulator.DefaultTick, "real time between two movement steps")
	fs.DurationVar(&c.GPSInterval, "gps-interval", simulator.DefaultGPSInterval, "real time between two GPS fixes of a unit (the agents' adaptive policy picks which to report)")
	fs.DurationVar(&c.ConnectWait, "connect-wait", simulator.DefaultConnectWait, "how long to wait for the fleet to connect before the simulated clock starts")
	fs.DurationVar(&c.Settle, "settle", simulator.DefaultSettle, "after -duration, how long (real) the last incidents get to be dispatched")
	fs.DurationVar(&c.DrainWait, "drain-wait", simulator.DefaultDrainWait, "at the end, how long (real) the last reports get to be confirmed")
	fs.IntVar(&c.StartRate, "start-rate", simulator.DefaultStartRate, "agents started per second")
	fs.DurationVar(&c.HubWait, "hub-wait", simulator.DefaultHubWait, "how long to wait for the hub to answer /healthz")
	fs.BoolVar(&c.KeepOpen, "keep-open", false, "leave the run's open incidents open at the end (by default the simulator closes them)")
	fs.BoolVar(&o.plan, "plan", true, "load a patrol plan built from the units' patterns into the hub at the start (PUT /api/patrols/PREFIX-CITY:\n"+
		"a point at each post, a line along each route, an area round each zone; one shift of 24 h from the run's start)\n"+
		"and report its compliance at the end; -plan=false: no plan and no lapses")
	fs.Float64Var(&o.lapses, "lapses", simulator.DefaultLapses, "share of units, 0 to 1, that do not keep the plan (chosen by -seed): at a post they stay a minute and are away\n"+
		"20-40 min at a time, on a route they drive a quarter to two fifths of it, from an area they wander out and patrol beyond it")
	fs.DurationVar(&o.coverageEvery, "coverage-every", report.DefaultCoverageEvery, "how often (real) to read the hub's coverage (GET /api/coverage) for the report; 0: never")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `Usage:
  simulator [run] [flags]      a fleet of simulated units against a hub, with incidents (the default)
  simulator load [flags]       load test: N units at a fixed rate, measured (simulator load -h)
  simulator scenarios          the built-in scenarios

Every unit is the real agent (kuaifan/agent) with its queue in memory, a
simulated GPS driven through the city (patrols at posts, along routes and in
areas), its own MQTT connection, and a simulated officer who acknowledges a
dispatch after a human delay (or declines, or never answers), drives there,
stays, and clears. A call-taker reports incidents through the hub's API; a
dispatcher assigns those the hub does not dispatch by itself. A scenario
scripts incidents, sightings, rate changes, outages and faults; -time-scale
runs it faster than real time. A progress line every 10 s and a report at the
end (on SIGINT/SIGTERM, or after -duration) go to stdout. At the start a patrol
plan built from the units' patterns is loaded into the hub (-plan; -lapses of
the units do not keep it); the report has its compliance and the city's
coverage through the run.

Flags of run:
`)
		fs.PrintDefaults()
		fmt.Fprint(w, "\nScenarios (-scenario NAME, or a file in the same JSON form):\n")
		cli.ScenarioHelp(w)
		fmt.Fprint(w, "\nFaults (-faults a,b or all):\n")
		cli.FaultHelp(w)
		fmt.Fprint(w, `
Examples:
  simulator -hub http://127.0.0.1:8080 -broker tcp://127.0.0.1:1883 -token-file data/admin.token -units 300
  simulator -token-file data/admin.token -scenario robbery-chase
  simulator -token-file data/admin.token -units 100 -time-scale 20 -duration 1h -faults all -json
`)
	}
	return fs
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	o := &runOpts{}
	fs := runFlags(o, stderr)
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	token, log, code := o.setup(stderr)
	if code != 0 {
		return code
	}
	cfg := o.cfg
	cfg.HubURL, cfg.BrokerURL, cfg.CAFile, cfg.TopicRoot = o.hub, o.broker, o.ca, o.topicRoot
	cfg.AdminToken, cfg.AdminTokenFile = token, o.tokenFile
	cfg.Officer = &o.officer
	cfg.NoPlan, cfg.Lapses, cfg.CoverageEvery = !o.plan, o.lapses, o.coverageEvery
	if o.coverageEvery == 0 {
		cfg.CoverageEvery = -1 // the Config's zero is the default
	}
	cfg.Logger = log
	if o.logLevel == "debug" {
		cfg.AgentLogger = log
	}
	cfg.Out = o.progressOut(stdout, stderr)
	if o.city != "" {
		c, err := city.Load(o.city)
		if err != nil {
			fmt.Fprintln(stderr, "simulator:", err)
			return 2
		}
		cfg.City = c
	}
	if o.cameras != "" {
		cs, err := cameras.Load(o.cameras)
		if err != nil {
			fmt.Fprintln(stderr, "simulator: -cameras:", err)
			return 2
		}
		cfg.Cameras = cs
	}
	if o.scenario != "" {
		sc, err := scenario.Open(o.scenario, cfg.Cameras)
		if err != nil {
			fmt.Fprintln(stderr, "simulator: -scenario", err)
			return 2
		}
		cfg.Scenario = &sc
	}
	list, err := faults.Parse(o.faults)
	if err != nil {
		fmt.Fprintln(stderr, "simulator: -faults:", err)
		return 2
	}
	cfg.Faults = list
	if o.restartCmd != "" {
		cfg.BrokerRestart = cli.Shell(o.restartCmd, stderr)
	}
	if o.reloadCmd != "" {
		cfg.AfterEnrol = cli.Shell(o.reloadCmd, stderr)
	}
	if cfg.MosquittoPasswd != "" && o.reloadCmd == "" {
		fmt.Fprintln(stderr, "simulator: note: -mosquitto-passwd without -broker-reload-cmd: Mosquitto must reread the file (SIGHUP) before the units connect")
	}

	ctx, stop := cli.SignalContext()
	defer stop()
	rep, err := simulator.Run(ctx, cfg)
	if rep.Units.Enrolled > 0 || err == nil {
		cli.PrintReport(stdout, o.json, rep)
	}
	return cli.ExitCode(stderr, err)
}

func loadCmd(args []string, stdout, stderr io.Writer) int {
	var c common
	var cfg simulator.LoadConfig
	var cityFile string
	fs := flag.NewFlagSet("simulator load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	fs.IntVar(&cfg.Units, "units", simulator.DefaultLoadUnits, "how many units (real agents, one MQTT connection each)")
	fs.Float64Var(&cfg.Hz, "hz", simulator.DefaultLoadHz, "position reports per unit per second, fixed (not the adaptive policy)")
	fs.DurationVar(&cfg.Duration, "duration", simulator.DefaultLoadDuration, "the measured window, once every unit is connected (real time)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed of the units' patrols; 0 picks one")
	fs.StringVar(&cfg.Prefix, "prefix", simulator.DefaultLoadPrefix, "unit id `prefix` (ids PREFIX-car-00001, …); an earlier run's units are revoked and enrolled again")
	fs.StringVar(&cityFile, "city", "", "the city model `file`; default: Changsha, built in")
	fs.IntVar(&cfg.StartRate, "start-rate", 1000, "agents started per second")
	fs.DurationVar(&cfg.ConnectWait, "connect-wait", 3*time.Minute, "how long to wait for every unit to connect before measuring")
	fs.DurationVar(&cfg.DrainWait, "drain-wait", time.Minute, "after the window, how long the last reports get to be confirmed")
	fs.DurationVar(&cfg.HubWait, "hub-wait", simulator.DefaultHubWait, "how long to wait for the hub to answer /healthz")
	fs.BoolVar(&cfg.NoStream, "no-stream", false, "do not read the websocket stream (no latency figures)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `Usage: simulator load [flags]

Load test: -units real agents (in-memory queues, one MQTT connection each)
report every 1/-hz s for -duration once all are connected. It reports the
throughput achieved (positions/s queued, sent and confirmed by the hub), the
hub's ingest counters from /metrics, the end-to-end latency from a position's
GPS time to the websocket delta carrying it (p50/p90/p99), loss after a final
wait, and the simulator's own CPU and memory per unit.

Flags of load:
`)
		fs.PrintDefaults()
		fmt.Fprint(w, "\nExample:\n  simulator load -token-file data/admin.token -units 10000 -hz 1 -duration 60s\n")
	}
	if code, ok := cli.Parse(fs, args, stderr); !ok {
		return code
	}
	token, log, code := c.setup(stderr)
	if code != 0 {
		return code
	}
	cfg.HubURL, cfg.BrokerURL, cfg.CAFile, cfg.TopicRoot = c.hub, c.broker, c.ca, c.topicRoot
	cfg.AdminToken, cfg.AdminTokenFile = token, c.tokenFile
	cfg.Logger = log
	cfg.Out = c.progressOut(stdout, stderr)
	if cityFile != "" {
		m, err := city.Load(cityFile)
		if err != nil {
			fmt.Fprintln(stderr, "simulator:", err)
			return 2
		}
		cfg.City = m
	}
	ctx, stop := cli.SignalContext()
	defer stop()
	rep, err := simulator.RunLoad(ctx, cfg)
	if rep.Connected > 0 || err == nil {
		cli.PrintReport(stdout, c.json, rep)
	}
	return cli.ExitCode(stderr, err)
}

func scenariosCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulator scenarios", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print each scenario in full, as the JSON a -scenario file takes")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: simulator scenarios [-json]\n\nLists the built-in scenarios (run one with simulator -scenario NAME).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := cli.ListScenarios(stdout, *asJSON); err != nil {
		fmt.Fprintln(stderr, "simulator:", err)
		return 1
	}
	return 0
}
