package simulator

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/protocol"
)

// Delivery and connection tuning.
const (
	resendAfter      = 10 * time.Second // an unconfirmed message is sent again after this
	maxPending       = 1800             // per unit: an hour of reports at the default interval
	maxResendPerTick = 100              // spreads a backlog's resends over several ticks
	connectTimeout   = 5 * time.Second
	tokenTimeout     = 5 * time.Second
	maxBackoff       = 10 * time.Second
	agentName        = "kuaifan-simulator/0.1"
)

// counters are the run's totals, shared by all units.
type counters struct {
	connected     atomic.Int64 // units whose connection is up now
	everConnected atomic.Int64
	lost          atomic.Uint64 // connections lost (not closed by us)
	sent          atomic.Uint64 // telemetry messages, each seq once
	resent        atomic.Uint64
	confirmed     atomic.Uint64
	dropped       atomic.Uint64 // unconfirmed and pushed out of a full outbox
	commands      atomic.Uint64
	publishErrors atomic.Uint64

	mu          sync.Mutex
	lastConnErr error
}

// connectFailed records a failed first connection; it reports whether it was
// the run's first, so that one unit says it and not three hundred.
func (c *counters) connectFailed(err error) (first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first = c.lastConnErr == nil
	c.lastConnErr = err
	return first
}

// unit is one simulated device: its body (mover), its MQTT client and its
// outbox. Its goroutine (run) owns the mover, rng, seq and tokens; paho's
// handlers touch only the outbox, atomics and the wake channel.
type unit struct {
	spec   unitSpec
	topics protocol.Topics
	boot   string
	client mqtt.Client
	mover  *mover
	rng    *rand.Rand
	out    *outbox
	seq    uint64
	tokens []mqtt.Token // publishes not yet completed, checked for errors without waiting
	cnt    *counters
	log    *slog.Logger

	interval time.Duration
	up       atomic.Bool
	ever     atomic.Bool
	wake     chan struct{} // the connection came up: announce presence
}

func newUnit(spec unitSpec, secret string, cfg *Config, boot string, m *mover, rng *rand.Rand, cnt *counters) (*unit, error) {
	u := &unit{spec: spec, topics: protocol.Topics{Root: cfg.TopicRoot}, boot: boot, mover: m, rng: rng,
		out: newOutbox(maxPending), cnt: cnt, log: cfg.Logger.With("unit", spec.ID),
		interval: cfg.Interval, wake: make(chan struct{}, 1),
		// The contract's rule for an agent without stored state: start from
		// the clock in microseconds, above anything an earlier run sent.
		seq: uint64(time.Now().UnixMicro())}
	will, err := protocol.Encode(protocol.State{Unit: spec.ID, Online: false, Boot: boot})
	if err != nil {
		return nil, fmt.Errorf("simulator: unit %s: Last Will: %w", spec.ID, err)
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.BrokerURL).
		SetProtocolVersion(4). // MQTT 3.1.1: the embedded broker refuses 5
		SetClientID(spec.ID).
		SetUsername(spec.ID).
		SetPassword(secret).
		SetCleanSession(false).
		// Also keeps paho from warning about a SUBACK it has no stored SUBSCRIBE for.
		SetResumeSubs(true).
		SetBinaryWill(u.topics.Unit(spec.ID, protocol.KindState), will, 1, true).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(tokenTimeout).
		SetKeepAlive(30 * time.Second).
		// The first connection is retried by run (so a cancelled run stops
		// trying at once); paho only reconnects a connection it had.
		SetConnectRetry(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxBackoff).
		SetOnConnectHandler(u.onConnect).
		SetConnectionLostHandler(u.onConnectionLost).
		// A resumed session can deliver acks before we subscribe again.
		SetDefaultPublishHandler(u.onMessage)
	u.client = mqtt.NewClient(opts)
	return u, nil
}

// Paho's handlers below run on paho's goroutines: they never block and never
// wait for a token (paho issues 411, 509).

func (u *unit) onConnect(mqtt.Client) {
	if !u.up.Swap(true) {
		u.cnt.connected.Add(1)
	}
	if !u.ever.Swap(true) {
		u.cnt.everConnected.Add(1)
	}
	select {
	case u.wake <- struct{}{}:
	default: // already signalled
	}
}

func (u *unit) onConnectionLost(_ mqtt.Client, err error) {
	if u.up.Swap(false) {
		u.cnt.connected.Add(-1)
	}
	u.cnt.lost.Add(1)
	// Debug: when the broker goes, every unit loses it; the progress line
	// and the report count them.
	u.log.Debug("connection lost; reconnecting", "err", err)
}

func (u *unit) onMessage(_ mqtt.Client, m mqtt.Message) {
	switch {
	case strings.HasSuffix(m.Topic(), "/"+string(protocol.KindAck)):
		ack, err := protocol.DecodeAck(m.Payload())
		if err != nil {
			u.log.Warn("bad ack from the hub", "err", err)
			return
		}
		u.cnt.confirmed.Add(uint64(u.out.confirm(ack)))
	case strings.HasSuffix(m.Topic(), "/"+string(protocol.KindCmd)):
		u.cnt.commands.Add(1)
		cmd, err := protocol.DecodeCommand(m.Payload())
		if err != nil {
			u.log.Warn("bad command from the hub", "err", err)
			return
		}
		// This version only reports what it was told; answering is for the agent.
		u.log.Info("command received", "id", cmd.ID, "type", cmd.Type, "incident", cmd.Incident)
	default:
		u.log.Debug("message on an unexpected topic", "topic", m.Topic())
	}
}

