package history

import (
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"kuaifan/protocol"
)

// Snapshots taken while a writer appends (with memtables small enough that
// pebble flushes and compacts under them) each hold every batch Append had
// returned before the snapshot began, and open as a History.
func TestSnapshotUnderWrites(t *testing.T) {
	src := t.TempDir()
	h, err := Open(Config{Dir: src, CacheSize: 8 << 20, MemTableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const perBatch = 200
	var done atomic.Int64 // batches Append has returned
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := int64(0); ; b++ {
			select {
			case <-stop:
				return
			default:
			}
			var batch Batch
			for i := range perBatch {
				seq := uint64(b*perBatch + int64(i) + 1)
				batch.Positions = append(batch.Positions, Position{Unit: "car-1", Seq: seq, TS: day0 + int64(seq), Lat: 28.2, Lon: 112.9})
			}
			batch.Events = append(batch.Events, protocol.Event{Unit: "car-1", Seq: uint64(b + 1), TS: day0 + b, Type: protocol.EventAck})
			if err := h.Append(batch); err != nil {
				t.Error(err)
				return
			}
			done.Store(b + 1)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for i := range 8 {
		for done.Load() < int64(50*(i+1)) {
			runtime.Gosched()
		}
		before := done.Load()
		dst := filepath.Join(t.TempDir(), "copy")
		if err := Snapshot(src, dst); err != nil {
			t.Fatal(err)
		}
		c, err := Open(Config{Dir: dst, CacheSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.Track("car-1", math.MinInt64, math.MaxInt64, 0)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := c.Events("car-1", math.MinInt64, math.MaxInt64, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		// A prefix of seqs 1..n with n at least what was confirmed before.
		for k, p := range ps {
			if p.Seq != uint64(k+1) {
				t.Fatalf("snapshot %d: position %d has seq %d: not a prefix", i, k, p.Seq)
			}
		}
		if int64(len(ps)) < before*perBatch || int64(len(evs)) < before {
			t.Fatalf("snapshot %d: %d positions and %d events, %d batches confirmed before it", i, len(ps), len(evs), before)
		}
		t.Logf("snapshot %d: %d batches confirmed before, %d positions in the copy", i, before, len(ps))
	}
}
