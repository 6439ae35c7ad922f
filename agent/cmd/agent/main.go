// Command agent runs kuaifan's edge agent on a patrol device: it reports the
// unit's position and status to the hub over MQTT and carries out the hub's
// dispatches. It only turns flags (and a -config file) into an agent.Config
// and runs it; everything else is package agent and its internal packages.
//
//	agent -unit car-017 -secret S -broker tcp://hub:1883 -gps nmea:/dev/ttyUSB0 -data /var/lib/kuaifan-agent
//	agent -h
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"kuaifan/agent"
	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/report"
	"kuaifan/agent/internal/uplink"
	"kuaifan/protocol"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
}

// options are the flags that are not agent.Config fields as they are.
type options struct {
	config   string
	ca       string
	logLevel string
	level    slog.Level
	simAt    string
	reportKV map[string]*float64
}

// load turns the command line (and the -config file it names, and the
// environment) into a Config.
func load(args []string, stderr io.Writer) (agent.Config, *options, error) {
	cfg := agent.DefaultConfig()
	o := &options{}
	fs := newFlags(&cfg, o, stderr)
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if fs.NArg() > 0 {
		return cfg, nil, fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	if o.config != "" {
		// The file first, then the command line again: flags override it.
		if err := applyFile(fs, o.config); err != nil {
			return cfg, nil, err
		}
		if err := fs.Parse(args); err != nil {
			return cfg, nil, err
		}
	}
	if cfg.Secret == "" {
		cfg.Secret = os.Getenv("AGENT_SECRET")
	}
	if cfg.TerminalToken == "" {
		cfg.TerminalToken = os.Getenv("AGENT_TERMINAL_TOKEN")
	}
	var err error
	if o.level, err = parseLevel(o.logLevel); err != nil {
		return cfg, nil, err
	}
	vals := map[string]float64{}
	fs.Visit(func(f *flag.Flag) {
		if p, ok := o.reportKV[f.Name]; ok {
			vals[strings.TrimPrefix(f.Name, "report-")] = *p
		}
	})
	if len(vals) > 0 {
		rc, _, err := cfg.Report.Apply(vals)
		if err != nil {
			return cfg, nil, fmt.Errorf("reporting options: %w", err)
		}
		cfg.Report = rc
	}
	if cfg.TLS, err = uplink.TLSConfig(o.ca); err != nil {
		return cfg, nil, fmt.Errorf("-ca: %w", err)
	}
	// "sim" is a simulated unit on patrol round -sim-at, so that the agent
	// can be tried without a receiver (the simulator drives its own Sims).
	if cfg.GPS == "sim" {
		lat, lon, err := parseLatLon(o.simAt)
		if err != nil {
			return cfg, nil, fmt.Errorf("-sim-at: %w", err)
		}
		cfg.GPSOptions.Patrol = &gps.Circle{Lat: lat, Lon: lon}
	}
	return cfg, o, nil
}

func run(args []string, stderr io.Writer) error {
	cfg, o, err := load(args, stderr)
	if err != nil {
		return err
	}
	h := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.level})
	cfg.Logger = slog.New(h)
	cfg.GPSOptions.Logger = cfg.Logger
	uplink.LogPaho(h) // paho's logs are the process's: here only
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}

