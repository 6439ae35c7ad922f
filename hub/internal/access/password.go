package access

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hashing is argon2id's cost. The stored hash carries the cost it was made
// with, so a change applies to passwords set from then on.
type Hashing struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultHashing takes 50–57 ms a hash on one core of the machine the
// hub was measured on (BenchmarkHashPassword), within RFC 9106's and OWASP's
// recommendations for argon2id.
var DefaultHashing = Hashing{Time: 2, MemoryKiB: 48 << 10, Threads: 1}

// MinPassword is the shortest password accepted.
const MinPassword = 10

const (
	saltLen = 16
	keyLen  = 32
)

// errBadHash is a stored hash that does not read: no password matches it.
var errBadHash = errors.New("stored password hash does not read")

// hashPassword returns the PHC string of password under h.
func hashPassword(password string, h Hashing) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches the PHC string encoded.
func checkPassword(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var h Hashing
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.MemoryKiB, &h.Time, &h.Threads); err != nil ||
		h.Time == 0 || h.Threads == 0 || h.MemoryKiB < 8*uint32(h.Threads) || h.MemoryKiB > 4<<20 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NewPassword makes a random password of 16 characters from an alphabet
// without look-alikes (no 0/O, 1/l/I), to be read off a screen and typed.
func NewPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 16)
	buf := make([]byte, 1)
	for i := range out {
		for {
			_, _ = rand.Read(buf)
			// 4 × 57 = 228: reject above it so every letter is as likely.
			if int(buf[0]) < 4*len(alphabet) {
				out[i] = alphabet[int(buf[0])%len(alphabet)]
				break
			}
		}
	}
	return string(out)
}

// checkNewPassword says what is wrong with a password someone chose.
func checkNewPassword(name, password string) error {
	switch {
	case len([]rune(password)) < MinPassword:
		return fmt.Errorf("%w: a password has at least %d characters", ErrInvalid, MinPassword)
	case len(password) > 256:
		return fmt.Errorf("%w: a password has at most 256 bytes", ErrInvalid)
	case strings.EqualFold(password, name):
		return fmt.Errorf("%w: the password may not be the name", ErrInvalid)
	}
	return nil
}
