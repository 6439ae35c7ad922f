package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

var tp = protocol.Topics{}

func topic(unit string, k protocol.Kind) string { return tp.Unit(unit, k) }

type embeddedEnv struct {
	e     *broker.Embedded
	creds *creds
	reg   *prometheus.Registry
	logs  *logBuffer
	url   string
	addr  string
}

// startEmbedded runs an embedded broker with units u1/s1 and u2/s2 on a free
// loopback port, closed when the test ends.
func startEmbedded(t *testing.T, mod func(*broker.Config)) *embeddedEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLogger()
	env := &embeddedEnv{creds: newCreds("u1", "s1", "u2", "s2"), reg: prometheus.NewRegistry(), logs: logs}
	cfg := broker.Config{Listener: ln, Credentials: env.creds, Logger: log, Registerer: env.reg}
	if mod != nil {
		mod(&cfg)
	}
	e, err := broker.NewEmbedded(cfg)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	env.e, env.addr, env.url = e, e.Addr().String(), "tcp://"+e.Addr().String()
	return env
}

func (env *embeddedEnv) refused(reason string) float64 { return env.e.Refused(reason) }

func (env *embeddedEnv) denied(action string) float64 { return env.e.Denied(action) }

func (env *embeddedEnv) subscribe(t *testing.T, filter string) *recorder {
	t.Helper()
	r := &recorder{}
	if err := env.e.Subscribe(filter, r.handle); err != nil {
		t.Fatal(err)
	}
	return r
}

// lostSignal makes a paho client report the loss of its connection.
func lostSignal(opts *paho.ClientOptions) <-chan error {
	ch := make(chan error, 1)
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) { ch <- err })
	return ch
}

func waitLost(t *testing.T, lost <-chan error, what string) {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: connection was not dropped", what)
	}
}

func TestEmbeddedTelemetryReachesInlineSubscriber(t *testing.T) {
	env := startEmbedded(t, nil)
	r := env.subscribe(t, tp.All(protocol.KindTelemetry))
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if got := env.e.ClientsGauge(); got != 1 {
			return fmt.Errorf("kuaifan_broker_clients = %v, want 1", got)
		}
		return nil
	})
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, `{"seq":1}`))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), `{"seq":1}`)

	names, err := testutil.GatherAndCount(env.reg)
	if err != nil {
		t.Fatal(err)
	}
	if names == 0 {
		t.Fatal("no metrics registered")
	}
	for _, name := range []string{"kuaifan_broker_auth_refused_total", "kuaifan_broker_acl_denied_total",
		"kuaifan_broker_publish_dropped_total", "kuaifan_broker_clients"} {
		if n, err := testutil.GatherAndCount(env.reg, name); err != nil || n == 0 {
			t.Errorf("metric %s not registered (%d, %v)", name, n, err)
		}
	}
}

func TestEmbeddedConnectRefused(t *testing.T) {
	env := startEmbedded(t, nil)
	env.creds.set("inline", "pw") // refused for its name, not its secret
	env.creds.set("a.b", "pw")
	tests := []struct {
		name, clientID, user, pass string
		want                       error
		reason                     string
	}{
		{"right secret", "u1", "u1", "s1", nil, ""},
		{"wrong secret", "u1", "u1", "nope", pahopackets.ErrorRefusedBadUsernameOrPassword, broker.ReasonCredentials},
		{"unknown unit", "u9", "u9", "s1", pahopackets.ErrorRefusedBadUsernameOrPassword, broker.ReasonCredentials},
		{"empty password", "u1", "u1", "", pahopackets.ErrorRefusedBadUsernameOrPassword, broker.ReasonNoPassword},
		{"no username", "u1", "", "", pahopackets.ErrorRefusedBadUsernameOrPassword, broker.ReasonUsername},
		{"username not a unit id", "a.b", "a.b", "pw", pahopackets.ErrorRefusedBadUsernameOrPassword, broker.ReasonUsername},
		{"client id is not the username", "u2", "u1", "s1", pahopackets.ErrorRefusedIDRejected, broker.ReasonClientID},
		{"the inline client's id", "inline", "inline", "pw", pahopackets.ErrorRefusedIDRejected, broker.ReasonReservedID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := 0.0
			if tc.reason != "" {
				before = env.refused(tc.reason)
			}
			opts := pahoOpts(env.url, tc.clientID, tc.pass).SetUsername(tc.user)
			_, err := connect(t, opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("connect: got %v, want %v", err, tc.want)
			}
			if tc.reason != "" {
				if got := env.refused(tc.reason); got != before+1 {
					t.Errorf("refusals for %s: %v, want %v", tc.reason, got, before+1)
				}
			}
		})
	}
	// The hub's own client must still be the inline one.
	if !env.e.InlineClientIntact() {
		t.Error("the inline client was replaced")
	}
}

