package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"kuaifan/hub/internal/clip"
	"kuaifan/protocol"
)

// Defaults of Config.
const (
	DefaultMaxPacketSize  = 64 << 10
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultSessionExpiry  = 24 * time.Hour

	// stallAfter: a write to a device blocked this long means its socket
	// buffer is full — it is far behind — and Publish stops waiting for it.
	// A write that does not block takes microseconds.
	stallAfter = 50 * time.Millisecond
)

// Config configures the embedded broker.
type Config struct {
	// Listener is plain MQTT; the hub binds it (tests use 127.0.0.1:0).
	// TLSListener is MQTTS: a listener whose connections are TLS
	// (tls.NewListener), with the same authentication, ACL and limits; its
	// handshake happens within ConnectTimeout. At least one is required.
	// Once NewEmbedded succeeds the broker owns them and closes them on Close.
	Listener    net.Listener
	TLSListener net.Listener
	Topics      protocol.Topics
	Credentials Credentials // required: there is no way to run without authentication
	// OwnTracks says whether a unit is enrolled to report as an OwnTracks
	// phone: only such a unit may publish owntracks/{unit}/{device} (and set
	// its Last Will there). nil: no unit may.
	OwnTracks func(unit string) bool
	// Logger receives the broker's and mochi's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the kuaifan_broker_* metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// MaxPacketSize bounds every packet a device sends (a bigger one ends its
	// connection); default 64 KiB.
	MaxPacketSize uint32
	// MaxClientWritesPending is the number of messages queued to one device
	// before mochi drops further ones (see OnPublishDropped); default mochi's (8192).
	MaxClientWritesPending int32
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT; default 10 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to a device: a device that does not read
	// for that long is disconnected; default 5 s. (Publish already drops what
	// it would send to a device whose write has been blocked for stallAfter.)
	WriteTimeout time.Duration
	// SessionExpiry is how long the session of a disconnected device (its
	// subscriptions and queued commands) is kept; default 24 h.
	SessionExpiry time.Duration
}

// Embedded is the in-process mochi broker, with the hub on mochi's inline
// client.
type Embedded struct {
	srv      *mqtt.Server
	topics   protocol.Topics
	lns      []*connListener
	addr     net.Addr // nil without a plain listener
	tlsAddr  net.Addr // nil without a TLS listener
	log      *slog.Logger
	metrics  *metrics
	refusals *refusalLog
	subID    atomic.Int64                   // mochi keys inline subscriptions by (filter, id)
	direct   atomic.Pointer[[]subscription] // the hub's handlers, for the delivery hook; replaced, never changed
	revoked  revocations                    // Disconnect's, per unit

	closed    atomic.Bool
	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ Bus = (*Embedded)(nil)

// NewEmbedded builds the broker; Start serves it.
func NewEmbedded(cfg Config) (*Embedded, error) {
	if cfg.Listener == nil && cfg.TLSListener == nil {
		return nil, errors.New("broker: Config.Listener or Config.TLSListener is required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("broker: Config.Credentials is required")
	}
	if cfg.Topics.Root != "" && !protocol.ValidRoot(cfg.Topics.Root) {
		return nil, fmt.Errorf("broker: invalid topic root %q", cfg.Topics.Root)
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = DefaultSessionExpiry
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketSize
	// mochi keeps a disconnected 3.1.1 session for MaximumSessionExpiryInterval
	// (default: 136 years), so abandoned sessions would pile up forever.
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.SessionExpiry/time.Second, 1<<32-1))
	if cfg.MaxClientWritesPending > 0 {
		caps.MaximumClientWritesPending = cfg.MaxClientWritesPending
	}
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		InlineClient: true,
		// mochi's Debug logs print whole packets, payload and all, byte by
		// byte: costly, and nothing the hub needs.
		Logger: slog.New(quietMochi{minLevel{cfg.Logger.Handler(), slog.LevelInfo}}).With("component", "mochi"),
		// $SYS is unused; publishing it every second costs a ReadMemStats.
		SysTopicResendInterval: 60,
	})

	e := &Embedded{srv: srv, topics: cfg.Topics, log: cfg.Logger, refusals: newRefusalLog(cfg.Logger)}
	hook := &authHook{srv: srv, creds: cfg.Credentials, policy: policy{topics: cfg.Topics, ownTracks: cfg.OwnTracks}, log: cfg.Logger,
		refusals: e.refusals, revoked: &e.revoked, cut: e.cut}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: adding auth hook: %w", err)
	}
	if err := srv.AddHook(&deliveryHook{e: e}, nil); err != nil {
		return nil, fmt.Errorf("broker: adding delivery hook: %w", err)
	}
	for _, l := range []struct {
		id   string
		ln   net.Listener
		addr *net.Addr
	}{{"kuaifan", cfg.Listener, &e.addr}, {"kuaifan-tls", cfg.TLSListener, &e.tlsAddr}} {
		if l.ln == nil {
			continue
		}
		cl := newConnListener(l.ln, cfg.ConnectTimeout, cfg.WriteTimeout, cfg.Logger)
		if err := srv.AddListener(&mochiListener{id: l.id, ln: cl, ended: hook.connectionEnded}); err != nil {
			return nil, fmt.Errorf("broker: adding listener %s: %w", l.id, err)
		}
		e.lns = append(e.lns, cl)
		*l.addr = l.ln.Addr()
	}
	// Registered last: nothing above needs undoing if registration fails.
	m, err := newMetrics(cfg.Registerer, e.connectedClients, func() float64 {
		return float64(atomic.LoadInt64(&srv.Info.InflightDropped))
	})
	if err != nil {
		return nil, err
	}
	hook.metrics, e.metrics = m, m
	return e, nil
}

