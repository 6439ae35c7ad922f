package stream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// benchUnit is about what the fleet's unit view weighs.
type benchUnit struct {
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	Status  string  `json:"status"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	TS      int64   `json:"ts"`
	Online  bool    `json:"online"`
	Changed int64   `json:"changed_ns"` // when UnitsChanged was called
}

// BenchmarkStream measures the stream alone: 10,000 units changing at 1 Hz,
// spread evenly (one op = one unit change, paced at 10 a millisecond), 20
// clients of which one never reads. Reported: the latency from UnitsChanged
// to a healthy client holding the frame with that change (p50, p99, max; the
// 100 ms window included), the frames a healthy client gets per second, and
// what became of the stalled one. Target: p99 < 150 ms. For a meaningful run
// give it seconds of load: -benchtime=100000x is 10 s.
func BenchmarkStream(b *testing.B) {
	const (
		units   = 10_000
		clients = 20
		perMs   = units / 1000 // 1 Hz each
	)
	f := newFixture(b, Config{Logger: slog.New(slog.DiscardHandler)})
	for i := range units {
		id := fmt.Sprintf("u%05d", i)
		f.src.set(f.src.units, id, benchUnit{ID: id, Type: "car", Status: "available", Lat: 28.2, Lon: 112.9, Online: true})
	}

	readers := make([]*latencyReader, clients-1)
	var wg sync.WaitGroup
	for i := range readers {
		c := f.connect(dialOpts{timeout: 20 * time.Second})
		readers[i] = &latencyReader{c: c, ready: make(chan struct{})}
		wg.Go(readers[i].run)
	}
	b.Cleanup(func() {
		for _, r := range readers {
			r.c.CloseNow()
		}
		wg.Wait()
	})
	f.rawDial() // stalled: never reads
	for _, r := range readers {
		<-r.ready // its snapshot arrived
	}
	waitFor(b, 10*time.Second, "every client connected", func() bool { return f.s.Clients() == clients })

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i%perMs == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i/perMs) * time.Millisecond)))
		}
		id := fmt.Sprintf("u%05d", i%units)
		f.setUnit(id, benchUnit{ID: id, Type: "car", Status: "enroute", Lat: 28.2 + float64(i)*1e-7, Lon: 112.9,
			TS: time.Now().UnixMilli(), Online: true, Changed: time.Now().UnixNano()})
	}
	sent := time.Since(start)
	b.StopTimer()
	want := b.N * (clients - 1)
	seen := func() (n int) {
		for _, r := range readers {
			r.mu.Lock()
			n += len(r.latencies)
			r.mu.Unlock()
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); seen() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the last window goes out
	}

	var all []int64
	var frames, resyncs int
	for _, r := range readers {
		r.mu.Lock()
		all = append(all, r.latencies...)
		frames += r.frames
		resyncs += r.resyncs
		r.mu.Unlock()
	}
	if resyncs > 0 {
		b.Errorf("healthy clients were resynced %d times", resyncs)
	}
	if len(all) == 0 {
		b.Fatal("no deltas received")
	}
	slices.Sort(all)
	ms := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(float64(frames)/float64(len(readers))/sent.Seconds(), "frames/s")
	b.ReportMetric(f.metric("kuaifan_stream_resyncs_total"), "stalled-resyncs")
	b.ReportMetric(f.metric("kuaifan_stream_dropped_clients_total", "reason", dropTooSlow), "stalled-dropped")
	if len(all) < want {
		b.Errorf("%d changes seen by the healthy clients, want %d", len(all), want)
	}
}

// latencyReader is a healthy client: it reads every frame and, for each
// unit in a delta, notes how long ago the unit changed. It scans for the
// stamps rather than decoding the JSON, to keep the measurement on the stream.
type latencyReader struct {
	c     *websocket.Conn
	ready chan struct{}

	mu        sync.Mutex
	latencies []int64 // ns
	frames    int
	resyncs   int
}

var stampKey = []byte(`"changed_ns":`)

func (r *latencyReader) run() {
	first := true
	for {
		_, data, err := r.c.Read(context.Background())
		if err != nil {
			if first {
				close(r.ready)
			}
			return
		}
		now := time.Now().UnixNano()
		if first {
			first = false
			close(r.ready)
			continue // the snapshot
		}
		r.mu.Lock()
		r.frames++
		if bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
			r.resyncs++ // a healthy client should never need one
			r.mu.Unlock()
			continue
		}
		for rest := data; ; {
			i := bytes.Index(rest, stampKey)
			if i < 0 {
				break
			}
			rest = rest[i+len(stampKey):]
			end := bytes.IndexAny(rest, ",}")
			if v, err := strconv.ParseInt(string(rest[:end]), 10, 64); err == nil && v > 0 {
				r.latencies = append(r.latencies, now-v)
			}
		}
		r.mu.Unlock()
	}
}
