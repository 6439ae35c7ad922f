// Package brokerconf writes what an external MQTT broker needs to stand in
// for the hub's embedded one (hub -broker): an account for every enrolled
// unit and for the hub, with the secret hashed in the broker's own format;
// the access rules that keep each unit to its own topics and give the hub
// every unit's; and the broker's settings. It renders them for Mosquitto 2,
// NATS Server (MQTT on JetStream, clustered, one account per city) and
// EMQX 5. The hub serves the files at GET /api/broker-config and
// `hub deploy-config` writes them out.
//
// The hub keeps only a SHA-256 of a unit's secret, which no broker checks,
// so the brokers' hashes are made when the secret exists — at enrolment and
// at a rotation (HashSecret) — and stored with it. A unit enrolled before
// then has none: Render leaves it out and names it in NeedRotation.
package brokerconf

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"kuaifan/hub/internal/clip"
	"kuaifan/protocol"
)

// Broker is a kind of external broker.
type Broker string

// The brokers Render writes for.
const (
	Mosquitto Broker = "mosquitto"
	NATS      Broker = "nats"
	EMQX      Broker = "emqx"
)

// Brokers are the brokers Render writes for, in the order help texts name them.
var Brokers = []Broker{Mosquitto, NATS, EMQX}

// ErrInvalid wraps every error about Render's input (and ParseBroker's),
// meant for the caller: nothing was rendered.
var ErrInvalid = errors.New("invalid")

// ErrHubHash is ErrInvalid for a hub account without the hash the broker
// checks (the hub does not know its broker password).
var ErrHubHash = fmt.Errorf("%w: no hash of the hub's broker password", ErrInvalid)

// ErrHubUserTaken is ErrInvalid for a unit enrolled under the hub's broker
// username: one name, two accounts, and the broker would take one of them.
var ErrHubUserTaken = fmt.Errorf("%w: a unit has the hub's broker username", ErrInvalid)

// ParseBroker reads a broker's name.
func ParseBroker(s string) (Broker, error) {
	if b := Broker(s); slices.Contains(Brokers, b) {
		return b, nil
	}
	return "", fmt.Errorf("%w: broker %s: want mosquitto, nats or emqx", ErrInvalid, clip.Quote(s))
}

// Account is one account on the broker: a unit's (User is its id) or the
// hub's own.
type Account struct {
	User string
	Hashes
}

// Config is what the files are rendered from.
type Config struct {
	Root string // the topic root, as the hub's -topic-root
	// Hub is the hub's own account (hub -broker-user; its password hashed
	// with HashHubPassword).
	Hub Account
	// Units are the enrolled units that report over MQTT. A unit without
	// the broker's hash is left out and named in Result.NeedRotation.
	Units []Account
	// Dir is where the files will be on the broker's machine, for the
	// paths inside them (Mosquitto's and EMQX's; NATS includes relative to
	// its configuration file). "" is the broker's usual place:
	// /etc/mosquitto/kuaifan, ${EMQX_ETC_DIR}/kuaifan.
	Dir string
}

// File is one rendered file: its name (no directory) and content.
type File struct {
	Name    string
	Content string
}

// Result is a broker's rendered files.
type Result struct {
	Broker Broker
	Files  []File
	// Units are the units that have an account in the files, by id.
	Units []string
	// NeedRotation are the units left out for want of the broker's hash of
	// their secret (enrolled before the hub kept one, or a damaged record),
	// by id: rotate their secrets (POST /api/units/{id}/secret) and render
	// again.
	NeedRotation []string
}

// DefaultHubUser is the hub's broker username when none is given: the
// recipes' (and the hub's default client id).
const DefaultHubUser = "kuaifan-hub"

// Default directories of the files on the broker's machine.
const (
	DefaultMosquittoDir = "/etc/mosquitto/kuaifan"
	DefaultEMQXDir      = "${EMQX_ETC_DIR}/kuaifan"
)

