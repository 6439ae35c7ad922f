// Package hub is kuaifan's command-centre server: it runs (or connects to) the
// MQTT broker, ingests what patrol units report, keeps the live state of the
// fleet and its history, ranks units for an incident, and serves the HTTP API.
//
// cmd/hub only turns flags into a Config; tests and the simulator call New
// and Run directly.
package hub

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/api"
	"kuaifan/hub/internal/audit"
	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/citycover"
	"kuaifan/hub/internal/connlimit"
	"kuaifan/hub/internal/coverage"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/ingest"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/patrol"
	"kuaifan/hub/internal/phones"
	"kuaifan/hub/internal/responder"
	"kuaifan/hub/internal/store"
	"kuaifan/hub/internal/stream"
	"kuaifan/hub/internal/tiles"
	"kuaifan/hub/internal/webui"
	"kuaifan/protocol"
	wireapi "kuaifan/protocol/api"
	"kuaifan/protocol/cameras"
	"kuaifan/protocol/districts"
	"kuaifan/protocol/districts/changsha"
	"kuaifan/protocol/kpi"
)

// Config is everything the hub can be told. DefaultConfig fills it in.
type Config struct {
	HTTPAddr string // API and dashboard; "127.0.0.1:0" picks a free port; with TLS, "" serves no plain HTTP
	MQTTAddr string // the embedded broker's listener; unused with BrokerURL; with TLS, "" serves no plain MQTT

	// TLS: HTTPS for the API and dashboard and MQTTS on the embedded broker,
	// with the certificate TLSCert and its key TLSKey (PEM files), or, with
	// TLSAuto, a self-signed pair the hub makes in DataDir on its first start
	// and reuses (AutoCertFile is what agents take as their CA). With TLS,
	// plain HTTP on HTTPAddr redirects to HTTPS (but /healthz and /metrics),
	// and plain MQTT on MQTTAddr stays open for devices not moved yet.
	TLSCert, TLSKey string
	TLSAuto         bool
	// TLSHosts are the names and IP addresses TLSAuto's certificate is for,
	// besides localhost, the loopback addresses and the machine's hostname.
	TLSHosts  []string
	HTTPSAddr string // with TLS; "": HTTPAddr's host, port 8443
	MQTTSAddr string // with TLS and the embedded broker; "": MQTTAddr's host, port 8883

	// Limits of the HTTP server, against clients that hold connections open
	// (slow or idle). 0 takes the default; a negative value turns one off.
	// The live stream (/ws) sets its own deadlines once upgraded.
	HTTPReadTimeout  time.Duration // a whole request, body included; 30 s
	HTTPWriteTimeout time.Duration // a response, from the end of its request's headers; 2 min
	HTTPIdleTimeout  time.Duration // a keep-alive connection waiting for its next request; 2 min
	// HTTPMaxConnsPerIP caps the open connections from one IP address; more
	// are closed at once and counted (kuaifan_http_conn_refused_total); 128.
	// Behind a reverse proxy every client has the proxy's address: raise it
	// or turn it off there.
	HTTPMaxConnsPerIP int

	// AllowedOrigins are web origins besides the hub's own that may open the
	// live stream from a browser (coder/websocket patterns, e.g. "dash.example").
	AllowedOrigins []string

	// BrokerURL, if set, connects to an external broker (Mosquitto, EMQX, a
	// NATS cluster) instead of running the embedded one: one URL, or a
	// cluster's nodes separated by commas, tried in order at every
	// (re)connection. The hub logs in with its own credentials; that broker
	// must enforce the devices' credentials and ACL.
	BrokerURL      string
	BrokerClientID string
	BrokerUsername string
	BrokerPassword string

	DataDir   string // the store, the admin token file, snapshots
	TopicRoot string // "rr"
	// Tiles is the dashboard's basemap: an XYZ URL template with {z}, {x}
	// and {y}; empty: the hub's own tile package if it has one, else a
	// vector background.
	Tiles string
	// TilesDir or TilesMBTiles (at most one) is a basemap tile package the
	// hub serves itself at /tiles/, for a command centre without internet:
	// a directory DIR/{z}/{x}/{y}.png (or .jpg, .webp), or an MBTiles file
	// of raster tiles. A missing or unusable package stops the hub at start.
	TilesDir     string
	TilesMBTiles string
	// Districts is a GeoJSON file of the city's districts, served at
	// /api/districts for the dashboard; "": Changsha's, built in; "none":
	// no districts.
	Districts string
	// Cameras is a GeoJSON file of the camera network (Point features with
	// properties id and name, as kuaifan/protocol/cameras reads it), served
	// at /api/cameras; a sighting may name one of them, and no other. "":
	// none. A file that does not read stops the hub at start.
	Cameras string
	// AdminToken is the bootstrap admin token, for machines (the hub's own
	// commands, scripts, the simulator); empty: read <DataDir>/admin.token,
	// or generate it there. People sign in with their accounts.
	AdminToken string
	// SessionIdle and SessionMax end a person's session after so long
	// without a call, and so long after sign-in; 30 min and 12 h.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// PasswordHashing is argon2id's cost for new passwords; zero:
	// access.DefaultHashing (about 50 ms a hash).
	PasswordHashing access.Hashing
	// PasswordHasher hashes and checks passwords; nil: in the hub's own
	// process. The hub command gives it a child process of the lowest CPU
	// priority (access.ProcessHasher), which it closes after Run.
	PasswordHasher access.Hasher

	Retention      time.Duration // positions; 90 days (whole UTC days are dropped)
	EventRetention time.Duration // unit events; 1 year
	// IncidentRetention is how long a closed incident is kept; 1 year.
	IncidentRetention time.Duration
	SnapshotInterval  time.Duration // copy of the store for recovery; 1 h
	MaxClockAhead     time.Duration // reject timestamps further ahead; 5 s
	AckInterval       time.Duration // a unit's confirmations gather this long (sooner after 64); 2 s

	// MaxClientWritesPending bounds what the embedded broker queues for one
	// device (acks and commands: a few a second). mochi allocates the queue
	// up front, so its default (8192) costs 64 KiB per connected device.
	MaxClientWritesPending int32 // 256

	// CoverageCellM is the edge of the coverage grid's cells in metres;
	// 0: 250 m (coverage.DefaultCellM).
	CoverageCellM float64

	// Match is how units are ranked: speeds, detour factor, freshness. Its
	// Tiers must be left empty: the response tiers are the dispatch
	// policy's alone, and matching numbers tiers by them.
	Match match.Config
	// Dispatch is the dispatch policy: tiers, volunteers, auto-dispatch, ack
	// timeout (hub -dispatch-config reads it from a file).
	Dispatch dispatch.Policy
	Logger   *slog.Logger
}

