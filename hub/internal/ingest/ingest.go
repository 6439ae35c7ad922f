// Package ingest takes what units publish — telemetry, state, events — off the
// MQTT bus, validates it, commits it through the fleet in fsynced batches, and
// confirms each committed sequence number to its unit on {root}/units/{id}/ack.
//
// The broker's PUBACK only says the broker has a message (and mochi's inline
// subscription even runs after it), so the ack topic is the only confirmation
// an agent may delete on. Bad input is rejected and counted, never stored, and
// never stops ingest.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Config tunes ingest; zero values take the defaults.
type Config struct {
	Topics        protocol.Topics
	MaxClockAhead time.Duration // a ts further ahead of the hub's clock is rejected; default DefaultMaxClockAhead
	QueueSize     int           // messages waiting for a commit; default 16384
	Decoders      int           // goroutines validating messages; default GOMAXPROCS
	MaxBatch      int           // messages per commit; default 4096
	// CommitInterval is the least time between the starts of two commits; a
	// message arriving sooner waits for the rest of it, with whatever else
	// arrives meanwhile. Default 5 ms: under load a commit (and its fsync)
	// then serves ~50 messages instead of a handful, which leaves the CPU to
	// the broker; after a quiet spell a message is committed at once.
	CommitInterval time.Duration
	AckInterval    time.Duration // how long a unit's confirmations gather before its ack goes out (sooner after 64); default 2 s
	Logger         *slog.Logger
	Metrics        *Metrics // nil: metrics are kept but not exported
	Now            func() time.Time
	// OnEvents, if set, receives the unit events of each committed batch
	// (not duplicates), after they are on disk. It may block briefly.
	OnEvents func([]protocol.Event)
}

// DefaultMaxClockAhead is the clock skew a unit's timestamps may show. A
// device's time comes from GNSS or NTP, good to well under a second; more
// than a few seconds ahead is a wrong clock, and a report from it would pin
// the unit's live marker so that its next true reports count as older. It
// is refused unconfirmed: the agent resends it, and it is taken once its
// time has come.
const DefaultMaxClockAhead = 5 * time.Second

