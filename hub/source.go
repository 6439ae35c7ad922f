package hub

import (
	"kuaifan/hub/internal/dispatch"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/stream"
)

// streamSource shows the live stream the fleet's units and the dispatcher's
// incidents, as the API returns them.
type streamSource struct {
	fleet    *fleet.Fleet
	dispatch *dispatch.Dispatcher
}

var _ stream.Source = streamSource{}

func (s streamSource) Units(ids []string) []stream.Item {
	var views []fleet.View
	if ids == nil {
		views = s.fleet.List()
	} else {
		views = s.fleet.Views(ids)
	}
	// Pointers into views: boxing each View by value would copy it into an
	// allocation of its own, a thousand of them per window at full load.
	items := make([]stream.Item, len(views))
	for i := range views {
		items[i] = stream.Item{ID: views[i].ID, Value: &views[i]}
	}
	return items
}

// Incidents: a closed incident stays in deltas with its final state (the
// dispatcher sees it close); snapshots hold the open ones.
func (s streamSource) Incidents(ids []string) []stream.Item {
	incs := s.dispatch.Incidents(ids)
	items := make([]stream.Item, len(incs))
	for i, inc := range incs {
		items[i] = stream.Item{ID: inc.ID, Value: inc}
	}
	return items
}
