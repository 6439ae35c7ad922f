package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/queue"
	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// fillQueue puts n positions, oldest first, into the queue in dir, as an
// agent that was offline for a while leaves it.
func fillQueue(tb testing.TB, dir, unit string, n int, from time.Time, step time.Duration) {
	tb.Helper()
	q, err := queue.Open(queue.Config{Dir: dir, MaxItems: 2 * n})
	if err != nil {
		tb.Fatal(err)
	}
	defer q.Close()
	for i := range n {
		ts := from.Add(time.Duration(i) * step).UnixMilli()
		lon := lon0 + east(float64(i%1000))
		if _, err := q.Append(queue.Telemetry, ts, func(seq uint64) ([]byte, error) {
			return protocol.Encode(protocol.Telemetry{Unit: unit, Seq: seq, TS: ts, Lat: lat0, Lon: lon,
				Status: protocol.StatusAvailable, SpeedMPS: ptr(12), HeadingDeg: ptr(90)})
		}); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkDrain measures how fast an agent empties a 100,000-position
// offline queue into the hub after reconnecting (until the hub has
// confirmed every one), while it keeps reporting live at 1 Hz. One op is
// one whole drain. Metrics: positions/s to the hub; live reports sent
// during the drain and the longest a live report waited to be published.
//
//	go test -run '^$' -bench Drain -benchtime 1x
func BenchmarkDrain(b *testing.B) {
	for _, rate := range []int{DefaultDrainRate, 1_000_000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			for range b.N {
				drainOnce(b, rate)
			}
		})
	}
}

func drainOnce(b *testing.B, rate int) {
	const backlog = 100_000
	h := hubtest.Start(b, func(c *hub.Config) { c.AckInterval = 250 * time.Millisecond }) // the hub's default
	secret := h.Enrol("car-d", "car")
	dir := b.TempDir()
	b.StopTimer()
	fillQueue(b, dir, "car-d", backlog, time.Now().Add(-backlog*200*time.Millisecond), 200*time.Millisecond)

	cfg := testConfig(b, h.MQTTURL(), "car-d", secret)
	cfg.Logger = nil
	cfg.DataDir, cfg.DrainRate, cfg.MaxQueued = dir, rate, 2*backlog
	cfg.Report = DefaultConfig().Report // 1 Hz: the unit drives fast
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sim := gps.NewSim(gps.SimConfig{NoiseM: -1})
	sim.Set(lat0, lon0, 12, 90)
	a.UseGPS(sim)
	var mu sync.Mutex
	queuedAt := map[uint64]time.Time{}
	var liveDelay time.Duration
	live := 0
	a.onQueued = func(it queue.Item) {
		mu.Lock()
		defer mu.Unlock()
		queuedAt[it.Seq] = time.Now()
	}
	a.onPublish = func(it queue.Item, _ byte) {
		mu.Lock()
		defer mu.Unlock()
		if at, ok := queuedAt[it.Seq]; ok {
			delete(queuedAt, it.Seq)
			live++
			liveDelay = max(liveDelay, time.Since(at))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.StartTimer()
	began := time.Now()
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for a.Stats().Confirmed < backlog {
		time.Sleep(10 * time.Millisecond)
		if time.Since(began) > 5*time.Minute {
			b.Fatalf("drain not done after 5 min: %+v", a.Stats())
		}
	}
	took := time.Since(began)
	b.StopTimer()
	mu.Lock()
	b.ReportMetric(backlog/took.Seconds(), "positions/s")
	b.ReportMetric(float64(live), "live_sent")
	b.ReportMetric(float64(liveDelay.Milliseconds()), "live_max_delay_ms")
	mu.Unlock()
	// Every one of them in the history, once.
	hubtest.WaitFor(b, 30*time.Second, func() error {
		if n := len(trackOf(b, h, "car-d")); n < backlog {
			return fmt.Errorf("history has %d of %d", n, backlog)
		}
		return nil
	})
	b.StartTimer()
}

// BenchmarkFootprint runs the agent binary (cmd/agent, built without the
// race detector) in a child process, reporting at 1 Hz with 10,000 positions
// queued, and reads its CPU time and peak resident memory from /proc over
// 30 s: once offline (the queue holds the 10,000 and grows), once online
// after the backlog has drained.
//
//	go test -run '^$' -bench Footprint -benchtime 1x
func BenchmarkFootprint(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	window := 30 * time.Second
	if s := os.Getenv("KUAIFAN_FOOTPRINT_WINDOW"); s != "" {
		window, _ = time.ParseDuration(s)
	}
	for range b.N {
		h := hubtest.Start(b, nil)
		secret := h.Enrol("car-f", "car")
		for _, phase := range []string{"offline", "online"} {
			dir := b.TempDir()
			fillQueue(b, dir, "car-f", 10_000, time.Now().Add(-10_000*time.Second), time.Second)
			broker := h.MQTTURL()
			if phase == "offline" {
				broker = "tcp://127.0.0.1:1" // nothing listens: the queue keeps everything
			}
			cmd := exec.Command(bin, "-unit", "car-f", "-secret", secret, "-broker", broker, "-gps", "sim",
				"-data", dir, "-terminal", "", "-log-level", "error", "-max-queued", "50000",
				"-report-moving_s", "1", "-report-patrol_s", "1", "-report-stationary_s", "1")
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			pid := cmd.Process.Pid
			if phase == "online" {
				// Measure 1 Hz reporting, not the drain: wait until the backlog is in.
				hubtest.WaitFor(b, 60*time.Second, func() error {
					if n := len(trackOf(b, h, "car-f")); n < 10_000 {
						return fmt.Errorf("history has %d", n)
					}
					return nil
				})
			} else {
				time.Sleep(2 * time.Second) // started, queue loaded
			}
			cpu0 := cpuTicks(b, pid)
			t0 := time.Now()
			time.Sleep(window)
			cpu := float64(cpuTicks(b, pid)-cpu0) / 100 / time.Since(t0).Seconds() // CLK_TCK is 100 on Linux
			hwm, rss := memKB(b, pid, "VmHWM:"), memKB(b, pid, "VmRSS:")
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				b.Errorf("%s agent: %v", phase, err)
			}
			b.ReportMetric(cpu*100, phase+"_cpu_%")
			b.ReportMetric(float64(hwm)/1024, phase+"_VmHWM_MB")
			b.ReportMetric(float64(rss)/1024, phase+"_VmRSS_MB")
		}
		if fi, err := os.Stat(bin); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "binary_MB")
		}
	}
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(tb testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func memKB(tb testing.TB, pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
