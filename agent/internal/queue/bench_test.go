package queue

import (
	"testing"
	"time"
)

// BenchmarkAppend measures one report onto disk: encode, fsync'd commit.
func BenchmarkAppend(b *testing.B) {
	q := openQ(b, Config{Dir: b.TempDir()})
	ts := t0.UnixMilli()
	for b.Loop() {
		ts += 1000
		if _, err := q.Append(Telemetry, ts, telemetry(ts)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkDrain empties a 100,000-position backlog the way the sender
// does — Next(256), MarkSent, then the hub's ack for the batch — with a live
// position appended (fsync'd) every 20 batches, which must come out first
// in the next batch. One op is one batch.
func BenchmarkDrain(b *testing.B) {
	const backlog, batch = 100_000, 256
	var q *Queue
	drained, batches := 0, 0
	refill := func() {
		if q != nil {
			q.Close()
		}
		dir := b.TempDir()
		fill(b, dir, 1, backlog, t0.UnixMilli())
		var err error
		if q, err = Open(Config{Dir: dir}); err != nil {
			b.Fatal(err)
		}
	}
	refill()
	defer func() { q.Close() }()
	live := t0.UnixMilli() + backlog*1000
	var want uint64
	b.ResetTimer()
	for range b.N {
		if q.Len() == 0 {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		if batches++; batches%20 == 0 {
			live += 1000
			it, err := q.Append(Telemetry, live, telemetry(live))
			if err != nil {
				b.Fatal(err)
			}
			want = it.Seq
		}
		items := q.Next(batch, 30*time.Second)
		if want != 0 {
			if items[0].Seq != want {
				b.Fatalf("live position %d not first: got %d", want, items[0].Seq)
			}
			want = 0
		}
		seqs := seqsOf(items)
		q.MarkSent(time.Now(), seqs...)
		n, err := q.Ack(rangesOf(seqs))
		if err != nil {
			b.Fatal(err)
		}
		drained += n
	}
	b.ReportMetric(float64(drained)/b.Elapsed().Seconds(), "positions/s")
}

// BenchmarkQueuedMemory reports the heap a queued position costs, with
// 10,000 queued (payloads ~160 bytes, as the agent sends).
func BenchmarkQueuedMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = queuedMemory(b, 10_000)
	}
	b.ReportMetric(per, "B/item")
}
