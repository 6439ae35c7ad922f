package loadtest

import (
	"context"
	"fmt"
	"io"
	"time"

	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/report"
)

// Progress writes a line every 10 s until ctx ends: the units online, the
// rates, the latency so far.
func Progress(ctx context.Context, out io.Writer, f *fleet.Fleet, st *Stream) {
	t := time.NewTicker(report.ProgressEvery)
	defer t.Stop()
	start := time.Now()
	last := f.Totals()
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			tot := f.Totals()
			secs := now.Sub(lastAt).Seconds()
			line := fmt.Sprintf("[%s] %d units online · %.0f queued/s, %.0f confirmed/s · %d waiting",
				report.HMS(now.Sub(start).Seconds()), tot.Connected, float64(tot.Positions-last.Positions)/secs,
				float64(tot.Confirmed-last.Confirmed)/secs, tot.Queued)
			if st != nil {
				l, _ := st.Latency()
				line += fmt.Sprintf(" · latency p50 %.0f ms p99 %.0f ms", l.Median, l.P99)
			}
			fmt.Fprintln(out, line)
			last, lastAt = tot, now
		}
	}
}
