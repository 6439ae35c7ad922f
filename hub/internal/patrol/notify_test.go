package patrol

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	wire "kuaifan/protocol/patrol"
)

// memRecords is the store as Plans sees it, in memory.
type memRecords map[string][]byte

func (m memRecords) Put(r map[string][]byte) error {
	for k, v := range r {
		m[k] = v
	}
	return nil
}

func (m memRecords) Scan(prefix string, fn func(string, []byte) error) error {
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m memRecords) Delete(keys ...string) error {
	for _, k := range keys {
		delete(m, k)
	}
	return nil
}

const notifyPlan = `{"id":"p1","shifts":[{"id":"all","start":"00:00","end":"00:00"}],"tasks":[
{"id":"cp","kind":"point","name":"五一广场","units":["car-1"],"lat":28.196,"lon":112.977,"radius_m":60,"dwell_min":5},
{"id":"r","kind":"line","unit_types":["car"],"route":[[112.965,28.196],[112.99,28.1957]],"cover_share":0.6},
{"id":"a","kind":"area","unit_types":["foot"],"min_presence_min":60,"polygon":[[112.97,28.19],[112.98,28.19],[112.98,28.20],[112.97,28.20]]}]}`

// The notifier sends each online unit its tasks once, again when they
// change or the unit comes back, never to a unit that has had none.
func TestNotifier(t *testing.T) {
	rec := memRecords{}
	plans, err := OpenPlans(rec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	members := []Member{{ID: "car-1", Type: protocol.TypeCar, Online: true, Commands: true},
		{ID: "car-2", Type: protocol.TypeCar, Online: false, Commands: true},
		{ID: "foot-1", Type: protocol.TypeFoot, Online: true, Commands: true},
		{ID: "phone-1", Type: protocol.TypeFoot, Online: true, Commands: false},
		{ID: "moto-1", Type: protocol.TypeMotorcycle, Online: true, Commands: true}}
	got := map[string][]protocol.Command{}
	n := NewNotifier(NotifierConfig{Plans: plans, Units: func() []Member { return members },
		Send: func(unit string, c protocol.Command) error {
			if err := c.Validate(); err != nil {
				t.Errorf("an invalid command for %s: %v", unit, err)
			}
			got[unit] = append(got[unit], c)
			return nil
		},
		NewID: func() string { return fmt.Sprint("cmd-", len(got)) },
		Now:   func() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC) }})

	if sent := n.Tick(); sent != 0 {
		t.Fatalf("no plan: %d commands", sent)
	}
	plan, err := wire.Parse([]byte(notifyPlan))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plans.Put(plan); err != nil {
		t.Fatal(err)
	}
	if sent := n.Tick(); sent != 2 {
		t.Fatalf("first round: %d commands, want car-1 and foot-1", sent)
	}
	car := got["car-1"][0]
	if car.Type != protocol.CmdTasks || len(car.Tasks) != 2 || car.Tasks[0].ID != "cp" || car.Tasks[0].Name != "五一广场" ||
		car.Tasks[1].Kind != "line" || car.Tasks[1].LengthM < 2000 || car.Tasks[1].Lat != 28.196 {
		t.Fatalf("car-1's tasks: %+v", car.Tasks)
	}
	if foot := got["foot-1"][0].Tasks; len(foot) != 1 || foot[0].Kind != "area" || foot[0].Lat != 28.195 || foot[0].MinPresenceMin != 60 {
		t.Fatalf("foot-1's tasks: %+v", foot)
	}
	if len(got["phone-1"])+len(got["moto-1"])+len(got["car-2"]) != 0 {
		t.Fatalf("sent to a phone, a unit without tasks or one offline: %v", got)
	}
	if sent := n.Tick(); sent != 0 {
		t.Fatalf("nothing changed: %d commands", sent)
	}
	// Offline and back: sent again. Another online: gets its own.
	members[0].Online = false
	members[1].Online = true
	n.Tick()
	members[0].Online = true
	if sent := n.Tick(); sent != 1 || len(got["car-1"]) != 2 || len(got["car-2"]) != 1 {
		t.Fatalf("back online: %d commands; car-1 %d, car-2 %d", sent, len(got["car-1"]), len(got["car-2"]))
	}
	// The plan gone: an empty list to those that had tasks.
	if err := plans.Delete("p1"); err != nil {
		t.Fatal(err)
	}
	if sent := n.Tick(); sent != 3 {
		t.Fatalf("plan deleted: %d commands, want 3", sent)
	}
	if last := got["foot-1"][len(got["foot-1"])-1]; len(last.Tasks) != 0 {
		t.Fatalf("after the plan went: %+v", last.Tasks)
	}
}

func TestClipUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"五一广场", 7, "五一"}, {"五一广场", 6, "五一"}} {
		if got := clipUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("clipUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
