package broker

import (
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// What the external tests (package broker_test, which may import hubtest and
// with it the hub) see of the internals.

const (
	ReasonProtocol       = reasonProtocol
	ReasonMalformed      = reasonMalformed
	ReasonConnectTimeout = reasonTimeout
	ReasonUsername       = reasonUsername
	ReasonReservedID     = reasonReservedID
	ReasonClientID       = reasonClientID
	ReasonNoPassword     = reasonNoPassword
	ReasonCredentials    = reasonCredentials
	ReasonWill           = reasonWill
	ReasonInternal       = reasonInternal
	ActionPublish        = actionPublish
	ActionSubscribe      = actionSubscribe
)

func (e *Embedded) Refused(reason string) float64 {
	return testutil.ToFloat64(e.metrics.authRefused.WithLabelValues(reason))
}

func (e *Embedded) Denied(action string) float64 {
	return testutil.ToFloat64(e.metrics.aclDenied.WithLabelValues(action))
}

func (e *Embedded) Dropped() float64 { return e.metrics.dropped.total() }

func (e *Embedded) ClientsGauge() float64 { return testutil.ToFloat64(e.metrics.clients) }

// HasSession reports whether mochi keeps a session for the client id.
func (e *Embedded) HasSession(id string) bool {
	_, ok := e.srv.Clients.Get(id)
	return ok
}

// InlineClientIntact reports whether the hub's inline client is still the one
// registered under its id.
func (e *Embedded) InlineClientIntact() bool {
	cl, ok := e.srv.Clients.Get(mqtt.InlineClientId)
	return ok && cl.Net.Inline
}

func (e *Embedded) RetainedCount() int64 { return atomic.LoadInt64(&e.srv.Info.Retained) }

// Held is the number of messages held for no subscription yet.
func (r *Remote) Held() int {
	r.deliverMu.Lock()
	defer r.deliverMu.Unlock()
	return len(r.pending)
}

func (r *Remote) ConnectionOpen() bool { return r.client.IsConnectionOpen() }

const StallAfter = stallAfter

// StalledFor is how long a write to the unit has been blocked.
func (e *Embedded) StalledFor(unit string) time.Duration { return e.stalledFor(unit) }