// The HTTP server's limits when Config leaves them 0. The write timeout
// leaves time for the largest answers on a slow link: a full page of track
// (100,000 positions, ~15 MB) at about 1 Mbit/s, the dashboard (2.4 MB) at
// 20 KB/s.
const (
	defaultHTTPReadTimeout   = 30 * time.Second
	defaultHTTPWriteTimeout  = 2 * time.Minute
	defaultHTTPIdleTimeout   = 2 * time.Minute
	defaultHTTPMaxConnsPerIP = 128
)

// DefaultConfig is the hub as `make run` starts it.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:8080",
		MQTTAddr:          "127.0.0.1:1883",
		BrokerClientID:    "kuaifan-hub",
		DataDir:           "data",
		TopicRoot:         protocol.DefaultRoot,
		Retention:         store.DefaultRetention,
		EventRetention:    store.DefaultEventRetention,
		IncidentRetention: dispatch.DefaultRetention,
		SnapshotInterval:  time.Hour,
		MaxClockAhead:     ingest.DefaultMaxClockAhead,
		AckInterval:       2 * time.Second,

		HTTPReadTimeout:   defaultHTTPReadTimeout,
		HTTPWriteTimeout:  defaultHTTPWriteTimeout,
		HTTPIdleTimeout:   defaultHTTPIdleTimeout,
		HTTPMaxConnsPerIP: defaultHTTPMaxConnsPerIP,

		MaxClientWritesPending: 256,
		Match:                  matchDefaults(),
		Dispatch:               dispatch.DefaultPolicy(),
	}
}

// matchDefaults is matching's defaults without its tiers, which come from
// the dispatch policy.
func matchDefaults() match.Config {
	m := match.DefaultConfig()
	m.Tiers = nil
	return m
}

// TokenFile is the admin token's file inside the data directory.
const TokenFile = "admin.token"