func TestEmbeddedPublishOutsideOwnTopicsNeverArrives(t *testing.T) {
	env := startEmbedded(t, nil)
	all := env.subscribe(t, "#")
	denied := []struct {
		topic string
		qos   byte
	}{
		{topic("u2", protocol.KindTelemetry), 1}, // another unit
		{topic("u2", protocol.KindState), 0},
		{topic("u1", protocol.KindCmd), 1}, // own, but hub → agent
		{topic("u1", protocol.KindAck), 1},
		{topic("u1", protocol.KindTelemetry) + "/x", 1},
		{"other/topic", 1}, // outside rr/
		{"rr/units", 1},
	}
	for _, d := range denied {
		opts := pahoOpts(env.url, "u1", "s1")
		lost := lostSignal(opts)
		c := mustConnect(t, opts)
		tok := c.Publish(d.topic, d.qos, false, "forged")
		if d.qos == 0 {
			waitTok(t, tok) // dropped silently; the connection stays
			continue
		}
		// mochi disconnects a 3.1.1 client whose QoS 1 publish is denied
		// (it cannot say "not authorised" in a PUBACK).
		waitLost(t, lost, d.topic)
	}
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, "marker"))
	all.waitFor(t, topic("u1", protocol.KindTelemetry), "marker")
	for _, m := range all.all() {
		if m.payload == "forged" {
			t.Errorf("forged message on %s reached the hub", m.topic)
		}
	}
	if got := env.denied(broker.ActionPublish); got != float64(len(denied)) {
		t.Errorf("publish denials: %v, want %d", got, len(denied))
	}
}

func TestEmbeddedSubscribeOnlyOwnCmdAndAck(t *testing.T) {
	env := startEmbedded(t, nil)
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	refused := []string{
		topic("u2", protocol.KindCmd),
		topic("u2", protocol.KindAck),
		topic("u1", protocol.KindTelemetry), // own, but not to read
		tp.All(protocol.KindCmd),
		"rr/units/u1/+",
		"rr/#",
		"#",
		"$SYS/#",
		"$share/g/" + topic("u1", protocol.KindCmd),
	}
	for _, f := range refused {
		if q := subscribeGranted(t, c, f, nil); q != 0x80 {
			t.Errorf("subscribe %s: granted %#x, want 0x80", f, q)
		}
	}
	r := &recorder{}
	for _, f := range []string{topic("u1", protocol.KindCmd), topic("u1", protocol.KindAck)} {
		if q := subscribeGranted(t, c, f, r.paho); q != 1 {
			t.Errorf("subscribe %s: granted %#x, want 1", f, q)
		}
	}
	for _, p := range []struct{ topic, payload string }{
		{topic("u2", protocol.KindCmd), "for u2"},
		{topic("u1", protocol.KindCmd), "c1"},
		{topic("u1", protocol.KindAck), "a1"},
	} {
		if err := env.e.Publish(p.topic, []byte(p.payload), false); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t, topic("u1", protocol.KindCmd), "c1")
	r.waitFor(t, topic("u1", protocol.KindAck), "a1")
	if slices.ContainsFunc(r.all(), func(m msg) bool { return m.payload == "for u2" }) {
		t.Error("u1 received u2's command")
	}
	if got := env.denied(broker.ActionSubscribe); got != float64(len(refused)) {
		t.Errorf("subscribe denials: %v, want %d", got, len(refused))
	}
}

