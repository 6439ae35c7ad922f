package simulator

import (
	"sync"
	"time"

	"kuaifan/protocol"
)

// outbox holds one unit's messages that the hub has not confirmed yet, in
// rising seq order. The unit's goroutine adds and resends; paho's handler
// confirms.
type outbox struct {
	mu    sync.Mutex
	items []outMsg
	max   int // beyond this, the oldest is dropped, as a device's bounded queue would
}

type outMsg struct {
	seq     uint64
	payload []byte
	sentAt  time.Time // last (re)send
}

func newOutbox(max int) *outbox { return &outbox{max: max} }

// add records a message just sent. seq must be above every seq added before.
// It returns how many old messages were dropped to make room.
func (o *outbox) add(seq uint64, payload []byte, now time.Time) (dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = append(o.items, outMsg{seq: seq, payload: payload, sentAt: now})
	if o.max > 0 && len(o.items) > o.max {
		dropped = len(o.items) - o.max
		o.items = append(o.items[:0], o.items[dropped:]...)
	}
	return dropped
}

// confirm forgets the messages the ack covers and returns how many.
func (o *outbox) confirm(ack protocol.Ack) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := o.items[:0]
	for _, m := range o.items {
		if !ack.Covers(m.seq) {
			kept = append(kept, m)
		}
	}
	n := len(o.items) - len(kept)
	clear(o.items[len(kept):]) // let the payloads go
	o.items = kept
	return n
}

// due returns up to limit messages (oldest first) last sent more than after
// ago, and marks them sent now: the caller resends them, same seq, same payload.
func (o *outbox) due(now time.Time, after time.Duration, limit int) []outMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []outMsg
	for i := range o.items {
		if len(out) == limit {
			break
		}
		if now.Sub(o.items[i].sentAt) > after {
			o.items[i].sentAt = now
			out = append(out, o.items[i])
		}
	}
	return out
}

// len is the number of unconfirmed messages.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}
