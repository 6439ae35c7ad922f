package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/agent/internal/queue"
	"kuaifan/hub/hubtest"
)

// childEnv makes TestChildAgent an agent process for TestSurvivesSIGKILL.
const childEnv = "KUAIFAN_AGENT_CHILD"

type childSpec struct {
	Broker, Unit, Secret, Dir string
}

// TestChildAgent is not a test on its own: run by TestSurvivesSIGKILL as a
// child process, it runs an agent driving east and prints "T <seq>" for
// every position once it is queued (on disk), until it is killed or gets
// SIGTERM.
func TestChildAgent(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("run by TestSurvivesSIGKILL")
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Println("E", err)
		os.Exit(3)
	}
	cfg := testConfig(t, spec.Broker, spec.Unit, spec.Secret)
	cfg.DataDir = spec.Dir
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := New(cfg)
	if err != nil {
		fmt.Println("E", err)
		os.Exit(3)
	}
	sim := gps.NewSim(gps.SimConfig{Interval: 100 * time.Millisecond, NoiseM: -1})
	sim.Set(lat0, lon0, 12, 90)
	a.UseGPS(sim)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	a.onQueued = func(it queue.Item) {
		if it.Kind != queue.Telemetry {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "T %d\n", it.Seq)
		out.Flush() // the parent must see it as soon as it is on disk
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // never outlive a lost parent
	defer cancel()
	if err := a.Run(ctx); err != nil {
		fmt.Println("E", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// child is an agent process.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seqs []uint64
	done chan struct{}
}

func startChild(t *testing.T, spec childSpec) *child {
	t.Helper()
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildAgent$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { // ends when the child's stdout closes
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var seq uint64
			if _, err := fmt.Sscanf(sc.Text(), "T %d", &seq); err == nil {
				c.mu.Lock()
				c.seqs = append(c.seqs, seq)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.signal(syscall.SIGKILL) })
	return c
}

func (c *child) queued() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs)
}

func (c *child) waitQueued(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, func() error {
		if got := len(c.queued()); got < n {
			return fmt.Errorf("child queued %d positions, want %d", got, n)
		}
		return nil
	})
}

// signal sends sig and waits for the child to end; again does nothing.
func (c *child) signal(sig syscall.Signal) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	<-c.done
	_ = c.cmd.Wait()
}

// An agent killed with SIGKILL while offline, and started again on the
// same data directory, loses nothing it had queued: once the broker is
// back every position of both runs is in the hub's history exactly once.
func TestSurvivesSIGKILL(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	h := hubtest.Start(t, nil)
	spec := childSpec{Broker: h.MQTTURL(), Unit: "car-k", Secret: h.Enrol("car-k", "car"), Dir: t.TempDir()}

	c1 := startChild(t, spec)
	c1.waitQueued(t, 5)
	waitFor(t, 10*time.Second, func() error {
		if len(trackOf(t, h, "car-k")) < 3 {
			return fmt.Errorf("no track yet")
		}
		return nil
	})
	h.Stop() // the broker goes away
	online := len(c1.queued())
	c1.waitQueued(t, online+20)
	c1.signal(syscall.SIGKILL)
	first := c1.queued()

	c2 := startChild(t, spec)
	c2.waitQueued(t, 10)
	c2.signal(syscall.SIGKILL) // and once more, before it ever reconnects
	second := c2.queued()

	c3 := startChild(t, spec)
	c3.waitQueued(t, 5)
	if second[0] <= first[len(first)-1] || c3.queued()[0] <= second[len(second)-1] {
		t.Fatalf("seq went backwards across the restarts: %d…%d, %d…%d, %d…",
			first[0], first[len(first)-1], second[0], second[len(second)-1], c3.queued()[0])
	}
	h = h.Restart()
	waitFor(t, 30*time.Second, func() error {
		all := append(append(slices.Clone(first), second...), c3.queued()...)
		return checkTrack(h, t, "car-k", all)
	})
	c3.signal(syscall.SIGTERM)
	if code := c3.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("child exited with %d after SIGTERM", code)
	}
	t.Logf("%d positions before the first kill (%d of them offline), %d in the second run, %d in the third: all in the history once",
		len(first), len(first)-online, len(second), len(c3.queued()))
}
