package agent

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/agent/internal/queue"
	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// metres east of lon0 in degrees of longitude, at lat0.
func east(m float64) float64 {
	return m / (protocol.EarthRadiusM * math.Pi / 180 * math.Cos(lat0*math.Pi/180))
}

func north(m float64) float64 { return m / (protocol.EarthRadiusM * math.Pi / 180) }

// A unit driving east with a simulated receiver: it appears on the hub,
// moves there, its track fills, every position is confirmed and leaves the
// queue, every report went at QoS 1, and a clean stop marks it offline.
func TestReportsReachTheHub(t *testing.T) {
	h := hubtest.Start(t, nil)
	r := start(t, testConfig(t, h.MQTTURL(), "car-1", h.Enrol("car-1", "car")), lat0, lon0, 12)

	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-1"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-1 not online with a position: %+v", u)
		}
		return nil
	})
	for i := 1; i <= 10; i++ {
		r.Sim.Set(lat0, lon0+east(float64(i)*20), 12, 90)
		time.Sleep(150 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, func() error {
		u := unitOf(t, h, "car-1")
		if u.Lon == nil || math.Abs(*u.Lon-(lon0+east(200))) > 1e-9 {
			return fmt.Errorf("car-1 at %v, want lon %v", u.Lon, lon0+east(200))
		}
		if u.Status != protocol.StatusAvailable {
			return fmt.Errorf("status %s", u.Status)
		}
		return nil
	})
	waitConfirmed(t, h, r, 10*time.Second)
	tr := trackOf(t, h, "car-1")
	if len(tr) < 15 {
		t.Errorf("track has %d points; the unit reported every 100 ms for over 1.5 s", len(tr))
	}
	for i := 1; i < len(tr); i++ {
		if tr[i].TS < tr[i-1].TS {
			t.Fatalf("track not in time order at %d", i)
		}
	}

	// paho drops a QoS 0 publish made while reconnecting: none is made.
	for _, p := range r.rec.publishes() {
		if p.qos != 1 {
			t.Fatalf("report %d published at QoS %d", p.seq, p.qos)
		}
	}
	s := r.Stats()
	if s.Confirmed != s.Positions+s.Events || s.Queued != 0 || s.Dropped != 0 || !s.Connected || s.Sent < s.Confirmed {
		t.Errorf("stats %+v", s)
	}

	r.stop(t)
	waitFor(t, 5*time.Second, func() error {
		if unitOf(t, h, "car-1").Online {
			return fmt.Errorf("car-1 still online after a clean shutdown")
		}
		return nil
	})
}

// NMEA from a file (mixed BeiDou/GPS talkers, a no-fix epoch, a bad
// checksum, garbage), reported by GPS time: the hub keeps the 2025 drive
// because its retention is long here.
func TestNMEAFileReachesTheHub(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Retention = 20 * 365 * 24 * time.Hour })
	cfg := testConfig(t, h.MQTTURL(), "car-2", h.Enrol("car-2", "car"))
	cfg.GPS = "nmea:testdata/changsha-drive.nmea"
	cfg.Report = DefaultConfig().Report // by GPS time: 11 m/s is fast, one report a second
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := runAgent(t, a)

	waitFor(t, 10*time.Second, func() error {
		if n := len(trackOf(t, h, "car-2")); n != 19 {
			return fmt.Errorf("track has %d points, want 19 (20 epochs, one without a fix)", n)
		}
		return nil
	})
	waitConfirmed(t, h, r, 10*time.Second)
	tr := trackOf(t, h, "car-2")
	if first := time.UnixMilli(tr[0].TS).UTC(); !first.Equal(time.Date(2025, 3, 14, 2, 30, 0, 0, time.UTC)) {
		t.Errorf("first position at %v, want the log's GPS time", first)
	}
	for i := 1; i < len(tr); i++ {
		if tr[i].Lon <= tr[i-1].Lon {
			t.Errorf("point %d not east of %d: %v then %v", i, i-1, tr[i-1].Lon, tr[i].Lon)
		}
	}
	u := unitOf(t, h, "car-2")
	if u.Lon == nil || math.Abs(*u.Lon-tr[len(tr)-1].Lon) > 1e-9 {
		t.Errorf("live position %v is not the drive's last %v", u.Lon, tr[len(tr)-1].Lon)
	}
	g := r.Stats().GPS
	if g.Fixes != 19 || g.BadChecksum != 1 || g.Garbage != 1 || g.NoFix != 1 {
		t.Errorf("gps stats %+v", g)
	}
}

