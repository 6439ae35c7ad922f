package broker

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a device is refused at connect (label values of
// kuaifan_broker_auth_refused_total).
const (
	reasonProtocol    = "protocol_version"   // not MQTT 3.1 or 3.1.1 (MQTT 5 included)
	reasonMalformed   = "malformed"          // no CONNECT that MQTT 3.1.1 allows: unreadable, cut short, another packet first
	reasonTimeout     = "connect_timeout"    // no complete CONNECT within Config.ConnectTimeout
	reasonUsername    = "bad_username"       // missing, or not a valid unit id
	reasonReservedID  = "reserved_client_id" // the broker's own inline client id
	reasonClientID    = "client_id_mismatch" // client id differs from the username
	reasonNoPassword  = "empty_password"
	reasonCredentials = "bad_credentials" // unknown unit, revoked, or wrong secret
	reasonWill        = "will_topic"      // a Last Will outside the unit's own state topic
	reasonInternal    = "internal_error"  // a panic in the hook (a bug)
)

var refusalReasons = []string{reasonProtocol, reasonMalformed, reasonTimeout, reasonUsername, reasonReservedID,
	reasonClientID, reasonNoPassword, reasonCredentials, reasonWill, reasonInternal}

// ACL actions (label values of kuaifan_broker_acl_denied_total).
const (
	actionPublish   = "publish"
	actionSubscribe = "subscribe"
)

// Why a QoS 1 message to a device was dropped (label values of
// kuaifan_broker_publish_dropped_total). mochi never resends any of them.
const (
	dropQueueFull   = "write_queue_full" // mochi: the device's write queue was full (OnPublishDropped)
	dropStalled     = "stalled"          // Publish: a write to the device was blocked
	dropSessionFull = "session_full"     // mochi: the session already held MaximumInflight unacknowledged messages
)

// dropped is kuaifan_broker_publish_dropped_total: two reasons counted here,
// one read from mochi, which has no hook for it (it only logs a Warn).
type dropped struct {
	desc        *prometheus.Desc
	queueFull   atomic.Uint64
	stalled     atomic.Uint64
	sessionFull func() float64
}

func (d *dropped) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *dropped) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.queueFull.Load()), dropQueueFull)
	ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.stalled.Load()), dropStalled)
	ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, d.sessionFull(), dropSessionFull)
}

func (d *dropped) total() float64 {
	return float64(d.queueFull.Load()) + float64(d.stalled.Load()) + d.sessionFull()
}

type metrics struct {
	authRefused *prometheus.CounterVec
	aclDenied   *prometheus.CounterVec
	dropped     *dropped
	clients     prometheus.GaugeFunc

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

// newMetrics creates the broker's metrics and registers them on reg (nil: kept
// but not exported). clients reports the number of connected devices,
// sessionFull mochi's count of messages refused by a full session.
func newMetrics(reg prometheus.Registerer, clients, sessionFull func() float64) (*metrics, error) {
	m := &metrics{
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_broker_auth_refused_total",
			Help: "Device connections refused by the embedded broker, by reason.",
		}, []string{"reason"}),
		aclDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kuaifan_broker_acl_denied_total",
			Help: "Publishes and subscriptions the embedded broker denied to a device.",
		}, []string{"action"}),
		dropped: &dropped{
			desc: prometheus.NewDesc("kuaifan_broker_publish_dropped_total",
				"QoS 1 messages to a device the embedded broker dropped (never resent), by reason.",
				[]string{"reason"}, nil),
			sessionFull: sessionFull,
		},
		clients: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kuaifan_broker_clients",
			Help: "Devices connected to the embedded broker.",
		}, clients),
		reg: reg,
	}
	// Known label values start at zero, so a rate() over them works from the start.
	for _, r := range refusalReasons {
		m.authRefused.WithLabelValues(r)
	}
	m.aclDenied.WithLabelValues(actionPublish)
	m.aclDenied.WithLabelValues(actionSubscribe)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.authRefused, m.aclDenied, m.dropped, m.clients} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("broker: metrics already registered (one embedded broker per registry): %w", err)
			}
			return nil, fmt.Errorf("broker: registering metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister removes what newMetrics registered, so a closed broker neither
// keeps its server alive through the gauge nor blocks a successor.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}
