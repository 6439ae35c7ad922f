package broker_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// A burst of QoS 1 publishes in one write (an agent's backlog sent after a
// radio gap, up to 1,024 in flight): every publish reaches the hub, every
// PUBACK comes back in the order of the publishes [MQTT-4.6.0-2]; a single
// publish later is answered at once, and so is a ping.
func TestEmbeddedPubacksOfABurst(t *testing.T) {
	env := startEmbedded(t, nil)
	got := env.subscribe(t, topic("u1", "telemetry"))
	rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1"})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	publish := func(id uint16) []byte {
		b := appendString(nil, topic("u1", "telemetry"))
		b = binary.BigEndian.AppendUint16(b, id)
		return packet(0x32, append(b, fmt.Sprintf(`{"n":%d}`, id)...))
	}
	expectAck := func(id uint16) {
		t.Helper()
		typ, body, err := rc.readPacket(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the PUBACK of %d: %v", id, err)
		}
		if typ != 0x40 || len(body) != 2 || binary.BigEndian.Uint16(body) != id {
			t.Fatalf("got packet %#x %x, want the PUBACK of %d", typ, body, id)
		}
	}
	const burst = 1024
	var b []byte
	for id := uint16(1); id <= burst; id++ {
		b = append(b, publish(id)...)
	}
	rc.send(t, b)
	for id := uint16(1); id <= burst; id++ {
		expectAck(id)
	}
	if n := len(got.all()); n != burst {
		t.Errorf("%d publishes reached the hub, want %d", n, burst)
	}

	rc.send(t, publish(burst+1))
	expectAck(burst + 1)
	rc.send(t, []byte{0xc0, 0}) // PINGREQ
	if typ, _, err := rc.readPacket(5 * time.Second); err != nil || typ != 0xd0 {
		t.Fatalf("PINGRESP: %#x, %v", typ, err)
	}
}
