package fleet

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

var (
	ackModelN    = flag.Int("ack.model.n", 4000, "reports each run of the ack-protocol model test sends")
	ackModelSeed = flag.Uint64("ack.model.seed", 0, "seed of the ack-protocol model test; 0: a few fixed seeds")
)

// TestAckModel checks the ack protocol against a model of its agents and
// network: reports are lost, reordered, duplicated and resent, agents thin
// their queues (gaps the hub never sees), confirmations are lost, and the
// hub restarts. The hub keeps only a few seq ranges per unit, so most
// resends land below its window. Invariants, checked at every confirmation
// and at the end: what the hub confirms is stored, and stored exactly once;
// once the network heals, every report an agent kept is confirmed.
func TestAckModel(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if *ackModelSeed != 0 {
		seeds = []uint64{*ackModelSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			m := newAckModel(t, seed)
			defer m.close()
			m.run(*ackModelN)
			t.Logf("%d reports from %d units: %d delivered (%d duplicates), %d lost, %d resent, %d thinned, %d confirmations lost, %d restarts; %d arrived below the hub's seq window; %d confirmations checked against the store",
				m.stats.reports, len(m.agents), m.stats.delivered, m.stats.duplicates, m.stats.lost, m.stats.resent,
				m.stats.thinned, m.stats.acksLost, m.stats.restarts, m.stats.belowWindow, m.stats.checked)
		})
	}
}

type modelAgent struct {
	unit    string
	next    uint64
	sent    map[uint64]Message // every report made, by seq
	queue   map[uint64]bool    // not yet confirmed, not thinned
	thinned map[uint64]bool
	offline bool // reports queue up unpublished, as in a tunnel
}

type modelAck struct {
	unit string
	seq  uint64
}

type ackModel struct {
	t      *testing.T
	r      *rand.Rand
	dir    string
	st     *store.Store
	f      *Fleet
	clock  time.Time
	agents []*modelAgent
	net    []Message  // reports on their way to the hub, in no order
	acks   []modelAck // confirmations on their way back
	// confirmed is every (unit, seq) the hub ever confirmed.
	confirmed map[modelAck]bool
	stats     struct {
		reports, delivered, duplicates, lost, resent, thinned, acksLost, restarts, checked, belowWindow int
	}
}

func newAckModel(t *testing.T, seed uint64) *ackModel {
	m := &ackModel{t: t, r: rand.New(rand.NewPCG(seed, 15)), dir: t.TempDir(), clock: now, confirmed: map[modelAck]bool{}}
	m.open()
	for i := range 3 {
		a := &modelAgent{unit: fmt.Sprintf("u%d", i), sent: map[uint64]Message{}, queue: map[uint64]bool{}, thinned: map[uint64]bool{}}
		if _, err := m.f.Enrol(Enrolment{ID: a.unit, Type: protocol.TypeCar}, now); err != nil {
			t.Fatal(err)
		}
		m.agents = append(m.agents, a)
	}
	return m
}

func (m *ackModel) open() {
	st, err := store.Open(store.Config{Dir: m.dir, SnapshotInterval: -1, Retention: 10 * 365 * 24 * time.Hour})
	if err != nil {
		m.t.Fatal(err)
	}
	// Four ranges: thinning and loss push most resends below the window.
	f, err := Open(Config{Store: st, Match: match.DefaultConfig(), MaxSeqRanges: 4})
	if err != nil {
		m.t.Fatal(err)
	}
	m.st, m.f = st, f
}

func (m *ackModel) close() {
	m.f.Close()
	m.st.Close()
}

func (m *ackModel) run(n int) {
	for m.stats.reports < n {
		switch p := m.r.IntN(100); {
		case p < 35:
			m.report()
		case p < 42:
			m.resend(false)
		case p < 47:
			m.thin()
		case p < 50:
			a := m.agents[m.r.IntN(len(m.agents))]
			a.offline = !a.offline
		case p < 85:
			m.deliver(true)
		case p < 99:
			m.confirm(true)
		default:
			// About a hundred restarts a run: each reads the whole file.
			if m.r.IntN(max(1, n/4000)) == 0 {
				m.restart()
			}
		}
	}
	// The network heals: everything queued is resent until confirmed.
	for _, a := range m.agents {
		a.offline = false
	}
	for round := 0; ; round++ {
		m.deliver(false)
		m.confirm(false)
		queued := 0
		for _, a := range m.agents {
			queued += len(a.queue)
		}
		if queued == 0 && len(m.net) == 0 {
			break
		}
		if round > 1000 {
			m.t.Fatalf("%d reports still unconfirmed after the network healed", queued)
		}
		m.resend(true)
	}
	m.checkStoredOnce()
	// Every report not thinned was confirmed.
	for _, a := range m.agents {
		for seq := range a.sent {
			if !a.thinned[seq] && !m.confirmed[modelAck{a.unit, seq}] {
				m.t.Errorf("%s seq %d was kept by its agent and never confirmed", a.unit, seq)
			}
		}
	}
}

// report makes a new report and publishes it at once.
func (m *ackModel) report() {
	a := m.agents[m.r.IntN(len(m.agents))]
	m.clock = m.clock.Add(time.Duration(50+m.r.IntN(200)) * time.Millisecond)
	a.next++
	var msg Message
	if m.r.IntN(5) == 0 {
		msg = event(a.unit, a.next, m.clock, []protocol.Status{protocol.StatusBusy, protocol.StatusAvailable}[m.r.IntN(2)])
	} else {
		msg = tele(a.unit, a.next, m.clock, protocol.StatusAvailable)
	}
	a.sent[a.next], a.queue[a.next] = msg, true
	if !a.offline {
		m.net = append(m.net, msg)
	}
	m.stats.reports++
}

