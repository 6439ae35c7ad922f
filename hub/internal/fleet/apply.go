package fleet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// Message is one validated message from a unit, as ingest hands it over.
// Exactly one of Telemetry, Event and State is meaningful, as Kind says.
type Message struct {
	Kind      protocol.Kind
	Telemetry protocol.Telemetry
	Event     protocol.Event
	State     protocol.State
}

// Unit is the unit the message is from.
func (m *Message) Unit() string {
	switch m.Kind {
	case protocol.KindTelemetry:
		return m.Telemetry.Unit
	case protocol.KindEvents:
		return m.Event.Unit
	}
	return m.State.Unit
}

// Seq is the message's sequence number; state messages have none.
func (m *Message) Seq() (uint64, bool) {
	switch m.Kind {
	case protocol.KindTelemetry:
		return m.Telemetry.Seq, true
	case protocol.KindEvents:
		return m.Event.Seq, true
	}
	return 0, false
}

// Result is what Apply did with one message.
type Result uint8

const (
	Committed Result = iota // stored; the live state moved forward
	Older                   // stored in history only: older than the live state (replayed from a queue)
	Duplicate               // this (unit, seq) was committed before; dropped, confirmed again
	Expired                 // older than the retention: not stored, but confirmed
	Unknown                 // the unit is not enrolled (or was revoked): rejected
	Presence                // a state message that changed or confirmed presence
	StaleWill               // an offline state from an earlier run of the agent: ignored
)

var resultNames = [...]string{"committed", "older", "duplicate", "expired", "unknown_unit", "presence", "stale_will"}

func (r Result) String() string { return resultNames[r] }

// Confirmed reports whether the message's seq may be acknowledged to its agent.
func (r Result) Confirmed() bool {
	return r == Committed || r == Older || r == Duplicate || r == Expired
}

// Outcome reports a batch: one Result per message.
type Outcome struct {
	Results []Result
}

// pending is a unit's state while a batch is planned: a private copy, made
// visible only once the batch is on disk.
type pending struct {
	live        store.Live
	online      bool
	boot        string
	agent       string
	liveChanged bool // the stored live record must be rewritten
	viewChanged bool // the index and watchers must hear of it
}

// applyScratch is Apply's working memory, kept from one batch to the next:
// at thousands of messages a second, making it afresh for every batch was a
// good part of the hub's garbage.
type applyScratch struct {
	work    map[string]int // unit → index in pending
	pending []pending
	batch   store.Batch
	changed []string
	moved   []match.Unit
}

func (sc *applyScratch) reset() {
	if sc.work == nil {
		sc.work = make(map[string]int)
		sc.batch.Lives = make(map[string]store.Live)
	}
	clear(sc.work)
	clear(sc.pending) // drop the last batch's references before reuse
	sc.pending = sc.pending[:0]
	clear(sc.batch.Lives)
	clear(sc.batch.Points)
	clear(sc.batch.Events)
	sc.batch.Points, sc.batch.Events = sc.batch.Points[:0], sc.batch.Events[:0]
	clear(sc.changed)
	clear(sc.moved)
	sc.changed, sc.moved = sc.changed[:0], sc.moved[:0]
}

// Apply commits a batch of messages: it plans the changes against a copy of
// the units it touches, writes history and live records in one fsynced
// transaction, and only then makes the new state visible. If the store fails,
// nothing changes and nothing may be confirmed.
func (f *Fleet) Apply(msgs []Message, now time.Time) (Outcome, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	sc := &f.scratch
	sc.reset()
	out := Outcome{Results: make([]Result, len(msgs))}
	batch := &sc.batch
	keepPositions, keepEvents := f.store.Retention()
	horizon := horizon{positions: now.Add(-keepPositions).UnixMilli(), events: now.Add(-keepEvents).UnixMilli()}
	freshSince := now.Add(-f.cfg.Match.MaxFixAge).UnixMilli()

	f.mu.RLock()
	for i := range msgs {
		m := &msgs[i]
		id := m.Unit()
		k, ok := sc.work[id]
		if !ok {
			u, ok := f.units[id]
			if !ok {
				out.Results[i] = Unknown
				continue
			}
			p := pending{live: u.live, online: u.online, boot: u.boot, agent: u.agent}
			p.live.Seqs = slices.Clone(u.live.Seqs)
			k = len(sc.pending)
			sc.pending = append(sc.pending, p)
			sc.work[id] = k
		}
		r, err := sc.pending[k].plan(m, batch, horizon, freshSince, f.store)
		if err != nil {
			f.mu.RUnlock()
			return Outcome{}, err
		}
		out.Results[i] = r
	}
	f.mu.RUnlock()

	for id, k := range sc.work {
		if p := &sc.pending[k]; p.liveChanged {
			seqs, floor := protocol.Ranges(p.live.Seqs).Trim(f.cfg.MaxSeqRanges)
			p.live.Seqs, p.live.SeqFloor = seqs, max(p.live.SeqFloor, floor)
			batch.Lives[id] = p.live
		}
	}
	if len(batch.Points) > 0 || len(batch.Events) > 0 || len(batch.Lives) > 0 {
		if _, err := f.store.Commit(batch, now); err != nil {
			return Outcome{}, err
		}
	}

	f.mu.Lock()
	for id, k := range sc.work {
		u, ok := f.units[id]
		if !ok {
			continue // revoked while the batch was written
		}
		p := &sc.pending[k]
		u.live, u.online, u.boot, u.agent, u.lastSeen = p.live, p.online, p.boot, p.agent, now.UnixMilli()
		if p.viewChanged {
			sc.changed = append(sc.changed, id)
			sc.moved = append(sc.moved, u.matchUnit())
		}
	}
	// One index transaction for the whole batch.
	f.upsertAndUnlock(sc.moved...)
	f.changed(sc.changed...)
	return out, nil
}

