package hub_test

import (
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// A report resent after more gaps have opened above it than the hub keeps
// seq ranges for must still be stored, not taken for a duplicate: seqs 1–10,
// then 1,100 isolated seqs (12, 14, …), then 11. Before the seq window had a
// floor backed by the store, 11 was confirmed and never stored. A restart in
// between proves the floor survives one.
func TestResendBelowTheSeqWindowIsStored(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("car-gap", "car")
	d := hubtest.Connect(t, h.MQTTURL(), "car-gap", secret, hubtest.DeviceOptions{})
	start := time.Now().Add(-time.Hour)
	at := func(seq uint64) time.Time { return start.Add(time.Duration(seq) * time.Second) }
	var sent []uint64
	send := func(seq uint64) {
		d.Send(d.Fix(seq, at(seq), lat0, lon0, protocol.StatusAvailable))
		sent = append(sent, seq)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		send(seq)
	}
	const isolated = 1100
	for i := uint64(1); i <= isolated; i++ {
		send(10 + 2*i)
	}
	d.WaitAcked(sent...)

	d.Kill()
	h = h.Restart()
	d = hubtest.Connect(t, h.MQTTURL(), "car-gap", secret, hubtest.DeviceOptions{})
	d.Send(d.Fix(11, at(11), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(11)
	// And an identical resend of one now below the window is a duplicate.
	d.Send(d.Fix(12, at(12), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(12)

	count := map[uint64]int{}
	for _, p := range track(t, h, "car-gap") {
		count[p.Seq]++
	}
	if count[11] != 1 {
		t.Errorf("seq 11 stored %d times after it was confirmed, want once", count[11])
	}
	for _, seq := range sent {
		if count[seq] != 1 {
			t.Errorf("seq %d stored %d times, want once", seq, count[seq])
		}
	}
}
