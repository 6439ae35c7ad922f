// Package connlimit caps how many connections one remote IP address may hold
// open on a listener. The hub's HTTP server wraps its listener with it: a
// client that opens hundreds of connections and keeps them (idle, or
// trickling a request) would otherwise take file descriptors and goroutines
// from everyone. Connections over the cap are closed as soon as they are
// accepted, before a byte is read.
//
// Addresses that are not IP (a Unix socket, a pipe) are not limited: every
// peer would share one address. Each IPv6 address counts on its own, so a
// client with a whole prefix is limited per address, not per prefix.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Config is the cap and who hears of refusals.
type Config struct {
	Max int // connections open at once per remote IP; 0 or less: no limit
	// OnRefuse, if set, hears of each connection closed for being over Max.
	// It runs on the accepting goroutine, so it must be quick.
	OnRefuse func(remote net.Addr)
}

// Wrap returns ln limited to cfg.Max connections per remote IP, or ln itself
// if cfg.Max is 0 or less. Closing an accepted connection frees its place.
func Wrap(ln net.Listener, cfg Config) net.Listener {
	if cfg.Max <= 0 {
		return ln
	}
	return &listener{Listener: ln, cfg: cfg, open: make(map[netip.Addr]int)}
}

type listener struct {
	net.Listener
	cfg Config

	mu   sync.Mutex
	open map[netip.Addr]int // only addresses with connections open
}

// Accept returns the next connection within the cap, closing any over it.
// Errors of the wrapped listener are returned as they are, so that
// http.Server still retries temporary ones.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := addrKey(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		if !l.acquire(key) {
			// Counted before the close, so a client that sees its
			// connection closed finds it counted.
			if l.cfg.OnRefuse != nil {
				l.cfg.OnRefuse(c.RemoteAddr())
			}
			c.Close()
			continue
		}
		return l.track(c, key), nil
	}
}

func (l *listener) acquire(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.cfg.Max {
		return false
	}
	l.open[key]++
	return true
}

func (l *listener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// track wraps c so that closing it frees its place. A *net.TCPConn stays
// one underneath, with its methods (CloseWrite, which net/http uses before
// closing; SetWriteBuffer, which the stream tunes; ReadFrom, for sendfile)
// promoted, as the hub's handlers look for them.
func (l *listener) track(c net.Conn, key netip.Addr) net.Conn {
	r := &releaser{release: func() { l.release(key) }}
	if tc, ok := c.(*net.TCPConn); ok {
		return &tcpConn{TCPConn: tc, r: r}
	}
	return &conn{Conn: c, r: r}
}

// releaser frees a connection's place once, however often it is closed.
type releaser struct {
	once    sync.Once
	release func()
}

func (r *releaser) done() { r.once.Do(r.release) }

type tcpConn struct {
	*net.TCPConn
	r *releaser
}

func (c *tcpConn) Close() error {
	defer c.r.done()
	return c.TCPConn.Close()
}

type conn struct {
	net.Conn
	r *releaser
}

func (c *conn) Close() error {
	defer c.r.done()
	return c.Conn.Close()
}

// addrKey is the IP address a connection counts against, IPv4-mapped IPv6
// addresses as the IPv4 address they are; false for addresses that are not IP.
func addrKey(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
