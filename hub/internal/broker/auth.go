package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"kuaifan/hub/internal/clip"
	"kuaifan/protocol"
)

// Credentials checks a device's secret; the hub's store implements it. It may
// be called concurrently, once per connection attempt.
type Credentials interface {
	Verify(unit, secret string) bool
}

// ConnectionRecorder, if Credentials implements it too, hears of every
// connection under a valid unit id that the broker admitted or refused
// (the hub's fleet shows the last of each). It must not block: it runs on
// the connection's goroutine.
type ConnectionRecorder interface {
	Connected(unit, addr string, at time.Time)
	Refused(unit, addr, reason string, at time.Time)
}

// policy says what a unit may do. It is deny-by-default: every method answers
// true only for the exact topics the contract gives the unit.
type policy struct {
	topics protocol.Topics
	// ownTracks says whether a unit reports as an OwnTracks phone (nil: none
	// does); only such a unit may write its own owntracks/{unit}/… topics.
	ownTracks func(unit string) bool
}

// canWrite: a unit publishes only its own telemetry, state and events, or,
// enrolled as an OwnTracks phone, its own owntracks/{unit}/{device} topic and
// the app's subtopics of it (…/event, …/info, …/waypoint: nobody reads
// those, but a denied QoS 1 publish would cost the phone its connection).
func (p policy) canWrite(unit, topic string) bool {
	if !protocol.ValidUnitID(unit) {
		return false
	}
	if topic == p.topics.Unit(unit, protocol.KindTelemetry) ||
		topic == p.topics.Unit(unit, protocol.KindState) ||
		topic == p.topics.Unit(unit, protocol.KindEvents) {
		return true
	}
	user, _, _, ok := ParseOwnTracks(topic)
	return ok && user == unit && p.ownTracks != nil && p.ownTracks(unit)
}

// OwnTracksFilter is the filter of OwnTracks location topics,
// owntracks/{user}/{device}, whatever kuaifan's topic root.
const OwnTracksFilter = "owntracks/+/+"

// maxOwnTracksDevice bounds the device level: the app takes any name.
const maxOwnTracksDevice = 64

// ParseOwnTracks splits an OwnTracks topic, owntracks/{user}/{device} with an
// optional one-level subtopic ({sub}: event, info, waypoint…). user must be a
// valid unit id; device is 1 to 64 bytes of valid UTF-8 without wildcards.
func ParseOwnTracks(topic string) (user, device, sub string, ok bool) {
	rest, found := strings.CutPrefix(topic, "owntracks/")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", "", false
	}
	user, device = parts[0], parts[1]
	if len(parts) == 3 {
		if sub = parts[2]; !validLevel(sub) {
			return "", "", "", false
		}
	}
	if !protocol.ValidUnitID(user) || !validLevel(device) {
		return "", "", "", false
	}
	return user, device, sub, true
}

func validLevel(s string) bool {
	return s != "" && len(s) <= maxOwnTracksDevice && utf8.ValidString(s) && !strings.ContainsAny(s, "+#\x00")
}

// canRead: a unit subscribes only to exactly its own cmd and ack topics, never
// to a wildcard (the same check guards each delivery).
func (p policy) canRead(unit, filter string) bool {
	return protocol.ValidUnitID(unit) &&
		(filter == p.topics.Unit(unit, protocol.KindCmd) || filter == p.topics.Unit(unit, protocol.KindAck))
}

// canWill: mochi publishes a Last Will without an ACL check, so the will topic
// is checked at connect: it must be the unit's own state topic.
// An OwnTracks phone sets its Last Will ({"_type":"lwt"}) on its own
// location topic.
func (p policy) canWill(unit, topic string) bool {
	if !protocol.ValidUnitID(unit) {
		return false
	}
	if topic == p.topics.Unit(unit, protocol.KindState) {
		return true
	}
	user, _, sub, ok := ParseOwnTracks(topic)
	return ok && sub == "" && user == unit && p.ownTracks != nil && p.ownTracks(unit)
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
	// refusals rate-limits the log lines of refused connections per address.
	refusals *refusalLog

	// admitted holds clients that passed OnConnect; OnConnectAuthenticate,
	// which mochi always calls next, takes them out again.
	admitted sync.Map // *mqtt.Client → struct{}

	// revoked counts the hub's revocations per unit (Embedded.Disconnect),
	// and cut ends a device's connection and session as Disconnect does:
	// a CONNECT whose secret passed before a revocation, and whose session
	// came after the Disconnect that found none, is cut once established.
	revoked *revocations
	cut     func(cl *mqtt.Client)
}

// revocations counts, per unit, the times the hub revoked it. A connection
// notes its unit's count before its secret is checked (trackedConn); a
// count that moved by the time its session is established means a
// revocation raced the handshake.
type revocations struct {
	mu sync.Mutex
	n  map[string]uint64 // a unit revoked at least once; bounded by the units enrolled
}

