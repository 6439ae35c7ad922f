package broker_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

// What anyone who can reach the port may do, without credentials, must not
// cost the hub more log than it costs the sender bytes: every refused CONNECT
// is counted, but the log gets the first few from an address, clipped, and
// then one line with the number left out.
func TestEmbeddedRefusedConnectsLogBounded(t *testing.T) {
	env := startEmbedded(t, nil)
	before := len(env.logs.String())
	// Ids as long as a CONNECT may carry (it is at most 4 KiB; a longer one
	// is cut at its header: TestEmbeddedConnectSizeBound), in id and username.
	big := strings.Repeat("x", 1900)
	for i := range 100 {
		id := fmt.Sprintf("%s%d", big, i)
		c := rawConnect{version: 4, clientID: id, username: id, password: "pw"}
		if i%2 == 1 {
			c.keepalive = 1 // mochi warns of a short keepalive, once per CONNECT
		}
		rc, code := connectRaw(t, env.addr, c)
		if code != 0x04 {
			t.Fatalf("CONNACK %#x, want 0x04", code)
		}
		rc.expectClosed(t)
		_ = rc.Close()
	}
	if got := env.refused(broker.ReasonUsername); got != 100 {
		t.Errorf("refusals counted %v, want 100", got)
	}
	if err := env.e.Close(); err != nil { // logs the count left out
		t.Fatal(err)
	}
	logs := env.logs.String()[before:]
	if len(logs) > 4<<10 {
		t.Fatalf("100 refused CONNECTs logged %d bytes:\n%.2000s", len(logs), logs)
	}
	if n := strings.Count(logs, `msg="broker: connection refused"`); n == 0 || n > 5 {
		t.Errorf("%d refusal lines, want 1..5:\n%s", n, logs)
	}
	if !strings.Contains(logs, "…") {
		t.Errorf("the client id is not shown clipped:\n%s", logs)
	}
	if !strings.Contains(logs, "not_logged=95") {
		t.Errorf("no summary of the refusals left out:\n%s", logs)
	}
}

// A CONNECT that cannot be read, or is not MQTT 3.1.1 as written, is refused,
// counted and (rate-limited) logged like any other; MQTT 3.1.1 has no return
// code for it, so the connection is closed without a CONNACK. A connection
// that closes without sending anything (a port probe) is no refusal.
func TestEmbeddedMalformedConnectsCounted(t *testing.T) {
	env := startEmbedded(t, func(c *broker.Config) { c.ConnectTimeout = 300 * time.Millisecond })
	good := rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1", keepalive: 60}

	probe := dialRaw(t, env.addr)
	_ = probe.Close()

	reserved := good.bytes()
	reserved[9] |= 0x01 // the CONNECT flags' reserved bit [MQTT-3.1.2-3]
	badName := good.bytes()
	copy(badName[4:8], "MQTX")
	truncated := good.bytes()
	truncated = truncated[:len(truncated)-3]
	cases := []struct {
		name, reason string
		send         []byte
		closeWrite   bool
	}{
		{"reserved flag set", broker.ReasonMalformed, reserved, false},
		{"first packet not a CONNECT", broker.ReasonMalformed, []byte{0xc0, 0x00}, false},
		{"CONNECT cut short", broker.ReasonMalformed, truncated, true},
		{"CONNECT body unreadable", broker.ReasonMalformed, packet(0x10, []byte{0x00, 0x40, 'M'}), false},
		{"protocol name not MQTT", broker.ReasonProtocol, badName, false},
		{"nothing sent in time", broker.ReasonConnectTimeout, nil, false},
		{"half a fixed header, then nothing", broker.ReasonConnectTimeout, []byte{0x10}, false},
	}
	want := map[string]float64{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := env.refused(tc.reason)
			rc := dialRaw(t, env.addr)
			if tc.send != nil {
				rc.send(t, tc.send)
			}
			if tc.closeWrite {
				if err := rc.Conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			typ, body, err := rc.readPacket(5 * time.Second)
			switch {
			case tc.reason == broker.ReasonProtocol:
				if err != nil || typ != 0x20 || len(body) != 2 || body[1] != 0x01 {
					t.Fatalf("want CONNACK 0x01, got %#x %x %v", typ, body, err)
				}
				rc.expectClosed(t)
			case err == nil:
				t.Fatalf("answered with %#x %x; want the connection closed", typ, body)
			}
			hubtest.WaitFor(t, 5*time.Second, func() error {
				if got := env.refused(tc.reason); got != before+1 {
					return fmt.Errorf("%s refusals %v, want %v", tc.reason, got, before+1)
				}
				return nil
			})
			want[tc.reason]++
		})
	}
	if err := env.e.Close(); err != nil { // waits for every connection's end
		t.Fatal(err)
	}
	for _, r := range []string{broker.ReasonMalformed, broker.ReasonProtocol, broker.ReasonConnectTimeout,
		broker.ReasonNoPassword, broker.ReasonCredentials, broker.ReasonUsername} {
		if got := env.refused(r); got != want[r] {
			t.Errorf("%s refusals %v, want %v (the probe counted?)", r, got, want[r])
		}
	}
}

