package queue

import (
	"math"

	"github.com/tidwall/btree"
)

// posKey orders positions by time: ts, then seq — the order the hub uses for
// a unit's live marker, so "newest" here is what the hub will show as now.
type posKey struct {
	ts  int64
	seq uint64
}

func posLess(a, b posKey) bool {
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.seq < b.seq
}

// sentRec is an item handed to the MQTT client, ordered by when.
type sentRec struct {
	at   int64 // nanoseconds since Queue.base (monotonic when the clock has it)
	seq  uint64
	ts   int64
	kind Kind
}

func sentLess(a, b sentRec) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func seqLess(a, b uint64) bool { return a < b }

// index is the queue's in-memory view: small ordered sets of keys, so that
// Next, Append and Ack touch only what they return or change (O(log n) each),
// never the whole queue. Payloads stay in buntdb only (it keeps them in
// memory anyway) and are fetched for the items Next returns.
//
// Every position is in pos; besides, an item's send state puts it in:
//   - never sent: posNew (positions) or evReady (events);
//   - sent at or after the horizon (in flight): sent only;
//   - sent before the horizon (due for resending): sent, and posDue or evReady.
//
// The horizon is now - resendAfter of the latest Next. Items cross it once
// per send as time advances (amortised O(log n) each), instead of Next
// looking through everything in flight on every call.
type index struct {
	pos      *btree.BTreeG[posKey]  // every position
	posNew   *btree.BTreeG[posKey]  // positions never sent
	posDue   *btree.BTreeG[posKey]  // positions due for resending
	evReady  *btree.BTreeG[uint64]  // events not in flight (never sent, or due)
	sosReady *btree.BTreeG[uint64]  // SOS events not in flight: they go before every other event
	sent     *btree.BTreeG[sentRec] // every sent item, by send time
	sentAt   map[uint64]int64       // seq → sentRec.at, for sent items only
	events   int                    // SOS included
	horizon  int64
	thin     thinPass
}

// thinPass is where thinning is within its current pass (see thinVictim).
// It lives in memory only: a restart begins a new pass.
type thinPass struct {
	active    bool
	hasCursor bool
	cursor    posKey // the last position dropped
	bound     posKey // the pass ends after this position
}

func newIndex() index {
	opts := btree.Options{NoLocks: true} // the Queue's mutex guards everything
	return index{
		pos:      btree.NewBTreeGOptions(posLess, opts),
		posNew:   btree.NewBTreeGOptions(posLess, opts),
		posDue:   btree.NewBTreeGOptions(posLess, opts),
		evReady:  btree.NewBTreeGOptions(seqLess, opts),
		sosReady: btree.NewBTreeGOptions(seqLess, opts),
		sent:     btree.NewBTreeGOptions(sentLess, opts),
		sentAt:   make(map[uint64]int64),
		horizon:  math.MinInt64,
	}
}

func (x *index) len() int { return x.pos.Len() + x.events }

// ready is the set of an event kind's items not in flight.
func (x *index) ready(kind Kind) *btree.BTreeG[uint64] {
	if kind == SOS {
		return x.sosReady
	}
	return x.evReady
}

// add records a new, never-sent item.
func (x *index) add(seq uint64, kind Kind, ts int64) {
	if kind.IsEvent() {
		x.events++
		x.ready(kind).Set(seq)
		return
	}
	k := posKey{ts, seq}
	x.pos.Set(k)
	x.posNew.Set(k)
}

// remove forgets an item (acked or thinned) from every set.
func (x *index) remove(seq uint64, kind Kind, ts int64) {
	k := posKey{ts, seq}
	x.unready(seq, kind, ts)
	if at, ok := x.sentAt[seq]; ok {
		delete(x.sentAt, seq)
		x.sent.Delete(sentRec{at: at, seq: seq})
	}
	if kind.IsEvent() {
		x.events--
	} else {
		x.pos.Delete(k)
	}
}

// unready takes an item out of the never-sent or due sets, whichever holds it.
func (x *index) unready(seq uint64, kind Kind, ts int64) {
	if kind.IsEvent() {
		x.ready(kind).Delete(seq)
		return
	}
	k := posKey{ts, seq}
	if at, ok := x.sentAt[seq]; !ok {
		x.posNew.Delete(k)
	} else if at < x.horizon {
		x.posDue.Delete(k)
	}
}

// markSent records that an item was handed to the MQTT client at at.
func (x *index) markSent(seq uint64, kind Kind, ts int64, at int64) {
	x.unready(seq, kind, ts)
	if old, ok := x.sentAt[seq]; ok {
		x.sent.Delete(sentRec{at: old, seq: seq})
	}
	x.sentAt[seq] = at
	x.sent.Set(sentRec{at: at, seq: seq, ts: ts, kind: kind})
	if at < x.horizon {
		x.addDue(sentRec{at: at, seq: seq, ts: ts, kind: kind})
	}
}

