// Package link is a unit's radio link, below MQTT: the agent dials the
// broker through it. It can be cut (an outage, a tunnel, a dead cell) and
// restored, and a fault can slip packets into the unit's own connection.
package link

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"
)

// Link is a unit's radio link, below MQTT: the unit's agent dials the broker
// through it (agent.Config.Dial). Cutting it severs the connection and refuses
// new dials until it is restored, as a tunnel or a dead cell does: the agent
// sees its connection reset, queues what it reports, and reconnects with its
// own backoff once the link is back. Everything the agent writes passes
// through it, so a fault can slip packets into the unit's own connection —
// its recent telemetry again, out of order (a relay duplicating and
// reordering), or garbage — as that unit, without a second client taking
// over its session.
type Link struct {
	telemetryTopic string // the unit's, to recognise its reports
	keep           bool   // remember recent telemetry (only the duplicate fault needs it)
	encrypted      bool   // the agent speaks TLS over the link: nothing to read or slip in

	mu     sync.Mutex
	downs  int // cuts in force: an outage and a link_drop may overlap
	conn   *linkConn
	recent [][]byte // the last recentKeep telemetry payloads written, oldest first
}

// New is the link of the unit whose telemetry goes to telemetryTopic; with
// keep, it remembers the unit's latest reports (for the duplicate fault).
// encrypted says the agent speaks TLS over it: it can still be cut, but
// nothing can be slipped into the MQTT stream, nor reports remembered.
func New(telemetryTopic string, keep, encrypted bool) *Link {
	return &Link{telemetryTopic: telemetryTopic, keep: keep && !encrypted, encrypted: encrypted}
}

// ErrEncrypted is what Inject returns on a link carrying TLS.
var ErrEncrypted = errors.New("the link carries TLS: nothing can be slipped into the unit's MQTT stream")

// TelemetryTopic is the unit's telemetry topic.
func (l *Link) TelemetryTopic() string { return l.telemetryTopic }

// recentKeep is how many of its latest reports a unit's link remembers for
// the duplicate fault: a few seconds to a minute of track.
const recentKeep = 8

// errLinkDown is what a dial gets while the link is cut.
var errLinkDown = errors.New("simulated link down: no network")

// errLinkReset is what reads and writes on a severed connection get. Not the
// net package's "use of closed network connection": paho takes that for its
// own close and ignores it, and would notice the loss only at the next
// keepalive.
var errLinkReset = errors.New("connection reset by the simulated link")

var dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}

// Dial is the agent's Config.Dial.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.isDown() {
		return nil, errLinkDown
	}
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	lc := &linkConn{Conn: c, l: l, severed: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.downs > 0 { // cut while dialling
		c.Close()
		return nil, errLinkDown
	}
	l.conn = lc
	return lc, nil
}

func (l *Link) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.downs > 0
}

// Cut severs the connection and refuses dials until a restore for each cut.
func (l *Link) Cut() {
	l.mu.Lock()
	l.downs++
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		c.sever()
	}
}

// Restore ends one cut.
func (l *Link) Restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.downs > 0 {
		l.downs--
	}
}

// RecentTelemetry returns copies of the latest telemetry payloads, oldest first.
func (l *Link) RecentTelemetry() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([][]byte, len(l.recent))
	copy(out, l.recent)
	return out
}

func (l *Link) remember(payload []byte) {
	p := append([]byte(nil), payload...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) == recentKeep {
		l.recent = append(l.recent[:0], l.recent[1:]...)
	}
	l.recent = append(l.recent, p)
}

// Inject writes QoS 0 PUBLISH packets on topic into the unit's connection,
// between the agent's own packets. It returns how many went out.
func (l *Link) Inject(topic string, payloads ...[]byte) (int, error) {
	if l.encrypted {
		return 0, ErrEncrypted
	}
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil {
		return 0, errors.New("not connected")
	}
	n := 0
	for _, p := range payloads {
		if _, err := c.writePacket(publishPacket(topic, p)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// publishPacket encodes an MQTT 3.1.1 PUBLISH at QoS 0, no retain: at QoS 0
// there is no packet id to collide with the client's own.
func publishPacket(topic string, payload []byte) []byte {
	rem := 2 + len(topic) + len(payload)
	b := make([]byte, 0, 5+rem)
	b = append(b, 0x30)
	for {
		d := byte(rem % 128)
		rem /= 128
		if rem > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if rem == 0 {
			break
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	return append(b, payload...)
}

// parsePublish reads a PUBLISH packet written whole (paho writes each packet
// with one Write). ok is false for anything else.
func parsePublish(b []byte) (topic string, payload []byte, ok bool) {
	if len(b) < 2 || b[0]>>4 != 3 {
		return "", nil, false
	}
	qos := (b[0] >> 1) & 3
	rem, mul, i := 0, 1, 1
	for ; i < len(b) && i <= 4; i++ {
		rem += int(b[i]&0x7f) * mul
		mul *= 128
		if b[i]&0x80 == 0 {
			break
		}
	}
	i++
	if i+rem != len(b) || rem < 2 {
		return "", nil, false
	}
	tl := int(binary.BigEndian.Uint16(b[i:]))
	i += 2
	if i+tl > len(b) {
		return "", nil, false
	}
	topic = string(b[i : i+tl])
	i += tl
	if qos > 0 {
		i += 2
	}
	if i > len(b) {
		return "", nil, false
	}
	return topic, b[i:], true
}

// linkConn is one connection through the link.
type linkConn struct {
	net.Conn
	l       *Link
	wmu     sync.Mutex // whole packets: the agent's and injected ones never interleave
	once    sync.Once
	severed chan struct{}
}

func (c *linkConn) sever() {
	c.once.Do(func() { close(c.severed) })
	c.Conn.Close()
}

func (c *linkConn) isSevered() bool {
	select {
	case <-c.severed:
		return true
	default:
		return false
	}
}

func (c *linkConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.isSevered() {
		err = errLinkReset
	}
	return n, err
}

func (c *linkConn) Write(p []byte) (int, error) {
	n, err := c.writePacket(p)
	if err == nil && c.l.keep {
		if topic, payload, ok := parsePublish(p); ok && topic == c.l.telemetryTopic {
			c.l.remember(payload)
		}
	}
	return n, err
}

func (c *linkConn) writePacket(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isSevered() {
		return 0, errLinkReset
	}
	n, err := c.Conn.Write(p)
	if err != nil && c.isSevered() {
		err = errLinkReset
	}
	return n, err
}