// mochi drops a device's publish to $SYS/… before the ACL check: no PUBACK,
// no denial counted, and a 3.1.1 client waits for its PUBACK forever. It gets
// what any other topic outside the unit's own gets: QoS 0 dropped, QoS 1 the
// end of the connection (MQTT 3.1/3.1.1 has no way to say "not authorised"
// in a PUBACK), counted as a denied publish.
func TestEmbeddedPublishToSysDenied(t *testing.T) {
	env := startEmbedded(t, nil)
	all := env.subscribe(t, "#")
	sys := env.subscribe(t, "$SYS/#")
	own := topic("u1", protocol.KindTelemetry)
	denied := 0.0

	t.Run("3.1.1 QoS 1: disconnected", func(t *testing.T) {
		for _, to := range []string{"$SYS/anything", "$sys/broker/clients/connected", "$SYSTEM"} {
			opts := pahoOpts(env.url, "u1", "s1")
			lost := lostSignal(opts)
			c := mustConnect(t, opts)
			c.Publish(to, 1, false, "forged")
			waitLost(t, lost, to)
			denied++
			if got := env.denied(broker.ActionPublish); got != denied {
				t.Errorf("%s: publish denials %v, want %v", to, got, denied)
			}
		}
	})
	t.Run("3.1.1 QoS 0: dropped, the connection stays", func(t *testing.T) {
		c := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
		waitTok(t, c.Publish("$SYS/anything", 0, false, "forged"))
		waitTok(t, c.Publish(own, 1, false, "after QoS 0"))
		all.waitFor(t, own, "after QoS 0")
		denied++
		if got := env.denied(broker.ActionPublish); got != denied {
			t.Errorf("publish denials %v, want %v", got, denied)
		}
	})
	t.Run("3.1 QoS 1: disconnected, no PUBACK", func(t *testing.T) {
		rc, code := connectRaw(t, env.addr, rawConnect{version: 3, clientID: "u1", username: "u1", password: "s1"})
		if code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		b := appendString(nil, "$SYS/x")
		b = binary.BigEndian.AppendUint16(b, 9)
		rc.send(t, packet(0x32, append(b, "forged"...)))
		if typ, body, err := rc.readPacket(5 * time.Second); err == nil && typ == 0x40 {
			t.Fatalf("PUBACK %x for a publish to $SYS", body)
		}
		rc.expectClosed(t)
		denied++
		hubtest.WaitFor(t, 5*time.Second, func() error {
			if got := env.denied(broker.ActionPublish); got != denied {
				return fmt.Errorf("publish denials %v, want %v", got, denied)
			}
			return nil
		})
	})
	t.Run("MQTT 5: refused at CONNECT, before any publish", func(t *testing.T) {
		before := env.refused(broker.ReasonProtocol)
		b := appendString(nil, "$SYS/x")
		b = binary.BigEndian.AppendUint16(b, 9)
		b = append(b, 0) // no properties
		rc, code := connectRaw(t, env.addr, rawConnect{version: 5, clientID: "u1", username: "u1", password: "s1",
			appendAfterPacket: packet(0x32, append(b, "forged"...))})
		if code != 0x84 {
			t.Fatalf("CONNACK %#x, want 0x84", code)
		}
		rc.expectClosed(t)
		if got := env.refused(broker.ReasonProtocol); got != before+1 {
			t.Errorf("protocol refusals %v, want %v", got, before+1)
		}
		if got := env.denied(broker.ActionPublish); got != denied {
			t.Errorf("publish denials %v, want %v (nothing was published)", got, denied)
		}
	})
	for _, m := range append(all.all(), sys.all()...) {
		if m.payload == "forged" {
			t.Errorf("forged message on %s reached the hub", m.topic)
		}
	}
	if !strings.Contains(env.logs.String(), `msg="broker: denied" action=publish unit=u1 topic=$SYS/anything`) {
		t.Errorf("denial not logged:\n%s", env.logs.String())
	}
}

// An empty password (the flag set, zero bytes) is a wrong password: on MQTT
// 3.1/3.1.1 it gets return code 0x04, never mochi's MQTT 5 "protocol
// violation" (0x82), and it is counted. MQTT 5 is refused for its version
// (0x84, an MQTT 5 code) before any credential is looked at.
func TestEmbeddedEmptyPasswordConnack(t *testing.T) {
	env := startEmbedded(t, nil)
	cases := []struct {
		name   string
		c      rawConnect
		code   byte
		reason string
	}{
		{"3.1.1, empty password", rawConnect{version: 4, clientID: "u1", username: "u1"}, 0x04, broker.ReasonNoPassword},
		{"3.1, empty password", rawConnect{version: 3, clientID: "u1", username: "u1"}, 0x04, broker.ReasonNoPassword},
		{"3.1.1, no password", rawConnect{version: 4, clientID: "u1", username: "u1", noPassword: true}, 0x04, broker.ReasonNoPassword},
		{"3.1.1, empty password, no username", rawConnect{version: 4, clientID: "u1"}, 0x04, broker.ReasonUsername},
		{"3.1.1, empty password and client id, not clean", rawConnect{version: 4, username: "u1"}, 0x02, broker.ReasonClientID},
		{"MQTT 5, empty password", rawConnect{version: 5, clientID: "u1", username: "u1"}, 0x84, broker.ReasonProtocol},
		{"MQTT 5, no password", rawConnect{version: 5, clientID: "u1", username: "u1", noPassword: true}, 0x84, broker.ReasonProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := env.refused(tc.reason)
			rc, code := connectRaw(t, env.addr, tc.c)
			if code != tc.code {
				t.Errorf("CONNACK %#x, want %#x", code, tc.code)
			}
			rc.expectClosed(t)
			if got := env.refused(tc.reason); got != before+1 {
				t.Errorf("%s refusals %v, want %v", tc.reason, got, before+1)
			}
		})
	}
}
