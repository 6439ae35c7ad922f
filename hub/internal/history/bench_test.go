package history

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kuaifan/protocol"
)

// The figures: go test -run TestFigures -history.figures [-history.n 10000000] ./internal/history/
// and the benchmarks: go test -run '^$' -bench . [-history.n ...] ./internal/history/
// (both use a data set of history.n positions, 10,000 units at 10 s, plus one
// unit at 1 s for a whole day: 86,400 positions).
var (
	flFigures  = flag.Bool("history.figures", false, "run TestFigures: write, measure, reopen")
	flN        = flag.Int64("history.n", 10_000_000, "positions in the benchmark data set (-short: 200,000)")
	flDecimals = flag.Int("history.decimals", 7, "decimals of the generated coordinates; -1: full float64")
	flDataDir  = flag.String("history.dir", "", "data set directory (default: a temporary one)")
	flReopen   = flag.String("history.reopen", "", "internal: measure a reopen of this directory and print the figures")
)

func benchN() int64 {
	if testing.Short() && *flN == 10_000_000 {
		return 200_000
	}
	return *flN
}

const (
	genUnits   = 10_000
	genLat     = 28.2
	genLon     = 112.95
	genHalfKm  = 15.0
	mPerDegLat = 111_320.0
	fastUnit   = "fast-0"
)

// genStart is 22:00 UTC the day before day0, so the set spans a midnight.
var genStart = day0 - 2*3600_000

// gen makes positions of units wandering a 30 km square, a simulated
// second at a time; every unit reports every 10 s.
type gen struct {
	r     *rand.Rand
	units []genUnit
	sec   int64
	buf   []Position
}

type genUnit struct {
	id       string
	lat, lon float64
	hdg      float64
	seq      uint64
	status   protocol.Status
}

var statuses = []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy}

func newGen() *gen {
	g := &gen{r: rand.New(rand.NewPCG(42, 42))}
	dLat, dLon := genHalfKm*1000/mPerDegLat, genHalfKm*1000/(mPerDegLat*math.Cos(genLat*math.Pi/180))
	for i := range genUnits {
		g.units = append(g.units, genUnit{id: fmt.Sprintf("car-%04d", i),
			lat: genLat - dLat + g.r.Float64()*2*dLat, lon: genLon - dLon + g.r.Float64()*2*dLon,
			hdg: g.r.Float64() * 2 * math.Pi, status: statuses[g.r.IntN(4)]})
	}
	return g
}

func roundTo(v float64) float64 {
	if *flDecimals < 0 {
		return v
	}
	p := math.Pow10(*flDecimals)
	return math.Round(v*p) / p
}

func (g *gen) step(u *genUnit, dt float64, ts int64) Position {
	dLat, dLon := genHalfKm*1000/mPerDegLat, genHalfKm*1000/(mPerDegLat*math.Cos(genLat*math.Pi/180))
	u.hdg += g.r.NormFloat64() * 0.3 * math.Sqrt(dt/10)
	speed := max(0, 8+g.r.NormFloat64()*1.5)
	u.lat += speed * dt * math.Cos(u.hdg) / mPerDegLat
	u.lon += speed * dt * math.Sin(u.hdg) / (mPerDegLat * math.Cos(u.lat*math.Pi/180))
	if math.Abs(u.lat-genLat) > dLat {
		u.lat = max(genLat-dLat, min(genLat+dLat, u.lat))
		u.hdg = math.Pi - u.hdg
	}
	if math.Abs(u.lon-genLon) > dLon {
		u.lon = max(genLon-dLon, min(genLon+dLon, u.lon))
		u.hdg = -u.hdg
	}
	if g.r.IntN(500) == 0 {
		u.status = statuses[g.r.IntN(4)]
	}
	u.seq++
	hdg := math.Mod(u.hdg*180/math.Pi+360, 360)
	p := Position{Unit: u.id, Seq: u.seq, TS: ts, Lat: roundTo(u.lat), Lon: roundTo(u.lon), Status: u.status,
		AccM: fp(math.Round(30+g.r.Float64()*120) / 10), SpeedMPS: fp(math.Round(speed*100) / 100),
		HeadingDeg: fp(math.Round(hdg*10) / 10)}
	if u.seq%6 == 0 {
		p.Battery = fp(math.Round(100-float64(u.seq%1000)/20) / 100)
	}
	return p
}