// Hub is one running hub. New prepares it (store open, ports bound), Run serves.
type Hub struct {
	cfg       Config
	log       *slog.Logger
	token     string
	tokenFile string // where the token came from, if a file

	store    *store.Store
	fleet    *fleet.Fleet
	embedded *broker.Embedded // nil with an external broker
	bus      broker.Bus
	ingest   *ingest.Ingest
	dispatch *dispatch.Dispatcher
	stream   *stream.Stream
	// cover is the city's live coverage; nil without districts.
	cover *citycover.Live
	// patrols is the patrol plans (点线面); tasks sends units theirs.
	patrols *patrol.Plans
	tasks   *patrol.Notifier
	// responder is the phones' app at /responder/; it hears the commands
	// dispatch publishes through the bus it is given (responder.Tap).
	responder *responder.Server
	tiles     *tiles.Server // nil without a tile package
	registry  *prometheus.Registry
	access    *access.Service
	audit     *audit.Log
	api       *api.Handler
	// firstAdmin is the file with the first admin's one-time password
	// while it is unchanged; firstAdminMade says it was made now.
	firstAdmin     string
	firstAdminMade bool

	httpLn  net.Listener // plain HTTP; nil with TLS and no HTTPAddr
	httpsLn net.Listener // nil without TLS
	http    *http.Server // the API: on httpsLn with TLS, else on httpLn
	plain   *http.Server // with TLS, on httpLn: redirects to HTTPS
	tls     *TLSInfo     // nil without TLS
	// connRefused counts connections connlimit closed, on either listener.
	connRefused prometheus.Counter
}

