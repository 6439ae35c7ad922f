// Package terminal is the officer's side of the agent: a small local HTTP API
// through which a vehicle's terminal or a handset app shows the current
// assignment, changes the unit's status, answers a dispatch (ack, decline,
// arrived, cleared), reports a move-up done, lists the unit's patrol tasks and raises the officer's SOS. The agent implements Officer; the Server turns requests
// into calls on it; the Client is the same API from the other side, used by
// the simulator's simulated officer, tools and tests. Routes and examples are
// in README.md.
//
// Safety on a shared device: the API changes what the command centre sees, so
//   - it listens on loopback only; New refuses any other address unless
//     Config.AllowRemote is set, and AllowRemote requires a Token;
//   - with a Token set, every route but /v1/healthz requires
//     "Authorization: Bearer <token>", compared in constant time;
//   - on loopback, a request whose Host is not localhost or a loopback address
//     is refused (403), so a web page cannot reach the API by DNS rebinding;
//   - a browser's cross-origin POST or PUT is refused (403, Go's
//     CrossOriginProtection), so a web page on the same device cannot ack or
//     clear in the officer's name with a form;
//   - bodies are small and strict: JSON only, unknown fields refused.
//
// Errors are JSON, {"error": "…"}: 400 bad input, 401 missing or wrong token,
// 403 refused origin or host, 404 no such assignment or route, 405 wrong
// method, 409 not possible in the assignment's state, 413 body too large,
// 415 not JSON, 500 anything else the Officer returns (logged, not shown).
package terminal

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/protocol"
)

// Officer is what the terminal drives; the agent implements it. Its methods
// are called from concurrent requests, so it must be safe for concurrent use.
// The action methods return ErrNoAssignment or ErrWrongState (wrapped or not)
// for what the officer asked wrongly; any other error is the agent's fault and
// becomes a 500.
type Officer interface {
	// Assignment returns the current assignment, if the unit has one.
	Assignment() (Assignment, bool)
	// Status returns the unit's duty status.
	Status() protocol.Status
	// SetStatus changes the duty status; s is valid (checked by the terminal).
	SetStatus(s protocol.Status) error
	// Ack accepts the dispatch to incident.
	Ack(incident string) error
	// Decline refuses the dispatch to incident, saying why ("" if the
	// officer did not).
	Decline(incident, reason string) error
	// Arrived reports the unit on scene.
	Arrived(incident string) error
	// Cleared reports the incident done for this unit.
	Cleared(incident string) error
	// SOS raises the officer's sos (additive, 2026-12): queued to go
	// before every other report. Any error is the agent's fault.
	SOS() (SOS, error)
}

// SOS is an sos as queued: its seq and the position it carries, if the
// unit had a fix.
type SOS struct {
	Seq uint64   `json:"seq"`
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
}

// Assignment is the incident a unit is dispatched to, as the officer sees it.
type Assignment struct {
	Incident string    `json:"incident"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Priority int       `json:"priority"`
	Kind     string    `json:"kind"`
	Summary  string    `json:"summary"`
	State    string    `json:"state"` // dispatched | enroute | on_scene
	Received time.Time `json:"received"`
}

// Reposition is a move-up the hub asked of the unit (additive, 2026-12):
// go to Lat, Lon to cover the city, staying available for dispatch. It is
// no assignment: the status does not follow it. ID is the move-up's id,
// which the arrival reports.
type Reposition struct {
	ID       string    `json:"id"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Summary  string    `json:"summary,omitempty"`
	Received time.Time `json:"received"`
}

// Repositioner is an Officer that also carries out move-ups (additive,
// 2026-12); the agent is one. With an Officer without it, GET
// /v1/reposition answers 204 and POST /v1/reposition/arrived 404.
type Repositioner interface {
	// Reposition returns the unit's move-up, if it has one.
	Reposition() (Reposition, bool)
	// RepositionArrived reports the unit at its move-up's spot; id names
	// the move-up ("" for whichever the unit has). ErrNoReposition when
	// there is none, ErrWrongState when id is not the unit's.
	RepositionArrived(id string) error
}

