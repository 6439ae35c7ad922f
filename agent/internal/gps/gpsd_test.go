package gps

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"kuaifan/agent/internal/backoff"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGPSD speaks gpsd's side of the protocol: on connect it sends VERSION,
// expects the client's ?WATCH, answers DEVICES and WATCH, and then hands the
// connection to the test, which sends reports and drops it at will.
type fakeGPSD struct {
	t     *testing.T
	ln    net.Listener
	conns chan gpsdClient
	quit  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu  sync.Mutex
	all []net.Conn
}

// gpsdClient is a connection that has been through the handshake, and the
// command the client sent in it.
type gpsdClient struct {
	conn net.Conn
	cmd  string
}

const (
	gpsdVersion = `{"class":"VERSION","release":"3.25","rev":"3.25","proto_major":3,"proto_minor":15}`
	gpsdDevices = `{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyUSB0","driver":"NMEA0183","activated":"2025-03-14T02:15:00.000Z","flags":1,"native":0,"bps":9600,"parity":"N","stopbits":1,"cycle":1.00}]}`
	gpsdWatchOK = `{"class":"WATCH","enable":true,"json":true,"nmea":false,"raw":0,"scaled":false,"timing":false,"split24":false,"pps":false}`
)

func startFakeGPSD(t *testing.T) *fakeGPSD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFakeGPSD(t, ln)
}

func serveFakeGPSD(t *testing.T, ln net.Listener) *fakeGPSD {
	g := &fakeGPSD{t: t, ln: ln, conns: make(chan gpsdClient), quit: make(chan struct{})}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(g.stop)
	return g
}

func (g *fakeGPSD) addr() string { return g.ln.Addr().String() }

func (g *fakeGPSD) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		g.all = append(g.all, c)
		g.mu.Unlock()
		g.wg.Add(1)
		go g.handshake(c)
	}
}

// handshake is gpsd's side of a connection's start. A client that goes away
// during it is simply dropped: accept checks what the ones that stay sent.
func (g *fakeGPSD) handshake(c net.Conn) {
	defer g.wg.Done()
	io.WriteString(c, gpsdVersion+"\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	cmd, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	io.WriteString(c, gpsdDevices+"\n"+gpsdWatchOK+"\n")
	select {
	case g.conns <- gpsdClient{c, cmd}:
	case <-g.quit:
		c.Close()
	}
}

func (g *fakeGPSD) stop() {
	g.once.Do(func() { close(g.quit) })
	g.ln.Close()
	g.mu.Lock()
	for _, c := range g.all {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// accept waits for the next client to have said ?WATCH.
func (g *fakeGPSD) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-g.conns:
		if c.cmd != `?WATCH={"enable":true,"json":true}`+"\n" {
			t.Errorf("client sent %q, want ?WATCH", c.cmd)
		}
		return c.conn
	case <-time.After(5 * time.Second):
		t.Fatal("no client connected to the fake gpsd")
		return nil
	}
}

func send(t *testing.T, c net.Conn, lines ...string) {
	t.Helper()
	if _, err := io.WriteString(c, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatalf("fake gpsd write: %v", err)
	}
}

func fastGPSD() gpsdConfig {
	return gpsdConfig{backoff: backoff.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}, idle: time.Minute}
}