// plan works out one message's effect on its unit and adds what must be stored to the batch.
// horizon is the oldest time, Unix ms, that the store keeps of each kind.
type horizon struct{ positions, events int64 }

func (p *pending) plan(m *Message, batch *store.Batch, h horizon, freshSince int64, hist history) (Result, error) {
	if m.Kind == protocol.KindState {
		return p.presence(m.State), nil
	}
	seq, _ := m.Seq()
	seqs := protocol.Ranges(p.live.Seqs)
	if seqs.Contains(seq) {
		return Duplicate, nil
	}
	if seq < p.live.SeqFloor {
		// Below what the unit's seq ranges remember: only the history can
		// say whether this is a resend of something already stored.
		stored, err := h.has(m, hist)
		if err != nil {
			return 0, fmt.Errorf("fleet: is %s seq %d stored: %w", m.Unit(), seq, err)
		}
		if stored {
			return Duplicate, nil
		}
	}
	p.live.Seqs = seqs.Insert(seq)
	p.liveChanged = true

	switch m.Kind {
	case protocol.KindTelemetry:
		t := m.Telemetry
		if t.TS < h.positions {
			return Expired, nil
		}
		pos := store.PositionOf(t)
		batch.Points = append(batch.Points, store.UnitPosition{Unit: t.Unit, Position: pos})
		if p.live.Fix != nil && !pos.Newer(*p.live.Fix) {
			return Older, nil
		}
		p.live.Fix = &pos
		p.setStatus(t.Status, t.TS)
		p.viewChanged = true
		// A fresh fix proves the unit is connected now: it heals an offline
		// mark left by a Will that raced the agent's own reconnect.
		if !p.online && t.TS >= freshSince {
			p.online = true
		}
		return Committed, nil

	default: // events
		e := m.Event
		if e.TS < h.events {
			return Expired, nil
		}
		batch.Events = append(batch.Events, e)
		status := e.Status
		if status == "" && !strings.HasPrefix(e.Incident, api.MoveUpPrefix) {
			// A move-up's arrival leaves the unit free, as it was.
			status = impliedStatus(e.Type)
		}
		if status != "" && e.TS >= p.live.StatusTS {
			p.setStatus(status, e.TS)
			p.viewChanged = true
			return Committed, nil
		}
		if status != "" {
			return Older, nil
		}
		return Committed, nil
	}
}

// history is what plan asks about seqs below a unit's seq window.
type history interface {
	HasPosition(unit string, ts int64, seq uint64) (bool, error)
	HasEvent(unit string, ts int64, seq uint64) (bool, error)
}

// has reports whether m is in the history. What is older than the retention
// is not there, and is not looked for: plan confirms it as Expired.
func (h horizon) has(m *Message, hist history) (bool, error) {
	switch m.Kind {
	case protocol.KindTelemetry:
		if m.Telemetry.TS < h.positions {
			return false, nil
		}
		return hist.HasPosition(m.Telemetry.Unit, m.Telemetry.TS, m.Telemetry.Seq)
	case protocol.KindEvents:
		if m.Event.TS < h.events {
			return false, nil
		}
		return hist.HasEvent(m.Event.Unit, m.Event.TS, m.Event.Seq)
	}
	return false, nil
}

// impliedStatus is the status a dispatch event puts a unit in when the event
// does not say: the officer's answer moves the unit even before its next
// position report does.
func impliedStatus(t protocol.EventType) protocol.Status {
	switch t {
	case protocol.EventAck:
		return protocol.StatusEnroute
	case protocol.EventArrived:
		return protocol.StatusOnScene
	case protocol.EventCleared:
		return protocol.StatusAvailable
	}
	return ""
}

func (p *pending) setStatus(s protocol.Status, ts int64) {
	if ts >= p.live.StatusTS {
		p.live.Status, p.live.StatusTS = s, ts
	}
}

// presence applies a retained state message or a Last Will.
func (p *pending) presence(s protocol.State) Result {
	if s.Online {
		p.viewChanged = p.viewChanged || !p.online || p.agent != s.Agent
		p.online, p.boot, p.agent = true, s.Boot, s.Agent
		return Presence
	}
	if p.boot != "" && s.Boot != p.boot {
		return StaleWill // the will of a run that has since been replaced
	}
	p.viewChanged = p.viewChanged || p.online
	p.online = false
	return Presence
}
