package hubtest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/protocol"
	"kuaifan/testkit/pahostore"
)

// Device is a real paho MQTT client playing a patrol unit by the contract:
// client id = username = unit id, retained state with a Last Will, QoS 1,
// subscribed to its ack and cmd topics. Tests drive it message by message.
type Device struct {
	ID     string
	Boot   string
	Client mqtt.Client
	topics protocol.Topics
	t      testing.TB

	mu       sync.Mutex
	acked    protocol.Ranges
	commands [][]byte
	conn     net.Conn // the current TCP connection, so Kill can cut it
}

// DeviceOptions adjust how a Device connects; the zero value follows the contract.
type DeviceOptions struct {
	Root          string // topic root; default "rr"
	ClientID      string // default: the unit id
	NoState       bool   // don't publish the online state on connect
	AutoReconnect bool
	// TLS, if set, wraps the connection in TLS with it (an ssl:// broker
	// URL, e.g. Hub.MQTTSURL); ServerName defaults to the URL's host.
	TLS *tls.Config
}

// Connect connects a device to the broker at brokerURL and fails the test if
// the broker refuses it. Use Dial to see the error instead.
func Connect(t testing.TB, brokerURL, id, secret string, opts DeviceOptions) *Device {
	t.Helper()
	d, err := Dial(t, brokerURL, id, secret, opts)
	if err != nil {
		t.Fatalf("device %s: connect: %v", id, err)
	}
	return d
}

// Dial connects like Connect and returns the broker's refusal as an error.
func Dial(t testing.TB, brokerURL, id, secret string, opts DeviceOptions) (*Device, error) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	d := &Device{ID: id, Boot: hex.EncodeToString(b[:]), topics: protocol.Topics{Root: opts.Root}, t: t}
	will, err := protocol.Encode(protocol.State{Unit: id, Online: false, Boot: d.Boot})
	if err != nil {
		t.Fatal(err)
	}
	clientID := opts.ClientID
	if clientID == "" {
		clientID = id
	}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).
		SetUsername(id).SetPassword(secret).SetProtocolVersion(4).
		SetCleanSession(false).SetAutoReconnect(opts.AutoReconnect).
		SetConnectRetry(false).SetConnectTimeout(5*time.Second).SetStore(pahostore.New()).
		SetMaxReconnectInterval(500*time.Millisecond).
		// paho blocks a Publish whose connection just dropped for WriteTimeout (30 s by default).
		SetWriteTimeout(time.Second).
		SetBinaryWill(d.topics.Unit(id, protocol.KindState), will, 1, true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err == nil && opts.TLS != nil {
				cfg := opts.TLS.Clone()
				if cfg.ServerName == "" {
					cfg.ServerName = u.Hostname()
				}
				tc := tls.Client(c, cfg)
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err = tc.Handshake(); err != nil {
					c.Close()
					return nil, err
				}
				tc.SetDeadline(time.Time{})
				c = tc
			}
			if err == nil {
				d.mu.Lock()
				d.conn = c
				d.mu.Unlock()
			}
			return c, err
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Never wait inside a paho handler: it can deadlock the client.
			c.Subscribe(d.topics.Unit(id, protocol.KindAck), 1, d.onAck)
			c.Subscribe(d.topics.Unit(id, protocol.KindCmd), 1, d.onCmd)
			if !opts.NoState {
				online, _ := protocol.Encode(protocol.State{Unit: id, Online: true, Boot: d.Boot, Agent: "hubtest"})
				c.Publish(d.topics.Unit(id, protocol.KindState), 1, true, online)
			}
		})
	d.Client = mqtt.NewClient(o)
	tok := d.Client.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { d.Client.Disconnect(50) })
	return d, nil
}

func (d *Device) onAck(_ mqtt.Client, m mqtt.Message) {
	a, err := protocol.DecodeAck(m.Payload())
	if err != nil {
		d.t.Errorf("device %s: bad ack %s: %v", d.ID, m.Payload(), err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.acked = d.acked.Union(a.Seqs)
}

func (d *Device) onCmd(_ mqtt.Client, m mqtt.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.commands = append(d.commands, append([]byte(nil), m.Payload()...))
}

// Fix is a telemetry message at a place and time.
func (d *Device) Fix(seq uint64, ts time.Time, lat, lon float64, status protocol.Status) protocol.Telemetry {
	return protocol.Telemetry{Unit: d.ID, Seq: seq, TS: ts.UnixMilli(), Lat: lat, Lon: lon, Status: status}
}

// Send publishes a telemetry message at QoS 1 and waits for the broker's PUBACK.
func (d *Device) Send(tm protocol.Telemetry) {
	d.t.Helper()
	payload, err := protocol.Encode(tm)
	if err != nil {
		d.t.Fatal(err)
	}
	d.Publish(protocol.KindTelemetry, payload)
}

// Publish sends raw bytes on one of the device's own topics, QoS 1.
func (d *Device) Publish(kind protocol.Kind, payload []byte) {
	d.t.Helper()
	d.PublishTo(d.topics.Unit(d.ID, kind), payload)
}

// PublishTo sends raw bytes on any topic, QoS 1, waiting up to 5 s for the PUBACK.
func (d *Device) PublishTo(topic string, payload []byte) error {
	tok := d.Client.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5 * time.Second) {
		return fmt.Errorf("publish to %s timed out", topic)
	}
	return tok.Error()
}

// Acked reports whether the hub has confirmed seq.
func (d *Device) Acked(seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked.Contains(seq)
}

// AckedRanges returns everything the hub has confirmed so far.
func (d *Device) AckedRanges() protocol.Ranges {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append(protocol.Ranges(nil), d.acked...)
}

// WaitAcked waits until the hub has confirmed every seq.
func (d *Device) WaitAcked(seqs ...uint64) {
	d.t.Helper()
	WaitFor(d.t, 10*time.Second, func() error {
		for _, s := range seqs {
			if !d.Acked(s) {
				return fmt.Errorf("device %s: seq %d not confirmed (confirmed: %v)", d.ID, s, d.AckedRanges())
			}
		}
		return nil
	})
}

// Commands returns the payloads received on the device's cmd topic.
func (d *Device) Commands() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.commands...)
}

// Kill cuts the TCP connection without an MQTT DISCONNECT, as a lost radio
// link or a crash would: the broker then publishes the Last Will.
func (d *Device) Kill() {
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// SendEvent publishes an event (ack, decline, arrived, cleared, status) at QoS 1.
func (d *Device) SendEvent(seq uint64, typ protocol.EventType, incident string) {
	d.t.Helper()
	payload, err := protocol.Encode(protocol.Event{Unit: d.ID, Seq: seq, TS: time.Now().UnixMilli(), Type: typ, Incident: incident})
	if err != nil {
		d.t.Fatal(err)
	}
	d.Publish(protocol.KindEvents, payload)
}

// WaitCommand waits for a command of the given type about the incident and
// returns the first one not returned before.
func (d *Device) WaitCommand(typ protocol.CommandType, incident string) protocol.Command {
	d.t.Helper()
	var found protocol.Command
	WaitFor(d.t, 10*time.Second, func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, raw := range d.commands {
			c, err := protocol.DecodeCommand(raw)
			if err != nil {
				return fmt.Errorf("device %s: bad command %s: %v", d.ID, raw, err)
			}
			if c.Type == typ && c.Incident == incident {
				found = c
				d.commands = append(d.commands[:i:i], d.commands[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("device %s: no %s command for %s (has %d others)", d.ID, typ, incident, len(d.commands))
	})
	return found
}
