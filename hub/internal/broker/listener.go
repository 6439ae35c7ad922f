package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// mochiListener serves a connListener to mochi in place of mochi's
// listeners.Net, which logs every connection that ends in an error at Warn:
// one more line per refused CONNECT, with nothing to rate-limit it by. Here
// how each connection ended goes to ended, with the connection.
type mochiListener struct {
	id    string
	ln    *connListener
	ended func(conn net.Conn, err error)

	mu      sync.Mutex
	closed  bool
	serving sync.WaitGroup // Serve
	conns   sync.WaitGroup // a goroutine per connection
}

var _ listeners.Listener = (*mochiListener)(nil)

func (l *mochiListener) ID() string                { return l.id }
func (l *mochiListener) Address() string           { return l.ln.Addr().String() }
func (l *mochiListener) Protocol() string          { return l.ln.Addr().Network() }
func (l *mochiListener) Init(_ *slog.Logger) error { return nil }

// Serve runs each connection on its own goroutine until the listener is closed.
func (l *mochiListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.serving.Add(1)
	l.mu.Unlock()
	defer l.serving.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed: Accept retries any other error itself
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.conns.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.conns.Done()
			l.ended(conn, establish(l.id, conn))
		}()
	}
}

// Close stops accepting, has mochi disconnect its clients, and waits for every
// connection's goroutine (mochi's Close counts on that, as with its own).
func (l *mochiListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	closed := l.closed
	l.closed = true
	l.mu.Unlock()
	if closed {
		return
	}
	l.ln.shutdown()
	closeClients(l.id)
	l.serving.Wait()
	l.conns.Wait()
}

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
}

func newConnListener(l net.Listener, connectTimeout, writeTimeout time.Duration, log *slog.Logger) *connListener {
	return &connListener{Listener: l, connectTimeout: connectTimeout, writeTimeout: writeTimeout, log: log,
		done: make(chan struct{}), conns: make(map[*trackedConn]struct{})}
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
		tc := &trackedConn{Conn: c, l: l}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			return nil, net.ErrClosed
		}
		l.conns[tc] = struct{}{}
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
		c.abort()
	}
	// mochi counts a connection in (WaitGroup.Add) on the goroutine it starts
	// for it, and its Close waits on that count: a connection accepted just
	// before shutdown could be counted in while Close waits. mochiListener.Close
	// therefore waits for those goroutines before mochi does.
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
	gotData atomic.Bool  // a byte was read

	// What the auth hook made of the connection, for mochiListener.ended.
	refused     atomic.Bool            // the hook refused it (and counted and logged that)
	unit        atomic.Pointer[string] // the unit whose session it carries
	revocations atomic.Uint64          // its unit's revocations before its secret was checked

	// The first packet's fixed header as read so far (the reader's own):
	// see Read.
	head      [5]byte
	headLen   int
	headKnown bool
}

// maxConnectSize bounds a connection's first packet, its CONNECT: a
// device's is a few hundred bytes (its id, secret and Last Will). mochi
// makes the whole packet's buffer as soon as its header says how long it
// is, so without this bound anyone who can reach the port could hold
// MaxPacketSize (64 KiB) per connection for the connect timeout by
// sending five bytes.
const maxConnectSize = 4 << 10

var errConnectTooLarge = fmt.Errorf("broker: a first packet of more than %d bytes", maxConnectSize)

// Read reads the connection; a first packet whose header claims more than
// maxConnectSize bytes ends it before mochi makes room for it.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.gotData.Load() {
		c.gotData.Store(true)
	}
	if !c.headKnown && n > 0 {
		if size, known := c.firstPacketSize(p[:n]); known {
			c.headKnown = true
			if size > maxConnectSize {
				return 0, errConnectTooLarge
			}
		}
	}
	return n, err
}

// firstPacketSize reads the first packet's fixed header from the start of
// the stream, b being its next bytes: the packet's length once its
// remaining-length field is complete (known). A field longer than MQTT's
// four bytes is known too, as too large; mochi refuses it.
func (c *trackedConn) firstPacketSize(b []byte) (size int, known bool) {
	for _, x := range b {
		c.head[c.headLen] = x
		c.headLen++
		if c.headLen == 1 {
			continue // the packet's type
		}
		if x&0x80 == 0 {
			remaining, mult := 0, 1
			for _, d := range c.head[1:c.headLen] {
				remaining += int(d&0x7f) * mult
				mult *= 128
			}
			return c.headLen + remaining, true
		}
		if c.headLen == len(c.head) {
			return maxConnectSize + 1, true
		}
	}
	return 0, false
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
// A write in progress for stallAfter on a socket whose send buffer has room
// is not blocked: its goroutine has not run again yet (a loaded machine),
// and the device reads; that is 0 too, so that its commands are not dropped.
func (c *trackedConn) stalledFor() time.Duration {
	start := c.writing.Load()
	if start == 0 {
		return 0
	}
	d := time.Since(time.Unix(0, start))
	if d >= stallAfter {
		if full, known := sendQueueFull(c.Conn); known && !full {
			return 0
		}
	}
	return d
}

// abort closes the connection without a TLS close_notify: on shutdown,
// that alert to a device not reading would hold each close for 5 s.
func (c *trackedConn) abort() {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
	}
	_ = c.Close()
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