func (c *Config) setDefaults() {
	if c.MaxClockAhead == 0 {
		c.MaxClockAhead = DefaultMaxClockAhead
	}
	if c.QueueSize == 0 {
		c.QueueSize = 16384
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 4096
	}
	if c.AckInterval == 0 {
		c.AckInterval = 2 * time.Second
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 5 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Decoders <= 0 {
		c.Decoders = runtime.GOMAXPROCS(0)
	}
}

// Ingest is the pipeline from the bus to the fleet and back to the agents.
type Ingest struct {
	cfg    Config
	bus    broker.Bus
	fleet  *fleet.Fleet
	log    *slog.Logger
	m      *Metrics
	shards []chan raw    // validated by one decoder each, by unit
	queue  chan queued   // validated, waiting for the committer
	closed chan struct{} // closed when Run stops accepting messages
	once   sync.Once
	// stopped is closed when Run has returned: a Submit still waiting then
	// was not committed and never will be.
	stopped chan struct{}

	lastWarn atomic.Int64 // unix nanos of the last rejection logged at Warn

	mu      sync.Mutex
	pending map[string]*pendingAck // confirmations not yet published, by unit
}

// New subscribes to the units' telemetry, state and events topics. Messages
// are queued from then on; Run commits them. Subscribe before devices can
// connect, so no retained state is missed.
func New(cfg Config, bus broker.Bus, f *fleet.Fleet) (*Ingest, error) {
	cfg.setDefaults()
	in := &Ingest{
		cfg: cfg, bus: bus, fleet: f, log: cfg.Logger, m: cfg.Metrics,
		shards:  make([]chan raw, cfg.Decoders),
		queue:   make(chan queued, cfg.QueueSize),
		closed:  make(chan struct{}),
		stopped: make(chan struct{}),
		pending: make(map[string]*pendingAck),
	}
	for i := range in.shards {
		in.shards[i] = make(chan raw, cfg.QueueSize/cfg.Decoders)
	}
	in.m.queue = func() float64 { return float64(len(in.queue)) }
	for _, k := range []protocol.Kind{protocol.KindState, protocol.KindTelemetry, protocol.KindEvents} {
		if err := bus.Subscribe(cfg.Topics.All(k), in.handle); err != nil {
			return nil, fmt.Errorf("ingest: subscribe %s: %w", k, err)
		}
	}
	return in, nil
}

// raw is a message as it came off the bus, its topic already parsed.
type raw struct {
	topic    string
	unit     string
	kind     protocol.Kind
	payload  []byte
	received time.Time // when the bus handed it to ingest
}

// queued is a validated message waiting for the committer.
type queued struct {
	msg      fleet.Message
	received time.Time
	reply    chan<- receipt // Submit's: told once the message is on disk (or not); nil from the bus
}

// receipt answers a Submit.
type receipt struct {
	result fleet.Result
	err    error
}

// batch is what one commit applies, with when each message arrived.
type batch struct {
	msgs     []fleet.Message
	received []time.Time
	replies  []chan<- receipt
}

func newBatch(size int) *batch {
	return &batch{msgs: make([]fleet.Message, 0, size), received: make([]time.Time, 0, size),
		replies: make([]chan<- receipt, 0, size)}
}

func (b *batch) reset() {
	clear(b.replies)
	b.msgs, b.received, b.replies = b.msgs[:0], b.received[:0], b.replies[:0]
}

func (b *batch) add(q queued) {
	b.msgs = append(b.msgs, q.msg)
	b.received = append(b.received, q.received)
	b.replies = append(b.replies, q.reply)
}

// handle runs on the bus's delivery goroutine — with the embedded broker, the
// publishing device's own connection goroutine. It only routes the message to
// its unit's decoder, one of a few that validate in parallel; routing by unit
// keeps each unit's messages in order. When that decoder is behind, handle
// blocks, which slows the publisher down (backpressure) rather than dropping
// what it sent.
func (in *Ingest) handle(topic string, payload []byte) {
	unit, kind, err := in.cfg.Topics.Parse(topic)
	if err != nil {
		in.reject(topic, err)
		return
	}
	in.m.received.WithLabelValues(string(kind)).Inc()
	select {
	case in.shards[shardOf(unit, len(in.shards))] <- raw{topic, unit, kind, payload, time.Now()}:
	case <-in.closed:
		// Shutting down: not confirmed, so the agent sends it again later.
	}
}

// shardOf spreads unit ids over n decoders (FNV-1a).
func shardOf(unit string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(unit); i++ {
		h = (h ^ uint32(unit[i])) * 16777619
	}
	return int(h % uint32(n))
}

// decodeLoop validates one shard's messages and hands them to the committer.
// Once Run stops accepting, it finishes what its shard holds and returns.
func (in *Ingest) decodeLoop(shard <-chan raw) {
	for {
		select {
		case r := <-shard:
			in.accept(r)
		case <-in.closed:
			for {
				select {
				case r := <-shard:
					in.accept(r)
				default:
					return
				}
			}
		}
	}
}

func (in *Ingest) accept(r raw) {
	msg, err := in.decode(r)
	if err != nil {
		in.reject(r.topic, err)
		return
	}
	in.queue <- queued{msg: msg, received: r.received} // the committer runs until every decoder has returned
}

// ErrUnknownUnit is a message from a unit that is not enrolled or was
// revoked (or, on the bus's kuaifan topics, is enrolled as a phone).
var ErrUnknownUnit = errors.New("unit is not enrolled")

func (in *Ingest) decode(r raw) (fleet.Message, error) {
	unit, kind, payload := r.unit, r.kind, r.payload
	var err error
	msg := fleet.Message{Kind: kind}
	var (
		payloadUnit string
		ts          int64
	)
	switch kind {
	case protocol.KindTelemetry:
		msg.Telemetry, err = protocol.DecodeTelemetry(payload)
		payloadUnit, ts = msg.Telemetry.Unit, msg.Telemetry.TS
	case protocol.KindEvents:
		msg.Event, err = protocol.DecodeEvent(payload)
		payloadUnit, ts = msg.Event.Unit, msg.Event.TS
	case protocol.KindState:
		msg.State, err = protocol.DecodeState(payload)
		payloadUnit = msg.State.Unit
	default:
		return fleet.Message{}, &protocol.Error{Message: "topic", Reason: protocol.ReasonTopic,
			Detail: fmt.Sprintf("units do not publish on %s", kind)}
	}
	if err != nil {
		return fleet.Message{}, err
	}
	if payloadUnit != unit {
		return fleet.Message{}, &protocol.Error{Message: string(kind), Field: "unit", Reason: protocol.ReasonMismatch,
			Detail: fmt.Sprintf("%q published on the topic of %q", payloadUnit, unit)}
	}
	if err := in.check(kind, unit, ts, true); err != nil {
		return fleet.Message{}, err
	}
	return msg, nil
}

// check holds a decoded message to the hub's own rules: its time, and its
// unit being enrolled — for a message on the bus's kuaifan topics, enrolled
// as kuaifan's agent (a phone's unit reports only the way it was enrolled).
func (in *Ingest) check(kind protocol.Kind, unit string, ts int64, agent bool) error {
	if ts != 0 {
		if err := protocol.CheckTime(string(kind), ts, in.cfg.Now(), in.cfg.MaxClockAhead); err != nil {
			return err
		}
	}
	proto, _, ok := in.fleet.ReportsBy(unit)
	if !ok {
		return fmt.Errorf("%s from %s: %w", kind, unit, ErrUnknownUnit)
	}
	if agent && proto != api.ReportKuaifan {
		return fmt.Errorf("%s from %s, enrolled to report by %s: %w", kind, unit, proto, ErrUnknownUnit)
	}
	return nil
}

// ErrNotStored is Submit's error for a report the hub could not commit now
// (the store is failing, or the hub is stopping): nothing changed, and the
// same report may be sent again later. Submit's other errors are a
// *protocol.Error and ErrUnknownUnit.
var ErrNotStored = errors.New("not stored")

// Submit takes a telemetry report that reached the hub another way than its
// MQTT telemetry topic — a phone's HTTP request, an OwnTracks publish — and
// puts it through what a report on the bus goes through: the same checks,
// the same queue and group commit, the same fsync. It returns once the
// report is on disk (Committed, Older, Duplicate or Expired: all safe for
// the sender to forget), or with why not. The caller answers its sender
// then, which is that sender's confirmation; no ack is published.
func (in *Ingest) Submit(ctx context.Context, t protocol.Telemetry) (fleet.Result, error) {
	err := t.Validate()
	return in.submit(ctx, fleet.Message{Kind: protocol.KindTelemetry, Telemetry: t}, t.Unit, t.TS, err)
}

// SubmitEvent is Submit for a unit event (the responder app's ack, decline,
// arrived, cleared, sos…): the same checks, commit and fsync as an event on
// the bus, and once it is on disk it reaches OnEvents (dispatch) exactly as
// a committed MQTT event does — not a duplicate, so a resend acts once.
func (in *Ingest) SubmitEvent(ctx context.Context, e protocol.Event) (fleet.Result, error) {
	err := e.Validate()
	return in.submit(ctx, fleet.Message{Kind: protocol.KindEvents, Event: e}, e.Unit, e.TS, err)
}

func (in *Ingest) submit(ctx context.Context, msg fleet.Message, unit string, ts int64, invalid error) (fleet.Result, error) {
	kind := msg.Kind
	in.m.received.WithLabelValues(string(kind)).Inc()
	err := invalid
	if err == nil {
		err = in.check(kind, unit, ts, false)
	}
	if err != nil {
		in.reject("submit/"+unit, err)
		return 0, err
	}
	reply := make(chan receipt, 1) // the syncer never waits for the caller
	q := queued{msg: msg, received: time.Now(), reply: reply}
	select {
	case <-in.closed:
		return 0, fmt.Errorf("ingest: stopping: %w", ErrNotStored)
	default:
	}
	select {
	case in.queue <- q:
	case <-in.closed:
		return 0, fmt.Errorf("ingest: stopping: %w", ErrNotStored)
	case <-ctx.Done():
		return 0, fmt.Errorf("ingest: %w: %w", ErrNotStored, ctx.Err())
	}
	select {
	case r := <-reply:
		return r.result, r.err
	case <-in.stopped:
		// Queued after the last commit of a stopping hub: never applied.
		select {
		case r := <-reply:
			return r.result, r.err
		default:
			return 0, fmt.Errorf("ingest: stopped: %w", ErrNotStored)
		}
	case <-ctx.Done():
		// Its sender has gone; the report may still be stored, and a resend
		// is then a duplicate.
		return 0, fmt.Errorf("ingest: %w: %w", ErrNotStored, ctx.Err())
	}
}

// reject counts a refused message by reason. A rogue client can send
// thousands a second, so only one rejection a second is logged at Warn.
func (in *Ingest) reject(topic string, err error) {
	reason := "unknown_unit"
	var pe *protocol.Error
	if errors.As(err, &pe) {
		reason = string(pe.Reason)
	}
	in.m.rejected.WithLabelValues(reason).Inc()
	level := slog.LevelDebug
	now := time.Now().UnixNano()
	if last := in.lastWarn.Load(); now-last > int64(time.Second) && in.lastWarn.CompareAndSwap(last, now) {
		level = slog.LevelWarn
	}
	in.log.Log(context.Background(), level, "message rejected", "topic", topic, "reason", reason, "err", err)
}

// Rejected counts and logs a report refused before it reached Submit — one
// that did not decode in a phone's format — as the bus's are.
func (in *Ingest) Rejected(source string, err error) {
	in.reject(source, err)
}

// Run commits queued messages and publishes confirmations until ctx is done.
// On the way out it stops taking messages, commits what is queued, and sends
// the last confirmations.
func (in *Ingest) Run(ctx context.Context) error {
	var decoders, workers sync.WaitGroup
	for _, shard := range in.shards {
		decoders.Add(1)
		go func() {
			defer decoders.Done()
			in.decodeLoop(shard)
		}()
	}
	acksDone := make(chan struct{})
	workers.Add(2)
	go func() {
		defer workers.Done()
		in.flushAcksEvery(acksDone)
	}()
	toSync := make(chan committed, 64)
	go func() {
		defer workers.Done()
		in.syncLoop(toSync)
	}()

	in.commitUntil(ctx.Done(), toSync)
	in.once.Do(func() { close(in.closed) })
	decoded := make(chan struct{})
	go func() {
		decoders.Wait()
		close(decoded)
	}()
	in.commitUntil(decoded, toSync) // what the decoders still hand over
	in.drain(toSync)
	close(toSync)
	close(acksDone)
	workers.Wait()
	in.flushAcks(time.Time{})
	close(in.stopped)
	return nil
}

// committed is a batch applied to the store but not yet known to be on disk:
// what to confirm, and the events to hand on, once it is.
type committed struct {
	confirm map[string][]uint64
	events  []protocol.Event
	replies []answer // Submit's, answered once the batch is on disk
}

// answer is a receipt for a Submit that waits for the fsync.
type answer struct {
	to chan<- receipt
	receipt
}

// commitUntil commits batches until done is closed, at most one every
// CommitInterval.
func (in *Ingest) commitUntil(done <-chan struct{}, toSync chan<- committed) {
	b := newBatch(in.cfg.MaxBatch)
	gather := time.NewTimer(time.Hour)
	gather.Stop() // armed only while a batch gathers
	var last time.Time
	for {
		select {
		case <-done:
			return
		case q := <-in.queue:
			b.reset()
			b.add(q)
		}
		if wait := time.Until(last.Add(in.cfg.CommitInterval)); wait > 0 && len(in.queue) < in.cfg.MaxBatch {
			gather.Reset(wait)
			select {
			case <-gather.C:
			case <-done:
				gather.Stop() // commit what was taken; the loop then ends
			}
		}
		last = time.Now()
		in.fill(b)
		in.commit(b, toSync)
	}
}

// fill takes whatever else is already queued, up to MaxBatch: the batch grows
// with the load, so the work per commit is shared by more messages.
func (in *Ingest) fill(b *batch) {
	for len(b.msgs) < in.cfg.MaxBatch {
		select {
		case q := <-in.queue:
			b.add(q)
		default:
			return
		}
	}
}

func (in *Ingest) drain(toSync chan<- committed) {
	b := newBatch(in.cfg.MaxBatch)
	for {
		b.reset()
		in.fill(b)
		if len(b.msgs) == 0 {
			return
		}
		in.commit(b, toSync)
	}
}

// commit applies a batch and passes what it confirms to the syncer. The
// fsync is not waited for here: while the syncer flushes one batch to disk,
// the next is being applied, so the disk's latency does not cap the rate.
func (in *Ingest) commit(b *batch, toSync chan<- committed) {
	start := time.Now()
	for _, at := range b.received {
		in.m.waitSeconds.Observe(start.Sub(at).Seconds())
	}
	batch := b.msgs
	out, err := in.fleet.Apply(batch, in.cfg.Now())
	in.m.commitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		// Nothing was confirmed: the agents still hold these and resend them.
		in.m.commitErrors.Inc()
		in.log.Error("commit failed; messages left to their agents' resend", "messages", len(batch), "err", err)
		for _, to := range b.replies {
			if to != nil {
				to <- receipt{err: fmt.Errorf("ingest: commit: %w: %w", ErrNotStored, err)}
			}
		}
		time.Sleep(100 * time.Millisecond) // don't spin on a failing disk
		return
	}
	in.m.batchSize.Observe(float64(len(batch)))
	c := committed{confirm: make(map[string][]uint64)}
	for i := range batch {
		m := &batch[i]
		r := out.Results[i]
		in.m.results.WithLabelValues(string(m.Kind), r.String()).Inc()
		if to := b.replies[i]; to != nil {
			// Submitted: its sender hears of it, not an ack topic.
			if !r.Confirmed() {
				to <- receipt{result: r, err: fmt.Errorf("%s from %s: %w", m.Kind, m.Unit(), ErrUnknownUnit)}
				continue
			}
			c.replies = append(c.replies, answer{to, receipt{result: r}})
			if m.Kind == protocol.KindEvents && (r == fleet.Committed || r == fleet.Older) {
				c.events = append(c.events, m.Event) // dispatch hears of it as of one from the bus
			}
			continue
		}
		if !r.Confirmed() {
			continue
		}
		if m.Kind == protocol.KindEvents && (r == fleet.Committed || r == fleet.Older) {
			c.events = append(c.events, m.Event)
		}
		seq, _ := m.Seq()
		c.confirm[m.Unit()] = append(c.confirm[m.Unit()], seq)
	}
	toSync <- c
}

