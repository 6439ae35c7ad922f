package stream

import "github.com/prometheus/client_golang/prometheus"

// Label values of the metrics.
const (
	dropTooSlow = "too_slow" // a frame could not be written within WriteTimeout
	dropNoPong  = "no_pong"  // no answer to a ping within WriteTimeout

	refuseAuth      = "auth"      // neither a known Bearer token nor a valid ticket
	refuseOrigin    = "origin"    // a page from a host not allowed
	refuseHandshake = "handshake" // not a valid websocket handshake
	refuseStopped   = "stopped"   // the stream has shut down
)

type metrics struct {
	clients    prometheus.Gauge
	frames     *prometheus.CounterVec
	resyncs    prometheus.Counter
	dropped    *prometheus.CounterVec
	refused    *prometheus.CounterVec
	frameBytes prometheus.Histogram
}

// newMetrics creates the stream's metrics and registers them on reg, if not nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kuaifan_stream_clients", Help: "Websocket clients connected to the live stream.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_stream_frames_total", Help: "Frames written to stream clients, by type (snapshot, delta).",
		}, []string{"type"}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kuaifan_stream_resyncs_total", Help: "Times a client's queue overflowed: its backlog was dropped for a fresh snapshot.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_stream_dropped_clients_total", Help: "Clients the stream closed, by reason (too_slow, no_pong).",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_stream_refused_total", Help: "Stream connections refused before the upgrade, by reason (auth, origin, handshake, stopped).",
		}, []string{"reason"}),
		frameBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kuaifan_stream_frame_bytes", Help: "Size of each frame built (once, however many clients it goes to).",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9), // 256 B … 16 MiB
		}),
	}
	// Known label values start at zero, so a rate() over them works from the start.
	m.frames.WithLabelValues(kindSnapshot)
	m.frames.WithLabelValues(kindDelta)
	m.dropped.WithLabelValues(dropTooSlow)
	m.dropped.WithLabelValues(dropNoPong)
	for _, r := range []string{refuseAuth, refuseOrigin, refuseHandshake, refuseStopped} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.clients, m.frames, m.resyncs, m.dropped, m.refused, m.frameBytes)
	}
	return m
}
