// Command simulator runs a fleet of simulated patrol units against a kuaifan
// hub until it is interrupted (or for -duration), then prints its report.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/simulator"
)

func main() {
	os.Exit(run())
}

func run() int {
	var cfg simulator.Config
	flag.StringVar(&cfg.HubURL, "hub", "http://127.0.0.1:8080", "the hub's HTTP API `URL`")
	flag.StringVar(&cfg.BrokerURL, "broker", "tcp://127.0.0.1:1883", "the MQTT broker's `URL`")
	flag.StringVar(&cfg.AdminTokenFile, "token-file", "", "read the admin token from this `file` (the hub's <data>/admin.token);\nwithout it, from env HUB_ADMIN_TOKEN")
	flag.IntVar(&cfg.Units, "units", simulator.DefaultUnits, "how many units to simulate")
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long the fleet runs, e.g. 5m; 0 runs until interrupted")
	flag.DurationVar(&cfg.Interval, "interval", simulator.DefaultInterval, "report period of each unit, jittered ±20%")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "random seed of start positions and movement; 0 picks one (the report shows it)")
	flag.StringVar(&cfg.Prefix, "prefix", simulator.DefaultPrefix, "unit id `prefix`: ids are PREFIX-car-001, PREFIX-moto-002, …;\nunits enrolled by an earlier run with the same prefix are revoked and enrolled again")
	flag.StringVar(&cfg.TopicRoot, "topic-root", "rr", "first `level` of every MQTT topic (as the hub's -topic-root)")
	flag.DurationVar(&cfg.HubWait, "hub-wait", simulator.DefaultHubWait, "how long to wait for the hub to answer /healthz")
	asJSON := flag.Bool("json", false, "print the final report as JSON instead of text")
	quiet := flag.Bool("quiet", false, "no progress line every 10 s")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: simulator [flags]\n\n"+
			"Runs a fleet of simulated patrol units (car 40%%, motorcycle 25%%, foot 20%%,\n"+
			"volunteer 15%%) moving around Changsha against a kuaifan hub: enrols them through\n"+
			"the hub's API with the admin token, connects each as its own MQTT client and\n"+
			"reports positions, resending what the hub does not confirm. Ends on SIGINT or\n"+
			"SIGTERM (or after -duration) with a report on stdout; progress goes to stderr.\n\n"+
			"Flags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "simulator: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		return 2
	}
	if cfg.Units < 1 {
		fmt.Fprintln(os.Stderr, "simulator: -units must be at least 1")
		return 2
	}
	if cfg.AdminTokenFile == "" {
		cfg.AdminToken = os.Getenv("HUB_ADMIN_TOKEN")
		if cfg.AdminToken == "" {
			fmt.Fprintln(os.Stderr, "simulator: no admin token: give -token-file or set HUB_ADMIN_TOKEN")
			return 2
		}
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "simulator: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	if !*quiet {
		cfg.Out = os.Stderr
	}
	// paho logs through package variables; route them into slog. With one
	// client per unit, a broker restart makes every client log each failed
	// reconnect: its errors and warnings go to debug, and the simulator
	// reports what matters (first connect failure, connected count, report).
	mqtt.CRITICAL = slog.NewLogLogger(log.Handler(), slog.LevelError)
	mqtt.ERROR = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	mqtt.WARN = slog.NewLogLogger(log.Handler(), slog.LevelDebug)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the run winds down; a second one kills it.
	context.AfterFunc(ctx, stop)

	rep, err := simulator.Run(ctx, cfg)
	if rep.Enrolled > 0 || err == nil {
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			fmt.Print(rep)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "simulator: interrupted:", err)
			return 130
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