func TestEmbeddedWill(t *testing.T) {
	env := startEmbedded(t, nil)
	states := env.subscribe(t, tp.All(protocol.KindState))
	own := topic("u1", protocol.KindState)

	t.Run("on another unit's topic: refused", func(t *testing.T) {
		_, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1",
			will: &rawWill{topic: topic("u2", protocol.KindState), payload: "u2 offline", retain: true}})
		if code != 0x05 {
			t.Fatalf("CONNACK %#x, want 0x05 (not authorised)", code)
		}
		if got := env.refused(broker.ReasonWill); got != 1 {
			t.Errorf("will refusals %v, want 1", got)
		}
	})
	t.Run("own, on abnormal disconnect: published, not retained", func(t *testing.T) {
		rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1",
			will: &rawWill{topic: own, payload: "abnormal", retain: true}})
		if code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		_ = rc.Close() // no DISCONNECT: the connection just ends
		states.waitFor(t, own, "abnormal")
		if n := env.e.RetainedCount(); n != 0 {
			t.Errorf("%d messages retained, want none", n)
		}
		late := env.subscribe(t, own) // anything retained would arrive within Subscribe
		if got := late.all(); len(got) != 0 {
			t.Errorf("a new subscriber got %v", got)
		}
	})
	t.Run("own, on clean DISCONNECT: not published", func(t *testing.T) {
		rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1",
			will: &rawWill{topic: own, payload: "clean", retain: true}})
		if code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		rc.send(t, []byte{0xe0, 0x00})
		rc.expectClosed(t)
		c := mustConnect(t, pahoOpts(env.url, "u2", "s2"))
		waitTok(t, c.Publish(topic("u2", protocol.KindState), 1, false, "marker"))
		states.waitFor(t, topic("u2", protocol.KindState), "marker")
		if states.has(own, "clean") {
			t.Error("will sent after a clean DISCONNECT")
		}
	})
}

// truncatedV5Subscribe is an MQTT 5 SUBSCRIBE cut short after its topic
// filter, without the options byte: mochi issue 501.
var truncatedV5Subscribe = packet(0x82, appendString([]byte{0x00, 0x01, 0x00}, "a/b"))

func TestEmbeddedRefusesMQTT5(t *testing.T) {
	env := startEmbedded(t, nil)
	rc, code := connectRaw(t, env.addr, rawConnect{version: 5, clientID: "u1", username: "u1", password: "s1"})
	if code != 0x84 {
		t.Fatalf("v5 CONNACK reason %#x, want 0x84 (unsupported protocol version)", code)
	}
	rc.expectClosed(t)

	// The same CONNECT, followed at once by the SUBSCRIBE that panics mochi's
	// decoder: the SUBSCRIBE is never read, the broker lives on.
	rc, code = connectRaw(t, env.addr, rawConnect{version: 5, clientID: "u1", username: "u1", password: "s1",
		appendAfterPacket: truncatedV5Subscribe})
	if code != 0x84 {
		t.Fatalf("v5 CONNACK reason %#x, want 0x84", code)
	}
	rc.expectClosed(t)
	if got := env.refused(broker.ReasonProtocol); got != 2 {
		t.Errorf("protocol refusals %v, want 2", got)
	}

	r := env.subscribe(t, tp.All(protocol.KindTelemetry))
	c := mustConnect(t, pahoOpts(env.url, "u2", "s2"))
	waitTok(t, c.Publish(topic("u2", protocol.KindTelemetry), 1, false, "still served"))
	r.waitFor(t, topic("u2", protocol.KindTelemetry), "still served")
}

// TestMochiPitfallV5TruncatedSubscribe shows why MQTT 5 is refused: a bare
// mochi v2.7.9 (with its allow-all hook) dies of that packet. It runs the
// broker in a child process. If this starts failing because the child lives,
// mochi fixed issue 501: the refusal of MQTT 5 (auth.go) may then be relaxed.
func TestMochiPitfallV5TruncatedSubscribe(t *testing.T) {
	if os.Getenv("KUAIFAN_MOCHI_PITFALL_CHILD") == "1" {
		bareMochiChild()
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMochiPitfallV5TruncatedSubscribe$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KUAIFAN_MOCHI_PITFALL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("index out of range")) {
		t.Fatalf("bare mochi survived a truncated v5 SUBSCRIBE (err %v); pitfall gone?\n%s", err, out)
	}
}

