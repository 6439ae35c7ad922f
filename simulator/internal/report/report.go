// Package report is what a run did, for people (text) and machines (JSON):
// the report's sections and how each figure is read off the hub's
// incidents and /metrics, the fleet's counters, the officers' jobs and the
// journal; and the progress line every 10 s while the run goes on.
package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"kuaifan/protocol/kpi"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/director"
	"kuaifan/simulator/internal/faults"
	"kuaifan/simulator/internal/fleet"
	"kuaifan/simulator/internal/journal"
)

// Run is what a run did, for people (String) and machines (JSON). Times
// are simulated unless named wall_ or real: the hub's figures are real
// seconds, multiplied here by the time scale.
type Run struct {
	Mode       string  `json:"mode"` // "run"
	Scenario   string  `json:"scenario,omitempty"`
	City       string  `json:"city"`
	Seed       uint64  `json:"seed"`
	TimeScale  float64 `json:"time_scale"`
	SimulatedS float64 `json:"simulated_s"`
	WallS      float64 `json:"wall_s"`
	Boot       string  `json:"-"`

	Units     Units                `json:"units"`
	Incidents Incidents            `json:"incidents"`
	Officers  fleet.OfficersReport `json:"officers"`
	Messages  Messages             `json:"messages"`
	Hub       Hub                  `json:"hub"`

	Faults  []faults.Report         `json:"faults,omitempty"`
	SOS     *SOS                    `json:"sos,omitempty"` // additive (2026-12)
	Steps   []director.StepReport   `json:"steps,omitempty"`
	Outages []director.OutageReport `json:"outages,omitempty"`
	// Patrol is the patrol plan loaded into the hub and how it was kept;
	// Coverage the hub's coverage through the run (additive, 2026-12).
	Patrol   *Patrol   `json:"patrol,omitempty"`
	Coverage *Coverage `json:"coverage,omitempty"`
	// Chases are the scenario's incidents followed through: every sighting,
	// re-target and arrival, and whether a unit reached the last place seen.
	Chases []Chase     `json:"chases,omitempty"`
	Jobs   []fleet.Job `json:"jobs,omitempty"` // every dispatch a unit received (up to 10,000)
	Notes  []string    `json:"notes,omitempty"`
}

// Units is the fleet.
type Units struct {
	Asked        int            `json:"asked"`
	Enrolled     int            `json:"enrolled"`
	Connected    int            `json:"connected"` // connected at least once
	OnlineAtEnd  int            `json:"online_at_end"`
	ByType       map[string]int `json:"by_type"`
	Utilisation  float64        `json:"utilisation"` // share of the fleet's simulated time on a job (dispatch to clear)
	Kills        int            `json:"kills,omitempty"`
	MovementTick float64        `json:"movement_tick_s"` // simulated seconds per movement step
}

// SOS is what came of the officers' SOS (the sos fault): how many they
// raised, the incidents the hub opened for them (one per officer while it
// is open: a repeated SOS updates it), how many of those it sent units to,
// and how soon (the hub's to_dispatch, as simulated seconds).
type SOS struct {
	Sent        int  `json:"sent"`
	Incidents   int  `json:"incidents"`
	Dispatched  int  `json:"dispatched"`
	Units       int  `json:"units"` // assignments, over all of them
	ToDispatch  Dist `json:"to_dispatch_s"`
	ClosedByRun int  `json:"closed_by_simulator,omitempty"`
}

// Dist is a distribution's summary (seconds).
type Dist struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99,omitempty"`
	Max    float64 `json:"max"`
}

