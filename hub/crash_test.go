package hub_test

import (
	"context"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
	"kuaifan/protocol"
)

// TestCrashChild is the hub process of TestKillNineLosesNothingConfirmed: it
// runs only when that test starts this binary again with KUAIFAN_CRASH_DATA set.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("KUAIFAN_CRASH_DATA")
	if dir == "" {
		t.Skip("runs as the child of TestKillNineLosesNothingConfirmed")
	}
	cfg := hub.DefaultConfig()
	cfg.HTTPAddr, cfg.MQTTAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.AdminToken = "crash-token"
	if d, err := time.ParseDuration(os.Getenv("KUAIFAN_CRASH_ACK_INTERVAL")); err == nil {
		cfg.AckInterval = d
	}
	cfg.BrokerURL = os.Getenv("KUAIFAN_CRASH_BROKER")
	if os.Getenv("KUAIFAN_CRASH_HASHER") == "process" {
		// As the hub command runs: passwords hashed in a child at nice 19.
		t.Setenv(hashWorkerEnv, "1")
		p := access.NewProcessHasher(os.Args[0], nil, nil)
		defer p.Close()
		cfg.PasswordHasher = p
	}
	h, err := hub.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	addrs := h.HTTPAddr() + " " + h.MQTTAddr()
	if err := os.WriteFile(filepath.Join(dir, "addrs"), []byte(addrs), 0o600); err != nil {
		t.Fatal(err)
	}
	if addr := os.Getenv("KUAIFAN_CRASH_PPROF"); addr != "" {
		// Profiling the hub under a load benchmark: go tool pprof http://addr/debug/pprof/profile
		go http.ListenAndServe(addr, nil)
	}
	h.Run(context.Background()) // until SIGKILL
}

// hubGODEBUG is the runtime setting hub/README (Capacity) gives the hub: the
// child runs as deployed.
const hubGODEBUG = "gcshrinkstackoff=1"

// startChild runs a hub in another process on dir and returns its API URL and
// the URL of its embedded broker. With externalBroker set, the hub uses that
// broker instead and the URL returned is externalBroker.
func startChild(t testing.TB, dir, externalBroker string) (*exec.Cmd, string, string) {
	t.Helper()
	os.Remove(filepath.Join(dir, "addrs"))
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "KUAIFAN_CRASH_DATA="+dir, "KUAIFAN_CRASH_BROKER="+externalBroker,
		"GODEBUG="+hubGODEBUG)
	logPath := filepath.Join(dir, "child.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("hub process output (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
			}
		}
	})
	var addrs []string
	hubtest.WaitFor(t, 20*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "addrs"))
		if err != nil {
			return err
		}
		addrs = strings.Fields(string(b))
		if len(addrs) != 2 && !(externalBroker != "" && len(addrs) == 1) {
			return fmt.Errorf("addrs = %q", b)
		}
		return nil
	})
	if externalBroker != "" {
		return cmd, "http://" + addrs[0], externalBroker
	}
	return cmd, "http://" + addrs[0], "tcp://" + addrs[1]
}

// The hub is killed with SIGKILL while a unit streams positions: every seq it
// had confirmed must be in the history after it comes back. Confirmation
// follows the commit, never precedes it.
func TestKillNineLosesNothingConfirmed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	dir := t.TempDir()
	t.Setenv("KUAIFAN_CRASH_ACK_INTERVAL", "10ms")
	cmd, api, broker := startChild(t, dir, "")
	secret := enrol(t, api, "crash-token", "car-1")
	d := hubtest.Connect(t, broker, "car-1", secret, hubtest.DeviceOptions{})

	start := time.Now()
	stop := make(chan struct{})
	sent := make(chan uint64, 1)
	go func() {
		var seq uint64
		defer func() { sent <- seq }()
		for seq = 1; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			tm := d.Fix(seq, start.Add(time.Duration(seq)*time.Millisecond), lat0, lon0, protocol.StatusAvailable)
			payload, _ := protocol.Encode(tm)
			// Don't wait for the PUBACK: keep the hub busy committing.
			d.Client.Publish("rr/units/car-1/telemetry", 1, false, payload)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	hubtest.WaitFor(t, 20*time.Second, func() error {
		if n := d.AckedRanges().Len(); n < 2000 {
			return fmt.Errorf("%d confirmed so far", n)
		}
		return nil
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	n := <-sent
	confirmed := d.AckedRanges()
	d.Client.Disconnect(0)

	_, api, _ = startChild(t, dir, "")
	var track []point
	status := getJSON(t, api, "crash-token", "/api/units/car-1/track?limit=100000", &track)
	if status != http.StatusOK {
		t.Fatalf("track after restart: %d", status)
	}
	stored := protocol.Ranges(nil)
	for _, p := range track {
		stored = stored.Insert(p.Seq)
	}
	var lost []uint64
	for _, r := range confirmed {
		for s := r[0]; s <= r[1]; s++ {
			if !stored.Contains(s) {
				lost = append(lost, s)
			}
		}
	}
	t.Logf("sent %d, confirmed %d before SIGKILL, %d stored after restart", n, confirmed.Len(), len(track))
	if len(lost) > 0 {
		t.Fatalf("%d confirmed positions lost in the crash, e.g. seq %v", len(lost), lost[:min(len(lost), 10)])
	}
}

func enrol(t testing.TB, api, token, id string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, api+"/api/units", strings.NewReader(`{"id":"`+id+`","type":"car"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Secret string }
	if err := decodeJSON(resp, &out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("enrol: %d %v", resp.StatusCode, err)
	}
	return out.Secret
}

func getJSON(t testing.TB, api, token, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp, v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
