package queue

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"kuaifan/protocol"
)

// model is the queue's policy written the obvious way: a map of items,
// sorted afresh and scanned whole on every question. The property test
// holds the real queue to it step by step.
type model struct {
	items map[uint64]*mItem
	max   int
	thin  thinPass
}

type mItem struct {
	Item
	sent   bool
	sentAt time.Time
}

func newModel(max int) *model { return &model{items: map[uint64]*mItem{}, max: max} }

// positions returns every position by (ts, seq).
func (m *model) positions() []posKey {
	var ps []posKey
	for _, it := range m.items {
		if it.Kind == Telemetry {
			ps = append(ps, posKey{it.TS, it.Seq})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return posLess(ps[i], ps[j]) })
	return ps
}

// victim is thinVictim's rule over a sorted slice.
func (m *model) victim(incoming posKey, isPos bool) (posKey, bool) {
	ps := m.positions()
	cands := ps
	protect := incoming
	if len(ps) > 0 && (!isPos || posLess(incoming, ps[len(ps)-1])) {
		protect = ps[len(ps)-1]
		cands = ps[:len(ps)-1]
	} else if !isPos {
		return posKey{}, false
	}
	switch len(cands) {
	case 0:
		return posKey{}, false
	case 1:
		m.thin = thinPass{}
		return cands[0], true
	}
	if m.thin.active {
		i := 0
		for i < len(ps) && !posLess(m.thin.cursor, ps[i]) {
			i++
		}
		if i+1 < len(ps) && !posLess(m.thin.bound, ps[i+1]) && posLess(ps[i+1], protect) {
			m.thin.cursor = ps[i+1]
			return ps[i+1], true
		}
	}
	last := max(1, (len(cands)+1)/2-1)
	m.thin = thinPass{active: true, hasCursor: true, cursor: cands[1], bound: cands[last]}
	return cands[1], true
}

func (m *model) append(it Item) {
	for len(m.items)+1 > m.max {
		v, ok := m.victim(posKey{it.TS, it.Seq}, it.Kind == Telemetry)
		if !ok {
			break
		}
		delete(m.items, v.seq)
	}
	m.items[it.Seq] = &mItem{Item: it}
}

func (m *model) ack(rs protocol.Ranges) int {
	n := 0
	for seq := range m.items {
		for _, r := range rs {
			if r[0] <= seq && seq <= r[1] {
				delete(m.items, seq)
				n++
				break
			}
		}
	}
	return n
}

func (m *model) markSent(t time.Time, seqs ...uint64) {
	for _, s := range seqs {
		if it, ok := m.items[s]; ok {
			it.sent, it.sentAt = true, t
		}
	}
}

func (m *model) resetSent() {
	for _, it := range m.items {
		it.sent = false
	}
}

func (m *model) restart() {
	m.resetSent()
	m.thin = thinPass{}
}

