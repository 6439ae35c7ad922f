package report

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"kuaifan/agent/internal/gps"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

const lat0, lon0 = 28.1941, 112.9823

// at is a fix s seconds after t0, n metres north and e metres east of the
// start, moving at speed (m/s) on heading (degrees); speed < 0: the receiver
// gives no motion.
func at(s, n, e, speed, heading float64) gps.Fix {
	const mPerDeg = protocol.EarthRadiusM * math.Pi / 180
	f := gps.Fix{
		Time: t0.Add(time.Duration(s * float64(time.Second))),
		Lat:  lat0 + n/mPerDeg,
		Lon:  lon0 + e/(mPerDeg*math.Cos(lat0*math.Pi/180)),
		Mode: gps.Mode3D,
	}
	if speed >= 0 {
		f.SpeedMPS, f.HeadingDeg, f.HasMotion = speed, heading, true
	}
	return f
}

type step struct {
	fix        gps.Fix
	status     protocol.Status
	dispatched bool
	want       Reason
}

const avail = protocol.StatusAvailable

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"first fix is reported", []step{
			{at(0, 0, 0, 0, 0), avail, false, First},
		}},
		{"stationary: every 60 s", []step{
			{at(0, 0, 0, 0, 0), avail, false, First},
			{at(1, 2, 0, 0.1, 0), avail, false, Skip},
			{at(30, -3, 1, 0.2, 0), avail, false, Skip},
			{at(59, 0, 3, 0, 0), avail, false, Skip},
			{at(60, 1, 1, 0, 0), avail, false, Interval},
			{at(61, 1, 1, 0, 0), avail, false, Skip},
			{at(120, 1, 1, 0, 0), avail, false, Interval},
		}},
		{"patrol (slow): every 10 s", []step{
			{at(0, 0, 0, 0.6, 90), avail, false, First},
			{at(5, 0, 3, 0.6, 90), avail, false, Skip},
			{at(9, 0, 5.4, 0.6, 90), avail, false, Skip},
			{at(10, 0, 6, 0.6, 90), avail, false, Interval},
		}},
		{"moving: every 5 s", []step{
			{at(0, 0, 0, 3, 90), avail, false, First},
			{at(1, 0, 3, 3, 90), avail, false, Skip},
			{at(4, 0, 12, 3, 90), avail, false, Skip},
			{at(5, 0, 15, 3, 90), avail, false, Interval},
			{at(6, 0, 18, 3, 90), avail, false, Skip},
		}},
		{"fast: every second", []step{
			{at(0, 0, 0, 12, 90), avail, false, First},
			{at(1, 0, 12, 12, 90), avail, false, Interval},
			{at(2, 0, 24, 12, 90), avail, false, Interval},
		}},
		{"a fix a little early on the 1 s grid still counts", []step{
			{at(0, 0, 0, 12, 90), avail, false, First},
			{at(0.95, 0, 11, 12, 90), avail, false, Interval},
			{at(1.5, 0, 17, 12, 90), avail, false, Skip},
		}},
		{"dispatched: every second even when standing", []step{
			{at(0, 0, 0, 0, 0), protocol.StatusEnroute, true, First},
			{at(1, 0, 0, 0, 0), protocol.StatusEnroute, true, Interval},
			{at(2, 0, 0, 0, 0), protocol.StatusOnScene, true, Status},
			{at(3, 0, 0, 0, 0), protocol.StatusOnScene, true, Interval},
		}},
		{"status change: at once", []step{
			{at(0, 0, 0, 0, 0), avail, false, First},
			{at(1, 0, 0, 0, 0), protocol.StatusBusy, false, Status},
			{at(2, 0, 0, 0, 0), protocol.StatusBusy, false, Skip},
			{at(3, 0, 0, 0, 0), avail, false, Status},
		}},
		{"turn beyond 30° while moving: at once", []step{
			{at(0, 0, 0, 3, 90), avail, false, First},
			{at(1, 0, 3, 3, 110), avail, false, Skip}, // 20°
			{at(2, 0, 6, 3, 125), avail, false, Turn}, // 35° from the report's 90°
			{at(3, 0, 9, 3, 150), avail, false, Skip}, // 25° from 125°
		}},
		{"turn across north", []step{
			{at(0, 0, 0, 3, 350), avail, false, First},
			{at(1, 3, 0, 3, 15), avail, false, Skip}, // 25°
			{at(2, 6, 0, 3, 25), avail, false, Turn}, // 35°
		}},
		{"heading noise while standing is no turn", []step{
			{at(0, 0, 0, 0.1, 10), avail, false, First},
			{at(1, 0, 0, 0.1, 200), avail, false, Skip},
			{at(2, 0, 0, 0.2, 90), avail, false, Skip},
		}},
		{"a turn measured from a standing report is no turn", []step{
			{at(0, 0, 0, 0, 10), avail, false, First},
			{at(1, 0, 1, 3, 200), avail, false, Skip},
		}},
		{"50 m from the last report: at once", []step{
			{at(0, 0, 0, 0, 0), avail, false, First},
			{at(1, 30, 0, 0, 0), avail, false, Skip},
			{at(2, 51, 0, 0, 0), avail, false, Distance},
			{at(3, 90, 0, 0, 0), avail, false, Skip}, // 39 m from the last report
		}},
		{"a fix older than the last report: the receiver's clock jumped", []step{
			{at(100, 0, 0, 0, 0), avail, false, First},
			{at(50, 0, 0, 0, 0), avail, false, Clock},
			{at(51, 0, 0, 0, 0), avail, false, Skip},
		}},
		{"speed from positions when the receiver gives none", []step{
			{at(0, 0, 0, -1, 0), avail, false, First},
			{at(1, 0, 10, -1, 0), avail, false, Interval}, // 10 m/s: fast
			{at(2, 0, 20, -1, 0), avail, false, Interval},
			{at(3, 0, 20, -1, 0), avail, false, Skip}, // standing again
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(DefaultConfig())
			for i, s := range tt.steps {
				if got := p.Explain(t0, s.fix, s.status, s.dispatched); got != s.want {
					t.Fatalf("step %d (%+v): %q, want %q", i, s.fix, got, s.want)
				}
			}
		})
	}
}