func bareMochiChild() {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	_ = srv.AddHook(new(auth.AllowHook), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(3)
	}
	_ = srv.AddListener(listeners.NewNet("t", ln))
	_ = srv.Serve()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		os.Exit(3)
	}
	_, _ = c.Write(append(rawConnect{version: 5, clientID: "x", username: "x", password: "x", keepalive: 60}.bytes(),
		truncatedV5Subscribe...))
	time.Sleep(3 * time.Second) // the panic ends the process long before
	os.Exit(0)
}

// A device's QoS 1 publish gets exactly one PUBACK, with its packet id, and
// a QoS 0 publish none: the delivery hook answers, mochi does not answer again.
func TestEmbeddedOnePuback(t *testing.T) {
	env := startEmbedded(t, nil)
	r := env.subscribe(t, tp.All(protocol.KindTelemetry))
	rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1"})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	publish := func(qos byte, id uint16, payload string) []byte {
		b := appendString(nil, topic("u1", protocol.KindTelemetry))
		if qos > 0 {
			b = binary.BigEndian.AppendUint16(b, id)
		}
		return packet(0x30|qos<<1, append(b, payload...))
	}
	rc.send(t, publish(1, 7, "one"))
	typ, body, err := rc.readPacket(5 * time.Second)
	if err != nil || typ != 0x40 || !bytes.Equal(body, []byte{0, 7}) {
		t.Fatalf("want PUBACK for id 7, got %#x %x %v", typ, body, err)
	}
	rc.send(t, publish(0, 0, "two"))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), "two")
	if typ, body, err := rc.readPacket(300 * time.Millisecond); err == nil {
		t.Fatalf("a second answer: %#x %x", typ, body)
	}
	if got := r.all(); len(got) != 2 {
		t.Errorf("delivered %v, want one and two once each", got)
	}
}

// The pitfall, on bare mochi: an inline subscription's handler runs after
// the publisher's PUBACK went out, so the PUBACK says nothing about the hub
// having handled the message. (The hub's ack topic is the confirmation; the
// embedded broker hands devices' QoS 0/1 publishes over before the PUBACK.)
func TestMochiPitfallInlineHandlerAfterPuback(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: true})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() }) // after the client's disconnect, registered later
	entered, release := make(chan struct{}), make(chan struct{})
	err = srv.Subscribe("a/b", 1, func(*mqtt.Client, packets.Subscription, packets.Packet) {
		entered <- struct{}{}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, pahoOpts("tcp://"+ln.Addr().String(), "x", "x"))
	tok := c.Publish("a/b", 1, false, "x")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	acked := tok.WaitTimeout(5 * time.Second)
	close(release)
	if !acked {
		t.Fatal("no PUBACK while the inline handler was running; pitfall gone?")
	}
}

func TestEmbeddedPacketTooLargeDisconnects(t *testing.T) {
	env := startEmbedded(t, func(c *broker.Config) { c.MaxPacketSize = 1024 })
	r := env.subscribe(t, tp.All(protocol.KindTelemetry))
	opts := pahoOpts(env.url, "u1", "s1")
	lost := lostSignal(opts)
	c := mustConnect(t, opts)
	small, big := strings.Repeat("s", 600), strings.Repeat("b", 2000)
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, small))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), small)
	c.Publish(topic("u1", protocol.KindTelemetry), 1, false, big)
	waitLost(t, lost, "oversized packet")
	if r.has(topic("u1", protocol.KindTelemetry), big) {
		t.Error("oversized message delivered")
	}
}

func TestEmbeddedDisconnectUnit(t *testing.T) {
	env := startEmbedded(t, nil)
	opts := pahoOpts(env.url, "u1", "s1")
	lost := lostSignal(opts)
	c := mustConnect(t, opts)
	subscribeGranted(t, c, topic("u1", protocol.KindCmd), nil)
	env.e.Disconnect("nobody") // not connected: nothing happens

	env.creds.revoke("u1")
	env.e.Disconnect("u1")
	waitLost(t, lost, "Disconnect")
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if got := env.e.ClientsGauge(); got != 0 {
			return fmt.Errorf("kuaifan_broker_clients = %v, want 0", got)
		}
		return nil
	})
	if env.e.HasSession("u1") {
		t.Error("the revoked unit's session was kept")
	}
	if _, err := connect(t, pahoOpts(env.url, "u1", "s1")); !errors.Is(err, pahopackets.ErrorRefusedBadUsernameOrPassword) {
		t.Errorf("revoked unit reconnecting: %v", err)
	}
}

