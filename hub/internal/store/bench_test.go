package store

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"kuaifan/protocol"
)

// BenchmarkHistoryMemory reports what one stored position costs in memory
// (buntdb keeps the whole database in memory): the heap after committing
// 200,000 positions of 1,000 units, less the heap before, per position.
func BenchmarkHistoryMemory(b *testing.B) {
	const units, per = 1000, 200
	speed, heading := 8.3, 270.0
	for range b.N {
		s, err := Open(Config{Dir: b.TempDir(), SnapshotInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		before := heap()
		for i := range per {
			batch := &Batch{}
			for u := range units {
				batch.Points = append(batch.Points, UnitPosition{Unit: fmt.Sprintf("unit-%04d", u), Position: Position{
					Seq: uint64(i + 1), TS: now.UnixMilli() + int64(i)*1000, Lat: 28.1 + float64(u)*1e-4, Lon: 112.9 + float64(i)*1e-5,
					Status: protocol.StatusAvailable, SpeedMPS: &speed, HeadingDeg: &heading}})
			}
			if _, err := s.Commit(batch, now.Add(time.Duration(i)*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(heap()-before)/(units*per), "B/position")
		s.Close()
	}
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
