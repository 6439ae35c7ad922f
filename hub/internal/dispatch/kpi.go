package dispatch

import (
	"fmt"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/protocol/kpi"
)

// The response figures (GET /api/kpi) are computed from a table of
// kpi.Facts of every incident in the store: built by New's scan, refreshed
// by flush whenever an incident is saved, and pruned with the incidents. A
// report reads only the table, never the store.

// factsOf is an incident's facts: its first place's district
// (Config.DistrictOf) and its first arrived unit's type from the fleet.
func (d *Dispatcher) factsOf(inc *Incident) kpi.Facts {
	return kpi.FactsOf(*inc, d.cfg.DistrictOf, d.unitType)
}

// unitType is an enrolled unit's type; "" for one revoked or unknown.
func (d *Dispatcher) unitType(unit string) string {
	if v, ok := d.fleet.Get(unit); ok {
		return string(v.Type)
	}
	return ""
}

// Facts returns the facts of the incidents created in [from, to) (Unix ms).
func (d *Dispatcher) Facts(from, to int64) []kpi.Facts {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kpi.Facts, 0, min(len(d.facts), 1024))
	for _, f := range d.facts {
		if f.Created >= from && f.Created < to {
			out = append(out, f)
		}
	}
	return out
}

// KPI is the response figures of the incidents created in [from, to) (Unix
// ms), grouped by by (one of api.KPIBys), as of now, in the hub's local
// time (Config.Location). The window is checked: from < to, at most
// api.MaxKPIDays long.
func (d *Dispatcher) KPI(from, to int64, by string) (api.KPIReport, error) {
	if err := CheckKPIWindow(from, to, by); err != nil {
		return api.KPIReport{}, err
	}
	rep, err := kpi.Compute(d.Facts(from, to), by, d.cfg.Now(), d.cfg.Location)
	if err != nil {
		return api.KPIReport{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rep.From, rep.To = from, to
	return rep, nil
}

// CheckKPIWindow reports what is wrong with a KPI request, as ErrInvalid.
func CheckKPIWindow(from, to int64, by string) error {
	switch {
	case !kpi.ValidBy(by):
		return fmt.Errorf("%w: by %q is not one of %v", ErrInvalid, by, api.KPIBys)
	case from <= 0 || to <= 0:
		return fmt.Errorf("%w: from and to are Unix ms, both required", ErrInvalid)
	case to <= from:
		return fmt.Errorf("%w: to (%d) is not after from (%d)", ErrInvalid, to, from)
	case to-from > api.MaxKPIDays*24*time.Hour.Milliseconds():
		return fmt.Errorf("%w: from to to is more than %d days", ErrInvalid, api.MaxKPIDays)
	}
	return nil
}