// The embedded broker retains nothing — its one reader, the hub, subscribes
// before devices connect — but every publish with the flag is still
// delivered, once.
func TestEmbeddedRetainsNothing(t *testing.T) {
	env := startEmbedded(t, nil)
	all := env.subscribe(t, "rr/units/u1/+")
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, true, "telemetry"))
	waitTok(t, c.Publish(topic("u1", protocol.KindEvents), 1, true, "event"))
	waitTok(t, c.Publish(topic("u1", protocol.KindState), 1, true, "online"))
	all.waitFor(t, topic("u1", protocol.KindState), "online")
	want := []msg{{topic("u1", protocol.KindTelemetry), "telemetry"}, {topic("u1", protocol.KindEvents), "event"},
		{topic("u1", protocol.KindState), "online"}}
	if got := all.all(); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if n := env.e.RetainedCount(); n != 0 {
		t.Errorf("%d messages retained, want none", n)
	}
	late := env.subscribe(t, "rr/units/u1/+") // anything retained would arrive within Subscribe
	if got := late.all(); len(got) != 0 {
		t.Errorf("retained for a new subscriber: %v", got)
	}
}

// A unit that stops reading. mochi drops messages to it when its write queue
// is full (OnPublishDropped), but once its socket buffer is full mochi blocks
// every publisher to it while a write hangs: Publish then drops instead of
// waiting, the wait is bounded by the write timeout, and the connection is
// closed. All drops are counted.
func TestEmbeddedSlowSubscriber(t *testing.T) {
	const writeTimeout = time.Second
	env := startEmbedded(t, func(c *broker.Config) { c.MaxClientWritesPending = 4; c.WriteTimeout = writeTimeout })
	rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1"})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	ack := topic("u1", protocol.KindAck)
	rc.send(t, subscribePacket(1, ack, 1))
	if typ, body, err := rc.readPacket(5 * time.Second); err != nil || typ != 0x90 || body[len(body)-1] != 1 {
		t.Fatalf("SUBACK: %#x %x %v", typ, body, err)
	}
	// From here on the client reads nothing: the socket buffers fill, then
	// mochi's write queue.
	var (
		wg      sync.WaitGroup
		sent    atomic.Int64
		longest atomic.Int64
	)
	deadline := time.Now().Add(20 * time.Second)
	wg.Add(1)
	go func() {
		defer wg.Done()
		payload := bytes.Repeat([]byte("x"), 32<<10)
		for env.e.ClientsGauge() > 0 && time.Now().Before(deadline) { // until the broker gives up on it
			start := time.Now()
			err := env.e.Publish(ack, payload, false)
			if d := int64(time.Since(start)); d > longest.Load() {
				longest.Store(d)
			}
			sent.Add(1)
			if err != nil && !errors.Is(err, broker.ErrStalled) {
				t.Error(err)
				return
			}
		}
	}()
	defer wg.Wait()

	hubtest.WaitFor(t, 10*time.Second, func() error {
		if d := env.e.StalledFor("u1"); d < broker.StallAfter {
			return fmt.Errorf("no write blocked for %v yet (%d sent)", broker.StallAfter, sent.Load())
		}
		return nil
	})
	// Another publisher (acks, commands) does not wait for the stalled unit.
	start := time.Now()
	if err := env.e.Publish(topic("u1", protocol.KindCmd), []byte("{}"), false); !errors.Is(err, broker.ErrStalled) {
		t.Errorf("Publish to a stalled unit: %v, want ErrStalled", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Publish to a stalled unit took %v", d)
	}
	hubtest.WaitFor(t, 3*writeTimeout, func() error {
		if n := env.e.ClientsGauge(); n != 0 {
			return fmt.Errorf("the unit that stopped reading is still connected (%v clients)", n)
		}
		return nil
	})
	wg.Wait()
	if env.e.Dropped() == 0 {
		t.Error("no drop counted")
	}
	if d := time.Duration(longest.Load()); d > writeTimeout+time.Second {
		t.Errorf("a Publish took %v (write timeout %v)", d, writeTimeout)
	}
	if !strings.Contains(env.logs.String(), "level=ERROR msg=\"broker: message to a") {
		t.Error("drop not logged at Error")
	}
	t.Logf("%d messages of 32 KiB, %v dropped; longest Publish %v", sent.Load(), env.e.Dropped(), time.Duration(longest.Load()))
}

// The pitfall: mochi runs inline handlers after the PUBACK went out, so a
// device may consider a message delivered that the hub has not handled. QoS 2
// still takes mochi's path. A device's QoS 0 and 1 publishes reach the handler
// through the delivery hook, before the PUBACK: a handler that blocks holds
// the device back. Neither is a durability point (the hub's ack is). Each
// message reaches the handler exactly once, whichever way it came.
func TestEmbeddedHandlerAndPuback(t *testing.T) {
	for _, tc := range []struct {
		name          string
		kind          protocol.Kind
		qos           byte
		retain        bool
		pubackWhileIn bool // paho's token completes while the handler runs
	}{
		{"telemetry: delivery hook, before the PUBACK", protocol.KindTelemetry, 1, false, false},
		{"events: delivery hook, before the PUBACK", protocol.KindEvents, 1, false, false},
		{"retained state: delivery hook (nothing is retained)", protocol.KindState, 1, true, false},
		{"QoS 0: delivery hook, nothing to answer", protocol.KindTelemetry, 0, false, true},
		// PUBREC goes out first, but the PUBREL is read on the goroutine the handler holds.
		{"QoS 2: mochi's handshake and inline subscription", protocol.KindTelemetry, 2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startEmbedded(t, nil)
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			err := env.e.Subscribe(tp.All(tc.kind), func(string, []byte) {
				calls.Add(1)
				entered <- struct{}{}
				<-release
			})
			if err != nil {
				t.Fatal(err)
			}
			c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
			tok := c.Publish(topic("u1", tc.kind), tc.qos, tc.retain, "x")
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("handler not called")
			}
			acked := tok.WaitTimeout(500 * time.Millisecond)
			if acked != tc.pubackWhileIn {
				t.Errorf("PUBACK while the handler was still running: %v, want %v", acked, tc.pubackWhileIn)
			}
			close(release)
			if !tok.WaitTimeout(5 * time.Second) {
				t.Fatal("no PUBACK after the handler returned")
			}
			select {
			case <-entered:
				t.Fatal("handler called twice for one message")
			case <-time.After(200 * time.Millisecond):
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("handler called %d times, want 1", n)
			}
		})
	}
}

