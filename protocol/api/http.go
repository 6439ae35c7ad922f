package api

// Error is the body of every error answer of the HTTP API (and of a refused
// stream handshake), with the matching status: at most 512 bytes, quoting
// at most 64 of what the client sent.
type Error struct {
	Error string `json:"error"`
}

// Health is the answer of GET /healthz: status "ok" (200); "degraded" (200)
// with the reason when the hub serves but an operator must look (its store
// was damaged and salvaged, units must be enrolled again); or "unhealthy"
// (503) with the reason. Its fields are in the order the hub writes them.
type Health struct {
	Error  string `json:"error,omitempty"`
	Status string `json:"status"`
}

// Health statuses.
const (
	HealthOK        = "ok"
	HealthDegraded  = "degraded"
	HealthUnhealthy = "unhealthy"
)
