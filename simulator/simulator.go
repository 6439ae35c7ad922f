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
// The units' patrols become a patrol plan loaded into the hub, which a share
// of them do not keep; the report has the hub's compliance report on it
// and the city's coverage through the run.
//
// Run is one run (simulator run); RunLoad is the load test (simulator load).
// Both return a report (text and JSON). They only wire together the
// packages under internal/, where the city, the patrols, the incidents,
// the scenarios, the fleet, the faults and the report live (README.md,
// Layout).
package simulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/loadtest"
	"kuaifan/simulator/internal/report"
	"kuaifan/simulator/internal/scenario"
)

// The types of Config's fields and of the reports, for importers: they are
// defined in the internal packages.
type (
	CityModel        = city.Model
	Scenario         = scenario.Scenario
	IncidentMix      = incident.Mix
	OfficerConfig    = fleet.OfficerConfig
	DispatcherConfig = dispatch.Config
	Report           = report.Run
	LoadReport       = loadtest.Report
)

// DefaultOfficerConfig is the officers as a run has them without options.
func DefaultOfficerConfig() OfficerConfig { return fleet.DefaultOfficerConfig() }

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
	enrolWorkers        = 8 // concurrent enrolments: each is an fsync on the hub
)

// DefaultLapses is the command's -lapses: the share of units that do not
// keep the patrol plan (Config.Lapses' zero is none).
const DefaultLapses = 0.1

// Config is one run of the simulator. Zero values take the defaults; a
// scenario's own duration, time scale, fleet size and incidents apply where
// the Config leaves them zero.
type Config struct {
	HubURL    string // the hub's HTTP API, e.g. http://127.0.0.1:8080 or https://hub:8443
	BrokerURL string // the MQTT broker the units connect to, e.g. tcp://127.0.0.1:1883 or ssl://hub:8883
	TopicRoot string // "rr"
	// CAFile is a PEM file of the CA that signed the hub's (and the
	// broker's) certificate, for an https:// hub and an ssl:// broker:
	// hub -tls auto's certificate, as the agents' -ca. "": the system's roots.
	CAFile string
	tls    *tls.Config // CAFile's, filled by resolve; nil: the system's roots

	// AdminToken authorises the API. If empty, it is read from
	// AdminTokenFile once the hub answers: a hub started at the same time
	// writes that file on its first start.
	AdminToken     string
	AdminTokenFile string

	Units    int           // fleet size; 0: the scenario's, else DefaultUnits
	Prefix   string        // unit ids are {Prefix}-car-0001 …; "" means DefaultPrefix
	Duration time.Duration // simulated; 0: the scenario's, else until ctx ends
	Seed     uint64        // 0 picks one (the report shows it)

	City      *CityModel // nil: Changsha, built in
	Scenario  *Scenario  // nil: a free run with the background incidents only
	TimeScale float64    // simulated seconds per real second; 0: the scenario's, else 1
	// Incidents is the background of incidents; nil: the scenario's (none if
	// it has none), or the default mix without a scenario.
	Incidents *IncidentMix
	// IncidentsPerHour overrides the background's rate (simulated hours)
	// when > 0; < 0 turns the background off.
	IncidentsPerHour float64
	// Cameras is the camera set the scenario's sighting steps name
	// ("camera": id; a 天网 inventory as kuaifan/protocol/cameras reads it);
	// nil: the scenario's own (Scenario.Cameras), which defaults to
	// Changsha's sample set (kuaifan/protocol/cameras/changsha).
	Cameras []api.Camera

	Officer    *OfficerConfig // nil: DefaultOfficerConfig()
	Dispatcher DispatcherConfig

	Faults     []string      // the faults' names (simulator -h lists them); none by default
	FaultEvery time.Duration // mean simulated time between two injections of each fault; 2 min
	// SOSPerHour is how many officers' SOS a simulated hour brings across
	// the fleet (the sos fault at its own rate, named in Faults or not); 0:
	// the sos fault, if named, at FaultEvery.
	SOSPerHour float64
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

	// NoPlan loads no patrol plan, and no unit lapses. By default a run
	// builds a plan from its units' beats (internal/patrolplan: a point at
	// each post, a line along each route, an area round each zone), loads
	// it into the hub before the units connect, and reads the hub's
	// compliance report on it at the end. Additive (2026-12).
	NoPlan bool
	// Lapses is the share of units, 0 to 1, that do not keep the plan
	// (patrol.Mover.Lapse), picked by Seed. 0 is none: the command's
	// -lapses defaults to DefaultLapses.
	Lapses float64
	// CoverageEvery is how often (real time) the run reads the hub's
	// coverage for the report; 0: report.DefaultCoverageEvery (10 s),
	// negative: never.
	CoverageEvery time.Duration

	Logger      *slog.Logger // nil: discard
	AgentLogger *slog.Logger // the agents' own logs; nil: Logger at Error and above (a fleet of agents each logging a lost link drowns the rest)
	Out         io.Writer    // a progress line every 10 s; nil: none
}