// fill returns the next n positions, in time order.
func (g *gen) fill(out []Position, n int) []Position {
	for len(g.buf) < n {
		s := int(g.sec % 10)
		for i := range g.units {
			if i%10 == s {
				g.buf = append(g.buf, g.step(&g.units[i], 10, genStart+g.sec*1000+int64(i*37%1000)))
			}
		}
		g.sec++
	}
	out = append(out[:0], g.buf[:n]...)
	g.buf = append(g.buf[:0], g.buf[n:]...)
	return out
}

// fastDay is one unit's day at 1 s: 86,400 positions of day0.
func fastDay() []Position {
	g := &gen{r: rand.New(rand.NewPCG(1, 1))}
	u := &genUnit{id: fastUnit, lat: genLat, lon: genLon, status: protocol.StatusAvailable}
	ps := make([]Position, 0, 86_400)
	for s := range int64(86_400) {
		ps = append(ps, g.step(u, 1, day0+s*1000))
	}
	return ps
}

const benchBatch = 4096

// writeSet writes n positions (and the fast unit's day) to h, in batches
// of 4,096 each committed with an fsync; it returns the time it took.
func writeSet(tb testing.TB, h *History, n int64) time.Duration {
	g := newGen()
	var ps []Position
	start := time.Now()
	for written := int64(0); written < n; {
		k := int(min(benchBatch, n-written))
		ps = g.fill(ps, k)
		if err := h.Append(Batch{Positions: ps}); err != nil {
			tb.Fatal(err)
		}
		written += int64(k)
	}
	el := time.Since(start)
	fast := fastDay()
	for i := 0; i < len(fast); i += benchBatch {
		if err := h.Append(Batch{Positions: fast[i:min(i+benchBatch, len(fast))]}); err != nil {
			tb.Fatal(err)
		}
	}
	return el
}

var (
	setOnce sync.Once
	setDir  string
	setErr  error
)

// dataSet returns the directory of the shared data set, writing it once.
func dataSet(tb testing.TB) string {
	setOnce.Do(func() {
		setDir = *flDataDir
		if setDir == "" {
			setDir, setErr = os.MkdirTemp("", "history-bench-")
			if setErr != nil {
				return
			}
			tempSet = setDir
		}
		if _, err := os.Stat(filepath.Join(setDir, "positions")); err == nil {
			return // written before (-history.dir)
		}
		var h *History
		if h, setErr = Open(Config{Dir: setDir}); setErr != nil {
			return
		}
		el := writeSet(tb, h, benchN())
		fmt.Printf("data set: %d positions written in %.1f s = %.0f positions/s\n", benchN(), el.Seconds(), float64(benchN())/el.Seconds())
		setErr = h.Close()
	})
	if setErr != nil {
		tb.Fatal(setErr)
	}
	return setDir
}

var tempSet string // removed after the tests

