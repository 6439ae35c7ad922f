// Package loadtest measures the hub under load (simulator load): a fixed
// reporting rate for every agent, the throughput in a measured window, the
// hub's ingest counters, the latency from a position's GPS time to the
// websocket delta carrying it, loss after a final wait, and the
// simulator's own CPU and memory per unit.
package loadtest

import (
	"fmt"
	"runtime"
	"strings"

	"kuaifan/simulator/internal/report"
)

// NewReport starts the report of units reporting at hz.
func NewReport(units int, hz float64) Report {
	return Report{Mode: "load", Units: units, Hz: hz, TargetPerS: float64(units) * hz, GOMAXPROCS: runtime.GOMAXPROCS(0)}
}

// Report is what a load test measured.
type Report struct {
	Mode      string  `json:"mode"` // "load"
	Units     int     `json:"units"`
	Connected int     `json:"connected"`
	Hz        float64 `json:"hz"`
	WindowS   float64 `json:"window_s"`  // the measured window, real seconds
	ConnectS  float64 `json:"connect_s"` // from the first agent started to all connected
	WallS     float64 `json:"wall_s"`

	// Throughput in the window.
	TargetPerS    float64 `json:"target_per_s"` // Units × Hz
	QueuedPerS    float64 `json:"queued_per_s"` // positions the agents made
	SentPerS      float64 `json:"sent_per_s"`   // publishes
	ConfirmedPerS float64 `json:"confirmed_per_s"`

	// Totals over the whole run, after the final wait.
	Positions  uint64  `json:"positions"`
	Confirmed  uint64  `json:"confirmed"`
	Thinned    uint64  `json:"thinned"`
	Lost       uint64  `json:"lost"`
	Resent     uint64  `json:"resent"`
	DrainWaitS float64 `json:"drain_wait_s"`

	// The hub's own counters in the window (from /metrics).
	HubReceivedPerS  float64 `json:"hub_received_per_s"`
	HubCommittedPerS float64 `json:"hub_committed_per_s"`
	HubDropped       float64 `json:"hub_publish_dropped"`
	HubUnavailable   string  `json:"hub_unavailable,omitempty"`

	// End to end: a position's GPS time to the websocket delta carrying it.
	Latency      report.Dist `json:"latency_ms"`
	StreamFrames int64       `json:"stream_frames"`
	StreamError  string      `json:"stream_error,omitempty"`

	// The simulator itself.
	CPUCores          float64  `json:"cpu_cores"`          // CPU time ÷ wall time in the window
	CPUPerUnitPct     float64  `json:"cpu_per_unit_pct"`   // of one core
	MemPeakBytes      int64    `json:"mem_peak_bytes"`     // VmHWM
	MemPerUnitBytes   int64    `json:"mem_per_unit_bytes"` // (VmHWM − RSS before the fleet) ÷ units
	Goroutines        int      `json:"goroutines"`
	GoroutinesPerUnit float64  `json:"goroutines_per_unit"`
	GOMAXPROCS        int      `json:"gomaxprocs"`
	Notes             []string `json:"notes,omitempty"`
}

// String is the load report for people.
func (r Report) String() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("simulator load: %d units at %g Hz, %s measured (%s wall in all)\n", r.Units, r.Hz, report.HMS(r.WindowS), report.HMS(r.WallS))
	p("  fleet        %d connected in %.1f s\n", r.Connected, r.ConnectS)
	p("  throughput   target %.0f/s; queued %.0f/s, sent %.0f/s, confirmed %.0f/s\n", r.TargetPerS, r.QueuedPerS, r.SentPerS, r.ConfirmedPerS)
	if r.HubUnavailable != "" {
		p("  hub          /metrics unavailable: %s\n", r.HubUnavailable)
	} else {
		p("  hub          received %.0f/s, committed %.0f/s; broker drops %.0f\n", r.HubReceivedPerS, r.HubCommittedPerS, r.HubDropped)
	}
	p("  delivery     %d positions, %d confirmed, %d thinned, %d resent; LOST %d (after %.1f s of final wait)\n",
		r.Positions, r.Confirmed, r.Thinned, r.Resent, r.Lost, r.DrainWaitS)
	if r.StreamError != "" {
		p("  latency      stream: %s\n", r.StreamError)
	} else if r.Latency.N > 0 {
		p("  latency      GPS time → websocket: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%d samples, %d frames)\n",
			r.Latency.Median, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.N, r.StreamFrames)
	}
	p("  simulator    %.2f cores (%.4f%% of a core per unit), peak memory %.0f MB (%.0f KB per unit), %d goroutines (%.1f per unit), GOMAXPROCS %d\n",
		r.CPUCores, r.CPUPerUnitPct, float64(r.MemPeakBytes)/(1<<20), float64(r.MemPerUnitBytes)/1024, r.Goroutines, r.GoroutinesPerUnit, r.GOMAXPROCS)
	for _, n := range r.Notes {
		p("  note         %s\n", n)
	}
	return b.String()
}
