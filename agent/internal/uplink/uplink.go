// Package uplink is the agent's MQTT link to the hub: it connects (paho,
// MQTT 3.1.1, a persistent session), keeps the unit's retained presence,
// sends what the durable queue hands it at QoS 1, removes what the hub's ack
// confirms, and passes the hub's commands on.
//
// Delivery is the queue's, not paho's: a report leaves the queue only when
// the hub's ack (on {root}/units/{unit}/ack) covers its seq — a PUBACK only
// says the broker has it — and whatever stays unconfirmed for ResendAfter is
// published again. Every report is published at QoS 1: paho drops a QoS 0
// publish made while it reconnects and still completes its token.
//
// Reconnecting is the Link's own loop, not paho's: paho's auto-reconnect
// retries at once and then backs off without jitter, so a city's fleet that
// lost the same broker would come back in lockstep and stampede it. The Link
// waits an exponential backoff (ReconnectMin … ReconnectMax) with each wait
// jittered into [d/2, d] between attempts, and opens a fresh paho client for each
// connection, which also makes every connection's goroutines end with it.
//
// After each connect the Link subscribes to its cmd and ack topics,
// publishes its retained online state (from its own goroutine, never paho's
// OnConnect handler), and forgets what was in flight on the old connection
// (Queue.ResetSent), so the newest position goes first and the backlog
// drains behind it at DrainRate — events and the newest position are never
// held back by the rate.
//
// paho's handlers only hand off: acks are merged into a pending set and
// commands appended to an inbox, both under a mutex, never waiting on paho
// or on the agent. A goroutine of the Link's applies acks to the queue and
// passes commands to Config.OnCommands. No paho token is ever waited on with
// Wait; the Link selects on Done with its own deadlines.
//
// For the agent's command the package also builds the TLS configuration for
// a broker under a private CA (TLSConfig) and sends paho's own logs to slog
// (LogPaho).
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/agent/internal/backoff"
	"kuaifan/agent/internal/queue"
	"kuaifan/protocol"
	"kuaifan/testkit/pahostore"
)

// Queue is what the Link needs of the agent's durable queue (*queue.Queue).
type Queue interface {
	Next(n int, resendAfter time.Duration) []queue.Item
	MarkSent(t time.Time, seqs ...uint64)
	ResetSent()
	Ack(acked protocol.Ranges) (int, error)
}

var _ Queue = (*queue.Queue)(nil)

// Config configures a Link. Zero durations and counts take the defaults.
type Config struct {
	// Broker is tcp://host:1883, ssl://host:8883 (or tls://), ws://host/path;
	// or several such URLs separated by commas, the nodes of a broker
	// cluster: each connection attempt goes to one of them, and the Link
	// moves on to the next when an attempt fails or a connection is lost.
	Broker string
	TLS    *tls.Config // for ssl:// and wss://; nil: the system's roots

	Unit, Secret string // client id = username = Unit; password = Secret
	Topics       protocol.Topics
	// Password, if set, gives each connection attempt's password in place
	// of Secret (the hub rotates secrets); done hears how the attempt went:
	// nil once admitted, else the error (a refused password is paho's
	// packets.ErrorRefusedBadUsernameOrPassword).
	Password func() (password string, done func(error))

	Boot  string // this run's random id, in the state messages
	Agent string // software and version, in the online state

	ResendAfter time.Duration // an unconfirmed report is published again after; 30 s
	DrainRate   int           // backlog reports per second; 10,000
	MaxInflight int           // publishes awaiting their PUBACK; 1024

	ReconnectMin   time.Duration // first backoff; 1 s
	ReconnectMax   time.Duration // backoff cap; 60 s
	ConnectTimeout time.Duration // dial + CONNECT/CONNACK; 10 s
	WriteTimeout   time.Duration // a publish or subscribe handed to paho; 5 s
	KeepAlive      time.Duration // MQTT keepalive; 30 s

	// Dial, if set, opens the TCP connection to a tcp:// (or mqtt://)
	// broker in place of a net.Dialer (the simulator cuts links with it);
	// to an ssl:// (tls://, mqtts://) broker the Link speaks TLS over it,
	// verifying the broker as without Dial.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnCommands receives the hub's valid commands, in arrival order, on the
	// Link's own goroutine: it may take its time (the Link goes on sending
	// meanwhile) but must not call Run's caller back synchronously.
	OnCommands func([]protocol.Command)
	// OnPublish, if set, sees every report handed to paho (tests).
	OnPublish func(queue.Item, byte)

	Logger *slog.Logger
	Now    func() time.Time // the queue's clock; default time.Now
}

