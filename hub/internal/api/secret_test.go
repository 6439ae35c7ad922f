package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// published records what the API publishes.
type published struct {
	mu    sync.Mutex
	topic []string
	msgs  [][]byte
	keep  []bool
}

func (p *published) publish(topic string, payload []byte, retain bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.topic, p.msgs, p.keep = append(p.topic, topic), append(p.msgs, payload), append(p.keep, retain)
	return nil
}

func testFleet(t *testing.T) *fleet.Fleet {
	t.Helper()
	s, err := store.Open(store.Config{Dir: t.TempDir(), Retention: time.Hour, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Open(fleet.Config{Store: s, Match: match.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		s.Close()
	})
	return f
}

func call(t *testing.T, addr, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestRotateSecret(t *testing.T) {
	f := testFleet(t)
	now := time.Now()
	online, err := f.Enrol(fleet.Enrolment{ID: "on", Type: protocol.TypeCar}, now)
	if err != nil {
		t.Fatal(err)
	}
	offline, err := f.Enrol(fleet.Enrolment{ID: "off", Type: protocol.TypeCar}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Enrol(fleet.Enrolment{ID: "gone", Type: protocol.TypeCar}, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Revoke("gone", now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply([]fleet.Message{{Kind: protocol.KindState, State: protocol.State{Unit: "on", Online: true, Boot: "b"}}}, now); err != nil {
		t.Fatal(err)
	}
	pub := &published{}
	var cut []string
	addr := serve(t, Config{Fleet: f, Access: testAccess(t), Publish: pub.publish, Topics: protocol.Topics{Root: "rr"},
		Disconnect: func(u string) { cut = append(cut, u) }})

	tests := []struct {
		name, unit, body string
		status           int
		pushed           bool   // a command went out
		cut              bool   // the connection was dropped
		oldSecret        string // refused once rotated
	}{
		{"push to an online unit (default)", "on", "", http.StatusOK, true, false, online},
		{"offline unit, push refused", "off", `{"push":true}`, http.StatusConflict, false, false, ""},
		{"offline unit, by hand, cut", "off", `{"push":false,"disconnect":true}`, http.StatusOK, false, true, offline},
		{"push with disconnect", "on", `{"disconnect":true}`, http.StatusBadRequest, false, false, ""},
		{"unknown field", "on", `{"pushh":false}`, http.StatusBadRequest, false, false, ""},
		{"unknown unit", "nobody", `{"push":false}`, http.StatusNotFound, false, false, ""},
		{"revoked unit", "gone", `{"push":false}`, http.StatusConflict, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub.msgs, cut = nil, nil
			status, body := call(t, addr, http.MethodPost, "/api/units/"+tt.unit+"/secret", tt.body)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if len(pub.msgs) > 0 != tt.pushed || len(cut) > 0 != tt.cut {
				t.Errorf("published %d, cut %v; want pushed %v, cut %v", len(pub.msgs), cut, tt.pushed, tt.cut)
			}
			if status != http.StatusOK {
				var e wire.Error
				if json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("error body %s", body)
				}
				return
			}
			var got wire.SecretRotated
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.unit || got.Pushed != tt.pushed || !f.Verify(tt.unit, got.Secret) || f.Verify(tt.unit, tt.oldSecret) {
				t.Errorf("answer %+v: the new secret must verify and the old not", got)
			}
			if !tt.pushed {
				return
			}
			// The command: the unit's own cmd topic, not retained, a valid
			// config carrying exactly the new secret.
			if pub.topic[0] != "rr/units/"+tt.unit+"/cmd" || pub.keep[0] {
				t.Errorf("published on %s, retained %v", pub.topic[0], pub.keep[0])
			}
			cmd, err := protocol.DecodeCommand(pub.msgs[0])
			if err != nil || cmd.Type != protocol.CmdConfig || cmd.Secret != got.Secret || len(cmd.Config) != 0 {
				t.Errorf("command %+v, %v", cmd, err)
			}
		})
	}
}
