package ui

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"kuaifan/protocol/api"
)

// Link is the state of the live stream, for the link indicator.
type Link struct {
	State   string    // one of the Link… constants
	Since   time.Time // when it entered State; reconnecting: when the link was lost
	Attempt int       // reconnect attempts since the link was lost
	Err     string    // the last error, if any
}

// Link states (also the data-state of #link).
const (
	LinkOffline      = "offline"      // signed out, or stopped
	LinkConnecting   = "connecting"   // first connection, no snapshot yet
	LinkConnected    = "connected"    // a snapshot arrived on this connection
	LinkReconnecting = "reconnecting" // lost; trying again with backoff
)

// Conn is what the stream client needs of a websocket (*websocket.Conn in
// the browser and on the host).
type Conn interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	SetReadLimit(n int64)
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

// Stream is the client of GET /ws. Run reads on its own goroutine — never
// the UI's — and queues decoded frames; the UI takes them in batches with
// Take when Notify says there are some.
//
// coder/websocket's pitfalls, handled here: the read limit is raised before
// the first read (the default 32 KiB would close the connection on the first
// snapshot, in WebAssembly too); the connection is read continuously so
// control frames are answered; and reads have no deadline, because a context
// that expires during a read closes the whole connection — a quiet hub is
// not a dead one (it pings every 30 s, and the link shows the data's age).
type Stream struct {
	API       *API
	Dial      func(ctx context.Context, url string) (Conn, error) // nil: websocket.Dial, no compression
	ReadLimit int64                                               // 0: DefaultReadLimit
	Notify    func()                                              // frames or link changed; called without locks, must not block
	Now       func() time.Time
	// Backoff between attempts: Min doubling to Max, ±20 % jitter.
	MinBackoff, MaxBackoff time.Duration
	DialTimeout            time.Duration // bounds the ticket and the handshake only; 0: 15 s

	mu          sync.Mutex
	frames      []*Frame
	link        Link
	linkChanged bool
	pending     bool // Notify called, Take not yet
	conn        uint64

	decoded     atomic.Uint64 // frames decoded, and the time it took:
	decodeNanos atomic.Int64  // the page's one thread spends it (kuaifanStats)
}

// Decoding returns how many frames were decoded and the time it took.
func (s *Stream) Decoding() (frames uint64, took time.Duration) {
	return s.decoded.Load(), time.Duration(s.decodeNanos.Load())
}

// Defaults of Stream.
const (
	DefaultReadLimit   = 64 << 20 // a snapshot of 10,000 units is 1–2 MB
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultDialTimeout = 15 * time.Second
	// maxQueued frames waiting for the UI: beyond that the UI has fallen a
	// minute behind, and a fresh snapshot is cheaper than catching up.
	maxQueued = 600
)

var errBehind = errors.New("the dashboard fell behind the stream")

func (s *Stream) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run connects, reads and reconnects until ctx ends (nil) or the hub refuses
// the session (ErrUnauthorized). Each attempt takes a new single-use ticket.
func (s *Stream) Run(ctx context.Context) error {
	s.setLink(Link{State: LinkConnecting, Since: s.now()})
	attempt := 0
	var lost time.Time
	for {
		gotSnapshot, err := s.session(ctx)
		if ctx.Err() != nil {
			s.setLink(Link{State: LinkOffline, Since: s.now()})
			return nil
		}
		if errors.Is(err, ErrUnauthorized) {
			s.setLink(Link{State: LinkOffline, Since: s.now(), Err: err.Error()})
			return err
		}
		if gotSnapshot || lost.IsZero() {
			lost, attempt = s.now(), 0
		}
		attempt++
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		s.setLink(Link{State: LinkReconnecting, Since: lost, Attempt: attempt, Err: msg})
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			s.setLink(Link{State: LinkOffline, Since: s.now()})
			return nil
		case <-t.C:
		}
	}
}

// backoff is the wait before attempt n (1-based).
func (s *Stream) backoff(n int) time.Duration {
	lo, hi := s.MinBackoff, s.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi < lo {
		hi = max(lo, DefaultMaxBackoff)
	}
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// session is one connection: ticket, dial, read until it fails.
func (s *Stream) session(ctx context.Context) (gotSnapshot bool, err error) {
	t, err := s.API.StreamTicket(ctx)
	if err != nil {
		return false, fmt.Errorf("stream ticket: %w", err)
	}
	u, err := StreamURL(s.API.Base, t.Ticket)
	if err != nil {
		return false, err
	}
	timeout := s.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := s.dial(dctx, u)
	cancel()
	if err != nil {
		return false, fmt.Errorf("stream: %w", err)
	}
	defer c.CloseNow()
	limit := s.ReadLimit
	if limit == 0 {
		limit = DefaultReadLimit
	}
	c.SetReadLimit(limit)
	s.mu.Lock()
	s.conn++
	conn := s.conn
	s.mu.Unlock()
	for {
		// No deadline on the read: see the type's comment.
		typ, data, err := c.Read(ctx)
		if err != nil {
			return gotSnapshot, fmt.Errorf("stream: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		t0 := time.Now()
		f := new(Frame)
		err = DecodeFrame(data, f)
		s.decodeNanos.Add(int64(time.Since(t0)))
		s.decoded.Add(1)
		if err != nil || (f.Type != api.FrameSnapshot && f.Type != api.FrameDelta) {
			c.Close(websocket.StatusUnsupportedData, "bad frame")
			return gotSnapshot, fmt.Errorf("stream: bad frame: %v", err)
		}
		f.conn, f.received = conn, s.now().UnixMilli()
		if f.Type == api.FrameSnapshot && !gotSnapshot {
			gotSnapshot = true
			s.setLink(Link{State: LinkConnected, Since: s.now()})
		}
		if !s.push(f) {
			c.Close(websocket.StatusGoingAway, "client fell behind")
			return gotSnapshot, errBehind
		}
	}
}

func (s *Stream) dial(ctx context.Context, url string) (Conn, error) {
	if s.Dial != nil {
		return s.Dial(ctx, url)
	}
	// nil options: no compression (it costs the hub ~1.2 MB per connection),
	// and in the browser the only options are subprotocols anyway.
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// push queues a frame for the UI; false if the queue overflowed (it is
// then emptied: the caller reconnects for a fresh snapshot).
func (s *Stream) push(f *Frame) bool {
	s.mu.Lock()
	if f.Type == api.FrameSnapshot {
		// Everything queued before a snapshot is superseded by it.
		clear(s.frames)
		s.frames = s.frames[:0]
	}
	if len(s.frames) >= maxQueued {
		clear(s.frames)
		s.frames = s.frames[:0]
		s.mu.Unlock()
		return false
	}
	s.frames = append(s.frames, f)
	notify := !s.pending
	s.pending = true
	s.mu.Unlock()
	if notify && s.Notify != nil {
		s.Notify()
	}
	return true
}

func (s *Stream) setLink(l Link) {
	s.mu.Lock()
	s.link, s.linkChanged = l, true
	notify := !s.pending
	s.pending = true
	s.mu.Unlock()
	if notify && s.Notify != nil {
		s.Notify()
	}
}

// Take hands over the queued frames (oldest first) and the link state.
func (s *Stream) Take() (frames []*Frame, link Link, linkChanged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frames, s.frames = s.frames, nil
	link, linkChanged = s.link, s.linkChanged
	s.linkChanged, s.pending = false, false
	return frames, link, linkChanged
}
