package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"kuaifan/protocol/api"
)

// client is one connected websocket.
type client struct {
	remote string
	frames chan *frame // filled by the loop, emptied by the client's writer

	// valid reports whether the client may still watch (its session or
	// token lives); nil: always.
	valid func() bool

	needSnapshot bool        // owned by the loop
	writing      atomic.Bool // a frame write is in progress

	connMu sync.Mutex
	conn   net.Conn // the hijacked TCP connection, to cut it off at shutdown
	killed bool
}

// offer queues f without waiting; false if the queue is full.
func (cl *client) offer(f *frame) bool {
	select {
	case cl.frames <- f:
		return true
	default:
		return false
	}
}

// drain drops what is queued and says how many frames that was.
func (cl *client) drain() (n int) {
	for {
		select {
		case <-cl.frames:
			n++
		default:
			return n
		}
	}
}

func (cl *client) setConn(c net.Conn) {
	cl.connMu.Lock()
	cl.conn = c
	killed := cl.killed
	cl.connMu.Unlock()
	if killed && c != nil {
		c.Close()
	}
}

// kill closes the TCP connection under the websocket, which ends whatever
// the library is blocked on: a write, a close handshake.
func (cl *client) kill() {
	cl.connMu.Lock()
	cl.killed = true
	c := cl.conn
	cl.connMu.Unlock()
	if c != nil {
		c.Close()
	}
}

// ServeHTTP serves GET /ws: it checks the Origin and the credentials, then
// upgrades and streams until the client leaves, falls hopelessly behind, or
// Run ends. Refusals are JSON {"error": "..."} before any upgrade.
func (s *Stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Never log r.URL: its query may hold a ticket.
	log := s.log.With("remote", r.RemoteAddr)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on the stream: use GET with a websocket upgrade")
		return
	}
	if err := s.checkOrigin(r); err != nil {
		s.m.refused.WithLabelValues(refuseOrigin).Inc()
		log.Info("stream: connection refused", "reason", refuseOrigin, "err", err)
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	if !isUpgrade(r) { // before the ticket is spent
		s.m.refused.WithLabelValues(refuseHandshake).Inc()
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, "the stream is a websocket: upgrade required")
		return
	}
	valid, msg, ok := s.authorize(r)
	if !ok {
		s.m.refused.WithLabelValues(refuseAuth).Inc()
		log.Info("stream: connection refused", "reason", refuseAuth, "err", msg)
		w.Header().Set("WWW-Authenticate", `Bearer realm="kuaifan"`)
		writeError(w, http.StatusUnauthorized, msg)
		return
	}

	cl := &client{remote: r.RemoteAddr, frames: make(chan *frame, s.cfg.ClientBuffer), needSnapshot: true, valid: valid}
	if !s.register(cl) {
		s.m.refused.WithLabelValues(refuseStopped).Inc()
		writeError(w, http.StatusServiceUnavailable, "the stream has stopped")
		return
	}
	defer s.unregister(cl)

	rec := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(rec, r, &websocket.AcceptOptions{
		OriginPatterns: s.origins,
		// Off: it keeps ~1.2 MB of flate state per connection, and would
		// compress each shared frame again for every client.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil { // Accept has answered
		s.m.refused.WithLabelValues(refuseHandshake).Inc()
		log.Info("stream: connection refused", "reason", refuseHandshake, "err", err)
		return
	}
	// Deadlines an http.Server's ReadTimeout or WriteTimeout left on the
	// connection would cut a long-lived stream: the timeouts here are ours.
	_ = rec.conn.SetDeadline(time.Time{})
	if tc, ok := rec.conn.(interface{ SetWriteBuffer(int) error }); ok && s.sendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.sendBuffer)
	}
	cl.setConn(rec.conn)
	log.Debug("stream: client connected")
	s.serve(c, cl, log)
}

func (s *Stream) register(cl *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.clients[cl] = struct{}{}
	s.handlers.Add(1)
	s.m.clients.Set(float64(len(s.clients)))
	s.poke() // its snapshot goes out with the next window
	return true
}

func (s *Stream) unregister(cl *client) {
	s.mu.Lock()
	delete(s.clients, cl)
	s.m.clients.Set(float64(len(s.clients)))
	s.mu.Unlock()
	s.handlers.Done()
}

