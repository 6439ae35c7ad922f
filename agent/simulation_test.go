package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"kuaifan/protocol"

	"kuaifan/hub/hubtest"
)

// cutter dials through net.Dialer until cut: then it closes the live
// connections and refuses new ones, as a radio link that went down.
type cutter struct {
	mu    sync.Mutex
	down  bool
	conns []*cutConn
}

// cutConn is a connection the cutter can cut. Its reads and writes fail
// with a reset rather than "use of closed network connection", which paho
// takes for its own close and ignores (it would wait for the keepalive).
type cutConn struct {
	net.Conn
	cut sync.Once
	was chan struct{}
}

var errCut = errors.New("connection reset (link cut)")

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	select {
	case <-c.was:
		return n, errCut
	default:
	}
	return n, err
}

func (c *cutConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	select {
	case <-c.was:
		return n, errCut
	default:
	}
	return n, err
}

func (c *cutConn) sever() {
	c.cut.Do(func() { close(c.was) })
	c.Conn.Close()
}

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errors.New("link down")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: conn, was: make(chan struct{})}
	c.conns = append(c.conns, cc)
	return cc, nil
}

func (c *cutter) set(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	if down {
		for _, conn := range c.conns {
			conn.sever()
		}
		c.conns = nil
	}
}

// A simulated unit: the queue in memory and nothing on disk, the link cut
// and restored below MQTT through Config.Dial (nothing queued meanwhile is
// lost), and OnAssignment told of the dispatch, the new location, the
// arrival by position and the cancel — but not of the officer's own ack.
func TestSimulatedUnit(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "sim-car-1", h.Enrol("sim-car-1", "car"))
	cfg.DataDir, cfg.MemoryQueue = "", true
	cut := &cutter{}
	cfg.Dial = cut.dial
	type note struct {
		as Assignment
		ok bool
	}
	notes := make(chan note, 16)
	cfg.OnAssignment = func(as Assignment, ok bool) { notes <- note{as, ok} }
	next := func(what string) note {
		t.Helper()
		select {
		case n := <-notes:
			return n
		case <-time.After(10 * time.Second):
			t.Fatalf("no OnAssignment for %s", what)
		}
		return note{}
	}
	r := start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "sim-car-1"); !u.Online || u.Lat == nil {
			return fmt.Errorf("not online with a position")
		}
		return nil
	})

	// The link goes down: positions queue up in memory and all reach the
	// hub once it is back.
	cut.set(true)
	waitFor(t, 10*time.Second, func() error {
		if r.Stats().Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	r.rec.resetOffline()
	time.Sleep(time.Second)
	if n := len(r.rec.offlineSeqs()); n < 5 {
		t.Fatalf("%d positions queued while cut", n)
	}
	cut.set(false)
	waitConfirmed(t, h, r, 20*time.Second)
	if s := r.Stats(); s.Reconnects < 1 || s.Dropped != 0 {
		t.Errorf("stats after the cut: %+v", s)
	}

	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "sim-car-1")
	if n := next("dispatch"); !n.ok || n.as.Incident != inc.ID || n.as.State != StateDispatched {
		t.Errorf("dispatch: %+v", n)
	}
	if err := r.Ack(inc.ID); err != nil {
		t.Fatal(err)
	}
	waitIncident(t, h, inc.ID, "sim-car-1", "enroute")
	moved := [2]float64{lat0 + north(400), lon0 + east(300)}
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/sightings",
		map[string]any{"lat": moved[0], "lon": moved[1], "source": "camera-3"}, nil); st != http.StatusOK {
		t.Fatalf("sighting: %d", st)
	}
	if n := next("update_location"); !n.ok || n.as.Lat != moved[0] || n.as.Lon != moved[1] || n.as.State != StateEnroute {
		t.Errorf("update_location: %+v", n)
	}
	r.Sim.Set(moved[0], moved[1], 1, 0)
	if n := next("arrival"); !n.ok || n.as.State != StateOnScene {
		t.Errorf("arrival: %+v", n)
	}
	if st := h.Do(http.MethodPost, "/api/incidents/"+inc.ID+"/close", nil, nil); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	if n := next("cancel"); n.ok {
		t.Errorf("cancel: %+v", n)
	}
	if r.Status() != protocol.StatusAvailable {
		t.Errorf("status %s after the cancel", r.Status())
	}
	select {
	case n := <-notes:
		t.Errorf("unexpected OnAssignment %+v", n)
	default:
	}
	waitConfirmed(t, h, r, 10*time.Second)
}

// MemoryQueue without a DataDir is a valid configuration; without either it is not.
func TestMemoryQueueConfig(t *testing.T) {
	cfg := testConfig(t, "tcp://127.0.0.1:1", "sim-foot-1", "secret")
	cfg.DataDir = ""
	if _, err := New(cfg); err == nil {
		t.Fatal("New without DataDir and MemoryQueue succeeded")
	}
	cfg.MemoryQueue = true
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetStatus(protocol.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.QueuedEvents != 1 {
		t.Errorf("stats %+v", s)
	}
	a.Close()
	// Over a custom Dial the agent speaks TLS itself (ssl://), but not
	// websockets.
	cfg.Broker = "ws://127.0.0.1:1/mqtt"
	cfg.Dial = (&net.Dialer{}).DialContext
	if _, err := New(cfg); err == nil {
		t.Error("a custom Dial with a ws:// broker was accepted")
	}
}