func TestGPSD(t *testing.T) {
	g := startFakeGPSD(t)
	src, err := newGPSD(context.Background(), g.addr(), Options{}, fastGPSD())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c1 := g.accept(t)
	send(t, c1,
		`{"class":"SKY","device":"/dev/ttyUSB0","hdop":1.2,"pdop":2.1,"nSat":14,"uSat":9,"satellites":[{"PRN":2,"used":true}]}`,
		`{"class":"TPV","device":"/dev/ttyUSB0","mode":1}`,
		`{"class":"TPV","device":"/dev/ttyUSB0","mode":0,"time":"2025-03-14T02:15:00.000Z"}`,
		`{"class":"TPV","device":"/dev/ttyUSB0","mode":3,"time":"2025-03-14T02:15:01.000Z","ept":0.005,"lat":28.2282,"lon":112.9388,"altHAE":40.1,"eph":4.5,"epx":3.1,"epy":3.3,"track":87.3,"speed":6.43,"climb":0.0}`)
	f, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFix(t, "TPV A", f, fixWant{time: "2025-03-14T02:15:01Z", lat: 28.2282, lon: 112.9388,
		hdop: 1.2, sats: 9, mode: Mode3D, accM: 4.5})
	if !f.HasMotion || f.SpeedMPS != 6.43 || f.HeadingDeg != 87.3 {
		t.Errorf("TPV A motion: %+v", f)
	}

	send(t, c1,
		`this is not JSON`,
		`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:02.000Z","lat":28.2283,"lon":112.9389,"eph":120.0}`,
		// Older gpsd: no eph, only epx/epy; a track past 360.
		`{"class":"TPV","mode":2,"time":"2025-03-14T02:15:03.500Z","lat":-34.6,"lon":-58.38,"epx":3.0,"epy":4.0,"track":370,"speed":1.5}`)
	f, err = src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFix(t, "TPV B", f, fixWant{time: "2025-03-14T02:15:03.5Z", lat: -34.6, lon: -58.38, mode: Mode2D, accM: 5})
	if math.Abs(f.HeadingDeg-10) > 1e-9 {
		t.Errorf("track 370 gave heading %v, want 10", f.HeadingDeg)
	}
	want := Stats{Lines: 10, Sentences: 9, Garbage: 1, Unsupported: 3, NoFix: 2, Poor: 1, Fixes: 2}
	if st := src.Stats(); st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}

	// gpsd goes away; the source reconnects and carries on. The SKY of the
	// old connection does not carry over.
	c1.Close()
	c2 := g.accept(t)
	send(t, c2, `{"class":"TPV","mode":3,"time":"2025-03-14T02:15:10.000Z","lat":28.2290,"lon":112.9400}`)
	f, err = src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFix(t, "TPV C", f, fixWant{time: "2025-03-14T02:15:10Z", lat: 28.2290, lon: 112.9400, checkAcc: true, checkNoMot: true})
	if f.HDOP != 0 || f.Sats != 0 {
		t.Errorf("TPV C took an old connection's SKY: %+v", f)
	}

	// Close stops everything: the connection is dropped, Next says closed.
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Close the client's connection reads %v, want EOF", err)
	}
	if _, err := src.Next(ctx); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close: %v, want fs.ErrClosed", err)
	}
}

// A live source hands over the newest fix: a slow reader is not fed a
// backlog of old positions.
func TestGPSDNewestFix(t *testing.T) {
	g := startFakeGPSD(t)
	src, err := newGPSD(context.Background(), g.addr(), Options{}, fastGPSD())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := g.accept(t)
	var lines []string
	for i := range 50 {
		lines = append(lines, `{"class":"TPV","mode":3,"time":"2025-03-14T02:16:`+twoDigits(i)+`.000Z","lat":28.2282,"lon":112.9388}`)
	}
	send(t, c, lines...)
	deadline := time.Now().Add(5 * time.Second)
	for src.Stats().Fixes < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", src.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	f, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := utc("2025-03-14T02:16:49Z"); !f.Time.Equal(want) {
		t.Errorf("Next gave the fix at %v, want the newest, %v", f.Time, want)
	}
}

func twoDigits(i int) string { return string([]byte{byte('0' + i/10), byte('0' + i%10)}) }

