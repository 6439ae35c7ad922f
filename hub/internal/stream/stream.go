// Package stream is the hub's live feed for dispatchers' dashboards and tools:
// GET /ws, a websocket that sends a snapshot of every unit and open incident,
// then deltas batched at most once per Interval (100 ms).
//
// Frames are JSON text messages, kuaifan/protocol/api's Frame:
//
//	{"type":"snapshot","seq":N,"ts":ms,"units":[…],"incidents":[…]}
//	{"type":"delta","seq":N,"ts":ms,"units":[…],"incidents":[…],"removed_units":[ids],"removed_incidents":[ids]}
//
// With Config.Coverage, a snapshot also carries the city's coverage layer
// whole and a delta its changes (api.Coverage), after CoverageChanged.
//
// Entries in units and incidents are the Source's values as they are (the
// hub's views carry their "id"); a delta holds only what changed in its window,
// the latest state per id, and leaves out empty lists. ts is the hub's clock
// in Unix milliseconds when the frame was built. seq counts deltas: a delta
// has the next number, a snapshot the number of the last delta it includes, so
// a client that keeps up sees seq rise by exactly one per frame, and a jump
// followed by a snapshot means it fell behind and was resynced.
//
// A slow client never slows ingest or other clients. The batching loop only
// queues frames (each encoded once, shared by every client) on a bounded
// channel per client; when one is full, its backlog is dropped and a fresh
// snapshot queued instead. Each client's own goroutine writes, with a timeout:
// a client that cannot take a frame within WriteTimeout is cut off.
//
// Auth happens before the upgrade: a token the hub knows as a Bearer header
// (tools), or a single-use ticket in the query (?ticket=…) for browsers, which
// cannot set headers on a websocket. A token in the URL is never accepted. The
// Origin check (same host, or OriginPatterns) guards against other sites'
// pages; a request without an Origin passes it, hence the auth.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"kuaifan/protocol/api"
)

// Item is one thing the stream shows, as JSON.
type Item struct {
	ID    string
	Value any // JSON-encodable; nil in a delta means "removed"
}

// Source is where the stream reads current state. Both methods are called
// from the stream's own goroutine (Run), never concurrently with each other.
type Source interface {
	Units(ids []string) []Item     // ids nil: every unit; else those ids (a missing id = removed)
	Incidents(ids []string) []Item // ids nil: every open incident; else those ids (a missing id = removed or closed and gone)
}

// Config tunes a Stream; zero values take the defaults.
type Config struct {
	Interval       time.Duration           // batching window, default 100 ms
	ClientBuffer   int                     // frames queued per client before it is resynced, default 16
	WriteTimeout   time.Duration           // a client that cannot take a frame for this long is closed, default 10 s
	OriginPatterns []string                // extra allowed Origin hosts (coder/websocket patterns); same host is always allowed
	Bearer         func(token string) bool // admits a Bearer token; nil: none
	TicketTTL      time.Duration           // default 30 s
	// Recheck is how often a connection's session or token is checked
	// again: a signed-out person, a disabled account or a revoked token
	// stops watching within it. Default 5 s.
	Recheck    time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics kept but not exported
	Now        func() time.Time
	// Coverage, if set, is the city's coverage layer: whole in every
	// snapshot, its changes in the delta after CoverageChanged.
	Coverage CoverageLayer
}

// CoverageLayer is the coverage layer as the stream reads it: Current for
// snapshots (shared, not changed), Changes for deltas (what changed since
// its previous call; the stream is its one caller).
type CoverageLayer interface {
	Current() *api.Coverage
	Changes() *api.Coverage
}

// Defaults of Config.
const (
	DefaultInterval     = 100 * time.Millisecond
	DefaultClientBuffer = 16
	DefaultWriteTimeout = 10 * time.Second
	DefaultTicketTTL    = 30 * time.Second
	DefaultRecheck      = 5 * time.Second

	// StatusSignedOut closes a connection whose session or token ended
	// (a websocket close code for applications, 4000–4999).
	StatusSignedOut websocket.StatusCode = 4001

	// PingInterval is how often a client is pinged, so a dead peer is found
	// even when nothing changes; it has WriteTimeout to answer.
	PingInterval = 30 * time.Second
)

