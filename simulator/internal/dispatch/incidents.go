package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/hubapi"
)

// Settle lets the dispatcher and the units go on after the run's time until
// every incident the run created has been dispatched (or closed), or d has
// passed.
func Settle(ctx context.Context, client *hubapi.Client, reg *Registry, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		incs, err := client.Incidents(ctx, true)
		if err == nil {
			waiting := 0
			for i := range incs {
				if !reg.Known(incs[i].ID) {
					continue // not this run's
				}
				if incs[i].Status != api.IncidentClosed && !hubapi.HasEntry(&incs[i], api.EntryDispatched) {
					waiting++
				}
			}
			if waiting == 0 {
				return
			}
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// Collect reads the run's incidents from the hub, in the registry's order.
func Collect(ctx context.Context, client *hubapi.Client, reg *Registry) ([]api.Incident, error) {
	recs := reg.Snapshot()
	if len(recs) == 0 {
		return nil, nil
	}
	all, err := client.Incidents(ctx, true)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]api.Incident, len(all))
	for _, inc := range all {
		byID[inc.ID] = inc
	}
	out := make([]api.Incident, 0, len(recs))
	var errs []error
	for _, r := range recs {
		inc, ok := byID[r.ID]
		if !ok {
			if inc, err = client.Incident(ctx, r.ID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.ID, err))
				continue
			}
		}
		out = append(out, inc)
	}
	return out, errors.Join(errs...)
}

// CloseOpen closes those of incs that are not closed yet and returns how
// many it closed.
func CloseOpen(ctx context.Context, client *hubapi.Client, incs []api.Incident) int {
	n := 0
	for _, inc := range incs {
		if inc.Status != api.IncidentClosed {
			if err := client.CloseIncident(ctx, inc.ID); err == nil {
				n++
			}
		}
	}
	return n
}

// CollectSOS reads the incidents the hub opened for these units' sos
// (api.Incident.SOS) since a wall time: the run's own, not an earlier run's.
func CollectSOS(ctx context.Context, client *hubapi.Client, units []string, since time.Time) ([]api.Incident, error) {
	all, err := client.Incidents(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("sos incidents: %w", err)
	}
	var out []api.Incident
	for _, inc := range all {
		if inc.SOS != "" && slices.Contains(units, inc.SOS) && inc.Created >= since.Add(-time.Second).UnixMilli() {
			out = append(out, inc)
		}
	}
	return out, nil
}
