package dispatch

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	created         prometheus.Counter
	reopened        prometheus.Counter
	assignments     *prometheus.CounterVec
	dispatchLatency prometheus.Histogram
	ackLatency      prometheus.Histogram
	arrival         prometheus.Histogram
	eventsIgnored   prometheus.Counter
	commandErrors   prometheus.Counter
	sos             *prometheus.CounterVec
	moveups         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, d *Dispatcher) *metrics {
	secs := []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 20, 30, 60, 120, 180, 300, 600, 1200}
	m := &metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_dispatch_incidents_created_total",
			Help: "Incidents created."}),
		reopened: prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_dispatch_incidents_reopened_total",
			Help: "Closed incidents opened again."}),
		assignments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kuaifan_dispatch_assignments_total",
			Help: "Assignments by state reached: dispatched, declined, timeout, cleared, cancelled."}, []string{"state"}),
		dispatchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kuaifan_dispatch_latency_seconds",
			Help: "From an incident's creation to its first dispatch.", Buckets: secs}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kuaifan_dispatch_ack_latency_seconds",
			Help: "From a dispatch to the unit's ack.", Buckets: secs}),
		arrival: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kuaifan_dispatch_time_to_arrival_seconds",
			Help: "From an incident's creation to the first unit on scene.", Buckets: secs}),
		eventsIgnored: prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_dispatch_events_ignored_total",
			Help: "Unit events about an incident the unit is not assigned to."}),
		commandErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_dispatch_command_errors_total",
			Help: "Commands the bus refused (the ack deadline covers a lost dispatch)."}),
		sos: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kuaifan_dispatch_sos_total",
			Help: "Officers' sos events by what they did: opened an incident, updated the open one, or nothing (a repeat, or no position known)."},
			[]string{"result"}),
		moveups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kuaifan_dispatch_moveups_total",
			Help: "Move-ups (reposition commands) by what happened: sent, replaced, arrived, declined, withdrawn, dispatched (the unit was sent to an incident on the way)."},
			[]string{"event"}),
	}
	if reg == nil {
		return m
	}
	count := func(pred func(*Incident) bool) func() float64 {
		return func() float64 {
			d.mu.Lock()
			defer d.mu.Unlock()
			n := 0
			for _, inc := range d.incidents {
				if pred(inc) {
					n++
				}
			}
			return float64(n)
		}
	}
	reg.MustRegister(m.created, m.reopened, m.assignments, m.dispatchLatency, m.ackLatency, m.arrival, m.eventsIgnored, m.commandErrors, m.sos, m.moveups,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuaifan_dispatch_incidents_open", Help: "Incidents not closed."},
			count(func(i *Incident) bool { return i.Status != StatusClosed })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuaifan_dispatch_incidents_uncovered",
			Help: "Open incidents nobody covers: no unit on scene or acknowledged within the first tier, and none fresh and free to go within it."},
			count(func(i *Incident) bool { return i.Status != StatusClosed && i.Uncovered })))
	return m
}
