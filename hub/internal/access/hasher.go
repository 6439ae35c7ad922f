package access

import "context"

// Hasher makes and checks password hashes: argon2id, about 50 ms of one
// core each. The hub runs it in a child process of the lowest CPU priority
// (ProcessHasher), so a rush of sign-ins at a change of shift takes only the
// CPU that ingest and dispatch leave.
type Hasher interface {
	Hash(ctx context.Context, password string, h Hashing) (string, error)
	Check(ctx context.Context, password, encoded string) (bool, error)
}

// LocalHasher hashes in the calling goroutine.
type LocalHasher struct{}

// Hash makes the PHC string of password.
func (LocalHasher) Hash(_ context.Context, password string, h Hashing) (string, error) {
	return hashPassword(password, h), nil
}

// Check reports whether password matches encoded; a hash that does not
// read is errBadHash.
func (LocalHasher) Check(_ context.Context, password, encoded string) (bool, error) {
	return checkPassword(password, encoded)
}