// New opens the store, binds the HTTP and MQTT ports and connects everything,
// but serves nothing until Run.
func New(ctx context.Context, cfg Config) (_ *Hub, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.tlsAddrs()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			h.closeAll()
		}
	}()
	// First: a wrong tile flag is the operator's to fix before anything
	// is created on disk.
	if cfg.TilesDir != "" || cfg.TilesMBTiles != "" {
		if h.tiles, err = tiles.Open(tiles.Config{Dir: cfg.TilesDir, MBTiles: cfg.TilesMBTiles,
			Logger: log.With("component", "tiles")}); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
		m := h.tiles.Metadata()
		log.Info("basemap tiles", "package", cfg.TilesDir+cfg.TilesMBTiles, "name", m.Name, "format", m.Format,
			"minzoom", m.MinZoom, "maxzoom", m.MaxZoom, "url", tiles.Template)
	}
	// So is a wrong camera file.
	var cams []wireapi.Camera
	if cfg.Cameras != "" {
		if cams, err = cameras.Load(cfg.Cameras); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
		log.Info("cameras", "file", cfg.Cameras, "count", len(cams))
	}
	h.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hub: data directory: %w", err)
	}
	if h.token, h.tokenFile, err = adminToken(cfg.AdminToken, cfg.DataDir); err != nil {
		return nil, err
	}
	if h.access, err = access.New(access.Config{Dir: cfg.DataDir, BootstrapToken: h.token, SessionIdle: cfg.SessionIdle,
		SessionMax: cfg.SessionMax, Hashing: cfg.PasswordHashing, Hasher: cfg.PasswordHasher, Logger: log.With("component", "access")}); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if h.firstAdmin, h.firstAdminMade, err = h.access.EnsureFirstAdmin(); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if h.audit, err = audit.Open(cfg.DataDir, nil); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	// Before the store: a certificate that does not load stops the hub
	// before it takes anything from anyone.
	var tlsCfg *tls.Config
	if cfg.tlsEnabled() {
		if tlsCfg, h.tls, err = loadTLS(&cfg, log); err != nil {
			return nil, err
		}
	}

	h.store, err = store.Open(store.Config{Dir: cfg.DataDir, Retention: cfg.Retention,
		EventRetention: cfg.EventRetention, SnapshotInterval: cfg.SnapshotInterval, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h.registerStoreMetrics()

	// The stream is made last; until then there is nobody to tell.
	unitsChanged := func(ids ...string) {
		if h.stream != nil {
			h.stream.UnitsChanged(ids...)
		}
		if h.cover != nil {
			h.cover.UnitsChanged()
		}
	}
	incidentsChanged := func(ids ...string) {
		if h.stream != nil {
			h.stream.IncidentsChanged(ids...)
		}
	}
	h.fleet, err = fleet.Open(fleet.Config{Store: h.store, Match: cfg.matching(), Logger: log, OnChange: unitsChanged})
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}

	topics := protocol.Topics{Root: cfg.TopicRoot}
	if cfg.BrokerURL == "" {
		ln, tlsLn, err := mqttListeners(cfg, tlsCfg)
		if err != nil {
			return nil, err
		}
		h.embedded, err = broker.NewEmbedded(broker.Config{Listener: ln, TLSListener: tlsLn, Topics: topics,
			Credentials: h.fleet, OwnTracks: h.reportsByOwnTracks,
			Logger: log.With("component", "broker"), Registerer: h.registry,
			MaxClientWritesPending: cfg.MaxClientWritesPending})
		if err != nil {
			closeListeners(ln, tlsLn)
			return nil, fmt.Errorf("hub: %w", err)
		}
		h.bus = h.embedded
	} else {
		h.bus, err = broker.DialRemote(ctx, broker.RemoteConfig{URL: cfg.BrokerURL, ClientID: cfg.BrokerClientID,
			Username: cfg.BrokerUsername, Password: cfg.BrokerPassword, Logger: log.With("component", "broker")})
		if err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}

	dists := changsha.Districts()
	switch cfg.Districts {
	case "":
	case "none":
		dists = districts.None()
	default:
		if dists, err = districts.Load(cfg.Districts); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}
	h.responder = responder.New(responder.Config{Units: h.fleet, Pipeline: late{h}, Incidents: late{h},
		Topics: topics, Logger: log.With("component", "responder")})
	h.dispatch, err = dispatch.New(dispatch.Config{Policy: cfg.Dispatch, Topics: topics, FreshFor: cfg.Match.MaxFixAge,
		Retention: cfg.IncidentRetention, Cameras: cams, OnChange: incidentsChanged, DistrictOf: districtOf(dists),
		Logger: log.With("component", "dispatch"), Registerer: h.registry},
		cfg.matching(), h.store, h.fleet, h.responder.Tap(h.bus))
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}

	// Subscribe before devices can connect, so no retained state is missed.
	h.ingest, err = ingest.New(ingest.Config{Topics: topics, MaxClockAhead: cfg.MaxClockAhead,
		AckInterval: cfg.AckInterval, Logger: log.With("component", "ingest"),
		Metrics: ingest.NewMetrics(h.registry), OnEvents: h.dispatch.HandleEvents}, h.bus, h.fleet)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}

	// Phone apps report through the same pipeline. OwnTracks over MQTT needs
	// the embedded broker: only there does the PUBACK wait for the commit.
	phoneReports := phones.New(phones.Config{Units: h.fleet, Pipeline: h.ingest, Logger: log.With("component", "phones")})
	if h.embedded != nil {
		if err := h.embedded.SubscribeConfirmed(broker.OwnTracksFilter, phoneReports.OwnTracksMQTT); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}

	if h.patrols, err = patrol.OpenPlans(h.store, h.store.NoteDamage, func() {
		if h.tasks != nil {
			h.tasks.Poke()
		}
	}); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h.tasks = h.newTaskNotifier(topics)
	if len(dists.Districts) > 0 {
		if h.cover, err = h.newCoverage(dists); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}
	var layer stream.CoverageLayer
	if h.cover != nil {
		layer = h.cover
	}
	h.stream = stream.New(stream.Config{Bearer: h.bearerOK, OriginPatterns: cfg.AllowedOrigins,
		Logger: log.With("component", "stream"), Registerer: h.registry, Coverage: layer}, streamSource{h.fleet, h.dispatch})

	var disconnect func(string)
	if h.embedded != nil {
		disconnect = h.embedded.Disconnect
	}
	h.connRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_http_conn_refused_total",
		Help: "HTTP connections closed on accepting them: their address had HTTPMaxConnsPerIP open."})
	h.registry.MustRegister(h.connRefused)
	if tlsCfg == nil || cfg.HTTPAddr != "" {
		if h.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("hub: HTTP listener: %w", err)
		}
		h.httpLn = h.limitConns(h.httpLn)
	}
	if tlsCfg != nil {
		if h.httpsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			return nil, fmt.Errorf("hub: HTTPS listener: %w", err)
		}
		h.httpsLn = h.limitConns(h.httpsLn)
	}
	h.api = api.New(api.Config{Fleet: h.fleet, Dispatch: h.dispatch, Stream: h.stream, Ticket: h.stream.TicketFor,
		Dashboard: h.site(), Districts: dists, Cameras: cams, History: h.store.History(), Tracks: h.store.History(),
		Access: h.access, Audit: h.audit, Disconnect: disconnect, Publish: h.bus.Publish, Topics: topics, Phones: phoneReports.Handler(),
		BrokerUser: cfg.BrokerUsername, BrokerPassword: cfg.BrokerPassword,
		Metrics: promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{}), Degraded: h.degraded,
		Coverage: h.coverage(), MoveUps: h.moveUps(), Patrols: h.patrols, Logger: log.With("component", "api")})
	h.http = &http.Server{
		TLSConfig:         tlsCfg,
		Handler:           h.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       orDefault(cfg.HTTPReadTimeout, defaultHTTPReadTimeout),
		WriteTimeout:      orDefault(cfg.HTTPWriteTimeout, defaultHTTPWriteTimeout),
		IdleTimeout:       orDefault(cfg.HTTPIdleTimeout, defaultHTTPIdleTimeout),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if tlsCfg != nil && h.httpLn != nil {
		_, port, _ := net.SplitHostPort(h.httpsLn.Addr().String())
		h.plain = &http.Server{
			Handler:           redirectToHTTPS(port, h.http.Handler),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       h.http.ReadTimeout,
			WriteTimeout:      h.http.WriteTimeout,
			IdleTimeout:       h.http.IdleTimeout,
			ErrorLog:          h.http.ErrorLog,
		}
	}
	return h, nil
}

