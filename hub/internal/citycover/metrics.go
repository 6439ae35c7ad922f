package citycover

import (
	"github.com/prometheus/client_golang/prometheus"

	"kuaifan/protocol/api"
)

// metrics are the layer's figures for Prometheus: the shares of the city
// and of each district per tier, by area and by demand.
type metrics struct {
	share    *prometheus.GaugeVec // district ("city" for the whole), tier ("1m"), weight ("area", "demand")
	units    *prometheus.GaugeVec // district
	compute  prometheus.Histogram
	rebuilds prometheus.Counter
	labels   []string // tier labels, by tier
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		share: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuaifan_coverage_share",
			Help: `Share (0..1) of the city ("city") or of a district reached by a free unit within the tier, by area or weighted by demand.`},
			[]string{"district", "tier", "weight"}),
		units: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuaifan_coverage_units",
			Help: `Free units with a fresh fix counted in the coverage, in the city ("city") or a district.`},
			[]string{"district"}),
		compute: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kuaifan_coverage_compute_seconds",
			Help:    "Time to recompute the coverage layer (grid, shares, holes).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "kuaifan_coverage_rebuilds_total",
			Help: "Coverage computations that repainted every unit (many had changed) rather than the changed ones."}),
	}
	if reg != nil {
		reg.MustRegister(m.share, m.units, m.compute, m.rebuilds)
	}
	return m
}

func (m *metrics) publish(c *api.Coverage) {
	if len(m.labels) != len(c.TiersS) {
		m.labels = m.labels[:0]
		for _, s := range c.TiersS {
			m.labels = append(m.labels, tierLabel(secondsDuration(s)))
		}
	}
	set := func(district string, s api.CoverageShares) {
		for k, lbl := range m.labels {
			m.share.WithLabelValues(district, lbl, "area").Set(s.Area[k])
			m.share.WithLabelValues(district, lbl, "demand").Set(s.Demand[k])
		}
	}
	set("city", c.City)
	m.units.WithLabelValues("city").Set(float64(c.Units))
	for _, d := range c.Districts {
		set(d.ID, d.CoverageShares)
		m.units.WithLabelValues(d.ID).Set(float64(d.Units))
	}
}