// DistOf summarises xs.
func DistOf(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Dist{N: len(s), Median: percentile(s, 0.5), P90: percentile(s, 0.9), P99: percentile(s, 0.99), Max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted xs: the response
// figures' definition (kuaifan/protocol/kpi).
func percentile(sorted []float64, p float64) float64 { return kpi.Percentile(sorted, p) }

// Incidents is the incidents the run created, as the hub has them at
// the end.
type Incidents struct {
	Created         int      `json:"created"`
	Dispatched      int      `json:"dispatched"`
	Reached         int      `json:"reached"` // a unit arrived
	Cleared         int      `json:"cleared"`
	Closed          int      `json:"closed"`
	OpenAtEnd       int      `json:"open_at_end"`
	ClosedByRun     int      `json:"closed_by_simulator,omitempty"` // still open at the end, closed by the simulator
	NeverDispatched []string `json:"never_dispatched,omitempty"`
	AutoDispatched  int      `json:"auto_dispatched"` // the hub sent a unit by itself
	ByDispatcher    int      `json:"by_dispatcher"`   // the simulated dispatcher assigned one
	OffersTaken     int      `json:"offers_taken,omitempty"`
	ToDispatch      Dist     `json:"to_dispatch_s"`
	ToAck           Dist     `json:"to_ack_s"`
	ToArrival       Dist     `json:"to_arrival_s"`
	// Within1Min … are the shares of the incidents that a unit reached
	// (first arrival) within 1, 3 and 5 simulated minutes: the response
	// circles, as kuaifan/protocol/kpi defines them (an incident still open,
	// not reached and younger than 5 simulated minutes is left out; before
	// 2027-01 the denominator was every incident created).
	Within1Min float64 `json:"within_1_min"`
	Within3Min float64 `json:"within_3_min"`
	Within5Min float64 `json:"within_5_min"`
	// Travel checks each arrival (not re-targeted) against the unit's speed:
	// ratio = travel time ÷ (straight-line distance ÷ response speed); 1 is
	// a straight drive, the hub's ETA assumes 1.4.
	Travel Dist `json:"travel_ratio"`
}

// Messages sums the agents' counters. Every report (position or
// event) queued ends up confirmed by the hub, thinned by a full queue,
// lost with a killed agent's in-memory queue, or lost: still queued at
// the end after the final wait.
type Messages struct {
	Positions     uint64  `json:"positions"`
	Events        uint64  `json:"events"`
	Sent          uint64  `json:"sent"` // publishes, resends included
	Resent        uint64  `json:"resent"`
	Confirmed     uint64  `json:"confirmed"`
	Thinned       uint64  `json:"thinned"`
	LostByKill    uint64  `json:"lost_by_kill"` // in-memory queues of killed agents (simulated device resets)
	Lost          uint64  `json:"lost"`
	PublishErrors uint64  `json:"publish_errors,omitempty"`
	Connects      uint64  `json:"connects"`
	Commands      uint64  `json:"commands"`
	DrainWaitS    float64 `json:"drain_wait_s"` // real seconds the final wait took
}

// Hub is what the hub's /metrics counted during the run (deltas;
// other clients of the same hub count too).
type Hub struct {
	TelemetryReceived float64            `json:"telemetry_received"`
	Committed         float64            `json:"committed"`
	Duplicates        float64            `json:"duplicates"`
	Older             float64            `json:"older"`
	Rejected          map[string]float64 `json:"rejected,omitempty"` // by reason
	AuthRefused       float64            `json:"auth_refused"`
	ACLDenied         float64            `json:"acl_denied"`
	PublishDropped    float64            `json:"publish_dropped"` // the embedded broker's alarm
	Unavailable       string             `json:"unavailable,omitempty"`
}

// Chase follows one of the scenario's incidents.
type Chase struct {
	Ref         string          `json:"ref"`
	Incident    string          `json:"incident"`
	Sightings   []Sighting      `json:"sightings"`
	FromCameras int             `json:"from_cameras"` // sightings from a camera of the scenario's set
	CameraIDs   int             `json:"camera_ids"`   // of those, reported with the camera's id (the hub knows the camera)
	Retargets   []journal.Entry `json:"retargets"`
	Arrivals    []journal.Entry `json:"arrivals"`
	Final       city.Point      `json:"final"` // the last place seen
	Intercepted bool            `json:"intercepted"`
	By          string          `json:"by,omitempty"`
	AtS         float64         `json:"at_s,omitempty"`
	Timeline    []journal.Entry `json:"timeline"`
}

// Sighting is one sighting: the units on their way when it came (the
// hub sends them update_location) and those of them whose agent got it.
type Sighting struct {
	AtS        float64    `json:"at_s"`
	Point      city.Point `json:"point"`
	Source     string     `json:"source"`           // as reported to the hub
	Camera     string     `json:"camera,omitempty"` // the camera that saw it (an id of the scenario's set)
	CameraName string     `json:"camera_name,omitempty"`
	CameraID   bool       `json:"camera_id,omitempty"` // the sighting carried the camera's id (else "camera <name>": the hub does not know it)
	EnRoute    []string   `json:"en_route"`
	Retargeted []string   `json:"retargeted"`
	Offered    string     `json:"offered,omitempty"`
}

// interceptRadiusM is how near the last sighting an arrival counts as an
// interception: a unit on scene there (the agent's arrival radius, 50 m, and
// GPS noise).
const interceptRadiusM = 100

// HMS formats seconds as h:mm:ss.
func HMS(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

func (d Dist) String() string {
	if d.N == 0 {
		return "—"
	}
	return fmt.Sprintf("median %.0f s, p90 %.0f s (n %d)", d.Median, d.P90, d.N)
}

// String is the report for people.
func (r Run) String() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := "simulator run"
	if r.Scenario != "" {
		title += " — scenario " + r.Scenario
	}
	p("%s (city %s, seed %d)\n", title, r.City, r.Seed)
	p("  time       %s simulated in %s wall (time scale %g)\n", HMS(r.SimulatedS), HMS(r.WallS), r.TimeScale)
	u := r.Units
	p("  units      %d enrolled, %d connected, %d online at the end (car %d, motorcycle %d, foot %d, volunteer %d)\n",
		u.Enrolled, u.Connected, u.OnlineAtEnd, u.ByType["car"], u.ByType["motorcycle"], u.ByType["foot"], u.ByType["volunteer"])
	p("             utilisation %s (share of simulated time on a job)\n", pct(u.Utilisation))
	in := r.Incidents
	p("  incidents  %d created, %d dispatched (the hub sent units to %d by itself, the dispatcher to %d), %d reached, %d cleared, %d closed, %d open at the end\n",
		in.Created, in.Dispatched, in.AutoDispatched, in.ByDispatcher, in.Reached, in.Cleared, in.Closed, in.OpenAtEnd)
	if len(in.NeverDispatched) > 0 {
		p("             never dispatched: %s\n", strings.Join(in.NeverDispatched, ", "))
	}
	p("  response   to dispatch %s\n", in.ToDispatch)
	p("             to ack      %s\n", in.ToAck)
	p("             to arrival  %s\n", in.ToArrival)
	p("             reached within 1 min %s, 3 min %s, 5 min %s of the incidents created\n", pct(in.Within1Min), pct(in.Within3Min), pct(in.Within5Min))
	if in.Travel.N > 0 {
		p("             travel ÷ (straight line ÷ response speed): median %.2f, max %.2f over %d arrivals\n", in.Travel.Median, in.Travel.Max, in.Travel.N)
	}
	o := r.Officers
	p("  officers   %d dispatches: %d acked, %d declined, %d never answered; %d arrivals (%d by the agent's own radius), %d cleared, %d cancelled, %d re-targets\n",
		o.Dispatches, o.Acks, o.Declines, o.NoAnswers, o.Arrivals, o.AutoArrivals, o.Clears, o.Cancels, o.Retargets)
	if o.Repositions > 0 {
		p("  move-ups   %d received: %d reported there (%d by the agent's own radius), %d dropped (cancelled, or replaced by a dispatch or another move-up)\n",
			o.Repositions, o.RepositionArrivals, o.RepositionAutoArrivals, o.RepositionsDropped)
	}
	if r.Patrol != nil {
		r.Patrol.text(&b)
	}
	if r.Coverage != nil {
		r.Coverage.text(&b)
	}
	m := r.Messages
	p("  messages   %d positions and %d events queued; %d published (%d resent); %d confirmed by the hub; %d thinned; %d lost by agent kills (device resets); LOST %d\n",
		m.Positions, m.Events, m.Sent, m.Resent, m.Confirmed, m.Thinned, m.LostByKill, m.Lost)
	h := r.Hub
	if h.Unavailable != "" {
		p("  hub        /metrics unavailable: %s\n", h.Unavailable)
	} else {
		p("  hub        %.0f telemetry received, %.0f committed, %.0f duplicates, %.0f older; auth refused %.0f, ACL denied %.0f, broker drops %.0f",
			h.TelemetryReceived, h.Committed, h.Duplicates, h.Older, h.AuthRefused, h.ACLDenied, h.PublishDropped)
		if len(h.Rejected) > 0 {
			keys := sortedKeys(h.Rejected)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, h.Rejected[k]))
			}
			p("; rejected: %s", strings.Join(parts, ", "))
		}
		p("\n")
	}
	for _, f := range r.Faults {
		p("  fault      %-14s %d injected", f.Name, f.Injected)
		if f.Failed > 0 {
			p(", %d not (%s)", f.Failed, f.Detail)
		}
		if f.Sent > 0 {
			p(", %d rogue messages/connects sent, %d refused at the client", f.Sent, f.Refused)
		}
		p("\n")
	}
	if s := r.SOS; s != nil {
		p("  sos        %d raised; the hub opened %d incident(s), sent units to %d (%d assignments); to dispatch %s\n",
			s.Sent, s.Incidents, s.Dispatched, s.Units, s.ToDispatch)
	}
	for _, o := range r.Outages {
		p("  outage     at %s, %d unit(s) for %s: %d positions queued offline, %d of them in the hub's history",
			HMS(o.AtS), o.Units, HMS(o.ForS), o.QueuedOffline, o.InHistory)
		if o.Skipped > 0 {
			p(" (%d unit(s) not checked)", o.Skipped)
		}
		p("\n")
	}
	if len(r.Steps) > 0 {
		p("  steps\n")
		for _, s := range r.Steps {
			line := s.Detail
			if s.Error != "" {
				line += " — FAILED: " + s.Error
			}
			p("    %s  %-8s %s\n", HMS(s.AtS), s.Action, line)
		}
	}
	for _, c := range r.Chases {
		p("  chase %s (%s): %d sighting(s)", c.Ref, c.Incident, len(c.Sightings))
		if c.FromCameras > 0 {
			p(" (%d from cameras, %d with the camera's id)", c.FromCameras, c.CameraIDs)
		}
		p(", %d re-target(s), %d arrival(s); ", len(c.Retargets), len(c.Arrivals))
		if c.Intercepted {
			p("intercepted by %s at %s, at the last place seen (%.5f, %.5f)\n", c.By, HMS(c.AtS), c.Final.Lat, c.Final.Lon)
		} else {
			p("NOT intercepted at the last place seen (%.5f, %.5f)\n", c.Final.Lat, c.Final.Lon)
		}
		for _, sr := range c.Sightings {
			who := sr.Source
			switch {
			case sr.CameraID:
				who = strings.TrimSpace("camera " + sr.Camera + " " + sr.CameraName)
			case sr.Camera != "":
				who += " (" + sr.Camera + ", no id: unknown to the hub)"
			}
			p("    sighting %s  %s: en route %v, re-targeted %v", HMS(sr.AtS), who, sr.EnRoute, sr.Retargeted)
			if sr.Offered != "" {
				p(", offered %s", sr.Offered)
			}
			p("\n")
		}
		for _, e := range c.Timeline {
			who := e.Unit
			if who == "" {
				who = "—"
			}
			p("    %s  %-10s %-16s %s\n", HMS(e.AtS), e.Kind, who, e.Detail)
		}
	}
	for _, n := range r.Notes {
		p("  note       %s\n", n)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
