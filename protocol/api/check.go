package api

import (
	"errors"
	"fmt"
	"slices"
)

// Check reports what an entry lacks of what its type and reason promise: a
// known type, a reason from Reasons[Type] (none for a type without
// reasons), the unit the step is about, and the Params each reason's
// comment names. The hub's tests hold every entry it writes to it; a reader
// may use it to fall back to Detail for an entry it cannot render.
func (e Entry) Check() error {
	if !slices.Contains(EntryTypes, e.Type) {
		return fmt.Errorf("type %q is not a timeline type", e.Type)
	}
	var errs []error
	miss := func(what string) { errs = append(errs, fmt.Errorf("%s %s: no %s", e.Type, e.Reason, what)) }
	if e.TS <= 0 {
		miss("ts")
	}
	if e.Actor == "" {
		miss("actor")
	}
	if reasons := Reasons[e.Type]; len(reasons) == 0 {
		if e.Reason != "" {
			errs = append(errs, fmt.Errorf("%s has no reasons, not %q", e.Type, e.Reason))
		}
	} else if !slices.Contains(reasons, e.Reason) {
		errs = append(errs, fmt.Errorf("%s: reason %q is not one of %v", e.Type, e.Reason, reasons))
	}
	switch e.Type {
	case EntryDispatched, EntryAck, EntryDecline, EntryTimeout, EntryOffered, EntryArrived, EntryCleared,
		EntryCancelled, EntryCovered:
		if e.Unit == "" {
			miss("unit")
		}
	}
	p := e.Params
	if p == nil {
		p = &Params{} // every check below then names what is missing
	}
	failed := func() {
		if p.Other == "" {
			miss("params.other")
		}
		if p.State != AssignDeclined && p.State != AssignTimeout {
			errs = append(errs, fmt.Errorf("%s %s: params.state %q, want declined or timeout", e.Type, e.Reason, p.State))
		}
	}
	tierETA := func() {
		if p.Tier < 1 {
			miss("params.tier")
		}
		if p.ETAS == nil {
			miss("params.eta_s")
		}
	}
	switch e.Reason {
	case ReasonReported:
		if p.Kind == "" || p.Priority == 0 {
			miss("params.kind and params.priority")
		}
	case ReasonRanked:
		if len(p.Ranked) == 0 {
			miss("params.ranked")
		}
		for _, r := range p.Ranked {
			if r.Unit == "" {
				miss("params.ranked[].unit")
			}
		}
	case ReasonNoFreshInTier1:
		if e.Params != nil { // no Params: nobody at all
			if p.Other == "" {
				miss("params.other")
			}
			tierETA()
		}
	case ReasonNoReplacement:
		failed()
	case ReasonAckedInTier1:
		if p.ETAS == nil {
			miss("params.eta_s")
		}
	case ReasonInTier:
		tierETA()
	case ReasonReplacing:
		failed()
		tierETA()
	case ReasonNoAck:
		if p.TimeoutS == nil {
			miss("params.timeout_s")
		}
	case ReasonSighted:
		if p.Lat == nil || p.Lon == nil {
			miss("params.lat and params.lon")
		}
	case ReasonSooner:
		if p.ETAS == nil || p.BestETAS == nil {
			miss("params.eta_s and params.best_eta_s")
		}
	case ReasonLateAck:
		if p.State == "" {
			miss("params.state")
		}
	case ReasonReopened:
		if p.Note == "" {
			miss("params.note")
		}
	}
	return errors.Join(errs...)
}