// closeGrace bounds a close handshake: a peer that does not answer our close
// frame this soon is cut off (the library would wait 5 s, then 5 s more).
const closeGrace = time.Second

// sendBuffer is the kernel's send buffer for a client's connection. Left to
// itself Linux grows it to 4 MB for a client that stops reading: seconds of
// stale frames the stream cannot drop, and that many more before the client
// counts as behind and gets a snapshot. 256 KiB (the kernel doubles it) still
// carries the stream at 50 ms of round trip.
const sendBuffer = 256 << 10

// Stream is the live feed. New prepares it; Run batches and sends; ServeHTTP
// serves GET /ws.
type Stream struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	m       *metrics
	origins []string // cfg.OriginPatterns that are valid patterns

	// From the constants above; tests change them.
	pingInterval  time.Duration
	shutdownGrace time.Duration
	sendBuffer    int

	wake chan struct{} // capacity 1: there is work for the loop

	dirtyMu        sync.Mutex
	dirtyUnits     map[string]struct{}
	dirtyIncidents map[string]struct{}
	dirtyCoverage  atomic.Bool

	mu       sync.Mutex // guards clients and stopped
	clients  map[*client]struct{}
	stopped  bool
	handlers sync.WaitGroup // one per registered client; Run waits for them
	stopping chan struct{}  // closed when Run ends: every client is closed

	ticketMu sync.Mutex
	tickets  map[[32]byte]issued // by the sha256 of a ticket

	running atomic.Bool

	// Owned by the loop.
	seq            uint64
	spareUnits     map[string]struct{}
	spareIncidents map[string]struct{}
	clientBuf      []*client
}

var _ http.Handler = (*Stream)(nil)

// New returns a stream reading from src. It serves nothing until Run.
func New(cfg Config, src Source) *Stream {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ClientBuffer <= 0 {
		cfg.ClientBuffer = DefaultClientBuffer
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = DefaultTicketTTL
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Stream{
		cfg:            cfg,
		src:            src,
		log:            cfg.Logger,
		m:              newMetrics(cfg.Registerer),
		pingInterval:   PingInterval,
		shutdownGrace:  2 * closeGrace,
		sendBuffer:     sendBuffer,
		wake:           make(chan struct{}, 1),
		dirtyUnits:     make(map[string]struct{}),
		dirtyIncidents: make(map[string]struct{}),
		spareUnits:     make(map[string]struct{}),
		spareIncidents: make(map[string]struct{}),
		clients:        make(map[*client]struct{}),
		stopping:       make(chan struct{}),
		tickets:        make(map[[32]byte]issued),
	}
	for _, p := range cfg.OriginPatterns {
		// A bad pattern would make coder/websocket refuse every foreign
		// Origin with a log.Printf; leave it out and say so once, here.
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			s.log.Error("stream: ignoring an invalid Origin pattern", "pattern", p, "err", err)
			continue
		}
		s.origins = append(s.origins, p)
	}
	return s
}

// UnitsChanged marks units whose state changed (or which were removed). It
// is cheap and never waits for the stream: called from ingest's committer.
func (s *Stream) UnitsChanged(ids ...string) { s.mark(&s.dirtyUnits, ids) }

// IncidentsChanged marks incidents that changed, opened or closed.
func (s *Stream) IncidentsChanged(ids ...string) { s.mark(&s.dirtyIncidents, ids) }

// CoverageChanged says the coverage layer changed: the next delta carries
// its changes.
func (s *Stream) CoverageChanged() {
	if s.cfg.Coverage != nil && !s.dirtyCoverage.Swap(true) {
		s.poke()
	}
}

