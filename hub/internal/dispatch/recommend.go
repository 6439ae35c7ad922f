package dispatch

import (
	"slices"
	"time"

	"kuaifan/hub/internal/match"
	"kuaifan/protocol"
)

// recommend ranks the units for an incident: the match index's candidates by
// arrival time, looking back StaleFor for positions; volunteers only for kinds
// that allow them; each in the first tier whose circle and unit types admit
// it; fresh units first, stale ones after them, flagged.
func (d *Dispatcher) recommend(inc *Incident, now time.Time) []Recommendation {
	return d.recommendNeeds(inc, inc.Needs, now)
}

// recommendNeeds is recommend with other needs than the incident's.
func (d *Dispatcher) recommendNeeds(inc *Incident, needs []string, now time.Time) []Recommendation {
	cands, err := d.fleet.Match(match.Query{Lat: inc.Lat, Lon: inc.Lon, K: match.MaxK, Needs: needs,
		Now: now, MaxFixAge: d.cfg.StaleFor})
	if err != nil {
		d.log.Error("dispatch: matching failed", "incident", inc.ID, "err", err)
		return nil
	}
	volunteers := d.pol.volunteersAllowed(inc.Kind)
	recs := make([]Recommendation, 0, len(cands))
	for _, c := range cands {
		if c.Type == protocol.TypeVolunteer && !volunteers {
			continue
		}
		tier := d.pol.tierOf(c.Type, c.ETAS)
		if tier == 0 {
			continue // no tier takes this type
		}
		c.Tier = tier
		recs = append(recs, Recommendation{Candidate: c, Stale: c.FixAgeS > d.cfg.FreshFor.Seconds()})
	}
	// Stable: within fresh and within stale the match order (by ETA) stays.
	slices.SortStableFunc(recs, func(a, b Recommendation) int {
		switch {
		case a.Stale == b.Stale:
			return 0
		case b.Stale:
			return -1
		}
		return 1
	})
	return recs[:min(len(recs), d.cfg.Recommend)]
}

// tierOf is the first tier, 1-based, that admits the type and whose circle
// the ETA falls in; 0 if none does.
func (p Policy) tierOf(t protocol.UnitType, etaS float64) int {
	for i, tier := range p.Tiers {
		if !slices.Contains(tier.Types, t) {
			continue
		}
		if tier.Minutes == 0 || etaS <= tier.Minutes*60 {
			return i + 1
		}
	}
	return 0
}
