package broker_test

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

// gatedCreds holds a Verify, once gated, until released: a CONNECT caught
// between its secret's check and its session.
type gatedCreds struct {
	*creds
	gate    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedCreds) Verify(unit, secret string) bool {
	ok := g.creds.Verify(unit, secret)
	if g.gate.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return ok
}

// A unit revoked while its CONNECT is in the handshake — its secret checked
// just before the hub revoked it and called Disconnect, its session made
// just after — must not stay connected: a lost or stolen device is cut the
// moment it is revoked, whatever it was doing.
func TestEmbeddedRevokeDuringConnect(t *testing.T) {
	g := &gatedCreds{creds: newCreds("u1", "s1", "u2", "s2"), entered: make(chan struct{}), release: make(chan struct{})}
	env := startEmbedded(t, func(c *broker.Config) { c.Credentials = g })
	got := env.subscribe(t, topic("u1", protocol.KindTelemetry))
	g.gate.Store(true)
	rc := dialRaw(t, env.addr)
	rc.send(t, rawConnect{version: 4, clientID: "u1", username: "u1", password: "s1", keepalive: 60}.bytes())
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Verify not called")
	}
	g.gate.Store(false)
	// What the hub does to revoke a unit: the secret goes, then Disconnect.
	g.revoke("u1")
	env.e.Disconnect("u1")
	close(g.release)

	// Refused, or admitted and cut at once; never admitted for good.
	b := appendString(nil, topic("u1", protocol.KindTelemetry))
	b = binary.BigEndian.AppendUint16(b, 1)
	_, _ = rc.Write(packet(0x32, append(b, "from-a-revoked-unit"...)))
	rc.expectClosed(t)
	if msgs := got.all(); len(msgs) != 0 {
		t.Errorf("the hub received %v from a revoked unit", msgs)
	}
	if n := env.e.ClientsGauge(); n != 0 {
		t.Errorf("%v clients connected after the revocation", n)
	}
	// Other units go on.
	rc2, code := connectRaw(t, env.addr, rawConnect{version: 4, clientID: "u2", username: "u2", password: "s2"})
	if code != 0 {
		t.Fatalf("u2 CONNACK %#x", code)
	}
	rc2.Close()
}