// Defaults.
const (
	DefaultResendAfter    = 30 * time.Second
	DefaultDrainRate      = 10000
	DefaultMaxInflight    = 1024
	DefaultReconnectMin   = time.Second
	DefaultReconnectMax   = time.Minute
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultKeepAlive      = 30 * time.Second

	// stableAfter is how long a connection must last for the backoff to
	// start over: a broker that accepts and drops at once (a duplicate
	// client id fighting over the session) must not be hammered.
	stableAfter = 10 * time.Second
	// qos is the only QoS reports, state and subscriptions use.
	qos = 1
)

// Brokers splits a broker setting, one URL or several separated by commas,
// and checks each.
func Brokers(setting string) ([]string, error) {
	var urls []string
	for b := range strings.SplitSeq(setting, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("uplink: broker %q: want scheme://host:port", b)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
		default:
			return nil, fmt.Errorf("uplink: broker %q: scheme %q is not tcp, ssl, tls, ws or wss", b, u.Scheme)
		}
		urls = append(urls, b)
	}
	if len(urls) == 0 {
		return nil, errors.New("uplink: no broker URL")
	}
	return urls, nil
}

func (c *Config) fill() error {
	brokers, err := Brokers(c.Broker)
	if err != nil {
		return err
	}
	for _, b := range brokers {
		if c.Dial != nil && (strings.HasPrefix(b, "ws:") || strings.HasPrefix(b, "wss:")) {
			return fmt.Errorf("uplink: broker %q: a custom Dial works only with tcp:// or ssl://", b)
		}
	}
	if !protocol.ValidUnitID(c.Unit) {
		return fmt.Errorf("uplink: unit %q is not [A-Za-z0-9_-]{1,32}", c.Unit)
	}
	if c.Boot == "" {
		return errors.New("uplink: no boot id")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ResendAfter, DefaultResendAfter)
	def(&c.ReconnectMin, DefaultReconnectMin)
	def(&c.ReconnectMax, DefaultReconnectMax)
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.KeepAlive, DefaultKeepAlive)
	c.ReconnectMax = max(c.ReconnectMax, c.ReconnectMin)
	if c.DrainRate <= 0 {
		c.DrainRate = DefaultDrainRate
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats counts what a Link has done since New.
type Stats struct {
	Connected       bool
	Broker          string // the URL of the broker connected to, or last tried
	Connects        uint64 // connections made
	ConnectFailures uint64 // attempts that failed
	Lost            uint64 // connections lost (not by Run's end)
	Published       uint64 // reports handed to paho at QoS 1, resends included
	Resent          uint64 // of those, reports published before in this run
	PublishErrors   uint64 // publishes paho refused or failed
	Confirmed       uint64 // reports the hub's acks removed from the queue
	Acks            uint64 // ack messages received
	Commands        uint64 // valid commands received (duplicates included)
	BadMessages     uint64 // acks and commands that did not decode, or on no known topic
}

// Link is the agent's connection to the hub.
type Link struct {
	cfg      Config
	brokers  []string
	next     atomic.Int32 // index in brokers of the next attempt's broker
	broker   atomic.Pointer[string]
	q        Queue
	log      *slog.Logger
	stateTop string
	telTop   string
	evTop    string
	cmdTop   string
	ackTop   string
	online   []byte
	offline  []byte

	live      atomic.Uint64 // seq of the newest position: never held back by DrainRate
	kick      chan struct{} // a report was queued
	inboxWake chan struct{}

	inMu    sync.Mutex
	inAcks  protocol.Ranges
	inCmds  [][]byte
	running atomic.Bool

	pubMu     sync.Mutex
	published protocol.Ranges // seqs published in this run, to count resends

	connected atomic.Bool
	stats     struct {
		connects, connectFailures, lost, published, resent, publishErrors,
		confirmed, acks, commands, bad atomic.Uint64
	}
}

// New checks cfg and prepares a Link; nothing connects before Run.
func New(cfg Config, q Queue) (*Link, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	t := cfg.Topics
	l := &Link{
		cfg:       cfg,
		q:         q,
		log:       cfg.Logger,
		stateTop:  t.Unit(cfg.Unit, protocol.KindState),
		telTop:    t.Unit(cfg.Unit, protocol.KindTelemetry),
		evTop:     t.Unit(cfg.Unit, protocol.KindEvents),
		cmdTop:    t.Unit(cfg.Unit, protocol.KindCmd),
		ackTop:    t.Unit(cfg.Unit, protocol.KindAck),
		kick:      make(chan struct{}, 1),
		inboxWake: make(chan struct{}, 1),
	}
	l.brokers, _ = Brokers(cfg.Broker) // checked by fill
	// A fleet given the same list spreads over the nodes: each unit starts
	// at a node of its own, chosen by its id.
	h := fnv.New32a()
	h.Write([]byte(cfg.Unit))
	l.next.Store(int32(h.Sum32() % uint32(len(l.brokers))))
	var err error
	if l.online, err = protocol.Encode(protocol.State{Unit: cfg.Unit, Online: true, Boot: cfg.Boot, Agent: cfg.Agent}); err != nil {
		return nil, fmt.Errorf("uplink: online state: %w", err)
	}
	if l.offline, err = protocol.Encode(protocol.State{Unit: cfg.Unit, Online: false, Boot: cfg.Boot, Agent: cfg.Agent}); err != nil {
		return nil, fmt.Errorf("uplink: offline state: %w", err)
	}
	return l, nil
}

// Queued tells the Link a report was queued: it goes out at once if
// connected. A position queued last is the live one, which the drain rate
// never holds back.
func (l *Link) Queued(seq uint64, kind queue.Kind) {
	if kind == queue.Telemetry {
		l.live.Store(seq)
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Connected reports whether the Link has a connection now.
func (l *Link) Connected() bool { return l.connected.Load() }

// Stats returns the Link's counters.
func (l *Link) Stats() Stats {
	s := &l.stats
	return Stats{
		Connected:       l.connected.Load(),
		Broker:          l.currentBroker(),
		Connects:        s.connects.Load(),
		ConnectFailures: s.connectFailures.Load(),
		Lost:            s.lost.Load(),
		Published:       s.published.Load(),
		Resent:          s.resent.Load(),
		PublishErrors:   s.publishErrors.Load(),
		Confirmed:       s.confirmed.Load(),
		Acks:            s.acks.Load(),
		Commands:        s.commands.Load(),
		BadMessages:     s.bad.Load(),
	}
}

// Run connects and keeps the link up until ctx is done. Then it publishes
// the offline state (retained; the Will fires only on an abnormal
// disconnect), disconnects, and returns nil once every goroutine it started
// has ended. Run may be called once.
func (l *Link) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("uplink: Run called twice")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.inbox(ctx)
	}()
	defer wg.Wait()

	bo := backoff.Backoff{Min: l.cfg.ReconnectMin, Max: l.cfg.ReconnectMax}
	// tried counts the brokers tried since the last connection or backoff:
	// with several, a failed attempt moves on to the next at once, and the
	// backoff comes when each has failed once.
	tried := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 && tried == 0 {
			d := bo.Next()
			l.log.Debug("uplink: reconnecting", "in", d)
			if !sleep(ctx, d) {
				return nil
			}
		}
		broker := l.brokers[l.next.Load()]
		l.broker.Store(&broker)
		c, lost, err := l.connect(ctx, broker)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.stats.connectFailures.Add(1)
			l.log.Warn("uplink: connect failed", "broker", broker, "err", err)
			l.failOver()
			tried = (tried + 1) % len(l.brokers)
			continue
		}
		tried = 0
		up := time.Now()
		done := l.serve(ctx, c, lost)
		if done {
			return nil
		}
		l.stats.lost.Add(1)
		// The node may be the one that went down: the next attempt goes
		// to another (any node serves the unit's session).
		l.failOver()
		if time.Since(up) >= stableAfter {
			bo.Reset()
		}
	}
}

