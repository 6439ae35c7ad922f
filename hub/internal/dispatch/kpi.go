package dispatch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	for _, x := range d.facts {
		if x.facts.Created >= from && x.facts.Created < to {
			out = append(out, x.facts)
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
	}
	return CheckWindow(from, to)
}

// Location is the hub's local time (Config.Location), in which exports
// write times and name days.
func (d *Dispatcher) Location() *time.Location { return d.cfg.Location }

// EachCreated visits every stored incident created in [from, to) (Unix ms,
// checked as CheckWindow does) in creation order (ties by id), with its
// facts (the district, declines, timeouts, uncovered flag the KPIs use).
// The ids are taken under the lock; each record is then read on its own,
// from memory (a copy) or from the store, so an export never holds the
// dispatcher for its whole length. An incident pruned in between is left
// out. Visiting stops at visit's first error, which EachCreated returns.
func (d *Dispatcher) EachCreated(from, to int64, visit func(Incident, kpi.Facts) error) error {
	if err := CheckWindow(from, to); err != nil {
		return err
	}
	type key struct {
		id      string
		created int64
	}
	d.mu.Lock()
	keys := make([]key, 0, min(len(d.facts), 1024))
	for id, x := range d.facts {
		if x.facts.Created >= from && x.facts.Created < to {
			keys = append(keys, key{id, x.facts.Created})
		}
	}
	d.mu.Unlock()
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.created, b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, k := range keys {
		inc, err := d.record(k.id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := visit(inc, d.factsOf(&inc)); err != nil {
			return err
		}
	}
	return nil
}

// record is a copy of an incident, from memory or the store, without
// recommendations.
func (d *Dispatcher) record(id string) (Incident, error) {
	d.mu.Lock()
	if inc, ok := d.incidents[id]; ok {
		c := clone(inc)
		d.mu.Unlock()
		return c, nil
	}
	d.mu.Unlock()
	inc, err := d.load(id)
	if err != nil {
		return Incident{}, err
	}
	return *inc, nil
}

// CheckWindow reports what is wrong with a window of creation times (Unix
// ms) of the KPIs or an export, as ErrInvalid.
func CheckWindow(from, to int64) error {
	switch {
	case from <= 0 || to <= 0:
		return fmt.Errorf("%w: from and to are Unix ms, both required", ErrInvalid)
	case to <= from:
		return fmt.Errorf("%w: to (%d) is not after from (%d)", ErrInvalid, to, from)
	case to-from > api.MaxKPIDays*24*time.Hour.Milliseconds():
		return fmt.Errorf("%w: from to to is more than %d days", ErrInvalid, api.MaxKPIDays)
	}
	return nil
}
