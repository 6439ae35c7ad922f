package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connListener wraps the hub's listener for mochi; see trackedConn for the
// connections it returns. mochi reads a connection's
// CONNECT with no deadline at all (it sets the keepalive deadline only
// afterwards), so a client that connects and sends nothing holds a goroutine
// forever and blocks mochi's Close, which waits for every connection. Each
// accepted connection therefore gets a deadline for its CONNECT, and shutdown
// closes whatever is still open.
//
// mochi also stops serving for good on the first error from Accept, so a
// passing one (too many open files) would leave the hub deaf to every device:
// Accept retries those itself and returns only once the listener is closed.
type connListener struct {
	net.Listener
	connectTimeout time.Duration
	writeTimeout   time.Duration
	log            *slog.Logger
	done           chan struct{} // closed by shutdown

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
	// handed is every connection Accept returned, until mochi has started
	// reading it; see shutdown.
	handed map[*trackedConn]struct{}
}

func newConnListener(l net.Listener, connectTimeout, writeTimeout time.Duration, log *slog.Logger) *connListener {
	return &connListener{Listener: l, connectTimeout: connectTimeout, writeTimeout: writeTimeout, log: log,
		done: make(chan struct{}), conns: make(map[*trackedConn]struct{}), handed: make(map[*trackedConn]struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return nil, net.ErrClosed
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Error("broker: accepting a connection failed; retrying", "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		backoff = 0
		// mochi replaces this with its keepalive deadline once the CONNECT is read.
		if err := c.SetDeadline(time.Now().Add(l.connectTimeout)); err != nil {
			_ = c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, l: l, reading: make(chan struct{})}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			return nil, net.ErrClosed
		}
		l.conns[tc] = struct{}{}
		l.handed[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

func (l *connListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// shutdown stops accepting and closes every open connection.
func (l *connListener) shutdown() {
	l.mu.Lock()
	if !l.closed {
		close(l.done)
	}
	l.closed = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	// mochi counts a connection in (WaitGroup.Add) on the goroutine it starts
	// for it, and its Close waits on that count: a connection accepted just
	// before shutdown would be counted in while Close waits — a race inside
	// mochi. Its first read comes after the count, so wait for that first.
	l.mu.Lock()
	pending := make([]*trackedConn, 0, len(l.handed))
	for c := range l.handed {
		pending = append(pending, c)
	}
	l.mu.Unlock()
	deadline := time.After(5 * time.Second)
	for _, c := range pending {
		select {
		case <-c.reading:
		case <-deadline:
			l.log.Warn("broker: a connection was never read; closing anyway")
			return
		}
	}
}

// trackedConn is a device's connection. Besides letting shutdown close it, it
// bounds every write. mochi writes to a device while holding that client's
// lock, which every publisher to the device also takes (for a packet id): one
// device that stops reading, with its socket buffer full, would block the
// hub's Publish — and so the acks to every unit — for 1.5 × its keepalive.
// Here a write that cannot finish within writeTimeout closes the connection
// (a partly written packet leaves the stream unusable anyway; the device
// reconnects and its session resends what it missed), and a write in progress
// is visible to Embedded.Publish, which drops messages to a stalled device
// rather than wait for it.
type trackedConn struct {
	net.Conn
	l       *connListener
	once    sync.Once
	writing atomic.Int64 // when the write in progress started (Unix ns); 0: none
	read    sync.Once
	reading chan struct{} // closed by the first Read
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.read.Do(func() {
		c.l.mu.Lock()
		delete(c.l.handed, c)
		c.l.mu.Unlock()
		close(c.reading)
	})
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	now := time.Now()
	c.writing.Store(now.UnixNano())
	defer c.writing.Store(0)
	_ = c.Conn.SetWriteDeadline(now.Add(c.l.writeTimeout))
	n, err := c.Conn.Write(p)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.l.log.Warn("broker: device not reading; connection closed", "remote", c.RemoteAddr().String(),
				"write_timeout", c.l.writeTimeout)
		}
		_ = c.Close()
	}
	return n, err
}

// SetDeadline sets only the read deadline: mochi refreshes both from the
// keepalive on every packet it reads, which would stretch a pending write's
// deadline from writeTimeout to 1.5 × keepalive.
func (c *trackedConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// stalledFor is how long the write in progress has been blocked (0: none).
func (c *trackedConn) stalledFor() time.Duration {
	start := c.writing.Load()
	if start == 0 {
		return 0
	}
	return time.Since(time.Unix(0, start))
}

func (c *trackedConn) Close() error {
	var err error
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}
