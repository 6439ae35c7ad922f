package hub_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"kuaifan/protocol"
)

// rawUnit is a bare MQTT 3.1.1 client for load benchmarks: pre-built packets
// written straight to the socket, one reader goroutine. It costs a few
// microseconds per message where paho costs tens, so the load generator does
// not take the two cores the hub is measured on. The integration tests use
// paho; this only generates load.
type rawUnit struct {
	id    string
	conn  net.Conn
	mu    sync.Mutex // writes come from the reporter and the reader
	w     *bufio.Writer
	pid   uint16
	acked func(n int64)
	done  chan struct{}
}

func dialRaw(broker, id, secret string, acked func(n int64)) (*rawUnit, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	r := &rawUnit{id: id, conn: c, w: bufio.NewWriter(c), acked: acked, done: make(chan struct{})}
	// CONNECT: MQTT 3.1.1, clean session, username and password, no keepalive.
	var vh []byte
	vh = appendString(vh, "MQTT")
	vh = append(vh, 4, 0xC2, 0, 0)
	vh = appendString(vh, id)
	vh = appendString(vh, id)
	vh = appendString(vh, secret)
	if err := r.write(0x10, vh); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := readPacketInto(br, nil)
	if err != nil || typ != 0x20 || len(body) != 2 || body[1] != 0 {
		c.Close()
		return nil, fmt.Errorf("%s: connack %x %v %v", id, typ, body, err)
	}
	c.SetReadDeadline(time.Time{})
	// SUBSCRIBE to the unit's ack topic at QoS 1.
	sub := binary.BigEndian.AppendUint16(nil, 1)
	sub = appendString(sub, "rr/units/"+id+"/ack")
	sub = append(sub, 1)
	if err := r.write(0x82, sub); err != nil {
		c.Close()
		return nil, err
	}
	go r.read(br)
	return r, nil
}

// publish sends payload at QoS 1 (the broker's PUBACK is read and dropped:
// the hub's ack is what counts). The packet is written straight into the
// connection's buffer: nothing is allocated per message.
func (r *rawUnit) publish(topic string, payload []byte, retain bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pid++
	if r.pid == 0 {
		r.pid = 1
	}
	flags := byte(0x32)
	if retain {
		flags |= 1
	}
	r.writeHeader(flags, 2+len(topic)+2+len(payload))
	r.w.WriteByte(byte(len(topic) >> 8))
	r.w.WriteByte(byte(len(topic)))
	r.w.WriteString(topic)
	r.w.WriteByte(byte(r.pid >> 8))
	r.w.WriteByte(byte(r.pid))
	r.w.Write(payload)
	return r.w.Flush()
}

func (r *rawUnit) write(header byte, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeader(header, len(body))
	r.w.Write(body)
	return r.w.Flush()
}

// writeHeader writes a fixed header: the packet type and flags, then the
// remaining length in MQTT's variable-length encoding. The caller holds mu.
func (r *rawUnit) writeHeader(header byte, n int) {
	r.w.WriteByte(header)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		r.w.WriteByte(b)
		if n == 0 {
			return
		}
	}
}

// read answers the broker's QoS 1 deliveries (the hub's acks) and counts
// the sequence numbers they confirm.
func (r *rawUnit) read(br *bufio.Reader) {
	defer close(r.done)
	var buf []byte
	for {
		typ, body, err := readPacketInto(br, buf)
		buf = body
		if err != nil {
			return
		}
		if typ&0xF0 != 0x30 || len(body) < 2 {
			continue // PUBACK, SUBACK
		}
		tl := int(binary.BigEndian.Uint16(body))
		if len(body) < 2+tl+2 {
			continue
		}
		pid := body[2+tl : 2+tl+2]
		r.write(0x40, pid)
		if a, err := protocol.DecodeAck(body[2+tl+2:]); err == nil && r.acked != nil {
			r.acked(int64(a.Seqs.Len()))
		}
	}
}

func (r *rawUnit) close() {
	r.write(0xE0, nil) // DISCONNECT
	r.conn.Close()
	<-r.done
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// readPacketInto reads one packet, its body into buf's storage when it fits.
func readPacketInto(br *bufio.Reader, buf []byte) (byte, []byte, error) {
	h, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7F) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("bad remaining length")
		}
	}
	body := buf[:0]
	if cap(body) < n {
		body = make([]byte, n)
	}
	body = body[:n]
	_, err = io.ReadFull(br, body)
	return h, body, err
}
