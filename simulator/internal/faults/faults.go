// Package faults injects faults into a running fleet, at random or when a
// scenario step says: a unit's link dropped, its agent killed and
// restarted (a device reset), its GPS jumping or without a fix, its recent
// reports sent again (in order or not), a rogue client and rogue payloads
// the hub must refuse, the external broker restarted. Each is counted for
// the report.
package faults

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/agent"
	"kuaifan/protocol"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/link"
	"kuaifan/simulator/internal/simclock"
)

// The faults (-faults), each off unless named.
const (
	LinkDrop      = "link_drop"      // a unit's link goes for a while and comes back
	AgentKill     = "agent_kill"     // a unit's agent stops abruptly and restarts (a device reset)
	GPSJump       = "gps_jump"       // one fix hundreds of metres off (multipath among towers)
	GPSNoFix      = "gps_nofix"      // no fix for a while (a tunnel, a car park)
	Duplicate     = "duplicate"      // a unit's recent reports sent again on its connection
	Reorder       = "reorder"        // the same, newest first: out of order
	Rogue         = "rogue"          // a wrong secret, garbage, a spoofed unit id: all to be refused
	BrokerRestart = "broker_restart" // the external broker restarts (BrokerRestart)
	SOS           = "sos"            // an officer presses SOS (additive, 2026-12)
)

// Names lists every fault, in the order the help shows them.
func Names() []string {
	return []string{LinkDrop, AgentKill, GPSJump, GPSNoFix, Duplicate, Reorder, Rogue, BrokerRestart, SOS}
}

// faultHelp says what each fault does, for -h.
var faultHelp = map[string]string{
	LinkDrop:      "a unit loses its link (below MQTT) for 10 s–2 min and gets it back; nothing it queued meanwhile may be lost",
	AgentKill:     "a unit's agent is stopped abruptly (link cut first: its Last Will fires) and restarted 5–30 s later; its in-memory queue dies with it (a device reset), counted apart as lost_by_kill",
	GPSJump:       "one fix of a unit lands 150–800 m off",
	GPSNoFix:      "a unit has no fix for 30 s–3 min",
	Duplicate:     "a unit's last reports are sent again on its own connection: the hub drops them as duplicates",
	Reorder:       "a unit's last reports are sent again newest first: duplicates out of order",
	Rogue:         "a client with a wrong secret and another unit's id, garbage and a payload naming another unit on a valid unit's connection: the hub must refuse them all",
	BrokerRestart: "the external broker restarts (needs -broker-restart-cmd; skipped with the embedded broker)",
	SOS:           "an officer presses SOS on the terminal: the hub must open an officer_help incident and send help (the rate across the fleet: -sos-per-hour)",
}

// Help describes a fault.
func Help(name string) string { return faultHelp[name] }

// Parse reads a comma-separated list of fault names ("all" for every one).
func Parse(list string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "all":
			out = Names()
		case slices.Contains(Names(), f):
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		default:
			return nil, fmt.Errorf("unknown fault %q: want %s or all", f, strings.Join(Names(), ", "))
		}
	}
	return out, nil
}

