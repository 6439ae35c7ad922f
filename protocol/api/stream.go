package api

// Frame types.
const (
	FrameSnapshot = "snapshot" // every unit and open incident
	FrameDelta    = "delta"    // what changed in the hub's last window, latest state per id
)

// Frame is one message of GET /ws, as a client decodes it.
type Frame = FrameOf[Unit, Incident]

// FrameOf is a frame of GET /ws with the element types of its lists left
// open: the hub's stream encodes the values its source hands it (Unit and
// Incident), a client reads Frame.
//
// A snapshot has both Units and Incidents, possibly empty, and no removals;
// its Seq is that of the last delta it includes. A delta has the next Seq
// and only the lists that have something in them: the units and incidents
// that changed (an incident that closed, with its final state), and the ids
// of those removed. Omitting the empty lists rests on the hub leaving them
// nil in a delta and making them non-nil in a snapshot (omitzero).
type FrameOf[U, I any] struct {
	Type             string   `json:"type"` // FrameSnapshot or FrameDelta
	Seq              uint64   `json:"seq"`
	TS               int64    `json:"ts"` // hub clock when built, Unix ms
	Units            []U      `json:"units,omitzero"`
	Incidents        []I      `json:"incidents,omitzero"`
	RemovedUnits     []string `json:"removed_units,omitempty"`
	RemovedIncidents []string `json:"removed_incidents,omitempty"`
	// Coverage (additive, 2026-12) is the city's coverage layer: whole in
	// a snapshot (when the hub has one), its changes in a delta when it
	// changed (see Coverage).
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Ticket is the answer of POST /api/stream/ticket: a single-use ticket for
// GET /ws?ticket=…, for a browser, which cannot send the Authorization
// header on a websocket. Its fields are in the order the hub writes them.
type Ticket struct {
	Expires    int64   `json:"expires"`      // Unix ms
	ExpiresInS float64 `json:"expires_in_s"` // seconds from the answer (about 30)
	Ticket     string  `json:"ticket"`
}