func BenchmarkAppend(b *testing.B) {
	h, err := Open(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	g := newGen()
	var ps []Position
	b.ResetTimer()
	for written := 0; written < b.N; {
		k := min(benchBatch, b.N-written)
		b.StopTimer()
		ps = g.fill(ps, k)
		b.StartTimer()
		if err := h.Append(Batch{Positions: ps}); err != nil {
			b.Fatal(err)
		}
		written += k
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "positions/s")
}

func BenchmarkTrackDay(b *testing.B) {
	h, err := Open(Config{Dir: dataSet(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.ResetTimer()
	for b.Loop() {
		ps, err := h.Track(fastUnit, day0, day0+msPerDay-1, 0)
		if err != nil || len(ps) != 86_400 {
			b.Fatal(len(ps), err)
		}
	}
	b.ReportMetric(86_400, "positions/op")
}

// queryStart is 30 minutes into the data set, or as late as a 10 minute query fits.
func queryStart(n int64) int64 {
	dur := n / (genUnits / 10) * 1000 // ms of data
	return genStart + max(0, min(30*msPerMinute, dur-10*msPerMinute))
}

// box2km is 2 km × 2 km around a point.
func box2km(lat, lon float64, since int64) AreaQuery {
	dLat, dLon := 1000/mPerDegLat, 1000/(mPerDegLat*math.Cos(lat*math.Pi/180))
	return AreaQuery{MinLat: lat - dLat, MinLon: lon - dLon, MaxLat: lat + dLat, MaxLon: lon + dLon,
		Since: since, Until: since + 10*msPerMinute - 1}
}

func BenchmarkArea(b *testing.B) {
	h, err := Open(Config{Dir: dataSet(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	q := box2km(genLat, genLon, queryStart(benchN()))
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n = 0
		if _, err := h.Area(q, func(*Position) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "positions/op")
}

// BenchmarkOpen is Open and the first query of a day (which opens its DB).
func BenchmarkOpen(b *testing.B) {
	dir := dataSet(b)
	for b.Loop() {
		h, err := Open(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.HasPosition(fastUnit, day0, 1); err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

// TestFigures writes history.n positions and the fast unit's day, then
// measures the disk, and a reopen (in a fresh process) with all of it and
// with a tenth: memory, open time, cold and warm queries.
func TestFigures(t *testing.T) {
	if *flReopen != "" {
		reopenFigures(t, *flReopen)
		return
	}
	if !*flFigures {
		t.Skip("-history.figures not set")
	}
	n := benchN()
	for _, size := range []int64{n, n / 10} {
		dir := t.TempDir()
		h, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		el := writeSet(t, h, size)
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		total := size + 86_400
		disk, sst := duBytes(filepath.Join(dir, "positions"))
		t.Logf("n=%d: write %.0f positions/s (batches of %d, fsync each); disk %.1f MB = %.1f B/position, of which sstables %.1f B/position (%d decimals)",
			size, float64(size)/el.Seconds(), benchBatch, float64(disk)/1e6, float64(disk)/float64(total), float64(sst)/float64(total), *flDecimals)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFigures$", "-history.reopen="+dir, fmt.Sprintf("-history.n=%d", size))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "FIGURE ") {
				t.Logf("n=%d: %s", size, strings.TrimPrefix(l, "FIGURE "))
			}
		}
		// and once compacted
		h, err = Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		for _, day := range h.Days(Positions) {
			d, err := h.acquire(h.roots[Positions], dayOf(mustDay(day)), false)
			if err != nil || d == nil {
				t.Fatal(err)
			}
			err = d.db.Compact([]byte{0}, []byte{0xff}, true)
			d.release()
			if err != nil {
				t.Fatal(err)
			}
		}
		h.Close()
		disk, sst = duBytes(filepath.Join(dir, "positions"))
		t.Logf("n=%d: after a full compaction: %.1f B/position, of which sstables %.1f", size, float64(disk)/float64(total), float64(sst)/float64(total))
	}
}

func mustDay(s string) int64 {
	t, err := time.Parse(dayLayout, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func reopenFigures(t *testing.T, dir string) {
	fmt.Printf("FIGURE before open: %s\n", memStr())
	start := time.Now()
	h, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	opened := time.Since(start)
	start = time.Now()
	if _, err := h.HasPosition(fastUnit, day0, 1); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("FIGURE Open %.2f ms; first lookup (opens the day DB) %.2f ms; after: %s\n",
		ms(opened), ms(time.Since(start)), memStr())
	timed := func(name string, f func() int) {
		var times []float64
		n := 0
		for range 6 {
			start := time.Now()
			n = f()
			times = append(times, ms(time.Since(start)))
		}
		fmt.Printf("FIGURE %s: %d positions, first %.2f ms, then %.2f ms (median of 5)\n", name, n, times[0], median(times[1:]))
	}
	timed("Track of one unit's day at 1 s", func() int {
		ps, err := h.Track(fastUnit, day0, day0+msPerDay-1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	})
	timed("Track of one unit at 10 s, whole set", func() int {
		ps, err := h.Track("car-0042", 0, math.MaxInt64, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	})
	for i, c := range [][2]float64{{genLat, genLon}, {genLat + 0.05, genLon - 0.04}, {genLat - 0.07, genLon + 0.06}} {
		q := box2km(c[0], c[1], queryStart(benchN())+int64(i)*msPerMinute)
		timed(fmt.Sprintf("Area 2 km × 2 km × 10 min, box %d", i), func() int {
			n := 0
			if _, err := h.Area(q, func(*Position) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		})
	}
	fmt.Printf("FIGURE after queries: %s\n", memStr())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func memStr() string {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss := "?"
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "VmRSS:") {
				rss = strings.Join(strings.Fields(l)[1:], " ")
			}
		}
		f.Close()
	}
	return fmt.Sprintf("RSS %s, Go heap %.1f MB (sys %.1f MB)", rss, float64(m.HeapAlloc)/1e6, float64(m.HeapSys)/1e6)
}

// duBytes is the space the files under dir take (allocated blocks), and
// the part of it sstables take.
func duBytes(dir string) (total, sst int64) {
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n := info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n = st.Blocks * 512
			}
			total += n
			if strings.HasSuffix(path, ".sst") {
				sst += n
			}
		}
		return nil
	})
	return total, sst
}
