package simulator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"kuaifan/protocol"
)

func seqs(o *outbox) []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var s []uint64
	for _, m := range o.items {
		s = append(s, m.seq)
	}
	return s
}

func fill(o *outbox, from, to uint64, now time.Time) {
	for s := from; s <= to; s++ {
		o.add(s, []byte(fmt.Sprintf("payload %d", s)), now)
	}
}

func TestOutboxConfirm(t *testing.T) {
	t0 := time.Unix(1764403200, 0)
	tests := []struct {
		name      string
		ack       protocol.Ranges
		confirmed int
		left      []uint64
	}{
		{"one range", protocol.Ranges{{12, 14}}, 3, []uint64{10, 11, 15, 16, 17, 18, 19, 20}},
		{"two ranges and a gap", protocol.Ranges{{10, 11}, {13, 13}, {19, 25}}, 5, []uint64{12, 14, 15, 16, 17, 18}},
		{"exact ends", protocol.Ranges{{10, 10}, {20, 20}}, 2, []uint64{11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"everything and more", protocol.Ranges{{0, 1 << 62}}, 11, nil},
		{"nothing pending covered", protocol.Ranges{{1, 9}, {21, 30}}, 0, []uint64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
		{"unsorted ranges", protocol.Ranges{{18, 20}, {10, 10}}, 4, []uint64{11, 12, 13, 14, 15, 16, 17}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutbox(100)
			fill(o, 10, 20, t0)
			if n := o.confirm(protocol.Ack{Seqs: tt.ack}); n != tt.confirmed {
				t.Errorf("confirmed %d, want %d", n, tt.confirmed)
			}
			if got := seqs(o); !slices.Equal(got, tt.left) {
				t.Errorf("left %v, want %v", got, tt.left)
			}
			if o.len() != len(tt.left) {
				t.Errorf("len %d, want %d", o.len(), len(tt.left))
			}
			// The same ack again (the hub repeats confirmations) changes nothing.
			if n := o.confirm(protocol.Ack{Seqs: tt.ack}); n != 0 {
				t.Errorf("a repeated ack confirmed %d more", n)
			}
		})
	}
}

func TestOutboxResend(t *testing.T) {
	t0 := time.Unix(1764403200, 0)
	o := newOutbox(100)
	fill(o, 1, 3, t0)
	fill(o, 4, 5, t0.Add(5*time.Second))

	if d := o.due(t0.Add(resendAfter), resendAfter, 100); len(d) != 0 {
		t.Fatalf("resent %d messages at exactly the timeout", len(d))
	}
	at := t0.Add(resendAfter + time.Second)
	d := o.due(at, resendAfter, 100)
	if len(d) != 3 {
		t.Fatalf("due after the timeout: %d messages, want the 3 oldest", len(d))
	}
	for i, m := range d {
		if want := uint64(i + 1); m.seq != want || string(m.payload) != fmt.Sprintf("payload %d", want) {
			t.Errorf("resend %d: seq %d payload %q: want the same seq and payload as sent", i, m.seq, m.payload)
		}
	}
	if d := o.due(at.Add(time.Second), resendAfter, 100); len(d) != 0 {
		t.Errorf("resent again %v after the resend", time.Second)
	}
	// A confirmation in between: only the rest comes back.
	o.confirm(protocol.Ack{Seqs: protocol.Ranges{{2, 2}, {5, 5}}})
	d = o.due(at.Add(resendAfter+time.Second), resendAfter, 100)
	var got []uint64
	for _, m := range d {
		got = append(got, m.seq)
	}
	if !slices.Equal(got, []uint64{1, 3, 4}) {
		t.Errorf("second resend %v, want [1 3 4]", got)
	}
	// The limit takes the oldest first.
	d = o.due(at.Add(time.Hour), resendAfter, 2)
	if len(d) != 2 || d[0].seq != 1 || d[1].seq != 3 {
		t.Errorf("limited resend %v, want seqs 1 and 3", d)
	}
}

func TestOutboxBounded(t *testing.T) {
	o := newOutbox(5)
	t0 := time.Unix(1764403200, 0)
	dropped := 0
	for s := uint64(1); s <= 8; s++ {
		dropped += o.add(s, nil, t0)
	}
	if dropped != 3 || !slices.Equal(seqs(o), []uint64{4, 5, 6, 7, 8}) {
		t.Errorf("dropped %d, kept %v; want the 3 oldest dropped", dropped, seqs(o))
	}
}
