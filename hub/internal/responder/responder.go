// Package responder is the responder app: a small web app (plain HTML, CSS
// and JavaScript, a manifest and a service worker, embedded here) that an
// officer opens on a phone at /responder/ instead of running kuaifan's agent,
// and its HTTP API under /responder/api/.
//
// A unit signs in with its id and secret and gets a session token (random,
// kept in memory: a hub restart signs every phone out, and the page asks
// again). With it the page POSTs its positions and its answers (ack,
// decline, arrived, cleared, sos), which go through ingest.Submit and
// ingest.SubmitEvent — the same checks, group commit and fsync as MQTT, and
// for events the same hand-over to dispatch. The answer comes only once the
// report is on disk: it is the page's confirmation, as the ack topic is an
// agent's. The unit's commands reach the page over a websocket: Tap wraps
// the bus dispatch publishes on, so every command to {root}/units/{unit}/cmd
// is also pushed to that unit's open sockets, whichever broker carries it.
// A socket that was down when a command went out loses nothing that
// matters: each (re)connection starts with the unit's current assignment,
// read from dispatch.
package responder

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Units is what the app needs of the fleet (*fleet.Fleet).
type Units interface {
	Verify(id, secret string) bool
	ReportsBy(id string) (p api.ReportProtocol, status protocol.Status, ok bool)
	Get(id string) (api.Unit, bool)
}

// Pipeline is what it needs of ingest (*ingest.Ingest).
type Pipeline interface {
	Submit(ctx context.Context, t protocol.Telemetry) (fleet.Result, error)
	SubmitEvent(ctx context.Context, e protocol.Event) (fleet.Result, error)
	Rejected(source string, err error)
}

// Incidents is what it needs of dispatch (*dispatch.Dispatcher): incidents
// by id, without recommendations.
type Incidents interface {
	Incidents(ids []string) []api.Incident
}

// Config wires the app.
type Config struct {
	Units     Units
	Pipeline  Pipeline
	Incidents Incidents
	Topics    protocol.Topics
	Logger    *slog.Logger
	// SessionIdle is how long a session lasts without being used; default
	// 12 h (a shift). Every authenticated request renews it.
	SessionIdle time.Duration
	// WriteTimeout bounds a write to a websocket (a command, a ping's
	// pong); a phone slower than that is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval: how often an idle socket is pinged; default 25 s, under
	// the idle timeouts of the usual proxies and carrier NATs.
	PingInterval time.Duration
	Now          func() time.Time
}

// Defaults of Config.
const (
	DefaultSessionIdle  = 12 * time.Hour
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 25 * time.Second
)

// Prefix is where the hub mounts the app.
const Prefix = "/responder/"

// Server is the app and its API. Its handlers are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[[32]byte]*session       // by the token's SHA-256
	fails    map[string]*failure         // failed sign-ins by "unit:" or "addr:" key
	sockets  map[string]map[*socket]bool // open websockets by unit
	configs  map[string]map[string]float64
	stopped  bool

	stopping chan struct{} // closed when Run's context ends: sockets close
	handlers sync.WaitGroup
	static   *static
}

// New returns the app; Run must run for its websockets to be closed at the end.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, log: cfg.Logger,
		sessions: make(map[[32]byte]*session), fails: make(map[string]*failure),
		sockets: make(map[string]map[*socket]bool), configs: make(map[string]map[string]float64),
		stopping: make(chan struct{}), static: newStatic()}
}

// Run waits for ctx to end, then closes every websocket and waits for their
// handlers: http.Server.Shutdown leaves hijacked connections to their owner.
func (s *Server) Run(ctx context.Context) {
	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	close(s.stopping)
	s.handlers.Wait()
}

// Handler serves the app at Prefix and its API at Prefix+"api/". No admin
// token: a unit authenticates with its own secret.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"api/session", s.signIn)
	mux.HandleFunc("DELETE "+Prefix+"api/session", s.signOut)
	mux.HandleFunc("GET "+Prefix+"api/me", s.me)
	mux.HandleFunc("POST "+Prefix+"api/report", s.report)
	mux.HandleFunc("POST "+Prefix+"api/event", s.event)
	mux.HandleFunc("GET "+Prefix+"api/ws", s.websocket)
	mux.Handle("GET "+Prefix, s.static)
	mux.Handle("GET /responder", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	return mux
}

// Tap wraps bus so that every command the hub publishes to a unit's cmd
// topic is also pushed to the unit's open responder sockets. Publishing
// never waits on a phone: a socket too far behind is closed, and the page's
// reconnection brings the unit's current assignment.
func (s *Server) Tap(bus broker.Bus) broker.Bus { return tap{Bus: bus, s: s} }

type tap struct {
	broker.Bus
	s *Server
}

func (t tap) Publish(topic string, payload []byte, retain bool) error {
	if unit, kind, err := t.s.cfg.Topics.Parse(topic); err == nil && kind == protocol.KindCmd {
		t.s.command(unit, payload)
	}
	return t.Bus.Publish(topic, payload, retain)
}
