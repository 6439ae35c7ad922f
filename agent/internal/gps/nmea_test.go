package gps

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"kuaifan/agent/internal/backoff"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gnssDir finds the shared receiver captures: ../shared/gnss next to the
// folder that holds go.work. Missing, they skip the test, except in CI.
func gnssDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			dir = ""
			break
		}
		dir = parent
	}
	if dir != "" {
		g := filepath.Join(dir, "..", "shared", "gnss")
		if fi, err := os.Stat(g); err == nil && fi.IsDir() {
			return g
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the receiver captures (../shared/gnss beside go.work) are missing")
	}
	t.Skip("no ../shared/gnss beside go.work")
	return ""
}

type fileCase struct {
	file        string
	fixes       int
	stats       Stats
	first, last fixWant
	extra       func(t *testing.T, fixes []Fix)
}

func runFileCase(t *testing.T, path string, tc fileCase, opts Options) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixes, st := decode(t, string(data), opts)
	if len(fixes) != tc.fixes {
		for i, f := range fixes {
			t.Logf("fix %d: %+v", i, f)
		}
		t.Fatalf("%d fixes, want %d", len(fixes), tc.fixes)
	}
	if st != tc.stats {
		t.Errorf("stats\n got %+v\nwant %+v", st, tc.stats)
	}
	checkFix(t, "first fix", fixes[0], tc.first)
	checkFix(t, "last fix", fixes[len(fixes)-1], tc.last)
	for i := 1; i < len(fixes); i++ {
		if !fixes[i].Time.After(fixes[i-1].Time) {
			t.Errorf("fix %d at %v is not after fix %d at %v", i, fixes[i].Time, i-1, fixes[i-1].Time)
		}
	}
	if tc.extra != nil {
		tc.extra(t, fixes)
	}
}

