package broker_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
	"kuaifan/hub/hubtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// creds is an in-memory Credentials.
type creds struct {
	mu      sync.Mutex
	secrets map[string]string
}

func newCreds(pairs ...string) *creds {
	c := &creds{secrets: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		c.secrets[pairs[i]] = pairs[i+1]
	}
	return c
}

func (c *creds) Verify(unit, secret string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[unit]
	return ok && s == secret
}

func (c *creds) set(unit, secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[unit] = secret
}

func (c *creds) revoke(unit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.secrets, unit)
}

// msg is one delivered message.
type msg struct {
	topic   string
	payload string
}

// recorder collects what a handler (or paho callback) receives.
type recorder struct {
	mu   sync.Mutex
	msgs []msg
}

func (r *recorder) handle(topic string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg{topic, string(payload)})
}

func (r *recorder) paho(_ paho.Client, m paho.Message) { r.handle(m.Topic(), m.Payload()) }

func (r *recorder) all() []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) has(topic, payload string) bool {
	return slices.Contains(r.all(), msg{topic, payload})
}

func (r *recorder) onTopic(topic string) []string {
	var out []string
	for _, m := range r.all() {
		if m.topic == topic {
			out = append(out, m.payload)
		}
	}
	return out
}

func (r *recorder) waitFor(t testing.TB, topic, payload string) {
	t.Helper()
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if r.has(topic, payload) {
			return nil
		}
		return fmt.Errorf("%s %q not received; got %v", topic, payload, r.all())
	})
}

// testLogger writes to the test log (and keeps everything for inspection).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// pahoOpts are a device's client options: MQTT 3.1.1 only (paho otherwise
// retries a refused CONNECT as 3.1, which would count every refusal twice),
// no reconnection, so a refusal or a drop stays visible.
func pahoOpts(url, unit, secret string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker(url).SetClientID(unit).SetUsername(unit).SetPassword(secret).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(nil)
}

// connect connects a paho client and disconnects it when the test ends.
func connect(t testing.TB, opts *paho.ClientOptions) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("paho connect did not complete")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func mustConnect(t testing.TB, opts *paho.ClientOptions) paho.Client {
	t.Helper()
	c, err := connect(t, opts)
	if err != nil {
		t.Fatalf("connect %s: %v", opts.ClientID, err)
	}
	return c
}

func waitTok(t testing.TB, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("paho token did not complete")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

// subscribeGranted subscribes and returns the QoS granted in the SUBACK.
func subscribeGranted(t testing.TB, c paho.Client, filter string, cb paho.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, cb)
	waitTok(t, tok)
	res := tok.(*paho.SubscribeToken).Result() // keyed without a $share/{group}/ prefix
	if len(res) != 1 {
		t.Fatalf("SUBACK results %v", res)
	}
	for _, q := range res {
		return q
	}
	return 0
}

// ---- raw MQTT, for what paho cannot express ----

type rawWill struct {
	topic, payload string
	retain         bool
}

type rawConnect struct {
	version           byte // 3 = 3.1, 4 = 3.1.1, 5 = MQTT 5
	clientID          string
	username          string
	password          string
	noPassword        bool
	will              *rawWill
	keepalive         uint16
	clean             bool
	appendAfterPacket []byte // sent in the same write as the CONNECT
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func packet(typeAndFlags byte, body []byte) []byte {
	return append(appendVarint([]byte{typeAndFlags}, len(body)), body...)
}

func (c rawConnect) bytes() []byte {
	var flags byte
	if c.clean {
		flags |= 0x02
	}
	if c.will != nil {
		flags |= 0x04 | 0x08 // will, QoS 1
		if c.will.retain {
			flags |= 0x20
		}
	}
	if c.username != "" {
		flags |= 0x80
	}
	if !c.noPassword {
		flags |= 0x40
	}
	name := "MQTT"
	if c.version == 3 {
		name = "MQIsdp" // MQTT 3.1
	}
	b := appendString(nil, name)
	b = append(b, c.version, flags)
	b = binary.BigEndian.AppendUint16(b, c.keepalive)
	if c.version == 5 {
		b = append(b, 0) // no properties
	}
	b = appendString(b, c.clientID)
	if c.will != nil {
		if c.version == 5 {
			b = append(b, 0)
		}
		b = appendString(b, c.will.topic)
		b = appendString(b, c.will.payload)
	}
	if c.username != "" {
		b = appendString(b, c.username)
	}
	if !c.noPassword {
		b = appendString(b, c.password)
	}
	return packet(0x10, b)
}

type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// connectRaw sends a CONNECT and returns the CONNACK's return code.
func connectRaw(t testing.TB, addr string, c rawConnect) (*rawConn, byte) {
	t.Helper()
	rc := dialRaw(t, addr)
	if c.keepalive == 0 {
		c.keepalive = 60
	}
	rc.send(t, append(c.bytes(), c.appendAfterPacket...))
	typ, body, err := rc.readPacket(5 * time.Second)
	if err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if typ>>4 != 2 || len(body) < 2 {
		t.Fatalf("want CONNACK, got type %#x body %x", typ, body)
	}
	return rc, body[1]
}

func (c *rawConn) send(t testing.TB, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func (c *rawConn) readPacket(timeout time.Duration) (byte, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mult
		if d&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

// expectClosed waits for the server to close the connection.
func (c *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, _, err := c.readPacket(5 * time.Second)
		if err == nil {
			continue // e.g. mochi's DISCONNECT before it closes
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			break
		}
		return
	}
	t.Fatal("connection still open")
}

func subscribePacket(id uint16, filter string, qos byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = appendString(b, filter)
	return packet(0x82, append(b, qos))
}
