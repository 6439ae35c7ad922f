package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Defaults and limits of the remote bus.
const (
	DefaultClientID             = "kuaifan-hub"
	DefaultMaxReconnectInterval = 10 * time.Second

	// remoteWriteTimeout bounds how long paho's Publish may block handing a
	// message to its writer (and a stalled socket write): Publish is called
	// from handlers, so it must never block for long.
	remoteWriteTimeout = 5 * time.Second
	// disconnectQuiesce is how long Close lets paho finish in-flight work.
	disconnectQuiesce = 250 // ms
	// maxPending bounds the messages held for filters not subscribed yet.
	maxPending = 4096
)

// RemoteConfig configures the connection to an external broker.
type RemoteConfig struct {
	URL                string // tcp://host:1883, ssl://host:8883 (TLS), ws://host/mqtt, wss://…
	ClientID           string // default "kuaifan-hub"; the broker keeps this id's session
	Username, Password string // the hub's own credentials
	TLS                *tls.Config
	Logger             *slog.Logger  // nil discards
	ConnectTimeout     time.Duration // per connection attempt, and per SUBACK; default 10 s
	// MaxReconnectInterval caps paho's backoff between reconnection attempts;
	// default 10 s (paho's own is 10 min: too long for a dispatch system).
	MaxReconnectInterval time.Duration
}

// Remote is the hub on an external broker through paho. Its session is
// persistent (CleanSession false): the broker keeps the hub's subscriptions
// and queues QoS 1 messages for it while the hub restarts or reconnects.
type Remote struct {
	client  paho.Client
	log     *slog.Logger
	url     string
	timeout time.Duration

	// ctx ends with Close: it aborts a dial in progress and stops watchers.
	ctx    context.Context
	cancel context.CancelFunc

	subMu  sync.RWMutex
	subs   []*remoteSub
	nextID uint64

	// deliverMu serialises delivery: paho's router and Subscribe's flush of
	// held messages, so a handler sees one topic's messages in order.
	deliverMu sync.Mutex
	pending   []heldMessage // guarded by deliverMu
	dropped   int           // guarded by deliverMu

	mu        sync.Mutex // guards closed (with deliverMu for delivery), wg.Add, stopWatch
	closed    atomic.Bool
	wg        sync.WaitGroup // resubscription watchers
	stopWatch func() bool    // stops closing the previous connection on ctx's end
	closeOnce sync.Once
}

var _ Bus = (*Remote)(nil)

type remoteSub struct {
	id     uint64
	filter string // as subscribed
	match  string // without a $share/{group}/ or $queue/ prefix
	handle Handler
}

type heldMessage struct {
	topic   string
	payload []byte
}

// DialRemote connects to the broker and returns once connected, or with the
// connection's error, or with ctx's error if ctx ends first. Later losses of
// the connection are repaired in the background (with backoff).
func DialRemote(ctx context.Context, cfg RemoteConfig) (*Remote, error) {
	urls, err := parseBrokerURLs(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = DefaultMaxReconnectInterval
	}
	redacted := make([]string, len(urls))
	for i, u := range urls {
		redacted[i] = redact(u)
	}
	r := &Remote{log: cfg.Logger.With("broker", strings.Join(redacted, ",")), url: strings.Join(redacted, ","), timeout: cfg.ConnectTimeout}
	r.ctx, r.cancel = context.WithCancel(context.Background())

	opts := paho.NewClientOptions()
	// paho tries the nodes in this order on every (re)connection: a dead
	// node is passed over for the next.
	for _, u := range urls {
		opts.AddBroker(u.String())
	}
	opts.
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetTLSConfig(cfg.TLS).
		SetProtocolVersion(4). // explicit: no second attempt with 3.1 after a refusal
		SetCleanSession(false).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(false). // DialRemote reports the first failure
		SetConnectTimeout(cfg.ConnectTimeout).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(10 * time.Second).
		SetWriteTimeout(remoteWriteTimeout).
		// Every message goes through the default handler (Subscribe registers
		// no paho route): a message with no route is never acknowledged by
		// paho and would stall the broker's in-flight window; see deliver.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { r.deliver(m.Topic(), m.Payload()) }).
		SetOnConnectHandler(r.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			r.log.Warn("broker: connection lost; reconnecting", "error", err)
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			r.log.Info("broker: reconnecting")
		}).
		SetCustomOpenConnectionFn(func(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
			return r.openConn(u, o, cfg.TLS)
		})
	r.client = paho.NewClient(opts)

	// ctx's end aborts the attempt: r.cancel closes the connection being set up.
	abort := context.AfterFunc(ctx, r.cancel)
	tok := r.client.Connect()
	// The attempt is bounded (dial and handshake each by ConnectTimeout), so
	// this only guards against a paho bug.
	completed := tok.WaitTimeout(time.Duration(2*len(urls))*cfg.ConnectTimeout + 5*time.Second)
	ctxEnded := !abort()
	if ctxEnded || !completed || tok.Error() != nil {
		if completed && tok.Error() == nil {
			r.client.Disconnect(0) // connected, but ctx ended meanwhile
		}
		r.cancel()
		switch {
		case ctxEnded:
			err = ctx.Err()
		case !completed:
			err = errors.New("connection attempt did not complete")
		default:
			err = tok.Error()
		}
		return nil, fmt.Errorf("broker: connecting to %s: %w", r.url, err)
	}
	present := false
	if ct, ok := tok.(*paho.ConnectToken); ok {
		present = ct.SessionPresent()
	}
	r.log.Info("broker: connected", "client_id", cfg.ClientID, "session_present", present)
	return r, nil
}