// The expectations below were read off the captures by hand: the number of
// epochs with status A / quality > 0, the first and last of them, and the
// lines of each kind (counted with grep).
func TestCaptures(t *testing.T) {
	dir := gnssDir(t)
	for _, tc := range []fileCase{{
		// SiRF-TriG, BD/GN/GP talkers: 5 epochs without a fix (07:41:50-54),
		// then 5 with one (07:41:55-59). 94 lines: 14 comments, 1 blank, 79
		// sentences of which 40 are used (10 GGA, 10 RMC, 20 GSA) and 39 not
		// (10 GNS, 17 GSV, 10 PSRFEPE, 2 PSRF151). The GGAs carry a 15th
		// field, the GSAs a float where NMEA 4.10 puts the system id, and one
		// RMC a leading space: all of them decode.
		file:  "beidou-bd.log",
		fixes: 5,
		stats: Stats{Lines: 94, Sentences: 79, Unsupported: 39, NoFix: 5, Fixes: 5},
		first: fixWant{time: "2015-02-25T07:41:55.799Z", lat: dm(31, 14.8770), lon: dm(121, 35.2463),
			motion: true, speedKn: 0.30, heading: 4.94, hdop: 1.3, sats: 5, mode: Mode3D, accM: 6.5},
		last: fixWant{time: "2015-02-25T07:41:59.799Z", lat: dm(31, 14.8943), lon: dm(121, 35.2444),
			motion: true, speedKn: 0.23, heading: 4.94, hdop: 1.1, sats: 7, mode: Mode3D, accM: 5.5},
		extra: func(t *testing.T, fixes []Fix) {
			// 07:41:57.799's RMC is the line with the leading space.
			checkFix(t, "07:41:57.799", fixes[2], fixWant{time: "2015-02-25T07:41:57.799Z",
				lat: dm(31, 14.8902), lon: dm(121, 35.2443), motion: true, speedKn: 0.32, heading: 4.94, sats: 7})
		},
	}, {
		// BU-353 GLONASS (SiRF III): the capture starts mid-epoch (two GSAs,
		// then 08:14:11's RMC without its GGA), has fixes 08:14:11-19, and
		// loses the fix for good at 08:14:20 (10 epochs to 08:14:29). 121
		// lines: 9 comments, 112 sentences: 75 used (18 GGA, 19 RMC, 38 GSA),
		// 37 not (19 ZDA, 9 GPGSV, 9 GLGSV).
		file:  "bu353-glonass.log",
		fixes: 9,
		stats: Stats{Lines: 121, Sentences: 112, Unsupported: 37, NoFix: 10, Fixes: 9},
		// No GGA for the first epoch: HDOP and satellites come from the two
		// GSAs before it (GPS 03,19,27,13 and GLONASS 88,87).
		first: fixWant{time: "2014-05-26T08:14:11Z", lat: dm(55, 41.1955), lon: dm(37, 37.2872),
			motion: true, speedKn: 0.60, heading: 301.29, hdop: 2.56, sats: 6, mode: Mode3D, accM: 12.8},
		last: fixWant{time: "2014-05-26T08:14:19Z", lat: dm(55, 41.1973), lon: dm(37, 37.2934),
			motion: true, speedKn: 0.40, heading: 342.94, hdop: 4.54, sats: 6, mode: Mode3D, accM: 22.7},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "08:14:12", fixes[1], fixWant{time: "2014-05-26T08:14:12Z",
				lat: dm(55, 41.1956), lon: dm(37, 37.2877), hdop: 4.87, sats: 5, accM: 24.35})
		},
	}, {
		// Trimble RTK: 14 GGA+RMC epochs, DGPS (quality 2) then, after a
		// 10-minute cut, RTK fixed (quality 4); 8 decimals of minutes.
		file:  "nmea-fuzzy-cases.log",
		fixes: 14,
		stats: Stats{Lines: 36, Sentences: 28, Fixes: 14},
		first: fixWant{time: "2020-03-18T13:28:20.6Z", lat: dm(41, 34.49821229), lon: dm(-93, 45.03351845),
			motion: true, speedKn: 3.252, heading: 92.308, hdop: 1.0, sats: 9, mode: Mode3D, accM: 1.0 * 1.5},
		last: fixWant{time: "2020-03-18T13:39:00.9Z", lat: dm(41, 34.50180291), lon: dm(-93, 45.03586858),
			motion: true, speedKn: 0.006, heading: 0, hdop: 0.7, sats: 19, mode: Mode3D, accM: 0.7 * 0.05},
		extra: func(t *testing.T, fixes []Fix) {
			// The 8 decimals survive: the minutes come back digit for digit.
			for i, w := range []struct{ lat, lon string }{
				0:  {"4134.49821229", "09345.03351845"},
				6:  {"4134.49941239", "09345.03495785"},
				13: {"4134.50180291", "09345.03586858"},
			} {
				if w.lat == "" {
					continue
				}
				if got := nmeaMinutes(fixes[i].Lat, 2); got != w.lat {
					t.Errorf("fix %d latitude %.12f back in NMEA is %s, want %s", i, fixes[i].Lat, got, w.lat)
				}
				if got := nmeaMinutes(fixes[i].Lon, 3); got != w.lon {
					t.Errorf("fix %d longitude %.12f back in NMEA is %s, want %s", i, fixes[i].Lon, got, w.lon)
				}
			}
		},
	}, {
		// Quectel EG25-G (PinePhone) LTE modem: 3 epochs; GGA, GNS, VTG, RMC,
		// then the GSAs of the epoch after its RMC, plus Quectel's $PQGSA and
		// $PQGSV. 68 lines: 8 comments, 60 sentences: 18 used (3 GGA, 3 RMC,
		// 12 GSA), 42 not (3 GNS, 3 VTG, 18 GSV, 6 PQGSA, 12 PQGSV).
		file:  "quectel-eg25-g-2.log",
		fixes: 3,
		stats: Stats{Lines: 68, Sentences: 60, Unsupported: 42, Fixes: 3},
		first: fixWant{time: "2022-09-20T05:13:47Z", lat: dm(60, 1.336799), lon: dm(30, 14.169008),
			motion: true, speedKn: 0, heading: 0, hdop: 0.9, sats: 5, mode: Mode3D, accM: 4.5},
		last: fixWant{time: "2022-09-20T05:13:49Z", lat: dm(60, 1.336351), lon: dm(30, 14.169007),
			motion: true, speedKn: 0, heading: 0, hdop: 0.9, sats: 5, mode: Mode3D, accM: 4.5},
		extra: func(t *testing.T, fixes []Fix) {
			// The capture's header gives the place: 60.022279983N 30.236150133E.
			if math.Abs(fixes[0].Lat-60.022279983) > 1e-9 || math.Abs(fixes[0].Lon-30.236150133) > 1e-9 {
				t.Errorf("first fix %.9f,%.9f, want the header's 60.022279983,30.236150133", fixes[0].Lat, fixes[0].Lon)
			}
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			runFileCase(t, filepath.Join(dir, tc.file), tc, Options{})
		})
	}
}