// failOver points the next attempt at the next broker of the list.
func (l *Link) failOver() {
	l.next.Store((l.next.Load() + 1) % int32(len(l.brokers)))
}

func (l *Link) currentBroker() string {
	if b := l.broker.Load(); b != nil {
		return *b
	}
	return l.brokers[l.next.Load()]
}

// connect opens a fresh paho client and connects it to broker. lost is
// closed when that connection goes down.
func (l *Link) connect(ctx context.Context, broker string) (mqtt.Client, <-chan struct{}, error) {
	lost := make(chan struct{})
	var once sync.Once
	password, done := l.cfg.Secret, func(error) {}
	if l.cfg.Password != nil {
		password, done = l.cfg.Password()
	}
	o := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(l.cfg.Unit).
		SetUsername(l.cfg.Unit).
		SetPassword(password).
		// Explicitly 3.1.1: otherwise paho retries a refused CONNECT as 3.1,
		// and the hub counts every refusal twice.
		SetProtocolVersion(4).
		// A persistent session: commands the hub sends while the unit is
		// offline wait at the broker and arrive after the reconnect.
		SetCleanSession(false).
		// paho's MemoryStore shares a resumed packet with its writer (a
		// data race): a store that keeps and hands out copies. A fresh
		// client per connection normally leaves nothing to resume — the
		// queue resends — but the store keeps paho safe should that change.
		SetStore(pahostore.New()).
		SetAutoReconnect(false). // our loop reconnects, with jitter
		SetConnectRetry(false).
		SetConnectTimeout(l.cfg.ConnectTimeout).
		SetDialer(&net.Dialer{Timeout: l.cfg.ConnectTimeout}).
		SetWriteTimeout(l.cfg.WriteTimeout).
		SetKeepAlive(l.cfg.KeepAlive).
		SetPingTimeout(min(l.cfg.KeepAlive, 10*time.Second)).
		SetOrderMatters(true). // commands are handled in order; our handler never blocks
		SetBinaryWill(l.stateTop, l.offline, qos, true).
		// Commands queued in the session arrive right after CONNACK, before
		// any SUBSCRIBE: the default handler catches them.
		SetDefaultPublishHandler(l.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			l.log.Warn("uplink: connection lost", "err", err)
			once.Do(func() { close(lost) })
		})
	if l.cfg.TLS != nil {
		o.SetTLSConfig(l.cfg.TLS)
	}
	if dial := l.cfg.Dial; dial != nil {
		timeout := l.cfg.ConnectTimeout
		tlsCfg := l.cfg.TLS
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := dial(dctx, "tcp", u.Host)
			if err != nil || u.Scheme == "tcp" || u.Scheme == "mqtt" {
				return c, err
			}
			return clientTLS(dctx, c, tlsCfg, u.Hostname())
		})
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	// The attempt ends within ConnectTimeout (the dial and the handshake
	// both have that deadline). It is not abandoned when ctx ends, since a
	// client left connecting might connect afterwards and linger.
	select {
	case <-tok.Done():
	case <-time.After(l.cfg.ConnectTimeout + l.cfg.WriteTimeout):
		c.Disconnect(0)
		return nil, nil, errors.New("connect did not finish in time")
	}
	err := tok.Error()
	done(err)
	if err != nil {
		return nil, nil, err
	}
	if ctx.Err() != nil {
		c.Disconnect(100)
		return nil, nil, ctx.Err()
	}
	return c, lost, nil
}