// syncLoop makes committed batches durable — one fsync for all that are
// waiting — and only then confirms them to their units and hands their events
// to dispatch. If the fsync fails nothing is confirmed: the agents resend.
func (in *Ingest) syncLoop(toSync <-chan committed) {
	for c := range toSync {
		batches := []committed{c}
	more:
		for {
			select {
			case c, ok := <-toSync:
				if !ok {
					break more
				}
				batches = append(batches, c)
			default:
				break more
			}
		}
		start := time.Now()
		err := in.fleet.Sync()
		in.m.syncSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			in.m.commitErrors.Inc()
			in.log.Error("sync failed; nothing confirmed, agents will resend", "err", err)
			for _, c := range batches {
				for _, a := range c.replies {
					a.to <- receipt{err: fmt.Errorf("ingest: sync: %w: %w", ErrNotStored, err)}
				}
			}
			continue
		}
		for _, c := range batches {
			for _, a := range c.replies {
				a.to <- a.receipt
			}
		}
		var events []protocol.Event
		in.mu.Lock()
		for _, c := range batches {
			for unit, seqs := range c.confirm {
				p := in.pending[unit]
				if p == nil {
					p = &pendingAck{since: start}
					in.pending[unit] = p
				}
				for _, seq := range seqs {
					p.seqs = p.seqs.Insert(seq)
				}
				p.count += len(seqs)
			}
			events = append(events, c.events...)
		}
		in.mu.Unlock()
		if len(events) > 0 && in.cfg.OnEvents != nil {
			in.cfg.OnEvents(events)
		}
	}
}

