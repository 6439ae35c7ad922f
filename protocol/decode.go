package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxPayload bounds every payload the decoders accept.
const MaxPayload = 16 << 10

// DecodeTelemetry parses and validates a telemetry payload.
func DecodeTelemetry(data []byte) (Telemetry, error) {
	const m = "telemetry"
	var w struct {
		V          *int     `json:"v"`
		Unit       *string  `json:"unit"`
		Seq        *uint64  `json:"seq"`
		TS         *int64   `json:"ts"`
		Lat        *float64 `json:"lat"`
		Lon        *float64 `json:"lon"`
		Status     *Status  `json:"status"`
		AccM       *float64 `json:"acc_m"`
		SpeedMPS   *float64 `json:"speed_mps"`
		HeadingDeg *float64 `json:"heading_deg"`
		Battery    *float64 `json:"battery"`
	}
	if err := unmarshal(m, data, &w, &w.V); err != nil {
		return Telemetry{}, err
	}
	switch {
	case w.Unit == nil:
		return Telemetry{}, missing(m, "unit")
	case w.Seq == nil:
		return Telemetry{}, missing(m, "seq")
	case w.TS == nil:
		return Telemetry{}, missing(m, "ts")
	case w.Lat == nil:
		return Telemetry{}, missing(m, "lat")
	case w.Lon == nil:
		return Telemetry{}, missing(m, "lon")
	case w.Status == nil:
		return Telemetry{}, missing(m, "status")
	}
	t := Telemetry{Unit: *w.Unit, Seq: *w.Seq, TS: *w.TS, Lat: *w.Lat, Lon: *w.Lon, Status: *w.Status,
		AccM: w.AccM, SpeedMPS: w.SpeedMPS, HeadingDeg: w.HeadingDeg, Battery: w.Battery}
	if err := t.Validate(); err != nil {
		return Telemetry{}, err
	}
	return t, nil
}

// DecodeState parses and validates a state payload.
func DecodeState(data []byte) (State, error) {
	const m = "state"
	var w struct {
		V      *int    `json:"v"`
		Unit   *string `json:"unit"`
		Online *bool   `json:"online"`
		Boot   *string `json:"boot"`
		Agent  string  `json:"agent"`
	}
	if err := unmarshal(m, data, &w, &w.V); err != nil {
		return State{}, err
	}
	switch {
	case w.Unit == nil:
		return State{}, missing(m, "unit")
	case w.Online == nil:
		return State{}, missing(m, "online")
	case w.Boot == nil:
		return State{}, missing(m, "boot")
	}
	s := State{Unit: *w.Unit, Online: *w.Online, Boot: *w.Boot, Agent: w.Agent}
	if err := s.Validate(); err != nil {
		return State{}, err
	}
	return s, nil
}

// DecodeEvent parses and validates an event payload.
func DecodeEvent(data []byte) (Event, error) {
	const m = "event"
	var w struct {
		V        *int       `json:"v"`
		Unit     *string    `json:"unit"`
		Seq      *uint64    `json:"seq"`
		TS       *int64     `json:"ts"`
		Type     *EventType `json:"type"`
		Incident string     `json:"incident"`
		Status   Status     `json:"status"`
		Lat      *float64   `json:"lat"`
		Lon      *float64   `json:"lon"`
		Reason   string     `json:"reason"`
	}
	if err := unmarshal(m, data, &w, &w.V); err != nil {
		return Event{}, err
	}
	switch {
	case w.Unit == nil:
		return Event{}, missing(m, "unit")
	case w.Seq == nil:
		return Event{}, missing(m, "seq")
	case w.TS == nil:
		return Event{}, missing(m, "ts")
	case w.Type == nil:
		return Event{}, missing(m, "type")
	}
	e := Event{Unit: *w.Unit, Seq: *w.Seq, TS: *w.TS, Type: *w.Type, Incident: w.Incident, Status: w.Status, Lat: w.Lat, Lon: w.Lon, Reason: w.Reason}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeCommand parses and validates a command payload.
func DecodeCommand(data []byte) (Command, error) {
	const m = "command"
	var w struct {
		V        *int               `json:"v"`
		ID       *string            `json:"id"`
		TS       *int64             `json:"ts"`
		Type     *CommandType       `json:"type"`
		Incident string             `json:"incident"`
		Lat      *float64           `json:"lat"`
		Lon      *float64           `json:"lon"`
		Priority int                `json:"priority"`
		Kind     string             `json:"kind"`
		Summary  string             `json:"summary"`
		Config   map[string]float64 `json:"config"`
		Secret   string             `json:"secret"`
		Tasks    []PatrolTask       `json:"tasks"`
	}
	if err := unmarshal(m, data, &w, &w.V); err != nil {
		return Command{}, err
	}
	switch {
	case w.ID == nil:
		return Command{}, missing(m, "id")
	case w.TS == nil:
		return Command{}, missing(m, "ts")
	case w.Type == nil:
		return Command{}, missing(m, "type")
	}
	c := Command{ID: *w.ID, TS: *w.TS, Type: *w.Type, Incident: w.Incident, Lat: w.Lat, Lon: w.Lon,
		Priority: w.Priority, Kind: w.Kind, Summary: w.Summary, Config: w.Config, Secret: w.Secret, Tasks: w.Tasks}
	if err := c.Validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// DecodeAck parses and validates an ack payload.
func DecodeAck(data []byte) (Ack, error) {
	const m = "ack"
	var w struct {
		V    *int    `json:"v"`
		Seqs []Range `json:"seqs"`
	}
	if err := unmarshal(m, data, &w, &w.V); err != nil {
		return Ack{}, err
	}
	a := Ack{Seqs: w.Seqs}
	if err := a.Validate(); err != nil {
		return Ack{}, err
	}
	return a, nil
}

// unmarshal decodes data into w and checks the version, turning encoding/json's
// errors into *Error with the offending field.
func unmarshal(m string, data []byte, w any, v **int) error {
	if len(data) > MaxPayload {
		return &Error{Message: m, Reason: ReasonSyntax, Detail: fmt.Sprintf("payload of %d bytes exceeds %d", len(data), MaxPayload)}
	}
	if err := json.Unmarshal(data, w); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return pe
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &Error{Message: m, Field: te.Field, Reason: ReasonInvalid, Detail: fmt.Sprintf("%s cannot hold a JSON %s", te.Type, te.Value)}
		}
		return &Error{Message: m, Reason: ReasonSyntax, Detail: "not a JSON object: " + err.Error()}
	}
	if *v == nil {
		return &Error{Message: m, Field: "v", Reason: ReasonVersion, Detail: "required"}
	}
	if **v != Version {
		return &Error{Message: m, Field: "v", Reason: ReasonVersion, Detail: fmt.Sprintf("version %d is not supported (want %d)", **v, Version)}
	}
	return nil
}
