package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"kuaifan/agent/internal/terminal"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/officerweb"
	"kuaifan/agent/internal/queue"
	"kuaifan/agent/internal/report"
	"kuaifan/agent/internal/uplink"
	"kuaifan/protocol"
)

// Version is the agent's version, sent in its online state as
// "kuaifan-agent/<Version>". Builds may set it with
// -ldflags "-X kuaifan/agent.Version=…".
var Version = "1.1"

// Config is everything the agent can be told. DefaultConfig fills it in;
// cmd/agent sets it from flags and a file.
type Config struct {
	Unit, Secret string      // MQTT client id = username = Unit; password = Secret (POST /api/units)
	Broker       string      // tcp://host:1883, ssl://host:8883 or tls:// (TLS), ws://host/path; a cluster's nodes separated by commas
	TLS          *tls.Config // optional for ssl:// (a private CA, a client certificate)

	// UnitType is what the unit is (car, motorcycle, foot, volunteer), as
	// enrolled at the hub; the officer's page estimates its ETA with it.
	// Empty: unknown (the page assumes a car).
	UnitType protocol.UnitType

	GPS        string      // gps.Open spec: nmea:PATH | gpsd:HOST:PORT | sim (on patrol round GPSOptions.Patrol); "" with UseGPS (a Sim the caller drives)
	GPSOptions gps.Options // quality bounds, serial baud, the simulator and its patrol, pacing
	// Replay treats GPS as a recorded log driven as if live: it is read at
	// its recorded pace and every fix is stamped with the agent's clock, so
	// the hub takes it as the unit's position now (a log's own times are
	// usually beyond the hub's retention, and would not move the unit).
	Replay bool

	DataDir   string // the queue (queue.db, queue.seq) and agent-state.json live here
	TopicRoot string // "rr"
	// MemoryQueue keeps the queue in memory (for simulated units, thousands
	// to a process): what is queued survives a lost link but not the end of
	// the Agent, and the seq starts from the clock in microseconds at every
	// New. DataDir then holds only agent-state.json; with DataDir "" nothing
	// is written to disk at all and the state lives as long as the Agent.
	MemoryQueue bool

	Report        report.Config // adaptive intervals; the hub's config command changes them
	ArriveRadiusM float64       // auto-arrived within this distance of the target; 50
	// RepositionRadiusM is how near a move-up's spot a fix must come for the
	// agent to report the unit there by itself; 100. Wider than
	// ArriveRadiusM: a move-up's spot is an area to cover, not a door.
	RepositionRadiusM float64
	ResendAfter       time.Duration // unconfirmed reports are resent after; 30 s
	DrainRate         int           // backlog positions per second after a reconnect; 10,000
	MaxQueued         int           // queue bound, positions thinned beyond it (never events); 50,000
	// AutoAck acknowledges every dispatch at once, as the simulator's
	// officers and tests want; a real officer acknowledges on the terminal.
	AutoAck bool

	// Terminal is the officer's terminal API address; "" disables it.
	// Wired by the terminal package (agent/internal/terminal).
	Terminal string
	// TerminalToken, if set, is required by the terminal API (Bearer).
	TerminalToken string

	ReconnectMin time.Duration // first reconnect backoff; 1 s (jittered into [d/2, d])
	ReconnectMax time.Duration // backoff cap; 60 s

	// Dial, if set, opens the connection to a tcp:// or ssl:// broker
	// instead of a net.Dialer: the simulator cuts and restores a unit's link
	// with it, as a radio would, below MQTT (and below TLS: the agent speaks
	// TLS over it to an ssl:// broker). Not for ws:// brokers.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnAssignment, if set, is told of every change to the assignment that
	// the officer's own actions did not make: a dispatch, cancel or
	// update_location from the hub, and an arrival the agent detected by
	// position. It gets the assignment after the change (ok false: none any
	// more). It is called on the agent's goroutines after the change is
	// saved, outside the agent's locks, so it may call the officer's
	// actions; it must return quickly (hand off, never wait), or it holds up
	// commands and reports.
	OnAssignment func(as Assignment, ok bool)
	// OnReposition, if set, is told of every change to the reposition
	// (move-up, additive 2026-12) that the officer's own actions did not
	// make: a reposition command (end RepositionOn: r is the unit's move-up
	// now), a cancel naming it (RepositionCancelled), a dispatch or another
	// move-up replacing it (RepositionReplaced), an arrival the agent
	// detected by position (RepositionArrived). r is the move-up concerned.
	// Called like OnAssignment: after the change is saved, outside the
	// agent's locks, before OnAssignment for the same batch of commands; it
	// must return quickly.
	OnReposition func(r Reposition, end RepositionEnd)

	Logger *slog.Logger
	Now    func() time.Time // default time.Now
}

