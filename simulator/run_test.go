package simulator

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/hubapi/hubapitest"
	"kuaifan/simulator/internal/incident"
	"kuaifan/simulator/internal/scenario"
)

// Run waits for the hub, then reads the token file the hub has written by
// then; with no broker to connect to it says so after ConnectWait.
func TestRunReadsTokenFileAndReportsNoBroker(t *testing.T) {
	f, srv := hubapitest.New(t, "file-token")
	f.UnhealthyFor = 2
	file := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(file, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A broker address where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := "tcp://" + ln.Addr().String()
	ln.Close()

	start := time.Now()
	rep, err := Run(context.Background(), Config{HubURL: srv.URL, BrokerURL: broker, AdminTokenFile: file,
		Units: 6, Duration: time.Minute, Seed: 9, ConnectWait: 1500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no unit could connect") || !strings.Contains(err.Error(), broker) {
		t.Errorf("err = %v, want no unit could connect to %s", err, broker)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Run took %v after its 1.5 s", took)
	}
	if rep.Units.Asked != 6 || rep.Units.Enrolled != 6 || rep.Units.Connected != 0 || rep.Seed != 9 {
		t.Errorf("report %+v", rep)
	}
	if len(f.Enrolled) != 6 {
		t.Errorf("%d units enrolled, want 6", len(f.Enrolled))
	}
	// leakcheck (TestMain) checks that nothing of the run is left.
}

func TestRunCancelledWhileWaitingForHub(t *testing.T) {
	f, srv := hubapitest.New(t, "tok")
	f.UnhealthyFor = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Config{HubURL: srv.URL, BrokerURL: "tcp://127.0.0.1:1", AdminToken: "tok"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{HubURL: "http://127.0.0.1:8080", BrokerURL: "tcp://127.0.0.1:1883", AdminToken: "t"}
	got, err := ok.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got.Units != DefaultUnits || got.Prefix != DefaultPrefix || got.TimeScale != 1 || got.City == nil ||
		got.Incidents == nil || got.Incidents.PerHour != incident.DefaultPerHour || got.Officer == nil ||
		got.Officer.DeclineRate != fleet.DefaultDeclineRate || got.TopicRoot != "rr" || got.Logger == nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	sc, _ := scenario.Builtin("robbery-chase")
	withScenario := ok
	withScenario.Scenario = &sc
	got, err = withScenario.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got.Units != sc.Units || got.TimeScale != sc.TimeScale || got.Duration != sc.Duration || got.Incidents.PerHour != 0 {
		t.Errorf("the scenario's settings not applied: units %d, scale %v, duration %v, rate %v",
			got.Units, got.TimeScale, got.Duration, got.Incidents.PerHour)
	}
	for name, edit := range map[string]func(*Config){
		"hub URL":      func(c *Config) { c.HubURL = "127.0.0.1:8080" },
		"broker URL":   func(c *Config) { c.BrokerURL = "" },
		"ws broker":    func(c *Config) { c.BrokerURL = "ws://127.0.0.1:8083/mqtt" },
		"TLS, dup":     func(c *Config) { c.BrokerURL, c.Faults = "ssl://127.0.0.1:8883", []string{"duplicate"} },
		"CA file":      func(c *Config) { c.CAFile = "/nonexistent/ca.pem" },
		"token":        func(c *Config) { c.AdminToken = "" },
		"units":        func(c *Config) { c.Units = -1 },
		"time scale":   func(c *Config) { c.TimeScale = -2 },
		"topic root":   func(c *Config) { c.TopicRoot = "rr/#" },
		"fault":        func(c *Config) { c.Faults = []string{"meteor"} },
		"officer":      func(c *Config) { c.Officer = &OfficerConfig{DeclineRate: 0.7, NoAnswerRate: 0.7} },
		"service time": func(c *Config) { c.Officer = &OfficerConfig{ServiceMin: time.Hour, ServiceMax: time.Minute} },
		"lapses":       func(c *Config) { c.Lapses = 1.5 },
	} {
		c := ok
		edit(&c)
		if _, err := c.resolve(); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
		if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "config") {
			t.Errorf("%s: Run err = %v", name, err)
		}
	}
	c := ok
	c.Prefix = "bad prefix"
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("bad prefix: Run err = %v", err)
	}
}

// nowhere is a broker address where nothing listens.
func nowhere(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "tcp://" + ln.Addr().String()
}

// The patrol plan (additive, 2026-12) is built from the units' beats and
// loaded into the hub before the units connect: one task for each unit,
// Lapses of them lapsing. -plan=false loads none; a hub from before patrol
// plans (404) leaves the run without one, with a note, and the run goes on.
func TestRunLoadsPlan(t *testing.T) {
	run := func(t *testing.T, f *hubapitest.Fake, url string, edit func(*Config)) Report {
		cfg := Config{HubURL: url, BrokerURL: nowhere(t), AdminToken: "tok", Units: 20, Seed: 5,
			Lapses: 0.25, ConnectWait: 500 * time.Millisecond}
		if edit != nil {
			edit(&cfg)
		}
		rep, err := Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "no unit could connect") {
			t.Errorf("err = %v, want no unit could connect", err)
		}
		return rep
	}
	t.Run("loaded", func(t *testing.T) {
		f, srv := hubapitest.New(t, "tok")
		f.Patrols = true
		rep := run(t, f, srv.URL, nil)
		p := f.Plan("sim-changsha")
		if p == nil {
			t.Fatal("no plan at the hub")
		}
		seen := map[string]int{}
		for _, task := range p.Tasks {
			for _, u := range task.Units {
				seen[u]++
			}
		}
		if len(seen) != 20 {
			t.Errorf("%d units with a task: %v", len(seen), seen)
		}
		for u, n := range seen {
			if n != 1 || f.Enrolled[u] == nil {
				t.Errorf("%s: %d tasks, enrolled %v", u, n, f.Enrolled[u])
			}
		}
		r := rep.Patrol
		if r == nil || r.Plan != p.ID || r.Shift != "run" || r.Units != 20 || len(r.Lapsing) != 5 || r.Unavailable != "" {
			t.Fatalf("patrol section %+v", r)
		}
		// The shift starts on its date, in China, at the minute of the run's start.
		loc, _ := p.Location()
		date, err := time.ParseInLocation("2006-01-02", r.Date, loc)
		if err != nil {
			t.Fatal(err)
		}
		from, _, err := p.ShiftBounds(r.Shift, date)
		if ago := time.Since(from); err != nil || ago < 0 || ago > 2*time.Minute {
			t.Errorf("shift from %v (%v), date %s", from, err, r.Date)
		}
	})
	t.Run("off", func(t *testing.T) {
		f, srv := hubapitest.New(t, "tok")
		f.Patrols = true
		rep := run(t, f, srv.URL, func(c *Config) { c.NoPlan = true })
		if len(f.Plans) != 0 || rep.Patrol != nil {
			t.Errorf("plans %v, section %+v", f.Plans, rep.Patrol)
		}
	})
	t.Run("older hub", func(t *testing.T) {
		f, srv := hubapitest.New(t, "tok")
		rep := run(t, f, srv.URL, nil)
		if rep.Patrol == nil || !strings.Contains(rep.Patrol.Unavailable, "404") || rep.Units.Enrolled != 20 ||
			!slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "no patrol plan loaded") }) {
			t.Errorf("patrol %+v, notes %q", rep.Patrol, rep.Notes)
		}
		if !strings.Contains(rep.String(), "patrol     no plan loaded: the hub does not serve /api/patrols") {
			t.Errorf("text:\n%s", rep)
		}
	})
}