// mqttListeners binds the embedded broker's plain and TLS listeners, those
// the config asks for.
func mqttListeners(cfg Config, tlsCfg *tls.Config) (plain, secure net.Listener, err error) {
	if cfg.MQTTAddr != "" {
		if plain, err = net.Listen("tcp", cfg.MQTTAddr); err != nil {
			return nil, nil, fmt.Errorf("hub: MQTT listener: %w", err)
		}
	}
	if tlsCfg != nil && cfg.MQTTSAddr != "" {
		ln, err := net.Listen("tcp", cfg.MQTTSAddr)
		if err != nil {
			closeListeners(plain)
			return nil, nil, fmt.Errorf("hub: MQTTS listener: %w", err)
		}
		secure = tls.NewListener(ln, tlsCfg.Clone())
	}
	return plain, secure, nil
}

func closeListeners(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// districtOf names the district of a place by its id in set ("" outside
// every district), for the response figures.
func districtOf(set *districts.Set) func(lat, lon float64) string {
	return func(lat, lon float64) string {
		if i := set.At(districts.Point{Lat: lat, Lon: lon}); i >= 0 {
			return set.Districts[i].ID
		}
		return ""
	}
}

// newCoverage prepares the city's live coverage: the units matching would
// rank for a place (free, fresh), at matching's speeds and detour factor,
// volunteers left out (the 1-3-5 city is the police's own cover), tiers
// from the dispatch policy, demand from the stored incidents.
func (h *Hub) newCoverage(dists *districts.Set) (*citycover.Live, error) {
	m := h.cfg.matching()
	speeds := maps.Clone(m.Speeds)
	delete(speeds, protocol.TypeVolunteer)
	maxAge := m.MaxFixAge
	return citycover.New(citycover.Config{
		Districts: dists,
		Grid:      coverage.Config{CellM: h.cfg.CoverageCellM, Speeds: speeds, Detour: m.Detour, Tiers: m.Tiers},
		Units: func(now time.Time) []coverage.Unit {
			var units []coverage.Unit
			h.fleet.EachFree(now, maxAge, func(id string, t protocol.UnitType, lat, lon float64) {
				if _, ok := speeds[t]; ok {
					units = append(units, coverage.Unit{ID: id, Type: t, Lat: lat, Lon: lon})
				}
			})
			return units
		},
		Demand: func(from, to int64, visit func(lat, lon float64)) error {
			return h.dispatch.EachCreated(from, to, func(inc dispatch.Incident, _ kpi.Facts) error {
				visit(inc.Lat, inc.Lon)
				return nil
			})
		},
		OnChange: func() {
			if h.stream != nil {
				h.stream.CoverageChanged()
			}
		},
		Registerer: h.registry,
		Logger:     h.log.With("component", "coverage"),
	})
}

// newTaskNotifier sends each online unit its patrol tasks (the command
// tasks), through the responder's tap so a phone's app hears them too.
func (h *Hub) newTaskNotifier(topics protocol.Topics) *patrol.Notifier {
	bus := h.responder.Tap(h.bus)
	return patrol.NewNotifier(patrol.NotifierConfig{
		Plans: h.patrols,
		Units: func() []patrol.Member {
			views := h.fleet.List()
			out := make([]patrol.Member, len(views))
			for i, v := range views {
				out[i] = patrol.Member{ID: v.ID, Type: v.Type, Online: v.Online, Commands: v.Protocol == ""}
			}
			return out
		},
		Send: func(unit string, cmd protocol.Command) error {
			payload, err := protocol.Encode(cmd)
			if err != nil {
				return err
			}
			return bus.Publish(topics.Unit(unit, protocol.KindCmd), payload, false)
		},
		NewID:  dispatch.NewCommandID,
		Logger: h.log.With("component", "patrol"),
	})
}

// coverage is the API's view of the coverage layer, nil without one.
func (h *Hub) coverage() func() *wireapi.Coverage {
	if h.cover == nil {
		return nil
	}
	return h.cover.Current
}

// moveUps is the API's move-up suggestions, nil without coverage.
func (h *Hub) moveUps() func(n, floor int, maxTravel time.Duration) (wireapi.MoveUps, error) {
	if h.cover == nil {
		return nil
	}
	return h.cover.MoveUps
}

// orDefault is v, or def if v is 0; negative stays (http.Server: no timeout).
func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// limitConns caps the HTTP connections per remote address
// (Config.HTTPMaxConnsPerIP). The refusals are counted, and logged at
// debug only: a client flooding connections would flood the log too.
func (h *Hub) limitConns(ln net.Listener) net.Listener {
	refused := h.connRefused
	limit := h.cfg.HTTPMaxConnsPerIP
	if limit == 0 {
		limit = defaultHTTPMaxConnsPerIP
	}
	if limit < 0 {
		return ln
	}
	return connlimit.Wrap(ln, connlimit.Config{Max: limit, OnRefuse: func(remote net.Addr) {
		refused.Inc()
		h.log.Debug("http: connection refused: too many open from its address", "remote", remote.String(), "max", limit)
	}})
}

// site serves what the API leaves to the browser: the dashboard at /, and
// the hub's own basemap tiles at /tiles/ (no token: the dashboard draws them
// as images, which cannot carry one). With a tile package and no -tiles,
// the dashboard's basemap is that package.
func (h *Hub) site() http.Handler {
	basemap := h.cfg.Tiles
	if basemap == "" && h.tiles != nil {
		basemap = tiles.Template
	}
	dashboard := webui.New(webui.Config{Tiles: basemap})
	mux := http.NewServeMux()
	mux.Handle("/", dashboard)
	app := h.responder.Handler()
	mux.Handle(responder.Prefix, app)
	mux.Handle(strings.TrimSuffix(responder.Prefix, "/"), app)
	if h.tiles != nil {
		mux.Handle(tiles.Prefix, h.tiles)
	}
	return mux
}

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("no data directory"))
	}
	if !protocol.ValidRoot(c.TopicRoot) {
		errs = append(errs, fmt.Errorf("topic root %q: one or more levels, no wildcards", c.TopicRoot))
	}
	if c.BrokerURL == "" && c.MQTTAddr == "" && !c.tlsEnabled() {
		errs = append(errs, errors.New("neither an MQTT listen address nor an external broker"))
	}
	if len(c.Match.Tiers) > 0 {
		errs = append(errs, errors.New("Match.Tiers is not read: the response tiers are the dispatch policy's (Dispatch.Tiers, -dispatch-config)"))
	}
	if err := c.matching().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Dispatch.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("dispatch policy: %w", err))
	}
	errs = append(errs, c.validateTLS()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hub: config: %w", err)
	}
	return nil
}

