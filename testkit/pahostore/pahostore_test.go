package pahostore

import (
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func publish(id uint16, payload string) *packets.PublishPacket {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Payload = "rr/units/x/telemetry", 1, id, []byte(payload)
	return p
}

// Every packet paho persists comes back equal, as a copy of its own.
func TestClone(t *testing.T) {
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.MessageID, sub.Topics, sub.Qoss = 3, []string{"rr/units/x/cmd", "rr/units/x/ack"}, []byte{1, 1}
	unsub := packets.NewControlPacket(packets.Unsubscribe).(*packets.UnsubscribePacket)
	unsub.MessageID, unsub.Topics = 4, []string{"rr/units/x/cmd"}
	rel := packets.NewControlPacket(packets.Pubrel).(*packets.PubrelPacket)
	rel.MessageID = 5
	qos2 := publish(6, "two")
	qos2.Qos = 2
	retained := publish(7, `{"online":false}`)
	retained.Retain, retained.TopicName = true, "rr/units/x/state"
	for _, c := range []struct {
		name string
		p    packets.ControlPacket
	}{
		{"publish QoS 1", publish(1, "abc")},
		{"publish QoS 1, empty payload", publish(2, "")},
		{"publish QoS 2", qos2},
		{"publish retained", retained},
		{"pubrel", rel},
		{"subscribe", sub},
		{"unsubscribe", unsub},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			s.Open()
			s.Put("o.1", c.p)
			want := c.p.String() // after Put: encoding sets the length field
			got := s.Get("o.1")
			if got == nil || got == c.p || got.String() != want {
				t.Fatalf("Get = %v (same packet: %v); want a copy of %v", got, got == c.p, want)
			}
			if again := s.Get("o.1"); again == got {
				t.Fatal("Get handed out the same packet twice")
			}
		})
	}
}

// The store keeps copies and hands out copies: what the writer or a resume
// does to a packet never reaches the stored one.
func TestCopies(t *testing.T) {
	s := New()
	s.Open()
	p := publish(7, "abc")
	s.Put("o.7", p)
	p.Payload[0], p.Dup = 'X', true
	got := s.Get("o.7").(*packets.PublishPacket)
	if string(got.Payload) != "abc" || got.Dup {
		t.Fatalf("stored packet shares the original: %v", got)
	}
	got.Dup, got.Payload[0] = true, 'Y'
	if again := s.Get("o.7").(*packets.PublishPacket); again.Dup || string(again.Payload) != "abc" {
		t.Fatal("Get handed out the stored packet itself")
	}
}

// What the store holds after paho's calls, in paho's order.
func TestKeys(t *testing.T) {
	p := publish(1, "abc")
	for _, c := range []struct {
		name string
		ops  func(s *store)
		keys []string
	}{
		{"put before open", func(s *store) { s.Put("o.1", p); s.Open() }, nil},
		{"put", func(s *store) { s.Open(); s.Put("o.1", p); s.Put("o.2", p) }, []string{"o.1", "o.2"}},
		{"put again", func(s *store) { s.Open(); s.Put("o.1", p); s.Put("o.1", publish(1, "new")) }, []string{"o.1"}},
		{"del", func(s *store) { s.Open(); s.Put("o.1", p); s.Put("o.2", p); s.Del("o.1") }, []string{"o.2"}},
		{"del a key never stored", func(s *store) { s.Open(); s.Put("o.1", p); s.Del("i.9") }, []string{"o.1"}},
		{"reset", func(s *store) { s.Open(); s.Put("o.1", p); s.Reset() }, nil},
		{"put after close", func(s *store) { s.Open(); s.Put("o.1", p); s.Close(); s.Put("o.2", p) }, []string{"o.1"}},
		{"reopened", func(s *store) { s.Open(); s.Close(); s.Open(); s.Put("o.3", p) }, []string{"o.3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New().(*store)
			c.ops(s)
			keys := s.All()
			slices.Sort(keys)
			if !slices.Equal(keys, c.keys) || s.len() != len(c.keys) {
				t.Fatalf("keys %v (len %d); want %v", keys, s.len(), c.keys)
			}
			for _, k := range c.keys {
				if s.Get(k) == nil {
					t.Errorf("Get(%q) = nil", k)
				}
			}
			if s.Get("o.99") != nil {
				t.Error("Get of a missing key is not nil")
			}
		})
	}
}

// paho's writer encodes the packet it was handed (which writes its length
// fields) while a resume gets the stored packet, sets DUP and sends it: with
// paho's MemoryStore both touch one packet, which -race reports; here each
// has its own.
func TestWriterAndResume(t *testing.T) {
	s := New()
	s.Open()
	p := publish(9, "position")
	s.Put("o.9", p)
	var wg sync.WaitGroup
	wg.Go(func() { // paho's writer, on the packet the publisher handed over
		for range 200 {
			if err := p.Write(io.Discard); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 { // resumes on reconnects
		wg.Go(func() {
			for range 50 {
				r := s.Get("o.9").(*packets.PublishPacket)
				r.Dup = true
				if err := r.Write(io.Discard); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
