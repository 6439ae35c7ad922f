package hubapi

import (
	"fmt"

	"kuaifan/protocol"
)

// The hub's JSON, as the simulator sends and reads it: hand-made copies of
// the hub's own types (only the fields the simulator uses), kept together
// here until shared types replace them.

// NewUnit is one unit to enrol: the body of POST /api/units.
type NewUnit struct {
	ID           string            `json:"id"`
	Type         protocol.UnitType `json:"type"`
	Callsign     string            `json:"callsign"`
	Capabilities []string          `json:"capabilities"`
}

// NewIncident is one incident as a call-taker reports it: the body of
// POST /api/incidents.
type NewIncident struct {
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Kind     string   `json:"kind"`
	Priority int      `json:"priority"`
	Summary  string   `json:"summary"`
	Needs    []string `json:"needs"`
}

// Validate reports what the hub would refuse in the incident.
func (n NewIncident) Validate() error {
	switch {
	case !protocol.ValidLatLon(n.Lat, n.Lon):
		return fmt.Errorf("lat, lon %v, %v are not WGS-84 degrees", n.Lat, n.Lon)
	case !protocol.ValidCapability(n.Kind):
		return fmt.Errorf("kind %q is not [a-z0-9_-]{1,32}", n.Kind)
	case n.Priority < 1 || n.Priority > 3:
		return fmt.Errorf("priority %d is not 1 (highest), 2 or 3", n.Priority)
	case len(n.Summary) > MaxIncidentSummary:
		return fmt.Errorf("summary longer than %d bytes", MaxIncidentSummary)
	case len(n.Needs) > MaxIncidentNeeds:
		return fmt.Errorf("%d needs; at most %d", len(n.Needs), MaxIncidentNeeds)
	}
	for _, c := range n.Needs {
		if !protocol.ValidCapability(c) {
			return fmt.Errorf("need %q is not [a-z0-9_-]{1,32}", c)
		}
	}
	return nil
}

// Limits the hub puts on POST /api/incidents, so a mix can never produce an
// incident the hub refuses.
const (
	MaxIncidentNeeds   = 8
	MaxIncidentSummary = 1024 // bytes
)

// Incident is an incident as the hub's API returns it (the fields the
// simulator reads).
type Incident struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	Uncovered   bool    `json:"uncovered"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Kind        string  `json:"kind"`
	Priority    int     `json:"priority"`
	Created     int64   `json:"created"`
	Closed      int64   `json:"closed"`
	Assignments []struct {
		Unit       string `json:"unit"`
		State      string `json:"state"`
		By         string `json:"by"`
		Dispatched int64  `json:"dispatched"`
		Acked      int64  `json:"acked"`
		Arrived    int64  `json:"arrived"`
		Ended      int64  `json:"ended"`
	} `json:"assignments"`
	Timeline []struct {
		TS     int64  `json:"ts"`
		Type   string `json:"type"`
		Unit   string `json:"unit"`
		Actor  string `json:"actor"`
		Detail string `json:"detail"`
	} `json:"timeline"`
	Figures struct {
		ToDispatchS *float64 `json:"to_dispatch_s"`
		ToAckS      *float64 `json:"to_ack_s"`
		ToArrivalS  *float64 `json:"to_arrival_s"`
		ToCloseS    *float64 `json:"to_close_s"`
	} `json:"figures"`
	Offer *struct {
		Unit     string  `json:"unit"`
		ETAS     float64 `json:"eta_s"`
		Sighting int64   `json:"sighting"`
	} `json:"offer"`
	Recommendations []struct {
		Unit      string  `json:"unit"`
		Type      string  `json:"type"`
		DistanceM float64 `json:"distance_m"`
		ETAS      float64 `json:"eta_s"`
		Tier      int     `json:"tier"`
		Stale     bool    `json:"stale"`
	} `json:"recommendations"`
}

// Active reports whether a unit is assigned now (dispatched, en route or on scene).
func (inc *Incident) Active() bool {
	for _, a := range inc.Assignments {
		switch a.State {
		case "dispatched", "enroute", "on_scene":
			return true
		}
	}
	return false
}

// Has reports whether the timeline has an entry of type typ.
func (inc *Incident) Has(typ string) bool {
	for _, e := range inc.Timeline {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// TrackPoint is one stored position of a unit.
type TrackPoint struct {
	Seq uint64 `json:"seq"`
	TS  int64  `json:"ts"`
}
