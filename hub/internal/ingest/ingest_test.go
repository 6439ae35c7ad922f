package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"kuaifan/hub/internal/broker"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// bus is a Bus in memory: it hands what tests publish to the subscribed
// handlers, and records what ingest publishes, refusing the first
// failPublishes of them as a stalled device would.
type bus struct {
	mu            sync.Mutex
	handlers      map[string]broker.Handler
	published     map[string][]protocol.Ack
	failPublishes int
}

var _ broker.Bus = (*bus)(nil)

func (b *bus) Subscribe(filter string, h broker.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[filter] = h
	return nil
}

func (b *bus) Publish(topic string, payload []byte, _ bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failPublishes > 0 {
		b.failPublishes--
		return errors.New("stalled")
	}
	a, err := protocol.DecodeAck(payload)
	if err != nil {
		return err
	}
	b.published[topic] = append(b.published[topic], a)
	return nil
}

func (b *bus) Close() error { return nil }

// deliver publishes as a device would, through the handler of kind's filter.
func (b *bus) deliver(topics protocol.Topics, unit string, kind protocol.Kind, payload []byte) {
	b.mu.Lock()
	h := b.handlers[topics.All(kind)]
	b.mu.Unlock()
	h(topics.Unit(unit, kind), payload)
}

func (b *bus) acked(topic string) protocol.Ranges {
	b.mu.Lock()
	defer b.mu.Unlock()
	var rs protocol.Ranges
	for _, a := range b.published[topic] {
		rs = rs.Union(a.Seqs)
	}
	return rs
}

func setup(t *testing.T, b *bus) (*Ingest, *fleet.Fleet) {
	t.Helper()
	return setupWith(t, b, Config{AckInterval: 5 * time.Millisecond})
}