// matching is Match with the dispatch policy's tiers: one notion of tiers,
// in one place.
func (c Config) matching() match.Config {
	m := c.Match
	m.Tiers = c.Dispatch.Circles()
	return m
}

// adminToken takes the configured token, else the one in <dir>/admin.token,
// else generates one there, readable by the hub's user only.
func adminToken(configured, dir string) (token, file string, err error) {
	if configured != "" {
		return configured, "", nil
	}
	file = filepath.Join(dir, TokenFile)
	if b, err := os.ReadFile(file); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, file, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("hub: admin token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("hub: admin token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("hub: admin token: %w", err)
	}
	return token, file, nil
}

// registerStoreMetrics registers what the store found at start and what
// damage it has met since.
func (h *Hub) registerStoreMetrics() {
	rep := h.store.OpenReport()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		h.registry.MustRegister(g)
	}
	recovered := 0.0
	if h.store.Recovered() != "" {
		recovered = 1
	}
	gauge("kuaifan_store_recovered", "1 if hub.db was damaged at start and was salvaged (or, if nothing in it read, started from the snapshot or empty).", recovered)
	gauge("kuaifan_store_salvage_skipped_regions", "Unreadable regions of hub.db skipped by the salvage at start.", float64(rep.Regions))
	gauge("kuaifan_store_salvage_skipped_bytes", "Bytes of hub.db skipped by the salvage at start: the records in them are lost.", float64(rep.SkippedBytes))
	gauge("kuaifan_store_torn_bytes", "Bytes cut off the end of hub.db at start: a transaction torn by a crash, never confirmed.", float64(rep.TornBytes))
	h.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuaifan_store_damaged_records",
		Help: "Damaged records of the store met since start (skipped, and reported on /healthz)."},
		func() float64 { return float64(h.store.Damaged()) }))
	h.registerWriteFaultMetrics()
}