// serve writes the client's frames until it leaves, a write times out, or
// the stream stops. This goroutine only writes; readControl's reads.
func (s *Stream) serve(c *websocket.Conn, cl *client, log *slog.Logger) {
	readCtx, readDone := readControl(c)
	defer func() {
		c.CloseNow()
		<-readDone
	}()

	pingCtx, stopPing := context.WithCancel(readCtx)
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		s.pingLoop(pingCtx, c, cl, log)
	}()
	defer func() {
		stopPing()
		<-pinged
	}()

	var recheck <-chan time.Time
	if cl.valid != nil {
		t := time.NewTicker(s.cfg.Recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-readCtx.Done():
			log.Debug("stream: client gone")
			return
		case <-recheck:
			if !cl.valid() {
				log.Info("stream: credentials ended; closing")
				closeWithin(c, cl, StatusSignedOut, "signed out: sign in again")
				return
			}
		case <-s.stopping:
			closeWithin(c, cl, websocket.StatusGoingAway, "hub shutting down")
			return
		case f := <-cl.frames:
			if !s.write(readCtx, c, cl, f, log) {
				return
			}
		}
	}
}

// readControl reads c on its own goroutine so the peer's pings are answered
// and its close frame handled (a connection nobody reads never sees them);
// the context ends when the connection does, and done closes after.
//
// It is c.CloseRead done by hand, because in coder/websocket v1.8.15 when
// CloseRead's goroutine gets a data message it calls Close, and Close waits
// for CloseRead's goroutine to end: itself, so 15 s pass (its timer) before
// the connection counts as gone (coder/websocket issue 429). Here Close is
// called the same way but waits for nobody.
func readControl(c *websocket.Conn) (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		if _, _, err := c.Reader(ctx); err == nil {
			// The stream takes no messages: a client sending some is broken.
			c.Close(websocket.StatusPolicyViolation, "unexpected data message")
		}
	}()
	return ctx, done
}

// write sends one frame within WriteTimeout. On a timeout coder/websocket
// has already closed the connection (a context that ends during a write
// does that): the frame is cut in the middle, so no close frame with a
// reason can follow; the peer sees an abnormal closure.
func (s *Stream) write(ctx context.Context, c *websocket.Conn, cl *client, f *frame, log *slog.Logger) bool {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	cl.writing.Store(true)
	err := c.Write(wctx, websocket.MessageText, f.data)
	cl.writing.Store(false)
	if err == nil {
		s.m.frames.WithLabelValues(f.kind).Inc()
		return true
	}
	if errors.Is(wctx.Err(), context.DeadlineExceeded) {
		s.m.dropped.WithLabelValues(dropTooSlow).Inc()
		log.Warn("stream: client closed, too slow to take a frame", "timeout", s.cfg.WriteTimeout,
			"frame", f.kind, "seq", f.seq, "bytes", len(f.data))
		return false
	}
	log.Debug("stream: write failed, client gone", "err", err)
	return false
}

// pingLoop pings the peer every pingInterval, so a dead one is found even
// when nothing is written. Its pong must come within WriteTimeout.
func (s *Stream) pingLoop(ctx context.Context, c *websocket.Conn, cl *client, log *slog.Logger) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		err := c.Ping(pctx)
		expired := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err == nil:
			continue
		case !expired:
			return // the connection ended; the writer sees it too
		case cl.writing.Load():
			// A frame is still going out and holds the connection's write
			// lock (coder/websocket gives a ping 5 s to get it): the write
			// timeout judges this client, not the ping.
			continue
		}
		s.m.dropped.WithLabelValues(dropNoPong).Inc()
		log.Warn("stream: client closed, no answer to a ping", "timeout", s.cfg.WriteTimeout)
		closeWithin(c, cl, websocket.StatusPolicyViolation, "no pong")
		return
	}
}

// closeWithin closes with a status and reason, giving the peer closeGrace to
// answer the close frame before the TCP connection is cut.
func closeWithin(c *websocket.Conn, cl *client, code websocket.StatusCode, reason string) {
	t := time.AfterFunc(closeGrace, cl.kill)
	defer t.Stop()
	c.Close(code, reason)
}

// hijackRecorder keeps the connection coder/websocket hijacks, so a client
// can be cut off at shutdown whatever the library is blocked on.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = c
	return c, brw, err
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// isUpgrade says whether r asks for a websocket; Accept checks the rest.
func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg})
}
