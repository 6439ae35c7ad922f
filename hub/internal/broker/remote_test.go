package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

const deployACL = "../../deploy/mosquitto/acl"

// startMosquittoDeploy runs Mosquitto with the deploy example's ACL and
// accounts for the hub and two units.
func startMosquittoDeploy(t *testing.T) *hubtest.Mosquitto {
	return hubtest.StartMosquitto(t, hubtest.MosquittoOptions{
		Users:       map[string]string{"kuaifan-hub": "hub-secret", "u1": "s1", "u2": "s2"},
		ACLFile:     deployACL,
		ExtraConfig: "use_username_as_clientid true\n", // as in deploy/mosquitto/mosquitto.conf
	})
}

func dialHub(t *testing.T, cfg broker.RemoteConfig) *broker.Remote {
	t.Helper()
	log, logs := newLogger()
	cfg.Logger = log
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := broker.DialRemote(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("hub bus log:\n%s", logs.String())
		}
	})
	return r
}

func anonOpts(url, unit string) *paho.ClientOptions {
	return pahoOpts(url, unit, "").SetUsername("")
}

// TestRemoteSeveralNodes: given a cluster's nodes, the hub passes over a
// dead one for the next.
func TestRemoteSeveralNodes(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{})
	hub := dialHub(t, broker.RemoteConfig{URL: "tcp://" + closedAddr(t) + ", " + m.URL()})
	telemetry := &recorder{}
	if err := hub.Subscribe(tp.All(protocol.KindTelemetry), telemetry.handle); err != nil {
		t.Fatal(err)
	}
	unit := mustConnect(t, anonOpts(m.URL(), "u1"))
	unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, "hello")
	telemetry.waitFor(t, topic("u1", protocol.KindTelemetry), "hello")
}

func TestRemoteRoundTrip(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{})
	hub := dialHub(t, broker.RemoteConfig{URL: m.URL()})
	telemetry := &recorder{}
	// The handler publishes from paho's delivery goroutine: it must not deadlock.
	err := hub.Subscribe(tp.All(protocol.KindTelemetry), func(topic string, payload []byte) {
		telemetry.handle(topic, payload)
		unit, _, _ := tp.Parse(topic)
		if err := hub.Publish(tp.Unit(unit, protocol.KindAck), payload, false); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	unit := mustConnect(t, anonOpts(m.URL(), "u1"))
	acks, cmds := &recorder{}, &recorder{}
	subscribeGranted(t, unit, topic("u1", protocol.KindAck), acks.paho)
	subscribeGranted(t, unit, topic("u1", protocol.KindCmd), cmds.paho)

	var want []string
	for i := range 300 {
		p := fmt.Sprint(i)
		want = append(want, p)
		unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, p)
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		got, gotAcks := telemetry.onTopic(topic("u1", protocol.KindTelemetry)), acks.onTopic(topic("u1", protocol.KindAck))
		if !slices.Equal(got, want) || !slices.Equal(gotAcks, want) {
			return fmt.Errorf("hub got %d, unit got %d acks of %d, in order", len(got), len(gotAcks), len(want))
		}
		return nil
	})
	if err := hub.Publish(topic("u1", protocol.KindCmd), []byte("dispatch"), false); err != nil {
		t.Fatal(err)
	}
	cmds.waitFor(t, topic("u1", protocol.KindCmd), "dispatch")

	// paho's package-level loggers are main's business, not this package's.
	for name, l := range map[string]paho.Logger{"ERROR": paho.ERROR, "CRITICAL": paho.CRITICAL, "WARN": paho.WARN, "DEBUG": paho.DEBUG} {
		if _, ok := l.(paho.NOOPLogger); !ok {
			t.Errorf("paho.%s was set (%T)", name, l)
		}
	}
}

