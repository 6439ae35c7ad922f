package terminal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// taskOfficer is the in-memory Officer with patrol tasks (additive,
// 2026-12).
type taskOfficer struct {
	*memOfficer
	tasks []Task
}

var _ Tasker = (*taskOfficer)(nil)

func (o *taskOfficer) Tasks() []Task {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tasks
}

var shiftStart = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// sampleTasks is protocol/README.md's example: a checkpoint with its
// window, and a route.
func sampleTasks() []Task {
	return []Task{
		{Plan: "furong-wuyi", ID: "cp-wuyi-square", Kind: KindPoint, Name: "五一广场 Wuyi Square", Shift: "day",
			ShiftStart: shiftStart, ShiftEnd: shiftStart.Add(12 * time.Hour),
			From: shiftStart.Add(time.Hour), To: shiftStart.Add(2 * time.Hour),
			Lat: 28.196, Lon: 112.977, RadiusM: 50, DwellMin: 10},
		{Plan: "furong-wuyi", ID: "r-wuyi-avenue", Kind: KindLine, Name: "五一大道 Wuyi Avenue", Shift: "day",
			ShiftStart: shiftStart, ShiftEnd: shiftStart.Add(12 * time.Hour),
			Lat: 28.1962, Lon: 112.965, LengthM: 4427, CoverShare: 0.8},
	}
}

const sampleTasksJSON = `{"tasks":[` +
	`{"plan":"furong-wuyi","id":"cp-wuyi-square","kind":"point","name":"五一广场 Wuyi Square","shift":"day",` +
	`"shift_start":"2026-12-07T00:00:00Z","shift_end":"2026-12-07T12:00:00Z",` +
	`"from":"2026-12-07T01:00:00Z","to":"2026-12-07T02:00:00Z","lat":28.196,"lon":112.977,"radius_m":50,"dwell_min":10},` +
	`{"plan":"furong-wuyi","id":"r-wuyi-avenue","kind":"line","name":"五一大道 Wuyi Avenue","shift":"day",` +
	`"shift_start":"2026-12-07T00:00:00Z","shift_end":"2026-12-07T12:00:00Z","lat":28.1962,"lon":112.965,` +
	`"length_m":4427,"cover_share":0.8}]}`

// GET /v1/tasks through a real listener: the list exactly as documented
// (times RFC 3339, no window on a route), [] for none and for an Officer
// that knows no tasks, other methods refused, behind the token.
func TestTasksRoute(t *testing.T) {
	tests := []struct {
		rawCase
		officer Officer
		token   string
	}{
		{rawCase{name: "two tasks", method: "GET", path: "/v1/tasks", code: 200, resp: sampleTasksJSON},
			&taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, ""},
		{rawCase{name: "none", method: "GET", path: "/v1/tasks", code: 200, resp: `{"tasks":[]}`},
			&taskOfficer{memOfficer: newOfficer()}, ""},
		{rawCase{name: "not a Tasker", method: "GET", path: "/v1/tasks", code: 200, resp: `{"tasks":[]}`}, newOfficer(), ""},
		{rawCase{name: "HEAD", method: "HEAD", path: "/v1/tasks", code: 200},
			&taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, ""},
		{rawCase{name: "POST", method: "POST", path: "/v1/tasks", code: 405, allow: "GET, HEAD"},
			&taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, ""},
		{rawCase{name: "no token", method: "GET", path: "/v1/tasks", code: 401},
			&taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, "tok"},
		{rawCase{name: "token", method: "GET", path: "/v1/tasks", header: map[string]string{"Authorization": "Bearer tok"},
			code: 200, resp: sampleTasksJSON}, &taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, "tok"},
		{rawCase{name: "foreign host", method: "GET", path: "/v1/tasks", header: map[string]string{"Host": "evil.example"}, code: 403},
			&taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, c := start(t, Config{Token: tc.token}, tc.officer)
			resp, body := send(t, c.BaseURL, tc.rawCase)
			checkRaw(t, tc.rawCase, resp, body)
		})
	}
}

// GET /v1/state carries the same tasks, never null: a Tasker's, none for
// an Officer that is not one, and [] for a Stater that gave none.
func TestStateHasTasks(t *testing.T) {
	tests := []struct {
		name string
		o    Officer
		want int
	}{
		{"tasker", &taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}, 2},
		{"plain officer", newOfficer(), 0},
		{"stater without tasks", stateOfficer{memOfficer: newOfficer(), st: State{Unit: "car-9"}}, 0},
		{"stater with tasks", stateOfficer{memOfficer: newOfficer(), st: State{Unit: "car-9", Tasks: sampleTasks()[:1]}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/v1/state", nil)
			req.Host = "127.0.0.1:8765"
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("%d %v", rec.Code, err)
			}
			var tasks []Task
			if string(raw["tasks"]) == "null" || json.Unmarshal(raw["tasks"], &tasks) != nil || len(tasks) != tc.want {
				t.Errorf("tasks %s, want %d", raw["tasks"], tc.want)
			}
			if tc.want > 0 && (tasks[0].ID != "cp-wuyi-square" || !tasks[0].From.Equal(shiftStart.Add(time.Hour))) {
				t.Errorf("tasks %+v", tasks)
			}
		})
	}
}

// The Client's side: the tasks as the Officer has them, none as [] (also
// from an agent older than the route), and the token's error.
func TestTasksClient(t *testing.T) {
	o := &taskOfficer{memOfficer: newOfficer(), tasks: sampleTasks()}
	_, c := start(t, Config{Token: "tok"}, o)
	ctx := t.Context()
	got, err := c.Tasks(ctx)
	if err != nil || len(got) != 2 || got[0] != sampleTasks()[0] || got[1] != sampleTasks()[1] {
		t.Fatalf("Tasks = %+v %v", got, err)
	}
	o.mu.Lock()
	o.tasks = nil
	o.mu.Unlock()
	if got, err := c.Tasks(ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("none: %#v %v", got, err)
	}
	if _, err := (&Client{BaseURL: c.BaseURL, HTTP: c.HTTP}).Tasks(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route")
	}))
	defer old.Close()
	if got, err := (&Client{BaseURL: old.URL}).Tasks(ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("an older agent: %#v %v", got, err)
	}
}
