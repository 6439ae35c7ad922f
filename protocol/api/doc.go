// Package api is the contract of kuaifan's HTTP API and websocket stream:
// every request and answer of the hub's /api calls and every frame of GET
// /ws, as Go types whose JSON is the wire's — units (Unit), match candidates
// and recommendations, incidents with their assignments, figures, offers and
// timeline, the bodies that create, move, assign, close and reopen an
// incident, track points, stream tickets and frames, errors — and the
// vocabulary the timeline speaks: its entry types with the structured reason
// behind each step, and the incident kinds the city uses.
//
// The hub produces these types (its internal packages use them or alias
// them, so there is one definition of each shape); the dashboard and the
// simulator decode them. The hub also stores incidents in this form, so a
// change is additive: a new field with omitempty, never a renamed or
// removed one. The districts of GET /api/districts are GeoJSON, which
// kuaifan/protocol/districts reads and writes; they have no type here.
//
// Standard library only (and kuaifan/protocol, which is too), so the
// WebAssembly dashboard imports it without pulling in the hub.
package api
