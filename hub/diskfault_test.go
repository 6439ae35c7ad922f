package hub_test

// A real disk fails under a running hub: full, read-only, or refusing its
// snapshots. The hub must stop confirming, say why (/healthz, /metrics),
// keep serving reads, answer durable writes with a clear 503, and resume
// by itself once the disk works again — with every report its agents sent
// confirmed and stored exactly once.
//
// The faults are the kernel's own: a small tmpfs filled up (ENOSPC), an
// ext4 file system that hits an error and turns itself read-only
// (errors=remount-ro: EROFS on every write, as a failing disk does it). That
// needs root (mount); where this process may not mount, the disk-full test
// runs the hub in a child process whose file size limit (RLIMIT_FSIZE) is
// lowered to hub.db's size (EFBIG), and says so. Under CI=true nothing is
// skipped: the read-only test falls back to the same.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// faultHub is a hub under test, in this process or a child: what the
// agents and the checks need of it.
type faultHub struct {
	api, mqtt, token string
}

func (h faultHub) do(t *testing.T, method, path string, body, out any) (int, time.Duration) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(mustJSON(body)))
	}
	req, err := http.NewRequest(method, h.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	c := http.Client{Timeout: 20 * time.Second}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, took
}

func (h faultHub) health(t *testing.T) api.Health {
	t.Helper()
	var hl api.Health
	if st, _ := h.do(t, http.MethodGet, "/healthz", nil, &hl); st != http.StatusOK {
		t.Fatalf("/healthz: %d %+v", st, hl)
	}
	return hl
}

// metric reads one series from /metrics (0 if absent).
func (h faultHub) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(h.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// streamSnapshot opens the live stream and returns its first frame.
func (h faultHub) streamSnapshot(t *testing.T) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.api, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + h.token}}})
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// faultAgent plays a unit's agent by the contract: it numbers its reports,
// keeps each until the hub confirms it, and resends what is unconfirmed.
type faultAgent struct {
	id, secret string
	base       time.Time

	mu      sync.Mutex
	dev     *hubtest.Device
	earlier protocol.Ranges // confirmed to devices before a reconnect
	sent    []protocol.Telemetry
}

func (a *faultAgent) connect(t *testing.T, mqttURL string) {
	t.Helper()
	d := hubtest.Connect(t, mqttURL, a.id, a.secret, hubtest.DeviceOptions{})
	a.mu.Lock()
	if a.dev != nil {
		a.earlier = a.earlier.Union(a.dev.AckedRanges())
		a.dev.Client.Disconnect(0)
	}
	a.dev = d
	a.mu.Unlock()
}

func (a *faultAgent) confirmed() protocol.Ranges {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.earlier.Union(a.dev.AckedRanges())
}

func (a *faultAgent) publish(tm protocol.Telemetry) {
	payload, _ := protocol.Encode(tm)
	a.mu.Lock()
	d := a.dev
	a.mu.Unlock()
	d.Client.Publish("rr/units/"+a.id+"/telemetry", 1, false, payload).WaitTimeout(2 * time.Second)
}

// sendNext publishes the agent's next report.
func (a *faultAgent) sendNext() {
	a.mu.Lock()
	seq := uint64(len(a.sent) + 1)
	tm := protocol.Telemetry{Unit: a.id, Seq: seq, TS: a.base.Add(time.Duration(seq) * 10 * time.Millisecond).UnixMilli(),
		Lat: lat0 + float64(seq)*1e-6, Lon: lon0, Status: protocol.StatusAvailable}
	a.sent = append(a.sent, tm)
	a.mu.Unlock()
	a.publish(tm)
}

// resend publishes again every report not confirmed yet.
func (a *faultAgent) resend() {
	conf := a.confirmed()
	a.mu.Lock()
	var due []protocol.Telemetry
	for _, tm := range a.sent {
		if !conf.Contains(tm.Seq) {
			due = append(due, tm)
		}
	}
	a.mu.Unlock()
	for _, tm := range due {
		a.publish(tm)
	}
}