func (m *model) next(n int, now time.Time, resendAfter time.Duration) []uint64 {
	ready := func(it *mItem) bool { return !it.sent || now.Sub(it.sentAt) > resendAfter }
	var soss, evs []uint64
	for _, it := range m.items {
		switch {
		case it.Kind == SOS && ready(it):
			soss = append(soss, it.Seq)
		case it.Kind == Event && ready(it):
			evs = append(evs, it.Seq)
		}
	}
	slices.Sort(soss)
	slices.Sort(evs)
	// SOS before every other event, each by seq.
	out := append(soss, evs...)
	ps := m.positions()
	if len(ps) > 0 {
		newest := ps[len(ps)-1]
		if ready(m.items[newest.seq]) {
			out = append(out, newest.seq)
		}
		rest := ps[:len(ps)-1]
		for _, p := range rest {
			if !m.items[p.seq].sent {
				out = append(out, p.seq)
			}
		}
		for _, p := range rest {
			if it := m.items[p.seq]; it.sent && ready(it) {
				out = append(out, p.seq)
			}
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (m *model) sorted() []Item {
	var items []Item
	for _, it := range m.items {
		items = append(items, it.Item)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Seq < items[j].Seq })
	return items
}

// TestModel runs random sequences of every operation, restarts included,
// against the model: Next's answer, the stored items, the counts and the
// index's own invariants must agree after every step.
func TestModel(t *testing.T) {
	tests := []struct {
		name     string
		seed     uint64
		maxItems int
		steps    int
	}{
		{"thinning hard", 1, 24, 3000},
		{"thinning often", 2, 60, 3000},
		{"midsize", 5, 200, 3000},
		{"roomy", 3, 10_000, 2500},
		{"tiny", 4, 3, 1500},
		{"sos among events, thinning", 6, 40, 3000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runModel(t, tc.seed, tc.maxItems, tc.steps)
		})
	}
}

func runModel(t *testing.T, seed uint64, maxItems, steps int) {
	rnd := rand.New(rand.NewPCG(seed, seed*7919))
	dir := t.TempDir()
	clk := newClock()
	cfg := Config{Dir: dir, MaxItems: maxItems, Now: clk.Now}
	q, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { q.Close() }()
	m := newModel(maxItems)
	var lastSeq uint64
	var everSeqs []uint64
	ts := t0.UnixMilli()
	resendChoices := []time.Duration{0, time.Second, 5 * time.Second, 30 * time.Second}

	randomRanges := func() protocol.Ranges {
		var rs protocol.Ranges
		for range 1 + rnd.IntN(4) {
			var from uint64
			switch r := rnd.IntN(10); {
			case r < 7 && len(everSeqs) > 0:
				from = everSeqs[rnd.IntN(len(everSeqs))]
			case r < 9:
				from = lastSeq + uint64(rnd.IntN(5)) // at and beyond the end
			default:
				from = uint64(rnd.IntN(100)) // far below anything queued
			}
			to := from + uint64(rnd.IntN(6))
			if rnd.IntN(20) == 0 {
				to = from - 1 // from > to: ignored
			}
			rs = append(rs, protocol.Range{from, to})
		}
		if rnd.IntN(80) == 0 {
			rs = append(rs, protocol.Range{0, math.MaxUint64})
		}
		rnd.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		return rs
	}

	for step := range steps {
		var op string
		switch r := rnd.IntN(100); {
		case r < 30:
			op = "append position"
			ts += int64(rnd.IntN(3000))
			pts := ts
			if rnd.IntN(8) == 0 {
				pts = ts - int64(rnd.IntN(20_000)) // a fix stamped earlier
			}
			it := mustAppend(t, q, Telemetry, pts)
			m.append(it)
			lastSeq = it.Seq
			everSeqs = append(everSeqs, it.Seq)
		case r < 38:
			op = "append event"
			kind := Event
			if rnd.IntN(5) == 0 {
				op, kind = "append sos", SOS
			}
			it := mustAppend(t, q, kind, ts)
			m.append(it)
			lastSeq = it.Seq
			everSeqs = append(everSeqs, it.Seq)
		case r < 63:
			n := 1 + rnd.IntN(12)
			ra := resendChoices[rnd.IntN(len(resendChoices))]
			op = fmt.Sprintf("next(%d, %v)", n, ra)
			got := q.Next(n, ra)
			want := m.next(n, clk.Now(), ra)
			if !slices.Equal(seqsOf(got), want) {
				t.Fatalf("step %d %s: got %v, want %v", step, op, seqsOf(got), want)
			}
			for _, it := range got {
				if mi := m.items[it.Seq]; !bytes.Equal(it.Payload, mi.Payload) || it.Kind != mi.Kind || it.TS != mi.TS {
					t.Fatalf("step %d: next returned %+v, stored %+v", step, it, mi.Item)
				}
			}
			if len(got) > 0 && rnd.IntN(4) != 0 {
				k := 1 + rnd.IntN(len(got))
				at := clk.Now().Add(-time.Duration(rnd.IntN(3)) * time.Second)
				q.MarkSent(at, seqsOf(got[:k])...)
				m.markSent(at, seqsOf(got[:k])...)
			}
		case r < 66:
			op = "mark sent (any seqs)"
			var seqs []uint64
			for range rnd.IntN(4) {
				seqs = append(seqs, lastSeq-uint64(rnd.IntN(30)))
			}
			q.MarkSent(clk.Now(), seqs...)
			m.markSent(clk.Now(), seqs...)
		case r < 81:
			rs := randomRanges()
			op = fmt.Sprintf("ack %v", rs)
			got, err := q.Ack(rs)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.ack(rs); got != want {
				t.Fatalf("step %d %s: acked %d, want %d", step, op, got, want)
			}
		case r < 95:
			op = "time passes"
			clk.Add(time.Duration(rnd.IntN(8000)) * time.Millisecond)
		case r < 97:
			op = "reset sent"
			q.ResetSent()
			m.resetSent()
		default:
			op = "restart"
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if q, err = Open(cfg); err != nil {
				t.Fatal(err)
			}
			m.restart()
		}

		have, want := stored(t, q), m.sorted()
		if !slices.Equal(seqsOf(have), seqsOf(want)) {
			t.Fatalf("step %d %s: stored %v, want %v", step, op, seqsOf(have), seqsOf(want))
		}
		for i, it := range have {
			if w := want[i]; it.Kind != w.Kind || it.TS != w.TS || !bytes.Equal(it.Payload, w.Payload) {
				t.Fatalf("step %d %s: stored %+v, want %+v", step, op, it, w)
			}
		}
		pos, ev := q.Counts()
		if pos+ev != len(m.items) || q.Len() != len(m.items) {
			t.Fatalf("step %d %s: counts %d+%d, len %d, want %d", step, op, pos, ev, q.Len(), len(m.items))
		}
		if q.NextSeq() <= lastSeq {
			t.Fatalf("step %d %s: next seq %d not above %d", step, op, q.NextSeq(), lastSeq)
		}
		// Beyond MaxItems only for events: at most the newest position
		// and one appended out of time order wait for the next Append.
		if len(m.items) > maxItems && pos > 2 {
			t.Fatalf("step %d: %d items over MaxItems %d with positions to thin", step, len(m.items), maxItems)
		}
		checkIndex(t, q)
	}
	// Seq rose strictly across everything, restarts included.
	for i := 1; i < len(everSeqs); i++ {
		if everSeqs[i] <= everSeqs[i-1] {
			t.Fatalf("seq went from %d to %d", everSeqs[i-1], everSeqs[i])
		}
	}
}

// TestSOSFirstAfterOutage is the property an officer relies on: whatever
// an outage left queued — positions, events, some sent and due, some in
// flight — an SOS queued last is the first item Next hands out, once it is
// not in flight; every earlier item still goes out, in the order it would
// have without the SOS, and leaves only on an ack of its seq.
func TestSOSFirstAfterOutage(t *testing.T) {
	for seed := range uint64(40) {
		rnd := rand.New(rand.NewPCG(seed, 17))
		clk := newClock()
		q, err := Open(Config{Dir: t.TempDir(), MaxItems: 10 + rnd.IntN(200), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		ts := t0.UnixMilli()
		for range 20 + rnd.IntN(300) {
			ts += int64(rnd.IntN(2000))
			kind := Telemetry
			if rnd.IntN(6) == 0 {
				kind = Event
			}
			mustAppend(t, q, kind, ts)
			if rnd.IntN(10) == 0 {
				got := q.Next(1+rnd.IntN(5), 30*time.Second)
				q.MarkSent(clk.Now(), seqsOf(got)...)
			}
			clk.Add(time.Duration(rnd.IntN(2000)) * time.Millisecond)
		}
		before := seqsOf(q.Next(1_000_000, 30*time.Second))
		sos := mustAppend(t, q, SOS, ts)
		got := seqsOf(q.Next(1_000_000, 30*time.Second))
		if len(got) == 0 || got[0] != sos.Seq {
			t.Fatalf("seed %d: Next starts %v, want the SOS %d first", seed, got[:min(3, len(got))], sos.Seq)
		}
		// The rest in the same order; a full queue thins one position for
		// the SOS, as for any report.
		if rest := got[1:]; len(before)-len(rest) > 1 || !subsequence(rest, before) {
			t.Fatalf("seed %d: the SOS changed the rest: %v, before %v", seed, rest, before)
		}
		// In flight, it is not handed out again; unacked, it comes back first.
		q.MarkSent(clk.Now(), sos.Seq)
		if again := seqsOf(q.Next(1_000_000, 30*time.Second)); slices.Contains(again, sos.Seq) {
			t.Fatalf("seed %d: an SOS in flight handed out again", seed)
		}
		clk.Add(31 * time.Second)
		if again := seqsOf(q.Next(1, 30*time.Second)); len(again) != 1 || again[0] != sos.Seq {
			t.Fatalf("seed %d: an unconfirmed SOS not resent first: %v", seed, again)
		}
		// Only an ack takes it out; then the rest is as before.
		if n, err := q.Ack(protocol.Ranges{{sos.Seq, sos.Seq}}); err != nil || n != 1 {
			t.Fatalf("seed %d: ack of the SOS removed %d, %v", seed, n, err)
		}
		checkIndex(t, q)
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// subsequence reports whether a is b with some elements left out.
func subsequence(a, b []uint64) bool {
	i := 0
	for _, x := range b {
		if i < len(a) && a[i] == x {
			i++
		}
	}
	return i == len(a)
}
