package gps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"kuaifan/agent/internal/backoff"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"kuaifan/protocol"
)

// gpsd's JSON protocol (https://gpsd.gitlab.io/gpsd/gpsd_json.html): on
// connect gpsd sends VERSION; after ?WATCH it sends DEVICES and WATCH, then a
// TPV (time-position-velocity) report per receiver cycle and SKY reports with
// the satellites and DOPs.

const (
	gpsdWatch = `?WATCH={"enable":true,"json":true}` + "\n"
	// gpsdMaxLine bounds a report; SKY with every satellite in view of four
	// constellations is a few kilobytes.
	gpsdMaxLine = 64 << 10
	// gpsdIdle drops a connection that has said nothing this long: gpsd
	// reports every second while it has a receiver, and TCP keepalives alone
	// take many minutes to notice a dead peer on a cellular link.
	gpsdIdle = time.Minute
)

type gpsdConfig struct {
	backoff backoff.Backoff
	idle    time.Duration
	clk     clock
}

type gpsdSource struct {
	addr   string
	log    *slog.Logger
	q      Quality
	cfg    gpsdConfig
	stats  counters
	out    mailbox
	ctx    context.Context // the source's life: NewGPSD's ctx, ended by Close too
	cancel context.CancelFunc
	closed chan struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
	err       error // why the source ended; written before out is closed
}

// NewGPSD connects to gpsd at addr (HOST:PORT), asks it to stream JSON
// reports, and yields the TPV reports that carry a fix meeting opts.Quality.
// HDOP and satellite counts come from gpsd's SKY reports, AccM from the TPV's
// eph (or epx/epy). If the connection drops it reconnects with backoff until
// ctx is done or Close is called; the first connection must succeed, so a
// wrong address is reported at once.
func NewGPSD(ctx context.Context, addr string, opts Options) (Source, error) {
	return newGPSD(ctx, addr, opts, gpsdConfig{
		backoff: backoff.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second},
		idle:    gpsdIdle,
	})
}

func newGPSD(ctx context.Context, addr string, opts Options, cfg gpsdConfig) (*gpsdSource, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("gps: gpsd address %q: %w", addr, err)
	}
	if cfg.clk == nil {
		cfg.clk = realClock{}
	}
	s := &gpsdSource{
		addr:   addr,
		log:    opts.logger().With("gpsd", addr),
		q:      opts.Quality.withDefaults(),
		cfg:    cfg,
		out:    newMailbox(),
		closed: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	conn, err := s.dial()
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("gps: gpsd: %w", err)
	}
	s.wg.Add(1)
	go s.run(conn)
	return s, nil
}

func (s *gpsdSource) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	return d.DialContext(s.ctx, "tcp", s.addr)
}

func (s *gpsdSource) run(conn net.Conn) {
	defer s.wg.Done()
	defer close(s.out)
	for {
		if conn != nil {
			got, err := s.session(conn)
			if s.ctx.Err() != nil {
				break
			}
			if got {
				s.cfg.backoff.Reset()
			}
			s.log.Warn("gps: gpsd connection lost, reconnecting", "err", err)
		}
		if !s.cfg.clk.Sleep(s.cfg.backoff.Next(), s.ctx.Done()) {
			break
		}
		var err error
		if conn, err = s.dial(); err != nil {
			s.log.Debug("gps: gpsd reconnect failed", "err", err)
			conn = nil
			continue
		}
		s.log.Info("gps: gpsd reconnected")
	}
	s.err = fmt.Errorf("gps: gpsd %s: %w", s.addr, context.Cause(s.ctx))
}

// session speaks to one connection until it fails; got tells whether gpsd
// said anything at all (then the next reconnect need not back off far).
func (s *gpsdSource) session(conn net.Conn) (got bool, err error) {
	defer conn.Close()
	// Closing the connection is what unblocks its reads when the source ends.
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()

	if err := conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return false, err
	}
	if _, err := conn.Write([]byte(gpsdWatch)); err != nil {
		return false, fmt.Errorf("send WATCH: %w", err)
	}
	br := bufio.NewReaderSize(conn, gpsdMaxLine)
	var sky skyState
	long := false
	for {
		if err := conn.SetReadDeadline(time.Now().Add(s.cfg.idle)); err != nil {
			return got, err
		}
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			got = true
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !long {
				s.stats.lines.Add(1)
				s.stats.garbage.Add(1)
				long = true
			}
			continue
		case long:
			long = false
		case err == nil:
			s.handle(line, &sky)
		}
		if err != nil {
			return got, err // a partial last line is no report
		}
	}
}