func (a *faultAgent) sentCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sent)
}

// loop runs f every interval until stop is closed; wait for done.
func loop(every time.Duration, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// diskFault is one way for the data directory's disk to fail.
type diskFault struct {
	name    string
	errText string // what /healthz and a refused write must name
	// start runs a hub on the disk; breakDisk makes the disk fail under it;
	// mend makes it work again; if the operator had to start the hub
	// again, it returns the new one and says how.
	start     func(t *testing.T) faultHub
	breakDisk func(t *testing.T)
	mend      func(t *testing.T) (faultHub, string)
}

// runDiskFault is the whole story of a failing disk, with an account.
func runDiskFault(t *testing.T, f diskFault) {
	const units = 3
	h := f.start(t)
	base := time.Now().Add(-time.Minute)
	var agents []*faultAgent
	for i := 1; i <= units; i++ {
		a := &faultAgent{id: fmt.Sprintf("car-%d", i), base: base}
		var out api.Enrolled
		if st, _ := h.do(t, http.MethodPost, "/api/units", map[string]any{"id": a.id, "type": "car", "capabilities": []string{}}, &out); st != http.StatusCreated {
			t.Fatalf("enrol %s: %d", a.id, st)
		}
		a.secret = out.Secret
		a.connect(t, h.mqtt)
		agents = append(agents, a)
	}
	totals := func() (sent, confirmed int) {
		for _, a := range agents {
			sent += a.sentCount()
			confirmed += int(a.confirmed().Len())
		}
		return sent, confirmed
	}
	for range 10 {
		for _, a := range agents {
			a.sendNext()
		}
	}
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if s, c := totals(); c != s {
			return fmt.Errorf("%d of %d confirmed", c, s)
		}
		return nil
	})
	if hl := h.health(t); hl.Status != api.HealthOK {
		t.Fatalf("/healthz before the fault: %+v", hl)
	}
	// An incident the hub does not dispatch to by itself (priority 3): a
	// dispatcher's assignment and closing are refused while the disk
	// fails, and work after.
	var quiet api.Incident
	if st, _ := h.do(t, http.MethodPost, "/api/incidents", map[string]any{"lat": lat0, "lon": lon0, "kind": "noise",
		"priority": 3, "summary": "disk fault test", "needs": []string{}}, &quiet); st != http.StatusCreated || len(quiet.Assignments) != 0 {
		t.Fatalf("incident before the fault: %d %+v", st, quiet)
	}

	// The agents report every 20 ms and resend what is unconfirmed every 250 ms.
	stopSending := loop(20*time.Millisecond, func() {
		for _, a := range agents {
			a.sendNext()
		}
	})
	defer stopSending()
	stopResending := loop(250*time.Millisecond, func() {
		for _, a := range agents {
			a.resend()
		}
	})
	defer stopResending()

	f.breakDisk(t)
	broke := time.Now()
	sentBroke, _ := totals()
	// A full disk still takes small writes into the last page of hub.db,
	// where a batch of reports may not fit: enrolments, the smallest
	// writes the API makes (~200 bytes, less than any batch), fill it.
	pads := 0
	for ; ; pads++ {
		st, _ := h.do(t, http.MethodPost, "/api/units", map[string]any{"id": fmt.Sprintf("p%d", pads), "type": "car"}, nil)
		if st == http.StatusServiceUnavailable {
			break
		}
		if st != http.StatusCreated || pads == 100 {
			t.Fatalf("enrolment %d after the fault: %d", pads, st)
		}
	}
	// The fault is steady once commits have been failing, with nothing
	// confirmed, for two probe intervals.
	var steadySince time.Time
	var lastConfirmed int
	hubtest.WaitFor(t, 15*time.Second, func() error {
		_, c := totals()
		failing := h.metric(t, "kuaifan_store_write_failing") == 1
		if !failing || c != lastConfirmed || steadySince.IsZero() {
			steadySince, lastConfirmed = time.Now(), c
			if !failing {
				steadySince = time.Time{}
			}
			return errors.New("commits not failing steadily yet")
		}
		if time.Since(steadySince) < 2200*time.Millisecond {
			return errors.New("steady for less than two probe intervals")
		}
		return nil
	})
	sent0, conf0 := totals()
	windowStart := time.Now()
	t.Logf("%s: commits failing %v after the fault; enrolments the disk still took: %d", f.name, steadySince.Sub(broke).Round(time.Millisecond), pads)

	// While it lasts: /healthz says why, the metrics count it, reads are
	// served, durable writes are refused at once with a clear 503.
	hl := h.health(t)
	if hl.Status != api.HealthDegraded || !strings.Contains(hl.Error, "commits failing") || !strings.Contains(hl.Error, f.errText) {
		t.Errorf("/healthz while the disk fails: %+v; want degraded, commits failing, naming %q", hl, f.errText)
	}
	t.Logf("/healthz: %s", hl.Error)
	var list []unitView
	if st, _ := h.do(t, http.MethodGet, "/api/units", nil, &list); st != http.StatusOK || len(list) != units+pads {
		t.Errorf("GET /api/units while the disk fails: %d, %d units", st, len(list))
	}
	var tr []point
	if st, _ := h.do(t, http.MethodGet, "/api/units/car-1/track", nil, &tr); st != http.StatusOK || len(tr) < 10 {
		t.Errorf("GET track while the disk fails: %d, %d positions", st, len(tr))
	}
	if fr := h.streamSnapshot(t); fr.Type != "snapshot" || len(fr.Units) != units+pads {
		t.Errorf("stream while the disk fails: %s frame with %d units", fr.Type, len(fr.Units))
	}
	var e api.Error
	st, took := h.do(t, http.MethodPost, "/api/units", map[string]any{"id": "car-9", "type": "car", "capabilities": []string{}}, &e)
	if st != http.StatusServiceUnavailable || !strings.Contains(e.Error, f.errText) || took > 5*time.Second {
		t.Errorf("enrolment while the disk fails: %d %q after %v; want 503 naming %q, at once", st, e.Error, took, f.errText)
	}
	t.Logf("enrolment: %d in %v: %s", st, took.Round(time.Millisecond), e.Error)
	// A hostage taking: the hub dispatches three units on its own.
	incident := map[string]any{"lat": lat0, "lon": lon0, "kind": "hostage", "priority": 1, "summary": "disk fault test", "needs": []string{}}
	st, took = h.do(t, http.MethodPost, "/api/incidents", incident, &e)
	if st != http.StatusServiceUnavailable || took > 5*time.Second {
		t.Errorf("new incident while the disk fails: %d %q after %v; want 503 at once", st, e.Error, took)
	}
	for _, call := range []struct{ path, body string }{{"/assign", `{"unit":"car-1"}`}, {"/close", `{"note":"done"}`}} {
		var body map[string]any
		json.Unmarshal([]byte(call.body), &body)
		if st, took := h.do(t, http.MethodPost, "/api/incidents/"+quiet.ID+call.path, body, &e); st != http.StatusServiceUnavailable || took > 5*time.Second {
			t.Errorf("%s while the disk fails: %d %q after %v; want 503 at once", call.path, st, e.Error, took)
		}
	}
	time.Sleep(time.Until(windowStart.Add(1500 * time.Millisecond)))
	sent1, conf1 := totals()
	if conf1 != conf0 {
		t.Errorf("%d reports confirmed while the disk failed", conf1-conf0)
	}
	if sent1 <= sent0 {
		t.Errorf("no reports sent while the disk failed")
	}
	if v := h.metric(t, "kuaifan_store_write_failing"); v != 1 {
		t.Errorf("kuaifan_store_write_failing = %v while the disk fails", v)
	}
	failures := map[string]float64{}
	for _, op := range []string{"commit", "sync"} {
		failures[op] = h.metric(t, `kuaifan_store_write_failures_total{op="`+op+`"}`)
	}
	batches := h.metric(t, "kuaifan_ingest_commit_errors_total")
	if failures["commit"]+failures["sync"] == 0 || batches == 0 {
		t.Errorf("failures not counted: store %v, ingest batches %v", failures, batches)
	}

	// Mended: the hub resumes by itself; the agents' resends are stored
	// and confirmed.
	stopSending()
	sentMend, confMend := totals()
	mended := time.Now()
	restarted, how := f.mend(t)
	if how != "" {
		h = restarted
		for _, a := range agents {
			a.connect(t, h.mqtt)
		}
	}
	hubtest.WaitFor(t, 15*time.Second, func() error {
		if hl := h.health(t); hl.Status != api.HealthOK {
			return fmt.Errorf("/healthz: %+v", hl)
		}
		return nil
	})
	healthy := time.Since(mended)
	hubtest.WaitFor(t, 20*time.Second, func() error {
		if s, c := totals(); c != s {
			return fmt.Errorf("%d of %d confirmed", c, s)
		}
		return nil
	})
	allConfirmed := time.Since(mended)
	stopResending()
	if v := h.metric(t, "kuaifan_store_write_failing"); v != 0 {
		t.Errorf("kuaifan_store_write_failing = %v after the disk was mended", v)
	}
	if st, _ := h.do(t, http.MethodPost, "/api/units", map[string]any{"id": "car-9", "type": "car", "capabilities": []string{}}, nil); st != http.StatusCreated {
		t.Errorf("enrolment after the disk was mended: %d", st)
	}
	// The refused assignment and closing left nothing behind: car-1 is
	// free, the incident open.
	var got api.Incident
	if st, _ := h.do(t, http.MethodPost, "/api/incidents/"+quiet.ID+"/assign", map[string]any{"unit": "car-1"}, &got); st != http.StatusOK || len(got.Assignments) != 1 {
		t.Errorf("assigning car-1 after the disk was mended: %d, %d assignments", st, len(got.Assignments))
	}
	if st, _ := h.do(t, http.MethodPost, "/api/incidents/"+quiet.ID+"/close", map[string]any{"note": "done"}, &got); st != http.StatusOK || got.Status != "closed" {
		t.Errorf("closing after the disk was mended: %d %s", st, got.Status)
	}
	var inc api.Incident
	if st, _ := h.do(t, http.MethodPost, "/api/incidents", incident, &inc); st != http.StatusCreated || len(inc.Assignments) != units {
		t.Errorf("new incident after the disk was mended: %d, %d units dispatched, want %d (none held by the refused one)", st, len(inc.Assignments), units)
	}
	var incs []api.Incident
	if h.do(t, http.MethodGet, "/api/incidents", nil, &incs); len(incs) != 1 {
		t.Errorf("%d incidents open, want 1: the refused one is not there", len(incs))
	}

	// The account: every report sent was confirmed and is stored, once.
	var account strings.Builder
	var sent, confirmed, stored, dups int
	for _, a := range agents {
		n := a.sentCount()
		var tr []point
		if st, _ := h.do(t, http.MethodGet, "/api/units/"+a.id+"/track?limit=100000", nil, &tr); st != http.StatusOK {
			t.Fatalf("track %s: %d", a.id, st)
		}
		var seqs protocol.Ranges
		for _, p := range tr {
			seqs = seqs.Insert(p.Seq)
		}
		conf := a.confirmed()
		want := protocol.Ranges{{1, uint64(n)}}
		if !slices.Equal(conf, want) || !slices.Equal(seqs, want) || len(tr) != n {
			t.Errorf("%s: sent 1–%d, confirmed %v, stored %v (%d records)", a.id, n, conf, seqs, len(tr))
		}
		sent, confirmed, stored, dups = sent+n, confirmed+int(conf.Len()), stored+int(seqs.Len()), dups+len(tr)-int(seqs.Len())
		fmt.Fprintf(&account, "\n  %s: sent %d, confirmed %v, stored %v, %d records", a.id, n, conf, seqs, len(tr))
	}
	t.Logf("%s: %d reports sent, %d of them while the disk failed (%d in a 1.5 s window of steady failure: none confirmed then), "+
		"%d awaiting confirmation when the disk was mended; failures: %v commit, %v sync, %v ingest batches; "+
		"confirmed %d, stored %d, %d stored twice; %s: /healthz ok %v after, every report confirmed %v after%s",
		f.name, sent, sentMend-sentBroke, sent1-sent0, sentMend-confMend, failures["commit"], failures["sync"], batches,
		confirmed, stored, dups, orMended(how), healthy.Round(time.Millisecond), allConfirmed.Round(time.Millisecond), account.String())
}

