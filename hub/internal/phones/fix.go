// Package phones lets units report from phone apps that already exist
// instead of kuaifan's agent: OwnTracks (its HTTP mode, and MQTT on the
// embedded broker) and Traccar Client (the OsmAnd protocol, as a query or as
// JSON). A unit's enrolment says which one it uses (api.ReportProtocol).
//
// Each report is decoded into a Fix, becomes a protocol.Telemetry of its unit
// and goes through ingest.Submit: the same checks, store and fsync as an
// agent's telemetry. The phone hears "OK" (HTTP 200, or the MQTT PUBACK) only
// once the report is on disk, which is the only confirmation these apps know.
//
// Sequence numbers: kuaifan drops a resend by (unit, seq). A phone has no
// sequence, so a fix's seq is its own time in microseconds (TS × 1000): a
// phone that resends a fix (its request timed out after the hub stored it)
// sends the same time, which is then a duplicate, confirmed again and not
// stored twice; two fixes of one unit with the same time (to the app's
// precision: a second for OwnTracks) are one fix. Times in microseconds stay
// clear of the sequences an agent used (counting from 0) should the unit
// once have been an agent.
package phones

import (
	"math"
	"strconv"
	"time"

	"kuaifan/protocol"
)

// Fix is one position a phone reported, in kuaifan's units.
type Fix struct {
	TS         int64 // GPS time, Unix ms
	Lat, Lon   float64
	AccM       *float64 // metres
	SpeedMPS   *float64 // m/s
	HeadingDeg *float64 // [0, 360)
	Battery    *float64 // [0, 1]
}

// Seq is the fix's sequence number: its time in microseconds (see the
// package documentation).
func (f Fix) Seq() uint64 { return uint64(f.TS) * 1000 }

// Telemetry is the fix as a report of unit in status.
func (f Fix) Telemetry(unit string, status protocol.Status) protocol.Telemetry {
	return protocol.Telemetry{Unit: unit, Seq: f.Seq(), TS: f.TS, Lat: f.Lat, Lon: f.Lon, Status: status,
		AccM: f.AccM, SpeedMPS: f.SpeedMPS, HeadingDeg: f.HeadingDeg, Battery: f.Battery}
}

// maxTS is the last millisecond of year 9999: beyond it a time is garbage,
// and its seq (× 1000) would be near overflowing. The hub refuses anything
// more than a few seconds ahead of its clock anyway (future_timestamp).
const maxTS = 253402300799999

// Conversions to kuaifan's units.
const (
	mpsPerKmh  = 1 / 3.6
	mpsPerKnot = 1852.0 / 3600
)

func invalid(msg, field, detail string) *protocol.Error {
	return &protocol.Error{Message: msg, Field: field, Reason: protocol.ReasonInvalid, Detail: detail}
}

func missing(msg, field string) *protocol.Error {
	return &protocol.Error{Message: msg, Field: field, Reason: protocol.ReasonMissing, Detail: "required"}
}

func syntax(msg, detail string) *protocol.Error {
	return &protocol.Error{Message: msg, Reason: protocol.ReasonSyntax, Detail: detail}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// checkPlace holds a fix's time and place to the protocol's ranges.
func checkPlace(msg, tsField, latField, lonField string, f *Fix) error {
	if f.TS <= 0 || f.TS > maxTS {
		return invalid(msg, tsField, "not a time between 1970 and 9999")
	}
	if !(f.Lat >= -90 && f.Lat <= 90) {
		return invalid(msg, latField, num(f.Lat)+" is outside [-90, 90]")
	}
	if !(f.Lon >= -180 && f.Lon <= 180) {
		return invalid(msg, lonField, num(f.Lon)+" is outside [-180, 180]")
	}
	return nil
}

// accuracy: a negative one is iOS's mark of an invalid fix, not "unknown".
func accuracy(msg, field string, v float64) (*float64, error) {
	if !(v >= 0) || math.IsInf(v, 0) {
		return nil, invalid(msg, field, num(v)+" is not an accuracy in metres (≥ 0)")
	}
	return &v, nil
}

// speed converts to m/s; a negative speed is the platforms' "unknown" (iOS
// reports -1), so it is left out rather than refused.
func speed(msg, field string, v, toMPS float64) (*float64, error) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, invalid(msg, field, "not a finite speed")
	}
	if v < 0 {
		return nil, nil
	}
	mps := v * toMPS
	return &mps, nil
}

// heading is a course in degrees; negative is "unknown" (iOS: -1), 360 is
// north, beyond it is not a course.
func heading(msg, field string, v float64) (*float64, error) {
	switch {
	case math.IsNaN(v) || v > 360:
		return nil, invalid(msg, field, num(v)+" is not a course in degrees [0, 360]")
	case v < 0:
		return nil, nil
	case v == 360:
		v = 0
	}
	return &v, nil
}

// battery turns a level in [0, scale] into [0, 1]; negative is "unknown".
func battery(msg, field string, v, scale float64) (*float64, error) {
	switch {
	case math.IsNaN(v) || v > scale:
		return nil, invalid(msg, field, num(v)+" is not a battery level in [0, "+num(scale)+"]")
	case v < 0:
		return nil, nil
	}
	b := v / scale
	return &b, nil
}

// parseTime reads an ISO-8601 / RFC 3339 time, with or without fractional
// seconds; one without a zone is UTC (as Traccar reads it).
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
