package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"kuaifan/agent/internal/queue"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
	"kuaifan/testkit/poll"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const lat0, lon0 = 28.1941, 112.9823

// tap is a TCP proxy between the Link and the broker that decodes every
// packet the client sends: the test sees the wire, not the code's intent.
type tap struct {
	t       *testing.T
	ln      net.Listener
	backend string
	wg      sync.WaitGroup

	mu    sync.Mutex
	pkts  []packets.ControlPacket
	conns []net.Conn
}

func newTap(t *testing.T, backend string) *tap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tap{t: t, ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tap) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *tap) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // broker → client, as is
			defer p.wg.Done()
			_, _ = io.Copy(c, b)
			c.Close()
		}()
		go func() { // client → broker, packet by packet
			defer p.wg.Done()
			defer b.Close()
			for {
				pkt, err := packets.ReadPacket(c)
				if err != nil {
					return
				}
				p.mu.Lock()
				p.pkts = append(p.pkts, pkt)
				p.mu.Unlock()
				if err := pkt.Write(b); err != nil {
					return
				}
			}
		}()
	}
}

// cut drops every connection without a DISCONNECT, as a lost radio link does.
func (p *tap) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tap) packets() []packets.ControlPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]packets.ControlPacket(nil), p.pkts...)
}

func telemetry(unit string, ts int64) func(uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		return protocol.Encode(protocol.Telemetry{Unit: unit, Seq: seq, TS: ts, Lat: lat0, Lon: lon0,
			Status: protocol.StatusAvailable})
	}
}