// serve runs one connection until it is lost (false) or ctx ends (true,
// after saying goodbye).
func (l *Link) serve(ctx context.Context, c mqtt.Client, lost <-chan struct{}) bool {
	l.stats.connects.Add(1)
	if err := l.subscribe(ctx, c); err != nil {
		l.log.Warn("uplink: subscribing failed; reconnecting", "err", err)
		c.Disconnect(100)
		return ctx.Err() != nil
	}
	// Retained presence, at QoS 1; its token is not waited for (the
	// sender's in-flight bound does not cover it, but it is one packet).
	c.Publish(l.stateTop, qos, true, l.online)
	// What was in flight on the old connection is presumed lost: start
	// over with events and the newest position.
	l.q.ResetSent()
	l.connected.Store(true)
	l.log.Info("uplink: connected", "broker", l.currentBroker())

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.send(sctx, c)
	}()
	select {
	case <-lost:
	case <-ctx.Done():
	}
	stop()
	wg.Wait()
	l.connected.Store(false)
	if ctx.Err() == nil {
		return false
	}
	l.goodbye(c)
	return true
}

func (l *Link) subscribe(ctx context.Context, c mqtt.Client) error {
	tok := c.SubscribeMultiple(map[string]byte{l.cmdTop: qos, l.ackTop: qos}, nil)
	if err := await(ctx, tok, l.cfg.WriteTimeout+l.cfg.ConnectTimeout); err != nil {
		return err
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for topic, code := range st.Result() {
			if code == 0x80 {
				return fmt.Errorf("broker refused the subscription to %s", topic)
			}
		}
	}
	return nil
}