var (
	// rootLevel: the characters every broker's format takes unquoted in a
	// topic, a NATS subject token and a file name.
	rootLevel = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// hubUser: safe in Mosquitto's password file and ACL, NATS's
	// configuration and EMQX's CSV and ACL.
	hubUser = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// dirPath: an absolute path that needs no quoting anywhere.
	dirPath = regexp.MustCompile(`^/[A-Za-z0-9_./-]*$`)
)

// Render renders broker b's files for c. Its errors wrap ErrInvalid.
func Render(b Broker, c Config) (Result, error) {
	if _, err := ParseBroker(string(b)); err != nil {
		return Result{}, err
	}
	if err := c.check(b); err != nil {
		return Result{}, err
	}
	r := Result{Broker: b, Units: []string{}, NeedRotation: []string{}}
	units := slices.Clone(c.Units)
	slices.SortFunc(units, func(a, b Account) int { return strings.Compare(a.User, b.User) })
	var ok []Account
	for _, u := range units {
		if ValidHash(b, u.For(b)) {
			ok = append(ok, u)
			r.Units = append(r.Units, u.User)
		} else {
			r.NeedRotation = append(r.NeedRotation, u.User)
		}
	}
	switch b {
	case Mosquitto:
		r.Files = mosquittoFiles(c, ok)
	case NATS:
		r.Files = natsFiles(c, ok)
	case EMQX:
		r.Files = emqxFiles(c, ok)
	}
	return r, nil
}

// For is the hash broker b checks.
func (h Hashes) For(b Broker) string {
	if b == Mosquitto {
		return h.Mosquitto
	}
	return h.Bcrypt
}

// check reports the first thing wrong with c for broker b.
func (c *Config) check(b Broker) error {
	if c.Root == "" || !protocol.ValidRoot(c.Root) {
		return fmt.Errorf("%w: topic root %s", ErrInvalid, clip.Quote(c.Root))
	}
	for level := range strings.SplitSeq(c.Root, "/") {
		if !rootLevel.MatchString(level) {
			return fmt.Errorf("%w: topic root %s: a broker configuration takes levels of A-Z, a-z, 0-9, '_' and '-' only",
				ErrInvalid, clip.Quote(c.Root))
		}
	}
	if !hubUser.MatchString(c.Hub.User) {
		return fmt.Errorf("%w: hub user %s: want 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'", ErrInvalid, clip.Quote(c.Hub.User))
	}
	if h := c.Hub.For(b); h == "" {
		return ErrHubHash
	} else if !ValidHash(b, h) {
		return fmt.Errorf("%w: the hub's password hash is not a %s hash", ErrInvalid, hashKind(b))
	}
	if c.Dir != "" && (!dirPath.MatchString(c.Dir) || strings.Contains(c.Dir, "..")) {
		return fmt.Errorf("%w: dir %s: want an absolute path of A-Z, a-z, 0-9, '_', '.', '-', '/'", ErrInvalid, clip.Quote(c.Dir))
	}
	seen := make(map[string]bool, len(c.Units))
	for _, u := range c.Units {
		switch {
		case !protocol.ValidUnitID(u.User):
			return fmt.Errorf("%w: unit id %s", ErrInvalid, clip.Quote(u.User))
		case u.User == c.Hub.User:
			return fmt.Errorf("%w: unit %s: give the hub another (hub -broker-user) or revoke the unit",
				ErrHubUserTaken, u.User)
		case seen[u.User]:
			return fmt.Errorf("%w: unit %s twice", ErrInvalid, u.User)
		}
		seen[u.User] = true
	}
	return nil
}

func hashKind(b Broker) string {
	if b == Mosquitto {
		return "Mosquitto 2 ($7$…)"
	}
	return "bcrypt ($2a$…)"
}

// Topics of the units: what a unit writes and what it reads.
var (
	unitWrites = []protocol.Kind{protocol.KindTelemetry, protocol.KindState, protocol.KindEvents}
	unitReads  = []protocol.Kind{protocol.KindCmd, protocol.KindAck}
)

// topics are the MQTT topics (or filters) of unit under root for kinds.
func topics(root, unit string, kinds []protocol.Kind) []string {
	t := protocol.Topics{Root: root}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = t.Unit(unit, k)
	}
	return out
}
