package gps

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"kuaifan/agent/internal/backoff"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"
)

// maxLine is the longest NMEA line read; the standard's limit is 82
// characters and a longer line (binary noise without a newline) is counted as
// garbage and skipped up to its end.
const maxLine = 1024

// nmeaConfig is how a path's kind of input is read.
type nmeaConfig struct {
	// live inputs (serial ports, pipes, devices) hand Next only the newest
	// fix; files and plain readers hand over every one, in order.
	live bool
	// reopen, if set, reopens the input after a read error (a USB receiver
	// shaken loose on a motorcycle) with backoff, until Close.
	reopen  func() (io.ReadCloser, error)
	clk     clock
	backoff backoff.Backoff
	now     func() time.Time // for the assembler; nil: clk.Now
}

// nmeaSource reads NMEA lines on its own goroutine (so Next can honour its
// context while a read blocks) and hands fixes to Next over out.
type nmeaSource struct {
	log   *slog.Logger
	stats counters
	cfg   nmeaConfig
	pace  bool
	out   chan Fix
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	in     io.Reader // the current input, closed by Close if it can be
	closed bool

	closeOnce sync.Once
	closeErr  error
	err       error // why the input ended; written before out is closed
}

// NewNMEA decodes NMEA 0183 from r. Every fix that meets opts.Quality is
// handed to Next, in order; at the end of r Next returns io.EOF. Close closes
// r if it is an io.Closer (which is what unblocks a pending read) and waits
// for the reading goroutine: a reader that blocks and cannot be closed keeps
// Close waiting until its Read returns.
func NewNMEA(r io.Reader, opts Options) Source {
	return newNMEA(r, opts, nmeaConfig{})
}

func newNMEA(r io.Reader, opts Options, cfg nmeaConfig) *nmeaSource {
	if cfg.clk == nil {
		cfg.clk = realClock{}
	}
	s := &nmeaSource{log: opts.logger(), cfg: cfg, pace: opts.Pace, in: r, done: make(chan struct{})}
	if cfg.live {
		s.out = newMailbox()
	} else {
		s.out = make(chan Fix)
	}
	a := newAssembler(opts.Quality, &s.stats, s.log, s.send)
	if cfg.now != nil {
		a.now = cfg.now
	} else {
		a.now = cfg.clk.Now
	}
	if s.pace {
		p := &pacer{clk: cfg.clk, done: s.done}
		a.onEpoch = p.epoch
	}
	s.wg.Add(1)
	go s.run(a, r)
	return s
}

func (s *nmeaSource) send(f Fix) {
	if s.cfg.live {
		mailbox(s.out).put(f)
		return
	}
	select {
	case s.out <- f:
	case <-s.done:
	}
}

func (s *nmeaSource) run(a *assembler, r io.Reader) {
	defer s.wg.Done()
	defer close(s.out)
	for {
		before := s.stats.lines.Load()
		err := s.readLines(a, r)
		a.flush()
		if s.isClosed() {
			return
		}
		if s.cfg.reopen == nil {
			s.err = endErr("nmea read", err)
			return
		}
		if s.stats.lines.Load() != before {
			s.cfg.backoff.Reset() // it worked for a while: come back quickly
		}
		s.log.Warn("gps: nmea input failed, reopening", "err", err)
		if r = s.reopen(); r == nil {
			return // closed meanwhile
		}
		a.cur = nil // a half-read epoch from before the gap is stale
	}
}

// reopen opens the input again, with backoff, until it works or the source
// is closed (then it returns nil).
func (s *nmeaSource) reopen() io.Reader {
	b := &s.cfg.backoff
	for {
		if !s.cfg.clk.Sleep(b.Next(), s.done) {
			return nil
		}
		rc, err := s.cfg.reopen()
		if err != nil {
			s.log.Debug("gps: nmea reopen failed", "err", err)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			rc.Close()
			return nil
		}
		s.in = rc
		s.mu.Unlock()
		s.log.Info("gps: nmea input reopened")
		return rc
	}
}

// readLines feeds r's lines to a until r fails or the source is closed.
func (s *nmeaSource) readLines(a *assembler, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	long := false // in the middle of skipping an over-long line
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !long {
				s.stats.lines.Add(1)
				s.stats.garbage.Add(1)
				long = true
			}
			continue
		case long:
			long = false // the tail of the long line: already counted
		case len(line) > 0:
			a.feed(line)
		}
		if err != nil {
			return err
		}
		if s.isClosed() {
			return nil
		}
	}
}

func (s *nmeaSource) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *nmeaSource) Next(ctx context.Context) (Fix, error) {
	return recv(ctx, s.out, s.done, func() error {
		if s.isClosed() {
			return errClosed
		}
		return s.err
	})
}

func (s *nmeaSource) Stats() Stats { return s.stats.snapshot() }

func (s *nmeaSource) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		if c, ok := s.in.(io.Closer); ok {
			if err := c.Close(); err != nil {
				s.closeErr = fmt.Errorf("gps: close nmea input: %w", err)
			}
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s.closeErr
}

// reopenBackoff paces reopening a device that went away.
func reopenBackoff() backoff.Backoff {
	return backoff.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}
}

// openNMEAPath opens "nmea:PATH" by what PATH is.
func openNMEAPath(path string, opts Options) (Source, error) {
	if isSerialPath(path) {
		baud := opts.Baud
		if baud <= 0 {
			baud = DefaultBaud
		}
		open := func() (io.ReadCloser, error) { return openSerial(path, baud) }
		port, err := open()
		if err != nil {
			return nil, err
		}
		return newNMEA(port, opts, nmeaConfig{live: true, reopen: open, backoff: reopenBackoff()}), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gps: nmea source: %w", err)
	}
	switch mode := fi.Mode(); {
	case mode&fs.ModeNamedPipe != 0:
		// Opened read-write: opening a FIFO read-only blocks until a writer
		// appears (and cannot be cancelled), and a writer that restarts would
		// end the stream with EOF. Holding a write end ourselves avoids both.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("gps: nmea source: %w", err)
		}
		return newNMEA(f, opts, nmeaConfig{live: true}), nil
	case mode&fs.ModeCharDevice != 0:
		// A device that is not a tty, such as Linux's GNSS subsystem's
		// /dev/gnss0: read as is, and reopened if it goes away.
		open := func() (io.ReadCloser, error) { return os.Open(path) }
		f, err := open()
		if err != nil {
			return nil, fmt.Errorf("gps: nmea source: %w", err)
		}
		return newNMEA(f, opts, nmeaConfig{live: true, reopen: open, backoff: reopenBackoff()}), nil
	case mode.IsDir():
		return nil, fmt.Errorf("gps: nmea source %s: is a directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gps: nmea source: %w", err)
	}
	return newNMEA(f, opts, nmeaConfig{}), nil
}

// isSerialPath tells serial ports by name, following links such as
// /dev/gps0 -> ttyUSB0 that udev rules create.
func isSerialPath(path string) bool {
	serialName := func(p string) bool {
		return strings.HasPrefix(p, "/dev/tty") || strings.HasPrefix(p, "/dev/serial/")
	}
	if serialName(filepath.Clean(path)) {
		return true
	}
	real, err := filepath.EvalSymlinks(path)
	return err == nil && serialName(real)
}

// openSerial opens a serial port in raw 8N1 at baud.
func openSerial(path string, baud int) (io.ReadCloser, error) {
	port, err := serial.Open(path, &serial.Mode{
		BaudRate: baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("gps: open serial port %s at %d baud: %w", path, baud, err)
	}
	return port, nil
}
