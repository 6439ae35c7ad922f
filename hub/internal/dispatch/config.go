package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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
	return errors.Join(errs...)
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
