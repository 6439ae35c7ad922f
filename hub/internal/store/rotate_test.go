package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// A rotation replaces the hashes in both files — the brokers' too, so none
// of the old secret stays —, is the later record at reconciliation even
// within the enrolment's millisecond, and is refused for a unit unknown or
// revoked.
func TestRotateSecret(t *testing.T) {
	old, rotated := strings.Repeat("1", 64), Secret{Hash: strings.Repeat("2", 64), BcryptHash: "$2a$04$new", MosquittoHash: "$7$101$new"}
	for _, lose := range []string{"", FileName, JournalName} {
		t.Run("lose "+lose, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			if err := s.CreateUnit(Unit{ID: "car-1", Type: protocol.TypeCar, SecretHash: old, Enrolled: now.UnixMilli(),
				BcryptHash: "$2a$04$old", MosquittoHash: "$7$101$old"}); err != nil {
				t.Fatal(err)
			}
			u, err := s.RotateSecret("car-1", rotated, now) // the enrolment's own millisecond
			if err != nil || u.SecretHash != rotated.Hash || u.SecretSet <= u.Enrolled ||
				u.BcryptHash != rotated.BcryptHash || u.MosquittoHash != rotated.MosquittoHash {
				t.Fatalf("rotate: %+v, %v", u, err)
			}
			s.Close()
			if lose != "" {
				if err := os.Remove(filepath.Join(dir, lose)); err != nil {
					t.Fatal(err)
				}
			}
			s = open(t, dir)
			units, err := s.Units()
			if err != nil || len(units) != 1 || units[0].SecretHash != rotated.Hash ||
				units[0].BcryptHash != rotated.BcryptHash || units[0].MosquittoHash != rotated.MosquittoHash {
				t.Fatalf("after reopening: %+v, %v", units, err)
			}
		})
	}

	s := open(t, t.TempDir())
	if _, err := s.RotateSecret("car-9", rotated, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown unit: %v, want ErrNotFound", err)
	}
	if err := s.CreateUnit(Unit{ID: "car-2", Type: protocol.TypeCar, SecretHash: old, Enrolled: now.UnixMilli(),
		BcryptHash: "$2a$04$old", MosquittoHash: "$7$101$old"}); err != nil {
		t.Fatal(err)
	}
	// A rotation without broker hashes leaves none of the old secret's.
	if u, err := s.RotateSecret("car-2", Secret{Hash: rotated.Hash}, now); err != nil || u.BcryptHash != "" || u.MosquittoHash != "" {
		t.Fatalf("rotate: %+v, %v", u, err)
	}
	// Revoked in the rotation's millisecond: the revocation is not earlier.
	r, err := s.RevokeUnit("car-2", now)
	if err != nil || r.Revoked < r.SecretSet {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	if _, err := s.RotateSecret("car-2", Secret{Hash: old}, now); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked unit: %v, want ErrRevoked", err)
	}
}
