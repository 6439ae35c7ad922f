package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Tier is one response circle in escalation order: units of these types that
// can arrive within Minutes (0: anywhere in the city).
type Tier struct {
	Name    string              `json:"name"`
	Minutes float64             `json:"minutes"`
	Types   []protocol.UnitType `json:"types"`
}

// Policy is the dispatch policy an operator may change without a new build:
// tiers, who may answer what, and how much is dispatched automatically. It is
// read from a JSON file (hub -dispatch-config); DefaultPolicy is the city's
// 1-3-5-minute rapid-response practice.
type Policy struct {
	Tiers []Tier `json:"tiers"`
	// VolunteerKinds are the incident kinds volunteer patrols may be offered:
	// an allow-list, so a kind nobody thought of never reaches a volunteer.
	VolunteerKinds []string `json:"volunteer_kinds"`
	// ViolentKinds can never be in VolunteerKinds; the file is refused if they are.
	ViolentKinds []string `json:"violent_kinds"`
	// AutoDispatch is how many units the hub dispatches on its own, by
	// priority ("1".."3") and kind ("*" for any other kind).
	AutoDispatch map[string]map[string]int `json:"auto_dispatch"`
	AckTimeout   Duration                  `json:"ack_timeout"`
	// SOS is what an officer's sos opens (additive, 2026-12).
	SOS SOSPolicy `json:"sos"`
	// Report is the reporting rate the hub commands (additive, 2026-12).
	Report ReportPolicy `json:"report"`
}

// SOSPolicy: an officer's sos opens a priority-1 incident of Kind at the
// officer's position and sends Units units by itself — within a tier, those
// with a Prefer capability first, then by arrival; never the officer.
type SOSPolicy struct {
	Kind   string   `json:"kind"`
	Units  int      `json:"units"`  // 0: nobody is sent by the hub, a dispatcher chooses
	Prefer []string `json:"prefer"` // capabilities that go first within a tier
	// MoveM is how far the officer must move from the incident's place for
	// the incident to follow (a sighting and update_location): smaller
	// moves are GPS noise, and each move is on the timeline.
	MoveM float64 `json:"move_m"`
	// FollowEvery is the least time between two such moves: each is a
	// sighting and an update_location entry per unit on its way, and a
	// timeline keeps 1000 entries (a chase on foot must not fill it).
	FollowEvery Duration `json:"follow_every"`
}

// ReportPolicy is the config command the hub sends a unit when it is
// dispatched (Assigned) and when its assignment ends (Free): the agent's
// reporting keys (agent/README.md), seconds. Off sends none.
type ReportPolicy struct {
	Off      bool               `json:"off"`
	Assigned map[string]float64 `json:"assigned"`
	Free     map[string]float64 `json:"free"`
}

// Duration is a time.Duration written as "20s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"20s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func onStreet() []protocol.UnitType {
	return []protocol.UnitType{protocol.TypeMotorcycle, protocol.TypeCar, protocol.TypeFoot}
}

// DefaultPolicy: on-street units (motorcycle squads, patrol cars, foot posts)
// within 1, 3 and 5 minutes, then the rest of the city; volunteers only from
// the 5-minute circle on, and only for kinds that allow them; priority 1 is
// dispatched automatically, robberies with two units.
func DefaultPolicy() Policy {
	return Policy{
		Tiers: []Tier{
			{Name: "1 分钟", Minutes: 1, Types: onStreet()},
			{Name: "3 分钟", Minutes: 3, Types: onStreet()},
			{Name: "5 分钟", Minutes: 5, Types: append(onStreet(), protocol.TypeVolunteer)},
			{Name: "全市", Minutes: 0, Types: append(onStreet(), protocol.TypeVolunteer)},
		},
		VolunteerKinds: []string{"lost_person", "found_property", "traffic", "noise", "welfare_check", "crowd", "medical", "fire"},
		ViolentKinds: []string{"robbery", "armed_robbery", "assault", "homicide", "kidnapping", "weapon", "riot",
			"domestic_violence", "sexual_assault", "hostage", "terrorism"},
		AutoDispatch: map[string]map[string]int{"1": {"*": 1, "robbery": 2, "armed_robbery": 3, "hostage": 3}},
		AckTimeout:   Duration(20 * time.Second),
		SOS: SOSPolicy{Kind: api.KindOfficerHelp, Units: 3, Prefer: []string{"armed"}, MoveM: 25,
			FollowEvery: Duration(10 * time.Second)},
		// Assigned: the 1 Hz trace a dispatcher routing a unit needs, even
		// standing; Free: the agent's own defaults (agent/README.md).
		Report: ReportPolicy{
			Assigned: map[string]float64{"moving_s": 1, "patrol_s": 1, "stationary_s": 1},
			Free:     map[string]float64{"moving_s": 5, "patrol_s": 10, "stationary_s": 60},
		},
	}
}