// resend publishes again some (or, once healed, all) of an agent's queue.
// Like a real agent's, resends go out in bounded rounds, not all at once.
func (m *ackModel) resend(all bool) {
	for _, a := range m.agents {
		if a.offline {
			continue
		}
		queued := a.queued()
		if !all && len(queued) > 16 {
			m.r.Shuffle(len(queued), func(i, j int) { queued[i], queued[j] = queued[j], queued[i] })
			queued = queued[:16]
		}
		for _, seq := range queued {
			m.net = append(m.net, a.sent[seq])
			m.stats.resent++
		}
	}
}

// queued is the agent's queue in seq order: the model is the same run for
// the same seed, whatever order Go gives a map.
func (a *modelAgent) queued() []uint64 {
	seqs := slices.Collect(maps.Keys(a.queue))
	slices.Sort(seqs)
	return seqs
}

// thin drops every other queued report of one agent, as a full queue does:
// gaps the hub will never see filled. Some may already be on their way;
// most, from an agent offline, never left it.
func (m *ackModel) thin() {
	a := m.agents[m.r.IntN(len(m.agents))]
	for i, seq := range a.queued() {
		if i%2 == 0 {
			delete(a.queue, seq)
			a.thinned[seq] = true
			m.stats.thinned++
		}
	}
}

// deliver hands the hub one batch from the network in random order; with
// loss, some of it vanishes and some arrives twice.
func (m *ackModel) deliver(lossy bool) {
	if len(m.net) == 0 {
		return
	}
	k := len(m.net)
	if lossy {
		k = 1 + m.r.IntN(min(len(m.net), 32))
	}
	// The network reorders: k reports picked at random go to the hub.
	var batch []Message
	for range k {
		i := m.r.IntN(len(m.net))
		msg := m.net[i]
		m.net[i] = m.net[len(m.net)-1]
		m.net = m.net[:len(m.net)-1]
		switch {
		case lossy && m.r.IntN(10) == 0:
			m.stats.lost++
		default:
			batch = append(batch, msg)
			if lossy && m.r.IntN(20) == 0 {
				batch = append(batch, msg)
				m.stats.duplicates++
			}
		}
	}
	m.f.mu.RLock()
	for i := range batch {
		if seq, _ := batch[i].Seq(); seq < m.f.units[batch[i].Unit()].live.SeqFloor {
			m.stats.belowWindow++
		}
	}
	m.f.mu.RUnlock()
	out, err := m.f.Apply(batch, m.clock)
	if err != nil {
		m.t.Fatal(err)
	}
	m.stats.delivered += len(batch)
	for i, r := range out.Results {
		msg := &batch[i]
		seq, _ := msg.Seq()
		if r == Expired || r == Unknown {
			m.t.Fatalf("%s seq %d: %v (the model keeps every report within retention)", msg.Unit(), seq, r)
		}
		if !r.Confirmed() {
			continue
		}
		m.checkStored(msg)
		ack := modelAck{msg.Unit(), seq}
		m.confirmed[ack] = true
		m.acks = append(m.acks, ack)
	}
}

// checkStored: a confirmed report is in the store.
func (m *ackModel) checkStored(msg *Message) {
	seq, _ := msg.Seq()
	var stored bool
	var err error
	if msg.Kind == protocol.KindTelemetry {
		stored, err = m.st.HasPosition(msg.Unit(), msg.Telemetry.TS, seq)
	} else {
		stored, err = m.st.HasEvent(msg.Unit(), msg.Event.TS, seq)
	}
	if err != nil {
		m.t.Fatal(err)
	}
	if !stored {
		m.t.Fatalf("%s seq %d confirmed but not stored", msg.Unit(), seq)
	}
	m.stats.checked++
}

// confirm delivers the hub's confirmations to the agents; some are lost.
func (m *ackModel) confirm(lossy bool) {
	for _, ack := range m.acks {
		if lossy && m.r.IntN(10) == 0 {
			m.stats.acksLost++
			continue
		}
		for _, a := range m.agents {
			if a.unit == ack.unit {
				delete(a.queue, ack.seq)
			}
		}
	}
	m.acks = m.acks[:0]
}

func (m *ackModel) restart() {
	m.close()
	m.open()
	m.stats.restarts++
}

// checkStoredOnce: no report is stored twice, and what is stored is what
// its agent sent.
func (m *ackModel) checkStoredOnce() {
	for _, a := range m.agents {
		count := map[uint64]int{}
		track, err := m.st.Track(a.unit, 0, m.clock.UnixMilli(), 1<<30)
		if err != nil {
			m.t.Fatal(err)
		}
		for _, p := range track {
			count[p.Seq]++
			if sent, ok := a.sent[p.Seq]; !ok || sent.Kind != protocol.KindTelemetry || sent.Telemetry.TS != p.TS {
				m.t.Errorf("%s: stored position seq %d at %d was never sent", a.unit, p.Seq, p.TS)
			}
		}
		events, err := m.st.Events(a.unit, 0, m.clock.UnixMilli(), 1<<30)
		if err != nil {
			m.t.Fatal(err)
		}
		for _, e := range events {
			count[e.Seq]++
			if sent, ok := a.sent[e.Seq]; !ok || sent.Kind != protocol.KindEvents || sent.Event.TS != e.TS {
				m.t.Errorf("%s: stored event seq %d at %d was never sent", a.unit, e.Seq, e.TS)
			}
		}
		for seq, n := range count {
			if n != 1 {
				m.t.Errorf("%s seq %d stored %d times", a.unit, seq, n)
			}
		}
		for seq := range a.sent {
			if m.confirmed[modelAck{a.unit, seq}] && count[seq] != 1 {
				m.t.Errorf("%s seq %d confirmed, stored %d times", a.unit, seq, count[seq])
			}
		}
	}
}