func newFlags(cfg *agent.Config, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `agent — kuaifan's edge agent on a patrol device.

It reports the unit's position and status to the hub over MQTT (QoS 1, through a
durable queue in -data that keeps everything while offline and resends until the
hub confirms), receives dispatches, and answers them (ack, arrived, cleared);
carries out move-ups (reposition) while staying available; keeps the unit's
patrol tasks (tasks) for the officer's terminal.

  agent -unit ID -secret S -broker tcp://host:1883 -gps nmea:PATH|gpsd:HOST:PORT|sim -data DIR

Every option can also come from a JSON file (-config FILE) with the same names
as keys, e.g. {"unit":"car-017","broker":"ssl://hub:8883","resend-after":"30s",
"report-moving_s":5}; flags on the command line override the file.

Options:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.config, "config", "", "read options from this JSON `file` (keys are the flag names); flags override it")
	fs.StringVar(&cfg.Unit, "unit", cfg.Unit, "unit `id` as enrolled at the hub ([A-Za-z0-9_-]{1,32}); also the MQTT client id and username")
	fs.StringVar(&cfg.Secret, "secret", cfg.Secret, "the unit's MQTT password (POST /api/units returned it); default: env AGENT_SECRET")
	fs.StringVar(&cfg.Broker, "broker", cfg.Broker, "MQTT broker `URL`: tcp://host:1883; with TLS ssl://host:8883 (or tls://, mqtts://), trusting -ca (a hub's -tls auto: its tls-cert.pem); ws://host/path; a broker cluster's nodes as several URLs separated by commas (the agent fails over between them)")
	fs.StringVar(&o.ca, "ca", "", "PEM `file` of the CA that signed the broker's certificate (ssl://, tls://); default: the system's roots")
	fs.StringVar(&cfg.GPS, "gps", cfg.GPS, "GPS `source`: nmea:PATH (serial port, file or pipe), gpsd:HOST:PORT, or sim (a simulated unit on patrol around -sim-at)")
	fs.IntVar(&cfg.GPSOptions.Baud, "gps-baud", gps.DefaultBaud, "serial `rate` for nmea: on a serial port")
	fs.Float64Var(&cfg.GPSOptions.Quality.MaxHDOP, "gps-max-hdop", gps.DefaultMaxHDOP, "fixes with a worse HDOP are not reported (negative: no check)")
	fs.Float64Var(&cfg.GPSOptions.Quality.MaxAccM, "gps-max-acc", gps.DefaultMaxAccM, "fixes with a worse accuracy estimate, in `metres`, are not reported (negative: no check)")
	fs.IntVar(&cfg.GPSOptions.Quality.MinSats, "gps-min-sats", gps.DefaultMinSats, "fixes from fewer satellites are not reported (negative: no check)")
	fs.BoolVar(&cfg.Replay, "replay", cfg.Replay, "the GPS source is a recorded log: replay it at its recorded pace, stamped with the current time, so the hub shows the unit moving now")
	fs.StringVar(&o.simAt, "sim-at", "28.1941,112.9823", "`lat,lon` the simulated unit (-gps sim) patrols around")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data `directory`: the queue and the unit's saved state (assignment, status, handled commands)")
	fs.StringVar(&cfg.TopicRoot, "topic-root", cfg.TopicRoot, "MQTT topic root, as the hub's")
	fs.StringVar(&cfg.Terminal, "terminal", cfg.Terminal, "officer terminal API listen `address` (loopback); empty disables it")
	fs.Func("unit-type", "the unit's `type` as enrolled (car, motorcycle, foot, volunteer): the officer's page estimates the ETA with it", func(v string) error {
		cfg.UnitType = protocol.UnitType(v)
		return nil // checked with the rest of the config
	})
	fs.StringVar(&cfg.TerminalToken, "terminal-token", cfg.TerminalToken, "Bearer `token` the terminal API requires; default: env AGENT_TERMINAL_TOKEN, else none")
	fs.Float64Var(&cfg.ArriveRadiusM, "arrive-radius", cfg.ArriveRadiusM, "report arrival by itself within this many `metres` of the incident")
	fs.Float64Var(&cfg.RepositionRadiusM, "reposition-radius", cfg.RepositionRadiusM, "report arrival at a move-up's spot (a reposition) by itself within this many `metres` of it")
	fs.DurationVar(&cfg.ResendAfter, "resend-after", cfg.ResendAfter, "resend a report the hub has not confirmed after this long")
	fs.IntVar(&cfg.DrainRate, "drain-rate", cfg.DrainRate, "after a reconnect, send the offline backlog at this many `positions` per second (live reports always go first)")
	fs.IntVar(&cfg.MaxQueued, "max-queued", cfg.MaxQueued, "queue bound in `reports` (~330 bytes of memory each); beyond it the oldest positions are thinned, never events")
	fs.BoolVar(&cfg.AutoAck, "auto-ack", cfg.AutoAck, "acknowledge every dispatch at once (simulations and tests; a real officer acks on the terminal)")
	fs.DurationVar(&cfg.ReconnectMin, "reconnect-min", cfg.ReconnectMin, "first wait before reconnecting; doubles up to -reconnect-max, each wait jittered into [d/2, d]")
	fs.DurationVar(&cfg.ReconnectMax, "reconnect-max", cfg.ReconnectMax, "longest wait before reconnecting")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")

	def := report.DefaultConfig().Values()
	help := map[string]string{
		"dispatched_s":   "report interval in `seconds` while the unit has an assignment",
		"fast_s":         "report interval in `seconds` above -report-fast_mps",
		"moving_s":       "report interval in `seconds` above -report-moving_mps",
		"patrol_s":       "report interval in `seconds` above -report-stationary_mps",
		"stationary_s":   "report interval in `seconds` when standing",
		"fast_mps":       "`speed` (m/s) above which the unit moves fast",
		"moving_mps":     "`speed` (m/s) above which the unit moves",
		"stationary_mps": "`speed` (m/s) at or below which the unit stands",
		"turn_deg":       "report at once on a heading change beyond this many `degrees` while moving",
		"distance_m":     "report at once this many `metres` from the last report",
	}
	o.reportKV = map[string]*float64{}
	keys := report.Keys()
	sort.Strings(keys)
	for _, k := range keys {
		name := "report-" + k
		o.reportKV[name] = fs.Float64(name, def[k], help[k]+" (the hub's config command changes it)")
	}
	return fs
}

// applyFile sets the flags named by the keys of a JSON object.
func applyFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("-config %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("-config %s: unknown option %q", path, k)
		}
		var s string
		switch v := m[k].(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return fmt.Errorf("-config %s: %q: want a string, number or boolean", path, k)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("-config %s: %q: %w", path, k, err)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func parseLatLon(s string) (float64, float64, error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, fmt.Errorf("%q is not lat,lon in degrees", s)
	}
	return lat, lon, nil
}