// registerWriteFaultMetrics registers what the store's failing writes
// (a full, read-only or failing disk) look like: /healthz says the same.
func (h *Hub) registerWriteFaultMetrics() {
	failing := func(writes string) func() float64 {
		return func() float64 {
			for _, f := range h.store.Faults() {
				if f.Writes == writes {
					return 1
				}
			}
			return 0
		}
	}
	h.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuaifan_store_write_failing",
		Help: "1 while the store's commits (write transactions or their fsync) fail: nothing is confirmed to units, enrolled or saved."},
		failing("commits")))
	for op, writes := range map[store.Op]string{store.OpSnapshot: "snapshots", store.OpCompact: "compaction", store.OpPrune: "pruning"} {
		h.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuaifan_store_maintenance_failing",
			Help: "1 while the store's snapshots, compaction or pruning fail, by op.", ConstLabels: prometheus.Labels{"op": string(op)}},
			failing(writes)))
	}
	for _, op := range store.Ops {
		h.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kuaifan_store_write_failures_total",
			Help: "Writes of the store that failed, by op: commit, sync, snapshot, compact, prune.", ConstLabels: prometheus.Labels{"op": string(op)}},
			func() float64 { return float64(h.store.Failures()[op]) }))
	}
}

// degraded says why the hub serves but an operator must look: the store's
// writes fail now (a full, read-only or failing disk), its store was
// salvaged at start, units must be enrolled again, records did not decode.
// /healthz answers it with 200 and status "degraded"; "" is healthy.
func (h *Hub) degraded() string {
	var why []string
	for _, f := range h.store.Faults() {
		why = append(why, f.String())
	}
	if r := h.store.Recovered(); r != "" {
		why = append(why, "store salvaged at start: "+r)
	}
	if ids := h.store.Reenrol(); len(ids) > 0 {
		why = append(why, "units to enrol again (their enrolment was lost): "+strings.Join(ids, ", "))
	}
	if notes := h.store.Damage(); len(notes) > 0 {
		const shown = 5
		more := ""
		if n := h.store.Damaged(); n > min(len(notes), shown) {
			more = fmt.Sprintf(" (and %d more)", n-min(len(notes), shown))
		}
		why = append(why, fmt.Sprintf("damaged records: %s%s", strings.Join(notes[:min(len(notes), shown)], "; "), more))
	}
	return strings.Join(why, "; ")
}

// late hands the responder app what is made after it — ingest, and
// dispatch, which is given the responder's tap of the bus — once it
// serves, which is after New.
type late struct{ h *Hub }

func (l late) Submit(ctx context.Context, t protocol.Telemetry) (fleet.Result, error) {
	return l.h.ingest.Submit(ctx, t)
}

func (l late) SubmitEvent(ctx context.Context, e protocol.Event) (fleet.Result, error) {
	return l.h.ingest.SubmitEvent(ctx, e)
}

func (l late) Rejected(source string, err error) { l.h.ingest.Rejected(source, err) }

func (l late) Incidents(ids []string) []wireapi.Incident { return l.h.dispatch.Incidents(ids) }

// ResponderSizes is the responder app's files as served gzipped, by name.
func (h *Hub) ResponderSizes() map[string]int { return h.responder.Sizes() }

// HTTPAddr is the address plain HTTP listens on ("" if it does not): the
// API, or with TLS the redirects to HTTPS.
func (h *Hub) HTTPAddr() string {
	if h.httpLn == nil {
		return ""
	}
	return h.httpLn.Addr().String()
}

// HTTPSAddr is the address HTTPS listens on, or "" without TLS.
func (h *Hub) HTTPSAddr() string {
	if h.httpsLn == nil {
		return ""
	}
	return h.httpsLn.Addr().String()
}

// MQTTSAddr is the embedded broker's TLS address, or "" without one.
func (h *Hub) MQTTSAddr() string {
	if h.embedded == nil || h.embedded.TLSAddr() == nil {
		return ""
	}
	return h.embedded.TLSAddr().String()
}

// TLS is the certificate the hub serves, or nil without TLS.
func (h *Hub) TLS() *TLSInfo { return h.tls }

// reportsByOwnTracks says whether a unit is enrolled as an OwnTracks phone:
// only such a unit may publish owntracks/{unit}/… on the embedded broker.
func (h *Hub) reportsByOwnTracks(unit string) bool {
	p, _, ok := h.fleet.ReportsBy(unit)
	return ok && p == wireapi.ReportOwnTracks
}

// MQTTAddr is the embedded broker's plain address, or "" with an external
// broker or with TLS only.
func (h *Hub) MQTTAddr() string {
	if h.embedded == nil || h.embedded.Addr() == nil {
		return ""
	}
	return h.embedded.Addr().String()
}

// bearerOK admits a Bearer token to the live stream: the bootstrap token or
// any live API token (every role may watch).
func (h *Hub) bearerOK(token string) bool {
	_, err := h.access.Bearer(token)
	return err == nil
}

// FirstAdmin is the file holding the first admin's one-time password while
// it is unchanged ("" once changed), and whether this start made it.
func (h *Hub) FirstAdmin() (file string, made bool) { return h.firstAdmin, h.firstAdminMade }

// AuditFile is the audit log.
func (h *Hub) AuditFile() string { return h.audit.Path() }

