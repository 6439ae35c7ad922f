//go:build !unix

package store

// lockDir does nothing where there is no flock: the operator must make
// sure that only one hub uses a data directory, and that it is stopped
// before `hub check`.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }

// dirLocking says whether lockDir keeps two processes off one directory.
const dirLocking = false