// nmeaMinutes writes degrees back as NMEA's dddmm.mmmmmmmm (8 decimals).
func nmeaMinutes(deg float64, degDigits int) string {
	a := math.Abs(deg)
	d := math.Floor(a)
	return fmt.Sprintf("%0*d%011.8f", degDigits, int(d), (a-d)*60)
}

// The project's own cases, in testdata/ (each file says what it holds).
func TestTestdata(t *testing.T) {
	for _, tc := range []fileCase{{
		// 7 epochs, each with other talkers: GN RMC + GP GGA + BD/GP/GL/GA GSA,
		// GB, BD, GA, GL, QZ, and a GP + GN RMC pair. 32 lines, 10 comments.
		file:  "mixed-talkers.nmea",
		fixes: 7,
		stats: Stats{Lines: 32, Sentences: 22, Fixes: 7},
		first: fixWant{time: "2025-03-14T02:15:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280),
			motion: true, speedKn: 12.5, heading: 87.3, hdop: 0.8, sats: 14, mode: Mode3D, accM: 4},
		// Of the GPRMC and GNRMC at 02:15:06, the first (12.2 kn) counts.
		last: fixWant{time: "2025-03-14T02:15:06Z", lat: dm(28, 13.6923), lon: dm(112, 56.3514),
			motion: true, speedKn: 12.2, heading: 87.7, hdop: 0.7, sats: 15, mode: Mode3D},
		extra: func(t *testing.T, fixes []Fix) {
			for i, want := range []int{14, 12, 9, 8, 7, 10, 15} {
				if fixes[i].Sats != want {
					t.Errorf("fix %d: %d sats, want %d (its GGA's)", i, fixes[i].Sats, want)
				}
			}
		},
	}, {
		// 22 lines: 2 comments, a blank, 10 sentences (2 unsupported: GPTXT,
		// PUBX), 1 bad checksum, 8 garbage (UBX binary, truncated GGA, "OK",
		// 2000 x's, a NUL inside, 75 minutes, no fields, hour 25). Epochs:
		// 03:00:00 whole; :01 GGA only (its RMC's checksum is bad); :02 RMC
		// only (its GGA is truncated); :03 whole (junk before the RMC's '$',
		// a lower-case checksum); :04 nothing valid; :05 whole (spaces round
		// the RMC, no line ending after the GGA).
		file:  "noise.nmea",
		fixes: 5,
		stats: Stats{Lines: 22, Sentences: 10, BadChecksum: 1, Garbage: 8, Unsupported: 2, Fixes: 5},
		first: fixWant{time: "2025-03-14T03:00:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280),
			motion: true, speedKn: 0, heading: 0, hdop: 1.0, sats: 8, mode: Mode3D, accM: 5},
		last: fixWant{time: "2025-03-14T03:00:05Z", lat: dm(28, 13.6925), lon: dm(112, 56.3285),
			motion: true, speedKn: 0.5, heading: 45, hdop: 1.0, sats: 8},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "GGA only", fixes[1], fixWant{time: "2025-03-14T03:00:01Z",
				lat: dm(28, 13.6921), lon: dm(112, 56.3281), checkNoMot: true, hdop: 1.0, sats: 8, mode: Mode3D})
			checkFix(t, "RMC only", fixes[2], fixWant{time: "2025-03-14T03:00:02Z",
				lat: dm(28, 13.6922), lon: dm(112, 56.3282), motion: true, speedKn: 0.2, heading: 45, checkAcc: true, mode: Mode2D})
			if fixes[2].HDOP != 0 || fixes[2].Sats != 0 {
				t.Errorf("RMC-only fix has HDOP %v, %d sats; want unknown (0)", fixes[2].HDOP, fixes[2].Sats)
			}
			checkFix(t, "salvaged", fixes[3], fixWant{time: "2025-03-14T03:00:03Z",
				lat: dm(28, 13.6923), lon: dm(112, 56.3283), motion: true, speedKn: 0.3, heading: 45, sats: 8})
		},
	}, {
		// 48 lines: 7 comments, 41 sentences (15 unsupported: 8 VTG, 7 GLL).
		// Fixes 04:00:00-02 and 04:00:07-08; no fix: 04:00:03, :04 (status V,
		// quality 0, mode 1), two sentences without a time, and 04:00:06
		// (RMC V, GGA quality 1: they disagree).
		file:  "nofix.nmea",
		fixes: 5,
		stats: Stats{Lines: 48, Sentences: 41, Unsupported: 15, NoFix: 5, Fixes: 5},
		first: fixWant{time: "2025-03-14T04:00:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280),
			motion: true, speedKn: 15, heading: 90, hdop: 1.0, sats: 9, mode: Mode3D},
		last: fixWant{time: "2025-03-14T04:00:08Z", lat: dm(28, 13.6921), lon: dm(112, 56.3744),
			motion: true, speedKn: 14, heading: 91, hdop: 1.6, sats: 7, mode: Mode3D},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "out of the tunnel", fixes[3], fixWant{time: "2025-03-14T04:00:07Z",
				lat: dm(28, 13.6921), lon: dm(112, 56.3700), hdop: 2.1, sats: 6})
		},
	}, {
		// HDOP 1.2, 3.5, 5.0 (the bound is inclusive), 7.9, 12.0, then 3
		// satellites, then a GGA without HDOP whose GSA says 12.0, then 1.5.
		// 23 lines: 6 comments, 17 sentences.
		file:  "poor.nmea",
		fixes: 4,
		stats: Stats{Lines: 23, Sentences: 17, Poor: 4, Fixes: 4},
		first: fixWant{time: "2025-03-14T05:00:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280), hdop: 1.2, sats: 10, accM: 6},
		last:  fixWant{time: "2025-03-14T05:00:07Z", lat: dm(28, 13.7025), lon: dm(112, 56.3280), hdop: 1.5, sats: 9, accM: 7.5},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "HDOP 5", fixes[2], fixWant{time: "2025-03-14T05:00:02Z", lat: dm(28, 13.6950), lon: dm(112, 56.3280), hdop: 5, accM: 25})
		},
	}, {
		// RMC only, the third epoch status V, the fourth stationary without a
		// course, the fifth with course 360.0 (which is 0).
		file:  "rmc-only.nmea",
		fixes: 4,
		stats: Stats{Lines: 7, Sentences: 5, NoFix: 1, Fixes: 4},
		first: fixWant{time: "2025-03-14T06:00:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280),
			motion: true, speedKn: 20, heading: 180, mode: Mode2D, checkAcc: true},
		last: fixWant{time: "2025-03-14T06:00:04Z", lat: dm(28, 13.6700), lon: dm(112, 56.3280),
			motion: true, speedKn: 0.4, heading: 0, mode: Mode2D, checkAcc: true},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "stationary", fixes[2], fixWant{time: "2025-03-14T06:00:03Z", lat: dm(28, 13.6700), lon: dm(112, 56.3280), checkNoMot: true})
			for i, f := range fixes {
				if f.HDOP != 0 || f.Sats != 0 || f.AccM != 0 {
					t.Errorf("fix %d: HDOP %v, %d sats, AccM %v; an RMC-only receiver tells none", i, f.HDOP, f.Sats, f.AccM)
				}
			}
		},
	}, {
		// 23:59:58 and 00:00:01 have their RMC's date (31.12.24, 01.01.25);
		// 23:59:59 and 00:00:00 have a corrupt RMC, so GGA only.
		file:  "midnight.nmea",
		fixes: 4,
		stats: Stats{Lines: 11, Sentences: 6, BadChecksum: 2, Fixes: 4},
		first: fixWant{time: "2024-12-31T23:59:58Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280)},
		last:  fixWant{time: "2025-01-01T00:00:01Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280)},
		extra: func(t *testing.T, fixes []Fix) {
			checkFix(t, "last second of 2024", fixes[1], fixWant{time: "2024-12-31T23:59:59Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280), checkNoMot: true})
			checkFix(t, "first second of 2025", fixes[2], fixWant{time: "2025-01-01T00:00:00Z", lat: dm(28, 13.6920), lon: dm(112, 56.3280), checkNoMot: true})
		},
	}, {
		file:  "hemispheres.nmea",
		fixes: 5,
		stats: Stats{Lines: 13, Sentences: 10, Fixes: 5},
		first: fixWant{time: "2025-06-01T12:00:00Z", lat: dm(-34, 36.2), lon: dm(-58, 22.9)},
		last:  fixWant{time: "2025-06-01T12:00:04Z", lat: dm(-17, 50), lon: dm(-179, 30)},
		extra: func(t *testing.T, fixes []Fix) {
			for i, w := range [][2]float64{
				{-34.60333333333333, -58.38166666666667}, // Buenos Aires
				{-33.858333333333334, 151.21},            // Sydney
				{40.711666666666666, -74.006},            // New York
				{-0.0001, -0.0001},                       // south-west of 0,0
				{-17.833333333333332, -179.5},            // Fiji
			} {
				if math.Abs(fixes[i].Lat-w[0]) > 1e-12 || math.Abs(fixes[i].Lon-w[1]) > 1e-12 {
					t.Errorf("fix %d at %v,%v, want %v,%v", i, fixes[i].Lat, fixes[i].Lon, w[0], w[1])
				}
			}
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			runFileCase(t, filepath.Join("testdata", tc.file), tc, Options{})
		})
	}
}

// The testdata files' checksums are right, except the ones written as *00,
// which are wrong on purpose.
func TestTestdataChecksums(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.nmea")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<16)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			i := strings.LastIndexByte(line, '$')
			j := strings.LastIndexByte(line, '*')
			if i < 0 || j < i {
				continue
			}
			line = line[i:]
			ok := sentence(line[1:j-i]) == strings.ToUpper(line)
			if deliberate := strings.HasSuffix(line, "*00"); ok == deliberate {
				t.Errorf("%s:%d: checksum right=%v, written as deliberate=%v: %s", name, n, ok, deliberate, line)
			}
		}
	}
}

