package simulator

import (
	"context"
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
)

// The faults (-faults), each off unless named.
const (
	FaultLinkDrop      = "link_drop"      // a unit's link goes for a while and comes back
	FaultAgentKill     = "agent_kill"     // a unit's agent stops abruptly and restarts (a device reset)
	FaultGPSJump       = "gps_jump"       // one fix hundreds of metres off (multipath among towers)
	FaultGPSNoFix      = "gps_nofix"      // no fix for a while (a tunnel, a car park)
	FaultDuplicate     = "duplicate"      // a unit's recent reports sent again on its connection
	FaultReorder       = "reorder"        // the same, newest first: out of order
	FaultRogue         = "rogue"          // a wrong secret, garbage, a spoofed unit id: all to be refused
	FaultBrokerRestart = "broker_restart" // the external broker restarts (BrokerRestart)
)

// FaultNames lists every fault, in the order the help shows them.
func FaultNames() []string {
	return []string{FaultLinkDrop, FaultAgentKill, FaultGPSJump, FaultGPSNoFix, FaultDuplicate, FaultReorder, FaultRogue, FaultBrokerRestart}
}

// faultHelp says what each fault does, for -h.
var faultHelp = map[string]string{
	FaultLinkDrop:      "a unit loses its link (below MQTT) for 10 s–2 min and gets it back; nothing it queued meanwhile may be lost",
	FaultAgentKill:     "a unit's agent is stopped abruptly (link cut first: its Last Will fires) and restarted 5–30 s later; its in-memory queue dies with it (a device reset), counted apart as lost_by_kill",
	FaultGPSJump:       "one fix of a unit lands 150–800 m off",
	FaultGPSNoFix:      "a unit has no fix for 30 s–3 min",
	FaultDuplicate:     "a unit's last reports are sent again on its own connection: the hub drops them as duplicates",
	FaultReorder:       "a unit's last reports are sent again newest first: duplicates out of order",
	FaultRogue:         "a client with a wrong secret and another unit's id, garbage and a payload naming another unit on a valid unit's connection: the hub must refuse them all",
	FaultBrokerRestart: "the external broker restarts (needs -broker-restart-cmd; skipped with the embedded broker)",
}

// FaultHelp describes a fault.
func FaultHelp(name string) string { return faultHelp[name] }

// ParseFaults reads a comma-separated list of fault names ("all" for every one).
func ParseFaults(list string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "all":
			out = FaultNames()
		case slices.Contains(FaultNames(), f):
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		default:
			return nil, fmt.Errorf("unknown fault %q: want %s or all", f, strings.Join(FaultNames(), ", "))
		}
	}
	return out, nil
}