// resolve fills the defaults (a seed too), applies the scenario, and checks
// everything.
func (c Config) resolve() (Config, error) {
	var errs []error
	if u, err := url.Parse(c.HubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("hub URL %q: want http://host:port", c.HubURL))
	}
	c.HubURL = strings.TrimRight(c.HubURL, "/")
	if u, err := url.Parse(c.BrokerURL); err != nil || u.Host == "" || !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts"}, u.Scheme) {
		errs = append(errs, fmt.Errorf("broker URL %q: want tcp://host:port, or ssl://host:port for TLS", c.BrokerURL))
	} else if secureBroker(u.Scheme) {
		// Those faults write MQTT packets into a unit's connection below
		// the agent, which is below TLS: they would only break the stream.
		for _, f := range c.Faults {
			if f == faults.Duplicate || f == faults.Reorder {
				errs = append(errs, fmt.Errorf("fault %s: not over TLS (%s): it slips packets into a unit's MQTT stream", f, c.BrokerURL))
			}
		}
	}
	var err error
	if c.tls, err = caConfig(c.CAFile); err != nil {
		errs = append(errs, err)
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
		c.City = city.Changsha()
	}
	if c.Scenario != nil {
		// A copy, bound to the camera set: the caller's is left as it is.
		sc := *c.Scenario
		if c.Cameras != nil {
			sc.Cameras = c.Cameras
		}
		c.Scenario = &sc
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
			mix := incident.DefaultMix()
			mix.PerHour = 0
			c.Incidents = &mix
		}
	}
	if c.Incidents == nil {
		mix := incident.DefaultMix()
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
	def(&c.CoverageEvery, report.DefaultCoverageEvery)
	def(&c.Dispatcher.Delay, dispatch.DefaultDelay)
	def(&c.Dispatcher.Poll, dispatch.DefaultPoll)
	if c.StartRate == 0 {
		c.StartRate = DefaultStartRate
	}
	if c.Officer == nil {
		o := fleet.DefaultOfficerConfig()
		c.Officer = &o
	} else {
		o := *c.Officer
		c.Officer = &o
	}
	if err := c.Officer.Fill(); err != nil {
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
		if !slices.Contains(faults.Names(), f) {
			errs = append(errs, fmt.Errorf("unknown fault %q", f))
		}
	}
	if !(c.Lapses >= 0) || c.Lapses > 1 {
		errs = append(errs, fmt.Errorf("lapses %v: want a share, 0 to 1", c.Lapses))
	}
	if !(c.SOSPerHour >= 0) || c.SOSPerHour > 3600 {
		errs = append(errs, fmt.Errorf("sos per hour %v: want 0 to 3600", c.SOSPerHour))
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AgentLogger == nil {
		c.AgentLogger = fleet.AgentLogger(c.Logger)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("simulator: config: %w", err)
	}
	return c, nil
}

// secureBroker says whether a broker URL's scheme is TLS, as the agent takes it.
func secureBroker(scheme string) bool { return scheme == "ssl" || scheme == "tls" || scheme == "mqtts" }

// caConfig is the TLS configuration trusting the CA in file (only it), for
// the hub's API and the broker; nil for "": the system's roots.
func caConfig(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
