package simulator

import (
	"math/rand/v2"
	"testing"
	"time"

	"kuaifan/protocol"
)

// message is an incoming MQTT message, as paho hands it to a handler.
type message struct {
	topic   string
	payload []byte
}

func (m message) Duplicate() bool   { return false }
func (m message) Qos() byte         { return 1 }
func (m message) Retained() bool    { return false }
func (m message) Topic() string     { return m.topic }
func (m message) MessageID() uint16 { return 1 }
func (m message) Payload() []byte   { return m.payload }
func (m message) Ack()              {}

func testUnit(t *testing.T) (*unit, *counters) {
	t.Helper()
	cfg, err := Config{HubURL: "http://127.0.0.1:1", BrokerURL: "tcp://127.0.0.1:1", AdminToken: "x"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	spec := unitSpec{ID: "sim-car-001", Type: protocol.TypeCar}
	cnt := &counters{}
	// The client is made but never connected: no goroutine starts.
	u, err := newUnit(spec, "secret", &cfg, "b00t", newMover(spec.Type, Changsha(), ChangshaDistricts(), rng), rng, cnt)
	if err != nil {
		t.Fatal(err)
	}
	return u, cnt
}

// The handler paho calls removes what an ack covers and counts it; anything
// malformed is logged and changes nothing.
func TestUnitHandlesAcks(t *testing.T) {
	u, cnt := testUnit(t)
	now := time.Now()
	for s := uint64(100); s < 110; s++ {
		u.out.add(s, []byte("{}"), now)
	}
	ackTopic := "rr/units/sim-car-001/ack"
	u.onMessage(nil, message{ackTopic, []byte(`{"v":1,"seqs":[[90,101],[105,105]]}`)})
	if got := cnt.confirmed.Load(); got != 3 {
		t.Errorf("confirmed %d, want 3 (100, 101, 105)", got)
	}
	for _, bad := range []string{`{"v":1,"seqs":[[108,107]]}`, `{"seqs":[[100,110]]}`, `not json`, `{"v":1,"seqs":[]}`} {
		u.onMessage(nil, message{ackTopic, []byte(bad)})
	}
	if got := u.out.len(); got != 7 || cnt.confirmed.Load() != 3 {
		t.Errorf("after bad acks: %d pending, %d confirmed; want 7 and 3", got, cnt.confirmed.Load())
	}
	u.onMessage(nil, message{"rr/units/sim-car-001/cmd",
		[]byte(`{"v":1,"id":"cmd-1","ts":1764403200500,"type":"cancel","incident":"inc-1"}`)})
	u.onMessage(nil, message{"rr/units/sim-car-001/cmd", []byte(`{}`)})
	if got := cnt.commands.Load(); got != 2 {
		t.Errorf("commands %d, want 2", got)
	}
}

func TestUnitSeqStartsAtClockMicros(t *testing.T) {
	before := uint64(time.Now().UnixMicro())
	u, _ := testUnit(t)
	after := uint64(time.Now().UnixMicro())
	if u.seq < before || u.seq > after {
		t.Errorf("first seq base %d, want the clock in µs (%d … %d)", u.seq, before, after)
	}
}

func TestJitter(t *testing.T) {
	u, _ := testUnit(t)
	for range 1000 {
		if d := u.jitter(); d < 1600*time.Millisecond || d > 2400*time.Millisecond {
			t.Fatalf("jittered interval %v, want 2 s ± 20%%", d)
		}
	}
}
