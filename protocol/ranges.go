package protocol

import "sort"

// Ranges is a set of sequence numbers as sorted, disjoint, non-adjacent
// inclusive ranges: the form of an Ack, and how the hub remembers what it has
// committed per unit.
type Ranges []Range

// Contains reports whether seq is in the set.
func (rs Ranges) Contains(seq uint64) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i][1] >= seq })
	return i < len(rs) && rs[i][0] <= seq
}

// Insert adds seq, merging with neighbouring ranges, and returns the set.
// It may modify rs in place.
func (rs Ranges) Insert(seq uint64) Ranges {
	i := sort.Search(len(rs), func(i int) bool { return rs[i][1] >= seq })
	if i < len(rs) && rs[i][0] <= seq {
		return rs // already there
	}
	joinsLeft := i > 0 && rs[i-1][1]+1 == seq
	joinsRight := i < len(rs) && seq+1 == rs[i][0]
	switch {
	case joinsLeft && joinsRight:
		rs[i-1][1] = rs[i][1]
		return append(rs[:i], rs[i+1:]...)
	case joinsLeft:
		rs[i-1][1] = seq
	case joinsRight:
		rs[i][0] = seq
	default:
		rs = append(rs, Range{})
		copy(rs[i+1:], rs[i:])
		rs[i] = Range{seq, seq}
	}
	return rs
}

// Trim keeps at most max ranges, the highest, and returns them with floor:
// the lowest sequence number the trimmed set still speaks for. At or above
// floor the set is exact; below it, a number may or may not have been in the
// set, and whoever asks must find out another way (the hub asks its store).
// Trim never fills a gap: a set that claimed a number it never held would let
// a resent report be confirmed without being stored. It may modify rs in place.
func (rs Ranges) Trim(max int) (trimmed Ranges, floor uint64) {
	if max < 1 {
		max = 1
	}
	if len(rs) <= max {
		return rs, 0
	}
	drop := len(rs) - max
	floor = rs[drop][0]
	return append(rs[:0], rs[drop:]...), floor
}

// Len is the number of sequence numbers in the set.
func (rs Ranges) Len() uint64 {
	var n uint64
	for _, r := range rs {
		n += r[1] - r[0] + 1
	}
	return n
}

// Union returns the set of sequence numbers in rs or in other. Neither needs
// to be canonical (an Ack from the wire may be unsorted); the result is.
func (rs Ranges) Union(other Ranges) Ranges {
	all := make(Ranges, 0, len(rs)+len(other))
	all = append(append(all, rs...), other...)
	sort.Slice(all, func(i, j int) bool { return all[i][0] < all[j][0] })
	out := all[:0]
	for _, r := range all {
		if n := len(out); n > 0 && (r[0] <= out[n-1][1] || out[n-1][1]+1 == r[0]) {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}
