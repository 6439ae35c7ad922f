//go:build unix

package history

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/cockroachdb/pebble/vfs"
	"golang.org/x/sys/unix"
)

// lockFS is the plain file system with a LOCK file that can be taken
// again by this process. pebble's own keeps a registry of the locks the
// process holds, and a DB whose disk failed under it may panic in Close
// before it releases its lock: the day could then never be opened again
// without a restart. One History per directory (the store's hub.lock sees
// to it) and one open DB per day (day.gate) are what keep a day from being
// opened twice; the fcntl lock keeps other processes out.
type lockFS struct{ vfs.FS }

func (lockFS) Lock(name string) (io.Closer, error) {
	f, err := os.Create(name)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if errors.Is(err, syscall.EROFS) {
		// A file system turned read-only: a shared lock, for reading.
		f, err = os.Open(name)
		lk.Type = unix.F_RDLCK
	}
	if err != nil {
		return nil, err
	}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