// Task is one of the unit's patrol tasks running now (a tasks command from
// the hub, additive 2026-12): a checkpoint to hold (KindPoint), a route to
// drive (KindLine) or an area to be present in (KindArea). The fields are
// the command's (protocol.PatrolTask), with its Unix-ms times as times like
// every other time of this API.
type Task struct {
	Plan       string    `json:"plan"`
	ID         string    `json:"id"`
	Kind       string    `json:"kind"` // point, line or area
	Name       string    `json:"name,omitempty"`
	Shift      string    `json:"shift"`
	ShiftStart time.Time `json:"shift_start"`
	ShiftEnd   time.Time `json:"shift_end"`
	// From and To are a checkpoint's window to hold it in, the one open now
	// or the next; absent for a line, an area, and a checkpoint whose
	// windows of this shift are over.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Lat, Lon: the checkpoint; a route's first position; an area's centre.
	Lat            float64 `json:"lat"`
	Lon            float64 `json:"lon"`
	RadiusM        float64 `json:"radius_m,omitempty"`         // point
	DwellMin       float64 `json:"dwell_min,omitempty"`        // point: minutes to hold it
	LengthM        float64 `json:"length_m,omitempty"`         // line
	CoverShare     float64 `json:"cover_share,omitempty"`      // line: the share of it to drive, 0 … 1
	MinPresenceMin float64 `json:"min_presence_min,omitempty"` // area: minutes to be present
}

// Task kinds.
const (
	KindPoint = "point"
	KindLine  = "line"
	KindArea  = "area"
)

// Tasker is an Officer that also knows the unit's patrol tasks (additive,
// 2026-12); the agent is one. With an Officer without it the unit has none.
type Tasker interface {
	// Tasks returns the tasks running now — those whose shift has ended
	// left out — in the hub's order; none is an empty list.
	Tasks() []Task
}

// Assignment states.
const (
	StateDispatched = "dispatched"
	StateEnroute    = "enroute"
	StateOnScene    = "on_scene"
)

// Errors an Officer returns; the terminal maps them to 404 and 409, and the
// Client maps those answers back, so errors.Is works on both sides.
var (
	// ErrNoAssignment: the unit has no current assignment (404).
	ErrNoAssignment = errors.New("no such assignment")
	// ErrWrongState: the action does not fit the assignment's state (arrived
	// before ack, cleared before arrived), names an incident other than the
	// one the unit is assigned to, or the status cannot change now (409).
	ErrWrongState = errors.New("not possible now")
	// ErrNoReposition: the unit has no move-up (404). The Client's error
	// for that answer matches both it and ErrNoAssignment.
	ErrNoReposition = errors.New("no such reposition")
	// ErrUnauthorized: the Client's token is missing or wrong (401).
	ErrUnauthorized = errors.New("unauthorized")
)

// DefaultAddr is where the terminal listens when Config.Addr is empty.
const DefaultAddr = "127.0.0.1:8765"

// MinRemoteTokenLen is the shortest Token New accepts with AllowRemote: off
// loopback, the token is all that stands between the network and the unit.
const MinRemoteTokenLen = 16

// shutdownTimeout bounds how long Run waits for requests in flight on stop;
// every Officer call is quick, so this is only reached by a stuck client.
const shutdownTimeout = 5 * time.Second

// Config configures a Server. The zero value listens on DefaultAddr without a
// token, which is right for a single-user device.
type Config struct {
	// Addr is host:port to listen on; default DefaultAddr. The host must be a
	// loopback address or "localhost" unless AllowRemote is set. Port 0
	// picks a free port (see Server.Addr).
	Addr string
	// Token, when set, is required on every route but /v1/healthz as
	// "Authorization: Bearer <Token>": printable ASCII, no spaces. Set it on a
	// device that other people or apps share.
	Token string
	// AllowRemote lets Addr be a non-loopback address (a terminal wired to
	// the device over a vehicle's LAN). It requires a Token of at least
	// MinRemoteTokenLen characters.
	AllowRemote bool
	// Page, if set, serves every path outside /v1/: the officer's page
	// (the agent's officerweb). It gets the host check but no token check.
	Page http.Handler
	// Logger receives officer actions (Info), refused requests (Warn) and
	// Officer failures (Error); nil discards.
	Logger *slog.Logger
}

