// Package broker is the hub's side of MQTT, whichever broker carries it: the
// embedded mochi-mqtt broker (the default, with the hub on mochi's inline
// client) or an external broker such as Mosquitto reached with paho. The rest
// of the hub sees only Bus.
//
// The embedded broker admits a device only with its enrolled secret, only as
// itself (username = client id = unit id), only over MQTT 3.1/3.1.1, and only
// to its own topics: it writes {root}/units/{id}/telemetry|state|events and
// reads exactly {root}/units/{id}/cmd and .../ack. Everything else is refused,
// counted and logged (refused connections rate-limited per address: they need
// no credentials). It retains nothing: the hub, its one reader, subscribes
// before any device can connect. A unit enrolled as an OwnTracks phone may
// also write its own owntracks/{id}/{device} (Config.OwnTracks), which the
// hub reads with SubscribeConfirmed: the PUBACK waits for the hub's commit.
//
// Neither broker's PUBACK is a durability point (mochi even runs inline
// handlers after the PUBACK went out, and drops QoS 1 messages to a slow
// subscriber), so delivery is confirmed end to end by the hub's ack topic.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
)

// Handler receives one message. It runs on the broker's delivery goroutine: it
// may keep payload (but must not modify it), and it may block briefly
// (backpressure), but must never wait on the Bus itself.
//
// With the embedded broker, handlers run on the goroutine of the device that
// published, so they run concurrently for different devices (one device's
// messages arrive in order). With a remote broker they run one at a time, in
// the order the broker delivered them.
type Handler func(topic string, payload []byte)

// Bus is what the hub needs from MQTT.
type Bus interface {
	// Subscribe delivers every message matching filter to handle, at QoS 1.
	Subscribe(filter string, handle Handler) error
	// Publish sends payload at QoS 1. It never waits for delivery, so a
	// handler may call it.
	Publish(topic string, payload []byte, retain bool) error
	// Close stops the bus; no handler runs after it returns.
	Close() error
}

// ErrClosed is returned by a Bus that has been closed.
var ErrClosed = errors.New("broker: closed")

// discardLogger is used when a config leaves its Logger nil: the package never
// writes to the process-wide default logger behind the caller's back.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// minLevel drops records below a level before they reach the handler.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.level {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// call runs a handler, turning a panic into an Error log: one unit's poison
// message must not take the broker (and with it every other unit) down.
func call(log *slog.Logger, h Handler, topic string, payload []byte) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("broker: message handler panicked", "topic", topic,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h(topic, payload)
}

// validPublishTopic reports whether topic can be published to: not empty, no
// wildcards, no NUL, not under $ (reserved for the broker).
func validPublishTopic(topic string) bool {
	return topic != "" && !strings.ContainsAny(topic, "+#\x00") && !strings.HasPrefix(topic, "$")
}

// matchTopic reports whether an MQTT topic filter matches a topic name:
// '+' matches one level, a trailing '#' the parent and every level below, and
// wildcards at the first level never match topics starting with '$'.
func matchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return !fmore
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a": the remaining filter must be exactly "#".
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