func (e *Embedded) connectedClients() float64 {
	return float64(atomic.LoadInt64(&e.srv.Info.ClientsConnected))
}

// Start serves the listener in the background.
func (e *Embedded) Start() error {
	if e.closed.Load() {
		return ErrClosed
	}
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("broker: already started")
	}
	e.refusals.start()
	if err := e.srv.Serve(); err != nil {
		return fmt.Errorf("broker: serving: %w", err)
	}
	return nil
}

// Addr is the plain listener's address (nil without one).
func (e *Embedded) Addr() net.Addr { return e.addr }

// TLSAddr is the TLS listener's address (nil without one).
func (e *Embedded) TLSAddr() net.Addr { return e.tlsAddr }

// Disconnect drops a connected device now and discards its session (its
// subscriptions and anything queued for it): the unit was revoked, and its
// credentials no longer pass, so the session could never be resumed.
// Its Last Will, if any, is published, as for any connection that ends abnormally.
// A connection of the unit still in its handshake is cut as its session
// is established (authHook.OnSessionEstablished).
func (e *Embedded) Disconnect(unit string) {
	e.revoked.bump(unit) // first: see authHook.revoked
	cl, ok := e.srv.Clients.Get(unit)
	if !ok || cl.Net.Inline {
		return
	}
	e.cut(cl)
}

// cut ends a device's connection and discards its session.
func (e *Embedded) cut(cl *mqtt.Client) {
	unit := cl.ID
	cl.Stop(packets.ErrNotAuthorized) // closes the connection; its read loop ends
	e.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	if cur, ok := e.srv.Clients.Get(unit); ok && cur == cl {
		e.srv.Clients.Delete(unit)
	}
	e.log.Info("broker: unit disconnected by the hub", "unit", unit)
}

// Subscribe delivers what matches filter to handle, on the publishing
// device's goroutine. A device's publish reaches handle through the delivery
// hook, before its PUBACK goes out; Last Wills, QoS 2 and the hub's own
// publishes come through an inline subscription, which mochi runs after the
// PUBACK. Either way the handler is no durability point. Nothing is retained:
// subscribe before devices can connect.
func (e *Embedded) Subscribe(filter string, handle Handler) error {
	return e.subscribe(filter, handle, nil)
}