func orMended(how string) string {
	if how == "" {
		return "the disk mended under the running hub"
	}
	return how
}

// mountPermitted reports whether this process may mount file systems: root
// with CAP_SYS_ADMIN, outside a container that forbids it. It tries.
var mountPermitted = sync.OnceValues(func() (bool, string) {
	if os.Getuid() != 0 {
		return false, "not root"
	}
	dir, err := os.MkdirTemp("", "kuaifan-mount-*")
	if err != nil {
		return false, err.Error()
	}
	defer os.Remove(dir)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		return false, fmt.Sprintf("mount: %v: %s", err, out)
	}
	exec.Command("umount", dir).Run()
	return true, ""
})

// needMount skips a test that needs mount where it is not permitted —
// except under CI=true, where it must run: then false says to use the
// fallback.
// KUAIFAN_DISKFAULT_FALLBACK=1 runs the fallback where mounting works too.
// needs are what else the test uses: programs, and devices (a path).
func needMount(t *testing.T, needs ...string) bool {
	ok, why := mountPermitted()
	for _, n := range needs {
		var err error
		if strings.HasPrefix(n, "/") {
			_, err = os.Stat(n)
		} else {
			_, err = exec.LookPath(n)
		}
		if ok && err != nil {
			ok, why = false, err.Error()
		}
	}
	if os.Getenv("KUAIFAN_DISKFAULT_FALLBACK") == "1" {
		t.Log("KUAIFAN_DISKFAULT_FALLBACK=1: the fallback runs")
		return false
	}
	if !ok {
		if os.Getenv("CI") != "true" {
			t.Skipf("mounting is not permitted here (%s)", why)
		}
		t.Logf("mounting is not permitted here (%s): the fallback runs instead", why)
	}
	return ok
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// mount mounts a file system at a new directory and unmounts it when the
// test ends.
func mount(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", append(args, dir)...)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func startOn(t *testing.T, dir string) (*hubtest.Hub, faultHub) {
	t.Helper()
	h := hubtest.Start(t, func(c *hub.Config) { c.DataDir = dir; c.SnapshotInterval = -1 })
	return h, faultHub{api: h.URL, mqtt: h.MQTTURL(), token: h.AdminToken()}
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for _, size := range []int{64 << 10, 4 << 10, 1} {
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

// The data directory's disk fills up under a running hub (a 16 MiB tmpfs
// and a file written beside hub.db until ENOSPC), then the file is deleted.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a disk under a running hub")
	}
	if !needMount(t) {
		runDiskFault(t, fileSizeLimitFault(t))
		return
	}
	var dir string
	runDiskFault(t, diskFault{
		name:    "disk full (tmpfs)",
		errText: "no space left on device",
		start: func(t *testing.T) faultHub {
			dir = mount(t, "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs")
			_, h := startOn(t, dir)
			return h
		},
		breakDisk: func(t *testing.T) { fill(t, filepath.Join(dir, "filler")) },
		mend: func(t *testing.T) (faultHub, string) {
			if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
				t.Fatal(err)
			}
			return faultHub{}, ""
		},
	})
}

