package hub_test

import (
	"fmt"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// The same ingest through Debian's Mosquitto, with the ACL from
// deploy/mosquitto: committed then confirmed, duplicates and older messages,
// spoofing refused, presence, and the hub restarting while units report.
func TestIngestThroughMosquitto(t *testing.T) {
	mosq := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{
		Users:       map[string]string{"kuaifan-hub": "hub-pw", "car-1": "pw-1", "car-2": "pw-2"},
		ACLFile:     "deploy/mosquitto/acl",
		Persistence: true,
	})
	h := hubtest.Start(t, func(c *hub.Config) {
		c.BrokerURL, c.BrokerUsername, c.BrokerPassword = mosq.URL(), "kuaifan-hub", "hub-pw"
	})
	if h.MQTTAddr() != "" {
		t.Fatal("the hub started its own broker although one was given")
	}
	// With an external broker the hub's secrets are not the broker's; the
	// hub still refuses messages from units it has not enrolled.
	h.Enrol("car-1", "car")
	h.Enrol("car-2", "car")
	d := hubtest.Connect(t, mosq.URL(), "car-1", "pw-1", hubtest.DeviceOptions{AutoReconnect: true})
	now := time.Now().Add(-time.Minute) // the reports' times run up to 25 s on from here
	for seq := uint64(1); seq <= 20; seq++ {
		d.Send(d.Fix(seq, now.Add(time.Duration(seq)*time.Second), lat0, lon0+float64(seq)*1e-4, protocol.StatusAvailable))
	}
	d.Send(d.Fix(20, now.Add(20*time.Second), lat0, lon0, protocol.StatusAvailable)) // a resend
	d.Send(d.Fix(3, now.Add(3*time.Second), lat0, lon0, protocol.StatusAvailable))   // and another
	all := make([]uint64, 20)
	for i := range all {
		all[i] = uint64(i + 1)
	}
	d.WaitAcked(all...)
	if tr := track(t, h, "car-1"); len(tr) != 20 {
		t.Fatalf("track has %d points, want 20", len(tr))
	}
	if u := unit(t, h, "car-1"); !u.Online || *u.Seq != 20 {
		t.Errorf("car-1 = %+v", u)
	}

	// Mosquitto's ACL drops car-1 writing as car-2; a payload naming car-2
	// on car-1's own topic is the hub's to refuse.
	spoof, _ := protocol.Encode(protocol.Telemetry{Unit: "car-2", Seq: 1, TS: now.UnixMilli(), Lat: lat0, Lon: lon0, Status: protocol.StatusAvailable})
	d.PublishTo("rr/units/car-2/telemetry", spoof)
	d.Publish(protocol.KindTelemetry, spoof)
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if n := metric(t, h, `kuaifan_ingest_rejected_total{reason="unit_mismatch"}`); n != 1 {
			return fmt.Errorf("unit_mismatch rejections = %v", n)
		}
		return nil
	})
	if tr := track(t, h, "car-2"); len(tr) != 0 {
		t.Errorf("car-1 wrote car-2's history: %+v", tr)
	}

	// The hub restarts; what car-1 sends meanwhile waits in the hub's
	// session at Mosquitto and is committed when the hub is back.
	h.Stop()
	for seq := uint64(21); seq <= 25; seq++ {
		d.Send(d.Fix(seq, now.Add(time.Duration(seq)*time.Second), lat0, lon0, protocol.StatusAvailable))
	}
	h = h.Restart()
	d.WaitAcked(21, 22, 23, 24, 25)
	if tr := track(t, h, "car-1"); len(tr) != 25 {
		t.Errorf("track has %d points after the restart, want 25", len(tr))
	}

	// Presence comes from the retained state and the Will at Mosquitto.
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if !unit(t, h, "car-1").Online {
			return fmt.Errorf("car-1 not online after the hub's restart")
		}
		return nil
	})
	d.Kill()
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if unit(t, h, "car-1").Online {
			return fmt.Errorf("car-1 still online after its link dropped")
		}
		return nil
	})
}
