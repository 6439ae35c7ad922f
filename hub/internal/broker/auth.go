package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"kuaifan/protocol"
)

// Credentials checks a device's secret; the hub's store implements it. It may
// be called concurrently, once per connection attempt.
type Credentials interface {
	Verify(unit, secret string) bool
}

// policy says what a unit may do. It is deny-by-default: every method answers
// true only for the exact topics the contract gives the unit.
type policy struct {
	topics protocol.Topics
}

// canWrite: a unit publishes only its own telemetry, state and events.
func (p policy) canWrite(unit, topic string) bool {
	return protocol.ValidUnitID(unit) && (topic == p.topics.Unit(unit, protocol.KindTelemetry) ||
		topic == p.topics.Unit(unit, protocol.KindState) ||
		topic == p.topics.Unit(unit, protocol.KindEvents))
}

// canRead: a unit subscribes only to exactly its own cmd and ack topics, never
// to a wildcard (the same check guards each delivery).
func (p policy) canRead(unit, filter string) bool {
	return protocol.ValidUnitID(unit) &&
		(filter == p.topics.Unit(unit, protocol.KindCmd) || filter == p.topics.Unit(unit, protocol.KindAck))
}

// canWill: mochi publishes a Last Will without an ACL check, so the will topic
// is checked at connect: it must be the unit's own state topic.
func (p policy) canWill(unit, topic string) bool {
	return protocol.ValidUnitID(unit) && topic == p.topics.Unit(unit, protocol.KindState)
}

// authHook is the embedded broker's authentication and authorisation. It is
// written from scratch rather than on mochi's auth.Ledger, which allows by
// default, accepts any password for a rule without one, and lets a broader
// allow override a deny.
type authHook struct {
	mqtt.HookBase
	srv     *mqtt.Server // to send a CONNACK with a precise code before refusing
	creds   Credentials
	policy  policy
	log     *slog.Logger
	metrics *metrics

	// admitted holds clients that passed OnConnect; OnConnectAuthenticate,
	// which mochi always calls next, takes them out again.
	admitted sync.Map // *mqtt.Client → struct{}
}

var _ mqtt.Hook = (*authHook)(nil)

func (h *authHook) ID() string { return "kuaifan-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnWill,
		mqtt.OnPublishDropped, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPacketRead:
		return true
	}
	return false
}

// panicked logs a panic recovered in a hook; the caller then denies.
// (recover itself must be called directly by each deferred function.)
func (h *authHook) panicked(hook string, cl *mqtt.Client, r any) {
	h.log.Error("broker: hook panicked; denying", "hook", hook, "client", clientID(cl),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

func clientID(cl *mqtt.Client) string {
	if cl == nil {
		return ""
	}
	return cl.ID
}

// errRefused ends a connection whose CONNACK refusal was already sent.
var errRefused = errors.New("broker: connection refused")

// OnConnect checks everything about a new connection. A refusal sends its
// CONNACK here (mochi would otherwise close without one, or answer "bad
// username or password" for everything) and ends the connection.
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) (err error) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnConnect", cl, r)
			h.metrics.authRefused.WithLabelValues(reasonInternal).Inc()
			// "Server unavailable": the device retries later.
			_ = h.srv.SendConnack(cl, packets.ErrServerUnavailable, false, nil)
			err = errRefused
		}
	}()
	reason, code := h.checkConnect(pk)
	if reason == "" {
		h.admitted.Store(cl, struct{}{})
		return nil
	}
	h.metrics.authRefused.WithLabelValues(reason).Inc()
	// The unit id is logged as sent (it is not a secret); the password never is.
	h.log.Warn("broker: connection refused", "reason", reason,
		"client", pk.Connect.ClientIdentifier, "username", string(pk.Connect.Username),
		"protocol", pk.ProtocolVersion, "remote", cl.Net.Remote)
	if err := h.srv.SendConnack(cl, code, false, nil); err != nil {
		h.log.Debug("broker: sending refusal CONNACK", "error", err, "remote", cl.Net.Remote)
	}
	return errRefused
}

