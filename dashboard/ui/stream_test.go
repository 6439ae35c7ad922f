package ui

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// streamUnderTest runs a Stream against the fake hub and collects what the
// UI would take.
type streamUnderTest struct {
	*Stream
	mu     sync.Mutex
	frames []*Frame
	links  []Link
	done   chan error
	cancel context.CancelFunc
}

func runStream(t *testing.T, h *fakeHub, tune func(*Stream)) *streamUnderTest {
	t.Helper()
	st := &streamUnderTest{Stream: &Stream{API: &API{Base: h.srv.URL, Token: h.token},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, done: make(chan error, 1)}
	// Notify only says "take"; taking happens on another goroutine, as the
	// UI's would, and may lag behind.
	notify := make(chan struct{}, 1)
	st.Notify = func() {
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	if tune != nil {
		tune(st.Stream)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	go func() { st.done <- st.Run(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-notify:
				fs, l, changed := st.Take()
				st.mu.Lock()
				st.frames = append(st.frames, fs...)
				if changed {
					st.links = append(st.links, l)
				}
				st.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-st.done:
		case <-time.After(10 * time.Second):
			t.Error("the stream goroutine did not stop")
		}
	})
	return st
}

func (st *streamUnderTest) nFrames() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.frames)
}

func (st *streamUnderTest) lastLink() Link {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.links) == 0 {
		return Link{}
	}
	return st.links[len(st.links)-1]
}

func bigSnapshot(seq uint64, n int) *Frame {
	units := make([]Unit, n)
	for i := range units {
		units[i] = unitAt("unit-"+strconv.Itoa(i), protocol.TypeCar, protocol.StatusAvailable, 28.2, 112.98, 1)
		units[i].Capabilities = []string{"armed", "medical"}
		units[i].Callsign = "湘A-" + strconv.Itoa(i)
	}
	return &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: seq, TS: 1, Units: units, Incidents: []Incident{}}}
}

func (st *streamUnderTest) frame(i int) *Frame {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.frames[i]
}

func (h *fakeHub) ticketsIssued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.issued
}

// coder/websocket pitfall: the default read limit is 32 KiB and a larger
// message closes the connection — a snapshot of a city is megabytes.
func TestStreamReadsBigSnapshot(t *testing.T) {
	h := newFakeHub(t)
	st := runStream(t, h, nil)
	c := h.conn(t)
	snap := bigSnapshot(7, 10000)
	c.send(t, snap)
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 8, TS: 2}})
	eventually(t, "the snapshot and a delta", func() bool { return st.nFrames() == 2 })
	if f := st.frame(0); f.Type != api.FrameSnapshot || len(f.Units) != 10000 || f.conn == 0 || f.received == 0 {
		t.Errorf("snapshot %s with %d units", f.Type, len(f.Units))
	}
	if st.lastLink().State != LinkConnected {
		t.Errorf("link %+v", st.lastLink())
	}
	if n := h.ticketsIssued(); n != 1 {
		t.Errorf("%d tickets for one connection", n)
	}
}

// Reconnects take a new single-use ticket each time, with the ticket — never
// the token — in the URL, and no compression offered.
func TestStreamReconnects(t *testing.T) {
	h := newFakeHub(t)
	st := runStream(t, h, nil)
	for i := range 3 {
		c := h.conn(t)
		c.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: uint64(10 * i), TS: 1, Units: []Unit{}, Incidents: []Incident{}}})
		eventually(t, "connected", func() bool { return st.lastLink().State == LinkConnected && st.nFrames() == i+1 })
		c.Close(websocket.StatusGoingAway, "hub shutting down")
		c.end()
		eventually(t, "reconnecting", func() bool { return st.lastLink().State == LinkReconnecting })
	}
	h.conn(t) // the fourth connection
	h.tokenNeverInURLs(t)
	h.mu.Lock()
	if h.issued < 4 || len(h.wsQueries) < 4 {
		t.Errorf("%d tickets, %d connections", h.issued, len(h.wsQueries))
	}
	seen := map[string]bool{}
	for _, q := range h.wsQueries {
		if !strings.HasPrefix(q, "ticket=") || seen[q] {
			t.Errorf("ws query %q (reused or not a ticket)", q)
		}
		seen[q] = true
	}
	for _, ext := range h.wsExt {
		if ext != "" {
			t.Errorf("compression offered: %q", ext)
		}
	}
	h.mu.Unlock()
	// Frames carry which connection they came on: the store tells a resync
	// from a reconnect by it.
	if st.frame(0).conn == st.frame(1).conn {
		t.Error("two connections, one conn number")
	}
}