// parseBrokerURLs splits a broker setting, one URL or a cluster's nodes
// separated by commas, and checks each.
func parseBrokerURLs(setting string) ([]*url.URL, error) {
	var urls []*url.URL
	for raw := range strings.SplitSeq(setting, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			// url.Error repeats the URL, which may hold a password.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("broker: bad broker URL: %w", err)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return nil, fmt.Errorf("broker: URL %s: scheme must be tcp, ssl, ws or wss", redact(u))
		}
		if u.Host == "" {
			return nil, fmt.Errorf("broker: URL %s has no host", redact(u))
		}
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		return nil, errors.New("broker: no broker URL")
	}
	return urls, nil
}

// redact drops the password from a URL for logs and errors.
func redact(u *url.URL) string { return u.Redacted() }

// openConn dials the broker. It replaces paho's dialer so that ctx (DialRemote's,
// then Close's) can abort a dial or handshake in progress.
func (r *Remote) openConn(u *url.URL, o paho.ClientOptions, tlsConfig *tls.Config) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	dialer := &net.Dialer{Timeout: r.timeout}
	switch u.Scheme {
	case "ws", "wss":
		dialURL := *u
		dialURL.User = nil
		var tc *tls.Config
		if u.Scheme == "wss" {
			tc = tlsConfig
		}
		conn, err = paho.NewWebsocket(dialURL.String(), tc, r.timeout, o.HTTPHeaders, o.WebsocketOptions)
	case "ssl", "tls", "mqtts":
		d := &tls.Dialer{NetDialer: dialer, Config: tlsConfig}
		conn, err = d.DialContext(r.ctx, "tcp", u.Host)
	default:
		conn, err = dialer.DialContext(r.ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(r.ctx, func() { _ = conn.Close() })
	r.mu.Lock()
	if r.stopWatch != nil {
		r.stopWatch() // the previous connection is gone; don't keep its closure
	}
	r.stopWatch = stop
	r.mu.Unlock()
	return &bufferedConn{Conn: conn, r: newRemoteReader(conn)}, nil
}

// newRemoteReader is the read buffer of the hub's connection to an external
// broker: many of the fleet's messages per read.
func newRemoteReader(conn net.Conn) *bufio.Reader { return bufio.NewReaderSize(conn, 64<<10) }

// bufferedConn reads through a buffer. paho reads each packet with several
// small reads (its type, each byte of its length, its body), each a system
// call on a bare connection; at a city's tens of thousands of messages a
// second, on the one goroutine that reads them all in order, those calls
// were a tenth of the hub's CPU.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// onConnect runs (on its own goroutine) after every connection, first or
// reconnection: it subscribes every filter again, in case the broker lost the
// session. It does not wait for the SUBACK; a watcher checks it.
func (r *Remote) onConnect(c paho.Client) {
	r.log.Info("broker: connection up")
	filters := r.filters()
	if len(filters) == 0 {
		return
	}
	// wg.Add under mu: Close sets closed under mu before it waits.
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	tok := c.SubscribeMultiple(filters, nil)
	go func() {
		defer r.wg.Done()
		select {
		case <-tok.Done():
		case <-r.ctx.Done():
			return
		}
		if err := tok.Error(); err != nil {
			r.log.Error("broker: resubscribing after reconnect failed", "error", err)
			return
		}
		st, _ := tok.(*paho.SubscribeToken)
		if st == nil {
			return
		}
		for f, q := range st.Result() {
			if q == 0x80 {
				r.log.Error("broker: resubscription refused by the broker", "filter", f)
			}
		}
	}()
}

func (r *Remote) filters() map[string]byte {
	r.subMu.RLock()
	defer r.subMu.RUnlock()
	m := make(map[string]byte, len(r.subs))
	for _, s := range r.subs {
		m[s.filter] = 1
	}
	return m
}

// deliver hands one message to every matching handler, on paho's router
// goroutine (in order: SetOrderMatters). A message no filter matches yet is
// held until Subscribe registers one: with a persistent session the broker
// sends what it queued for the hub right after CONNACK, before the hub has
// called Subscribe.
func (r *Remote) deliver(topic string, payload []byte) {
	r.deliverMu.Lock()
	defer r.deliverMu.Unlock()
	if r.closed.Load() {
		return
	}
	var hs []Handler
	r.subMu.RLock()
	for _, s := range r.subs {
		if matchTopic(s.match, topic) {
			hs = append(hs, s.handle)
		}
	}
	r.subMu.RUnlock()
	if len(hs) == 0 {
		r.hold(topic, payload)
		return
	}
	for _, h := range hs {
		call(r.log, h, topic, payload)
	}
}

func (r *Remote) hold(topic string, payload []byte) {
	if len(r.pending) >= maxPending {
		r.dropped++
		r.log.Error("broker: message for no subscription dropped (too many held)",
			"topic", r.pending[0].topic, "dropped_total", r.dropped)
		r.pending = append(r.pending[:0], r.pending[1:]...)
	}
	r.pending = append(r.pending, heldMessage{topic: topic, payload: payload})
}

// Subscribe registers handle for filter and subscribes at QoS 1, waiting for
// the SUBACK (at most ConnectTimeout). Messages held for filter are delivered,
// in order, before the SUBSCRIBE is sent, on the caller's goroutine.
func (r *Remote) Subscribe(filter string, handle Handler) error {
	if handle == nil {
		return errors.New("broker: nil handler")
	}
	if filter == "" {
		return errors.New("broker: empty filter")
	}
	sub := &remoteSub{filter: filter, match: routeFilter(filter), handle: handle}

	r.deliverMu.Lock()
	if r.closed.Load() {
		r.deliverMu.Unlock()
		return ErrClosed
	}
	r.subMu.Lock()
	r.nextID++
	sub.id = r.nextID
	r.subs = append(r.subs, sub)
	r.subMu.Unlock()
	kept := r.pending[:0]
	for _, m := range r.pending {
		if matchTopic(sub.match, m.topic) {
			call(r.log, handle, m.topic, m.payload)
		} else {
			kept = append(kept, m)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	r.deliverMu.Unlock()

	tok := r.client.Subscribe(filter, 1, nil)
	err := func() error {
		if !tok.WaitTimeout(r.timeout) {
			return errors.New("no SUBACK in time")
		}
		if err := tok.Error(); err != nil {
			return err
		}
		st, ok := tok.(*paho.SubscribeToken)
		if !ok {
			return nil
		}
		// One filter, one result (paho keys it by the filter without a
		// $share/{group}/ prefix).
		res := st.Result()
		if len(res) != 1 {
			return fmt.Errorf("SUBACK with %d results for one filter", len(res))
		}
		var q byte
		for _, v := range res {
			q = v
		}
		switch {
		case q == 0x80:
			return errors.New("refused by the broker (SUBACK 0x80)")
		case q < 1:
			r.log.Warn("broker: subscription granted at QoS 0 only", "filter", filter)
		}
		return nil
	}()
	if err != nil {
		r.removeSub(sub.id)
		return fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	return nil
}

func (r *Remote) removeSub(id uint64) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for i, s := range r.subs {
		if s.id == id {
			r.subs = append(r.subs[:i], r.subs[i+1:]...)
			return
		}
	}
}

// routeFilter is the filter messages are matched against: a shared
// subscription delivers topics matching the filter after its group.
func routeFilter(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	if rest, ok := strings.CutPrefix(filter, "$queue/"); ok {
		return rest
	}
	return filter
}

// Publish sends payload at QoS 1 and returns without waiting for the PUBACK
// (the hub's end-to-end ack makes a lost publish harmless). While the
// connection is being re-established paho keeps the message and sends it
// once connected. It blocks at most remoteWriteTimeout handing the message to
// paho's writer.
func (r *Remote) Publish(topic string, payload []byte, retain bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if !validPublishTopic(topic) {
		return fmt.Errorf("broker: publish: invalid topic %q", topic)
	}
	tok := r.client.Publish(topic, 1, retain, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("broker: publish %q: %w", topic, err)
		}
	default:
	}
	return nil
}

// Close disconnects from the broker (the session stays there, with the
// hub's subscriptions) and waits for a handler still running to return; no
// handler runs after Close returns.
func (r *Remote) Close() error {
	r.closeOnce.Do(func() {
		// Disconnect first: messages still arriving go to the handlers rather
		// than being acknowledged and dropped.
		r.client.Disconnect(disconnectQuiesce)
		r.deliverMu.Lock()
		r.mu.Lock()
		r.closed.Store(true)
		r.mu.Unlock()
		if n := len(r.pending); n > 0 {
			r.log.Warn("broker: closing with messages held for no subscription", "count", n)
		}
		r.pending = nil
		r.deliverMu.Unlock()
		r.cancel()
		r.wg.Wait()
		r.log.Info("broker: disconnected")
	})
	return nil
}
