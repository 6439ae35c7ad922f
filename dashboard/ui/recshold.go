package ui

import (
	"slices"

	"kuaifan/protocol/api"
)

// RecsHold keeps the recommendations from reordering under the dispatcher's
// pointer or keyboard: while either is in the list, a ranking in another
// order waits (the list says "updated — refresh") instead of moving the row
// about to be clicked. Figures of the same order (ETAs, fix ages) update in
// place: the rows keep their units.
type RecsHold struct {
	Pointer bool      // the pointer is over the list
	Focus   bool      // the keyboard focus is inside it
	Next    *Incident // a ranking that came while held
}

// Held reports whether the list is held.
func (h RecsHold) Held() bool { return h.Pointer || h.Focus }

// showDetail installs a fetched detail of the selected incident, unless the
// list is held and its order would change: then it waits in Recs.Next.
func (c *Console) showDetail(inc *Incident) {
	d := *inc
	if c.Recs.Held() && c.Detail != nil && c.Detail.ID == d.ID && !sameRanking(c.Detail.Recommendations, d.Recommendations) {
		c.Recs.Next = &d
		return
	}
	c.Detail, c.Recs.Next = &d, nil
}

// HoldRecs records where the pointer (pointer) or the focus (!pointer) is;
// when neither is in the list any more, a waiting ranking is shown. It
// reports whether the page must be redrawn.
func (c *Console) HoldRecs(pointer, in bool) bool {
	if pointer {
		c.Recs.Pointer = in
	} else {
		c.Recs.Focus = in
	}
	if !c.Recs.Held() && c.Recs.Next != nil {
		c.RefreshRecs()
		return true
	}
	return false
}

// RefreshRecs shows the waiting ranking now (the "refresh" button).
func (c *Console) RefreshRecs() {
	if n := c.Recs.Next; n != nil {
		c.Recs.Next = nil
		if c.Scene.SelInc == n.ID {
			c.Detail = n
		}
	}
}

func sameRanking(a, b []api.Recommendation) bool {
	return slices.EqualFunc(a, b, func(x, y api.Recommendation) bool { return x.Unit == y.Unit })
}