func (e *Embedded) subscribe(filter string, handle Handler, confirm ConfirmedHandler) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if handle == nil {
		return errors.New("broker: nil handler")
	}
	id := int(e.subID.Add(1))
	err := e.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		call(e.log, handle, pk.TopicName, pk.Payload)
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	for {
		old := e.direct.Load()
		next := []subscription{{filter, handle, confirm}}
		if old != nil {
			next = append(slices.Clone(*old), next...)
		}
		if e.direct.CompareAndSwap(old, &next) {
			return nil
		}
	}
}

// ConfirmedHandler receives a device's publish and returns nil once the hub
// has it for good (or has refused it for good: bad input is answered like
// good, or the device would send it forever). An error means it was not
// taken now: the device gets no PUBACK and its connection is closed, so that
// it sends the message again.
type ConfirmedHandler func(topic string, payload []byte) error

// SubscribeConfirmed is Subscribe for senders whose PUBACK is their only
// confirmation (an OwnTracks phone has no ack topic): a QoS 1 publish from a
// device is PUBACKed only after handle returned nil. Last Wills and QoS 2
// still come after mochi's own answer; an error then is only logged.
func (e *Embedded) SubscribeConfirmed(filter string, handle ConfirmedHandler) error {
	if handle == nil {
		return errors.New("broker: nil handler")
	}
	return e.subscribe(filter, func(topic string, payload []byte) {
		if err := handle(topic, payload); err != nil {
			e.log.Warn("broker: message not taken after its answer", "topic", topic, "err", err)
		}
	}, handle)
}

// subscription is one of the hub's handlers and the filter it asked for.
type subscription struct {
	filter  string
	handle  Handler
	confirm ConfirmedHandler // instead of handle for a device's QoS 0/1 publish, if set
}

// callConfirmed runs a ConfirmedHandler, turning a panic into an error.
func callConfirmed(log *slog.Logger, h ConfirmedHandler, topic string, payload []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("broker: message handler panicked", "topic", topic,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("broker: handler panicked: %v", r)
		}
	}()
	return h(topic, payload)
}

// deliveryHook hands a device's publish straight to the hub's handlers,
// answers it, and tells mochi it is done. mochi would otherwise look the topic
// up in its subscription tree, copying every match into fresh maps, and track
// its own PUBACK as an inflight message, for each of the fleet's thousands of
// messages a second — to find what is known in advance: only the hub reads
// what devices write (a device may read nothing but its own cmd and ack
// topics, which devices never write), and nothing is retained (authHook).
//
// QoS 2 still goes through mochi, which runs its handshake and delivers by
// the inline subscription; so do Last Wills, which mochi publishes itself.
type deliveryHook struct {
	mqtt.HookBase
	e *Embedded
}

func (h *deliveryHook) ID() string { return "kuaifan-delivery" }

func (h *deliveryHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish runs after the ACL check allowed the publish. The PUBACK goes out
// after the handlers returned.
func (h *deliveryHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	subs := h.e.direct.Load()
	if cl.Net.Inline || pk.FixedHeader.Qos > 1 || subs == nil {
		return pk, nil
	}
	delivered := false
	for _, s := range *subs {
		if !matchTopic(s.filter, pk.TopicName) {
			continue
		}
		delivered = true
		if s.confirm == nil {
			call(h.e.log, s.handle, pk.TopicName, pk.Payload)
			continue
		}
		if err := callConfirmed(h.e.log, s.confirm, pk.TopicName, pk.Payload); err != nil {
			// Not taken: no PUBACK, and the connection ends, so that the
			// device sends it again when it reconnects.
			h.e.log.Warn("broker: message not taken; device disconnected to resend it", "unit", cl.ID,
				"topic", clip.To(pk.TopicName, maxLoggedTopic), "err", err)
			cl.Stop(fmt.Errorf("broker: message not taken: %w", err))
			return pk, packets.ErrRejectPacket
		}
	}
	if !delivered {
		return pk, nil
	}
	if pk.FixedHeader.Qos == 1 {
		// MQTT 3.1.1's PUBACK: the packet id, nothing else (MQTT 5 is refused at connect).
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}
		if err := cl.WritePacket(ack); err != nil {
			// The connection is going; the device sends it again (the hub drops the duplicate).
			h.e.log.Debug("broker: PUBACK not sent", "unit", cl.ID, "err", err)
		}
	}
	// Answered and delivered: mochi is left a QoS 0 message marked not to be
	// forwarded, which it drops without a PUBACK of its own. (Rejecting the
	// packet would do the same, but mochi first copies it to the heap for a
	// Debug log: 800 bytes a message.)
	pk.FixedHeader.Qos = 0
	pk.Ignore = true
	return pk, nil
}