// Server is the terminal API over one Officer. Create it with New, start it
// with Run.
type Server struct {
	cfg       Config
	officer   Officer
	log       *slog.Logger
	tokenHash *[sha256.Size]byte // nil: no token required
	handler   http.Handler

	started   atomic.Bool
	readyOnce sync.Once
	ready     chan struct{} // closed once Run has bound its listener or failed to
	addr      string        // the bound address; written before ready closes
}

// New checks cfg and returns a Server over o. It refuses a non-loopback Addr
// unless cfg.AllowRemote is set, and AllowRemote without a long enough Token.
// It does not listen yet: Run does.
func New(cfg Config, o Officer) (*Server, error) {
	if o == nil {
		return nil, errors.New("terminal: nil Officer")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := checkToken(cfg.Token, cfg.AllowRemote); err != nil {
		return nil, err
	}
	if err := checkAddr(cfg.Addr, cfg.AllowRemote); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		officer: o,
		log:     cfg.Logger,
		ready:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Token != "" {
		h := sha256.Sum256([]byte(cfg.Token))
		s.tokenHash = &h
	}
	s.handler = s.newHandler()
	return s, nil
}

func checkToken(token string, allowRemote bool) error {
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("terminal: Token must be printable ASCII without spaces")
		}
	}
	if allowRemote && len(token) < MinRemoteTokenLen {
		return fmt.Errorf("terminal: AllowRemote requires a Token of at least %d characters", MinRemoteTokenLen)
	}
	return nil
}

func checkAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("terminal: Addr %q: want host:port: %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("terminal: Addr %q: port must be a number from 0 to 65535", addr)
	}
	if !allowRemote && !loopbackHost(host) {
		return fmt.Errorf("terminal: Addr %q is not a loopback address; the officer terminal listens on localhost only unless AllowRemote is set", addr)
	}
	return nil
}

// loopbackHost reports whether host (from host:port, without brackets) names
// the loopback interface. An empty host means every interface: not loopback.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Handler returns the API with all its checks (host, origin, token), for
// mounting elsewhere or testing without a listener. Outside AllowRemote it
// refuses requests whose Host is not localhost or a loopback address.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address Run bound, with the real port when Config.Addr
// asked for port 0. It waits until Run has bound its listener, so call it
// after starting Run; it returns "" if Run could not listen.
func (s *Server) Addr() string {
	<-s.ready
	return s.addr
}

func (s *Server) markReady(addr string) {
	s.readyOnce.Do(func() {
		s.addr = addr
		close(s.ready)
	})
}

// Run listens on Config.Addr and serves until ctx is done, then stops
// gracefully: it stops accepting, lets requests in flight finish (at most a
// few seconds) and returns nil. It returns an error if it cannot listen or the
// server fails. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("terminal: Run called twice")
	}
	if ctx.Err() != nil {
		s.markReady("")
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		s.markReady("")
		return fmt.Errorf("terminal: listen: %w", err)
	}
	// "localhost" is resolved by the system; make sure it really was loopback.
	if ta, ok := ln.Addr().(*net.TCPAddr); !s.cfg.AllowRemote && (!ok || !ta.IP.IsLoopback()) {
		ln.Close()
		s.markReady("")
		return fmt.Errorf("terminal: %s resolved to %s, not a loopback address", s.cfg.Addr, ln.Addr())
	}
	s.markReady(ln.Addr().String())
	s.log.Info("terminal: listening", "addr", ln.Addr().String(), "token", s.tokenHash != nil, "remote", s.cfg.AllowRemote)

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("terminal: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("terminal: shutdown: %w", err)
	}
	<-served // http.ErrServerClosed; the Serve goroutine is done
	s.log.Info("terminal: stopped")
	return err
}