func (r *revocations) bump(unit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = make(map[string]uint64)
	}
	r.n[unit]++
}

func (r *revocations) count(unit string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[unit]
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
			h.refusedInternal(cl)
			err = errRefused
		}
	}()
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		// Before the secret's check: see OnSessionEstablished.
		tc.revocations.Store(h.revoked.count(string(pk.Connect.Username)))
	}
	reason, code := h.checkConnect(pk)
	if reason == "" {
		h.admitted.Store(cl, struct{}{})
		return nil
	}
	h.refuse(cl, pk, reason, code)
	return errRefused
}

// refuse counts a refused CONNECT, logs it (clipped, and rate-limited per
// address), and answers it with code's CONNACK.
func (h *authHook) refuse(cl *mqtt.Client, pk packets.Packet, reason string, code packets.Code) {
	markRefused(cl)
	if rec, ok := h.creds.(ConnectionRecorder); ok && protocol.ValidUnitID(string(pk.Connect.Username)) {
		rec.Refused(string(pk.Connect.Username), cl.Net.Remote, reason, time.Now())
	}
	// The unit id is logged as sent (it is not a secret); the password never is.
	h.refusedConn(cl.Net.Remote, reason, "protocol", pk.ProtocolVersion,
		"client", clip.To(pk.Connect.ClientIdentifier, maxLoggedID), "username", clip.To(string(pk.Connect.Username), maxLoggedID))
	if code == packets.ErrMalformedPacket && pk.ProtocolVersion < 5 {
		return // MQTT 3.1.1 has no return code for it: closed without a CONNACK [MQTT-3.1.4-1]
	}
	if pk.ProtocolVersion == 5 {
		// Refused in OnPacketRead, before mochi took the version from the
		// CONNECT: the CONNACK is encoded for the client's version.
		cl.Properties.ProtocolVersion = 5
	}
	if err := h.srv.SendConnack(cl, code, false, nil); err != nil {
		h.log.Debug("broker: sending refusal CONNACK", "error", err, "remote", cl.Net.Remote)
	}
}

// refusedInternal refuses a connection whose check panicked (already logged):
// "server unavailable", so that the device retries later.
func (h *authHook) refusedInternal(cl *mqtt.Client) {
	markRefused(cl)
	h.metrics.authRefused.WithLabelValues(reasonInternal).Inc()
	_ = h.srv.SendConnack(cl, packets.ErrServerUnavailable, false, nil)
}

// refusedConn counts a refused connection and logs it unless its address has
// had its share of refusal lines (args: more attributes, none longer than
// clip allows).
func (h *authHook) refusedConn(remote, reason string, args ...any) {
	h.metrics.authRefused.WithLabelValues(reason).Inc()
	if h.refusals.allow(remote) {
		h.log.Warn("broker: connection refused", append([]any{"reason", reason, "remote", remote}, args...)...)
	}
}

// markRefused tells connectionEnded that the connection's refusal was counted
// and logged already.
func markRefused(cl *mqtt.Client) {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		tc.refused.Store(true)
	}
}

// checkWire refuses a CONNECT that is not MQTT 3.1 or 3.1.1 as written. mochi
// checks the same after OnPacketRead and before OnConnect, but answers a 3.1.1
// client with MQTT 5 codes it cannot read (0x82 for an empty password), and
// no hook sees it: OnPacketRead calls this first.
func checkWire(pk packets.Packet) (string, packets.Code) {
	name := string(pk.Connect.ProtocolName)
	if (pk.ProtocolVersion != 3 || name != "MQIsdp") && (pk.ProtocolVersion != 4 || name != "MQTT") {
		// MQTT 5 is refused outright: a truncated v5 SUBSCRIBE panics mochi's
		// decoder (mochi issue 501) and our clients speak 3.1.1.
		return reasonProtocol, packets.ErrUnsupportedProtocolVersion
	}
	// mochi takes an empty password for a missing one that the flags promised;
	// in MQTT 3.1.1 it is a password, which checkConnect refuses as such.
	v := pk
	if len(v.Connect.Password) == 0 {
		v.Connect.PasswordFlag = false
	}
	if v.ConnectValidate() != packets.CodeSuccess {
		return reasonMalformed, packets.ErrMalformedPacket
	}
	if !pk.Connect.Clean && pk.Connect.ClientIdentifier == "" {
		return reasonClientID, packets.ErrClientIdentifierNotValid // [MQTT-3.1.3-8]
	}
	return "", packets.CodeSuccess
}