func (x *index) addDue(r sentRec) {
	if r.kind.IsEvent() {
		x.ready(r.kind).Set(r.seq)
	} else {
		x.posDue.Set(posKey{r.ts, r.seq})
	}
}

func (x *index) delDue(r sentRec) {
	if r.kind.IsEvent() {
		x.ready(r.kind).Delete(r.seq)
	} else {
		x.posDue.Delete(posKey{r.ts, r.seq})
	}
}

// setHorizon moves the line between in flight and due. It normally only
// moves forward; a longer resendAfter or a clock stepping back moves it back,
// and the items it passes return to flight.
func (x *index) setHorizon(h int64) {
	switch {
	case h > x.horizon:
		x.sent.Ascend(sentRec{at: x.horizon}, func(r sentRec) bool {
			if r.at >= h {
				return false
			}
			x.addDue(r)
			return true
		})
	case h < x.horizon:
		x.sent.Ascend(sentRec{at: h}, func(r sentRec) bool {
			if r.at >= x.horizon {
				return false
			}
			x.delDue(r)
			return true
		})
	}
	x.horizon = h
}

// resetSent forgets every send, as a restart does.
func (x *index) resetSent() {
	x.sent.Scan(func(r sentRec) bool {
		if r.at < x.horizon {
			x.delDue(r)
		}
		if r.kind.IsEvent() {
			x.ready(r.kind).Set(r.seq)
		} else {
			x.posNew.Set(posKey{r.ts, r.seq})
		}
		return true
	})
	x.sent = btree.NewBTreeGOptions(sentLess, btree.Options{NoLocks: true})
	clear(x.sentAt)
}

// next returns up to n seqs in sending order (the policy is on Queue.Next).
// The horizon must be current.
func (x *index) next(n int) []uint64 {
	out := make([]uint64, 0, min(n, x.len()))
	for _, set := range []*btree.BTreeG[uint64]{x.sosReady, x.evReady} {
		set.Scan(func(seq uint64) bool {
			if len(out) == n {
				return false
			}
			out = append(out, seq)
			return true
		})
	}
	newest, ok := x.pos.Max()
	if !ok || len(out) == n {
		return out
	}
	if _, ready := x.posNew.Get(newest); ready {
		out = append(out, newest.seq)
	} else if _, ready := x.posDue.Get(newest); ready {
		out = append(out, newest.seq)
	}
	for _, set := range []*btree.BTreeG[posKey]{x.posNew, x.posDue} {
		set.Scan(func(k posKey) bool {
			if len(out) == n {
				return false
			}
			if k != newest {
				out = append(out, k.seq)
			}
			return true
		})
	}
	return out
}

// thinVictim picks the position to drop when an Append would overfill the
// queue, or reports false when there is none to drop. incoming is the
// position being appended, if it is one (isPos); the newest position — by
// (ts, seq), the incoming one included — is never picked, nor is the
// incoming one, and events never are.
//
// The rule and why are in the package doc (Size): every other position
// among the oldest half, one per call, keeping the oldest of each pair; a
// new pass over the oldest half of what remains when that half is done.
// Candidates are x.pos in order minus the protected newest, which sorts
// last, so index i of x.pos is index i of the candidates.
//
// It returns newPass true when it began a new pass (for the log).
func (x *index) thinVictim(incoming posKey, isPos bool) (victim posKey, newPass, ok bool) {
	top, has := x.pos.Max()
	m := x.pos.Len() // candidates: the positions below the protected newest
	protect := top
	if isPos && (!has || posLess(top, incoming)) {
		protect = incoming
	} else {
		m--
	}
	switch {
	case m <= 0:
		return posKey{}, false, false
	case m == 1:
		x.thin = thinPass{}
		v, _ := x.pos.Min()
		return v, false, true
	}
	if x.thin.active {
		var got [2]posKey
		n := 0
		visit := func(k posKey) bool {
			if x.thin.hasCursor && !posLess(x.thin.cursor, k) {
				return true // the cursor itself (or before it)
			}
			got[n] = k
			n++
			return n < 2
		}
		if x.thin.hasCursor {
			x.pos.Ascend(x.thin.cursor, visit)
		} else {
			x.pos.Scan(visit)
		}
		// got[0] is kept, got[1] dropped — if still within the pass.
		if n == 2 && !posLess(x.thin.bound, got[1]) && posLess(got[1], protect) {
			x.thin.cursor, x.thin.hasCursor = got[1], true
			return got[1], false, true
		}
	}
	// A new pass over the oldest half (at least two) of the candidates,
	// which are x.pos[0..m-1] in order: the protected newest sorts last.
	last := max(1, (m+1)/2-1)
	bound, _ := x.pos.GetAt(last)
	v, _ := x.pos.GetAt(1)
	x.thin = thinPass{active: true, hasCursor: true, cursor: v, bound: bound}
	return v, true, true
}
