package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// A client that never reads: its TCP buffers fill, its writer blocks, its
// queue overflows (resync: backlog dropped, snapshot queued), and after
// WriteTimeout it is cut off. Meanwhile the others get every delta on time.
func TestStalledClient(t *testing.T) {
	const (
		interval     = 20 * time.Millisecond
		writeTimeout = 2 * time.Second
	)
	f := newFixture(t, Config{Interval: interval, ClientBuffer: 4, WriteTimeout: writeTimeout})
	// ~40 KB a frame, 2 MB/s a client: the kernel's buffers (the server's
	// held to sendBuffer) fill in well under a second.
	stop := f.produce(40, 10, 5*time.Millisecond, 1000)
	defer stop()

	var healthy []*reader
	for range 2 {
		healthy = append(healthy, startReaderAs(t, f.connect(dialOpts{}), true))
	}
	stalled := f.rawDial()
	start := time.Now()

	waitFor(t, 10*time.Second, "the stalled client's first resync", func() bool {
		return f.metric("kuaifan_stream_resyncs_total") >= 1
	})
	resynced := time.Now()
	waitFor(t, writeTimeout+5*time.Second, "the stalled client to be dropped", func() bool {
		return f.metric("kuaifan_stream_dropped_clients_total", "reason", dropTooSlow) == 1
	})
	dropped := time.Now()
	time.Sleep(200 * time.Millisecond) // the others carry on after the drop
	stop()
	end := time.Now()
	t.Logf("stalled client: resynced %v after connecting, dropped %v after that", resynced.Sub(start), dropped.Sub(resynced))

	// Its write blocked some ClientBuffer windows before the resync, so the
	// drop comes a little under WriteTimeout after it.
	if d := dropped.Sub(resynced); d < writeTimeout/2 || d > writeTimeout+time.Second {
		t.Errorf("dropped %v after its resync, want about WriteTimeout (%v)", d, writeTimeout)
	}
	waitFor(t, 5*time.Second, "two clients left", func() bool { return f.s.Clients() == 2 })
	if got := f.metric("kuaifan_stream_clients"); got != 2 {
		t.Errorf("clients gauge %v, want 2", got)
	}

	for i, r := range healthy {
		frames := drainReader(r)
		if len(frames) == 0 || frames[0].Type != kindSnapshot {
			t.Fatalf("healthy client %d: first frame not a snapshot", i)
		}
		var maxGap time.Duration
		for j := 1; j < len(frames); j++ {
			p, g := frames[j-1], frames[j]
			if g.Type != kindDelta || g.Seq != p.Seq+1 {
				t.Fatalf("healthy client %d: %s %d after %s %d: it was resynced or lost a frame", i, g.Type, g.Seq, p.Type, p.Seq)
			}
			maxGap = max(maxGap, g.at.Sub(p.at))
		}
		last := frames[len(frames)-1].at
		t.Logf("healthy client %d: %d frames in %v, longest gap %v", i, len(frames), end.Sub(start), maxGap)
		// Had the stalled client held anyone up, it would be for WriteTimeout;
		// half that leaves room for a busy machine. (Typically: one window.)
		if maxGap > writeTimeout/2 {
			t.Errorf("healthy client %d waited %v for a frame while another was stalled", i, maxGap)
		}
		if last.Before(dropped) {
			t.Errorf("healthy client %d: no frame after the stalled one was dropped", i)
		}
		if want := int(end.Sub(start)/interval) / 2; len(frames) < want {
			t.Errorf("healthy client %d: %d frames in %v, want at least %d", i, len(frames), end.Sub(start), want)
		}
	}

	// What the stalled client finds when it finally reads: frames in order,
	// then the connection ends mid-frame. No close frame: the write timed
	// out in the middle of a frame, and nothing can follow that.
	stalled.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var n int
	for {
		op, p, err := stalled.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Errorf("stalled client: after %d frames: %v, want the connection closed", n, err)
			}
			break
		}
		if op == 8 {
			t.Errorf("stalled client: a close frame %q after a write timeout", p)
		}
		n++
	}
	t.Logf("stalled client read %d whole frames before the end", n)
}

// A client that stops reading for a while is resynced: when it reads again it
// finds the frames the kernel held, in order, then a jump in seq and a snapshot.
func TestResync(t *testing.T) {
	const interval = 20 * time.Millisecond
	f := newFixture(t, Config{Interval: interval, ClientBuffer: 4, WriteTimeout: 5 * time.Second})
	stop := f.produce(100, 25, 5*time.Millisecond, 1000)
	defer stop()
	healthy := startReaderAs(t, f.connect(dialOpts{}), true)
	slow := f.connect(dialOpts{})
	prev := next(t, slow, 2*time.Second)
	if prev.Type != kindSnapshot {
		t.Fatalf("first frame %v", prev)
	}

	// Not reading now.
	waitFor(t, 10*time.Second, "a resync", func() bool { return f.metric("kuaifan_stream_resyncs_total") >= 1 })

	after := 0
	for backlog := 0; after < 5; backlog++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		g, err := readFrameAs(ctx, slow, true)
		cancel()
		if err != nil {
			t.Fatalf("after %d frames of backlog: %v", backlog, err)
		}
		switch {
		case g.Type == kindSnapshot && after == 0:
			if g.Seq <= prev.Seq+1 {
				t.Fatalf("resync snapshot seq %d right after %d: a client cannot tell it was resynced", g.Seq, prev.Seq)
			}
			t.Logf("read %d frames of backlog, up to seq %d, then a snapshot at seq %d", backlog, prev.Seq, g.Seq)
			after = 1
		case g.Seq != prev.Seq+1 || g.Type != kindDelta:
			t.Fatalf("%s %d after %s %d", g.Type, g.Seq, prev.Type, prev.Seq)
		case after > 0:
			after++
		}
		prev = g
	}
	stop()
	if got := f.metric("kuaifan_stream_dropped_clients_total", "reason", dropTooSlow); got != 0 {
		t.Errorf("%v clients dropped; one that reads again within WriteTimeout stays", got)
	}
	frames := drainReader(healthy)
	for j := 1; j < len(frames); j++ {
		if frames[j].Seq != frames[j-1].Seq+1 {
			t.Fatalf("healthy client: seq %d after %d", frames[j].Seq, frames[j-1].Seq)
		}
	}
}

// drainReader takes what r has received so far.
func drainReader(r *reader) []got {
	var frames []got
	for {
		select {
		case g := <-r.frames:
			frames = append(frames, g)
		default:
			return frames
		}
	}
}

// isReset is a connection reset by the peer and the like, not a timeout.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !errors.Is(err, os.ErrDeadlineExceeded)
}
