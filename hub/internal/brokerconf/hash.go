package brokerconf

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Hashes are one secret hashed in the formats external brokers check: the
// hub keeps its own SHA-256 of a unit's secret, which no broker takes.
// Empty fields: not computed (a unit enrolled before the hub kept them).
type Hashes struct {
	// Bcrypt is for NATS Server and EMQX ("$2a$04$…").
	Bcrypt string
	// Mosquitto is Mosquitto 2's password-file hash ("$7$101$<salt>$<hash>").
	Mosquitto string
}

// UnitBcryptCost is the bcrypt cost of a unit's secret: the lowest there is
// (bcrypt.MinCost, about 1 ms on the reference machine, where cost 10 takes
// 60 ms). A unit's secret is 256 random bits, so no cost adds to guessing
// it; what cost would buy is paid at every connection: a broker node that
// fails sends its whole share of the fleet to reconnect at once, and
// nats-server checks every connected client's password again at each
// configuration reload.
const UnitBcryptCost = bcrypt.MinCost

// HubBcryptCost is the bcrypt cost of the hub's own broker password, which
// a person may have chosen: bcrypt's default. The hub connects once.
const HubBcryptCost = bcrypt.DefaultCost

// Mosquitto 2's password hash, as mosquitto_passwd (2.0) writes it:
// $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>.
const (
	mosquittoIterations = 101
	mosquittoSaltLen    = 12
	mosquittoHashLen    = 64
)

// HashSecret hashes a unit's secret for every broker. It is called where
// the secret exists — at enrolment and at a rotation — as the hub keeps no
// plaintext to hash later.
func HashSecret(secret string) (Hashes, error) {
	return hash(secret, UnitBcryptCost)
}

// HashHubPassword hashes the hub's own broker password for every broker.
func HashHubPassword(password string) (Hashes, error) {
	return hash(password, HubBcryptCost)
}

// HashHubPasswordFor is the one hash of the hub's broker password that
// broker b checks (bcrypt's cost makes the other worth skipping).
func HashHubPasswordFor(b Broker, password string) (Hashes, error) {
	if password == "" {
		return Hashes{}, errors.New("brokerconf: no password to hash")
	}
	if b == Mosquitto {
		m, err := MosquittoHash(password)
		return Hashes{Mosquitto: m}, err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), HubBcryptCost)
	if err != nil {
		return Hashes{}, fmt.Errorf("brokerconf: bcrypt: %w", err)
	}
	return Hashes{Bcrypt: string(h)}, nil
}

func hash(password string, cost int) (Hashes, error) {
	if password == "" {
		return Hashes{}, errors.New("brokerconf: no password to hash")
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		// bcrypt refuses more than 72 bytes; kuaifan's secrets are 43.
		return Hashes{}, fmt.Errorf("brokerconf: bcrypt: %w", err)
	}
	m, err := MosquittoHash(password)
	if err != nil {
		return Hashes{}, err
	}
	return Hashes{Bcrypt: string(b), Mosquitto: m}, nil
}

// MosquittoHash hashes a password the way mosquitto_passwd 2.0 does, with a
// fresh random salt.
func MosquittoHash(password string) (string, error) {
	salt := make([]byte, mosquittoSaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	key, err := pbkdf2.Key(sha512.New, password, salt, mosquittoIterations, mosquittoHashLen)
	if err != nil {
		return "", fmt.Errorf("brokerconf: PBKDF2: %w", err)
	}
	return "$7$" + strconv.Itoa(mosquittoIterations) + "$" + base64.StdEncoding.EncodeToString(salt) +
		"$" + base64.StdEncoding.EncodeToString(key), nil
}

// mosquittoHash is a parsed Mosquitto 2 password hash.
type mosquittoHash struct {
	iterations int
	salt, key  []byte
}

// parseMosquitto reads "$7$<iterations>$<base64 salt>$<base64 key>", as
// Mosquitto 2 reads its password file: iterations above 0, a salt and a
// 64-byte PBKDF2-SHA512 key.
func parseMosquitto(h string) (mosquittoHash, error) {
	rest, ok := strings.CutPrefix(h, "$7$")
	if !ok {
		return mosquittoHash{}, errors.New("not a Mosquitto 2 hash ($7$…)")
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return mosquittoHash{}, errors.New("want $7$iterations$salt$hash")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n <= 0 || n > 1_000_000 || strconv.Itoa(n) != parts[0] {
		return mosquittoHash{}, fmt.Errorf("iterations %q", parts[0])
	}
	salt, err := base64.StdEncoding.Strict().DecodeString(parts[1])
	if err != nil || len(salt) == 0 {
		return mosquittoHash{}, errors.New("salt is not base64")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(key) != mosquittoHashLen {
		return mosquittoHash{}, errors.New("hash is not 64 bytes of base64")
	}
	return mosquittoHash{iterations: n, salt: salt, key: key}, nil
}

// CheckMosquitto reports whether password matches a Mosquitto 2 hash.
func CheckMosquitto(hash, password string) bool {
	h, err := parseMosquitto(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha512.New, password, h.salt, h.iterations, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// ValidHash reports whether h is a hash of the kind broker b checks: a
// Mosquitto 2 hash for Mosquitto, bcrypt for NATS and EMQX.
func ValidHash(b Broker, h string) bool {
	if b == Mosquitto {
		_, err := parseMosquitto(h)
		return err == nil
	}
	// bcrypt.Cost parses the prefix and cost; the rest must be the 53
	// characters of salt and hash.
	_, err := bcrypt.Cost([]byte(h))
	return err == nil && len(h) == 60
}
