package patrol

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"kuaifan/protocol"
	wire "kuaifan/protocol/patrol"
)

// Records is where plans are kept: the hub's store (one fsynced
// transaction per call).
type Records interface {
	Put(records map[string][]byte) error
	Scan(prefix string, fn func(key string, val []byte) error) error
	Delete(keys ...string) error
}

// Plans is the hub's patrol plans: kept in the store under "patrol:plan:",
// in memory for reading. Safe for concurrent use.
type Plans struct {
	rec   Records
	mu    sync.RWMutex
	plans map[string]*wire.Plan
	// OnChange hears that the plans changed; it must not block.
	onChange func()
}

const planPrefix = "patrol:plan:"

// ErrNoPlan is returned for a plan id the hub does not have.
var ErrNoPlan = errors.New("no such patrol plan")

// OpenPlans loads the stored plans. A record that no longer reads is
// reported to damaged (the store's NoteDamage) and skipped.
func OpenPlans(rec Records, damaged func(key string, err error), onChange func()) (*Plans, error) {
	p := &Plans{rec: rec, plans: make(map[string]*wire.Plan), onChange: onChange}
	err := rec.Scan(planPrefix, func(key string, val []byte) error {
		plan, err := wire.Parse(val)
		if err == nil && planPrefix+plan.ID != key {
			err = fmt.Errorf("record of plan %q", plan.ID)
		}
		if err != nil {
			if damaged != nil {
				damaged(key, err)
			}
			return nil
		}
		p.plans[plan.ID] = plan
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("patrol: load plans: %w", err)
	}
	return p, nil
}

// List returns every plan, by id. The plans are shared: callers must not
// change them.
func (p *Plans) List() []*wire.Plan {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*wire.Plan, 0, len(p.plans))
	for _, plan := range p.plans {
		out = append(out, plan)
	}
	slices.SortFunc(out, func(a, b *wire.Plan) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns one plan (shared: not to be changed).
func (p *Plans) Get(id string) (*wire.Plan, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	plan, ok := p.plans[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoPlan, id)
	}
	return plan, nil
}

// Put stores a plan, valid (Parse or ParseGeoJSON made it), replacing the
// one with its id; it reports whether the plan is new. It is on disk when
// Put returns.
func (p *Plans) Put(plan *wire.Plan) (created bool, err error) {
	if err := plan.Validate(); err != nil {
		return false, err
	}
	b, err := encode(plan)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.rec.Put(map[string][]byte{planPrefix + plan.ID: b}); err != nil {
		return false, err
	}
	_, had := p.plans[plan.ID]
	p.plans[plan.ID] = plan
	p.changed()
	return !had, nil
}

// Delete removes a plan.
func (p *Plans) Delete(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.plans[id]; !ok {
		return fmt.Errorf("%w: %q", ErrNoPlan, id)
	}
	if err := p.rec.Delete(planPrefix + id); err != nil {
		return err
	}
	delete(p.plans, id)
	p.changed()
	return nil
}

func (p *Plans) changed() {
	if p.onChange != nil {
		p.onChange()
	}
}

// Tasks returns a unit's tasks at now, of every plan (wire.Plan.CurrentTasks),
// by plan id then the plan's order.
func (p *Plans) Tasks(unit string, typ protocol.UnitType, now time.Time) ([]PlanTask, error) {
	out := []PlanTask{}
	for _, plan := range p.List() {
		cur, err := plan.CurrentTasks(unit, typ, now)
		if err != nil {
			return nil, fmt.Errorf("patrol: plan %q: %w", plan.ID, err)
		}
		for _, c := range cur {
			out = append(out, PlanTask{Plan: plan.ID, Current: c})
		}
	}
	return out, nil
}

// PlanTask is a task running now with its plan's id: the answer of GET
// /api/units/{id}/tasks.
type PlanTask struct {
	Plan string `json:"plan"`
	wire.Current
}

// Running returns the plan's shift running at now (the first in the plan's
// order if several overlap) and its bounds; false if none runs.
func Running(plan *wire.Plan, now time.Time) (Shift, bool, error) {
	loc, err := plan.Location()
	if err != nil {
		return Shift{}, false, err
	}
	local := now.In(loc)
	for _, s := range plan.Shifts {
		// A shift running now began today or, across midnight, yesterday.
		for _, day := range []time.Time{local, local.AddDate(0, 0, -1)} {
			start, end, err := plan.ShiftBounds(s.ID, day)
			if err != nil {
				return Shift{}, false, err
			}
			if !now.Before(start) && now.Before(end) {
				return Shift{ID: s.ID, Start: start, End: end}, true, nil
			}
		}
	}
	return Shift{}, false, nil
}

// encode writes a plan as Parse reads it.
func encode(plan *wire.Plan) ([]byte, error) {
	b, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("patrol: encode plan %q: %w", plan.ID, err)
	}
	return b, nil
}
