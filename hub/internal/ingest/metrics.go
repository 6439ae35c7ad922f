package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are ingest's counters, registered on the hub's registry.
type Metrics struct {
	received      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	results       *prometheus.CounterVec
	waitSeconds   prometheus.Histogram
	commitSeconds prometheus.Histogram
	syncSeconds   prometheus.Histogram
	batchSize     prometheus.Histogram
	commitErrors  prometheus.Counter
	acks          prometheus.Counter
	ackErrors     prometheus.Counter
	queue         func() float64
}

// NewMetrics creates ingest's metrics and registers them on reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_ingest_received_total", Help: "Messages received from units, by kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_ingest_rejected_total", Help: "Messages rejected before commit, by reason.",
		}, []string{"reason"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_ingest_results_total", Help: "Messages through commit, by kind and result (committed, older, duplicate, expired, unknown_unit, presence, stale_will).",
		}, []string{"kind", "result"}),
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kuaifan_ingest_wait_seconds", Help: "Time from a message's arrival at the hub to the start of the commit that applies it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kuaifan_ingest_commit_seconds", Help: "Time to apply one batch to the store (before its fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kuaifan_ingest_sync_seconds", Help: "Time to fsync committed batches before they are confirmed.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kuaifan_ingest_batch_messages", Help: "Messages per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kuaifan_ingest_commit_errors_total", Help: "Batches the store failed to commit (left to the agents' resend).",
		}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kuaifan_ingest_acks_published_total", Help: "Ack messages published to units.",
		}),
		ackErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kuaifan_ingest_ack_errors_total", Help: "Ack messages the bus refused.",
		}),
	}
	if reg != nil {
		queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kuaifan_ingest_queue_messages", Help: "Messages validated and waiting for a commit.",
		}, func() float64 {
			if m.queue == nil {
				return 0
			}
			return m.queue()
		})
		reg.MustRegister(m.received, m.rejected, m.results, m.waitSeconds, m.commitSeconds, m.syncSeconds, m.batchSize,
			m.commitErrors, m.acks, m.ackErrors, queue)
	}
	return m
}