// Report counts one fault's injections.
type Report struct {
	Name     string `json:"name"`
	Injected int    `json:"injected"`
	Failed   int    `json:"failed,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// Rogue: what was sent, and what the clients saw refused.
	Sent    int `json:"sent,omitempty"`
	Refused int `json:"refused,omitempty"`
}

// Config is which faults an Injector injects at random, and how.
type Config struct {
	Enabled []string      // Names; the others only when a scenario step says
	Every   time.Duration // mean simulated time between two injections of each
	Broker  string        // the broker's URL, for the rogue client
	TLS     *tls.Config   // for an ssl:// broker; nil: the system's roots
	// Restart restarts the external broker (broker_restart); nil: that
	// fault is skipped.
	Restart func(context.Context) error
	// SOSEvery, if set, is the mean simulated time between two sos across
	// the fleet, whether or not sos is in Enabled (-sos-per-hour).
	SOSEvery time.Duration
}

// Injector injects the enabled faults at random (each about every
// Every of simulated time, into a random unit) and the scenario's fault steps.
type Injector struct {
	f        *fleet.Fleet
	enabled  []string
	every    time.Duration
	clock    *simclock.Clock
	jr       *journal.Journal
	log      *slog.Logger
	broker   string
	tls      *tls.Config
	restart  func(context.Context) error // the external broker's restart; nil: none
	spared   func(*fleet.Unit) bool      // units not to disturb (in an outage)
	sosEvery time.Duration               // the sos fault's own mean interval; 0: every

	bg sync.WaitGroup // faults in progress (a link coming back, a reboot)

	mu       sync.Mutex
	rng      *rand.Rand
	counts   map[string]*Report
	sosUnits []string  // the units that raised an sos, in order
	sosFirst time.Time // wall time of the first sos: the hub's incidents of the run's sos are not older
}

// SOSUnits are the units that raised an sos, each once, and the wall time
// of the first.
func (fi *Injector) SOSUnits() ([]string, time.Time) {
	if fi == nil {
		return nil, time.Time{}
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := slices.Clone(fi.sosUnits)
	slices.Sort(out)
	return slices.Compact(out), fi.sosFirst
}

// New is an injector into f's units; rng draws the times, the units and
// the faults' sizes.
func New(cfg Config, f *fleet.Fleet, clock *simclock.Clock, jr *journal.Journal, log *slog.Logger, rng *rand.Rand) *Injector {
	enabled := slices.Clone(cfg.Enabled)
	if cfg.SOSEvery > 0 && !slices.Contains(enabled, SOS) {
		enabled = append(enabled, SOS)
	}
	return &Injector{f: f, enabled: enabled, every: cfg.Every, clock: clock, jr: jr, log: log,
		broker: cfg.Broker, tls: cfg.TLS, restart: cfg.Restart, sosEvery: cfg.SOSEvery, rng: rng}
}

// Random reports whether the injector has faults to inject at random.
func (fi *Injector) Random() bool { return len(fi.enabled) > 0 }

// Spare leaves alone the units spared reports (those in an outage: what
// they queue is what the outage checks).
func (fi *Injector) Spare(spared func(*fleet.Unit) bool) { fi.spared = spared }

func (fi *Injector) report(name string) *Report {
	if fi.counts == nil {
		fi.counts = map[string]*Report{}
	}
	r, ok := fi.counts[name]
	if !ok {
		r = &Report{Name: name}
		fi.counts[name] = r
	}
	return r
}

func (fi *Injector) count(name string, f func(*Report)) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f(fi.report(name))
}

// uniform draws a duration in [lo, hi] (simulated).
func (fi *Injector) uniform(lo, hi time.Duration) time.Duration {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return lo + time.Duration(fi.rng.Float64()*float64(hi-lo))
}

func (fi *Injector) pick() *fleet.Unit {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.f.Pick(fi.rng, func(u *fleet.Unit) bool { return u.Killed() || fi.spared != nil && fi.spared(u) })
}

// Run injects every enabled fault at random until ctx ends, then waits for
// the faults in progress to end (links restored, agents restarted).
func (fi *Injector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range fi.enabled {
		if name == BrokerRestart && fi.restart == nil {
			continue // the run's notes say it is skipped
		}
		every := fi.every
		if name == SOS && fi.sosEvery > 0 {
			every = fi.sosEvery
		}
		wg.Go(func() {
			for {
				fi.mu.Lock()
				wait := time.Duration(fi.rng.ExpFloat64() * float64(every))
				fi.mu.Unlock()
				if !fi.clock.Sleep(ctx, wait) {
					return
				}
				if _, err := fi.Inject(ctx, name, 0); err != nil && ctx.Err() == nil {
					fi.log.Warn("simulator: fault", "fault", name, "err", err)
				}
			}
		})
	}
	wg.Wait()
	fi.bg.Wait()
}

// Inject injects one fault now; dur is its length (simulated; 0: drawn).
// A fault that lasts (a link drop, a reboot, a no-fix period) ends on its
// own, or when ctx ends.
func (fi *Injector) Inject(ctx context.Context, name string, dur time.Duration) (string, error) {
	now := fi.clock.Elapsed()
	detail, err := fi.do(ctx, name, dur)
	fi.count(name, func(r *Report) {
		if err != nil {
			r.Failed++
			r.Detail = err.Error()
		} else {
			r.Injected++
		}
	})
	if err == nil {
		fi.jr.Note(now, "fault", "%s: %s", name, detail)
	}
	return detail, err
}

func (fi *Injector) do(ctx context.Context, name string, dur time.Duration) (string, error) {
	if name == BrokerRestart {
		return fi.brokerRestart(ctx)
	}
	if name == Rogue {
		return fi.rogue(ctx)
	}
	u := fi.pick()
	if u == nil {
		return "", errors.New("no unit to inject into")
	}
	id := u.ID()
	switch name {
	case LinkDrop:
		if dur <= 0 {
			dur = fi.uniform(10*time.Second, 2*time.Minute)
		}
		u.Link().Cut()
		fi.bg.Go(func() {
			fi.clock.Sleep(ctx, dur)
			u.Link().Restore()
		})
		return fmt.Sprintf("%s loses its link for %v", id, dur.Round(time.Second)), nil
	case AgentKill:
		reboot := dur
		if reboot <= 0 {
			reboot = fi.uniform(5*time.Second, 30*time.Second)
		}
		lost, err := u.Kill()
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		fi.bg.Go(func() {
			// Back after the reboot, or at once when the run ends (it
			// needs the unit up to drain and shut down cleanly).
			fi.clock.Sleep(ctx, reboot)
			if err := u.Restart(); err != nil {
				fi.log.Error("simulator: restarting an agent", "unit", id, "err", err)
				return
			}
			fi.jr.Note(fi.clock.Elapsed(), "fault", "%s: %s back after its reset", name, id)
		})
		return fmt.Sprintf("%s killed (%d queued report(s) die with it), reboots in %v", id, lost, reboot.Round(time.Second)), nil
	case GPSJump:
		fi.mu.Lock()
		d := 150 + fi.rng.Float64()*650
		bearing := fi.rng.Float64() * 2 * math.Pi
		fi.mu.Unlock()
		u.WithGPS(func(g *agent.SimGPS) { g.Jump(d*math.Cos(bearing), d*math.Sin(bearing)) })
		return fmt.Sprintf("%s's next fix %.0f m off", id, d), nil
	case GPSNoFix:
		if dur <= 0 {
			dur = fi.uniform(30*time.Second, 3*time.Minute)
		}
		u.SetNoFix(true)
		fi.bg.Go(func() {
			fi.clock.Sleep(ctx, dur)
			u.SetNoFix(false)
		})
		return fmt.Sprintf("%s has no fix for %v", id, dur.Round(time.Second)), nil
	case Duplicate, Reorder:
		if _, err := u.Link().Inject(u.Link().TelemetryTopic()); errors.Is(err, link.ErrEncrypted) {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		recent := u.Link().RecentTelemetry()
		if len(recent) == 0 {
			return "", fmt.Errorf("%s has sent no report to repeat yet", id)
		}
		if name == Reorder {
			slices.Reverse(recent)
		}
		n, err := u.Link().Inject(u.Link().TelemetryTopic(), recent...)
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		return fmt.Sprintf("%d of %s's last reports sent again%s", n, id, map[bool]string{true: ", newest first"}[name == Reorder]), nil
	case SOS:
		s, err := u.SOS()
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		fi.mu.Lock()
		if len(fi.sosUnits) == 0 {
			fi.sosFirst = time.Now()
		}
		fi.sosUnits = append(fi.sosUnits, id)
		fi.mu.Unlock()
		return fmt.Sprintf("%s raises an SOS (seq %d)", id, s.Seq), nil
	}
	return "", fmt.Errorf("unknown fault %q", name)
}

// rogue sends what the hub must refuse: a client with a wrong secret under
// a real unit's id (refused at CONNECT, before it could take over that
// unit's session), garbage on a valid unit's telemetry topic, and a valid
// payload naming another unit on it (refused by ingest: unit_mismatch).
func (fi *Injector) rogue(ctx context.Context) (string, error) {
	victim, carrier := fi.pick(), fi.pick()
	if victim == nil || carrier == nil {
		return "", errors.New("no unit")
	}
	var parts []string
	sent, refused := 0, 0

	// A wrong secret with a spoofed id.
	sent++
	o := mqtt.NewClientOptions().AddBroker(fi.broker).SetClientID(victim.ID()).SetUsername(victim.ID()).
		SetPassword("not-the-secret").SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	if fi.tls != nil {
		o.SetTLSConfig(fi.tls)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if tok.Error() != nil || !c.IsConnectionOpen() {
		refused++
		parts = append(parts, fmt.Sprintf("wrong secret as %s refused", victim.ID()))
	} else {
		parts = append(parts, fmt.Sprintf("WRONG SECRET AS %s ACCEPTED", victim.ID()))
	}
	c.Disconnect(0)

	// Garbage and a spoofed payload, on the carrier's own connection.
	spoof, err := protocol.Encode(protocol.Telemetry{Unit: victim.ID(), Seq: 1, TS: time.Now().UnixMilli(),
		Lat: 28.2, Lon: 112.97, Status: protocol.StatusAvailable})
	if err != nil {
		return "", err
	}
	n, err := carrier.Link().Inject(carrier.Link().TelemetryTopic(), []byte(`{"v":1,"unit":`+"\x00garbage"), spoof)
	sent += n
	switch {
	case errors.Is(err, link.ErrEncrypted):
		parts = append(parts, "no garbage: the links carry TLS")
	case err != nil:
		parts = append(parts, fmt.Sprintf("%s not connected: garbage not sent", carrier.ID()))
	default:
		parts = append(parts, fmt.Sprintf("garbage and a report naming %s on %s's connection", victim.ID(), carrier.ID()))
	}
	fi.count(Rogue, func(r *Report) { r.Sent += sent; r.Refused += refused })
	return strings.Join(parts, "; "), nil
}

// brokerRestart restarts the external broker, if the run was told how.
func (fi *Injector) brokerRestart(ctx context.Context) (string, error) {
	if fi.restart == nil {
		return "", errors.New("skipped: restarting the broker needs an external broker and -broker-restart-cmd")
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := fi.restart(rctx); err != nil {
		return "", fmt.Errorf("restarting the broker: %w", err)
	}
	return "the broker restarted", nil
}

// Reports returns the faults' counts, in Names order.
func (fi *Injector) Reports() []Report {
	if fi == nil {
		return nil
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	var out []Report
	for _, n := range Names() {
		if r, ok := fi.counts[n]; ok {
			out = append(out, *r)
		}
	}
	return out
}

// Wait waits for the faults in progress to end (links restored, agents
// restarted): those of the scenario's steps too.
func (fi *Injector) Wait() { fi.bg.Wait() }
