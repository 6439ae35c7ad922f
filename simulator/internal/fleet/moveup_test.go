package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"kuaifan/agent"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/journal"
	"kuaifan/simulator/internal/patrol"
	"kuaifan/simulator/internal/simclock"
)

// Move-ups (the hub's reposition, additive 2026-12), two real units on
// Mosquitto with the commands published on their cmd topics as the hub
// would: the car drives to its spot at its response speed, its agent
// reports it there by position, and it patrols round the spot, available
// all along; the foot patrol's agent is given a radius too small to see its
// spot, so the officer reports it there; a move-up called off and one
// replaced by a dispatch are counted as dropped.
func TestMoveUps(t *testing.T) {
	mosq := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{Quiet: true})
	log := hubtest.Logger(t)
	specs := []api.Enrolment{{ID: "mu-car", Type: protocol.TypeCar}, {ID: "mu-foot", Type: protocol.TypeFoot}}
	jr := &journal.Journal{}
	f, err := New(Config{Broker: mosq.URL(), TopicRoot: protocol.DefaultRoot, GPSInterval: 50 * time.Millisecond, GPSNoiseM: 4,
		Tick: 20 * time.Millisecond, ReconnectMax: time.Second, StartRate: 100, Officer: DefaultOfficerConfig(),
		Logger: log, AgentLogger: AgentLogger(log),
		Report: func(c *agent.Config) {
			if c.Unit == "mu-foot" {
				c.RepositionRadiusM = 0.01 // under GPS noise: never by position
			}
		}}, city.Changsha(), specs, []string{"pw", "pw"}, 7, jr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.StartAgents(ctx)
	defer f.StopAgents()
	if n := f.WaitConnected(ctx, 10*time.Second); n != 2 {
		t.Fatalf("%d of 2 units connected", n)
	}
	const scale = 40
	f.StartMoving(ctx, simclock.New(scale))
	defer f.StopMoving()

	hub := hubtest.Connect(t, mosq.URL(), "test-hub", "", hubtest.DeviceOptions{ClientID: "test-hub", NoState: true})
	seq := 0
	send := func(unit string, c protocol.Command) {
		t.Helper()
		seq++
		c.ID, c.TS = fmt.Sprint("cmd-", seq), time.Now().UnixMilli()
		b, err := protocol.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := hub.PublishTo(protocol.Topics{}.Unit(unit, protocol.KindCmd), b); err != nil {
			t.Fatal(err)
		}
	}
	moveUp := func(unit, id string, p city.Point) {
		send(unit, protocol.Command{Type: protocol.CmdReposition, Incident: id, Lat: &p.Lat, Lon: &p.Lon, Summary: "补位"})
	}
	car, foot := f.byID["mu-car"], f.byID["mu-foot"]
	where := func(u *Unit) city.Point {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.pos
	}
	// wait polls cond every 20 ms for up to d, checking along the way that
	// every unit without a job stays available: a move-up never changes it.
	wait := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			for _, u := range []*Unit{car, foot} {
				if _, assigned := u.assignment(); !assigned {
					if s := u.Agent().Status(); s != protocol.StatusAvailable {
						t.Fatalf("%s is %s during a move-up", u.ID(), s)
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v (officers %+v)", what, d, f.Officers())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	entry := func(kind, id string) (journal.Entry, bool) {
		for _, e := range jr.All() {
			if e.Kind == kind && e.Incident == id {
				return e, true
			}
		}
		return journal.Entry{}, false
	}

	// 1. The car, 1.5 km east: reported there by its agent, in no less
	// than the drive takes at its response speed.
	carSpot := city.Offset(where(car), 1500, 90)
	moveUp("mu-car", "mu-car-1", carSpot)
	wait("the car there", 30*time.Second, func() bool { return f.Officers().RepositionArrivals == 1 })
	if o := f.Officers(); o.Repositions != 1 || o.RepositionAutoArrivals != 1 {
		t.Errorf("officers %+v", o)
	}
	from, _ := entry("reposition", "mu-car-1")
	at, ok := entry("moved_up", "mu-car-1")
	if !ok || !strings.Contains(at.Detail, "agent") {
		t.Fatalf("journal %+v", jr.All())
	}
	// From the order to the agent's radius at 8.3 m/s; a step and a fix of slack.
	least := (1500 - agent.DefaultRepositionRadiusM - 20) / patrol.ResponseSpeed(protocol.TypeCar)
	if took := at.AtS - from.AtS; took < least || took > 2*least+10 {
		t.Errorf("moved up in %.0f simulated s; the drive takes at least %.0f", took, least)
	}
	if _, ok := car.Agent().Reposition(); ok {
		t.Error("the car's agent still has the move-up")
	}
	// Then it patrols round the spot: within its 1 km beat, for five
	// simulated minutes.
	until := time.Now().Add(5 * time.Minute / scale)
	wait("five minutes round the spot", time.Minute, func() bool {
		if d := city.DistanceM(where(car), carSpot); d > 1000+50 {
			t.Fatalf("the car is %.0f m from its move-up's spot", d)
		}
		return time.Now().After(until)
	})

	// 2. The foot patrol, 150 m north: its officer says so.
	footSpot := city.Offset(where(foot), 150, 0)
	moveUp("mu-foot", "mu-foot-1", footSpot)
	wait("the foot patrol there", 30*time.Second, func() bool { return f.Officers().RepositionArrivals == 2 })
	if e, ok := entry("moved_up", "mu-foot-1"); !ok || !strings.Contains(e.Detail, "officer") {
		t.Errorf("journal entry %+v %v", e, ok)
	}
	if d := city.DistanceM(where(foot), footSpot); d > 200 {
		t.Errorf("the foot patrol is %.0f m from its spot", d)
	}

	// 3. The car: a move-up called off, another replaced by a dispatch.
	moveUp("mu-car", "mu-car-2", city.Offset(carSpot, 3000, 0))
	wait("the second move-up", 10*time.Second, func() bool { _, ok := car.Agent().Reposition(); return ok })
	send("mu-car", protocol.Command{Type: protocol.CmdCancel, Incident: "mu-car-2"})
	wait("the cancel", 10*time.Second, func() bool { return f.Officers().RepositionsDropped == 1 })
	moveUp("mu-car", "mu-car-3", city.Offset(carSpot, 3000, 180))
	wait("the third move-up", 10*time.Second, func() bool { return f.Officers().Repositions == 4 })
	inc := city.Offset(where(car), 800, 270)
	send("mu-car", protocol.Command{Type: protocol.CmdDispatch, Incident: "inc-1", Lat: &inc.Lat, Lon: &inc.Lon, Priority: 2, Kind: "theft"})
	wait("the dispatch", 10*time.Second, func() bool { return f.Officers().Dispatches == 1 })
	o := f.Officers()
	if o.Repositions != 4 || o.RepositionArrivals != 2 || o.RepositionAutoArrivals != 1 || o.RepositionsDropped != 2 {
		t.Errorf("officers %+v", o)
	}
	if _, ok := car.Agent().Reposition(); ok {
		t.Error("the move-up survived the dispatch")
	}
	for _, kind := range []string{"move_up_cancelled", "move_up_replaced"} {
		if _, ok := entry(kind, map[string]string{"move_up_cancelled": "mu-car-2", "move_up_replaced": "mu-car-3"}[kind]); !ok {
			t.Errorf("no %s in the journal", kind)
		}
	}
}
