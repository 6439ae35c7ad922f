package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// server is a limited listener on 127.0.0.1:0 whose accepted connections
// arrive on a channel.
type server struct {
	ln       net.Listener
	accepted chan net.Conn
	refused  atomic.Int64
	done     chan struct{}
}

func listen(t *testing.T, max int) *server {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{accepted: make(chan net.Conn, 64), done: make(chan struct{})}
	s.ln = Wrap(inner, Config{Max: max, OnRefuse: func(a net.Addr) {
		if a == nil {
			t.Error("OnRefuse without an address")
		}
		s.refused.Add(1)
	}})
	go func() {
		defer close(s.done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- c
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		<-s.done
		close(s.accepted)
		for c := range s.accepted {
			c.Close()
		}
	})
	return s
}

func (s *server) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept waits for the server to hand over the next connection.
func (s *server) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(2 * time.Second):
		t.Fatal("the connection was not accepted")
		return nil
	}
}

// isClosedByPeer says whether the client end c sees the server close it.
func isClosedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
	}{
		{"one", 1},
		{"two", 2},
		{"five", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := listen(t, tc.max)
			var kept []net.Conn // the server's ends
			for range tc.max {
				s.dial(t)
				kept = append(kept, s.accept(t))
			}

			// One more from the same address is closed at once and counted.
			extra := s.dial(t)
			if !isClosedByPeer(extra) {
				t.Fatalf("connection %d of %d allowed was kept open", tc.max+1, tc.max)
			}
			if got := s.refused.Load(); got != 1 {
				t.Errorf("OnRefuse heard %d refusals, want 1", got)
			}
			select {
			case <-s.accepted:
				t.Fatal("the refused connection was handed to the server")
			default:
			}

			// Closing one (twice: Close must release once) makes room for exactly one.
			kept[0].Close()
			kept[0].Close()
			s.dial(t)
			kept[0] = s.accept(t)
			if !isClosedByPeer(s.dial(t)) {
				t.Fatal("a second Close of one connection released two places")
			}
			if got := s.refused.Load(); got != 2 {
				t.Errorf("OnRefuse heard %d refusals, want 2", got)
			}
			for _, c := range kept {
				c.Close()
			}
			// All places are free again.
			for range tc.max {
				s.dial(t)
				s.accept(t).Close()
			}
		})
	}
}

// Connections the server accepted work as TCP connections, half-close
// included (net/http uses it before it closes a connection).
func TestConnIsTCP(t *testing.T) {
	s := listen(t, 2)
	client := s.dial(t)
	c := s.accept(t)
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if _, ok := c.(interface{ SetWriteBuffer(int) error }); !ok {
		t.Errorf("%T has no SetWriteBuffer", c)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, err := io.ReadAll(client); string(b) != "hi" || err != nil {
		t.Errorf("read %q, %v; want hi and EOF", b, err)
	}
}

func TestNoLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	for _, max := range []int{0, -1} {
		if ln := Wrap(inner, Config{Max: max}); ln != inner {
			t.Errorf("Wrap with Max %d wrapped the listener", max)
		}
	}
}

// Addresses that are not IP (a pipe, a Unix socket) are not limited: they
// would all count as one.
func TestNonIPAddressesAreNotLimited(t *testing.T) {
	p := &pipeListener{conns: make(chan net.Conn, 4)}
	ln := Wrap(p, Config{Max: 1, OnRefuse: func(net.Addr) { t.Error("a pipe connection was refused") }})
	for range 3 {
		a, b := net.Pipe()
		defer a.Close()
		p.conns <- b
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
}

type pipeListener struct{ conns chan net.Conn }

func (p *pipeListener) Accept() (net.Conn, error) { return <-p.conns, nil }
func (p *pipeListener) Close() error              { return nil }
func (p *pipeListener) Addr() net.Addr            { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestAddrKey(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		name string
		addr net.Addr
		want netip.Addr
		ok   bool
	}{
		{"IPv4", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, v4, true},
		{"IPv4, other port", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 2}, v4, true},
		{"IPv4-mapped IPv6 is the IPv4 address", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, v4, true},
		{"IPv6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}, netip.MustParseAddr("2001:db8::1"), true},
		{"Unix socket", &net.UnixAddr{Name: "/run/hub.sock", Net: "unix"}, netip.Addr{}, false},
		{"none", nil, netip.Addr{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := addrKey(tc.addr)
			if got != tc.want || ok != tc.ok {
				t.Errorf("addrKey(%v) = %v, %v; want %v, %v", tc.addr, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Many goroutines opening and closing: the count ends at zero.
func TestConcurrentCloses(t *testing.T) {
	s := listen(t, 64)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			c, err := net.Dial("tcp", s.ln.Addr().String())
			if err == nil {
				c.Close()
			}
		})
	}
	wg.Wait()
	for range 32 {
		s.accept(t).Close()
	}
	l := s.ln.(*listener)
	l.mu.Lock()
	n := len(l.open)
	l.mu.Unlock()
	if n != 0 {
		t.Errorf("%d addresses still counted after every connection closed", n)
	}
}
