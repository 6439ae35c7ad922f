package api

import "kuaifan/protocol"

// HistoryPage is the answer of GET /api/history: one page of the stored
// positions of every unit inside a box during a time range.
//
// Positions come in the order the hub's history visits them: by UTC day,
// then by unit id, then by time and sequence number. That is not time
// order across units: sort by TS to replay a day. Positions is a list,
// never null (empty when the box held nobody).
//
// Next is the page token of the following page (pass it as after=, with
// the same bbox, since and until); it is absent or empty when there is
// nothing more. The hub writes the page as it reads it: an answer cut
// short by an error ends without its closing bracket (the connection is
// aborted), so a body that decodes is a complete page.
type HistoryPage struct {
	Positions []HistoryPoint `json:"positions"`
	Next      string         `json:"next,omitempty"`
}

// HistoryPoint is one stored position of a unit in a HistoryPage: the
// fields of a TrackPoint, with the unit it is of first.
type HistoryPoint struct {
	Unit       string          `json:"unit"`
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
