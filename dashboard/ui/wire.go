package ui

import "kuaifan/protocol/api"

// The JSON the dashboard reads is the hub's API contract, kuaifan/protocol/api
// (standard library only, so app.wasm links none of the hub's packages). The
// names used all over the dashboard are aliases; the rest is api.X where it
// is used. wire_test.go reads the hub README's examples with them.
type (
	// Unit is one patrol unit as GET /api/units and the stream show it.
	Unit = api.Unit
	// Incident is one call for help and everything done about it.
	Incident = api.Incident
	// Entry is one step on an incident's timeline, with the reason behind it
	// (the hub writes it, EntryText renders it).
	Entry = api.Entry
)

// Frame is one message of GET /ws (a snapshot or a delta, api.Frame) as the
// dashboard received it: on which of the stream client's connections, and
// when by the local clock.
type Frame struct {
	api.Frame

	conn     uint64 // which connection of the stream client it came on
	received int64  // local clock at arrival, Unix ms
}
