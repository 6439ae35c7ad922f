// Package gps gives the agent its positions: one small Source interface over
// the receivers a patrol device actually has — NMEA 0183 from a serial port
// (cars' terminals, motorcycles' BeiDou boxes), a file or named pipe (replays,
// multiplexers), gpsd's JSON over TCP (handsets and terminals that already run
// gpsd) — and simulated receivers: a Sim that the simulator and tests move,
// and a Patrol that drives itself round a circle (agent -gps sim).
//
// A Source reports only usable positions: epochs without a fix (a tunnel, a
// cold start) and fixes worse than the Quality bound are skipped and counted,
// because a dispatcher routing the nearest unit is better served by a slightly
// older good position than by a fresh wrong one. Everything a receiver or a
// cable can get wrong — bad checksums, binary noise, truncated lines,
// non-standard fields — is skipped and counted too, and never stops a Source:
// the agent runs unattended for months.
package gps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"kuaifan/protocol"
)

// Fix is one usable position.
type Fix struct {
	Time       time.Time // GPS time (UTC) of the fix
	Lat, Lon   float64   // WGS-84 degrees
	AccM       float64   // horizontal accuracy estimate in metres (HDOP × UERE for NMEA, eph for gpsd); 0 if unknown
	SpeedMPS   float64   // ground speed, valid when HasMotion
	HeadingDeg float64   // course over ground, [0, 360), valid when HasMotion
	HasMotion  bool      // SpeedMPS/HeadingDeg are valid
	Sats       int       // satellites used, 0 if unknown
	HDOP       float64   // 0 if unknown
	Mode       Mode      // Mode2D or Mode3D
}

// Mode is the receiver's fix dimension.
type Mode int

// The fix modes. 2D and 3D carry the numbers NMEA's GSA and gpsd's TPV use;
// ModeNone is the zero value.
const (
	ModeNone Mode = 0
	Mode2D   Mode = 2
	Mode3D   Mode = 3
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case Mode2D:
		return "2D"
	case Mode3D:
		return "3D"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Quality is the bound a fix must meet to be reported as a position. A zero
// field takes its default; a negative one switches that check off. A check
// only applies when the receiver reports the value: a receiver that sends no
// HDOP is not held to MaxHDOP.
type Quality struct {
	MaxHDOP float64 // default 5: beyond it the geometry is too poor to place a unit in the right street
	MaxAccM float64 // default 50 m: the scale of a city block
	MinSats int     // default 4: fewer cannot give an honest 3D solution
}

// Default quality bounds (see Quality).
const (
	DefaultMaxHDOP = 5
	DefaultMaxAccM = 50
	DefaultMinSats = 4
)

func (q Quality) withDefaults() Quality {
	if q.MaxHDOP == 0 {
		q.MaxHDOP = DefaultMaxHDOP
	}
	if q.MaxAccM == 0 {
		q.MaxAccM = DefaultMaxAccM
	}
	if q.MinSats == 0 {
		q.MinSats = DefaultMinSats
	}
	return q
}

// meets reports whether f is good enough to report. q must have its defaults.
func (q Quality) meets(f Fix) bool {
	if q.MaxHDOP > 0 && f.HDOP > 0 && f.HDOP > q.MaxHDOP {
		return false
	}
	if q.MaxAccM > 0 && f.AccM > 0 && f.AccM > q.MaxAccM {
		return false
	}
	if q.MinSats > 0 && f.Sats > 0 && f.Sats < q.MinSats {
		return false
	}
	return true
}

// Source yields usable fixes. Next blocks until the next fix that meets the
// Quality bound, ctx is done (ctx.Err()), or the source ends (io.EOF); no fix
// and poor fixes are skipped (and counted). After Close, Next returns an error
// that matches fs.ErrClosed. Next is meant for one consumer; Stats and Close
// may be called from any goroutine.
type Source interface {
	Next(ctx context.Context) (Fix, error)
	Stats() Stats
	Close() error
}

// Stats counts what a Source has seen. For NMEA every line is exactly one of:
// a blank or '#' comment line, a Sentence, BadChecksum or Garbage; Unsupported
// sentences are counted among Sentences too. NoFix, Poor and Fixes count
// epochs (one per receiver cycle, however many sentences it took): without a
// fix, with a fix below the Quality bound, reported. For gpsd, lines are JSON
// reports and a TPV is an epoch.
type Stats struct {
	Lines       uint64 // lines read
	Sentences   uint64 // well-formed sentences (or gpsd reports)
	BadChecksum uint64 // NMEA lines whose checksum did not match
	Garbage     uint64 // lines that are not a well-formed sentence: noise, truncated, malformed fields, bad JSON
	Unsupported uint64 // well-formed sentences of a kind not used (GSV, VTG, proprietary...)
	NoFix       uint64 // epochs without a fix
	Poor        uint64 // fixes worse than the Quality bound, not reported
	Fixes       uint64 // fixes reported by Next (or queued for it)
}

// counters are the live Stats, written by a source's reader and read by anyone.
type counters struct {
	lines, sentences, badChecksum, garbage, unsupported, noFix, poor, fixes atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Lines:       c.lines.Load(),
		Sentences:   c.sentences.Load(),
		BadChecksum: c.badChecksum.Load(),
		Garbage:     c.garbage.Load(),
		Unsupported: c.unsupported.Load(),
		NoFix:       c.noFix.Load(),
		Poor:        c.poor.Load(),
		Fixes:       c.fixes.Load(),
	}
}