func TestEmbeddedHandlerMayPublish(t *testing.T) {
	env := startEmbedded(t, nil)
	err := env.e.Subscribe(tp.All(protocol.KindTelemetry), func(topic string, payload []byte) {
		unit, _, _ := tp.Parse(topic)
		if err := env.e.Publish(tp.Unit(unit, protocol.KindAck), payload, false); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	acks := &recorder{}
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	subscribeGranted(t, c, topic("u1", protocol.KindAck), acks.paho)
	var want []string
	for i := range 200 {
		p := fmt.Sprint(i)
		want = append(want, p)
		c.Publish(topic("u1", protocol.KindTelemetry), 1, false, p)
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if got := acks.onTopic(topic("u1", protocol.KindAck)); !slices.Equal(got, want) {
			return fmt.Errorf("acks %d of %d (in order?)", len(got), len(want))
		}
		return nil
	})
}

func TestEmbeddedHandlerPanicIsContained(t *testing.T) {
	env := startEmbedded(t, nil)
	r := &recorder{}
	err := env.e.Subscribe(tp.All(protocol.KindTelemetry), func(topic string, payload []byte) {
		if string(payload) == "boom" {
			panic("poison message")
		}
		r.handle(topic, payload)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, "boom"))
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, "ok"))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), "ok")
	if !strings.Contains(env.logs.String(), "poison message") {
		t.Error("panic not logged")
	}
}