// checkConnect returns "" if the CONNECT may proceed, else the refusal reason
// and the CONNACK code (mochi maps it to a valid MQTT 3.1.1 return code:
// 0x01 protocol, 0x02 identifier rejected, 0x04 bad username or password,
// 0x05 not authorised).
func (h *authHook) checkConnect(pk packets.Packet) (string, packets.Code) {
	// MQTT 5 is refused outright: a truncated v5 SUBSCRIBE panics mochi's
	// decoder (mochi issue 501) and our clients speak 3.1.1.
	if pk.ProtocolVersion != 3 && pk.ProtocolVersion != 4 {
		return reasonProtocol, packets.ErrUnsupportedProtocolVersion
	}
	unit := string(pk.Connect.Username)
	if !protocol.ValidUnitID(unit) {
		return reasonUsername, packets.ErrMalformedUsername
	}
	// A device named like mochi's inline client would replace the hub's own
	// client in mochi's client table.
	if pk.Connect.ClientIdentifier == mqtt.InlineClientId {
		return reasonReservedID, packets.ErrClientIdentifierNotValid
	}
	if pk.Connect.ClientIdentifier != unit {
		return reasonClientID, packets.ErrClientIdentifierNotValid
	}
	if !pk.Connect.PasswordFlag || len(pk.Connect.Password) == 0 {
		return reasonNoPassword, packets.ErrMalformedUsername
	}
	// Cheap checks first: Verify may be deliberately slow.
	if pk.Connect.WillFlag && !h.policy.canWill(unit, pk.Connect.WillTopic) {
		return reasonWill, packets.ErrBadUsernameOrPassword
	}
	if !h.creds.Verify(unit, string(pk.Connect.Password)) {
		return reasonCredentials, packets.ErrMalformedUsername
	}
	return "", packets.CodeSuccess
}

// OnConnectAuthenticate admits exactly the clients OnConnect admitted.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnConnectAuthenticate", cl, r)
			ok = false
		}
	}()
	if _, ok := h.admitted.LoadAndDelete(cl); ok {
		return true
	}
	h.metrics.authRefused.WithLabelValues(reasonInternal).Inc()
	h.log.Error("broker: client reached authentication without passing OnConnect", "client", cl.ID)
	return false
}

// unitOf returns the unit a (non-inline) client is, or "" if its identity is
// inconsistent — which OnConnect makes impossible, so it only denies.
func unitOf(cl *mqtt.Client) string {
	if cl.ID == "" || !bytes.Equal(cl.Properties.Username, []byte(cl.ID)) {
		return ""
	}
	return cl.ID
}

// OnACLCheck decides publishes (write) and subscriptions and deliveries (read).
// The inline client is the hub itself and may do anything.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnACLCheck", cl, r)
			ok = false
		}
	}()
	if cl.Net.Inline {
		return true
	}
	unit := unitOf(cl)
	action := actionSubscribe
	if write {
		action = actionPublish
		ok = unit != "" && h.policy.canWrite(unit, topic)
	} else {
		ok = unit != "" && h.policy.canRead(unit, topic)
	}
	if !ok {
		h.metrics.aclDenied.WithLabelValues(action).Inc()
		h.log.Warn("broker: denied", "action", action, "unit", cl.ID, "topic", topic)
	}
	return ok
}

// OnPublish strips the retain flag from a device's publish: the embedded
// broker retains nothing. Its one reader is the hub, whose subscriptions are
// in place before any device can connect, and it starts empty with the hub;
// so a retained message would never be read, while mochi copies every retained
// message once a second to look for expired ones. The packet is kept (not
// rejected): a rejected QoS 1 publish would never get its PUBACK from mochi,
// and a 3.1.1 client would wait forever.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (out packets.Packet, err error) {
	if !cl.Net.Inline {
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}

// OnWill strips the retain flag from a Last Will, as OnPublish does from a
// publish. (OnConnect already made sure the will is on the unit's own state.)
func (h *authHook) OnWill(_ *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	will.Retain = false
	return will, nil
}

// OnPublishDropped: mochi dropped a QoS 1 message because the subscriber's
// write queue was full, and it will never resend it. An alarm: the unit only
// gets it again if the hub sends it again.
func (h *authHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnPublishDropped", cl, r)
		}
	}()
	h.metrics.dropped.queueFull.Add(1)
	h.log.Error("broker: message to a slow subscriber dropped (write queue full)",
		"client", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "bytes", len(pk.Payload))
}

func (h *authHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnSessionEstablished", cl, r)
		}
	}()
	h.log.Debug("broker: unit connected", "unit", cl.ID, "remote", cl.Net.Remote, "clean", cl.Properties.Clean)
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnDisconnect", cl, r)
		}
	}()
	h.log.Debug("broker: unit disconnected", "unit", cl.ID, "remote", cl.Net.Remote, "reason", err, "session_ended", expire)
}

// OnPacketRead scrubs the password of a second CONNECT on an established
// connection: mochi refuses that packet but logs it whole at Warn.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (out packets.Packet, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnPacketRead", cl, r)
			// mochi logs a rejected packet at Debug: never with a password in it.
			pk.Connect.Password = nil
			out, err = pk, packets.ErrRejectPacket
		}
	}()
	if pk.FixedHeader.Type == packets.Connect && cl.ID != "" {
		pk.Connect.Password = nil
	}
	return pk, nil
}