// Defaults (see agent/README.md for the reasons).
const (
	DefaultBroker        = "tcp://127.0.0.1:1883"
	DefaultGPS           = "gpsd:127.0.0.1:2947"
	DefaultDataDir       = "agent-data"
	DefaultArriveRadiusM = 50
	// DefaultRepositionRadiusM: a block's scale, well beyond GPS noise, so a
	// unit patrolling round the spot counts as there.
	DefaultRepositionRadiusM = 100
	DefaultResendAfter       = 30 * time.Second
	DefaultDrainRate         = 10000
	DefaultMaxQueued         = 50_000
	DefaultTerminal          = "127.0.0.1:8765"
)

// DefaultConfig is the agent as cmd/agent starts it without options.
func DefaultConfig() Config {
	return Config{
		Broker:            DefaultBroker,
		GPS:               DefaultGPS,
		DataDir:           DefaultDataDir,
		TopicRoot:         protocol.DefaultRoot,
		Report:            report.DefaultConfig(),
		ArriveRadiusM:     DefaultArriveRadiusM,
		RepositionRadiusM: DefaultRepositionRadiusM,
		ResendAfter:       DefaultResendAfter,
		DrainRate:         DefaultDrainRate,
		MaxQueued:         DefaultMaxQueued,
		Terminal:          DefaultTerminal,
		ReconnectMin:      uplink.DefaultReconnectMin,
		ReconnectMax:      uplink.DefaultReconnectMax,
	}
}

// fill applies defaults to zero fields and checks the rest.
func (c *Config) fill() error {
	def := DefaultConfig()
	if c.TopicRoot == "" {
		c.TopicRoot = def.TopicRoot
	}
	if c.Report == (report.Config{}) {
		c.Report = def.Report
	}
	if c.ArriveRadiusM == 0 {
		c.ArriveRadiusM = def.ArriveRadiusM
	}
	if c.RepositionRadiusM == 0 {
		c.RepositionRadiusM = def.RepositionRadiusM
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = def.ResendAfter
	}
	if c.DrainRate == 0 {
		c.DrainRate = def.DrainRate
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = def.MaxQueued
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = def.ReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = def.ReconnectMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case !protocol.ValidUnitID(c.Unit):
		return fmt.Errorf("agent: unit %q is not [A-Za-z0-9_-]{1,32}", c.Unit)
	case c.Secret == "":
		return errors.New("agent: no secret (the unit's MQTT password from POST /api/units)")
	case c.Broker == "":
		return errors.New("agent: no broker URL")
	case c.UnitType != "" && !c.UnitType.Valid():
		return fmt.Errorf("agent: unit type %q is not car, motorcycle, foot or volunteer", c.UnitType)
	case c.DataDir == "" && !c.MemoryQueue:
		return errors.New("agent: no data directory")
	case !protocol.ValidRoot(c.TopicRoot):
		return fmt.Errorf("agent: topic root %q: want levels without wildcards", c.TopicRoot)
	case !(c.ArriveRadiusM > 0 && c.ArriveRadiusM <= 10000):
		return fmt.Errorf("agent: arrive radius %v m is outside (0, 10000]", c.ArriveRadiusM)
	case !(c.RepositionRadiusM > 0 && c.RepositionRadiusM <= 10000):
		return fmt.Errorf("agent: reposition radius %v m is outside (0, 10000]", c.RepositionRadiusM)
	case c.ResendAfter < time.Second:
		return fmt.Errorf("agent: resend-after %v is shorter than 1 s", c.ResendAfter)
	case c.DrainRate < 1:
		return fmt.Errorf("agent: drain rate %d is below 1", c.DrainRate)
	case c.MaxQueued < 100:
		return fmt.Errorf("agent: max queued %d is below 100", c.MaxQueued)
	case c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin:
		return fmt.Errorf("agent: reconnect backoff %v…%v is not a range", c.ReconnectMin, c.ReconnectMax)
	}
	if err := c.Report.Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// Agent is one running edge agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	q       *queue.Queue
	link    *uplink.Link
	secret  *secrets // the MQTT password: configured, or the hub's newest (its own lock)
	boot    string
	started time.Time

	srcMu sync.Mutex
	src   gps.Source

	running   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// mu guards the unit's state below, and orders it with the queue: a
	// change and the report of it are appended under the same lock.
	mu        sync.Mutex
	status    protocol.Status
	assign    *Assignment
	repo      *Reposition           // a move-up; never together with assign
	tasks     []protocol.PatrolTask // the latest tasks command's (additive, 2026-12), ended ones too: filtered when read
	policy    *report.Policy
	seen      commandLog
	overrides map[string]float64 // reporting bounds the hub's config commands set
	lastFix   gps.Fix
	hasFix    bool
	actions   []terminal.Action // the officer's latest actions, for the page; in memory only
	initialQ  int               // queued at New, for Stats.Dropped

	stats struct {
		positions, events, appendErrors, handled, duplicates, saveErrors atomic.Uint64
	}

	// Tests observe every report queued and published.
	onQueued  func(queue.Item)
	onPublish func(queue.Item, byte)
}