// run connects and reports until ctx is done. It leaves the connection open:
// close ends it once the last confirmations had their chance.
func (u *unit) run(ctx context.Context, connectSlots chan struct{}) {
	// Stagger the first report over one interval so the fleet does not pulse.
	timer := time.NewTimer(time.Duration(u.rng.Int64N(int64(u.interval)) + 1))
	defer timer.Stop()
	if !u.connect(ctx, connectSlots) {
		return
	}
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
			u.announce(ctx)
		case now := <-timer.C:
			u.mover.step(now.Sub(last), u.rng)
			last = now
			u.report(now)
			timer.Reset(u.jitter())
		}
	}
}

// jitter is the interval ±20 %.
func (u *unit) jitter() time.Duration {
	return time.Duration(float64(u.interval) * (0.8 + 0.4*u.rng.Float64()))
}

// connect makes the first connection, holding one of the connection slots
// during each attempt, and retries with backoff until ctx is done.
func (u *unit) connect(ctx context.Context, slots chan struct{}) bool {
	backoff := 500 * time.Millisecond
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		// Not ctx-bound: paho's attempt ends by itself within connectTimeout,
		// and waiting for it means no attempt outlives the run.
		err := waitToken(context.Background(), u.client.Connect(), connectTimeout+time.Second)
		<-slots
		if err == nil {
			return true
		}
		level := slog.LevelDebug
		if u.cnt.connectFailed(err) {
			level = slog.LevelWarn
		}
		u.log.Log(ctx, level, "cannot connect to the broker; retrying", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff + time.Duration(u.rng.Int64N(int64(backoff))))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// announce subscribes to the unit's ack and cmd topics and publishes its
// retained online state; it runs after every (re)connection.
func (u *unit) announce(ctx context.Context) {
	tok := u.client.SubscribeMultiple(map[string]byte{
		u.topics.Unit(u.spec.ID, protocol.KindAck): 1,
		u.topics.Unit(u.spec.ID, protocol.KindCmd): 1,
	}, u.onMessage)
	if err := waitToken(ctx, tok, tokenTimeout); err != nil {
		u.log.Warn("subscribe failed", "err", err)
	} else if st, ok := tok.(*mqtt.SubscribeToken); ok {
		// A refused filter comes back as 0x80 in the SUBACK, not as an error.
		for topic, qos := range st.Result() {
			if qos > 2 {
				u.log.Warn("subscription refused by the broker", "topic", topic, "code", qos)
			}
		}
	}
	online, err := protocol.Encode(protocol.State{Unit: u.spec.ID, Online: true, Boot: u.boot, Agent: agentName})
	if err != nil {
		u.log.Error("encoding state", "err", err)
		return
	}
	u.track(u.client.Publish(u.topics.Unit(u.spec.ID, protocol.KindState), 1, true, online))
}

// report publishes a new fix and resends what has waited too long for its
// confirmation. Nothing is sent while the connection is down: the fix would
// be stale by then, and resends wait for the connection to come back.
func (u *unit) report(now time.Time) {
	u.pruneTokens()
	if !u.client.IsConnectionOpen() {
		return
	}
	topic := u.topics.Unit(u.spec.ID, protocol.KindTelemetry)
	for _, m := range u.out.due(now, resendAfter, maxResendPerTick) {
		u.track(u.client.Publish(topic, 1, false, m.payload))
		u.cnt.resent.Add(1)
	}
	u.seq++
	payload, err := protocol.Encode(u.mover.telemetry(u.spec.ID, u.seq, now))
	if err != nil {
		u.log.Error("encoding telemetry", "err", err) // a bug: the mover keeps fixes valid
		return
	}
	// Into the outbox first: the ack can arrive before Publish returns.
	u.cnt.dropped.Add(uint64(u.out.add(u.seq, payload, now)))
	u.cnt.sent.Add(1)
	u.track(u.client.Publish(topic, 1, false, payload))
}

// track keeps a publish token to look at later without waiting on it.
func (u *unit) track(t mqtt.Token) {
	u.tokens = append(u.tokens, t)
}

// pruneTokens counts the failed publishes among the completed ones and
// forgets them. Delivery itself is judged by the hub's acks, not by tokens.
func (u *unit) pruneTokens() {
	kept := u.tokens[:0]
	for _, t := range u.tokens {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				u.cnt.publishErrors.Add(1)
				u.log.Debug("publish failed", "err", err)
			}
		default:
			kept = append(kept, t)
		}
	}
	clear(u.tokens[len(kept):])
	u.tokens = kept
}

// close publishes the retained offline state (the Will goes out only on an
// abnormal disconnect) and disconnects.
func (u *unit) close() {
	if u.client.IsConnectionOpen() {
		off, err := protocol.Encode(protocol.State{Unit: u.spec.ID, Online: false, Boot: u.boot})
		if err == nil {
			err = waitToken(context.Background(), u.client.Publish(u.topics.Unit(u.spec.ID, protocol.KindState), 1, true, off), 2*time.Second)
		}
		if err != nil {
			u.log.Debug("publishing offline state", "err", err) // the broker may be shutting down too
		}
	}
	// Always: it also stops paho's reconnect loop, and on a client that never
	// connected it returns at once.
	u.client.Disconnect(250)
	if u.up.Swap(false) {
		u.cnt.connected.Add(-1)
	}
	u.pruneTokens()
}

// waitToken waits for a paho token for at most d, or until ctx is done.
func waitToken(ctx context.Context, t mqtt.Token, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return fmt.Errorf("no answer from the broker within %v", d)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
