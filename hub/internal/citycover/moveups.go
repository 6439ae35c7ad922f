package citycover

import (
	"fmt"
	"time"

	"kuaifan/hub/internal/coverage"
	"kuaifan/protocol/api"
)

// Move-up defaults and bounds (GET /api/moveups).
const (
	DefaultMoveUps   = 5
	MaxMoveUps       = 20
	DefaultFloor     = 2
	MaxFloor         = 100
	DefaultMaxTravel = 15 * time.Minute
)

// MoveUps suggests up to n free units to move to raise the demand-weighted
// share of the city within the cover tier (coverage.SuggestMoveUps: greedy,
// each move the best given the ones before it), never leaving a district
// fewer than floor free units, no drive longer than maxTravel. It reads
// the units now, not the last computation. One runs at a time: each costs
// tens of milliseconds for a large fleet.
func (l *Live) MoveUps(n, floor int, maxTravel time.Duration) (api.MoveUps, error) {
	if n < 1 || n > MaxMoveUps {
		return api.MoveUps{}, fmt.Errorf("%w: n %d: want 1 to %d", coverage.ErrBadMoveUp, n, MaxMoveUps)
	}
	if floor < 0 || floor > MaxFloor {
		return api.MoveUps{}, fmt.Errorf("%w: floor %d: want 0 to %d", coverage.ErrBadMoveUp, floor, MaxFloor)
	}
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	now := l.cfg.Now()
	units := l.cfg.Units(now)
	plan, err := coverage.SuggestMoveUps(l.grid, units, coverage.MoveUpOptions{N: n, Weights: l.Weights(),
		CoverTier: l.cfg.CoverTier, District: l.district, Floor: floor, MaxTravel: maxTravel})
	if err != nil {
		return api.MoveUps{}, err
	}
	out := api.MoveUps{TS: now.UnixMilli(), CoverTier: plan.CoverTier, CoverS: l.grid.Tiers()[plan.CoverTier-1].Seconds(),
		Floor: floor, Before: round4(plan.Before), After: round4(plan.After), Suggestions: make([]api.MoveUp, 0, len(plan.Moves))}
	for _, m := range plan.Moves {
		out.Suggestions = append(out.Suggestions, api.MoveUp{Unit: m.ID, Type: string(units[m.Unit].Type),
			FromLat: m.FromLat, FromLon: m.FromLon, ToLat: round6(m.ToLat), ToLon: round6(m.ToLon),
			FromDistrict: l.districtID(m.FromDistrict), ToDistrict: l.districtID(m.ToDistrict),
			TravelS: round1(m.TravelS), Gain: round4(m.Gain), GainCells: m.CellsGained - m.CellsLost})
	}
	return out, nil
}

func (l *Live) districtID(i int) string {
	if i < 0 || i >= len(l.cfg.Districts.Districts) {
		return ""
	}
	return l.cfg.Districts.Districts[i].ID
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
