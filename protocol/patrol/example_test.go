package patrol_test

import (
	"fmt"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/patrol"
)

func ExampleParse() {
	p, err := patrol.Parse([]byte(`{"id": "furong-1", "name": "芙蓉区日常巡逻",
	 "shifts": [{"id": "day", "start": "08:00", "end": "20:00"}, {"id": "night", "start": "20:00", "end": "08:00"}],
	 "tasks": [
	   {"id": "cp-1", "kind": "point", "units": ["car-1"], "shifts": ["day"],
	    "lat": 28.196, "lon": 112.977, "dwell_min": 10, "windows": ["09:00-10:00", "15:00-16:00"]},
	   {"id": "r-1", "kind": "line", "unit_types": ["motorcycle"],
	    "route": [[112.97, 28.19], [112.98, 28.19]]},
	   {"id": "a-1", "kind": "area", "unit_types": ["foot"],
	    "polygon": [[112.97, 28.19], [112.98, 28.19], [112.98, 28.2]], "min_presence_min": 240}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range p.Tasks {
		switch t.Kind {
		case patrol.KindPoint:
			fmt.Printf("%s: within %v m for %v min in %v\n", t.ID, t.RadiusM, t.DwellMin, t.Windows)
		case patrol.KindLine:
			fmt.Printf("%s: %.0f m, %v of it within %v m\n", t.ID, patrol.RouteLength(t.Route), t.CoverShare, t.BufferM)
		case patrol.KindArea:
			fmt.Printf("%s: %v min inside\n", t.ID, t.MinPresenceMin)
		}
	}
	_, err = patrol.Parse([]byte(`{"id": "p", "tasks": [{"id": "cp-3", "kind": "point", "units": ["car-1"], "lat": 28.2, "lon": 112.97, "radius_m": -5}]}`))
	fmt.Println(err)
	// Output:
	// cp-1: within 50 m for 10 min in [09:00-10:00 15:00-16:00]
	// r-1: 980 m, 0.8 of it within 30 m
	// a-1: 240 min inside
	// task "cp-3": radius_m: -5 is not > 0
}

func ExamplePlan_CurrentTasks() {
	p, _ := patrol.Parse([]byte(`{"id": "p", "tasks": [
	   {"id": "cp-1", "kind": "point", "units": ["moto-7"], "shifts": ["night"],
	    "lat": 28.1947, "lon": 113.0126, "dwell_min": 15, "windows": ["23:30-00:30"]}]}`))
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.FixedZone("CST", 8*3600))
	cur, _ := p.CurrentTasks("moto-7", protocol.TypeMotorcycle, now)
	for _, c := range cur {
		fmt.Println(c.Task.ID, c.Shift, time.UnixMilli(c.Window.From).In(now.Location()).Format("Jan 2 15:04"), "to",
			time.UnixMilli(c.Window.To).In(now.Location()).Format("Jan 2 15:04"))
	}
	// Output:
	// cp-1 night Dec 6 23:30 to Dec 7 00:30
}
