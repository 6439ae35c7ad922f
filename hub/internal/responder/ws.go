package responder

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"kuaifan/protocol"
)

// The websocket's protocol. The page opens GET /responder/api/ws (same
// origin only) and sends, as its first message within authWait, {"token":
// "<session token>"}: a token in the URL would end up in logs, and a
// cookie would let another site's page open the socket (CSRF). The hub
// answers {"type":"hello", …Me} — the unit and its current assignment —
// then {"type":"command","command":{…}} for every command published to the
// unit. A refusal is a close with StatusUnauthorized.
const (
	authWait = 10 * time.Second
	// StatusUnauthorized closes a socket without a valid session (4000s
	// are the application's codes; 4401 mirrors HTTP's 401).
	StatusUnauthorized websocket.StatusCode = 4401
	// sendBuffer is how many commands may wait for one slow socket; the
	// hub sends a unit a few per dispatch.
	sendBuffer = 64
)

// Hello is the first message of the hub on a socket.
type Hello struct {
	Type string `json:"type"` // "hello"
	Me
}

// Push is a command pushed to the page.
type Push struct {
	Type    string          `json:"type"` // "command"
	Command json.RawMessage `json:"command"`
}

// socket is one open websocket of a unit.
type socket struct {
	unit string
	out  chan []byte
	drop chan struct{} // closed when the socket fell too far behind
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "the hub is stopping")
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()

	rec := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(rec, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil { // Accept has answered
		s.log.Info("responder: websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	defer c.CloseNow()
	// The http.Server's read and write timeouts would cut a long-lived
	// socket: the timeouts here are ours.
	if rec.conn != nil {
		_ = rec.conn.SetDeadline(time.Time{})
	}
	c.SetReadLimit(maxBody)

	unit := s.wsAuth(c)
	if unit == "" {
		s.log.Info("responder: websocket refused: no session", "remote", r.RemoteAddr)
		s.closeWithin(c, StatusUnauthorized, "not signed in, or the session has ended")
		return
	}
	so := &socket{unit: unit, out: make(chan []byte, sendBuffer), drop: make(chan struct{})}
	s.register(so)
	defer s.unregister(so)

	// Reads only so that pings and the close are answered; the page sends
	// nothing after its token.
	readCtx, cancelRead := context.WithCancel(context.Background())
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancelRead()
		for {
			if _, _, err := c.Read(readCtx); err != nil {
				return
			}
		}
	}()
	defer func() {
		c.CloseNow()
		<-readDone
	}()

	// Registered first, the hello second: a command published in between
	// is both in the hello's assignment and pushed, which the page takes
	// as the same dispatch (by its command id).
	hello, err := json.Marshal(Hello{Type: "hello", Me: s.current(unit)})
	if err != nil || !s.write(readCtx, c, hello) {
		return
	}
	s.log.Debug("responder: websocket connected", "unit", unit, "remote", r.RemoteAddr)
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-readCtx.Done():
			return
		case <-s.stopping:
			s.closeWithin(c, websocket.StatusGoingAway, "hub shutting down")
			return
		case <-so.drop:
			s.log.Warn("responder: websocket closed, too far behind", "unit", unit)
			s.closeWithin(c, websocket.StatusTryAgainLater, "too far behind: reconnect")
			return
		case msg := <-so.out:
			if !s.write(readCtx, c, msg) {
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(readCtx, s.cfg.WriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				s.log.Debug("responder: websocket closed, no pong", "unit", unit, "err", err)
				return
			}
		}
	}
}

// wsAuth reads the socket's first message, the session token.
func (s *Server) wsAuth(c *websocket.Conn) string {
	ctx, cancel := context.WithTimeout(context.Background(), authWait)
	defer cancel()
	go func() { // a stopping hub does not wait for a page that says nothing
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	typ, data, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText {
		return ""
	}
	var hello struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(data, &hello) != nil || hello.Token == "" {
		return ""
	}
	return s.redeem(hello.Token)
}

func (s *Server) write(ctx context.Context, c *websocket.Conn, msg []byte) bool {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, msg) == nil
}

// closeWithin closes with a reason, waiting at most a second for the
// peer's answer before the connection is cut (CloseNow, deferred).
func (s *Server) closeWithin(c *websocket.Conn, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Close(code, reason)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.CloseNow()
		<-done
	}
}

func (s *Server) register(so *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.sockets[so.unit]
	if m == nil {
		m = make(map[*socket]bool)
		s.sockets[so.unit] = m
	}
	m[so] = true
}

func (s *Server) unregister(so *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sockets[so.unit], so)
	if len(s.sockets[so.unit]) == 0 {
		delete(s.sockets, so.unit)
	}
}

// command passes a command published to unit to its open sockets, and
// keeps a config's intervals for the unit's next hello. It never blocks:
// it runs inside dispatch's publishing.
func (s *Server) command(unit string, payload []byte) {
	cmd, err := protocol.DecodeCommand(payload)
	if err != nil {
		return // the bus will refuse it too; nothing a phone can use
	}
	msg, err := json.Marshal(Push{Type: "command", Command: payload})
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cmd.Type == protocol.CmdConfig {
		s.configs[unit] = cmd.Config
	}
	for so := range s.sockets[unit] {
		select {
		case so.out <- msg:
		default:
			select {
			case <-so.drop:
			default:
				close(so.drop)
			}
		}
	}
}

// hijackRecorder keeps the connection coder/websocket hijacks, to clear
// the deadlines the http.Server left on it.
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
