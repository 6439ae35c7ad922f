package broker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

// A first packet claiming more than 4 KiB ends the connection as soon as
// its header is read — an unauthenticated client can no longer hold the
// broker's 64 KiB packet buffer for the whole connect timeout with five
// bytes — while a device's CONNECT, Last Will and all, is admitted.
func TestEmbeddedConnectSizeBound(t *testing.T) {
	env := startEmbedded(t, func(c *broker.Config) { c.ConnectTimeout = 30 * time.Second })
	refused := func() float64 { return env.refused(broker.ReasonMalformed) }
	countedOnce := func(t *testing.T, before float64) {
		t.Helper()
		hubtest.WaitFor(t, 5*time.Second, func() error {
			if got := refused(); got != before+1 {
				return fmt.Errorf("malformed refusals %v, want %v", got, before+1)
			}
			return nil
		})
	}

	for _, tc := range []struct {
		name   string
		header []byte
	}{
		{"claims 60,000 bytes", []byte{0x10, 0xe0, 0xd4, 0x03}},
		{"claims 4,097 bytes, the field in two writes", []byte{0x10, 0x81, 0x20}},
		{"a length field of five bytes", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refused()
			rc := dialRaw(t, env.addr)
			start := time.Now()
			for _, b := range tc.header {
				rc.send(t, []byte{b}) // byte by byte: the header may come in pieces
				time.Sleep(5 * time.Millisecond)
			}
			rc.expectClosed(t)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closed after %v: the connect timeout, not the header", d)
			}
			countedOnce(t, before)
		})
	}

	t.Run("a whole CONNECT of 5,000 bytes, with the right secret", func(t *testing.T) {
		before := refused()
		rc := dialRaw(t, env.addr)
		_, _ = rc.Write(rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1", keepalive: 60,
			will: &rawWill{topic: topic("u1", protocol.KindState), payload: strings.Repeat("x", 5000)}}.bytes())
		if typ, body, err := rc.readPacket(5 * time.Second); err == nil {
			t.Fatalf("answered %#x %x", typ, body)
		}
		countedOnce(t, before)
	})
}

// The bound leaves room for what a device sends: a Last Will of 3,000 bytes.
func TestEmbeddedConnectWithinBound(t *testing.T) {
	env := startEmbedded(t, nil)
	will := strings.Repeat("w", 3000)
	got := env.subscribe(t, topic("u1", protocol.KindState))
	rc, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1",
		will: &rawWill{topic: topic("u1", protocol.KindState), payload: will}})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	rc.Close() // without DISCONNECT: the will goes out
	got.waitFor(t, topic("u1", protocol.KindState), will)
}
