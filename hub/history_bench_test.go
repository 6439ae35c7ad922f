package hub_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/internal/history"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

var flHistorySizes = flag.String("history.sizes", "10000000,100000000",
	"BenchmarkHistoryRestart: positions stored before the restart, one run per size")

// BenchmarkHistoryRestart is the storage's whole-hub figure: a hub whose
// history holds N positions (10,000 units reporting every 10 s, written
// by a generator straight into the history) restarts with its units on
// Mosquitto, and reports how soon it is ready (process start to listening),
// its resident memory with the units reporting at 1 Hz (now and at its
// peak), the disk the history takes per position, and a unit's track
// through the API. One run per -history.sizes entry: the memory must not
// grow with the history. b.N is ignored.
func BenchmarkHistoryRestart(b *testing.B) {
	for _, f := range strings.Split(*flHistorySizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("-history.sizes: %q", f)
		}
		b.Run(fmt.Sprintf("positions=%d", n), func(b *testing.B) { benchHistoryRestart(b, n) })
	}
}

func benchHistoryRestart(b *testing.B, positions int) {
	const units = 10_000
	const reportFor = 20 * time.Second
	mosq := benchMosquitto(b)
	dir := b.TempDir()
	place := func(i int) (float64, float64) { return lat0 + float64(i%100)*1e-3, lon0 + float64(i/100)*1e-3 }

	// Enrol the fleet on a first hub, then stop it (SIGKILL: enrolments are
	// synced before they return).
	cmd, api, _ := startChild(b, dir, mosq.URL())
	load := newFleetLoad(b, api, "crash-token", mosq.URL(), units, false, place)
	load.disconnect()
	cmd.Process.Kill()
	cmd.Wait()

	// The history: every unit every 10 s, ending a minute ago.
	start := time.Now()
	perUnit := positions / units
	end := time.Now().Add(-time.Minute).UnixMilli()
	written := writeHistory(b, filepath.Join(dir, store.HistoryDir), units, perUnit, end-int64(perUnit)*10_000)
	genTime := time.Since(start)
	disk := dirSize(b, filepath.Join(dir, store.HistoryDir))

	// The restart.
	start = time.Now()
	cmd, api, _ = startChild(b, dir, mosq.URL())
	ready := time.Since(start)
	rssReady := rss(b, cmd.Process.Pid)
	load.connect(mosq.URL(), false)
	defer load.disconnect()
	load.report()
	time.Sleep(reportFor)
	load.halt()
	rssNow, peak := rss(b, cmd.Process.Pid), peakRSS(b, cmd.Process.Pid)

	// A unit's stored day through the API.
	start = time.Now()
	got := apiTrackLen(b, api, "u00042", end-24*3600_000, end)
	trackTime := time.Since(start)

	b.ReportMetric(float64(written), "positions")
	b.ReportMetric(ready.Seconds(), "s-ready")
	b.ReportMetric(float64(rssReady)/(1<<20), "MB-ready")
	b.ReportMetric(float64(rssNow)/(1<<20), "MB-reporting")
	b.ReportMetric(float64(peak)/(1<<20), "MB-peak")
	b.ReportMetric(float64(disk)/float64(written), "B/pos-disk")
	b.ReportMetric(float64(written)/genTime.Seconds(), "pos/s-generated")
	b.ReportMetric(float64(trackTime.Milliseconds()), "ms-track")
	b.Logf("%d positions (%d a unit) written in %v (%.0f/s), %d MB on disk (%.1f B/pos); restart: ready in %v with %d MB; "+
		"10,000 units reporting at 1 Hz on Mosquitto for %v: %d MB now, %d MB at the peak; a unit's last 24 h through the API: %d positions in %v",
		written, perUnit, genTime.Round(time.Second), float64(written)/genTime.Seconds(), disk>>20, float64(disk)/float64(written),
		ready.Round(time.Millisecond), rssReady>>20, reportFor, rssNow>>20, peak>>20, got, trackTime.Round(time.Millisecond))
}

// writeHistory writes perUnit positions of each of units units, every 10 s
// from start, into the history at dir, as a fleet on patrol would report
// them (a random walk at 5–12 m/s, with accuracy, speed, heading and now
// and then battery and status). It returns how many it wrote.
func writeHistory(b *testing.B, dir string, units, perUnit int, start int64) int {
	h, err := history.Open(history.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := h.Close(); err != nil {
			b.Fatal(err)
		}
	}()
	r := rand.New(rand.NewPCG(7, 7))
	type walker struct{ lat, lon, hdg float64 }
	ws := make([]walker, units)
	for i := range ws {
		ws[i] = walker{lat0 - 0.1 + r.Float64()*0.2, lon0 - 0.1 + r.Float64()*0.2, r.Float64() * 2 * math.Pi}
	}
	statuses := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy}
	f := func(v float64) *float64 { return &v }
	var batch history.Batch
	n := 0
	for k := range perUnit {
		batch.Positions = batch.Positions[:0]
		for i := range ws {
			w := &ws[i]
			speed := 5 + r.Float64()*7
			w.hdg += r.NormFloat64() * 0.3
			w.lat += speed * 10 * math.Cos(w.hdg) / 111_320
			w.lon += speed * 10 * math.Sin(w.hdg) / (111_320 * math.Cos(w.lat*math.Pi/180))
			p := history.Position{Unit: fmt.Sprintf("u%05d", i), Seq: uint64(k + 1), TS: start + int64(k)*10_000 + int64(i%1000),
				Lat: math.Round(w.lat*1e6) / 1e6, Lon: math.Round(w.lon*1e6) / 1e6, Status: statuses[(i+k/500)%4],
				AccM: f(math.Round(30+r.Float64()*120) / 10), SpeedMPS: f(math.Round(speed*100) / 100),
				HeadingDeg: f(math.Round(math.Mod(w.hdg*180/math.Pi+720, 360)*10) / 10)}
			if k%6 == 0 {
				p.Battery = f(math.Round(100-float64(k%1000)/20) / 100)
			}
			batch.Positions = append(batch.Positions, p)
		}
		if err := h.Append(batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch.Positions)
	}
	return n
}

func dirSize(b *testing.B, dir string) int64 {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			size += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return size
}

// apiTrackLen reads a unit's track through the API (at most 100,000
// positions: one page) and returns how many positions it had.
func apiTrackLen(b *testing.B, api, unit string, since, until int64) int {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/units/%s/track?since=%d&until=%d&limit=100000", api, unit, since, until), nil)
	req.Header.Set("Authorization", "Bearer crash-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var track []struct{ Seq uint64 }
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		b.Fatalf("track: %d %s", resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&track); err != nil {
		b.Fatal(err)
	}
	return len(track)
}
