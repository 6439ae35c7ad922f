package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
	"kuaifan/protocol"
	"kuaifan/testkit/leakcheck"
)

func TestMain(m *testing.M) {
	// TestCrashChild's password hasher: this binary as hub hash-worker.
	if os.Getenv(hashWorkerEnv) == "1" {
		if err := access.ServeHashing(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	leakcheck.Main(m)
}

// hashWorkerEnv makes this binary a hashing child (access.ServeHashing).
const hashWorkerEnv = "KUAIFAN_HASH_WORKER"

// Changsha, near Wuyi Square.
const lat0, lon0 = 28.1960, 112.9770

type unitView struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	Status string   `json:"status"`
	Online bool     `json:"online"`
	Lat    *float64 `json:"lat"`
	Lon    *float64 `json:"lon"`
	TS     *int64   `json:"ts"`
	Seq    *uint64  `json:"seq"`
}

type point struct {
	Seq    uint64  `json:"seq"`
	TS     int64   `json:"ts"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Status string  `json:"status"`
}

func unit(t *testing.T, h *hubtest.Hub, id string) unitView {
	t.Helper()
	var u unitView
	if st := h.Do(http.MethodGet, "/api/units/"+id, nil, &u); st != http.StatusOK {
		t.Fatalf("GET unit %s: %d", id, st)
	}
	return u
}

func track(t *testing.T, h *hubtest.Hub, id string) []point {
	t.Helper()
	var tr []point
	if st := h.Do(http.MethodGet, "/api/units/"+id+"/track", nil, &tr); st != http.StatusOK {
		t.Fatalf("GET track %s: %d", id, st)
	}
	return tr
}

// metric reads one sample from /metrics, e.g. `kuaifan_ingest_rejected_total{reason="bad_json"}`.
func metric(t testing.TB, h *hubtest.Hub, series string) float64 {
	t.Helper()
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTelemetryIsCommittedThenConfirmed(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("car-017", "car", "armed")
	d := hubtest.Connect(t, h.MQTTURL(), "car-017", secret, hubtest.DeviceOptions{})
	start := time.Now().Add(-time.Minute)
	const n = 50
	for i := uint64(1); i <= n; i++ {
		d.Send(d.Fix(i, start.Add(time.Duration(i)*time.Second), lat0+float64(i)*1e-4, lon0, protocol.StatusAvailable))
	}
	seqs := make([]uint64, n)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	d.WaitAcked(seqs...)

	// Confirmed means stored: every confirmed seq is in the history, in order.
	tr := track(t, h, "car-017")
	if len(tr) != n {
		t.Fatalf("track has %d points, want %d", len(tr), n)
	}
	for i, p := range tr {
		if p.Seq != uint64(i+1) {
			t.Fatalf("track[%d].seq = %d", i, p.Seq)
		}
	}
	u := unit(t, h, "car-017")
	if !u.Online || u.Seq == nil || *u.Seq != n || u.Status != "available" || *u.Lat != lat0+n*1e-4 {
		t.Errorf("live unit = %+v", u)
	}
}

func TestOlderAndDuplicateMessages(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := hubtest.Connect(t, h.MQTTURL(), "moto-1", h.Enrol("moto-1", "motorcycle"), hubtest.DeviceOptions{})
	now := time.Now()

	d.Send(d.Fix(10, now, lat0, lon0, protocol.StatusEnroute))
	d.WaitAcked(10)
	// Replayed from an offline queue: older, goes to history only.
	d.Send(d.Fix(7, now.Add(-30*time.Second), lat0-0.01, lon0, protocol.StatusAvailable))
	d.WaitAcked(7)
	u := unit(t, h, "moto-1")
	if *u.Seq != 10 || *u.Lat != lat0 || u.Status != "enroute" {
		t.Errorf("an older message moved the live marker: %+v", u)
	}
	// A duplicate seq (a resend whose ack was lost) is dropped and confirmed again.
	before := metric(t, h, `kuaifan_ingest_results_total{kind="telemetry",result="duplicate"}`)
	d.Send(d.Fix(10, now.Add(time.Second), lat0+0.5, lon0, protocol.StatusBusy))
	hubtest.WaitFor(t, 5*time.Second, func() error {
		if got := metric(t, h, `kuaifan_ingest_results_total{kind="telemetry",result="duplicate"}`); got != before+1 {
			return fmt.Errorf("duplicates = %v", got)
		}
		return nil
	})
	tr := track(t, h, "moto-1")
	if len(tr) != 2 || tr[0].Seq != 7 || tr[1].Seq != 10 || tr[1].Lat != lat0 {
		t.Errorf("track = %+v, want seq 7 then the first seq 10", tr)
	}
	if u := unit(t, h, "moto-1"); *u.Lat != lat0 || u.Status != "enroute" {
		t.Errorf("a duplicate changed the live state: %+v", u)
	}
}

// Bad input is rejected, counted by reason, never stored, and ingest goes on.
func TestRejectedMessages(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := hubtest.Connect(t, h.MQTTURL(), "foot-1", h.Enrol("foot-1", "foot"), hubtest.DeviceOptions{})
	h.Enrol("foot-2", "foot")
	ts := time.Now().UnixMilli()
	valid := func(seq uint64) string {
		return fmt.Sprintf(`{"v":1,"unit":"foot-1","seq":%d,"ts":%d,"lat":%v,"lon":%v,"status":"available"}`, seq, ts, lat0, lon0)
	}
	tests := []struct {
		name, reason, payload string
		kind                  protocol.Kind
	}{
		{"not JSON", "bad_json", `{"v":1,"unit":`, protocol.KindTelemetry},
		{"version 2", "bad_version", strings.Replace(valid(1), `"v":1`, `"v":2`, 1), protocol.KindTelemetry},
		{"latitude 91", "invalid_field", strings.Replace(valid(2), fmt.Sprint(lat0), "91", 1), protocol.KindTelemetry},
		{"NaN written as a string", "invalid_field", strings.Replace(valid(3), fmt.Sprint(lat0), `"NaN"`, 1), protocol.KindTelemetry},
		{"another unit's id in the payload", "unit_mismatch", strings.Replace(valid(4), `"unit":"foot-1"`, `"unit":"foot-2"`, 1), protocol.KindTelemetry},
		{"a day in the future", "future_timestamp", strings.Replace(valid(5), fmt.Sprint(ts), fmt.Sprint(ts+86_400_000), 1), protocol.KindTelemetry},
		{"missing status", "missing_field", strings.Replace(valid(6), `,"status":"available"`, "", 1), protocol.KindTelemetry},
		{"event without incident", "missing_field", fmt.Sprintf(`{"v":1,"unit":"foot-1","seq":7,"ts":%d,"type":"ack"}`, ts), protocol.KindEvents},
		{"state without boot", "missing_field", `{"v":1,"unit":"foot-1","online":true}`, protocol.KindState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			series := `kuaifan_ingest_rejected_total{reason="` + tt.reason + `"}`
			before := metric(t, h, series)
			d.Publish(tt.kind, []byte(tt.payload))
			hubtest.WaitFor(t, 5*time.Second, func() error {
				if got := metric(t, h, series); got < before+1 {
					return fmt.Errorf("%s = %v, want %v", series, got, before+1)
				}
				return nil
			})
		})
	}
	// Ingest goes on, and nothing rejected was stored or confirmed.
	d.Publish(protocol.KindTelemetry, []byte(valid(100)))
	d.WaitAcked(100)
	if tr := track(t, h, "foot-1"); len(tr) != 1 || tr[0].Seq != 100 {
		t.Errorf("track = %+v, want only seq 100", tr)
	}
	for seq := uint64(1); seq <= 7; seq++ {
		if d.Acked(seq) {
			t.Errorf("rejected seq %d was confirmed", seq)
		}
	}
}

// Presence follows the retained state and the Last Will; a Will of an earlier
// run of the agent is ignored.
func TestPresence(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("vol-1", "volunteer")
	online := func(want bool) {
		t.Helper()
		hubtest.WaitFor(t, 5*time.Second, func() error {
			if u := unit(t, h, "vol-1"); u.Online != want {
				return fmt.Errorf("online = %v, want %v", u.Online, want)
			}
			return nil
		})
	}
	d := hubtest.Connect(t, h.MQTTURL(), "vol-1", secret, hubtest.DeviceOptions{})
	online(true)
	d.Kill() // the link drops: the broker publishes the Will
	online(false)

	d2 := hubtest.Connect(t, h.MQTTURL(), "vol-1", secret, hubtest.DeviceOptions{})
	online(true)
	stale, _ := protocol.Encode(protocol.State{Unit: "vol-1", Online: false, Boot: d.Boot})
	d2.Publish(protocol.KindState, stale)
	// An old fix, so that it cannot count as proof of presence itself.
	d2.Send(d2.Fix(1, time.Now().Add(-10*time.Minute), lat0, lon0, protocol.StatusAvailable))
	d2.WaitAcked(1) // the stale will was committed before this fix
	online(true)

	// A clean shutdown says offline itself (the Will is not sent then).
	bye, _ := protocol.Encode(protocol.State{Unit: "vol-1", Online: false, Boot: d2.Boot})
	d2.Publish(protocol.KindState, bye)
	online(false)
}

func TestRestartKeepsUnitsHistoryAndSeqs(t *testing.T) {
	h := hubtest.Start(t, nil)
	secret := h.Enrol("car-9", "car", "medical")
	d := hubtest.Connect(t, h.MQTTURL(), "car-9", secret, hubtest.DeviceOptions{})
	now := time.Now().Add(-time.Minute) // the fixes' times run 6 s on from here
	for i := uint64(1); i <= 5; i++ {
		d.Send(d.Fix(i, now.Add(time.Duration(i)*time.Second), lat0, lon0+float64(i)*1e-3, protocol.StatusAvailable))
	}
	d.WaitAcked(1, 2, 3, 4, 5)
	d.Client.Disconnect(50)

	h = h.Restart()
	if tr := track(t, h, "car-9"); len(tr) != 5 {
		t.Fatalf("track after restart has %d points", len(tr))
	}
	u := unit(t, h, "car-9")
	if u.Online || *u.Seq != 5 {
		t.Errorf("after restart: %+v (want offline until it reconnects, at seq 5)", u)
	}
	// The same secret still works; a resend of seq 5 is still a duplicate.
	d = hubtest.Connect(t, h.MQTTURL(), "car-9", secret, hubtest.DeviceOptions{})
	d.Send(d.Fix(5, now.Add(5*time.Second), lat0, lon0+5e-3, protocol.StatusAvailable))
	d.Send(d.Fix(6, now.Add(6*time.Second), lat0, lon0+6e-3, protocol.StatusAvailable))
	d.WaitAcked(5, 6)
	if tr := track(t, h, "car-9"); len(tr) != 6 {
		t.Errorf("track has %d points after a resend, want 6", len(tr))
	}
	// The spatial index was rebuilt: the unit is matched again.
	var m struct {
		Candidates []struct{ Unit string } `json:"candidates"`
	}
	h.Do(http.MethodGet, fmt.Sprintf("/api/match?lat=%v&lon=%v&needs=medical", lat0, lon0), nil, &m)
	if len(m.Candidates) != 1 || m.Candidates[0].Unit != "car-9" {
		t.Errorf("match after restart = %+v", m)
	}
}

func TestConfigValidation(t *testing.T) {
	cfg := hub.DefaultConfig()
	cfg.TopicRoot = "rr/#"
	cfg.DataDir = t.TempDir()
	if _, err := hub.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "topic root") {
		t.Errorf("a wildcard topic root was accepted: %v", err)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
