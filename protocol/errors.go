package protocol

import "fmt"

// Reason classifies why a message was rejected. The set is small and fixed so
// it can label metrics.
type Reason string

const (
	ReasonSyntax   Reason = "bad_json"      // not a JSON object of the expected shape
	ReasonVersion  Reason = "bad_version"   // "v" missing or not Version
	ReasonMissing  Reason = "missing_field" // a required field is absent
	ReasonInvalid  Reason = "invalid_field" // a field has a value outside its domain
	ReasonTopic    Reason = "bad_topic"     // the topic is not one of the contract's
	ReasonMismatch Reason = "unit_mismatch" // payload unit differs from the topic's
	ReasonFuture   Reason = "future_timestamp"
)

// Error is a rejected message: which field, why, and a sentence for people.
type Error struct {
	Message string // message kind: "telemetry", "state", "event", "command", "ack", "topic"
	Field   string // JSON field name; empty when the whole message is at fault
	Reason  Reason
	Detail  string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Message, e.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", e.Message, e.Field, e.Detail)
}

func missing(msg, field string) *Error {
	return &Error{Message: msg, Field: field, Reason: ReasonMissing, Detail: "required"}
}

func invalid(msg, field, format string, args ...any) *Error {
	return &Error{Message: msg, Field: field, Reason: ReasonInvalid, Detail: fmt.Sprintf(format, args...)}
}