func (s *Stream) mark(set *map[string]struct{}, ids []string) {
	if len(ids) == 0 {
		return
	}
	s.dirtyMu.Lock()
	m := *set
	wasEmpty := len(m) == 0
	for _, id := range ids {
		m[id] = struct{}{}
	}
	s.dirtyMu.Unlock()
	// Only the first mark of a window needs to wake the loop: it takes the
	// sets whole, so later marks ride along.
	if wasEmpty {
		s.poke()
	}
}

func (s *Stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Clients is the number of connected clients.
func (s *Stream) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Run sends frames until ctx is done, then closes every client (going away)
// and returns nil once their goroutines have ended. It may be called once.
//
// The first change after a quiet spell goes out at once; the ones after it
// wait for the window to end, so no client gets more than one frame per
// Interval and a busy fleet costs one Source query and one encoding per window.
func (s *Stream) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("stream: Run called twice")
	}
	defer s.shutdown()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		if wait := s.cfg.Interval - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
		}
		last = time.Now()
		s.flush()
	}
}

// shutdown closes every client and waits for their goroutines. A client
// whose close handshake does not finish within shutdownGrace (a stuck write,
// a peer that never answers) has its TCP connection closed.
func (s *Stream) shutdown() {
	s.mu.Lock()
	s.stopped = true
	clients := slices.Collect(maps.Keys(s.clients))
	s.mu.Unlock()
	close(s.stopping)

	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	grace := time.NewTimer(s.shutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-grace.C:
	}
	for _, cl := range clients {
		cl.kill()
	}
	<-done
}

// flush sends one window's delta to every client in step, and a snapshot to
// the clients that need one (new, or resynced just now).
func (s *Stream) flush() {
	units, incidents := s.takeDirty()
	defer s.giveBack(units, incidents)

	s.mu.Lock()
	s.clientBuf = s.clientBuf[:0]
	for cl := range s.clients {
		s.clientBuf = append(s.clientBuf, cl)
	}
	s.mu.Unlock()
	clients := s.clientBuf
	defer clear(s.clientBuf) // let departed clients go

	var cov *api.Coverage
	if s.dirtyCoverage.Swap(false) {
		cov = s.cfg.Coverage.Changes()
	}
	// Deltas first: a snapshot for one client must not delay everyone else.
	if len(units)+len(incidents) > 0 || cov != nil {
		s.seq++
		delta := s.buildDelta(units, incidents, cov)
		for _, cl := range clients {
			if cl.needSnapshot || cl.offer(delta) {
				continue
			}
			// Full: the client is behind by ClientBuffer frames. A backlog
			// it would read seconds late is worth less than the present.
			dropped := cl.drain()
			cl.needSnapshot = true
			s.m.resyncs.Inc()
			s.log.Debug("stream: client fell behind, resyncing", "remote", cl.remote, "dropped_frames", dropped)
		}
	}

	var snap *frame
	for _, cl := range clients {
		if !cl.needSnapshot {
			continue
		}
		if snap == nil {
			snap = s.buildSnapshot() // once per window, shared
		}
		if cl.offer(snap) {
			cl.needSnapshot = false
		} else {
			s.poke() // cannot happen (a drained queue has room), but never strand a client
		}
	}
}

// takeDirty swaps the marked sets for the spare (empty) ones.
func (s *Stream) takeDirty() (units, incidents map[string]struct{}) {
	s.dirtyMu.Lock()
	units, s.dirtyUnits = s.dirtyUnits, s.spareUnits
	incidents, s.dirtyIncidents = s.dirtyIncidents, s.spareIncidents
	s.dirtyMu.Unlock()
	return units, incidents
}

func (s *Stream) giveBack(units, incidents map[string]struct{}) {
	clear(units)
	clear(incidents)
	s.spareUnits, s.spareIncidents = units, incidents
}

// Frame kinds (kuaifan/protocol/api), also the values of the frames_total
// type label.
const (
	kindSnapshot = api.FrameSnapshot
	kindDelta    = api.FrameDelta
)

