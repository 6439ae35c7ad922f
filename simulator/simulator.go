// Package simulator runs a city's fleet of patrol units against a kuaifan hub,
// so that demonstrations, end-to-end tests and load tests have a live city.
//
// Run enrols the units through the hub's HTTP API, connects each one to the
// MQTT broker as its own client (client id = username = unit id), and lets
// them patrol Changsha: a random walk at the speed of their type (car,
// motorcycle, foot, volunteer), reporting telemetry every few seconds with
// QoS 1. Like a real agent it counts a report as delivered only when the hub's
// ack covers its seq, and resends what stays unconfirmed. This version
// publishes with paho directly; a later one will run the agent package itself.
package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"kuaifan/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultUnits    = 300
	DefaultInterval = 2 * time.Second
	DefaultPrefix   = "sim"
	DefaultHubWait  = 30 * time.Second
)

// Tuning that is not configuration.
const (
	enrolWorkers   = 8  // concurrent enrolments; each is an fsync on the hub
	connectWorkers = 16 // concurrent MQTT connection attempts
	progressEvery  = 10 * time.Second
	drainWait      = 5 * time.Second // for the last confirmations at the end
)

// Config is what one run of the simulator is told.
type Config struct {
	HubURL    string // the hub's HTTP API, e.g. http://127.0.0.1:8080
	BrokerURL string // the MQTT broker, e.g. tcp://127.0.0.1:1883

	// AdminToken authorises enrolment. If empty, it is read from
	// AdminTokenFile once the hub is healthy: a hub started at the same time
	// writes that file on its first start.
	AdminToken     string
	AdminTokenFile string

	Units     int           // fleet size; 0 means DefaultUnits
	Duration  time.Duration // how long the fleet reports, from when it starts; 0: until ctx is done
	Interval  time.Duration // report period per unit, jittered ±20 %; 0 means DefaultInterval
	Seed      uint64        // start positions and movement; 0 picks one (see Report.Seed)
	Prefix    string        // unit ids are {Prefix}-car-001 …; "" means DefaultPrefix
	TopicRoot string        // MQTT topic root; "" means protocol.DefaultRoot
	HubWait   time.Duration // how long to wait for the hub's /healthz; 0 means DefaultHubWait

	Logger *slog.Logger // nil: discard
	Out    io.Writer    // a progress line every 10 s; nil: none
}

// Report is what a run did. Sent = Confirmed + Unconfirmed + Dropped.
type Report struct {
	Units          int     `json:"units"`           // asked for
	Enrolled       int     `json:"enrolled"`        // through the API
	Connected      int     `json:"connected"`       // connected to the broker at least once
	ConnectionLost uint64  `json:"connection_lost"` // connections that broke (not closed by the simulator)
	Sent           uint64  `json:"sent"`            // telemetry messages, each seq counted once
	Resent         uint64  `json:"resent"`          // publishes again of an unconfirmed seq
	Confirmed      uint64  `json:"confirmed"`       // seqs the hub's ack covered
	Unconfirmed    uint64  `json:"unconfirmed"`     // seqs never confirmed by the end
	Dropped        uint64  `json:"dropped"`         // unconfirmed seqs given up when a unit's outbox was full
	PublishErrors  uint64  `json:"publish_errors"`  // publishes paho reported as failed
	Commands       uint64  `json:"commands"`        // commands received from the hub
	Seed           uint64  `json:"seed"`
	Boot           string  `json:"boot"` // this run's boot id in every unit's state
	ElapsedSeconds float64 `json:"elapsed_s"`
}