// Quality bounds: the defaults, relaxed ones, and checks switched off.
func TestQualityBounds(t *testing.T) {
	data, err := os.ReadFile("testdata/poor.nmea")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		q     Quality
		fixes int
	}{
		{"defaults", Quality{}, 4},
		{"HDOP 15, 3 satellites, 100 m", Quality{MaxHDOP: 15, MinSats: 3, MaxAccM: 100}, 8},
		// HDOP 12 × 5 m = 60 m: over the default 50 m even with MaxHDOP 15.
		{"HDOP 15, 3 satellites", Quality{MaxHDOP: 15, MinSats: 3}, 6},
		{"all checks off", Quality{MaxHDOP: -1, MaxAccM: -1, MinSats: -1}, 8},
		// 20 m at 5 m per HDOP: HDOP 1.2 and 1.5 pass, 3.5 (17.5 m) too, 5.0 does not.
		{"20 m", Quality{MaxAccM: 20}, 3},
		{"HDOP 2", Quality{MaxHDOP: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixes, st := decode(t, string(data), Options{Quality: tc.q})
			if len(fixes) != tc.fixes || st.Poor != uint64(8-tc.fixes) {
				t.Errorf("%d fixes, %d poor; want %d and %d", len(fixes), st.Poor, tc.fixes, 8-tc.fixes)
			}
			q := tc.q.withDefaults()
			for _, f := range fixes {
				if !q.meets(f) {
					t.Errorf("reported %+v, which does not meet %+v", f, q)
				}
			}
		})
	}
}