// The data directory's file system turns itself read-only under a running
// hub, as ext4 does on an error with errors=remount-ro (triggered here
// through /sys/fs/ext4/<dev>/trigger_fs_error): every write, fsync and
// create answers EROFS. The kernel does not let such a file system be
// made writable again while the hub holds its files (nor lets a healthy
// one be remounted read-only under them: EBUSY), so the mend is the
// operator's: stop the hub, unmount, e2fsck, mount, start the hub.
func TestDiskReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("turns a disk read-only under a running hub")
	}
	if !needMount(t, "truncate", "mkfs.ext4", "e2fsck", "findmnt", "/dev/loop-control") {
		runDiskFault(t, fileSizeLimitFault(t))
		return
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	run(t, "truncate", "-s", "64M", img)
	run(t, "mkfs.ext4", "-q", "-F", img)
	var (
		dir string
		h   *hubtest.Hub
	)
	runDiskFault(t, diskFault{
		name:    "read-only (ext4, errors=remount-ro)",
		errText: "read-only file system",
		start: func(t *testing.T) faultHub {
			dir = mount(t, "-o", "loop,errors=remount-ro", img)
			var fh faultHub
			h, fh = startOn(t, dir)
			return fh
		},
		breakDisk: func(t *testing.T) {
			src, err := exec.Command("findmnt", "-no", "SOURCE", dir).Output()
			if err != nil {
				t.Fatal(err)
			}
			dev := filepath.Base(strings.TrimSpace(string(src)))
			if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("kuaifan disk fault test\n"), 0o200); err != nil {
				t.Fatal(err)
			}
		},
		mend: func(t *testing.T) (faultHub, string) {
			start := time.Now()
			h.Stop()
			stopped := time.Since(start)
			run(t, "umount", dir)
			// e2fsck exits 1 when it corrected something: the error the
			// test raised is recorded in the superblock.
			if out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
					t.Fatalf("e2fsck: %v: %s", err, out)
				}
			}
			run(t, "mount", "-o", "loop,errors=remount-ro", img, dir)
			var fh faultHub
			h, fh = startOn(t, dir)
			return fh, fmt.Sprintf("the hub stopped in %v, e2fsck, mounted again, the hub started", stopped.Round(time.Millisecond))
		},
	})
}

