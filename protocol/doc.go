// Package protocol is kuaifan's wire contract (version 1): the MQTT topics, the
// JSON payloads exchanged between patrol-device agents and the hub, their
// validation, and the geodesy both sides share.
//
// It depends on the standard library only, so the agent, the hub and the
// WebAssembly dashboard all import the same definitions. Every decoder
// validates what it decodes and returns an *Error naming the rejected field;
// Encode refuses to produce a message its own decoder would reject.
package protocol