// coder/websocket pitfall: a context that expires during a read closes the
// connection. The client must not put a deadline on reads: a hub with
// nothing to say for longer than any timeout is still connected.
func TestStreamQuietHubIsNotDead(t *testing.T) {
	h := newFakeHub(t)
	st := runStream(t, h, func(s *Stream) { s.DialTimeout = 150 * time.Millisecond })
	c := h.conn(t)
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: 1, Units: []Unit{}, Incidents: []Incident{}}})
	eventually(t, "the snapshot", func() bool { return st.nFrames() == 1 })
	time.Sleep(600 * time.Millisecond) // four dial timeouts of silence
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 2, TS: 2}})
	eventually(t, "the delta on the same connection", func() bool { return st.nFrames() == 2 })
	if n := h.ticketsIssued(); n != 1 || st.lastLink().State != LinkConnected {
		t.Errorf("%d tickets, link %+v: the quiet connection was dropped", n, st.lastLink())
	}
}

// coder/websocket pitfall: a connection must be read continuously or pings
// (and close frames) are never answered. The client reads on its own
// goroutine even while the UI has not taken anything.
func TestStreamAnswersPings(t *testing.T) {
	h := newFakeHub(t)
	st := &Stream{API: &API{Base: h.srv.URL, Token: h.token}} // Notify nil: nobody takes frames
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c := h.conn(t)
	c.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: 1, Units: []Unit{}, Incidents: []Incident{}}})
	for range 3 {
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Ping(pctx)
		pcancel()
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	// A close frame is answered too: the hub's Close returns cleanly.
	if err := c.Close(websocket.StatusGoingAway, "bye"); err != nil {
		t.Errorf("close handshake: %v", err)
	}
}

// A refused token ends the stream with ErrUnauthorized (the UI signs out);
// a bad frame or a hub that is down only makes it reconnect.
func TestStreamErrors(t *testing.T) {
	h := newFakeHub(t)
	st := runStream(t, h, nil)
	c := h.conn(t)
	c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"snapshot","units":"not a list"}`))
	c2 := h.conn(t) // reconnected after the bad frame
	c2.send(t, &Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 1, TS: 1, Units: []Unit{}, Incidents: []Incident{}}})
	eventually(t, "the good snapshot", func() bool { return st.nFrames() == 1 })
	h.setToken("rotated")
	c2.Close(websocket.StatusGoingAway, "restart")
	c2.end()
	select {
	case err := <-st.done:
		st.done <- err // for the cleanup
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Run = %v, want ErrUnauthorized", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream kept going with a refused token")
	}
	eventually(t, "offline", func() bool { return st.lastLink().State == LinkOffline })
}

func TestStreamBackoff(t *testing.T) {
	s := &Stream{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n := 1; n <= 10; n++ {
		nominal := min(100*time.Millisecond<<(n-1), time.Second)
		for range 20 {
			if d := s.backoff(n); d < nominal*8/10 || d > nominal*12/10 {
				t.Errorf("attempt %d waits %v, want %v ± 20 %%", n, d, nominal)
			}
		}
	}
}

// A UI that falls far behind gets a fresh snapshot instead of a minute of
// deltas: the queue is bounded.
func TestStreamQueueBounded(t *testing.T) {
	s := &Stream{}
	for i := range maxQueued {
		if !s.push(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: uint64(i)}}) {
			t.Fatalf("refused frame %d", i)
		}
	}
	if s.push(&Frame{Frame: api.Frame{Type: api.FrameDelta}}) {
		t.Error("queue grew past its bound")
	}
	if fs, _, _ := s.Take(); len(fs) != 0 {
		t.Errorf("%d stale frames kept", len(fs))
	}
	s.push(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 1}})
	s.push(&Frame{Frame: api.Frame{Type: api.FrameSnapshot, Seq: 5}})
	s.push(&Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: 6}})
	if fs, _, _ := s.Take(); len(fs) != 2 || fs[0].Type != api.FrameSnapshot {
		t.Errorf("frames before a snapshot kept: %d", len(fs))
	}
}
