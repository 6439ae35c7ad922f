package protocol

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Property: after any sequence of inserts, Ranges agrees with a plain set,
// and stays sorted, disjoint and non-adjacent.
func TestRangesMatchASet(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		span := uint64(1 + r.IntN(200))
		set := map[uint64]bool{}
		var rs Ranges
		for n := r.IntN(300); n > 0; n-- {
			seq := r.Uint64N(span)
			if seed%5 == 0 {
				seq += 1<<64 - 1 - span // near the top of uint64
			}
			set[seq] = true
			rs = rs.Insert(seq)
		}
		for i, rg := range rs {
			if rg[0] > rg[1] || i > 0 && rs[i-1][1]+1 >= rg[0] {
				t.Fatalf("seed %d: ranges not canonical: %v", seed, rs)
			}
		}
		if rs.Len() != uint64(len(set)) {
			t.Fatalf("seed %d: Len %d, set has %d", seed, rs.Len(), len(set))
		}
		base := uint64(0)
		if seed%5 == 0 {
			base = 1<<64 - 1 - span
		}
		for seq := base; seq < base+span; seq++ {
			if rs.Contains(seq) != set[seq] {
				t.Fatalf("seed %d: Contains(%d) = %v", seed, seq, !set[seq])
			}
		}
	}
}

func TestRangesTrim(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    Ranges
		max   int
		want  Ranges
		floor uint64
	}{
		{"within the bound", Ranges{{1, 1}}, 5, Ranges{{1, 1}}, 0},
		{"keeps the highest", Ranges{{1, 2}, {5, 5}, {8, 9}, {20, 30}}, 2, Ranges{{8, 9}, {20, 30}}, 8},
		{"at least one", Ranges{{1, 2}, {5, 5}}, 0, Ranges{{5, 5}}, 5},
	} {
		in := slices.Clone(tc.in)
		got, floor := tc.in.Trim(tc.max)
		if !slices.Equal(got, tc.want) || floor != tc.floor {
			t.Errorf("%s: Trim(%d) = %v, floor %d; want %v, %d", tc.name, tc.max, got, floor, tc.want, tc.floor)
		}
		// Never a gap filled: nothing kept that was not there.
		for _, r := range got {
			for s := r[0]; s <= r[1]; s++ {
				if !in.Contains(s) {
					t.Errorf("%s: %d claimed", tc.name, s)
				}
			}
		}
	}
}

// Property: Union agrees with the union of plain sets and is canonical.
func TestRangesUnion(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		set := map[uint64]bool{}
		random := func() Ranges {
			var rs Ranges
			for n := r.IntN(8); n > 0; n-- {
				lo := r.Uint64N(100)
				hi := lo + r.Uint64N(10)
				for s := lo; s <= hi; s++ {
					set[s] = true
				}
				rs = append(rs, Range{lo, hi}) // unsorted, overlapping
			}
			return rs
		}
		got := random().Union(random())
		for i, rg := range got {
			if rg[0] > rg[1] || i > 0 && got[i-1][1]+1 >= rg[0] {
				t.Fatalf("seed %d: not canonical: %v", seed, got)
			}
		}
		if got.Len() != uint64(len(set)) {
			t.Fatalf("seed %d: %v has %d, want %d", seed, got, got.Len(), len(set))
		}
		for s := range set {
			if !got.Contains(s) {
				t.Fatalf("seed %d: %d missing from %v", seed, s, got)
			}
		}
	}
	top := Ranges{{1<<64 - 2, 1<<64 - 1}}.Union(Ranges{{0, 0}})
	if len(top) != 2 || top.Len() != 3 {
		t.Errorf("union at the ends of uint64: %v", top)
	}
}