// frame is one encoded message, shared by every client it is queued for.
type frame struct {
	kind string
	seq  uint64
	data []byte
}

// message is a frame before encoding: the API's frame (kuaifan/protocol/api)
// with the Source's values as they are. A snapshot's lists are never nil, so
// they are sent even when empty; a delta's are nil when empty, and left out.
type message = api.FrameOf[any, any]

func (s *Stream) buildDelta(units, incidents map[string]struct{}, cov *api.Coverage) *frame {
	msg := message{Type: kindDelta, Seq: s.seq, TS: s.cfg.Now().UnixMilli(), Coverage: cov}
	if len(units) > 0 {
		ids := slices.Collect(maps.Keys(units))
		msg.Units, msg.RemovedUnits = split(ids, s.src.Units(ids))
	}
	if len(incidents) > 0 {
		ids := slices.Collect(maps.Keys(incidents))
		msg.Incidents, msg.RemovedIncidents = split(ids, s.src.Incidents(ids))
	}
	return s.encode(kindDelta, msg.Seq, &msg)
}

func (s *Stream) buildSnapshot() *frame {
	start := time.Now()
	msg := message{Type: kindSnapshot, Seq: s.seq, TS: s.cfg.Now().UnixMilli(),
		Units: values(s.src.Units(nil)), Incidents: values(s.src.Incidents(nil))}
	if s.cfg.Coverage != nil {
		msg.Coverage = s.cfg.Coverage.Current()
	}
	f := s.encode(kindSnapshot, msg.Seq, &msg)
	s.log.Debug("stream: snapshot built", "seq", msg.Seq, "units", len(msg.Units),
		"incidents", len(msg.Incidents), "bytes", len(f.data), "took", time.Since(start))
	return f
}

// split turns the Source's answer for ids into the values to send and the ids
// that are gone (missing from the answer, or with a nil value).
func split(ids []string, items []Item) (vals []any, removed []string) {
	present := make(map[string]struct{}, len(items))
	for _, it := range items {
		if it.Value != nil {
			present[it.ID] = struct{}{}
			vals = append(vals, it.Value)
		}
	}
	for _, id := range ids {
		if _, ok := present[id]; !ok {
			removed = append(removed, id)
		}
	}
	slices.Sort(removed)
	return vals, removed
}

// values are the items' values for a snapshot: never null, even when empty.
func values(items []Item) []any {
	v := make([]any, 0, len(items))
	for _, it := range items {
		if it.Value != nil {
			v = append(v, it.Value)
		}
	}
	return v
}

// encode marshals msg once. Should a value fail to encode, the frame goes out
// without it rather than not at all, so one bad value cannot stop the stream.
func (s *Stream) encode(kind string, seq uint64, msg *message) *frame {
	data, err := json.Marshal(msg)
	if err != nil {
		data = s.encodeSkippingBad(msg)
	}
	s.m.frameBytes.Observe(float64(len(data)))
	return &frame{kind: kind, seq: seq, data: data}
}

func (s *Stream) encodeSkippingBad(msg *message) []byte {
	clean := func(values []any) []any {
		if values == nil {
			return nil
		}
		out := make([]any, 0, len(values))
		for _, v := range values {
			b, err := json.Marshal(v)
			if err != nil {
				s.log.Error("stream: value left out of a frame, it does not encode as JSON", "err", err)
				continue
			}
			out = append(out, json.RawMessage(b))
		}
		if len(out) == 0 && msg.Type == kindDelta {
			return nil // a delta leaves out an empty list
		}
		return out
	}
	msg.Units, msg.Incidents = clean(msg.Units), clean(msg.Incidents)
	data, err := json.Marshal(msg)
	if err != nil { // cannot happen: only strings, numbers and valid raw JSON are left
		panic("stream: encoding a cleaned frame: " + err.Error())
	}
	return data
}