// AdminToken is the bootstrap admin token.
func (h *Hub) AdminToken() string { return h.token }

// AdminTokenFile is where the token was read or written, or "" if configured.
func (h *Hub) AdminTokenFile() string { return h.tokenFile }

// Run serves until ctx is done, then shuts down in order: stop taking HTTP
// requests and MQTT messages, commit what was received, close the store.
func (h *Hub) Run(ctx context.Context) error {
	if h.embedded != nil {
		if err := h.embedded.Start(); err != nil {
			h.closeAll()
			return fmt.Errorf("hub: broker: %w", err)
		}
	}
	h.log.Info("hub running", "http", h.HTTPAddr(), "https", h.HTTPSAddr(), "mqtt", h.MQTTAddr(), "mqtts", h.MQTTSAddr(),
		"broker", h.cfg.BrokerURL, "data", h.cfg.DataDir)

	var wg sync.WaitGroup
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	dispatchDone := make(chan struct{})
	go func() {
		defer close(dispatchDone)
		h.dispatch.Run(dispatchCtx)
	}()
	ingestCtx, stopIngest := context.WithCancel(context.Background())
	defer stopIngest()
	ingestDone := make(chan struct{})
	go func() {
		defer close(ingestDone)
		h.ingest.Run(ingestCtx)
	}()
	snapDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.store.RunMaintenance(snapDone)
	}()
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		h.stream.Run(streamCtx)
	}()
	tasksCtx, stopTasks := context.WithCancel(context.Background())
	defer stopTasks()
	tasksDone := make(chan struct{})
	go func() {
		defer close(tasksDone)
		h.tasks.Run(tasksCtx)
	}()
	coverCtx, stopCover := context.WithCancel(context.Background())
	defer stopCover()
	coverDone := make(chan struct{})
	go func() {
		defer close(coverDone)
		if h.cover != nil {
			h.cover.Run(coverCtx)
		}
	}()
	accessCtx, stopAccess := context.WithCancel(context.Background())
	defer stopAccess()
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.access.Run(accessCtx)
	}()
	responderCtx, stopResponder := context.WithCancel(context.Background())
	defer stopResponder()
	responderDone := make(chan struct{})
	go func() {
		defer close(responderDone)
		h.responder.Run(responderCtx)
	}()
	httpErr := make(chan error, 2)
	var serving sync.WaitGroup
	if h.httpsLn != nil {
		// ServeTLS, not Serve on a tls.Listener: it offers HTTP/2 as well.
		serving.Go(func() { httpErr <- h.http.ServeTLS(h.httpsLn, "", "") })
		if h.plain != nil {
			serving.Go(func() { httpErr <- h.plain.Serve(h.httpLn) })
		}
	} else {
		serving.Go(func() { httpErr <- h.http.Serve(h.httpLn) })
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("hub: HTTP: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h.plain != nil {
		_ = h.plain.Shutdown(shutdown)
	}
	_ = h.http.Shutdown(shutdown)
	serving.Wait()
	// No request starts now; one still running past Shutdown's timeout
	// gets a 500 rather than a closed database.
	h.closeTiles()
	stopCover()
	<-coverDone
	stopTasks() // before the bus closes: it publishes
	<-tasksDone
	stopStream() // Shutdown leaves upgraded connections to their owner
	<-streamDone
	stopResponder() // its websockets likewise
	<-responderDone
	// Ingest stops taking messages, commits what it holds and sends the last
	// confirmations while the bus is still up; then the bus closes.
	stopIngest()
	<-ingestDone
	stopDispatch() // after ingest: the last events it committed reach dispatch first
	<-dispatchDone
	if cerr := h.bus.Close(); cerr != nil {
		h.log.Warn("closing the broker", "err", cerr)
	}
	close(snapDone)
	stopAccess()
	wg.Wait()
	h.fleet.Close()
	if cerr := h.audit.Close(); cerr != nil {
		h.log.Warn("closing the audit log", "err", cerr)
	}
	if cerr := h.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	h.log.Info("hub stopped")
	return err
}

func (h *Hub) closeTiles() {
	if h.tiles == nil {
		return
	}
	if err := h.tiles.Close(); err != nil {
		h.log.Warn("closing the tile package", "err", err)
	}
}

// closeAll releases what New acquired when Run will not be called.
func (h *Hub) closeAll() {
	closeListeners(h.httpLn, h.httpsLn)
	h.closeTiles()
	if h.bus != nil {
		h.bus.Close()
	}
	if h.fleet != nil {
		h.fleet.Close()
	}
	if h.store != nil {
		h.store.Close()
	}
	if h.audit != nil {
		h.audit.Close()
	}
}