// ErrStalled is returned by Publish for a message to a device that has not
// been reading: the message is dropped (and counted) rather than waited for.
var ErrStalled = errors.New("broker: device connection stalled; message dropped")

// Publish sends payload at QoS 1 through the inline client. It only queues
// the message for each subscribed device, never waiting for delivery; a device
// whose write queue or session is full loses it (counted in
// kuaifan_broker_publish_dropped_total).
// Inline handlers matching topic run before it returns.
//
// mochi takes a device's lock to publish to it, and holds that lock while a
// write to the device blocks; so a message for a unit (its cmd or ack topic)
// whose connection has stopped taking data is dropped with ErrStalled. In the
// worst case (a call within stallAfter of the write blocking) Publish waits
// for Config.WriteTimeout, after which the stalled connection is closed.
func (e *Embedded) Publish(topic string, payload []byte, retain bool) error {
	if e.closed.Load() {
		return ErrClosed
	}
	// mochi's inline Publish skips all topic checks (it would even publish to $SYS).
	if !validPublishTopic(topic) {
		return fmt.Errorf("broker: publish: invalid topic %q", topic)
	}
	if unit, kind, err := e.topics.Parse(topic); err == nil && !kind.FromAgent() {
		if d := e.stalledFor(unit); d >= stallAfter {
			e.metrics.dropped.stalled.Add(1)
			e.log.Error("broker: message to a stalled device dropped", "unit", unit, "topic", topic, "blocked_for", d)
			return fmt.Errorf("publish %q: %w", topic, ErrStalled)
		}
	}
	if err := e.srv.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	return nil
}

// stalledFor is how long a write to the unit's connection has been blocked.
func (e *Embedded) stalledFor(unit string) time.Duration {
	cl, ok := e.srv.Clients.Get(unit)
	if !ok || cl.Net.Inline {
		return 0
	}
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		return tc.stalledFor()
	}
	return 0
}

// Close disconnects every device, stops the listener and waits for the
// broker's goroutines to end.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		// First our own shutdown: it also closes connections that never sent a
		// CONNECT, which mochi's Close does not know of but waits for.
		for _, ln := range e.lns {
			ln.shutdown()
		}
		if err := e.srv.Close(); err != nil {
			e.closeErr = fmt.Errorf("broker: closing: %w", err)
		}
		e.refusals.close() // after every connection ended: logs what it left out
		e.metrics.unregister()
	})
	return e.closeErr
}

// quietMochi drops mochi's warning of a short keepalive, which mochi gives for
// every CONNECT before any check: one line per attempt, for anyone who can
// reach the port, past the rate limit on refusals.
type quietMochi struct{ slog.Handler }

func (h quietMochi) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == mqtt.ErrMinimumKeepalive.Error() {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietMochi) WithAttrs(as []slog.Attr) slog.Handler {
	return quietMochi{h.Handler.WithAttrs(as)}
}

func (h quietMochi) WithGroup(name string) slog.Handler {
	return quietMochi{h.Handler.WithGroup(name)}
}
