package gps

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// checkReported holds a fix that left a Source to the package's promises.
func checkReported(t *testing.T, f Fix, q Quality) {
	t.Helper()
	if !validFix(f) {
		t.Fatalf("invalid fix %+v", f)
	}
	if f.HeadingDeg < 0 || f.HeadingDeg >= 360 || f.SpeedMPS < 0 || math.IsNaN(f.SpeedMPS) {
		t.Fatalf("bad motion in %+v", f)
	}
	if !q.meets(f) {
		t.Fatalf("fix %+v does not meet %+v", f, q)
	}
}

// seedFiles adds the captures (when present) and testdata as seeds, a few
// lines at a time: whole files make big inputs, and the fuzzer then spends
// its time minimising them instead of exploring.
func seedFiles(f *testing.F, patterns ...string) {
	const chunk = 2
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				continue
			}
			lines := bytes.SplitAfter(data, []byte("\n"))
			for i := 0; i < len(lines); i += chunk {
				f.Add(bytes.Join(lines[i:min(i+chunk, len(lines))], nil))
			}
		}
	}
}

// sharedCaptures is gnssDir without skipping: seeds are optional.
func sharedCaptures() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "..", "shared", "gnss", "*.log")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func FuzzNMEA(f *testing.F) {
	seedFiles(f, "testdata/*.nmea", sharedCaptures())
	for _, s := range []string{
		"",
		sentence("GPRMC,100000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A"),
		nmeaLines("GPGGA,235959.99,9000.0000,S,18000.0000,W,6,99,0.1,,M,,M,,", "GPRMC,000000.00,A,0000.0000,N,00000.0000,E,999999,359.9999,290224,,,A"),
		nmeaLines("GPGSA,A,3,01,02,03,04,05,06,07,08,09,10,11,12,1.0,1.0,1.0,9.9", "GNRMC,120000,A,0000.00000001,S,00000.00000001,W,,,010100,,,D"),
		"$GPRMC,100000.00,A,2813.6920,N*00\r\n\x00\xff$$$***\n\n\r\r",
	} {
		f.Add([]byte(s))
	}
	q := Quality{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		src := NewNMEA(bytes.NewReader(data), Options{})
		defer src.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n := 0
		for {
			fix, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			checkReported(t, fix, q)
			// RMC's two-digit year is 20YY; without one the date is the clock's.
			if y := fix.Time.Year(); y < 1999 || y > 2100 {
				t.Fatalf("fix in the year %d: %+v", y, fix)
			}
			n++
		}
		st := src.Stats()
		if st.Fixes != uint64(n) {
			t.Fatalf("%d fixes reported, stats say %d", n, st.Fixes)
		}
		if st.Sentences+st.BadChecksum+st.Garbage > st.Lines || st.Unsupported > st.Sentences {
			t.Fatalf("inconsistent stats %+v", st)
		}
	})
}

func FuzzGPSD(f *testing.F) {
	for _, s := range []string{
		gpsdVersion, gpsdDevices, gpsdWatchOK,
		`{"class":"TPV","device":"/dev/ttyUSB0","mode":3,"time":"2025-03-14T02:15:01.000Z","ept":0.005,"lat":28.2282,"lon":112.9388,"altHAE":40.1,"eph":4.5,"epx":3.1,"epy":3.3,"track":87.3,"speed":6.43,"climb":0.0}`,
		`{"class":"TPV","mode":2,"time":"2025-03-14T10:15:01+08:00","lat":-90,"lon":180,"epx":1e308,"epy":1e308,"track":-720,"speed":0}`,
		`{"class":"TPV","mode":1}`,
		`{"class":"SKY","hdop":1.2,"uSat":9,"satellites":[{"PRN":2,"used":true}]}` + "\n" +
			`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1,"lon":2}`,
		`{"class":"ERROR","message":"unrecognized"}`,
		`{"class":"TPV","mode":3,"time":"2025-03-14T02:15:01Z","lat":1e400,"lon":2}`,
	} {
		f.Add([]byte(s))
	}
	q := Quality{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		var sky skyState
		for _, line := range bytes.Split(data, []byte("\n")) {
			fix, kind, _ := decodeGPSD(line, &sky)
			if kind == gpsdFix {
				if !validFix(fix) {
					t.Fatalf("invalid fix %+v from %q", fix, line)
				}
				if q.meets(fix) {
					checkReported(t, fix, q)
				}
			} else if fix != (Fix{}) {
				t.Fatalf("kind %v with a fix %+v", kind, fix)
			}
			if sky.hdop < 0 || math.IsNaN(sky.hdop) || math.IsInf(sky.hdop, 0) || sky.sats < 0 {
				t.Fatalf("sky state %+v from %q", sky, line)
			}
		}
	})
}