// A connection that goes silent (a dead peer across a cellular link) is
// dropped and made again.
func TestGPSDIdleReconnect(t *testing.T) {
	g := startFakeGPSD(t)
	cfg := fastGPSD()
	cfg.idle = 30 * time.Millisecond
	src, err := newGPSD(context.Background(), g.addr(), Options{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	g.accept(t)
	g.accept(t) // the second connection, after the first went quiet
}

// While gpsd is down the source keeps trying; it comes back when gpsd does.
func TestGPSDServerRestart(t *testing.T) {
	g := startFakeGPSD(t)
	addr := g.addr()
	src, err := newGPSD(context.Background(), addr, Options{}, fastGPSD())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	g.accept(t)
	g.stop() // gpsd stops: connection and listener gone
	time.Sleep(30 * time.Millisecond)
	ln, err := net.Listen("tcp", addr) // and starts again on its port
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	g2 := serveFakeGPSD(t, ln)
	c := g2.accept(t)
	send(t, c, `{"class":"TPV","mode":3,"time":"2025-03-14T02:17:00.000Z","lat":28.2282,"lon":112.9388}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := src.Next(ctx); err != nil {
		t.Fatalf("after gpsd restarted: %v", err)
	}
}

func TestGPSDRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = NewGPSD(context.Background(), addr, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "gps: gpsd: ") || !strings.Contains(err.Error(), addr) {
		t.Errorf("NewGPSD to a closed port: %v", err)
	}
	if _, err := NewGPSD(context.Background(), "no-port", Options{}); err == nil || !strings.Contains(err.Error(), "gps: gpsd address") {
		t.Errorf("NewGPSD without a port: %v", err)
	}
}

// The context given to NewGPSD bounds the source's life; Next's own context
// bounds one wait.
func TestGPSDContexts(t *testing.T) {
	g := startFakeGPSD(t)
	life, end := context.WithCancel(context.Background())
	src, err := NewGPSD(life, g.addr(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	g.accept(t)
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := src.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with nothing to say: %v, want DeadlineExceeded", err)
	}
	end()
	if _, err := src.Next(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after the source's context ended: %v, want context.Canceled", err)
	}
}

func TestDecodeGPSD(t *testing.T) {
	for _, tc := range []struct {
		line string
		kind gpsdKind
		want Fix
	}{
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01.250Z","lat":28.2282,"lon":112.9388,"eph":7.5,"speed":0,"track":0}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01.25Z"), Lat: 28.2282, Lon: 112.9388, AccM: 7.5, HasMotion: true, Mode: Mode3D}},
		{`{"class":"TPV","mode":2,"time":"2025-03-14T10:15:01+08:00","lat":-90,"lon":180}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01Z"), Lat: -90, Lon: 180, Mode: Mode2D}},
		// speed without a track, a negative speed: no motion
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2,"speed":3}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01Z"), Lat: 1, Lon: 2, Mode: Mode3D}},
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2,"speed":-3,"track":10}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01Z"), Lat: 1, Lon: 2, Mode: Mode3D}},
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2,"eph":-1,"epx":-1,"epy":2}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01Z"), Lat: 1, Lon: 2, Mode: Mode3D}},
		{`{"class":"TPV","mode":1,"time":"2025-03-14T02:15:01Z"}`, gpsdNoFix, Fix{}},
		{`{"class":"TPV","mode":3,"lat":1,"lon":2}`, gpsdNoFix, Fix{}},                       // no time
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1}`, gpsdNoFix, Fix{}}, // no lon
		{`{"class":"TPV","mode":3,"time":"yesterday","lat":1,"lon":2}`, gpsdGarbage, Fix{}},  // bad time
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":91,"lon":2}`, gpsdGarbage, Fix{}},
		{`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2,"eph":1e308,"epx":1e308}`, gpsdFix,
			Fix{Time: utc("2025-03-14T02:15:01Z"), Lat: 1, Lon: 2, AccM: 1e308, Mode: Mode3D}},
		{`{"class":"TPV","mode":"3"}`, gpsdGarbage, Fix{}},
		{`{"class":"TPV","mode":3,"time":"0001-01-01T00:00:00Z","lat":1,"lon":2}`, gpsdGarbage, Fix{}},
		{`{}`, gpsdGarbage, Fix{}},
		{`[]`, gpsdGarbage, Fix{}},
		{`{"class":"PPS","real_sec":1}`, gpsdOther, Fix{}},
		{`{"class":"ERROR","message":"unrecognized request"}`, gpsdOther, Fix{}},
		{`{"class":"SKY","hdop":1.5,"satellites":[{"used":true},{"used":false},{"used":true}]}`, gpsdSky, Fix{}},
	} {
		var sky skyState
		got, kind, _ := decodeGPSD([]byte(tc.line), &sky)
		if kind != tc.kind || got != tc.want {
			t.Errorf("%s\n got %v %+v\nwant %v %+v", tc.line, kind, got, tc.kind, tc.want)
		}
	}
	// SKY fills in what the next TPVs lack: HDOP and satellites used.
	var sky skyState
	decodeGPSD([]byte(`{"class":"SKY","hdop":1.5,"satellites":[{"used":true},{"used":false},{"used":true}]}`), &sky)
	f, _, _ := decodeGPSD([]byte(`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2}`), &sky)
	if f.HDOP != 1.5 || f.Sats != 2 {
		t.Errorf("after SKY: %+v", f)
	}
	decodeGPSD([]byte(`{"class":"SKY","uSat":7}`), &sky) // uSat wins; an absent hdop keeps the last
	f, _, _ = decodeGPSD([]byte(`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:02Z","lat":1,"lon":2}`), &sky)
	if f.HDOP != 1.5 || f.Sats != 7 {
		t.Errorf("after the second SKY: %+v", f)
	}
}