func TestDecideNowStandsInForAMissingTime(t *testing.T) {
	p := New(DefaultConfig())
	f := at(0, 0, 0, 12, 90)
	f.Time = time.Time{}
	if !p.Decide(t0, f, avail, false) {
		t.Fatal("first fix not reported")
	}
	if p.Decide(t0.Add(500*time.Millisecond), f, avail, false) {
		t.Fatal("reported after 0.5 s at 1 s")
	}
	if !p.Decide(t0.Add(time.Second), f, avail, false) {
		t.Fatal("not reported after 1 s")
	}
}

func TestModes(t *testing.T) {
	p := New(DefaultConfig())
	for _, tt := range []struct {
		speed      float64
		dispatched bool
		want       Mode
		interval   time.Duration
	}{
		{0, false, Stationary, time.Minute},
		{0.3, false, Stationary, time.Minute},
		{0.31, false, Patrol, 10 * time.Second},
		{1, false, Patrol, 10 * time.Second},
		{1.4, false, Moving, 5 * time.Second}, // walking
		{8, false, Moving, 5 * time.Second},
		{8.1, false, Fast, time.Second},
		{0, true, Dispatched, time.Second},
	} {
		m := p.Mode(tt.speed, tt.dispatched)
		if m != tt.want || p.Interval(m) != tt.interval {
			t.Errorf("speed %v dispatched %v: %v every %v, want %v every %v", tt.speed, tt.dispatched, m, p.Interval(m), tt.want, tt.interval)
		}
	}
}

