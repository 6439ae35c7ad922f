package broker

import (
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"
)

// A write "in progress" for longer than stallAfter is a stalled device only
// if the socket's send buffer is full: on a loaded machine the writer's
// goroutine may simply not have run again since its write returned, and
// the device, which reads, must not lose its commands for it.
func TestStalledForAsksTheSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the send queue is read on Linux only; elsewhere any long write counts")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func(read bool) *trackedConn {
		t.Helper()
		dev, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		if read {
			go io.Copy(io.Discard, dev) // ends with the connection
		}
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		l := newConnListener(nil, time.Second, 200*time.Millisecond, slog.New(slog.DiscardHandler))
		tc := &trackedConn{Conn: srv, l: l}
		t.Cleanup(func() { tc.Close() })
		return tc
	}

	reading := pair(true)
	if _, err := reading.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	// Its writer, as if descheduled a second after starting a write.
	reading.writing.Store(time.Now().Add(-time.Second).UnixNano())
	if d := reading.stalledFor(); d != 0 {
		t.Errorf("a device that reads, its writer late: stalled for %v, want 0", d)
	}

	// A device that stopped reading: a writer fills its buffers and blocks.
	blocked := pair(false)
	chunk := make([]byte, 64<<10)
	go func() {
		for {
			if _, err := blocked.Conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if full, known := sendQueueFull(blocked.Conn); known && full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the send queue of a device that does not read never filled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	blocked.writing.Store(time.Now().Add(-time.Second).UnixNano())
	if d := blocked.stalledFor(); d < stallAfter {
		t.Errorf("a device that does not read: stalled for %v, want at least %v", d, stallAfter)
	}
}