// LoadPolicy reads a policy file; fields it leaves out keep their defaults.
func LoadPolicy(path string) (Policy, error) {
	p := DefaultPolicy()
	b, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("dispatch: policy: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return Policy{}, fmt.Errorf("dispatch: policy %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("dispatch: policy %s: %w", path, err)
	}
	return p, nil
}

// Validate checks the policy is usable and safe.
func (p Policy) Validate() error {
	var errs []error
	if len(p.Tiers) == 0 {
		errs = append(errs, errors.New("no tiers"))
	}
	last := 0.0
	for i, t := range p.Tiers {
		switch {
		case t.Minutes < 0:
			errs = append(errs, fmt.Errorf("tier %d: negative minutes", i+1))
		case t.Minutes == 0 && i != len(p.Tiers)-1:
			errs = append(errs, fmt.Errorf("tier %d: only the last tier may be unbounded (minutes 0)", i+1))
		case t.Minutes != 0 && t.Minutes <= last:
			errs = append(errs, fmt.Errorf("tier %d: minutes must rise from tier to tier", i+1))
		}
		last = t.Minutes
		if len(t.Types) == 0 {
			errs = append(errs, fmt.Errorf("tier %d: no unit types", i+1))
		}
		for _, ty := range t.Types {
			if !ty.Valid() {
				errs = append(errs, fmt.Errorf("tier %d: unit type %q", i+1, ty))
			}
		}
	}
	for _, k := range p.VolunteerKinds {
		if slices.Contains(p.ViolentKinds, k) {
			errs = append(errs, fmt.Errorf("kind %q is violent: volunteers may never be offered it", k))
		}
	}
	for prio, kinds := range p.AutoDispatch {
		if prio != "1" && prio != "2" && prio != "3" {
			errs = append(errs, fmt.Errorf("auto_dispatch: priority %q is not 1, 2 or 3", prio))
		}
		for k, n := range kinds {
			if n < 0 || n > 10 {
				errs = append(errs, fmt.Errorf("auto_dispatch %s/%s: %d units, want 0..10", prio, k, n))
			}
		}
	}
	if p.AckTimeout <= 0 {
		errs = append(errs, errors.New("ack_timeout must be positive"))
	}
	if !protocol.ValidCapability(p.SOS.Kind) { // the API's rule for a kind
		errs = append(errs, fmt.Errorf("sos: kind %q is not [a-z0-9_-]{1,32}", p.SOS.Kind))
	}
	if p.SOS.Units < 0 || p.SOS.Units > 10 {
		errs = append(errs, fmt.Errorf("sos: %d units, want 0..10", p.SOS.Units))
	}
	for _, c := range p.SOS.Prefer {
		if !protocol.ValidCapability(c) {
			errs = append(errs, fmt.Errorf("sos: prefer: capability %q is not [a-z0-9_-]{1,32}", c))
		}
	}
	if !(p.SOS.MoveM >= 0 && p.SOS.MoveM <= 10_000) {
		errs = append(errs, fmt.Errorf("sos: move_m %v, want 0..10000", p.SOS.MoveM))
	}
	if p.SOS.FollowEvery < 0 {
		errs = append(errs, errors.New("sos: follow_every cannot be negative"))
	}
	if !p.Report.Off {
		for name, cfg := range map[string]map[string]float64{"assigned": p.Report.Assigned, "free": p.Report.Free} {
			// The contract's check of a config command, so a bad file stops
			// the hub rather than every command it would send.
			c := protocol.Command{ID: "policy", TS: 1, Type: protocol.CmdConfig, Config: cfg}
			if err := c.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("report: %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// reportS is the interval a config command commands, for the unit's view:
// the longest of its *_s values (the unit reports at least this often).
func reportS(cfg map[string]float64) float64 {
	longest := 0.0
	for k, v := range cfg {
		if strings.HasSuffix(k, "_s") {
			longest = max(longest, v)
		}
	}
	return longest
}

// Circles are the tiers' time bounds, for the match index's tier numbers.
func (p Policy) Circles() []time.Duration {
	var out []time.Duration
	for _, t := range p.Tiers {
		if t.Minutes > 0 {
			out = append(out, time.Duration(t.Minutes*float64(time.Minute)))
		}
	}
	return out
}

// autoUnits is how many units the hub dispatches by itself for an incident.
func (p Policy) autoUnits(priority int, kind string) int {
	byKind := p.AutoDispatch[fmt.Sprint(priority)]
	if n, ok := byKind[kind]; ok {
		return n
	}
	return byKind["*"]
}

func (p Policy) volunteersAllowed(kind string) bool {
	return slices.Contains(p.VolunteerKinds, kind) && !slices.Contains(p.ViolentKinds, kind)
}

// DefaultRetention is how long a closed incident is kept by default.
const DefaultRetention = 365 * 24 * time.Hour

// Config wires a dispatcher.
type Config struct {
	Policy Policy
	Topics protocol.Topics
	// FreshFor is how old a position may be for its unit to count as where
	// it says (the match index's MaxFixAge); older units are stale: ranked
	// after every fresh one, flagged, and never dispatched automatically.
	FreshFor time.Duration
	// StaleFor is how old a position may be for its unit to be shown at all.
	StaleFor time.Duration
	// Recommend is how many ranked units an incident shows.
	Recommend int
	// BetterBy is how much sooner a free unit must arrive than the best unit
	// on its way for a sighting to offer it to the dispatcher.
	BetterBy time.Duration
	// CoverEvery is how often Run looks whether an acknowledged unit has
	// driven into the first tier of an uncovered incident (default 5 s).
	CoverEvery time.Duration
	// FollowEvery is how often Run moves an open sos incident to its
	// officer's latest position (default 1 s; sos.go).
	FollowEvery time.Duration
	// Retention is how long a closed incident is kept (default 1 year);
	// older ones are deleted from the store once an hour.
	Retention time.Duration
	// Cameras are the camera network (hub -cameras): a sighting may name
	// one of them (Sighting.Camera), and no other; none: a sighting names
	// no camera.
	Cameras []api.Camera
	// OnChange, if set, hears which incidents changed; it must not block.
	OnChange func(ids ...string)
	// DistrictOf names the district a place is in ("" none), for the
	// response figures (KPI); nil: no districts.
	DistrictOf func(lat, lon float64) string
	// Location is the hub's local time for the figures' shifts and days
	// (default time.Local).
	Location   *time.Location
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

func (c *Config) setDefaults() {
	if c.FreshFor == 0 {
		c.FreshFor = 2 * time.Minute
	}
	if c.StaleFor == 0 {
		c.StaleFor = 10 * time.Minute
	}
	if c.Recommend == 0 {
		c.Recommend = 10
	}
	if c.BetterBy == 0 {
		c.BetterBy = time.Minute
	}
	if c.CoverEvery == 0 {
		c.CoverEvery = 5 * time.Second
	}
	if c.FollowEvery == 0 {
		c.FollowEvery = time.Second
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OnChange == nil {
		c.OnChange = func(...string) {}
	}
	if c.Location == nil {
		c.Location = time.Local
	}
}
