package stream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const testToken = "test-admin-token"

// memSource is a real in-memory Source: what a test sets is what the stream reads.
type memSource struct {
	mu        sync.Mutex
	units     map[string]any
	incidents map[string]any
}

var _ Source = (*memSource)(nil)

func newMemSource() *memSource {
	return &memSource{units: map[string]any{}, incidents: map[string]any{}}
}

func (m *memSource) Units(ids []string) []Item     { return m.pick(m.units, ids) }
func (m *memSource) Incidents(ids []string) []Item { return m.pick(m.incidents, ids) }

func (m *memSource) pick(all map[string]any, ids []string) []Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ids == nil {
		ids = slices.Sorted(maps.Keys(all))
	}
	items := make([]Item, 0, len(ids))
	for _, id := range ids {
		if v, ok := all[id]; ok {
			items = append(items, Item{ID: id, Value: v})
		}
	}
	return items
}

func (m *memSource) set(all map[string]any, id string, v any) {
	m.mu.Lock()
	if v == nil {
		delete(all, id)
	} else {
		all[id] = v
	}
	m.mu.Unlock()
}

// thing is what tests put in units and incidents.
type thing struct {
	ID  string `json:"id"`
	N   int    `json:"n"`
	Pad string `json:"pad,omitempty"`
}

// fakeClock is an injectable Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a running stream behind a real HTTP server.
type fixture struct {
	t   testing.TB
	s   *Stream
	src *memSource
	srv *httptest.Server
	reg *prometheus.Registry
	ws  string // ws://host/ws

	stop    context.CancelFunc
	stopped chan error
	primes  int // see inOneWindow
}