func openQueue(t *testing.T) *queue.Queue {
	q, err := queue.Open(queue.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// runLink runs l until stop (returned) is called or the test ends.
func runLink(t *testing.T, l *Link) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// What goes over the wire: MQTT 3.1.1 (explicitly, so a refused CONNECT is
// not retried as 3.1), a persistent session, client id = username = unit,
// the Will as the retained offline state at QoS 1; every report, the state
// and the goodbye at QoS 1 (paho drops QoS 0 while reconnecting); after a
// cut link the Link comes back by itself and resends what was unconfirmed.
func TestWire(t *testing.T) {
	b := startBroker(t)
	const secret = "s3cret"
	tp := newTap(t, b.addr)
	q := openQueue(t)
	l, err := New(Config{Broker: tp.url(), Unit: "car-w", Secret: secret, Boot: "boot-1", Agent: "test/1",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Logger: testLogger(t)}, q)
	if err != nil {
		t.Fatal(err)
	}
	stop := runLink(t, l)
	now := time.Now().UnixMilli()
	for i := range 5 {
		it, err := q.Append(queue.Telemetry, now+int64(i), telemetry("car-w", now+int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		l.Queued(it.Seq, it.Kind)
	}
	waitEmpty := func() {
		t.Helper()
		poll.Until(t, 10*time.Second, func() error {
			if n := q.Len(); n > 0 {
				return fmt.Errorf("%d still queued", n)
			}
			return nil
		})
	}
	waitEmpty()

	tp.cut()
	poll.Until(t, 10*time.Second, func() error {
		if s := l.Stats(); s.Connects < 2 || !s.Connected {
			return fmt.Errorf("not reconnected: %+v", s)
		}
		return nil
	})
	it, err := q.Append(queue.Event, now+10, func(seq uint64) ([]byte, error) {
		return protocol.Encode(protocol.Event{Unit: "car-w", Seq: seq, TS: now + 10, Type: protocol.EventStatus, Status: protocol.StatusBusy})
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Queued(it.Seq, it.Kind)
	waitEmpty()
	stop()

	var connects, publishes, states int
	for _, p := range tp.packets() {
		switch p := p.(type) {
		case *packets.ConnectPacket:
			connects++
			if p.ProtocolVersion != 4 || p.ProtocolName != "MQTT" || p.CleanSession ||
				p.ClientIdentifier != "car-w" || p.Username != "car-w" || string(p.Password) != secret {
				t.Errorf("CONNECT %v", p)
			}
			if !p.WillFlag || p.WillQos != 1 || !p.WillRetain || p.WillTopic != "rr/units/car-w/state" {
				t.Errorf("Will %v", p)
			}
			if s, err := protocol.DecodeState(p.WillMessage); err != nil || s.Online || s.Boot != "boot-1" {
				t.Errorf("Will message %s: %v", p.WillMessage, err)
			}
		case *packets.PublishPacket:
			publishes++
			if p.Qos != 1 {
				t.Errorf("PUBLISH to %s at QoS %d", p.TopicName, p.Qos)
			}
			if p.TopicName == "rr/units/car-w/state" {
				states++
				if !p.Retain {
					t.Errorf("state not retained")
				}
			} else if p.Retain {
				t.Errorf("%s retained", p.TopicName)
			}
		case *packets.SubscribePacket:
			for i, topic := range p.Topics {
				if p.Qoss[i] != 1 || (topic != "rr/units/car-w/cmd" && topic != "rr/units/car-w/ack") {
					t.Errorf("SUBSCRIBE %s QoS %d", topic, p.Qoss[i])
				}
			}
		}
	}
	// Two connections, each with an online state; a goodbye on the last.
	if connects != 2 || states != 3 || publishes < 5+1+3 {
		t.Errorf("%d connects, %d states, %d publishes", connects, states, publishes)
	}
	var last *packets.PublishPacket
	for _, p := range tp.packets() {
		if pp, ok := p.(*packets.PublishPacket); ok && pp.TopicName == "rr/units/car-w/state" {
			last = pp
		}
	}
	if s, err := protocol.DecodeState(last.Payload); err != nil || s.Online {
		t.Errorf("last state %s: %v; want the offline goodbye", last.Payload, err)
	}
	if s := l.Stats(); s.Confirmed != 6 || s.Published < 6 {
		t.Errorf("stats %+v", s)
	}
}

// fakeMessage is a paho message as the router hands it over.
type fakeMessage struct {
	topic   string
	payload []byte
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

// paho's handler must never block (it can deadlock the client): it only
// hands off. A burst of 1000 commands arrives while the agent's command
// handling is stuck and the link drains a backlog: every handler call
// returns at once, the publishing goes on, and once the agent is free it
// gets all 1000, in order.
func TestHandlerNeverBlocks(t *testing.T) {
	b := startBroker(t)
	q := openQueue(t)
	now := time.Now().UnixMilli()
	const backlog = 300
	for i := range backlog {
		if _, err := q.Append(queue.Telemetry, now+int64(i), telemetry("car-h", now+int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	l, err := New(Config{Broker: b.url(), Unit: "car-h", Secret: "s3cret", Boot: "b", DrainRate: 100,
		Logger: testLogger(t),
		OnCommands: func(cmds []protocol.Command) {
			<-release // the agent is busy
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cmds {
				got = append(got, c.ID)
			}
		}}, q)
	if err != nil {
		t.Fatal(err)
	}
	runLink(t, l)
	poll.Until(t, 10*time.Second, func() error {
		if !l.Connected() {
			return fmt.Errorf("not connected")
		}
		return nil
	})

	const burst = 1000
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range burst {
			b, _ := protocol.Encode(protocol.Command{ID: fmt.Sprint("c-", i), TS: 1, Type: protocol.CmdConfig,
				Config: map[string]float64{"moving_s": 5}})
			l.onMessage(nil, fakeMessage{"rr/units/car-h/cmd", b})
		}
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("paho's handler blocked while the agent was busy")
	}
	before := l.Stats().Published
	poll.Until(t, 10*time.Second, func() error {
		if n := l.Stats().Published - before; n < 20 {
			return fmt.Errorf("%d published while the agent's command handling is stuck", n)
		}
		return nil
	})
	close(release)
	poll.Until(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != burst {
			return fmt.Errorf("%d of %d commands passed on", len(got), burst)
		}
		return nil
	})
	for i, id := range got {
		if id != fmt.Sprint("c-", i) {
			t.Fatalf("command %d is %s: out of order", i, id)
		}
	}
	// Junk on the ack or cmd topic is counted, never passed on.
	l.onMessage(nil, fakeMessage{"rr/units/car-h/cmd", []byte("{")})
	l.onMessage(nil, fakeMessage{"rr/units/car-h/ack", []byte(`{"v":1,"seqs":[[5,1]]}`)})
	poll.Until(t, 5*time.Second, func() error {
		if s := l.Stats(); s.BadMessages != 2 || s.Commands != burst {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
}

func TestConfig(t *testing.T) {
	q := openQueue(t)
	for _, c := range []Config{
		{Unit: "u", Boot: "b"},
		{Broker: "tcp://h:1", Unit: "bad unit", Boot: "b"},
		{Broker: "http://h:1", Unit: "u", Boot: "b"},
		{Broker: "tcp://h:1", Unit: "u"},
		{Broker: " , ", Unit: "u", Boot: "b"},
		{Broker: "tcp://h:1,http://h:2", Unit: "u", Boot: "b"},
		{Broker: "tcp://h:1,ws://h:2/mqtt", Unit: "u", Boot: "b",
			Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no") }},
	} {
		if _, err := New(c, q); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// TestFailover: given a cluster's nodes, the Link connects to a live one
// whatever the list's first, moves to another when its node goes away, and
// resends there what was unconfirmed; units given the same list start on
// different nodes.
func TestFailover(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "tcp://" + dead.Addr().String()
	dead.Close() // nothing listens there: connection refused
	b := startBroker(t)
	taps := []*tap{newTap(t, b.addr), newTap(t, b.addr)}
	list := deadURL + ", " + taps[0].url() + "," + taps[1].url()

	starts := map[string]bool{}
	for i := range 12 {
		l, err := New(Config{Broker: list, Unit: fmt.Sprintf("car-%d", i), Secret: "s", Boot: "b"}, openQueue(t))
		if err != nil {
			t.Fatal(err)
		}
		starts[l.Stats().Broker] = true
	}
	if len(starts) < 2 {
		t.Errorf("12 units all start on %v", starts)
	}

	q := openQueue(t)
	l, err := New(Config{Broker: list, Unit: "car-f", Secret: "s", Boot: "b",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Logger: testLogger(t)}, q)
	if err != nil {
		t.Fatal(err)
	}
	runLink(t, l)
	now := time.Now().UnixMilli()
	queue1 := func(ts int64) {
		t.Helper()
		it, err := q.Append(queue.Telemetry, ts, telemetry("car-f", ts))
		if err != nil {
			t.Fatal(err)
		}
		l.Queued(it.Seq, it.Kind)
	}
	confirmed := func(n uint64) {
		t.Helper()
		poll.Until(t, 10*time.Second, func() error {
			if s := l.Stats(); q.Len() > 0 || s.Confirmed != n {
				return fmt.Errorf("%d queued, %+v", q.Len(), s)
			}
			return nil
		})
	}
	queue1(now)
	confirmed(1)
	first := l.Stats().Broker
	if first == deadURL {
		t.Fatalf("connected to the dead node %s", first)
	}
	// The node goes away for good: its listener closes and the link is cut.
	var gone, other *tap
	for _, tp := range taps {
		if tp.url() == first {
			gone = tp
		} else {
			other = tp
		}
	}
	gone.ln.Close()
	gone.cut()
	queue1(now + 1)
	queue1(now + 2)
	confirmed(3)
	if s := l.Stats(); s.Broker != other.url() || !s.Connected {
		t.Errorf("after losing %s: %+v, want connected to %s", first, s, other.url())
	}
}