// pendingAck is what a unit has had committed since its last ack.
type pendingAck struct {
	seqs  protocol.Ranges
	count int       // seqs committed since the last ack
	since time.Time // when the oldest of them was committed
}

// ackEarly is how many confirmations make an ack go out before its interval:
// an agent draining its backlog after a reconnect hears back at once, while a
// unit reporting once a second gets one ack per interval.
const ackEarly = 64

// flushAcksEvery sends each unit its ack once its oldest confirmation is
// AckInterval old. Looking often, but acking per unit, spreads the acks of a
// whole fleet over the interval instead of sending them in one burst, which
// would stall everything else the broker does for a moment every interval.
func (in *Ingest) flushAcksEvery(done <-chan struct{}) {
	t := time.NewTicker(max(in.cfg.AckInterval/10, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			in.flushAcks(now.Add(-in.cfg.AckInterval))
		}
	}
}

// flushAcks publishes one ack per unit whose oldest confirmation is older than
// cutoff (a zero cutoff: every unit). An ack the bus refuses (a device not
// reading, say) goes back into the pending set: acks are cumulative, so
// retrying costs nothing, and the agent is spared resending what the hub
// already has.
func (in *Ingest) flushAcks(cutoff time.Time) {
	due := make(map[string]protocol.Ranges)
	in.mu.Lock()
	for unit, p := range in.pending {
		if cutoff.IsZero() || !p.since.After(cutoff) || p.count >= ackEarly {
			due[unit] = p.seqs
			delete(in.pending, unit)
		}
	}
	in.mu.Unlock()
	for unit, seqs := range due {
		for rest := seqs; len(rest) > 0; {
			n := min(len(rest), protocol.MaxAckRanges)
			chunk := rest[:n]
			rest = rest[n:]
			payload, err := protocol.Encode(protocol.Ack{Seqs: chunk})
			if err != nil {
				in.log.Error("encode ack", "unit", unit, "err", err)
				continue
			}
			if err := in.bus.Publish(in.cfg.Topics.Unit(unit, protocol.KindAck), payload, false); err != nil {
				in.m.ackErrors.Inc()
				in.log.Debug("ack not sent; retrying at the next flush", "unit", unit, "err", err)
				in.requeue(unit, chunk)
				continue
			}
			in.m.acks.Inc()
		}
	}
}

// requeue puts confirmations that could not be sent back into the pending set.
func (in *Ingest) requeue(unit string, seqs protocol.Ranges) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := in.pending[unit]
	if p == nil {
		p = &pendingAck{since: time.Now()}
		in.pending[unit] = p
	}
	p.seqs = p.seqs.Union(seqs)
}