// goodbye publishes the offline state and disconnects cleanly.
func (l *Link) goodbye(c mqtt.Client) {
	tok := c.Publish(l.stateTop, qos, true, l.offline)
	if err := await(context.Background(), tok, 2*time.Second); err != nil {
		l.log.Warn("uplink: publishing the offline state failed", "err", err)
	}
	c.Disconnect(250)
	l.log.Info("uplink: disconnected")
}

// await waits for tok within d or until ctx ends; never Wait.
func await(ctx context.Context, tok mqtt.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return fmt.Errorf("no answer within %v", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onMessage runs on paho's router goroutine for every message: it only
// hands off, under a mutex held for a few instructions.
func (l *Link) onMessage(_ mqtt.Client, m mqtt.Message) {
	switch m.Topic() {
	case l.ackTop:
		a, err := protocol.DecodeAck(m.Payload())
		if err != nil {
			l.stats.bad.Add(1)
			l.log.Warn("uplink: bad ack", "err", err)
			return
		}
		l.stats.acks.Add(1)
		l.inMu.Lock()
		l.inAcks = l.inAcks.Union(a.Seqs)
		l.inMu.Unlock()
	case l.cmdTop:
		p := append([]byte(nil), m.Payload()...)
		l.inMu.Lock()
		l.inCmds = append(l.inCmds, p)
		l.inMu.Unlock()
	default:
		l.stats.bad.Add(1)
		l.log.Warn("uplink: message on an unexpected topic", "topic", m.Topic())
		return
	}
	select {
	case l.inboxWake <- struct{}{}:
	default:
	}
}

// inbox applies acks to the queue and passes commands on, until ctx ends;
// then it applies what is pending once more, so a clean shutdown does not
// resend what the hub has already confirmed.
func (l *Link) inbox(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-l.inboxWake:
		case <-retry.C:
		case <-ctx.Done():
			l.handleInbox()
			return
		}
		if !l.handleInbox() {
			retry.Reset(time.Second)
		}
	}
}

// handleInbox reports false if acks could not be applied (they stay pending).
func (l *Link) handleInbox() bool {
	l.inMu.Lock()
	acks, raw := l.inAcks, l.inCmds
	l.inAcks, l.inCmds = nil, nil
	l.inMu.Unlock()

	ok := true
	if len(acks) > 0 {
		n, err := l.q.Ack(acks)
		if err != nil {
			ok = false
			l.log.Error("uplink: applying the hub's ack to the queue", "err", err)
			l.inMu.Lock()
			l.inAcks = l.inAcks.Union(acks)
			l.inMu.Unlock()
		} else {
			l.stats.confirmed.Add(uint64(n))
		}
	}
	if len(raw) > 0 {
		cmds := make([]protocol.Command, 0, len(raw))
		for _, p := range raw {
			c, err := protocol.DecodeCommand(p)
			if err != nil {
				l.stats.bad.Add(1)
				// A config command may carry the unit's secret: never logged.
				l.log.Warn("uplink: bad command", "err", err, "bytes", len(p))
				continue
			}
			cmds = append(cmds, c)
		}
		l.stats.commands.Add(uint64(len(cmds)))
		if len(cmds) > 0 && l.cfg.OnCommands != nil {
			l.cfg.OnCommands(cmds)
		}
	}
	return ok
}