func (s *gpsdSource) handle(line []byte, sky *skyState) {
	s.stats.lines.Add(1)
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	f, kind, r := decodeGPSD(line, sky)
	if kind != gpsdGarbage {
		s.stats.sentences.Add(1)
	}
	switch kind {
	case gpsdGarbage:
		s.stats.garbage.Add(1)
		s.log.Debug("gps: gpsd garbage", "line", string(line))
	case gpsdOther:
		s.stats.unsupported.Add(1)
		switch r.Class {
		case "VERSION":
			s.log.Info("gps: gpsd connected", "release", r.Release)
		case "ERROR":
			s.log.Warn("gps: gpsd error", "message", r.Message)
		}
	case gpsdNoFix:
		s.stats.noFix.Add(1)
	case gpsdFix:
		if !s.q.meets(f) {
			s.stats.poor.Add(1)
			return
		}
		s.stats.fixes.Add(1)
		s.out.put(f)
	}
}

func (s *gpsdSource) Next(ctx context.Context) (Fix, error) {
	return recv(ctx, s.out, s.closed, func() error {
		select {
		case <-s.closed:
			return errClosed
		default:
			return s.err
		}
	})
}

func (s *gpsdSource) Stats() Stats { return s.stats.snapshot() }

func (s *gpsdSource) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

// gpsdReport is the union of the report classes used.
type gpsdReport struct {
	Class string `json:"class"`
	// TPV
	Mode  int      `json:"mode"`
	Time  string   `json:"time"`
	Lat   *float64 `json:"lat"`
	Lon   *float64 `json:"lon"`
	Eph   *float64 `json:"eph"`
	Epx   *float64 `json:"epx"`
	Epy   *float64 `json:"epy"`
	Speed *float64 `json:"speed"`
	Track *float64 `json:"track"`
	// SKY
	HDOP       *float64 `json:"hdop"`
	USat       *int     `json:"uSat"`
	Satellites []struct {
		Used bool `json:"used"`
	} `json:"satellites"`
	// VERSION, ERROR
	Release string `json:"release"`
	Message string `json:"message"`
}

// skyState is the latest SKY of a connection: gpsd sends SKY less often than
// TPV, so each TPV takes the DOP and satellite count last reported.
type skyState struct {
	hdop float64
	sats int
}

type gpsdKind int

const (
	gpsdGarbage gpsdKind = iota // not a gpsd report
	gpsdOther                   // a report not used for positions
	gpsdSky                     // a SKY, folded into sky
	gpsdNoFix                   // a TPV without a usable fix
	gpsdFix                     // a TPV with a fix (not yet held to the quality bound)
)

// decodeGPSD decodes one report line.
func decodeGPSD(line []byte, sky *skyState) (Fix, gpsdKind, *gpsdReport) {
	var r gpsdReport
	if err := json.Unmarshal(line, &r); err != nil || r.Class == "" {
		return Fix{}, gpsdGarbage, nil
	}
	switch r.Class {
	case "SKY":
		if r.HDOP != nil && finite(*r.HDOP) && *r.HDOP > 0 {
			sky.hdop = *r.HDOP
		}
		switch {
		case r.USat != nil && *r.USat >= 0:
			sky.sats = *r.USat
		case len(r.Satellites) > 0:
			n := 0
			for _, sat := range r.Satellites {
				if sat.Used {
					n++
				}
			}
			sky.sats = n
		}
		return Fix{}, gpsdSky, &r
	case "TPV":
	default:
		return Fix{}, gpsdOther, &r
	}
	if r.Mode < 2 || r.Lat == nil || r.Lon == nil || r.Time == "" {
		return Fix{}, gpsdNoFix, &r // mode 0 unknown, 1 no fix
	}
	t, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return Fix{}, gpsdGarbage, &r
	}
	f := Fix{Time: t.UTC(), Lat: *r.Lat, Lon: *r.Lon, HDOP: sky.hdop, Sats: sky.sats, Mode: Mode2D}
	if !protocol.ValidLatLon(f.Lat, f.Lon) {
		return Fix{}, gpsdGarbage, &r
	}
	if r.Mode >= 3 {
		f.Mode = Mode3D
	}
	// gpsd's eph is its horizontal error estimate; older gpsd sends only the
	// per-axis epx and epy.
	switch {
	case nonNeg(r.Eph):
		f.AccM = *r.Eph
	case nonNeg(r.Epx) && nonNeg(r.Epy):
		f.AccM = math.Hypot(*r.Epx, *r.Epy)
	}
	if nonNeg(r.Speed) && r.Track != nil && finite(*r.Track) {
		f.SpeedMPS, f.HeadingDeg, f.HasMotion = *r.Speed, normHeading(*r.Track), true
	}
	if !finite(f.AccM) || !validFix(f) {
		return Fix{}, gpsdGarbage, &r
	}
	return f, gpsdFix, &r
}

func nonNeg(p *float64) bool { return p != nil && finite(*p) && *p >= 0 }