// -replay: a recorded log drives the unit now — its fixes carry the
// agent's clock, so a hub with the usual 24 h retention shows it moving.
func TestReplayStampsFixesNow(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "car-3", h.Enrol("car-3", "car"))
	b, err := os.ReadFile("testdata/changsha-drive.nmea")
	if err != nil {
		t.Fatal(err)
	}
	// The first three epochs: a paced replay takes two seconds.
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, ",023003.00,") {
			break
		}
		lines = append(lines, l)
	}
	path := filepath.Join(t.TempDir(), "short.nmea")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.GPS, cfg.Replay = "nmea:"+path, true
	cfg.Report = DefaultConfig().Report
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	runAgent(t, a)
	waitFor(t, 10*time.Second, func() error {
		if n := len(trackOf(t, h, "car-3")); n != 3 {
			return fmt.Errorf("track has %d points, want 3", n)
		}
		return nil
	})
	tr := trackOf(t, h, "car-3")
	for _, p := range tr {
		if at := time.UnixMilli(p.TS); at.Before(began.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("replayed fix stamped %v, not now", at)
		}
	}
	if span := time.Duration(tr[2].TS-tr[0].TS) * time.Millisecond; span < 1500*time.Millisecond {
		t.Errorf("three epochs a second apart replayed within %v: not paced", span)
	}
}

// runAgent runs an agent New made, without a Sim.
func runAgent(t *testing.T, a *Agent) *running {
	t.Helper()
	r := &running{Agent: a, rec: &recorder{}, done: make(chan error, 1)}
	r.rec.hook(a)
	ctx, cancel := contextWithCancel()
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// The embedded broker (the hub) goes away while the unit drives, and comes
// back: every position made offline reaches the history exactly once, the
// newest goes first after the reconnect, and live reports keep going while
// the backlog drains behind them.
func TestBrokerGoesAwayEmbedded(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "car-4", h.Enrol("car-4", "car"))
	cfg.DrainRate = 10 // a slow drain, to watch live reports overtake it
	r := start(t, cfg, lat0, lon0, 12)
	waitFor(t, 10*time.Second, func() error {
		if len(trackOf(t, h, "car-4")) < 5 {
			return fmt.Errorf("no track yet")
		}
		return nil
	})

	h.Stop()
	waitFor(t, 10*time.Second, func() error {
		if r.link.Connected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	offlineFrom := len(r.rec.publishes())
	r.rec.resetOffline()
	waitFor(t, 20*time.Second, func() error {
		if n := len(r.rec.offlineSeqs()); n < 25 {
			return fmt.Errorf("%d positions queued offline", n)
		}
		return nil
	})
	h = h.Restart()
	checkDrain(t, r, offlineFrom)
	waitConfirmed(t, h, r, 30*time.Second)
	if s := r.Stats(); s.Reconnects < 1 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

// checkDrain checks the order of what went out after the reconnect: the
// first position is newer than every offline one, and live positions
// went out while the offline backlog was still draining.
func checkDrain(t *testing.T, r *running, from int) {
	t.Helper()
	offline := r.rec.offlineSeqs()
	var maxOffline uint64
	for s := range offline {
		maxOffline = max(maxOffline, s)
	}
	var after []published
	waitFor(t, 30*time.Second, func() error {
		after = nil
		seen := map[uint64]bool{}
		for _, p := range r.rec.publishes()[from:] {
			if p.kind == queue.Telemetry {
				after = append(after, p)
				seen[p.seq] = true
			}
		}
		for s := range offline {
			if !seen[s] {
				return fmt.Errorf("offline position %d not sent yet", s)
			}
		}
		return nil
	})
	if after[0].seq < maxOffline {
		t.Errorf("first position after the reconnect is %d, older than the offline %d", after[0].seq, maxOffline)
	}
	// Where the backlog finished, how many live positions had gone out.
	last := 0
	for i, p := range after {
		if offline[p.seq] {
			last = i
		}
	}
	live := 0
	for _, p := range after[:last] {
		if p.seq > maxOffline {
			live++
		}
	}
	if live < 5 {
		t.Errorf("only %d live positions went out during a drain of %d offline ones", live, len(offline))
	}
	t.Logf("after the reconnect: %d offline positions drained, %d live ones sent meanwhile", len(offline), live)
}

// A GPS source that ends (a log file, here one without a single fix)
// leaves the unit online: the officer can still change its status, and
// Run ends cleanly.
func TestSourceEndKeepsTheUnitOnline(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "car-5", h.Enrol("car-5", "car"))
	path := filepath.Join(t.TempDir(), "empty.nmea")
	if err := os.WriteFile(path, []byte("$GPGGA,garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.GPS = "nmea:" + path
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := runAgent(t, a)
	waitFor(t, 10*time.Second, func() error {
		if !unitOf(t, h, "car-5").Online {
			return fmt.Errorf("not online")
		}
		return nil
	})
	if err := r.SetStatus(protocol.StatusBusy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-5"); u.Status != protocol.StatusBusy {
			return fmt.Errorf("status %s", u.Status)
		}
		return nil
	})
	if s := r.Stats(); s.GPS.Garbage != 1 {
		t.Errorf("gps stats %+v", s.GPS)
	}
}