// Cases written inline with the checksum helper.
func TestNMEACases(t *testing.T) {
	rmc := func(tod, status string) string {
		return "GPRMC," + tod + "," + status + ",2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A"
	}
	gga := func(tod, q, sats, hdop string) string {
		return "GPGGA," + tod + ",2813.6920,N,11256.3280,E," + q + "," + sats + "," + hdop + ",52.0,M,-12.0,M,,"
	}
	for _, tc := range []struct {
		name  string
		input string
		fixes int
		stats Stats
		check func(t *testing.T, fixes []Fix)
	}{{
		name:  "empty input",
		input: "",
	}, {
		name:  "comments and blank lines only",
		input: "# a comment\r\n\r\n   \n#\n",
		stats: Stats{Lines: 4},
	}, {
		name:  "one sentence, no line ending",
		input: sentence(rmc("100000.00", "A")),
		fixes: 1,
		stats: Stats{Lines: 1, Sentences: 1, Fixes: 1},
	}, {
		name: "SiRF order: a GSA of the epoch saying mode 1 vetoes it",
		input: nmeaLines(
			gga("100000.00", "1", "08", "1.0"), "GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.8,1.0,1.5", rmc("100000.00", "A"),
			gga("100001.00", "1", "08", "1.0"), "GPGSA,A,1,,,,,,,,,,,,,,,", rmc("100001.00", "A"),
			gga("100002.00", "1", "08", "1.0"), "GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.8,1.0,1.5", rmc("100002.00", "A")),
		fixes: 2,
		stats: Stats{Lines: 9, Sentences: 9, NoFix: 1, Fixes: 2},
	}, {
		name: "one constellation's GSA without a fix does not veto another's",
		input: nmeaLines(
			gga("100000.00", "1", "08", "1.0"), "GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.8,1.0,1.5,1",
			"GLGSA,A,1,,,,,,,,,,,,,,,,2", rmc("100000.00", "A")),
		fixes: 1,
		stats: Stats{Lines: 4, Sentences: 4, Fixes: 1},
	}, {
		name: "a non-integer where NMEA 4.10 puts the system id: the GSA still counts",
		input: nmeaLines(
			gga("100000.00", "1", "08", "1.0"), "GPGSA,A,2,01,02,03,04,,,,,,,,,5.1,1.3,4.9,3.3", rmc("100000.00", "A")),
		fixes: 1,
		stats: Stats{Lines: 3, Sentences: 3, Fixes: 1},
		check: func(t *testing.T, fixes []Fix) {
			if fixes[0].Mode != Mode2D {
				t.Errorf("mode %v, want its GSA's 2D", fixes[0].Mode)
			}
		},
	}, {
		name:  "FAA mode N is no fix",
		input: nmeaLines("GNRMC,100000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,N"),
		stats: Stats{Lines: 1, Sentences: 1, NoFix: 1},
	}, {
		name: "two sentences run together: the one that ends the line counts",
		input: nmeaLines(
			"raw:$GPGGA,100000.00,2813.69"+sentence(rmc("100000.00", "A")),
			"raw:"+sentence(gga("100000.00", "1", "08", "1.0"))+sentence(rmc("100001.00", "A"))),
		fixes: 2,
		stats: Stats{Lines: 2, Sentences: 2, Fixes: 2},
	}, {
		name: "numbers NMEA never sends are refused",
		input: nmeaLines(
			"GPRMC,100000.00,A,NaN,N,11256.3280,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,-2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,0x1p4,N,11256.3280,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,9000.0001,N,11256.3280,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,2813.6920,N,18000.5000,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,2813.6920,X,11256.3280,E,1.0,90.0,140325,,,A",
			"GPRMC,100000.00,A,2813.6920,N,11256.3280,E,-1.0,Inf,140325,,,A",  // a fix, without motion
			"GPRMC,100001.00,A,9000.0000,S,18000.0000,W,1.0,90.0,140325,,,A"), // the corner of the map is valid
		fixes: 2,
		stats: Stats{Lines: 8, Sentences: 2, Garbage: 6, Fixes: 2},
		check: func(t *testing.T, fixes []Fix) {
			if fixes[0].HasMotion {
				t.Errorf("speed -1, course Inf gave motion %+v", fixes[0])
			}
			if fixes[1].Lat != -90 || fixes[1].Lon != -180 {
				t.Errorf("corner at %v,%v", fixes[1].Lat, fixes[1].Lon)
			}
		},
	}, {
		name: "satellites not given are not held to MinSats",
		input: nmeaLines(
			gga("100000.00", "1", "", "1.0"), rmc("100000.00", "A"),
			gga("100001.00", "1", "03", "1.0"), rmc("100001.00", "A")),
		fixes: 1,
		stats: Stats{Lines: 4, Sentences: 4, Poor: 1, Fixes: 1},
	}, {
		name: "RMC-first receiver (u-blox): its first fix waits for the GGA behind it",
		input: nmeaLines(
			rmc("100000.00", "A"), "GPVTG,90.0,T,,M,1.0,N,1.9,K,A", gga("100000.00", "1", "11", "0.6"),
			rmc("100001.00", "A"), "GPVTG,90.0,T,,M,1.0,N,1.9,K,A", gga("100001.00", "1", "12", "0.7")),
		fixes: 2,
		stats: Stats{Lines: 6, Sentences: 6, Unsupported: 2, Fixes: 2},
		check: func(t *testing.T, fixes []Fix) {
			if fixes[0].HDOP != 0.6 || fixes[0].Sats != 11 || fixes[1].HDOP != 0.7 {
				t.Errorf("fixes %+v", fixes)
			}
		},
	}, {
		name: "GGA-only receiver with an RMC's date before it",
		input: nmeaLines(rmc("235959.00", "A"),
			gga("235959.00", "1", "08", "1.0"), gga("000000.00", "1", "08", "1.0"), gga("000001.00", "1", "08", "1.0"),
			gga("000002.00", "1", "08", "1.0"), gga("000003.00", "1", "08", "1.0")),
		fixes: 5,
		stats: Stats{Lines: 6, Sentences: 6, Fixes: 5},
		check: func(t *testing.T, fixes []Fix) {
			if want := utc("2025-03-15T00:00:03Z"); !fixes[4].Time.Equal(want) {
				t.Errorf("last fix at %v, want %v", fixes[4].Time, want)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fixes, st := decode(t, tc.input, Options{})
			if len(fixes) != tc.fixes {
				t.Errorf("%d fixes, want %d: %+v", len(fixes), tc.fixes, fixes)
			}
			if st != tc.stats {
				t.Errorf("stats\n got %+v\nwant %+v", st, tc.stats)
			}
			for _, f := range fixes {
				if !validFix(f) {
					t.Errorf("invalid fix %+v", f)
				}
			}
			if tc.check != nil && len(fixes) == tc.fixes {
				tc.check(t, fixes)
			}
		})
	}
}

// A receiver that never sends a date (GGA only): the date is the system
// clock's, the day that puts the time nearest to it.
func TestNMEADateFromClock(t *testing.T) {
	in := nmeaLines(
		"GPGGA,235958.00,2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,",
		"GPGGA,235959.00,2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,",
		"GPGGA,000000.00,2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,")
	// The device's clock says just after midnight: the first two fixes are
	// yesterday's.
	now := func() time.Time { return utc("2025-01-01T00:00:05Z") }
	src := newNMEA(strings.NewReader(in), Options{}, nmeaConfig{now: now})
	defer src.Close()
	fixes := drain(t, src)
	want := []string{"2024-12-31T23:59:58Z", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"}
	if len(fixes) != len(want) {
		t.Fatalf("%d fixes, want %d", len(fixes), len(want))
	}
	for i, w := range want {
		if !fixes[i].Time.Equal(utc(w)) {
			t.Errorf("fix %d at %v, want %s", i, fixes[i].Time, w)
		}
	}
}

// An epoch is handed over as soon as its RMC and GGA are in, not one epoch
// late: the agent reports "now".
func TestNMEAEmitsCompleteEpochAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	src := NewNMEA(pr, Options{})
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	write := func(ls ...string) {
		if _, err := io.WriteString(pw, nmeaLines(ls...)); err != nil {
			t.Error(err)
		}
	}
	go write(
		"GNGGA,100000.00,2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,",
		"GNRMC,100000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A",
		"GNGGA,100001.00,2813.6921,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,",
		"GNRMC,100001.00,A,2813.6921,N,11256.3280,E,1.0,90.0,140325,,,A")
	for _, want := range []string{"2025-03-14T10:00:00Z", "2025-03-14T10:00:01Z"} {
		f, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for the %s fix: %v", want, err)
		}
		if !f.Time.Equal(utc(want)) {
			t.Errorf("fix at %v, want %s", f.Time, want)
		}
	}
	// Next honours its context while the input is quiet.
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := src.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on a quiet input: %v, want DeadlineExceeded", err)
	}
	// Close closes the pipe, which ends the blocked read.
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Pace replays a log at its recorded rate: the waits are the gaps between
// epochs (no-fix epochs included), and a cut in the recording is not waited out.
func TestNMEAPace(t *testing.T) {
	in := nmeaLines(
		"GPRMC,100000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A",
		"GPRMC,100001.00,V,,,,,,,140325,,,N",
		"GPRMC,100002.50,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A",
		"GPRMC,101000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A", // ten minutes later
		"GPRMC,101001.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A")
	clk := &fakeClock{now: utc("2026-01-01T00:00:00Z")}
	src := newNMEA(strings.NewReader(in), Options{Pace: true}, nmeaConfig{clk: clk})
	defer src.Close()
	if n := len(drain(t, src)); n != 4 {
		t.Errorf("%d fixes, want 4", n)
	}
	want := []time.Duration{time.Second, 1500 * time.Millisecond, time.Second}
	if got := clk.slept(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waited %v, want %v", got, want)
	}

	// Unpaced, nothing waits.
	clk = &fakeClock{now: utc("2026-01-01T00:00:00Z")}
	src2 := newNMEA(strings.NewReader(in), Options{}, nmeaConfig{clk: clk})
	defer src2.Close()
	drain(t, src2)
	if got := clk.slept(); len(got) != 0 {
		t.Errorf("unpaced replay waited %v", got)
	}
}

