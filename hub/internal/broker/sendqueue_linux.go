package broker

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// sendQueueFull says whether at least half of conn's socket send buffer is
// queued, unacknowledged by the device: a write to it blocks because the
// device stopped reading. known is false where it cannot be told (not a
// socket of this machine).
func sendQueueFull(conn net.Conn) (full, known bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var queued int32
	var sndbuf int
	var qerr, berr error
	err = rc.Control(func(fd uintptr) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued))); errno != 0 {
			qerr = errno
		}
		sndbuf, berr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	if err != nil || qerr != nil || berr != nil || sndbuf <= 0 {
		return false, false
	}
	return int(queued) >= sndbuf/2, true
}
