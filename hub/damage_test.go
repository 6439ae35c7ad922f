package hub_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A value damaged inside an intact record of hub.db (the file loads; one
// unit's record does not decode) used to stop the hub at start. Now the
// record is skipped and reported, the unit's enrolment comes from the units
// journal, the hub says it is degraded, and the unit signs in as before.
func TestDamagedUnitRecordDoesNotStopTheHub(t *testing.T) {
	dir := t.TempDir()
	atDir := func(c *hub.Config) { c.DataDir = dir }
	h := hubtest.Start(t, atDir)
	var enrolled api.Enrolled
	if st := h.Do(http.MethodPost, "/api/units", api.Enrolment{ID: "u18", Type: protocol.TypeCar, Callsign: "c18"}, &enrolled); st != http.StatusCreated {
		t.Fatalf("enrol: %d", st)
	}
	other := h.Enrol("u17", "car")
	d := hubtest.Connect(t, h.MQTTURL(), "u18", enrolled.Secret, hubtest.DeviceOptions{})
	start := time.Now().Add(-time.Minute)
	d.Send(d.Fix(1, start, lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)
	d.Kill()
	h.Stop()

	path := filepath.Join(dir, "hub.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(data, []byte(`"callsign":"c18"`))
	if i < 0 {
		t.Fatal("no callsign in hub.db")
	}
	copy(data[i:], `"callsign":"c1`+"\n"+`"`)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	h = hubtest.Start(t, atDir)
	var health api.Health
	if st := h.Do(http.MethodGet, "/healthz", nil, &health); st != http.StatusOK || health.Status != api.HealthDegraded ||
		!strings.Contains(health.Error, "u18") {
		t.Errorf("/healthz = %d %+v, want 200, degraded, naming u18's record", st, health)
	}
	if n := metric(t, h, "kuaifan_store_damaged_records"); n != 1 {
		t.Errorf("kuaifan_store_damaged_records = %v, want 1", n)
	}
	for id, secret := range map[string]string{"u18": enrolled.Secret, "u17": other} {
		d := hubtest.Connect(t, h.MQTTURL(), id, secret, hubtest.DeviceOptions{})
		d.Send(d.Fix(2, start.Add(time.Second), lat0, lon0, protocol.StatusAvailable))
		d.WaitAcked(2)
	}
	if u := unit(t, h, "u18"); u.Seq == nil || *u.Seq != 2 {
		t.Errorf("u18 after the restart: %+v", u)
	}
}

// A day of history whose database does not open (its MANIFEST lost) costs
// that day, not the hub: the hub starts, the first read of the day sets it
// aside and says so on /healthz and in the metric, the other day still
// reads, and new reports to the set-aside day are stored and confirmed.
func TestDamagedHistoryDay(t *testing.T) {
	dir := t.TempDir()
	atDir := func(c *hub.Config) { c.DataDir = dir }
	h := hubtest.Start(t, atDir)
	secret := h.Enrol("car-1", "car")
	d := hubtest.Connect(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{})
	today := time.Now().Add(-time.Minute)
	yesterday := today.Add(-24 * time.Hour)
	d.Send(d.Fix(1, yesterday, lat0, lon0, protocol.StatusAvailable))
	d.Send(d.Fix(2, today, lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1, 2)
	d.Kill()
	h.Stop()

	day := filepath.Join(dir, "history", "positions", today.UTC().Format("2006-01-02"))
	manifests, _ := filepath.Glob(filepath.Join(day, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatalf("no MANIFEST in %s", day)
	}
	for _, m := range manifests {
		os.Remove(m)
	}

	h = hubtest.Start(t, atDir)
	got := track(t, h, "car-1")
	if len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("track after the damage: %+v, want yesterday's position", got)
	}
	var health api.Health
	if st := h.Do(http.MethodGet, "/healthz", nil, &health); st != http.StatusOK || health.Status != api.HealthDegraded ||
		!strings.Contains(health.Error, "set aside") {
		t.Errorf("/healthz = %d %+v, want 200, degraded, the day set aside", st, health)
	}
	if n := metric(t, h, "kuaifan_store_damaged_records"); n < 1 {
		t.Errorf("kuaifan_store_damaged_records = %v", n)
	}
	if aside, _ := filepath.Glob(day + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
	d = hubtest.Connect(t, h.MQTTURL(), "car-1", secret, hubtest.DeviceOptions{})
	d.Send(d.Fix(3, today.Add(time.Second), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(3)
	if got := track(t, h, "car-1"); len(got) != 2 || got[1].Seq != 3 {
		t.Errorf("track after a new report: %+v", got)
	}
}
