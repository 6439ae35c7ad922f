//go:build !unix

package history

import "github.com/cockroachdb/pebble/vfs"

// lockFS is the plain file system (see fs.go for the unix one).
type lockFS struct{ vfs.FS }