// The snapshot cannot be written (a directory is in the way of its
// rename): /healthz says so and the metrics count it, while commits go on;
// once the way is clear, the next snapshot clears the report.
func TestSnapshotFailing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	dir := t.TempDir()
	h := hubtest.Start(t, func(c *hub.Config) { c.DataDir = dir; c.SnapshotInterval = 200 * time.Millisecond })
	snap := filepath.Join(dir, "hub.db.snapshot")
	hubtest.WaitFor(t, 5*time.Second, func() error { _, err := os.Stat(snap); return err })
	secret := h.Enrol("car-1", "car")
	d := hubtest.Connect(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{})
	start := time.Now().Add(-time.Minute)
	d.Send(d.Fix(1, start, lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)

	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(snap, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	blocked := time.Now()
	var hl api.Health
	hubtest.WaitFor(t, 5*time.Second, func() error {
		h.Do(http.MethodGet, "/healthz", nil, &hl)
		if hl.Status != api.HealthDegraded || !strings.Contains(hl.Error, "snapshots failing") {
			return fmt.Errorf("/healthz: %+v", hl)
		}
		return nil
	})
	t.Logf("/healthz after %v: %s", time.Since(blocked).Round(time.Millisecond), hl.Error)
	if v := metric(t, h, `kuaifan_store_maintenance_failing{op="snapshot"}`); v != 1 {
		t.Errorf(`kuaifan_store_maintenance_failing{op="snapshot"} = %v`, v)
	}
	if v := metric(t, h, "kuaifan_store_write_failing"); v != 0 {
		t.Errorf("kuaifan_store_write_failing = %v: snapshots failing are not commits failing", v)
	}
	d.Send(d.Fix(2, start.Add(time.Second), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(2) // commits go on

	if err := os.RemoveAll(snap); err != nil {
		t.Fatal(err)
	}
	cleared := time.Now()
	hubtest.WaitFor(t, 5*time.Second, func() error {
		h.Do(http.MethodGet, "/healthz", nil, &hl)
		if hl.Status != api.HealthOK {
			return fmt.Errorf("/healthz: %+v", hl)
		}
		return nil
	})
	failures := metric(t, h, `kuaifan_store_write_failures_total{op="snapshot"}`)
	if failures == 0 || metric(t, h, `kuaifan_store_maintenance_failing{op="snapshot"}`) != 0 {
		t.Errorf("snapshot failures %v; failing %v", failures, metric(t, h, `kuaifan_store_maintenance_failing{op="snapshot"}`))
	}
	if fi, err := os.Stat(snap); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		t.Errorf("the snapshot after the way was cleared: %v, %v", fi, err)
	}
	t.Logf("snapshot failing: %v failures, /healthz ok %v after the way was cleared", failures, time.Since(cleared).Round(time.Millisecond))
}

// TestDiskFaultChild is the hub process of the fallback: it runs only when
// fileSizeLimitFault starts this binary again with KUAIFAN_FSIZE_DATA set.
// SIGUSR1 lowers its file size limit to hub.db's size, so that every write
// that would grow a file fails (EFBIG; SIGXFSZ is ignored); SIGUSR2 lifts it.
func TestDiskFaultChild(t *testing.T) {
	dir := os.Getenv("KUAIFAN_FSIZE_DATA")
	if dir == "" {
		t.Skip("runs as the child of the disk fault tests' fallback")
	}
	signal.Ignore(syscall.SIGXFSZ)
	cfg := hub.DefaultConfig()
	cfg.HTTPAddr, cfg.MQTTAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	cfg.AdminToken, cfg.AckInterval, cfg.SnapshotInterval = "fsize-token", 20*time.Millisecond, -1
	h, err := hub.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sigs {
			var lim syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				panic(err)
			}
			lim.Cur = lim.Max
			if s == syscall.SIGUSR1 {
				fi, err := os.Stat(filepath.Join(dir, "hub.db"))
				if err != nil {
					panic(err)
				}
				lim.Cur = uint64(fi.Size())
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				panic(err)
			}
			os.WriteFile(filepath.Join(dir, "signalled"), []byte(s.String()), 0o600) // within the limit
		}
	}()
	addrs := h.HTTPAddr() + " " + h.MQTTAddr()
	if err := os.WriteFile(filepath.Join(dir, "addrs"), []byte(addrs), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Run(context.Background()) // until killed
}

// fileSizeLimitFault is the fallback where mounting is not permitted: the
// hub in a child process whose writes fail with EFBIG once its file size
// limit is lowered to hub.db's size — a disk that takes no more bytes.
func fileSizeLimitFault(t *testing.T) diskFault {
	var cmd *exec.Cmd
	dir := t.TempDir()
	signal := func(t *testing.T, s syscall.Signal) {
		os.Remove(filepath.Join(dir, "signalled"))
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
		hubtest.WaitFor(t, 5*time.Second, func() error { _, err := os.Stat(filepath.Join(dir, "signalled")); return err })
	}
	return diskFault{
		name:    "file size limit (fallback: RLIMIT_FSIZE in a child process)",
		errText: "file too large",
		start: func(t *testing.T) faultHub {
			cmd = exec.Command(os.Args[0], "-test.run=^TestDiskFaultChild$")
			cmd.Env = append(os.Environ(), "KUAIFAN_FSIZE_DATA="+dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			var addrs []string
			hubtest.WaitFor(t, 20*time.Second, func() error {
				b, err := os.ReadFile(filepath.Join(dir, "addrs"))
				if addrs = strings.Fields(string(b)); err != nil || len(addrs) != 2 {
					return fmt.Errorf("addrs %q: %v", b, err)
				}
				return nil
			})
			return faultHub{api: "http://" + addrs[0], mqtt: "tcp://" + addrs[1], token: "fsize-token"}
		},
		breakDisk: func(t *testing.T) { signal(t, syscall.SIGUSR1) },
		mend: func(t *testing.T) (faultHub, string) {
			signal(t, syscall.SIGUSR2)
			return faultHub{}, ""
		},
	}
}
