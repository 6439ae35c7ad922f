package gps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// sentence makes "$BODY*hh" with BODY's checksum, so cases stay readable.
func sentence(body string) string {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X", body, c)
}

// nmeaLines joins lines with CRLF; a line that starts with a talker (not '#',
// '$' or a raw marker) is a sentence body and gets its '$' and checksum.
func nmeaLines(ls ...string) string {
	var b strings.Builder
	for _, l := range ls {
		if raw, ok := strings.CutPrefix(l, "raw:"); ok {
			b.WriteString(raw)
		} else if l == "" || l[0] == '#' || l[0] == '$' {
			b.WriteString(l)
		} else {
			b.WriteString(sentence(l))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// dm is degrees and minutes as NMEA writes them, in degrees.
func dm(deg int, min float64) float64 {
	if deg < 0 {
		return float64(deg) - min/60
	}
	return float64(deg) + min/60
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// drain reads src to its end.
func drain(t testing.TB, src Source) []Fix {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var fixes []Fix
	for {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return fixes
		}
		if err != nil {
			t.Fatalf("Next after %d fixes: %v", len(fixes), err)
		}
		fixes = append(fixes, f)
	}
}

// decode runs input through NewNMEA to its end.
func decode(t testing.TB, input string, opts Options) ([]Fix, Stats) {
	t.Helper()
	src := NewNMEA(strings.NewReader(input), opts)
	defer src.Close()
	fixes := drain(t, src)
	return fixes, src.Stats()
}

// fixWant is what a test expects of a fix; zero fields are not checked
// unless named in the case.
type fixWant struct {
	time       string
	lat, lon   float64
	speedKn    float64
	heading    float64
	motion     bool
	hdop       float64
	sats       int
	mode       Mode
	accM       float64
	checkAcc   bool // accM is checked even if 0
	checkNoMot bool // HasMotion must be false
}

func checkFix(t *testing.T, what string, got Fix, w fixWant) {
	t.Helper()
	if w.time != "" && !got.Time.Equal(utc(w.time)) {
		t.Errorf("%s: time %s, want %s", what, got.Time.Format(time.RFC3339Nano), w.time)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("%s: time %v is not UTC", what, got.Time)
	}
	if math.Abs(got.Lat-w.lat) > 1e-9 || math.Abs(got.Lon-w.lon) > 1e-9 {
		t.Errorf("%s: at %.10f,%.10f, want %.10f,%.10f", what, got.Lat, got.Lon, w.lat, w.lon)
	}
	if w.motion {
		if !got.HasMotion || math.Abs(got.SpeedMPS-w.speedKn*1852/3600) > 1e-9 || math.Abs(got.HeadingDeg-w.heading) > 1e-9 {
			t.Errorf("%s: motion %v %.4f m/s %.2f°, want %.4f m/s %.2f°", what, got.HasMotion, got.SpeedMPS, got.HeadingDeg, w.speedKn*1852/3600, w.heading)
		}
	}
	if w.checkNoMot && got.HasMotion {
		t.Errorf("%s: has motion %+v, want none", what, got)
	}
	if w.hdop != 0 && math.Abs(got.HDOP-w.hdop) > 1e-9 {
		t.Errorf("%s: HDOP %v, want %v", what, got.HDOP, w.hdop)
	}
	if w.sats != 0 && got.Sats != w.sats {
		t.Errorf("%s: %d sats, want %d", what, got.Sats, w.sats)
	}
	if w.mode != 0 && got.Mode != w.mode {
		t.Errorf("%s: mode %v, want %v", what, got.Mode, w.mode)
	}
	if (w.accM != 0 || w.checkAcc) && math.Abs(got.AccM-w.accM) > 1e-9 {
		t.Errorf("%s: AccM %v, want %v", what, got.AccM, w.accM)
	}
	if !validFix(got) {
		t.Errorf("%s: invalid fix %+v", what, got)
	}
}

func TestOpenSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		spec, errHas string
	}{
		{"", "unknown source"},
		{"gps:/dev/ttyUSB0", "unknown source"},
		{"nmea", "want nmea:PATH"},
		{"nmea:", "want nmea:PATH"},
		{"nmea:" + filepath.Join(dir, "missing.nmea"), "no such file"},
		{"nmea:" + dir, "is a directory"},
		{"sim:fast", "takes no argument"},
		{"gpsd:[::1", "bad gpsd address"},
		{"gpsd:a:b:c", "bad gpsd address"},
		{"gpsd:[]", "bad gpsd address"},
		{"nmea:/dev/ttyNOPE", "open serial port /dev/ttyNOPE at 9600 baud"},
	} {
		src, err := Open(tc.spec, Options{})
		if err == nil {
			src.Close()
			t.Errorf("Open(%q) worked, want an error", tc.spec)
			continue
		}
		if !strings.Contains(err.Error(), tc.errHas) || !strings.HasPrefix(err.Error(), "gps: ") {
			t.Errorf("Open(%q) = %v, want a gps: error containing %q", tc.spec, err, tc.errHas)
		}
	}
}

// A serial port cannot be tested here; its open path is two calls, and a
// missing device must say so clearly.
func TestOpenSerialMissing(t *testing.T) {
	_, err := Open("nmea:/dev/ttyNOPE", Options{Baud: 115200})
	if err == nil {
		t.Fatal("opened /dev/ttyNOPE")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
	want := "gps: open serial port /dev/ttyNOPE at 115200 baud: "
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestIsSerialPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/dev/ttyUSB0":                      true,
		"/dev/ttyS1":                        true,
		"/dev/ttyAMA0":                      true,
		"/dev/serial/by-id/usb-u-blox_GNSS": true,
		"/dev/gnss0":                        false,
		"/tmp/ttyUSB0":                      false,
		"testdata/nofix.nmea":               false,
		"/dev/../dev/ttyUSB0":               true,
	} {
		if got := isSerialPath(path); got != want {
			t.Errorf("isSerialPath(%q) = %v, want %v", path, got, want)
		}
	}
	// A udev-style link to a tty is a serial port too.
	if _, err := os.Stat("/dev/tty"); err == nil {
		link := filepath.Join(t.TempDir(), "gps0")
		if err := os.Symlink("/dev/tty", link); err != nil {
			t.Fatal(err)
		}
		if !isSerialPath(link) {
			t.Errorf("isSerialPath(%s -> /dev/tty) = false", link)
		}
	}
}

func TestGPSDAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":               "127.0.0.1:2947",
		"gps.local":      "gps.local:2947",
		"10.0.0.5:3000":  "10.0.0.5:3000",
		"[::1]:2947":     "[::1]:2947",
		"[fe80::1]":      "[fe80::1]:2947",
		"localhost:2947": "localhost:2947",
		"::1":            "[::1]:2947",
	} {
		got, err := gpsdAddr(in)
		if err != nil || got != want {
			t.Errorf("gpsdAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOpenFile(t *testing.T) {
	src, err := Open("nmea:testdata/hemispheres.nmea", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n := len(drain(t, src)); n != 5 {
		t.Errorf("%d fixes, want 5", n)
	}
	// After the end, Next keeps saying so.
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end: %v, want io.EOF", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close: %v, want fs.ErrClosed", err)
	}
}

// A named pipe is opened without waiting for a writer, survives a writer
// that comes and goes, and Close unblocks a reader waiting on it.
func TestOpenFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gps.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	src, err := Open("nmea:"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	write := func(s string) {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, s); err != nil {
			t.Fatal(err)
		}
		w.Close() // the writer goes away; the source must not end
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	epoch := func(tod string) string {
		return nmeaLines(
			"GPRMC,"+tod+",A,2813.6920,N,11256.3280,E,0.0,0.0,140325,,,A",
			"GPGGA,"+tod+",2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,")
	}
	write(epoch("120000.00") + epoch("120001.00"))
	f, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The live source hands over the newest fix it has.
	if want := utc("2025-03-14T12:00:01Z"); !f.Time.Equal(want) && !f.Time.Equal(want.Add(-time.Second)) {
		t.Errorf("fix at %v", f.Time)
	}
	write(epoch("120002.00") + epoch("120003.00"))
	for f.Time.Before(utc("2025-03-14T12:00:03Z")) {
		if f, err = src.Next(ctx); err != nil {
			t.Fatalf("after the second writer: %v", err)
		}
	}
	// Nothing more is written: Next waits, and Close ends the wait.
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(context.Background())
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next across Close: %v, want fs.ErrClosed", err)
	}
}

// fakeClock is a clock tests drive: Sleep returns at once, moving time on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(d time.Duration, done <-chan struct{}) bool {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