// pacer on its own: midnight, a reader that fell behind, time going back.
func TestPacer(t *testing.T) {
	clk := &fakeClock{now: utc("2026-01-01T00:00:00Z")}
	p := &pacer{clk: clk, done: make(chan struct{})}
	p.epoch(24*time.Hour - time.Second) // 23:59:59
	p.epoch(0)                          // 00:00:00: one second, across midnight
	clk.advance(5 * time.Second)        // the reader was slow
	p.epoch(time.Second)                // due 4 s ago: no wait, and no burst after
	p.epoch(2 * time.Second)            // one second after the last release
	p.epoch(time.Second)                // back in time: re-anchor, no wait
	want := []time.Duration{time.Second, time.Second}
	if got := clk.slept(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waited %v, want %v", got, want)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func (f *failingReader) Close() error { return nil }

// A device input that fails (a USB receiver unplugged) is reopened with
// backoff, and the fixes carry on.
func TestNMEAReopen(t *testing.T) {
	epoch := func(tod string) string {
		return nmeaLines(
			"GPRMC,"+tod+",A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A",
			"GPGGA,"+tod+",2813.6920,N,11256.3280,E,1,08,1.0,52.0,M,-12.0,M,,")
	}
	unplugged := errors.New("device disconnected")
	first := &failingReader{strings.NewReader(epoch("100000.00") + epoch("100001.00")), unplugged}
	opens := 0
	pr, pw := io.Pipe()
	reopen := func() (io.ReadCloser, error) {
		opens++
		if opens < 3 {
			return nil, errors.New("no such device") // not back yet
		}
		return pr, nil
	}
	clk := &fakeClock{now: utc("2026-01-01T00:00:00Z")}
	src := newNMEA(first, Options{}, nmeaConfig{live: true, reopen: reopen, clk: clk,
		backoff: backoff.Backoff{Min: time.Second, Max: 4 * time.Second}})
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go io.WriteString(pw, epoch("100005.00")+epoch("100006.00"))
	var last Fix
	for !last.Time.Equal(utc("2025-03-14T10:00:06Z")) {
		f, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", last.Time, err)
		}
		last = f
	}
	if opens != 3 {
		t.Errorf("%d reopen attempts, want 3", opens)
	}
	if n := len(clk.slept()); n != 3 {
		t.Errorf("%d backoff waits, want 3", n)
	}
}

// Close while Next waits on a reader that blocks (a serial port with a
// receiver that stopped talking).
func TestNMEACloseUnblocks(t *testing.T) {
	pr, _ := io.Pipe()
	src := NewNMEA(pr, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(context.Background())
		errc <- err
	}()
	time.Sleep(5 * time.Millisecond)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Next: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A read error that is not the end of the input is reported, wrapped.
func TestNMEAReadError(t *testing.T) {
	boom := errors.New("I/O error")
	src := NewNMEA(&failingReader{strings.NewReader(sentence("GPRMC,100000.00,A,2813.6920,N,11256.3280,E,1.0,90.0,140325,,,A") + "\r\n"), boom}, Options{})
	defer src.Close()
	ctx := context.Background()
	if _, err := src.Next(ctx); err != nil {
		t.Fatalf("the fix before the error: %v", err)
	}
	_, err := src.Next(ctx)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "gps: nmea read: ") {
		t.Errorf("Next = %v, want the wrapped read error", err)
	}
}

func TestNMEAStatsConcurrent(t *testing.T) {
	data, err := os.ReadFile("testdata/nofix.nmea")
	if err != nil {
		t.Fatal(err)
	}
	src := NewNMEA(bytes.NewReader(bytes.Repeat(data, 20)), Options{})
	defer src.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = src.Stats()
		}
	}()
	drain(t, src)
	<-done
}
