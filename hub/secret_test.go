package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A unit's secret is rotated through the API: the new one reaches the unit
// over its live link (which stays up), the old one no longer connects, the
// new one does, and the unit's view shows its last connection and the
// refused attempt.
func TestSecretRotation(t *testing.T) {
	h := hubtest.Start(t, nil)
	old := h.Enrol("car-1", "car")
	start := time.Now()
	d := hubtest.Connect(t, h.MQTTURL(), "car-1", old, hubtest.DeviceOptions{})
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if !unit(t, h, "car-1").Online {
			return fmt.Errorf("car-1 not online yet")
		}
		return nil
	})

	var rotated api.SecretRotated
	if st := h.Do(http.MethodPost, "/api/units/car-1/secret", nil, &rotated); st != http.StatusOK {
		t.Fatalf("rotate: status %d", st)
	}
	if rotated.ID != "car-1" || rotated.Secret == "" || rotated.Secret == old || !rotated.Pushed {
		t.Fatalf("rotate answered %+v", rotated)
	}
	if cmd := d.WaitCommand(protocol.CmdConfig, ""); cmd.Secret != rotated.Secret {
		t.Errorf("the pushed config command carries another secret")
	}
	// The connection admitted with the old secret is not cut.
	d.Send(d.Fix(1, time.Now(), 28.2, 112.9, protocol.StatusAvailable))
	d.WaitAcked(1)
	d.Client.Disconnect(50)

	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-1", old, hubtest.DeviceOptions{}); err == nil {
		t.Fatal("the old secret still connects")
	}
	d2 := hubtest.Connect(t, h.MQTTURL(), "car-1", rotated.Secret, hubtest.DeviceOptions{})
	d2.Send(d2.Fix(2, time.Now(), 28.2, 112.9, protocol.StatusAvailable))
	d2.WaitAcked(2)

	var v api.Unit
	if st := h.Do(http.MethodGet, "/api/units/car-1", nil, &v); st != http.StatusOK {
		t.Fatalf("GET unit: %d", st)
	}
	for _, c := range []struct {
		name   string
		conn   *api.Connection
		reason string
	}{{"last_connect", v.LastConnect, ""}, {"last_refused", v.LastRefused, "bad_credentials"}} {
		switch {
		case c.conn == nil:
			t.Errorf("%s missing", c.name)
		case !strings.HasPrefix(c.conn.Addr, "127.0.0.1:") || c.conn.At < start.UnixMilli() || c.conn.At > time.Now().UnixMilli():
			t.Errorf("%s = %+v: want a loopback address and a time since the test started", c.name, *c.conn)
		case c.conn.Reason != c.reason:
			t.Errorf("%s reason %q, want %q", c.name, c.conn.Reason, c.reason)
		}
	}
	if v.LastConnect != nil && v.LastRefused != nil && v.LastConnect.At < v.LastRefused.At {
		t.Errorf("last_connect %d is before the refusal %d that preceded it", v.LastConnect.At, v.LastRefused.At)
	}

	// A revoked unit's secret cannot be rotated; an unknown unit is 404.
	if st := h.Do(http.MethodDelete, "/api/units/car-1", nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	for path, want := range map[string]int{"/api/units/car-1/secret": http.StatusConflict, "/api/units/car-9/secret": http.StatusNotFound} {
		if st := h.Do(http.MethodPost, path, map[string]bool{"push": false}, nil); st != want {
			t.Errorf("POST %s: %d, want %d", path, st, want)
		}
	}
}
