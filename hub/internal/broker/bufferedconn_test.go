package broker

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// countingConn counts the reads that reach the connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// The hub reads an external broker's packets through a buffer: paho's small
// reads (type, length bytes, body) no longer each reach the connection, and
// every packet arrives whole and in order.
func TestBufferedConnReads(t *testing.T) {
	const n = 200
	var wire bytes.Buffer
	for i := range n {
		pk := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		pk.Qos, pk.MessageID = 1, uint16(i+1)
		pk.TopicName = fmt.Sprintf("kuaifan/u%d/telemetry", i)
		pk.Payload = bytes.Repeat([]byte{byte(i)}, 100+i)
		if err := pk.Write(&wire); err != nil {
			t.Fatal(err)
		}
	}
	server, client := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		b := wire.Bytes()
		for len(b) > 0 { // the broker's writes, 4 KiB at a time
			k := min(4096, len(b))
			if _, err := server.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
	}()
	counted := &countingConn{Conn: client}
	conn := &bufferedConn{Conn: counted, r: newRemoteReader(counted)}
	for i := range n {
		cp, err := packets.ReadPacket(conn)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		pk, ok := cp.(*packets.PublishPacket)
		if !ok || pk.MessageID != uint16(i+1) || pk.TopicName != fmt.Sprintf("kuaifan/u%d/telemetry", i) ||
			!bytes.Equal(pk.Payload, bytes.Repeat([]byte{byte(i)}, 100+i)) {
			t.Fatalf("packet %d arrived as %v", i, cp)
		}
	}
	// Bare, paho makes at least three reads a packet: 600 here.
	if counted.reads > wire.Len()/4096+n/10 {
		t.Errorf("%d reads reached the connection for %d packets (%d bytes)", counted.reads, n, wire.Len())
	}
}
