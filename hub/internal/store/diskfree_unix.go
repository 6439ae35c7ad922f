//go:build unix

package store

import "syscall"

// diskFree is the space left to an unprivileged writer on dir's file system.
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// errNoSpace is what a full disk answers.
var errNoSpace error = syscall.ENOSPC