// FaultReport counts one fault's injections.
type FaultReport struct {
	Name     string `json:"name"`
	Injected int    `json:"injected"`
	Failed   int    `json:"failed,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// Rogue: what was sent, and what the clients saw refused.
	Sent    int `json:"sent,omitempty"`
	Refused int `json:"refused,omitempty"`
}

// faultInjector injects the enabled faults at random (each about every
// Every of simulated time, into a random unit) and the scenario's fault steps.
type faultInjector struct {
	f       *fleet
	enabled []string
	every   time.Duration
	clock   *simClock
	jr      *journal
	log     *slog.Logger
	broker  string
	topics  protocol.Topics
	restart func(context.Context) error // the external broker's restart; nil: none
	spared  func(*unit) bool            // units not to disturb (in an outage)

	bg sync.WaitGroup // faults in progress (a link coming back, a reboot)

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]*FaultReport
}

func (fi *faultInjector) report(name string) *FaultReport {
	if fi.counts == nil {
		fi.counts = map[string]*FaultReport{}
	}
	r, ok := fi.counts[name]
	if !ok {
		r = &FaultReport{Name: name}
		fi.counts[name] = r
	}
	return r
}

func (fi *faultInjector) count(name string, f func(*FaultReport)) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f(fi.report(name))
}

// uniform draws a duration in [lo, hi] (simulated).
func (fi *faultInjector) uniform(lo, hi time.Duration) time.Duration {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return lo + time.Duration(fi.rng.Float64()*float64(hi-lo))
}

func (fi *faultInjector) pick() *unit {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.f.pick(fi.rng, func(u *unit) bool { return u.isKilled() || fi.spared != nil && fi.spared(u) })
}

// run injects every enabled fault at random until ctx ends, then waits for
// the faults in progress to end (links restored, agents restarted).
func (fi *faultInjector) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range fi.enabled {
		if name == FaultBrokerRestart && fi.restart == nil {
			continue // the run's notes say it is skipped
		}
		wg.Go(func() {
			for {
				fi.mu.Lock()
				wait := time.Duration(fi.rng.ExpFloat64() * float64(fi.every))
				fi.mu.Unlock()
				if !fi.clock.Sleep(ctx, wait) {
					return
				}
				if _, err := fi.inject(ctx, name, 0); err != nil && ctx.Err() == nil {
					fi.log.Warn("simulator: fault", "fault", name, "err", err)
				}
			}
		})
	}
	wg.Wait()
	fi.bg.Wait()
}

// inject injects one fault now; for is its length (simulated; 0: drawn).
// A fault that lasts (a link drop, a reboot, a no-fix period) ends on its
// own, or when ctx ends.
func (fi *faultInjector) inject(ctx context.Context, name string, dur time.Duration) (string, error) {
	now := fi.clock.Elapsed()
	detail, err := fi.do(ctx, name, dur)
	fi.count(name, func(r *FaultReport) {
		if err != nil {
			r.Failed++
			r.Detail = err.Error()
		} else {
			r.Injected++
		}
	})
	if err == nil {
		fi.jr.note(now, "fault", "%s: %s", name, detail)
	}
	return detail, err
}

func (fi *faultInjector) do(ctx context.Context, name string, dur time.Duration) (string, error) {
	if name == FaultBrokerRestart {
		return fi.brokerRestart(ctx)
	}
	if name == FaultRogue {
		return fi.rogue(ctx)
	}
	u := fi.pick()
	if u == nil {
		return "", errors.New("no unit to inject into")
	}
	id := u.spec.ID
	switch name {
	case FaultLinkDrop:
		if dur <= 0 {
			dur = fi.uniform(10*time.Second, 2*time.Minute)
		}
		u.link.cut()
		fi.bg.Go(func() {
			fi.clock.Sleep(ctx, dur)
			u.link.restore()
		})
		return fmt.Sprintf("%s loses its link for %v", id, dur.Round(time.Second)), nil
	case FaultAgentKill:
		reboot := dur
		if reboot <= 0 {
			reboot = fi.uniform(5*time.Second, 30*time.Second)
		}
		lost, err := u.kill()
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		fi.bg.Go(func() {
			// Back after the reboot, or at once when the run ends (it
			// needs the unit up to drain and shut down cleanly).
			fi.clock.Sleep(ctx, reboot)
			if err := u.restart(); err != nil {
				fi.log.Error("simulator: restarting an agent", "unit", id, "err", err)
				return
			}
			fi.jr.note(fi.clock.Elapsed(), "fault", "%s: %s back after its reset", name, id)
		})
		return fmt.Sprintf("%s killed (%d queued report(s) die with it), reboots in %v", id, lost, reboot.Round(time.Second)), nil
	case FaultGPSJump:
		fi.mu.Lock()
		d := 150 + fi.rng.Float64()*650
		bearing := fi.rng.Float64() * 2 * math.Pi
		fi.mu.Unlock()
		u.withGPS(func(g *agent.SimGPS) { g.Jump(d*math.Cos(bearing), d*math.Sin(bearing)) })
		return fmt.Sprintf("%s's next fix %.0f m off", id, d), nil
	case FaultGPSNoFix:
		if dur <= 0 {
			dur = fi.uniform(30*time.Second, 3*time.Minute)
		}
		u.setNoFix(true)
		fi.bg.Go(func() {
			fi.clock.Sleep(ctx, dur)
			u.setNoFix(false)
		})
		return fmt.Sprintf("%s has no fix for %v", id, dur.Round(time.Second)), nil
	case FaultDuplicate, FaultReorder:
		recent := u.link.recentTelemetry()
		if len(recent) == 0 {
			return "", fmt.Errorf("%s has sent no report to repeat yet", id)
		}
		if name == FaultReorder {
			slices.Reverse(recent)
		}
		n, err := u.link.inject(u.link.telemetryTopic, recent...)
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		return fmt.Sprintf("%d of %s's last reports sent again%s", n, id, map[bool]string{true: ", newest first"}[name == FaultReorder]), nil
	}
	return "", fmt.Errorf("unknown fault %q", name)
}

// rogue sends what the hub must refuse: a client with a wrong secret under
// a real unit's id (refused at CONNECT, before it could take over that
// unit's session), garbage on a valid unit's telemetry topic, and a valid
// payload naming another unit on it (refused by ingest: unit_mismatch).
func (fi *faultInjector) rogue(ctx context.Context) (string, error) {
	victim, carrier := fi.pick(), fi.pick()
	if victim == nil || carrier == nil {
		return "", errors.New("no unit")
	}
	var parts []string
	sent, refused := 0, 0

	// A wrong secret with a spoofed id.
	sent++
	o := mqtt.NewClientOptions().AddBroker(fi.broker).SetClientID(victim.spec.ID).SetUsername(victim.spec.ID).
		SetPassword("not-the-secret").SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if tok.Error() != nil || !c.IsConnectionOpen() {
		refused++
		parts = append(parts, fmt.Sprintf("wrong secret as %s refused", victim.spec.ID))
	} else {
		parts = append(parts, fmt.Sprintf("WRONG SECRET AS %s ACCEPTED", victim.spec.ID))
	}
	c.Disconnect(0)

	// Garbage and a spoofed payload, on the carrier's own connection.
	spoof, err := protocol.Encode(protocol.Telemetry{Unit: victim.spec.ID, Seq: 1, TS: time.Now().UnixMilli(),
		Lat: 28.2, Lon: 112.97, Status: protocol.StatusAvailable})
	if err != nil {
		return "", err
	}
	n, err := carrier.link.inject(carrier.link.telemetryTopic, []byte(`{"v":1,"unit":`+"\x00garbage"), spoof)
	sent += n
	if err != nil {
		parts = append(parts, fmt.Sprintf("%s not connected: garbage not sent", carrier.spec.ID))
	} else {
		parts = append(parts, fmt.Sprintf("garbage and a report naming %s on %s's connection", victim.spec.ID, carrier.spec.ID))
	}
	fi.count(FaultRogue, func(r *FaultReport) { r.Sent += sent; r.Refused += refused })
	return strings.Join(parts, "; "), nil
}

// brokerRestart restarts the external broker, if the run was told how.
func (fi *faultInjector) brokerRestart(ctx context.Context) (string, error) {
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

// reports returns the faults' counts, in FaultNames order.
func (fi *faultInjector) reports() []FaultReport {
	if fi == nil {
		return nil
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	var out []FaultReport
	for _, n := range FaultNames() {
		if r, ok := fi.counts[n]; ok {
			out = append(out, *r)
		}
	}
	return out
}