// Options configure a Source. The zero value is usable.
type Options struct {
	Quality Quality
	Baud    int          // serial ports; default 9600, NMEA 0183's standard rate
	Sim     SimConfig    // for "sim"
	Logger  *slog.Logger // default: discard
	// Patrol, for "sim", makes the receiver drive itself round this circle
	// (a *Patrol); nil leaves it to the caller to move (a *Sim).
	Patrol *Circle
	// Pace replays an NMEA source at the recorded rate (by the sentences'
	// times) instead of as fast as possible: a log file then drives a unit
	// across the map as the receiver once did.
	Pace bool
}

// DefaultBaud is NMEA 0183's standard serial rate.
const DefaultBaud = 9600

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// errClosed is what Next returns once the Source is closed.
var errClosed = fmt.Errorf("gps: source closed: %w", fs.ErrClosed)

// Open opens the source a spec names:
//
//	nmea:PATH        NMEA 0183 from a file, a named pipe, a character device
//	                 such as /dev/gnss0, or a serial port: a path under /dev/tty*
//	                 or /dev/serial/ (or a link to one) opens at opts.Baud
//	gpsd:HOST:PORT   gpsd's JSON protocol over TCP (PORT defaults to 2947)
//	sim              a simulated receiver configured by opts.Sim: a *Patrol
//	                 round opts.Patrol if set, else a *Sim the caller moves
func Open(spec string, opts Options) (Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "nmea":
		if arg == "" {
			return nil, fmt.Errorf("gps: %q: want nmea:PATH", spec)
		}
		return openNMEAPath(arg, opts)
	case "gpsd":
		addr, err := gpsdAddr(arg)
		if err != nil {
			return nil, fmt.Errorf("gps: %q: %w", spec, err)
		}
		return NewGPSD(context.Background(), addr, opts)
	case "sim":
		if arg != "" {
			return nil, fmt.Errorf("gps: %q: the sim source takes no argument (configure it with Options.Sim)", spec)
		}
		s := NewSim(opts.Sim)
		s.q = opts.Quality.withDefaults()
		if opts.Patrol != nil {
			return startPatrol(s, *opts.Patrol), nil
		}
		return s, nil
	}
	return nil, fmt.Errorf("gps: unknown source %q: want nmea:PATH, gpsd:HOST:PORT or sim", spec)
}

// gpsdAddr turns "HOST:PORT", "HOST" or "" into a dialable address; gpsd's
// registered port is 2947.
func gpsdAddr(arg string) (string, error) {
	if arg == "" {
		return "127.0.0.1:2947", nil
	}
	if _, _, err := net.SplitHostPort(arg); err == nil {
		return arg, nil
	}
	host := arg
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", fmt.Errorf("bad gpsd address %q: want HOST:PORT", arg)
	}
	return net.JoinHostPort(host, "2947"), nil
}

// validFix checks the invariants every reported Fix keeps, whatever the
// receiver sent: the last line of defence before a position leaves the package.
func validFix(f Fix) bool {
	if !finite(f.Lat) || !finite(f.Lon) || !protocol.ValidLatLon(f.Lat, f.Lon) {
		return false
	}
	if f.Time.IsZero() || !finite(f.AccM) || f.AccM < 0 || !finite(f.HDOP) || f.HDOP < 0 || f.Sats < 0 {
		return false
	}
	if f.HasMotion && (!finite(f.SpeedMPS) || f.SpeedMPS < 0 || !(f.HeadingDeg >= 0 && f.HeadingDeg < 360)) {
		return false
	}
	return f.Mode == Mode2D || f.Mode == Mode3D
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// normHeading maps any finite angle into [0, 360).
func normHeading(h float64) float64 {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	if h >= 360 { // -1e-20 + 360 rounds to 360
		h = 0
	}
	return h
}

// mailbox hands fixes from a live source's reader to Next, keeping only the
// newest: a dispatcher needs where the unit is now, so when Next falls behind
// a stale fix is replaced rather than queued (and the reader never stops
// reading, which would back up a serial line or get us dropped by gpsd).
// It has a single producer.
type mailbox chan Fix

func newMailbox() mailbox { return make(mailbox, 1) }

func (m mailbox) put(f Fix) {
	select {
	case m <- f:
	default:
		select {
		case <-m:
		default:
		}
		m <- f // the only producer: there is room now
	}
}

// recv is the body of every Next: a fix from ch, the end of the source (ch
// closed: end()), ctx done, or the source closed.
func recv(ctx context.Context, ch <-chan Fix, done <-chan struct{}, end func() error) (Fix, error) {
	select {
	case <-done:
		return Fix{}, errClosed
	default:
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return Fix{}, end()
		}
		return f, nil
	case <-ctx.Done():
		return Fix{}, ctx.Err()
	case <-done:
		return Fix{}, errClosed
	}
}

// endErr wraps the error a reader ended with; a clean end is io.EOF itself so
// callers can compare it.
func endErr(what string, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("gps: %s: %w", what, err)
}