type panickyCreds struct{}

func (panickyCreds) Verify(string, string) bool { panic("store exploded") }

func TestEmbeddedHookPanicDenies(t *testing.T) {
	env := startEmbedded(t, func(c *broker.Config) { c.Credentials = panickyCreds{} })
	if _, err := connect(t, pahoOpts(env.url, "u1", "s1")); err == nil {
		t.Fatal("connected although Verify panicked")
	}
	if got := env.refused(broker.ReasonInternal); got != 1 {
		t.Errorf("internal refusals %v, want 1", got)
	}
	if !strings.Contains(env.logs.String(), "store exploded") {
		t.Error("panic not logged")
	}
}

func TestEmbeddedNeverLogsSecrets(t *testing.T) {
	const good, bad, second = "correct-horse-battery", "wrong-secret-123", "second-secret-456"
	env := startEmbedded(t, nil)
	env.creds.set("u3", good)
	if _, err := connect(t, pahoOpts(env.url, "u3", bad)); err == nil {
		t.Fatal("wrong secret accepted")
	}
	rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u3", username: "u3", password: good})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	// A second CONNECT is a protocol violation mochi logs, packet and all.
	rc.send(t, rawConnect{version: 4, clientID: "u3", username: "u3", password: second, keepalive: 60}.bytes())
	rc.expectClosed(t)
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if !strings.Contains(env.logs.String(), "unit disconnected") {
			return errors.New("disconnect not logged yet")
		}
		return nil
	})
	logs := env.logs.String()
	for _, s := range []string{good, bad, second} {
		if strings.Contains(logs, s) || strings.Contains(logs, fmt.Sprint([]byte(s))) {
			t.Errorf("secret %q in the log", s)
		}
	}
}

func TestEmbeddedSilentConnectionTimesOut(t *testing.T) {
	env := startEmbedded(t, func(c *broker.Config) { c.ConnectTimeout = 200 * time.Millisecond })
	rc := dialRaw(t, env.addr)
	start := time.Now()
	rc.expectClosed(t)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestEmbeddedClose(t *testing.T) {
	env := startEmbedded(t, nil)
	mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	dialRaw(t, env.addr) // never sends CONNECT; mochi alone would wait for it forever
	start := time.Now()
	if err := env.e.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := env.e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := env.e.Publish(topic("u1", protocol.KindCmd), nil, false); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if err := env.e.Subscribe("#", func(string, []byte) {}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := env.e.Start(); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", env.addr, time.Second); err == nil {
		_ = c.Close()
		t.Error("still accepting connections")
	}
	if n, _ := testutil.GatherAndCount(env.reg); n != 0 {
		t.Errorf("%d metrics still registered", n)
	}
}

func TestEmbeddedPublishRejectsBadTopics(t *testing.T) {
	env := startEmbedded(t, nil)
	for _, topic := range []string{"", "rr/units/+/cmd", "rr/#", "$SYS/x", "a\x00b"} {
		if err := env.e.Publish(topic, []byte("x"), false); err == nil {
			t.Errorf("Publish(%q) accepted", topic)
		}
	}
	if err := env.e.Subscribe("a/#/b", func(string, []byte) {}); err == nil {
		t.Error("invalid filter accepted")
	}
}

func TestNewEmbeddedConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, cfg := range map[string]broker.Config{
		"no listener":    {Credentials: newCreds()},
		"no credentials": {Listener: ln},
		"bad root":       {Listener: ln, Credentials: newCreds(), Topics: protocol.Topics{Root: "a/+"}},
	} {
		if _, err := broker.NewEmbedded(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A second broker on the same registry is refused, not half-registered.
	env := startEmbedded(t, nil)
	if _, err := broker.NewEmbedded(broker.Config{Listener: ln, Credentials: newCreds(), Registerer: env.reg}); err == nil {
		t.Error("second broker on one registry accepted")
	}
	if n, _ := testutil.GatherAndCount(env.reg, "kuaifan_broker_clients"); n != 1 {
		t.Errorf("kuaifan_broker_clients registered %d times", n)
	}
}
