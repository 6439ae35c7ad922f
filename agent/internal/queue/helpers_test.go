package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// t0 is the tests' wall clock start (2025-11-29 08:00 UTC).
var t0 = time.UnixMilli(1764403200000)

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logRec keeps log records so tests can insist on the loud ones.
type logRec struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRec) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRec) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logRec) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRec) WithGroup(string) slog.Handler      { return l }

// count returns how many records at level contain msg.
func (l *logRec) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

func openQ(t testing.TB, cfg Config) *Queue {
	t.Helper()
	q, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// payload is a deterministic stand-in for an encoded message.
func payload(kind Kind, ts int64) func(uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		return fmt.Appendf(nil, `{"v":1,"kind":%q,"seq":%d,"ts":%d}`, kind, seq, ts), nil
	}
}

// telemetry builds a real protocol message of the usual size (~150 bytes).
func telemetry(ts int64) func(uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		return protocol.Encode(protocol.Telemetry{Unit: "car-017", Seq: seq, TS: ts,
			Lat: 28.1941, Lon: 112.9823, Status: protocol.StatusEnroute,
			AccM: ptr(4.5), SpeedMPS: ptr(11.2), HeadingDeg: ptr(270.0), Battery: ptr(0.82)})
	}
}

func ptr[T any](v T) *T { return &v }

func mustAppend(t testing.TB, q *Queue, kind Kind, ts int64) Item {
	t.Helper()
	it, err := q.Append(kind, ts, payload(kind, ts))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// stored reads every item from the database itself, by seq.
func stored(t testing.TB, q *Queue) []Item {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var items []Item
	err := q.db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool {
			seq, ok := parseItemKey(k)
			if !ok {
				return true
			}
			kind, ts, ok := decodeHeader(v)
			if !ok {
				t.Errorf("seq %d: undecodable value %q", seq, v)
			}
			items = append(items, Item{Seq: seq, Kind: kind, TS: ts, Payload: []byte(v[valHeader:])})
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func seqsOf(items []Item) []uint64 {
	s := make([]uint64, len(items))
	for i, it := range items {
		s[i] = it.Seq
	}
	return s
}

// checkIndex verifies that the in-memory index mirrors the database and
// that every item is in exactly the sets its state calls for.
func checkIndex(t testing.TB, q *Queue) {
	t.Helper()
	items := stored(t, q)
	q.mu.Lock()
	defer q.mu.Unlock()
	x := &q.idx
	events := 0
	for _, it := range items {
		at, sent := x.sentAt[it.Seq]
		due := sent && at < x.horizon
		if it.Kind.IsEvent() {
			events++
			if _, ok := x.ready(it.Kind).Get(it.Seq); ok != (!sent || due) {
				t.Fatalf("%s %d: ready = %v, sent %v due %v", it.Kind, it.Seq, ok, sent, due)
			}
			if _, ok := x.ready(otherEvent(it.Kind)).Get(it.Seq); ok {
				t.Fatalf("%s %d: in the other kind's ready set", it.Kind, it.Seq)
			}
			continue
		}
		k := posKey{it.TS, it.Seq}
		if _, ok := x.pos.Get(k); !ok {
			t.Fatalf("position %d not indexed", it.Seq)
		}
		if _, ok := x.posNew.Get(k); ok != !sent {
			t.Fatalf("position %d: in posNew = %v, sent %v", it.Seq, ok, sent)
		}
		if _, ok := x.posDue.Get(k); ok != due {
			t.Fatalf("position %d: in posDue = %v, due %v", it.Seq, ok, due)
		}
	}
	if x.events != events || x.pos.Len()+events != len(items) {
		t.Fatalf("index counts %d positions + %d events, database has %d items (%d events)",
			x.pos.Len(), x.events, len(items), events)
	}
	if x.sent.Len() != len(x.sentAt) || len(x.sentAt) > len(items) {
		t.Fatalf("sent tree %d, sent map %d, items %d", x.sent.Len(), len(x.sentAt), len(items))
	}
	if x.posNew.Len()+x.posDue.Len() > x.pos.Len() || x.evReady.Len()+x.sosReady.Len() > events {
		t.Fatalf("ready sets larger than the queue")
	}
}

// otherEvent is the event kind that is not k.
func otherEvent(k Kind) Kind {
	if k == SOS {
		return Event
	}
	return SOS
}

// fill writes n positions with seqs from first straight into a new database,
// 1,000 to a transaction — the fast way to a big backlog for benchmarks.
// (Small transactions: buntdb keeps its write buffer until its goroutine
// notices Close, which would blur memory measurements.)
func fill(t testing.TB, dir string, first uint64, n int, ts0 int64) {
	t.Helper()
	db, err := buntdb.Open(dir + "/" + dbFile)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for start := 0; start < n; start += 1000 {
		err = db.Update(func(tx *buntdb.Tx) error {
			for i := start; i < min(n, start+1000); i++ {
				seq, ts := first+uint64(i), ts0+int64(i)*1000
				p, err := telemetry(ts)(seq)
				if err != nil {
					return err
				}
				if _, _, err := tx.Set(itemKey(seq), encodeValue(Telemetry, ts, p), nil); err != nil {
					return err
				}
			}
			_, _, err := tx.Set(metaNext, encodeSeq(first+uint64(min(n, start+1000))), nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// rangesOf turns seqs into canonical ranges, as the hub's ack would.
func rangesOf(seqs []uint64) protocol.Ranges {
	s := append([]uint64(nil), seqs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var rs protocol.Ranges
	for _, v := range s {
		rs = rs.Insert(v)
	}
	return rs
}
