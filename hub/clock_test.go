package hub_test

import (
	"fmt"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// A report from a clock minutes ahead must not pin the unit's live marker so
// that its next true reports count as older: beyond a few seconds of skew it
// is refused unconfirmed (the agent keeps it and resends it once its time has
// come); a few seconds ahead is taken as it is.
func TestFutureReportDoesNotPinTheLiveMarker(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := hubtest.Connect(t, h.MQTTURL(), "car-ahead", h.Enrol("car-ahead", "car"), hubtest.DeviceOptions{})
	const series = `kuaifan_ingest_rejected_total{reason="future_timestamp"}`
	before := metric(t, h, series)

	now := time.Now()
	d.Send(d.Fix(1, now.Add(100*time.Second), lat0+0.05, lon0, protocol.StatusAvailable))
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if got := metric(t, h, series); got < before+1 {
			return fmt.Errorf("%s = %v, want %v", series, got, before+1)
		}
		return nil
	})
	d.Send(d.Fix(2, now, lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(2)
	d.Send(d.Fix(3, now.Add(3*time.Second), lat0+0.001, lon0, protocol.StatusEnroute))
	d.WaitAcked(3)
	if d.Acked(1) {
		t.Error("the report 100 s ahead was confirmed")
	}
	u := unit(t, h, "car-ahead")
	if u.Seq == nil || *u.Seq != 3 || u.Status != "enroute" {
		t.Errorf("live unit = %+v, want seq 3 (3 s ahead is within the skew allowed), enroute", u)
	}
	if tr := track(t, h, "car-ahead"); len(tr) != 2 {
		t.Errorf("track = %+v, want seqs 2 and 3", tr)
	}
}