// checkConnect returns "" if the CONNECT may proceed, else the refusal reason
// and the CONNACK code (mochi maps it to a valid MQTT 3.1.1 return code:
// 0x01 protocol, 0x02 identifier rejected, 0x04 bad username or password,
// 0x05 not authorised).
func (h *authHook) checkConnect(pk packets.Packet) (string, packets.Code) {
	if reason, code := checkWire(pk); reason != "" {
		return reason, code
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
	markRefused(cl)
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
		h.deny(cl, action, topic)
	}
	return ok
}

func (h *authHook) deny(cl *mqtt.Client, action, topic string) {
	h.metrics.aclDenied.WithLabelValues(action).Inc()
	h.log.Warn("broker: denied", "action", action, "unit", cl.ID, "topic", clip.To(topic, maxLoggedTopic))
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
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		// mochi registered the client before this call: a Disconnect from
		// now on finds it, and one before counted here.
		if h.revoked.count(cl.ID) != tc.revocations.Load() {
			h.log.Warn("broker: unit revoked while it connected; disconnected", "unit", cl.ID, "remote", cl.Net.Remote)
			h.cut(cl)
			return
		}
		unit := cl.ID
		tc.unit.Store(&unit)
	}
	if rec, ok := h.creds.(ConnectionRecorder); ok && !cl.Net.Inline {
		rec.Connected(cl.ID, cl.Net.Remote, time.Now())
	}
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

// OnPacketRead checks a connection's first CONNECT before mochi does (see
// checkWire), scrubs the password of a second one (mochi refuses that packet
// but logs it whole at Warn), and denies a device's publish to a topic mochi
// would drop before the ACL check.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (out packets.Packet, err error) {
	// mochi names the client from its first CONNECT only once it has read it.
	first := pk.FixedHeader.Type == packets.Connect && cl.ID == ""
	defer func() {
		if r := recover(); r != nil {
			h.panicked("OnPacketRead", cl, r)
			if first {
				h.refusedInternal(cl)
			}
			// mochi logs a rejected packet at Debug: never with a password in it.
			pk.Connect.Password = nil
			out, err = pk, packets.ErrRejectPacket
		}
	}()
	switch {
	case first:
		if reason, code := checkWire(pk); reason != "" {
			h.refuse(cl, pk, reason, code)
			return pk, packets.ErrRejectPacket // ends the connection
		}
		// An empty password is no password (checkConnect refuses both alike),
		// not the protocol violation mochi would answer with an MQTT 5 code.
		if len(pk.Connect.Password) == 0 {
			pk.Connect.PasswordFlag = false
		}
	case pk.FixedHeader.Type == packets.Connect:
		pk.Connect.Password = nil
	case pk.FixedHeader.Type == packets.Publish && !cl.Net.Inline && !mqtt.IsValidFilter(pk.TopicName, true):
		// mochi drops a publish to $SYS/… (or with a wildcard) before the ACL
		// check: uncounted, and a QoS 1 one without a PUBACK, which a 3.1.1
		// client waits for in vain. It gets what OnACLCheck's denial gets.
		h.deny(cl, actionPublish, pk.TopicName)
		if pk.FixedHeader.Qos > 0 {
			// As mochi does for a denied QoS 1/2 publish on 3.1.1, which has no
			// code for it: the connection ends. (MQTT 5 is refused at connect.)
			return pk, packets.ErrRejectPacket
		}
		// QoS 0: mochi drops it.
	}
	return pk, nil
}

// connectionEnded learns how mochi's handling of a connection ended. What the
// hook refused was counted and logged then; any other connection that ended
// before a session (a CONNECT that could not be read, or none at all in time)
// is counted and logged here in the same way. mochi's own listener logged each
// such end at Warn, whole.
func (h *authHook) connectionEnded(conn net.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.panicked("connectionEnded", nil, r)
		}
	}()
	if err == nil {
		return
	}
	tc, _ := conn.(*trackedConn)
	remote := conn.RemoteAddr().String()
	if tc != nil {
		if tc.refused.Load() {
			return
		}
		if unit := tc.unit.Load(); unit != nil {
			h.log.Warn("broker: connection ended", "unit", *unit, "remote", remote, "error", clip.To(err.Error(), maxLoggedTopic))
			return
		}
	}
	var ne net.Error
	var reason string
	switch {
	case errors.Is(err, net.ErrClosed):
		return // closed by the hub: it is shutting down
	case errors.As(err, &ne) && ne.Timeout():
		reason = reasonTimeout
	case tc != nil && !tc.gotData.Load():
		// Opened and closed, nothing sent: a port probe (a health check), no refusal.
		h.log.Debug("broker: connection closed before sending anything", "remote", remote, "error", err)
		return
	default:
		reason = reasonMalformed
	}
	h.refusedConn(remote, reason, "error", clip.To(err.Error(), maxLoggedTopic))
}
