package api

import "kuaifan/protocol"

// Unit is one patrol unit as GET /api/units, GET /api/units/{id} and the
// stream show it. The position fields (Lat, Lon, TS, Seq and the optional
// figures) are those of the unit's latest fix; Lat, Lon and TS are null
// until it has one.
type Unit struct {
	ID           string            `json:"id"`
	Type         protocol.UnitType `json:"type"`
	Callsign     string            `json:"callsign,omitempty"`
	Capabilities []string          `json:"capabilities"` // never null
	Status       protocol.Status   `json:"status,omitempty"`
	Online       bool              `json:"online"`
	Lat          *float64          `json:"lat"`
	Lon          *float64          `json:"lon"`
	TS           *int64            `json:"ts"` // GPS time of the fix, Unix ms
	Seq          *uint64           `json:"seq,omitempty"`
	AccM         *float64          `json:"acc_m,omitempty"`
	SpeedMPS     *float64          `json:"speed_mps,omitempty"`
	HeadingDeg   *float64          `json:"heading_deg,omitempty"`
	Battery      *float64          `json:"battery,omitempty"`
	LastSeen     int64             `json:"last_seen,omitempty"` // hub time of its last message, Unix ms
	Incident     string            `json:"incident,omitempty"`  // the incident it is assigned to
	// ReportS (additive, 2026-12) is the reporting interval the hub last
	// commanded the unit (a config command, by the dispatch policy's
	// "report"): the longest of its *_s values, seconds — the unit reports
	// at least this often with a fix. Absent: the hub has not commanded it
	// since it started.
	ReportS float64 `json:"report_s,omitempty"`
	// Protocol (additive, 2026-12) is how the unit reports when it is not
	// kuaifan's agent: owntracks or osmand; absent for kuaifan.
	Protocol ReportProtocol `json:"protocol,omitempty"`
	// LastConnect (additive, 2026-12) is the unit's last connection the
	// embedded broker admitted since the hub started; absent: none.
	LastConnect *Connection `json:"last_connect,omitempty"`
	// LastRefused (additive, 2026-12) is the last connection attempt
	// under the unit's id that the embedded broker refused since the hub
	// started, with why; absent: none.
	LastRefused *Connection `json:"last_refused,omitempty"`
	// Reposition (additive, 2026-12) is the move-up the unit was sent on
	// and has not finished: absent when none (see Reposition).
	Reposition *Reposition `json:"reposition,omitempty"`
	// Agent (additive, 2026-12) is the software the unit named when it
	// last came online (its state's agent, e.g. "kuaifan-agent/1.1");
	// absent until it has named one since the hub started.
	Agent string `json:"agent,omitempty"`
}

// Connection is one connection attempt of a unit to the embedded broker
// (additive, 2026-12).
type Connection struct {
	Addr   string `json:"addr"`             // the peer's address, host:port
	At     int64  `json:"at"`               // hub time, Unix ms
	Reason string `json:"reason,omitempty"` // why it was refused (kuaifan_broker_auth_refused_total's reason); absent when admitted
}

// SecretRotation is the body of POST /api/units/{id}/secret (additive,
// 2026-12); the body may be empty. Unknown fields are refused.
type SecretRotation struct {
	// Push sends the new secret to the unit in a config command over its
	// authenticated link; absent: true. The unit must be online.
	Push *bool `json:"push,omitempty"`
	// Disconnect drops the unit's current connection at once (only with
	// push false: the cut would race the command's delivery).
	Disconnect bool `json:"disconnect,omitempty"`
}

// SecretRotated answers POST /api/units/{id}/secret: the unit's new
// secret, shown this once (additive, 2026-12).
type SecretRotated struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	// Pushed says the config command carrying the secret was handed to the
	// broker (not that the unit has it: see hub/README.md).
	Pushed bool `json:"pushed"`
}

// Enrolment is the body of POST /api/units: a device to enrol. Unknown
// fields are refused.
type Enrolment struct {
	ID           string            `json:"id"`
	Type         protocol.UnitType `json:"type"`
	Callsign     string            `json:"callsign"`
	Capabilities []string          `json:"capabilities"`
	// Protocol is how the device reports (additive, 2026-12); absent or ""
	// is ReportKuaifan, so v1 enrolments mean what they meant.
	Protocol ReportProtocol `json:"protocol,omitempty"`
}

// ReportProtocol says which way a unit reports its position (additive,
// 2026-12): kuaifan's agent over MQTT, or a phone app the hub understands.
type ReportProtocol string

const (
	ReportKuaifan   ReportProtocol = "kuaifan"   // kuaifan's agent: {root}/units/{id}/… (the default)
	ReportOwnTracks ReportProtocol = "owntracks" // the OwnTracks app: HTTP mode, or MQTT owntracks/{id}/{device}
	ReportOsmAnd    ReportProtocol = "osmand"    // Traccar Client: the OsmAnd protocol over HTTP (query or JSON)
)

// Valid reports whether p is one of the three ("" is not: the default is
// applied where the enrolment is read).
func (p ReportProtocol) Valid() bool {
	return p == ReportKuaifan || p == ReportOwnTracks || p == ReportOsmAnd
}

// Enrolled is the answer of POST /api/units: the unit's MQTT password,
// shown this once (the hub keeps only its hash).
type Enrolled struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// TrackPoint is one stored position of a unit, as GET /api/units/{id}/track
// lists them (oldest first).
type TrackPoint struct {
	Seq        uint64          `json:"seq"`
	TS         int64           `json:"ts"` // GPS time, Unix ms
	Lat        float64         `json:"lat"`
	Lon        float64         `json:"lon"`
	Status     protocol.Status `json:"status"`
	AccM       *float64        `json:"acc_m,omitempty"`
	SpeedMPS   *float64        `json:"speed_mps,omitempty"`
	HeadingDeg *float64        `json:"heading_deg,omitempty"`
	Battery    *float64        `json:"battery,omitempty"`
}

// Candidate is one unit ranked for a place: by GET /api/match, and as the
// core of an incident's Recommendation.
type Candidate struct {
	Unit      string            `json:"unit"`
	Type      protocol.UnitType `json:"type"`
	DistanceM float64           `json:"distance_m"` // great-circle, metres
	ETAS      float64           `json:"eta_s"`      // distance × detour ÷ the type's road speed
	Tier      int               `json:"tier"`       // 1-based response tier the ETA falls in (by default ≤ 1, 3, 5 minutes; 4 beyond)
	FixAgeS   float64           `json:"fix_age_s"`  // age of the position used, seconds
	Lat       float64           `json:"lat"`
	Lon       float64           `json:"lon"`
}

// Matches is the answer of GET /api/match: the candidates, best first by
// ETA (an empty list, never null).
type Matches struct {
	Candidates []Candidate `json:"candidates"`
}
