package protocol

import (
	"fmt"
	"strings"
)

// DefaultRoot is the first level of every kuaifan topic unless configured otherwise.
const DefaultRoot = "rr"

// Kind is the last level of a unit topic: what the message on it is.
type Kind string

const (
	KindTelemetry Kind = "telemetry" // agent → hub, QoS 1
	KindState     Kind = "state"     // agent → hub, QoS 1, retained; Last Will
	KindEvents    Kind = "events"    // agent → hub, QoS 1
	KindCmd       Kind = "cmd"       // hub → agent, QoS 1
	KindAck       Kind = "ack"       // hub → agent, QoS 1
)

// FromAgent reports whether messages of this kind are published by agents.
func (k Kind) FromAgent() bool {
	return k == KindTelemetry || k == KindState || k == KindEvents
}

func (k Kind) valid() bool {
	switch k {
	case KindTelemetry, KindState, KindEvents, KindCmd, KindAck:
		return true
	}
	return false
}

// Topics builds and parses the topics under one root: {root}/units/{unit}/{kind}.
// The zero value uses DefaultRoot.
type Topics struct {
	Root string
}

func (t Topics) root() string {
	if t.Root == "" {
		return DefaultRoot
	}
	return t.Root
}

// Unit returns the topic of the given kind for one unit.
func (t Topics) Unit(unit string, kind Kind) string {
	return t.root() + "/units/" + unit + "/" + string(kind)
}

// All returns the filter that matches one kind for every unit: {root}/units/+/{kind}.
func (t Topics) All(kind Kind) string {
	return t.root() + "/units/+/" + string(kind)
}

// Parse splits a unit topic into its unit id and kind.
func (t Topics) Parse(topic string) (unit string, kind Kind, err error) {
	rest, ok := strings.CutPrefix(topic, t.root()+"/units/")
	if !ok {
		return "", "", &Error{Message: "topic", Reason: ReasonTopic, Detail: fmt.Sprintf("%q is not under %s/units/", topic, t.root())}
	}
	unit, k, ok := strings.Cut(rest, "/")
	if !ok || !ValidUnitID(unit) || !Kind(k).valid() {
		return "", "", &Error{Message: "topic", Reason: ReasonTopic, Detail: fmt.Sprintf("%q is not %s/units/{unit}/{kind}", topic, t.root())}
	}
	return unit, Kind(k), nil
}

// ValidRoot reports whether root can serve as the topic root: one or more
// levels, no wildcards, no empty level.
func ValidRoot(root string) bool {
	if root == "" || strings.ContainsAny(root, "+#\x00") {
		return false
	}
	for _, level := range strings.Split(root, "/") {
		if level == "" {
			return false
		}
	}
	return true
}