// inflight is a publish awaiting its PUBACK.
type inflight struct {
	tok mqtt.Token
	at  time.Time
}

// send publishes what the queue hands out, for one connection, until ctx
// ends. Events and the newest position go at once; the backlog at
// DrainRate (a token bucket holding a tenth of a second's worth); at most
// MaxInflight publishes await their PUBACK.
func (l *Link) send(ctx context.Context, c mqtt.Client) {
	rate := float64(l.cfg.DrainRate)
	burst := max(rate/10, 1)
	bucket := burst
	last := time.Now()
	var pending []inflight
	// Due resends show up only when Next is asked: look this often when idle.
	idle := min(max(l.cfg.ResendAfter/10, 100*time.Millisecond), 5*time.Second)
	const liveSlack = 16 // events and the newest position beyond the bucket

	for ctx.Err() == nil {
		now := time.Now()
		bucket = min(burst, bucket+rate*now.Sub(last).Seconds())
		last = now

		pending = l.prune(pending, now)
		room := l.cfg.MaxInflight - len(pending)
		if room <= 0 {
			t := time.NewTimer(l.cfg.WriteTimeout)
			select {
			case <-pending[0].tok.Done():
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}

		n := min(room, int(bucket)+liveSlack)
		items := l.q.Next(n, l.cfg.ResendAfter)
		live := l.live.Load()
		seqs := make([]uint64, 0, len(items))
		held, failed := false, false
		for _, it := range items {
			if !it.Kind.IsEvent() && it.Seq != live {
				if bucket < 1 {
					held = true
					break
				}
				bucket--
			}
			topic := l.telTop
			if it.Kind.IsEvent() { // an SOS too
				topic = l.evTop
			}
			tok := c.Publish(topic, qos, false, it.Payload)
			if l.cfg.OnPublish != nil {
				l.cfg.OnPublish(it, qos)
			}
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					// Not connected, or paho's writer is stuck: the
					// connection is going; serve will notice.
					l.stats.publishErrors.Add(1)
					l.log.Debug("uplink: publish failed", "seq", it.Seq, "err", err)
					failed = true
				}
			default:
			}
			if failed {
				break
			}
			pending = append(pending, inflight{tok, now})
			seqs = append(seqs, it.Seq)
		}
		if len(seqs) > 0 {
			l.q.MarkSent(l.cfg.Now(), seqs...)
			l.stats.published.Add(uint64(len(seqs)))
			l.countResends(seqs)
		}

		var wait time.Duration
		switch {
		case failed:
			wait = 100 * time.Millisecond
		case held:
			// Backlog waits for the bucket; a new live report still wakes us.
			wait = max(time.Duration((1-bucket)/rate*float64(time.Second)), 5*time.Millisecond)
		case len(items) < n:
			wait = idle // nothing more to send now
		default:
			continue // a full batch went out: there may be more
		}
		t := time.NewTimer(wait)
		select {
		case <-l.kick:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// prune forgets the completed publishes at the front of pending and counts
// failures. A PUBACK lost with a dying connection never completes its
// token: such a publish is given up after ResendAfter (the queue resends
// the report anyway).
func (l *Link) prune(pending []inflight, now time.Time) []inflight {
	for len(pending) > 0 {
		p := pending[0]
		select {
		case <-p.tok.Done():
			if p.tok.Error() != nil {
				l.stats.publishErrors.Add(1)
			}
		default:
			if now.Sub(p.at) < l.cfg.ResendAfter {
				return pending
			}
		}
		pending = pending[1:]
	}
	return pending
}

// countResends counts seqs published before in this run.
func (l *Link) countResends(seqs []uint64) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	var again uint64
	for _, s := range seqs {
		if l.published.Contains(s) {
			again++
			continue
		}
		l.published = l.published.Insert(s)
	}
	// A set of ranges stays small as the backlog drains in order; bound it
	// anyway: a forgotten seq published again counts as a first publish.
	l.published, _ = l.published.Trim(4096)
	l.stats.resent.Add(again)
}

// sleep waits d or until ctx ends; it reports whether it slept the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