// New opens the queue and the GPS source (unless cfg.GPS is empty: then
// UseGPS must give one) and restores the unit's state from DataDir. It
// connects nothing: Run does.
func New(cfg Config) (*Agent, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("unit", cfg.Unit), boot: newBoot(), started: cfg.Now()}
	q, err := queue.Open(queue.Config{Dir: cfg.DataDir, InMemory: cfg.MemoryQueue, MaxItems: cfg.MaxQueued, Logger: a.log, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.q = q
	a.initialQ = q.Len()
	st, err := loadState(cfg.DataDir)
	if err != nil {
		// The unit must come up even so: start as available, loudly.
		a.log.Error("agent: state file unreadable; starting available with no assignment", "err", err)
		st = savedState{}
	}
	a.restore(st)
	a.secret = loadSecrets(cfg.DataDir, cfg.Secret, a.log, func() { a.stats.saveErrors.Add(1) })

	a.link, err = uplink.New(uplink.Config{
		Broker:       cfg.Broker,
		TLS:          cfg.TLS,
		Unit:         cfg.Unit,
		Secret:       cfg.Secret,
		Password:     a.secret.password,
		Topics:       protocol.Topics{Root: cfg.TopicRoot},
		Boot:         a.boot,
		Agent:        "kuaifan-agent/" + Version,
		ResendAfter:  cfg.ResendAfter,
		DrainRate:    cfg.DrainRate,
		ReconnectMin: cfg.ReconnectMin,
		ReconnectMax: cfg.ReconnectMax,
		Dial:         cfg.Dial,
		OnCommands:   a.onCommands,
		OnPublish: func(it queue.Item, qos byte) {
			if a.onPublish != nil {
				a.onPublish(it, qos)
			}
		},
		Logger: a.log,
		Now:    cfg.Now,
	}, q)
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}

	if cfg.GPS != "" {
		opts := cfg.GPSOptions
		if opts.Logger == nil {
			opts.Logger = a.log
		}
		if cfg.Replay {
			opts.Pace = true
		}
		src, err := gps.Open(cfg.GPS, opts)
		if err != nil {
			q.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.src = src
	}
	return a, nil
}

// newBoot is a random id for this run of the agent: the hub tells a stale
// Last Will from a previous run by it.
func newBoot() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// UseGPS replaces the GPS source with one the caller built (the simulator
// passes a *gps.Sim it drives). Call it before Run; the source New opened,
// if any, is closed, and the agent closes src when Run ends.
func (a *Agent) UseGPS(src gps.Source) {
	a.srcMu.Lock()
	old := a.src
	a.src = src
	a.srcMu.Unlock()
	if old != nil && old != src {
		_ = old.Close()
	}
}

// Boot is this run's random id, as sent in the unit's state messages.
func (a *Agent) Boot() string { return a.boot }

// Run reports and carries out commands until ctx is done, then shuts down
// cleanly: it publishes the unit's state online=false (retained), disconnects,
// and closes the GPS source and the queue. Run may be called once; after it
// the Agent is closed.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	defer a.Close()
	a.srcMu.Lock()
	src := a.src
	a.srcMu.Unlock()
	if src == nil {
		return errors.New("agent: no GPS source (set Config.GPS or call UseGPS)")
	}
	a.log.Info("agent: starting", "broker", a.cfg.Broker, "gps", fmt.Sprintf("%T", src), "boot", a.boot,
		"queued", a.q.Len(), "status", a.Status())

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.link.Run(ctx); err != nil {
			a.log.Error("agent: uplink", "err", err)
		}
	})
	wg.Go(func() { a.track(ctx, src) })
	if a.cfg.Terminal != "" {
		term, err := terminal.New(terminal.Config{Addr: a.cfg.Terminal, Token: a.cfg.TerminalToken,
			Page: officerweb.New(), Logger: a.log.With("component", "terminal")}, officer{a})
		if err != nil {
			a.log.Error("agent: terminal API not started", "err", err)
		} else {
			wg.Go(func() {
				if err := term.Run(ctx); err != nil {
					a.log.Error("agent: terminal API", "err", err)
				}
			})
		}
	}
	wg.Wait()
	a.log.Info("agent: stopped", "queued", a.q.Len())
	return nil
}

