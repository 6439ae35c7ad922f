// Package agent is kuaifan's edge agent: it runs on a patrol device, reports
// the unit's position and status to the hub over MQTT, and carries out the
// hub's commands.
//
// The pieces, each in its own package: a GPS source (internal/gps), the
// adaptive reporting policy that picks which fixes to report
// (internal/report), the durable store-and-forward queue every report goes
// through (internal/queue), and the MQTT link that sends the queue and
// receives the hub's acks and commands (internal/uplink). This package wires
// them and keeps what the officer and the hub change: the unit's status, its
// assignment, the reporting bounds and the ids of the commands already
// handled (DataDir/agent-state.json).
//
// cmd/agent only turns flags into a Config; the simulator and the tests call
// New and Run directly.
package agent
