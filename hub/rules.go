package hub

// Rule is one endpoint of the HTTP API and who may call it.
type Rule struct {
	Method string
	Path   string // a net/http pattern's path, e.g. /api/incidents/{id}/assign
	// Role is the least role that may call it; "" with Public or Own.
	Role string
	// Public: anyone, without credentials (/healthz, /metrics).
	Public bool
	// Own: the endpoint checks its callers itself: the live stream (a
	// ticket or a Bearer token), the phones (their unit's secret), the
	// sign-in (a name and password).
	Own bool
	// Audited: an accepted call writes one audit entry.
	Audited bool
	// Unchanged: allowed before a one-time password is changed.
	Unchanged bool
}

// Rules lists every endpoint the hub's HTTP API serves, with its rule.
func (h *Hub) Rules() []Rule {
	routes := h.api.Routes()
	out := make([]Rule, 0, len(routes))
	for _, rt := range routes {
		r := Rule{Method: rt.Method, Path: rt.Path, Own: rt.Own, Audited: rt.Audited(), Unchanged: rt.Unchanged}
		if rt.Need == 0 {
			r.Public = true
		} else {
			r.Role = rt.Need.String()
		}
		out = append(out, r)
	}
	return out
}