func TestApply(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name    string
		values  map[string]float64
		want    func(*Config)
		unknown []string
		err     bool
	}{
		{name: "intervals in seconds", values: map[string]float64{"moving_s": 2, "stationary_s": 30, "patrol_s": 7.5},
			want: func(c *Config) {
				c.Moving, c.Stationary, c.Patrol = 2*time.Second, 30*time.Second, 7500*time.Millisecond
			}},
		{name: "every key", values: map[string]float64{"dispatched_s": 2, "fast_s": 3, "moving_s": 4, "patrol_s": 5,
			"stationary_s": 6, "fast_mps": 10, "moving_mps": 2, "stationary_mps": 0.5, "turn_deg": 45, "distance_m": 100},
			want: func(c *Config) {
				*c = Config{Dispatched: 2 * time.Second, Fast: 3 * time.Second, Moving: 4 * time.Second, Patrol: 5 * time.Second,
					Stationary: 6 * time.Second, FastMPS: 10, MovingMPS: 2, StationaryMPS: 0.5, TurnDeg: 45, DistanceM: 100}
			}},
		{name: "unknown keys are ignored", values: map[string]float64{"zoom": 3, "moving_s": 3, "alpha": 1},
			want: func(c *Config) { c.Moving = 3 * time.Second }, unknown: []string{"alpha", "zoom"}},
		{name: "only unknown keys", values: map[string]float64{"zoom": 3}, unknown: []string{"zoom"}},
		{name: "interval too short", values: map[string]float64{"dispatched_s": 0.01}, err: true},
		{name: "interval zero", values: map[string]float64{"moving_s": 0}, err: true},
		{name: "interval too long", values: map[string]float64{"stationary_s": 7200}, err: true},
		{name: "interval absurd", values: map[string]float64{"stationary_s": 1e300}, err: true},
		{name: "turn zero", values: map[string]float64{"turn_deg": 0}, err: true},
		{name: "turn beyond 180", values: map[string]float64{"turn_deg": 200}, err: true},
		{name: "distance zero", values: map[string]float64{"distance_m": 0}, err: true},
		{name: "speeds must rise", values: map[string]float64{"moving_mps": 9}, err: true},
		{name: "negative", values: map[string]float64{"fast_mps": -1}, err: true},
		{name: "NaN", values: map[string]float64{"fast_mps": math.NaN()}, err: true},
		{name: "one bad value refuses all", values: map[string]float64{"moving_s": 2, "turn_deg": 0}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unknown, err := def.Apply(tt.values)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				if got != def {
					t.Fatalf("a refused config changed the policy: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			if tt.want != nil {
				tt.want(&want)
			}
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			if !slices.Equal(unknown, tt.unknown) {
				t.Errorf("unknown = %v, want %v", unknown, tt.unknown)
			}
		})
	}
}

// A config command changes the decisions from the next fix on.
func TestConfigChangesDecisions(t *testing.T) {
	p := New(DefaultConfig())
	if !p.Decide(t0, at(0, 0, 0, 3, 90), avail, false) {
		t.Fatal("first fix")
	}
	if p.Decide(t0, at(2, 0, 6, 3, 90), avail, false) {
		t.Fatal("moving at 5 s: reported after 2 s")
	}
	cfg, _, err := p.Config().Apply(map[string]float64{"moving_s": 1, "distance_m": 5, "turn_deg": 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got := p.Explain(t0, at(3, 0, 4, 3, 90), avail, false); got != Interval {
		t.Fatalf("moving at 1 s after 3 s: %q", got)
	}
	if got := p.Explain(t0, at(3.1, 0, 10, 3, 90), avail, false); got != Distance {
		t.Fatalf("6 m with distance_m 5: %q", got)
	}
	if got := p.Explain(t0, at(3.2, 0, 10, 3, 105), avail, false); got != Turn {
		t.Fatalf("15° with turn_deg 10: %q", got)
	}
	if err := p.SetConfig(Config{}); err == nil {
		t.Fatal("SetConfig took a zero Config")
	}
}

func TestValuesRoundTrip(t *testing.T) {
	def := DefaultConfig()
	got, unknown, err := Config{}.Apply(def.Values())
	if err != nil || len(unknown) != 0 || got != def {
		t.Fatalf("Apply(Values()) = %+v, %v, %v", got, unknown, err)
	}
	if len(Keys()) != len(def.Values()) {
		t.Fatalf("Keys %v vs Values %v", Keys(), def.Values())
	}
	if New(Config{}).Config() != def {
		t.Fatal("New with an invalid config did not fall back to the defaults")
	}
}
