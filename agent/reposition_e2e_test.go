package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"kuaifan/agent/internal/terminal"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// Move-ups on the wire (additive, 2026-12), through Mosquitto with the
// deployment's ACL, published on the unit's cmd topic as the hub would: a
// reposition reaches the agent, which stays available; a cancel naming it
// withdraws it; a second one is reported arrived by position — an arrived
// event naming the move-up, status available, which the hub commits and
// confirms like every report (it finds no incident of that id and changes
// nothing) — and the officer's terminal reports a third one done.
func TestRepositionThroughMosquitto(t *testing.T) {
	var notes moveUpNotes
	r, h, cfg, send := unitOnMosquitto(t, "car-mu", notes.hook)
	waitMoveUp := func(id string) {
		t.Helper()
		waitFor(t, 10*time.Second, func() error {
			if got, ok := r.Reposition(); ok != (id != "") || got.ID != id {
				return fmt.Errorf("reposition %+v %v, want %q", got, ok, id)
			}
			return nil
		})
	}

	// 1. A move-up 1 km north, withdrawn.
	send(reposition("mu-cmd-1", "mu-20261207-0001", 1000))
	waitMoveUp("mu-20261207-0001")
	if r.Status() != protocol.StatusAvailable {
		t.Errorf("status %s while moving up", r.Status())
	}
	send(cancelCmd("mu-cmd-2", "mu-20261207-0001"))
	waitMoveUp("")

	// 2. Another, reached: the agent reports it by itself.
	send(reposition("mu-cmd-3", "mu-20261207-0002", 1000))
	waitMoveUp("mu-20261207-0002")
	r.Sim.Set(lat0+north(1000)-north(40), lon0, 3, 0)
	waitMoveUp("")

	// 3. A third, reported done on the terminal.
	send(reposition("mu-cmd-4", "mu-20261207-0003", 3000))
	waitMoveUp("mu-20261207-0003")
	c := &terminal.Client{BaseURL: "http://" + cfg.Terminal}
	waitTerminal(t, cfg.Terminal)
	if err := c.RepositionArrived(context.Background(), "mu-20261207-0003"); err != nil {
		t.Fatal(err)
	}
	if err := c.RepositionArrived(context.Background(), "mu-20261207-0003"); !errors.Is(err, terminal.ErrNoReposition) {
		t.Errorf("a second Arrived: %v", err)
	}

	var got []string
	for _, e := range r.rec.events() {
		got = append(got, fmt.Sprintf("%s:%s:%s", e.Type, e.Incident, e.Status))
	}
	want := "[arrived:mu-20261207-0002:available arrived:mu-20261207-0003:available]"
	if fmt.Sprint(got) != want {
		t.Errorf("events\n got %v\nwant %s", got, want)
	}
	want = "[mu-20261207-0001:on mu-20261207-0001:cancelled mu-20261207-0002:on mu-20261207-0002:arrived mu-20261207-0003:on]"
	if n := notes.list(); n != want {
		t.Errorf("OnReposition\n got %s\nwant %s", n, want)
	}
	// The hub confirms the arrivals (queue empty) and keeps the unit available.
	waitConfirmed(t, h, r, 15*time.Second)
	if u := unitOf(t, h, "car-mu"); u.Status != protocol.StatusAvailable {
		t.Errorf("the hub has car-mu %s after its move-ups", u.Status)
	}
	var incidents []map[string]any
	if st := h.Do(http.MethodGet, "/api/incidents", nil, &incidents); st != http.StatusOK || len(incidents) != 0 {
		t.Errorf("incidents after move-ups: %d %v", st, incidents)
	}
	if s := r.Stats(); s.Commands != 4 || s.BadMessages != 0 {
		t.Errorf("stats %+v", s)
	}
}

// unitOnMosquitto starts a unit's agent, its terminal on, with the
// deployment's Mosquitto and ACL, and waits until the hub has it online
// with a fix. send publishes a command on the unit's cmd topic, timed now,
// as the hub does.
func unitOnMosquitto(t *testing.T, unit string, edit func(*Config)) (r *running, h *hubtest.Hub, cfg Config, send func(protocol.Command)) {
	t.Helper()
	mosq, h := mosquittoHub(t, "", map[string]string{unit: "pw-" + unit})
	cfg = testConfig(t, mosq.URL(), unit, "pw-"+unit)
	cfg.Terminal = freeAddr(t)
	if edit != nil {
		edit(&cfg)
	}
	r = start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, unit); !u.Online || u.Lat == nil {
			return fmt.Errorf("%s not online with a position", unit)
		}
		return nil
	})
	hubc := hubtest.Connect(t, mosq.URL(), "kuaifan-hub", "hub-pw",
		hubtest.DeviceOptions{ClientID: "test-" + unit, NoState: true})
	cmdTopic := protocol.Topics{}.Unit(unit, protocol.KindCmd)
	send = func(c protocol.Command) {
		t.Helper()
		c.TS = time.Now().UnixMilli()
		b, err := protocol.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := hubc.PublishTo(cmdTopic, b); err != nil {
			t.Fatal(err)
		}
	}
	return r, h, cfg, send
}
