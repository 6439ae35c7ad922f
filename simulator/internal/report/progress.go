package report

import (
	"context"
	"fmt"
	"io"
	"time"

	"kuaifan/simulator/internal/dispatch"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/simclock"
)

// ProgressEvery is how often (real time) a run writes its progress line.
const ProgressEvery = 10 * time.Second

// Progress writes a line every 10 s (real) until ctx ends: the fleet
// online, the incidents and what the officers did about them, the reports.
func Progress(ctx context.Context, out io.Writer, f *fleet.Fleet, reg *dispatch.Registry, clock *simclock.Clock, calls *dispatch.CallTaker) {
	t := time.NewTicker(ProgressEvery)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tot := f.Totals()
		c := f.Officers()
		fmt.Fprintf(out, "[%s wall, %s sim] %d/%d units online · %d incidents (%.0f/h): %d dispatches, %d arrivals, %d cleared · %d positions, %d confirmed, %d waiting\n",
			HMS(time.Since(start).Seconds()), HMS(clock.Elapsed().Seconds()), tot.Connected, f.Len(),
			reg.Len(), calls.Rate(), c.Dispatches, c.Arrivals, c.Clears, tot.Positions, tot.Confirmed, tot.Queued)
	}
}
