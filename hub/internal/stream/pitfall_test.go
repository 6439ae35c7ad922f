package stream

// One test per known coder/websocket pitfall (the Origin one
// is TestOrigin and TestAuth's "nothing" case; a write timeout closing only
// that connection is TestStalledClient).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The stream never reads data, yet a peer's pings are answered and its close
// frame handled at once: a goroutine keeps reading control frames (CloseRead's
// job; see readControl).
func TestCloseReadAnswersPingAndClose(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.connect(dialOpts{})
	r := startReader(t, c) // a client must read to see its pongs, too

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}

	start := time.Now()
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	// Unanswered, Close waits 5 s for the server's close frame.
	if d := time.Since(start); d > time.Second {
		t.Errorf("close handshake took %v: the server did not answer", d)
	}
	<-r.done
	waitFor(t, 5*time.Second, "the client to be gone", func() bool { return f.s.Clients() == 0 })
}

// A data message from the client is a protocol misuse: the connection is
// closed with a policy violation, and promptly (with CloseRead itself, the
// server side would linger 15 s: coder/websocket issue 429).
func TestDataFromClientClosesIt(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.connect(dialOpts{})
	r := startReader(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		t.Fatal("still open after sending data")
	}
	if websocket.CloseStatus(r.err) != websocket.StatusPolicyViolation {
		t.Errorf("closed with %v, want a policy violation", r.err)
	}
	waitFor(t, 5*time.Second, "the client to be gone", func() bool { return f.s.Clients() == 0 })
}

// The stream pings; a peer that answers stays, one that never answers (here:
// one that never reads) is closed with a reason it can read later.
func TestPingFindsDeadPeer(t *testing.T) {
	const (
		pingEvery    = 100 * time.Millisecond
		writeTimeout = time.Second
	)
	f := newFixture(t, Config{WriteTimeout: writeTimeout}, func(s *Stream) { s.pingInterval = pingEvery })
	alive := startReader(t, f.connect(dialOpts{}))
	dead := f.rawDial()

	waitFor(t, 5*time.Second, "the silent peer to be dropped", func() bool {
		return f.metric("kuaifan_stream_dropped_clients_total", "reason", dropNoPong) == 1
	})
	waitFor(t, 5*time.Second, "one client left", func() bool { return f.s.Clients() == 1 })
	time.Sleep(3 * pingEvery)
	if f.s.Clients() != 1 || f.metric("kuaifan_stream_dropped_clients_total", "reason", dropNoPong) != 1 {
		t.Fatalf("the answering client was dropped too")
	}
	select {
	case <-alive.done:
		t.Fatalf("the answering client's connection ended: %v", alive.err)
	default:
	}

	// Its buffers had room, so the close frame got there: snapshot, pings, close.
	dead.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var ops []byte
	for {
		op, p, err := dead.readFrame()
		if err != nil {
			t.Fatalf("frames %v, then %v; want a close frame", ops, err)
		}
		ops = append(ops, op)
		if op == 8 {
			if code := binary.BigEndian.Uint16(p); code != uint16(websocket.StatusPolicyViolation) || string(p[2:]) != "no pong" {
				t.Errorf("close frame %d %q, want 1008 \"no pong\"", code, p[2:])
			}
			break
		}
	}
	if !slices.Contains(ops, 1) || !slices.Contains(ops, 9) {
		t.Errorf("opcodes %v, want text (the snapshot) and pings (9) before the close (8)", ops)
	}
}

// Compression stays off even when a client asks for it: it would cost ~1.2 MB
// per connection.
func TestCompressionOff(t *testing.T) {
	f := newFixture(t, Config{})
	c, resp, err := f.dial(f.ws, dialOpts{compress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("server agreed to %q", ext)
	}
	if g := next(t, c, 2*time.Second); g.Type != kindSnapshot {
		t.Fatalf("first frame %v", g)
	}
}

// Ending Run closes every client: the ones that answer with "going away", a
// silent one after closeGrace, one stuck in a write by cutting its TCP
// connection; and then refuses new ones. goleak (TestMain) checks that
// nothing is left running.
func TestRunEndClosesClients(t *testing.T) {
	f := newFixture(t, Config{WriteTimeout: time.Minute}, func(s *Stream) { s.shutdownGrace = 500 * time.Millisecond })
	var answering []*reader
	for range 2 {
		c := f.connect(dialOpts{})
		answering = append(answering, startReaderAs(t, c, true))
	}
	silent := f.rawDial()
	if op, _, err := silent.readFrame(); err != nil || op != 1 { // its snapshot, small
		t.Fatalf("silent client's first frame: %d, %v", op, err)
	}

	// A snapshot far bigger than the kernel's buffers, for the next client
	// only (the Source changes without telling the stream): it gets stuck in
	// the middle of writing it.
	pad := strings.Repeat("x", 1000)
	for i := range 3000 {
		id := fmt.Sprintf("big%04d", i)
		f.src.set(f.src.units, id, thing{ID: id, Pad: pad})
	}
	stuck := f.rawDial()
	writing := func() (n int) {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		for cl := range f.s.clients {
			if cl.writing.Load() {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "a write stuck", func() bool { return writing() == 1 })
	time.Sleep(300 * time.Millisecond)
	if writing() != 1 {
		t.Fatal("the big snapshot went out whole: nothing is stuck")
	}

	start := time.Now()
	f.shutdown(t)
	d := time.Since(start)
	t.Logf("Run closed its clients in %v", d)
	if d > 2*time.Second {
		t.Errorf("Run took %v to close its clients", d)
	}
	for i, r := range answering {
		<-r.done
		var ce websocket.CloseError
		if !errors.As(r.err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "hub shutting down" {
			t.Errorf("client %d: closed with %v, want going away", i, r.err)
		}
	}
	silent.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		op, p, err := silent.readFrame()
		if err != nil {
			t.Fatalf("silent client: %v before a close frame", err)
		}
		if op == 8 {
			if binary.BigEndian.Uint16(p) != uint16(websocket.StatusGoingAway) {
				t.Errorf("silent client: close frame %q", p)
			}
			break
		}
	}
	stuck.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := stuck.readFrame(); err != nil {
			if !isReset(err) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Errorf("stuck client: %v, want its connection cut", err)
			}
			break
		}
	}
	if n := f.s.Clients(); n != 0 {
		t.Errorf("%d clients after Run", n)
	}

	_, resp, err := f.dial(f.ws, dialOpts{})
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Run: %v, want 503", err)
	}
	if got := f.metric("kuaifan_stream_refused_total", "reason", refuseStopped); got != 1 {
		t.Errorf("refused_total{reason=stopped} %v", got)
	}
	if err := f.s.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
}