func TestRemoteDeployACL(t *testing.T) {
	m := startMosquittoDeploy(t)
	hub := dialHub(t, broker.RemoteConfig{URL: m.URL(), Username: "kuaifan-hub", Password: "hub-secret"})
	all := &recorder{}
	for _, k := range []protocol.Kind{protocol.KindTelemetry, protocol.KindState, protocol.KindEvents} {
		if err := hub.Subscribe(tp.All(k), all.handle); err != nil {
			t.Fatalf("the ACL must let the hub subscribe to %s: %v", tp.All(k), err)
		}
	}
	u1 := mustConnect(t, pahoOpts(m.URL(), "u1", "s1"))
	for _, forged := range []string{topic("u2", protocol.KindTelemetry), topic("u2", protocol.KindState),
		topic("u1", protocol.KindCmd), "other/topic"} {
		// Mosquitto acknowledges a denied 3.1.1 publish and drops it.
		waitTok(t, u1.Publish(forged, 1, false, "forged"))
	}
	waitTok(t, u1.Publish(topic("u1", protocol.KindTelemetry), 1, false, "marker"))
	all.waitFor(t, topic("u1", protocol.KindTelemetry), "marker")
	if slices.ContainsFunc(all.all(), func(m msg) bool { return m.payload == "forged" }) {
		t.Errorf("a forged message reached the hub: %v", all.all())
	}

	// Mosquitto 2.0 (acl_file) grants every subscription and applies the
	// ACL to each delivery instead: u1 never gets u2's commands.
	cmds := &recorder{}
	subscribeGranted(t, u1, topic("u2", protocol.KindCmd), cmds.paho)
	subscribeGranted(t, u1, topic("u1", protocol.KindCmd), cmds.paho)
	for _, u := range []string{"u2", "u1"} {
		if err := hub.Publish(topic(u, protocol.KindCmd), []byte("for "+u), false); err != nil {
			t.Fatal(err)
		}
	}
	cmds.waitFor(t, topic("u1", protocol.KindCmd), "for u1")
	if cmds.has(topic("u2", protocol.KindCmd), "for u2") {
		t.Error("u1 received u2's command")
	}

	// Mosquitto accepts a will on another unit's topic at connect, but the
	// ACL stops it when the connection ends abnormally.
	rc, code := connectRaw(t, m.Addr(), rawConnect{version: 4, clientID: "u2", username: "u2", password: "s2",
		will: &rawWill{topic: topic("u1", protocol.KindState), payload: "forged will", retain: true}})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	_ = rc.Close()
	u2 := mustConnect(t, pahoOpts(m.URL(), "u2", "s2"))
	waitTok(t, u2.Publish(topic("u2", protocol.KindState), 1, false, "marker"))
	all.waitFor(t, topic("u2", protocol.KindState), "marker")
	if slices.ContainsFunc(all.all(), func(m msg) bool { return m.payload == "forged will" }) {
		t.Error("a will on another unit's topic reached the hub")
	}
}

func TestRemoteSurvivesBrokerRestart(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{Persistence: true})
	hub := dialHub(t, broker.RemoteConfig{URL: m.URL(), MaxReconnectInterval: time.Second})
	telemetry := &recorder{}
	if err := hub.Subscribe(tp.All(protocol.KindTelemetry), telemetry.handle); err != nil {
		t.Fatal(err)
	}
	// A device with a persistent session of its own, reconnecting by itself.
	cmds := &recorder{}
	uopts := anonOpts(m.URL(), "u1").SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second)
	uopts.SetOnConnectHandler(nil)
	unit := mustConnect(t, uopts)
	subscribeGranted(t, unit, topic("u1", protocol.KindCmd), cmds.paho)

	m.Stop()
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if hub.ConnectionOpen() {
			return errors.New("hub has not noticed the broker is gone")
		}
		return nil
	})
	// Published while reconnecting: paho keeps a QoS 1 message and sends it
	// once connected (a QoS 0 one would be dropped without an error).
	if err := hub.Publish(topic("u1", protocol.KindCmd), []byte("while down"), false); err != nil {
		t.Fatalf("Publish while reconnecting: %v", err)
	}

	m.Restart()
	// Published before the hub is back: Mosquitto queues it in the hub's
	// persistent session (restored from its persistence file).
	u2 := mustConnect(t, anonOpts(m.URL(), "u2"))
	hubWasUp := hub.ConnectionOpen()
	waitTok(t, u2.Publish(topic("u2", protocol.KindTelemetry), 1, false, "queued"))
	telemetry.waitFor(t, topic("u2", protocol.KindTelemetry), "queued")
	if hubWasUp {
		t.Log("the hub had reconnected before u2 published: its queue was not exercised this time")
	}

	hubtest.WaitFor(t, 10*time.Second, func() error {
		if !unit.IsConnectionOpen() {
			return errors.New("unit not reconnected")
		}
		return nil
	})
	waitTok(t, unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, "after restart"))
	telemetry.waitFor(t, topic("u1", protocol.KindTelemetry), "after restart")
	cmds.waitFor(t, topic("u1", protocol.KindCmd), "while down")
}

