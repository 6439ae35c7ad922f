//go:build !race

// The race detector makes sync.Pool drop items at random, so allocations are
// counted only without it.

package match

import "testing"

// A Query allocates its answer and nothing else: the search's buffers come
// from the index's pool.
func TestQueryAllocatesOnlyItsAnswer(t *testing.T) {
	r := newRand(9, 0)
	ix := newIndex(t, DefaultConfig(), benchFleet(r, 5000, now0)...)
	for _, needs := range [][]string{nil, {"medical"}, {"k9", "armed"}} {
		p := benchPoint(r)
		q := Query{Lat: p.lat, Lon: p.lon, K: 10, Needs: needs, Now: now0}
		if n := testing.AllocsPerRun(200, func() { _, _ = ix.Query(q) }); n > 1 {
			t.Errorf("needs %v: %v allocations per query, want 1", needs, n)
		}
	}
}