// Close releases the GPS source and the queue. Run calls it when it ends;
// call it only for an Agent whose Run was never called.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.srcMu.Lock()
		src := a.src
		a.srcMu.Unlock()
		var errs []error
		if src != nil {
			errs = append(errs, src.Close())
		}
		errs = append(errs, a.q.Close())
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// track turns fixes into reports until ctx is done or the source closes.
func (a *Agent) track(ctx context.Context, src gps.Source) {
	for {
		fix, err := src.Next(ctx)
		switch {
		case err == nil:
			a.onFix(fix)
		case ctx.Err() != nil, errors.Is(err, fs.ErrClosed):
			return
		case errors.Is(err, io.EOF):
			// A log file ended. The unit stays online for the officer and
			// the hub's commands; it just has no new positions.
			a.log.Warn("agent: the GPS source ended; no more positions", "gps", a.cfg.GPS)
			<-ctx.Done()
			return
		default:
			a.log.Warn("agent: GPS", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

// onFix checks for arrival and reports the fix if the policy says so.
func (a *Agent) onFix(fix gps.Fix) {
	n := a.fixLocked(fix)
	if n.movedUp {
		a.notifyReposition(n.moveUp, RepositionArrived)
	}
	if n.arrived {
		a.notifyAssignment(n.as, true)
	}
}

// fixNews is what a fix changed, for the callbacks outside the lock.
type fixNews struct {
	as      Assignment // the assignment, when the fix made the unit arrive
	arrived bool
	moveUp  Reposition // the move-up, when the fix brought the unit there
	movedUp bool
}

// fixLocked is onFix under a.mu.
func (a *Agent) fixLocked(fix gps.Fix) (n fixNews) {
	now := a.cfg.Now()
	if a.cfg.Replay {
		fix.Time = now
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastFix, a.hasFix = fix, true
	if as := a.assign; as != nil && (as.State == StateDispatched || as.State == StateEnroute) {
		if d := protocol.Haversine(fix.Lat, fix.Lon, as.Lat, as.Lon); d <= a.cfg.ArriveRadiusM {
			a.log.Info("agent: arrived by position", "incident", as.Incident, "distance_m", d)
			a.arriveLocked(now)
			a.saveLocked()
			n.as, n.arrived = *a.assign, true
		}
	}
	if r := a.repo; r != nil {
		if d := protocol.Haversine(fix.Lat, fix.Lon, r.Lat, r.Lon); d <= a.cfg.RepositionRadiusM {
			a.log.Info("agent: at the move-up's spot by position", "move_up", r.ID, "distance_m", d)
			n.moveUp, n.movedUp = a.repositionArriveLocked(now), true
			a.saveLocked()
		}
	}
	if !a.policy.Decide(now, fix, a.status, a.assign != nil) {
		return n
	}
	ts := fix.Time.UnixMilli()
	if ts <= 0 {
		ts = now.UnixMilli()
	}
	t := protocol.Telemetry{Unit: a.cfg.Unit, TS: ts, Lat: fix.Lat, Lon: fix.Lon, Status: a.status}
	if fix.AccM > 0 {
		t.AccM = ptr(fix.AccM)
	}
	if fix.HasMotion {
		t.SpeedMPS, t.HeadingDeg = ptr(fix.SpeedMPS), ptr(fix.HeadingDeg)
	}
	_, _ = a.appendLocked(queue.Telemetry, ts, func(seq uint64) ([]byte, error) { // logged and counted
		t.Seq = seq
		return protocol.Encode(t)
	})
	return n
}

func ptr(x float64) *float64 { return &x }

// appendLocked queues a report (durably: on disk when it returns) and
// tells the link. A failure is logged and counted: a full disk must not stop
// the officer's terminal.
func (a *Agent) appendLocked(kind queue.Kind, ts int64, build func(seq uint64) ([]byte, error)) (queue.Item, error) {
	it, err := a.q.Append(kind, ts, build)
	if err != nil {
		a.stats.appendErrors.Add(1)
		a.log.Error("agent: queueing a report failed", "kind", kind, "err", err)
		return queue.Item{}, err
	}
	if kind == queue.Telemetry {
		a.stats.positions.Add(1)
	} else {
		a.stats.events.Add(1)
	}
	a.link.Queued(it.Seq, kind)
	if a.onQueued != nil {
		a.onQueued(it)
	}
	return it, nil
}

// eventLocked queues an event about incident (or a status event when
// incident is empty) carrying the unit's status after it, and returns its
// seq (0 if it could not be queued).
func (a *Agent) eventLocked(typ protocol.EventType, incident string, now time.Time) uint64 {
	return a.eventWithLocked(protocol.Event{Type: typ, Incident: incident}, now)
}

// eventWithLocked queues e as the unit's event now, with the unit's
// status; it returns its seq (0 when it could not be queued).
func (a *Agent) eventWithLocked(e protocol.Event, now time.Time) uint64 {
	e.Unit, e.TS, e.Status = a.cfg.Unit, now.UnixMilli(), a.status
	it, err := a.appendLocked(queue.Event, e.TS, func(seq uint64) ([]byte, error) { // logged and counted
		e.Seq = seq
		return protocol.Encode(e)
	})
	if err != nil {
		return 0
	}
	return it.Seq
}

// keepActions is how many of the officer's latest actions the page sees:
// a dispatch's whole life (ack, arrived, cleared) and an SOS or two.
const keepActions = 8

// actionLocked remembers an officer's action for the page, which shows it
// queued until the hub confirms its seq.
func (a *Agent) actionLocked(typ protocol.EventType, incident string, seq uint64, now time.Time) {
	if seq == 0 {
		return // not queued: the failure is logged
	}
	if len(a.actions) >= keepActions {
		a.actions = append(a.actions[:0], a.actions[1:]...)
	}
	a.actions = append(a.actions, terminal.Action{Type: typ, Incident: incident, Seq: seq, At: now})
}

// Stats counts what the agent has done since New.
type Stats struct {
	Queued          int    // reports in the queue now
	QueuedPositions int    // of which positions
	QueuedEvents    int    // of which events
	Positions       uint64 // positions queued by this run
	Events          uint64 // events queued by this run
	Sent            uint64 // reports published (QoS 1), resends included
	Resent          uint64 // of which published before in this run
	Confirmed       uint64 // reports the hub confirmed (removed from the queue)
	Dropped         uint64 // positions thinned from a full queue
	AppendErrors    uint64 // reports that could not be queued (disk)
	PublishErrors   uint64
	Commands        uint64 // commands handled
	Duplicates      uint64 // commands seen before and ignored
	BadMessages     uint64 // acks and commands that did not decode
	Connected       bool
	Broker          string // the broker connected to, or last tried (of -broker's list)
	Connects        uint64 // connections made
	Reconnects      uint64 // connections made after the first
	ConnectFailures uint64
	NextSeq         uint64
	Boot            string
	Uptime          time.Duration
	GPS             gps.Stats
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	l := a.link.Stats()
	pos, ev := a.q.Counts()
	s := Stats{
		Queued:          pos + ev,
		QueuedPositions: pos,
		QueuedEvents:    ev,
		Positions:       a.stats.positions.Load(),
		Events:          a.stats.events.Load(),
		Sent:            l.Published,
		Resent:          l.Resent,
		Confirmed:       l.Confirmed,
		AppendErrors:    a.stats.appendErrors.Load(),
		PublishErrors:   l.PublishErrors,
		Commands:        a.stats.handled.Load(),
		Duplicates:      a.stats.duplicates.Load(),
		BadMessages:     l.BadMessages,
		Connected:       l.Connected,
		Broker:          l.Broker,
		Connects:        l.Connects,
		ConnectFailures: l.ConnectFailures,
		NextSeq:         a.q.NextSeq(),
		Boot:            a.boot,
		Uptime:          a.cfg.Now().Sub(a.started),
	}
	if l.Connects > 0 {
		s.Reconnects = l.Connects - 1
	}
	// Everything that entered the queue left it by an ack, is still there,
	// or was thinned.
	in := uint64(a.initialQ) + s.Positions + s.Events
	if out := s.Confirmed + uint64(s.Queued); in > out {
		s.Dropped = in - out
	}
	a.srcMu.Lock()
	if a.src != nil {
		s.GPS = a.src.Stats()
	}
	a.srcMu.Unlock()
	return s
}