func TestRemoteSessionSurvivesHubRestart(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{})
	cfg := broker.RemoteConfig{URL: m.URL(), ClientID: "hub-restart"}
	first := dialHub(t, cfg)
	if err := first.Subscribe(tp.All(protocol.KindTelemetry), func(string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	unit := mustConnect(t, anonOpts(m.URL(), "u1"))
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprint(i))
		waitTok(t, unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, want[i]))
	}

	second := dialHub(t, cfg)
	// The broker sends the queue right after CONNACK, before Subscribe: the
	// bus holds those messages (paho would otherwise leave them unacknowledged).
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if n := second.Held(); n != len(want) {
			return fmt.Errorf("%d messages held, want %d", n, len(want))
		}
		return nil
	})
	var mu sync.Mutex
	var got []string
	err := second.Subscribe(tp.All(protocol.KindTelemetry), func(_ string, p []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(p))
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !slices.Equal(got, want) {
		t.Errorf("queued while the hub was away: got %v, want %v", got, want)
	}
	mu.Unlock()
	waitTok(t, unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, "live"))
	hubtest.WaitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 || got[len(got)-1] != "live" {
			return errors.New("live message not received")
		}
		return nil
	})
}

func TestRemoteHandlerPanicIsContained(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{})
	hub := dialHub(t, broker.RemoteConfig{URL: m.URL()})
	r := &recorder{}
	err := hub.Subscribe(tp.All(protocol.KindTelemetry), func(topic string, payload []byte) {
		if string(payload) == "boom" {
			panic("poison message")
		}
		r.handle(topic, payload)
	})
	if err != nil {
		t.Fatal(err)
	}
	unit := mustConnect(t, anonOpts(m.URL(), "u1"))
	waitTok(t, unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, "boom"))
	waitTok(t, unit.Publish(topic("u1", protocol.KindTelemetry), 1, false, "ok"))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), "ok")
}

func TestDialRemoteErrors(t *testing.T) {
	m := startMosquittoDeploy(t)
	ctx := context.Background()
	for name, cfg := range map[string]broker.RemoteConfig{
		"bad scheme":               {URL: "http://" + m.Addr()},
		"no host":                  {URL: "tcp://"},
		"wrong password":           {URL: m.URL(), Username: "kuaifan-hub", Password: "nope"},
		"nobody there":             {URL: "tcp://" + closedAddr(t)},
		"password in URL":          {URL: "tcp://kuaifan-hub:nope@" + closedAddr(t)},
		"bad URL":                  {URL: "tcp://kuaifan-hub:nope@[::1"},
		"bad scheme with password": {URL: "http://kuaifan-hub:nope@" + m.Addr()},
		"no URL in the list":       {URL: " , "},
		"one bad URL of two":       {URL: m.URL() + ",http://" + m.Addr(), Username: "kuaifan-hub", Password: "hub-secret"},
		"no node there":            {URL: "tcp://" + closedAddr(t) + ",tcp://" + closedAddr(t)},
	} {
		cfg.ConnectTimeout = 5 * time.Second
		if r, err := broker.DialRemote(ctx, cfg); err == nil {
			_ = r.Close()
			t.Errorf("%s: connected", name)
		} else if strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}

	// A server that accepts and never answers: ctx ends the attempt, not the
	// (long) connect timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owns the accepted connections; ends when ln is closed
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer wg.Wait()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = broker.DialRemote(ctx, broker.RemoteConfig{URL: "tcp://" + ln.Addr().String(), ConnectTimeout: 30 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v, want the context's error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("DialRemote returned %v after the context ended", d)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestRemoteClose(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{})
	hub := dialHub(t, broker.RemoteConfig{URL: m.URL()})
	if err := hub.Subscribe(tp.All(protocol.KindTelemetry), func(string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := hub.Publish(topic("u1", protocol.KindCmd), nil, false); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if err := hub.Subscribe("#", func(string, []byte) {}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
}