// newFixture starts a stream with cfg (Bearer, Registerer and Logger
// filled in if empty); adjust tunes the Stream before it runs.
func newFixture(t testing.TB, cfg Config, adjust ...func(*Stream)) *fixture {
	t.Helper()
	if cfg.Bearer == nil {
		cfg.Bearer = func(tok string) bool { return tok == testToken }
	}
	reg := prometheus.NewRegistry()
	if cfg.Registerer == nil {
		cfg.Registerer = reg
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := &fixture{t: t, src: newMemSource(), reg: reg, stopped: make(chan error, 1)}
	f.s = New(cfg, f.src)
	for _, a := range adjust {
		a(f.s)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", f.s)
	f.srv = httptest.NewServer(mux)
	f.ws = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"
	var ctx context.Context
	ctx, f.stop = context.WithCancel(context.Background())
	go func() { f.stopped <- f.s.Run(ctx) }()
	t.Cleanup(func() {
		f.shutdown(t)
		f.srv.Close()
	})
	return f
}

// shutdown ends Run and waits for it; again is a no-op.
func (f *fixture) shutdown(t testing.TB) {
	t.Helper()
	f.stop()
	select {
	case err, ok := <-f.stopped:
		if ok {
			close(f.stopped)
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context ending")
	}
}

func (f *fixture) setUnit(id string, v any) {
	f.src.set(f.src.units, id, v)
	f.s.UnitsChanged(id)
}

func (f *fixture) setIncident(id string, v any) {
	f.src.set(f.src.incidents, id, v)
	f.s.IncidentsChanged(id)
}

// metric reads one sample from the fixture's registry: a counter or gauge's
// value, or a histogram's count. labels are name, value pairs.
func (f *fixture) metric(name string, labels ...string) float64 {
	f.t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		f.t.Fatalf("gather: %v", err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	next:
		for _, m := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	f.t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// dialOpts are options for a test client.
type dialOpts struct {
	header   http.Header
	noAuth   bool
	compress bool // ask for permessage-deflate
	timeout  time.Duration
}

// dial opens a websocket to the fixture, as a tool would (Bearer) unless
// noAuth, and returns the handshake response even on failure.
func (f *fixture) dial(url string, o dialOpts) (*websocket.Conn, *http.Response, error) {
	h := o.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if !o.noAuth && h.Get("Authorization") == "" {
		h.Set("Authorization", "Bearer "+testToken)
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	// No idle connections left behind for goleak after a refused handshake.
	transport := &http.Transport{DisableKeepAlives: true}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: h, HTTPClient: &http.Client{Transport: transport}}
	if o.compress {
		opts.CompressionMode = websocket.CompressionContextTakeover
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if c != nil {
		c.SetReadLimit(-1) // snapshots are far bigger than the 32 KiB default
	}
	return c, resp, err
}

// connect dials and fails the test if the stream refuses; the connection
// is closed at the test's end.
func (f *fixture) connect(o dialOpts) *websocket.Conn {
	f.t.Helper()
	c, _, err := f.dial(f.ws, o)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	f.t.Cleanup(func() { c.CloseNow() })
	return c
}

// got is a received frame, decoded.
type got struct {
	Type             string   `json:"type"`
	Seq              uint64   `json:"seq"`
	TS               int64    `json:"ts"`
	Units            []thing  `json:"units"`
	Incidents        []thing  `json:"incidents"`
	RemovedUnits     []string `json:"removed_units"`
	RemovedIncidents []string `json:"removed_incidents"`

	raw []byte
	at  time.Time
}

func (g got) String() string {
	return fmt.Sprintf("%s seq=%d units=%v incidents=%v removed_units=%v removed_incidents=%v",
		g.Type, g.Seq, g.Units, g.Incidents, g.RemovedUnits, g.RemovedIncidents)
}

func readFrame(ctx context.Context, c *websocket.Conn) (got, error) {
	return readFrameAs(ctx, c, false)
}

// readFrameAs reads a frame; light decodes only its type and seq, which
// keeps a test's readers cheap under the race detector.
func readFrameAs(ctx context.Context, c *websocket.Conn, light bool) (got, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return got{}, err
	}
	g := got{raw: b, at: time.Now()}
	if typ != websocket.MessageText {
		return g, fmt.Errorf("message type %v, want text", typ)
	}
	if light {
		err = peekHeader(b, &g)
	} else {
		err = json.Unmarshal(b, &g)
	}
	if err != nil {
		return g, fmt.Errorf("frame %.200q: %w", b, err)
	}
	return g, nil
}

// peekHeader reads type and seq, the frame's first two members, and no further.
func peekHeader(b []byte, g *got) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var tok [5]json.Token
	for i := range tok {
		var err error
		if tok[i], err = d.Token(); err != nil {
			return err
		}
	}
	typ, ok1 := tok[2].(string)
	seq, ok2 := tok[4].(json.Number)
	n, err := strconv.ParseUint(string(seq), 10, 64)
	if tok[1] != "type" || tok[3] != "seq" || !ok1 || !ok2 || err != nil {
		return fmt.Errorf("frame does not start with type and seq: %v", tok)
	}
	g.Type, g.Seq = typ, n
	return nil
}

// next reads one frame within d or fails the test.
func next(t testing.TB, c *websocket.Conn, d time.Duration) got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	g, err := readFrame(ctx, c)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return g
}

// reader reads every frame of c on its own goroutine until c closes.
type reader struct {
	frames chan got
	done   chan struct{}
	err    error // why reading ended; valid after done

	// Kept by next and until.
	last  got
	count int
}

// next takes the next frame, waiting up to d.
func (r *reader) next(t testing.TB, d time.Duration) got {
	t.Helper()
	select {
	case g := <-r.frames:
		r.last = g
		r.count++
		return g
	case <-r.done:
		t.Fatalf("connection ended: %v", r.err)
	case <-time.After(d):
		t.Fatalf("no frame within %v", d)
	}
	return got{}
}

// inOneWindow makes change's calls land in one window and returns the delta
// they made, and the one before it. The first change after a quiet spell goes
// out at once and opens a window; a burst made right after that frame waits
// for the window's end. A machine too busy to finish the burst in time tries
// again (change must be idempotent).
func (f *fixture) inOneWindow(t testing.TB, r *reader, interval time.Duration, change func()) (prime, g got) {
	t.Helper()
	for attempt := range 5 {
		f.primes++
		want := thing{ID: "prime", N: f.primes}
		f.setUnit("prime", want)
		for prime = r.next(t, 2*time.Second); !slices.Contains(prime.Units, want); {
			prime = r.next(t, 2*time.Second)
		}
		change()
		if time.Now().UnixMilli() < prime.TS+interval.Milliseconds()-10 {
			return prime, r.next(t, 2*time.Second)
		}
		t.Logf("attempt %d: the burst ended after its window closed; again", attempt)
	}
	t.Fatal("the machine is too busy to make a burst within a window")
	return got{}, got{}
}

func startReader(t testing.TB, c *websocket.Conn) *reader { return startReaderAs(t, c, false) }

func startReaderAs(t testing.TB, c *websocket.Conn, light bool) *reader {
	r := &reader{frames: make(chan got, 100000), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			g, err := readFrameAs(context.Background(), c, light)
			if err != nil {
				r.err = err
				return
			}
			select {
			case r.frames <- g:
			default:
				r.err = errors.New("test reader overflowed")
				c.CloseNow()
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.CloseNow()
		<-r.done
	})
	return r
}

// rawClient is a websocket client at the TCP level: it does the handshake by
// hand and then reads only when told, if ever.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func (f *fixture) rawDial() *rawClient {
	f.t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	var key [16]byte
	rand.Read(key[:])
	req := "GET /ws HTTP/1.1\r\nHost: " + f.srv.Listener.Addr().String() + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n" +
		"Authorization: Bearer " + testToken + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		f.t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		f.t.Fatalf("raw handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		f.t.Fatalf("raw handshake: %s", resp.Status)
	}
	return &rawClient{conn: conn, br: br}
}

// readFrame reads one websocket frame (the server's are unmasked).
func (rc *rawClient) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(rc.br, payload)
	return h[0] & 0x0f, payload, err
}

// produce changes per units (of n, round robin, each padded with pad bytes)
// every tick until the returned stop is called.
func (f *fixture) produce(n, per int, every time.Duration, pad int) (stop func()) {
	padding := strings.Repeat("x", pad)
	for i := range n {
		id := fmt.Sprintf("p%05d", i)
		f.setUnit(id, thing{ID: id, Pad: padding})
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for k := 0; ; {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			for range per {
				id := fmt.Sprintf("p%05d", k%n)
				f.setUnit(id, thing{ID: id, N: k, Pad: padding})
				k++
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(quit)
		<-done
	})
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testWriter sends the stream's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