// String is the report for people.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulator report (seed %d, boot %s, %v)\n", r.Seed, r.Boot,
		time.Duration(r.ElapsedSeconds*float64(time.Second)).Round(time.Millisecond))
	fmt.Fprintf(&b, "  units      %d asked, %d enrolled, %d connected, %d connections lost\n",
		r.Units, r.Enrolled, r.Connected, r.ConnectionLost)
	fmt.Fprintf(&b, "  telemetry  %d sent, %d confirmed, %d unconfirmed at the end, %d resent",
		r.Sent, r.Confirmed, r.Unconfirmed, r.Resent)
	if r.Dropped > 0 {
		fmt.Fprintf(&b, ", %d dropped", r.Dropped)
	}
	if r.PublishErrors > 0 {
		fmt.Fprintf(&b, ", %d publish errors", r.PublishErrors)
	}
	fmt.Fprintf(&b, "\n  commands   %d received\n", r.Commands)
	return b.String()
}

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if u, err := url.Parse(c.HubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("hub URL %q: want http://host:port", c.HubURL))
	}
	c.HubURL = strings.TrimRight(c.HubURL, "/")
	if c.BrokerURL == "" {
		errs = append(errs, errors.New("no broker URL"))
	} else if u, err := url.Parse(c.BrokerURL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("broker URL %q: want tcp://host:port", c.BrokerURL))
	}
	if c.AdminToken == "" && c.AdminTokenFile == "" {
		errs = append(errs, errors.New("no admin token (AdminToken or AdminTokenFile)"))
	}
	if c.Units < 0 || c.Duration < 0 || c.Interval < 0 || c.HubWait < 0 {
		errs = append(errs, errors.New("units, duration, interval and hub wait cannot be negative"))
	}
	if c.Units == 0 {
		c.Units = DefaultUnits
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.HubWait == 0 {
		c.HubWait = DefaultHubWait
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.TopicRoot == "" {
		c.TopicRoot = protocol.DefaultRoot
	} else if !protocol.ValidRoot(c.TopicRoot) {
		errs = append(errs, fmt.Errorf("topic root %q: one or more levels, no wildcards", c.TopicRoot))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("simulator: config: %w", err)
	}
	return c, nil
}

// Run waits for the hub, enrols the fleet, runs it until ctx is done or
// cfg.Duration has passed, then gives the last reports up to 5 s to be
// confirmed, marks every unit offline and disconnects. It returns the report
// of what was done even with an error. A ctx that ends once the fleet runs is
// the normal way to stop and is no error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Units: cfg.Units, Seed: cfg.Seed, Boot: newBoot()}
	if rep.Seed == 0 {
		rep.Seed = mrand.Uint64() | 1
	}
	elapsed := func() float64 { return time.Since(start).Seconds() }
	log := cfg.Logger

	specs, err := planFleet(cfg.Prefix, cfg.Units)
	if err != nil {
		return rep, err
	}

	// A transport of our own, so its idle connections are closed at the end.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	api := &hubAPI{base: cfg.HubURL, token: cfg.AdminToken, http: &http.Client{Transport: transport, Timeout: 15 * time.Second}}

	if err := api.waitHealthy(ctx, cfg.HubWait); err != nil {
		rep.ElapsedSeconds = elapsed()
		return rep, err
	}
	if api.token == "" {
		if api.token, err = readToken(cfg.AdminTokenFile); err != nil {
			return rep, err
		}
	}
	log.Info("enrolling units", "units", len(specs), "hub", cfg.HubURL)
	secrets, err := api.enrolAll(ctx, specs, enrolWorkers)
	if err != nil {
		rep.ElapsedSeconds = elapsed()
		return rep, err
	}
	rep.Enrolled = len(specs)
	transport.CloseIdleConnections() // the API is not needed again

	cnt := &counters{}
	box, districts := Changsha(), ChangshaDistricts()
	units := make([]*unit, len(specs))
	for i, s := range specs {
		rng := mrand.New(mrand.NewPCG(rep.Seed, uint64(i)))
		if units[i], err = newUnit(s, secrets[i], &cfg, rep.Boot, newMover(s.Type, box, districts, rng), rng, cnt); err != nil {
			return rep, err
		}
	}

	runCtx, stop := ctx, context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		runCtx, stop = context.WithTimeout(ctx, cfg.Duration)
	}
	defer stop()
	log.Info("fleet starting", "units", len(units), "broker", cfg.BrokerURL, "interval", cfg.Interval, "seed", rep.Seed, "boot", rep.Boot)

	var wg sync.WaitGroup
	slots := make(chan struct{}, connectWorkers)
	for _, u := range units {
		wg.Go(func() { u.run(runCtx, slots) })
	}
	if cfg.Out != nil {
		wg.Go(func() { progress(runCtx, cfg.Out, cnt, units, start) })
	}
	wg.Wait() // the units return when runCtx is done

	// The hub confirms in batches: give the last reports a moment.
	pending := func() (n uint64) {
		for _, u := range units {
			n += uint64(u.out.len())
		}
		return n
	}
	// Nothing can be confirmed while no unit is connected (the hub may be
	// stopping at the same time, as on Ctrl-C under make run).
	for deadline := time.Now().Add(drainWait); pending() > 0 && cnt.connected.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}

	// Offline states and disconnects, all units at once.
	for _, u := range units {
		wg.Go(u.close)
	}
	wg.Wait()

	rep.Connected = int(cnt.everConnected.Load())
	rep.ConnectionLost = cnt.lost.Load()
	rep.Sent = cnt.sent.Load()
	rep.Resent = cnt.resent.Load()
	rep.Confirmed = cnt.confirmed.Load()
	rep.Unconfirmed = pending()
	rep.Dropped = cnt.dropped.Load()
	rep.PublishErrors = cnt.publishErrors.Load()
	rep.Commands = cnt.commands.Load()
	rep.ElapsedSeconds = elapsed()
	log.Info("fleet stopped", "sent", rep.Sent, "confirmed", rep.Confirmed, "unconfirmed", rep.Unconfirmed)

	if rep.Connected == 0 {
		cnt.mu.Lock()
		last := cnt.lastConnErr
		cnt.mu.Unlock()
		if last == nil {
			last = errors.New("stopped before the first attempt ended")
		}
		return rep, fmt.Errorf("simulator: no unit could connect to %s: %w", cfg.BrokerURL, last)
	}
	return rep, nil
}

// progress writes a line every progressEvery until ctx is done.
func progress(ctx context.Context, out io.Writer, cnt *counters, units []*unit, start time.Time) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			backlog := 0
			for _, u := range units {
				backlog += u.out.len()
			}
			fmt.Fprintf(out, "[%6s] %d/%d units connected, %d sent, %d confirmed, %d unconfirmed, %d resent\n",
				now.Sub(start).Round(time.Second), cnt.connected.Load(), len(units),
				cnt.sent.Load(), cnt.confirmed.Load(), backlog, cnt.resent.Load())
		}
	}
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

// newBoot is a random id for this run, sent in every unit's state so the hub
// can tell a stale Last Will of an earlier run from this run's presence.
func newBoot() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's documented behaviour)
	return hex.EncodeToString(b[:])
}
