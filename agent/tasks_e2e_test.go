package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"kuaifan/agent/internal/terminal"
	"kuaifan/protocol"
)

// Patrol tasks on the wire (additive, 2026-12), through Mosquitto with the
// deployment's ACL, published on the unit's cmd topic as the hub would: a
// tasks command shows in the terminal's GET /v1/state and GET /v1/tasks;
// a redelivered one is ignored; the next list replaces it, an empty one
// leaves none; nothing is sent back and the status never moves.
func TestTasksThroughMosquitto(t *testing.T) {
	r, h, cfg, send := unitOnMosquitto(t, "car-tk", nil)
	waitTerminal(t, cfg.Terminal)

	// state reads GET /v1/state as the officer's page does.
	state := func() (terminal.State, string) {
		t.Helper()
		resp, err := http.Get("http://" + cfg.Terminal + "/v1/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		var st terminal.State
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return st, string(raw["tasks"])
	}
	waitTasks := func(want string) terminal.State {
		t.Helper()
		var st terminal.State
		waitFor(t, 10*time.Second, func() error {
			var raw string
			st, raw = state()
			if got := taskIDs(st.Tasks); got != want || raw == "null" {
				return fmt.Errorf("GET /v1/state tasks [%s] (%s), want [%s]", got, raw, want)
			}
			return nil
		})
		return st
	}
	c := &terminal.Client{BaseURL: "http://" + cfg.Terminal}
	ctx := context.Background()

	// None before the hub says anything: [], not null.
	waitTasks("")

	// 1. protocol/README.md's example, with a shift running now.
	now := time.Now()
	cp, rt := checkpoint("cp-wuyi-square", now), route("r-wuyi-avenue", now)
	send(tasksCmd("tk-cmd-1", cp, rt))
	st := waitTasks("cp-wuyi-square r-wuyi-avenue")
	got := st.Tasks[0]
	if got.Name != "五一广场 Wuyi Square" || got.Kind != terminal.KindPoint || got.DwellMin != 10 || got.RadiusM != 50 ||
		!got.From.Equal(time.UnixMilli(cp.From)) || !got.To.Equal(time.UnixMilli(cp.To)) || !got.ShiftEnd.Equal(time.UnixMilli(cp.ShiftEnd)) {
		t.Errorf("the checkpoint on the terminal: %+v", got)
	}
	if l := st.Tasks[1]; l.LengthM != 4427 || l.CoverShare != 0.8 || !l.From.IsZero() {
		t.Errorf("the route on the terminal: %+v", l)
	}
	if tasks, err := c.Tasks(ctx); err != nil || taskIDs(tasks) != "cp-wuyi-square r-wuyi-avenue" || tasks[0] != st.Tasks[0] {
		t.Errorf("GET /v1/tasks: %+v %v", tasks, err)
	}

	// 2. Redelivered (a broker resending it): handled once.
	send(tasksCmd("tk-cmd-1", area("a-late", now)))
	waitFor(t, 10*time.Second, func() error {
		if s := r.Stats(); s.Duplicates != 1 {
			return fmt.Errorf("duplicates %d", s.Duplicates)
		}
		return nil
	})
	waitTasks("cp-wuyi-square r-wuyi-avenue")

	// 3. The next list replaces it; an empty one leaves none.
	send(tasksCmd("tk-cmd-2", area("a-huangxing", now)))
	waitTasks("a-huangxing")
	send(tasksCmd("tk-cmd-3"))
	waitTasks("")
	if tasks, err := c.Tasks(ctx); err != nil || tasks == nil || len(tasks) != 0 {
		t.Errorf("GET /v1/tasks after the empty list: %#v %v", tasks, err)
	}

	if ev := r.rec.events(); len(ev) != 0 {
		t.Errorf("events sent for tasks: %+v", ev)
	}
	if s := r.Stats(); s.Commands != 3 || s.BadMessages != 0 {
		t.Errorf("stats %+v", s)
	}
	if u := unitOf(t, h, "car-tk"); u.Status != protocol.StatusAvailable {
		t.Errorf("the hub has car-tk %s", u.Status)
	}
}