func setupWith(t *testing.T, b *bus, cfg Config) (*Ingest, *fleet.Fleet) {
	t.Helper()
	s, err := store.Open(store.Config{Dir: t.TempDir(), SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Open(fleet.Config{Store: s, Match: match.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		s.Close()
	})
	if _, err := f.Enrol(fleet.Enrolment{ID: "u1", Type: protocol.TypeCar}, time.Now()); err != nil {
		t.Fatal(err)
	}
	in, err := New(cfg, b, f)
	if err != nil {
		t.Fatal(err)
	}
	return in, f
}

// runInBackground runs in until the test ends (before the store and fleet
// that setupWith opened are closed).
func runInBackground(t *testing.T, in *Ingest) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func telemetry(seq uint64) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"unit":"u1","seq":%d,"ts":%d,"lat":28.2,"lon":112.9,"status":"available"}`, seq, time.Now().UnixMilli()))
}

func waitFor(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for err := check(); err != nil; err = check() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An ack the bus refuses is sent again at the next flush, merged with what
// was confirmed since.
func TestRefusedAckIsRetried(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}, failPublishes: 2}
	in, _ := setup(t, b)
	runInBackground(t, in)

	topics := protocol.Topics{}
	for seq := uint64(1); seq <= 3; seq++ {
		b.deliver(topics, "u1", protocol.KindTelemetry, telemetry(seq))
	}
	waitFor(t, func() error {
		if got := b.acked("rr/units/u1/ack"); got.Len() != 3 {
			return fmt.Errorf("acked %v, want 1-3", got)
		}
		return nil
	})
	if n := testutil.ToFloat64(in.m.ackErrors); n != 2 {
		t.Errorf("ack errors counted: %v, want 2", n)
	}
}

// Stopping commits and confirms everything already handed over, and a
// handler called after the stop returns at once instead of blocking.
func TestStopCommitsWhatWasQueued(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	in, f := setup(t, b)
	topics := protocol.Topics{}
	// Queued before Run starts: the decoders and the committer are not running yet.
	for seq := uint64(1); seq <= 50; seq++ {
		b.deliver(topics, "u1", protocol.KindTelemetry, telemetry(seq))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop at once
	in.Run(ctx)
	if got := b.acked("rr/units/u1/ack"); got.Len() != 50 {
		t.Errorf("after stopping, acked %v, want 1-50", got)
	}
	track, err := f.Track("u1", 0, time.Now().Add(time.Hour).UnixMilli(), 100)
	if err != nil || len(track) != 50 {
		t.Errorf("stored %d positions (%v), want 50", len(track), err)
	}
	returned := make(chan struct{})
	go func() {
		b.deliver(topics, "u1", protocol.KindTelemetry, telemetry(51))
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Fatal("a handler called after the stop blocked")
	}
}

// A message after a quiet spell is committed alone; messages arriving within
// CommitInterval of the last commit gather into the next one.
func TestCommitInterval(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	in, _ := setupWith(t, b, Config{AckInterval: 5 * time.Millisecond, CommitInterval: 500 * time.Millisecond})
	runInBackground(t, in)

	topics := protocol.Topics{}
	acked := func(n uint64) func() error {
		return func() error {
			if got := b.acked("rr/units/u1/ack"); got.Len() != n {
				return fmt.Errorf("acked %v, want 1-%d", got, n)
			}
			return nil
		}
	}
	b.deliver(topics, "u1", protocol.KindTelemetry, telemetry(1))
	waitFor(t, acked(1))
	for seq := uint64(2); seq <= 21; seq++ {
		b.deliver(topics, "u1", protocol.KindTelemetry, telemetry(seq))
	}
	waitFor(t, acked(21))

	got, err := testutil.CollectAndFormat(in.m.batchSize, expfmt.TypeTextPlain, "kuaifan_ingest_batch_messages")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kuaifan_ingest_batch_messages_count 2", "kuaifan_ingest_batch_messages_sum 21"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("batches: want %q in\n%s", want, got)
		}
	}

	// Every message's wait is measured; the twenty that came just after the
	// first commit waited for the interval to end (most of 500 ms each).
	var wait dto.Metric
	if err := in.m.waitSeconds.Write(&wait); err != nil {
		t.Fatal(err)
	}
	if n, sum := wait.GetHistogram().GetSampleCount(), wait.GetHistogram().GetSampleSum(); n != 21 || sum < 20*0.1 {
		t.Errorf("wait: %d messages, %.3f s in all; want 21 and at least 2 s", n, sum)
	}
}

func TestRejections(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	in, _ := setup(t, b)
	topics := protocol.Topics{}
	for _, tt := range []struct {
		unit, payload, reason string
	}{
		{"u1", `{`, "bad_json"},
		{"ghost", strings.Replace(string(telemetry(1)), `"u1"`, `"ghost"`, 1), "unknown_unit"},
		{"u1", strings.Replace(string(telemetry(1)), `"u1"`, `"u2"`, 1), "unit_mismatch"},
	} {
		raw := raw{topic: topics.Unit(tt.unit, protocol.KindTelemetry), unit: tt.unit, kind: protocol.KindTelemetry, payload: []byte(tt.payload)}
		_, err := in.decode(raw)
		reason := "unknown_unit"
		var pe *protocol.Error
		if errors.As(err, &pe) {
			reason = string(pe.Reason)
		}
		if err == nil || reason != tt.reason {
			t.Errorf("%s: %v (%s), want %s", tt.payload, err, reason, tt.reason)
		}
	}
}

// Submit answers once the report is on disk, with what Apply made of it; a
// resend is a duplicate; what the checks refuse is not stored; no ack is
// published for a submitted report (its sender has no ack topic).
func TestSubmit(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	in, f := setup(t, b)
	runInBackground(t, in)
	ctx := context.Background()
	ts := time.Now().Add(-time.Second).UnixMilli()
	tm := protocol.Telemetry{Unit: "u1", Seq: uint64(ts) * 1000, TS: ts, Lat: 28.2, Lon: 112.9, Status: protocol.StatusAvailable}
	if r, err := in.Submit(ctx, tm); err != nil || r != fleet.Committed {
		t.Fatalf("first: %v %v", r, err)
	}
	if v, _ := f.Get("u1"); v.TS == nil || *v.TS != ts {
		t.Fatalf("not applied when Submit returned: %+v", v)
	}
	if r, err := in.Submit(ctx, tm); err != nil || r != fleet.Duplicate {
		t.Fatalf("resend: %v %v", r, err)
	}
	bad := tm
	bad.Lat = 91
	future := tm
	future.TS, future.Seq = time.Now().Add(time.Hour).UnixMilli(), tm.Seq+1
	stranger := tm
	stranger.Unit = "u9"
	for name, c := range map[string]struct {
		tm   protocol.Telemetry
		want func(error) bool
	}{
		"lat 91": {bad, func(err error) bool { var pe *protocol.Error; return errors.As(err, &pe) && pe.Field == "lat" }},
		"future": {future, func(err error) bool {
			var pe *protocol.Error
			return errors.As(err, &pe) && pe.Reason == protocol.ReasonFuture
		}},
		"stranger": {stranger, func(err error) bool { return errors.Is(err, ErrUnknownUnit) }},
	} {
		if _, err := in.Submit(ctx, c.tm); !c.want(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if track, _ := f.Track("u1", 0, time.Now().Add(2*time.Hour).UnixMilli(), 10); len(track) != 1 {
		t.Errorf("%d positions stored, want 1", len(track))
	}
	time.Sleep(20 * time.Millisecond) // past the ack interval
	if got := b.acked("rr/units/u1/ack"); len(got) != 0 {
		t.Errorf("acked %v for submitted reports", got)
	}
}

// A Submit to a stopped ingest fails as not stored instead of waiting.
func TestSubmitAfterStop(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	in, _ := setup(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in.Run(ctx)
	ts := time.Now().UnixMilli()
	_, err := in.Submit(context.Background(), protocol.Telemetry{Unit: "u1", Seq: 1, TS: ts, Lat: 1, Lon: 1, Status: protocol.StatusAvailable})
	if !errors.Is(err, ErrNotStored) {
		t.Fatalf("got %v, want ErrNotStored", err)
	}
}

// SubmitEvent commits an event as one from the bus is, and hands it to
// OnEvents once on disk; a resend is a duplicate and is not handed on again.
func TestSubmitEvent(t *testing.T) {
	b := &bus{handlers: map[string]broker.Handler{}, published: map[string][]protocol.Ack{}}
	got := make(chan protocol.Event, 4)
	in, _ := setupWith(t, b, Config{AckInterval: 5 * time.Millisecond, OnEvents: func(es []protocol.Event) {
		for _, e := range es {
			got <- e
		}
	}})
	runInBackground(t, in)
	ctx := context.Background()
	lat, lon := 28.2, 112.9
	e := protocol.Event{Unit: "u1", Seq: 7, TS: time.Now().UnixMilli(), Type: protocol.EventSOS, Lat: &lat, Lon: &lon}
	if r, err := in.SubmitEvent(ctx, e); err != nil || r != fleet.Committed {
		t.Fatalf("first: %v %v", r, err)
	}
	select {
	case h := <-got:
		if h.Seq != 7 || h.Type != protocol.EventSOS {
			t.Fatalf("handed on %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not handed on to OnEvents")
	}
	if r, err := in.SubmitEvent(ctx, e); err != nil || r != fleet.Duplicate {
		t.Fatalf("resend: %v %v", r, err)
	}
	bad := e
	bad.Seq, bad.Type = 8, protocol.EventAck // without an incident
	var pe *protocol.Error
	if _, err := in.SubmitEvent(ctx, bad); !errors.As(err, &pe) || pe.Field != "incident" {
		t.Fatalf("ack without incident: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	select {
	case h := <-got:
		t.Fatalf("handed on again: %+v", h)
	default:
	}
}
