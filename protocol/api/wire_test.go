package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }

// The JSON of every type, as the hub writes it and protocol/README.md shows
// it: names, order and omissions. Each example also decodes back to its value.
func TestWireJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"unit", &Unit{ID: "car-1", Type: "car", Callsign: "湘A-001", Capabilities: []string{"armed"}, Status: "enroute",
			Online: true, Lat: f(28.196), Lon: f(112.977), TS: i64(1767225599000), Seq: u64(7), SpeedMPS: f(8.1),
			HeadingDeg: f(90), LastSeen: 1767225599100, Incident: "inc-20261129-0042"},
			`{"id":"car-1","type":"car","callsign":"湘A-001","capabilities":["armed"],"status":"enroute","online":true,` +
				`"lat":28.196,"lon":112.977,"ts":1767225599000,"seq":7,"speed_mps":8.1,"heading_deg":90,` +
				`"last_seen":1767225599100,"incident":"inc-20261129-0042"}`},
		{"unit with a commanded rate (additive, 2026-12)", &Unit{ID: "car-1", Type: "car", Capabilities: []string{"armed"}, Status: "enroute",
			Online: true, Lat: f(28.196), Lon: f(112.977), TS: i64(1767225599000), Incident: "inc-20261129-0043", ReportS: 1},
			`{"id":"car-1","type":"car","capabilities":["armed"],"status":"enroute","online":true,"lat":28.196,"lon":112.977,` +
				`"ts":1767225599000,"incident":"inc-20261129-0043","report_s":1}`},
		{"sos incident (additive, 2026-12)", &Incident{ID: "inc-20261129-0043", Status: IncidentOpen, Lat: 28.196, Lon: 112.977,
			Kind: KindOfficerHelp, Priority: 1, Needs: []string{}, Created: 1795949890237, Assignments: []Assignment{},
			Timeline: []Entry{}, SOS: "foot-3", SOSSeq: 88},
			`{"id":"inc-20261129-0043","status":"open","uncovered":false,"lat":28.196,"lon":112.977,"kind":"officer_help",` +
				`"priority":1,"needs":[],"created":1795949890237,"assignments":[],"timeline":[],"figures":{},"sos":"foot-3","sos_seq":88}`},
		{"unit without a fix", &Unit{ID: "foot-2", Type: "foot", Capabilities: []string{}},
			`{"id":"foot-2","type":"foot","capabilities":[],"online":false,"lat":null,"lon":null,"ts":null}`},
		{"enrolment", &Enrolment{ID: "car-017", Type: "car", Callsign: "湘A-017", Capabilities: []string{"armed"}},
			`{"id":"car-017","type":"car","callsign":"湘A-017","capabilities":["armed"]}`},
		{"enrolled", &Enrolled{ID: "car-017", Secret: "q3Jx…"}, `{"id":"car-017","secret":"q3Jx…"}`},
		{"unit with its connections (additive, 2026-12)", &Unit{ID: "foot-2", Type: "foot", Capabilities: []string{},
			LastConnect: &Connection{Addr: "10.8.0.7:51234", At: 1767225599000},
			LastRefused: &Connection{Addr: "203.0.113.9:40001", At: 1767225500000, Reason: "bad_credentials"}},
			`{"id":"foot-2","type":"foot","capabilities":[],"online":false,"lat":null,"lon":null,"ts":null,` +
				`"last_connect":{"addr":"10.8.0.7:51234","at":1767225599000},` +
				`"last_refused":{"addr":"203.0.113.9:40001","at":1767225500000,"reason":"bad_credentials"}}`},
		{"coverage delta (additive, 2026-12)", &Coverage{TS: 1767225600000, Changes: [][2]int{{17, 1}, {18, 0}}, Units: 42, CoverTier: 2,
			City: CoverageShares{Area: []float64{0.21, 0.74, 0.9}, Demand: []float64{0.3, 0.87, 0.95}, Cells: 9000},
			Districts: []DistrictCoverage{{ID: "furong", Name: "芙蓉区 Furong", CoverageShares: CoverageShares{Area: []float64{0.3, 0.8, 1},
				Demand: []float64{0.4, 0.9, 1}, Cells: 600}, Units: 7}},
			Holes: []CoverageHole{{CentreLat: 28.1, CentreLon: 112.9, Cells: 12, AreaKM2: 0.75, DemandShare: 0.02, District: "yuelu"}}, DemandDays: 30},
			`{"ts":1767225600000,"changes":[[17,1],[18,0]],"units":42,"cover_tier":2,` +
				`"city":{"area":[0.21,0.74,0.9],"demand":[0.3,0.87,0.95],"cells":9000},` +
				`"districts":[{"id":"furong","name":"芙蓉区 Furong","area":[0.3,0.8,1],"demand":[0.4,0.9,1],"cells":600,"units":7}],` +
				`"holes":[{"lat":28.1,"lon":112.9,"cells":12,"area_km2":0.75,"demand_share":0.02,"district":"yuelu"}],"demand_days":30}`},
		{"broker config (additive, 2026-12)", &BrokerConfig{Broker: "mosquitto", Root: "rr", HubUser: "kuaifan-hub",
			Units: []string{"car-017"}, NeedRotation: []string{"car-001"},
			Files: []BrokerFile{{Name: "passwd", Content: "kuaifan-hub:$7$101$…\ncar-017:$7$101$…\n"}}},
			`{"broker":"mosquitto","root":"rr","hub_user":"kuaifan-hub","units":["car-017"],"need_rotation":["car-001"],` +
				`"files":[{"name":"passwd","content":"kuaifan-hub:$7$101$…\ncar-017:$7$101$…\n"}]}`},
		{"secret rotation (additive, 2026-12)", &SecretRotation{Push: new(false), Disconnect: true}, `{"push":false,"disconnect":true}`},
		{"secret rotated (additive, 2026-12)", &SecretRotated{ID: "car-017", Secret: "Zk9p…", Pushed: true},
			`{"id":"car-017","secret":"Zk9p…","pushed":true}`},
		{"track point", &TrackPoint{Seq: 1042, TS: 1764403200000, Lat: 28.1941, Lon: 112.9823, Status: "available", AccM: f(4.5)},
			`{"seq":1042,"ts":1764403200000,"lat":28.1941,"lon":112.9823,"status":"available","acc_m":4.5}`},
		{"matches", &Matches{Candidates: []Candidate{{Unit: "moto-7", Type: "motorcycle", DistanceM: 326, ETAS: 41.1,
			Tier: 1, FixAgeS: 2, Lat: 28.198, Lon: 112.975}}},
			`{"candidates":[{"unit":"moto-7","type":"motorcycle","distance_m":326,"eta_s":41.1,"tier":1,"fix_age_s":2,"lat":28.198,"lon":112.975}]}`},
		{"incident", &Incident{ID: "inc-20261129-0042", Status: IncidentDispatched, Lat: 28.196, Lon: 112.977, Kind: "robbery",
			Priority: 1, Needs: []string{}, Created: 1795949890237,
			Assignments: []Assignment{{Unit: "moto-7", State: AssignEnroute, Command: "cmd-1", By: ActorAuto, Tier: 1,
				Dispatched: 1795949890241, Deadline: 1795949910241, Acked: 1795949896437, EventSeq: 12}},
			Timeline: []Entry{{TS: 1795949896437, Type: EntryAck, Unit: "moto-7", Actor: "moto-7"}},
			Figures:  Figures{ToDispatchS: f(0.004), ToAckS: f(6.2)},
			Recommendations: []Recommendation{{Candidate: Candidate{Unit: "car-2", Type: "car", DistanceM: 524, ETAS: 88,
				Tier: 2, FixAgeS: 3.1, Lat: 28.2, Lon: 112.98}}}},
			`{"id":"inc-20261129-0042","status":"dispatched","uncovered":false,"lat":28.196,"lon":112.977,"kind":"robbery",` +
				`"priority":1,"needs":[],"created":1795949890237,` +
				`"assignments":[{"unit":"moto-7","state":"enroute","command":"cmd-1","by":"auto","tier":1,` +
				`"dispatched":1795949890241,"deadline":1795949910241,"acked":1795949896437,"event_seq":12}],` +
				`"timeline":[{"ts":1795949896437,"type":"ack","unit":"moto-7","actor":"moto-7"}],` +
				`"figures":{"to_dispatch_s":0.004,"to_ack_s":6.2},` +
				`"recommendations":[{"unit":"car-2","type":"car","distance_m":524,"eta_s":88,"tier":2,"fix_age_s":3.1,` +
				`"lat":28.2,"lon":112.98,"stale":false}]}`},
		{"offer", &Offer{Unit: "car-9", ETAS: 45, BestETAS: 160, Sighting: 1795949950000},
			`{"unit":"car-9","eta_s":45,"best_enroute_eta_s":160,"sighting":1795949950000}`},
		{"new incident", &NewIncident{Lat: 28.196, Lon: 112.977, Kind: "robbery", Priority: 1, Summary: "两名嫌疑人向西逃窜", Needs: []string{"armed"}},
			`{"lat":28.196,"lon":112.977,"kind":"robbery","priority":1,"summary":"两名嫌疑人向西逃窜","needs":["armed"]}`},
		{"sighting", &Sighting{Lat: 28.2, Lon: 112.97, Source: "camera 17"}, `{"lat":28.2,"lon":112.97,"source":"camera 17"}`},
		{"assign", &Assign{Unit: "car-2"}, `{"unit":"car-2"}`},
		{"close", &Close{Note: "false alarm"}, `{"note":"false alarm"}`},
		{"reopen", &Reopen{Reason: "the caller rang again"}, `{"reason":"the caller rang again"}`},
		{"ticket", &Ticket{Expires: 1767225630000, ExpiresInS: 30, Ticket: "Zk3…"},
			`{"expires":1767225630000,"expires_in_s":30,"ticket":"Zk3…"}`},
		{"error", &Error{Error: `no unit "car-9"`}, `{"error":"no unit \"car-9\""}`},
		{"health", &Health{Status: HealthOK}, `{"status":"ok"}`},
		{"unhealthy", &Health{Error: "store recovered at start", Status: HealthUnhealthy},
			`{"error":"store recovered at start","status":"unhealthy"}`},
		{"empty snapshot", &Frame{Type: FrameSnapshot, Seq: 41, TS: 1767225600000, Units: []Unit{}, Incidents: []Incident{}},
			`{"type":"snapshot","seq":41,"ts":1767225600000,"units":[],"incidents":[]}`},
		{"delta", &Frame{Type: FrameDelta, Seq: 42, TS: 1767225600100, Units: []Unit{{ID: "car-1", Type: "car", Capabilities: []string{}}},
			RemovedUnits: []string{"foot-2"}},
			`{"type":"delta","seq":42,"ts":1767225600100,"units":[{"id":"car-1","type":"car","capabilities":[],` +
				`"online":false,"lat":null,"lon":null,"ts":null}],"removed_units":["foot-2"]}`},
		{"delta of removals", &Frame{Type: FrameDelta, Seq: 43, TS: 1767225600200, RemovedIncidents: []string{"inc-1"}},
			`{"type":"delta","seq":43,"ts":1767225600200,"removed_incidents":["inc-1"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("JSON\n%s\nwant\n%s", b, tt.want)
			}
			back := reflect.New(reflect.TypeOf(tt.v).Elem())
			if err := json.Unmarshal([]byte(tt.want), back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Interface(), tt.v) {
				t.Errorf("decoded back\n%+v\nwant\n%+v", back.Elem(), reflect.ValueOf(tt.v).Elem())
			}
		})
	}
}

// The hub's stream encodes FrameOf[any, any]: the same JSON as Frame.
func TestFrameOfAny(t *testing.T) {
	u := Unit{ID: "car-1", Type: "car", Capabilities: []string{}}
	typed, _ := json.Marshal(Frame{Type: FrameDelta, Seq: 2, TS: 3, Units: []Unit{u}})
	open, _ := json.Marshal(FrameOf[any, any]{Type: FrameDelta, Seq: 2, TS: 3, Units: []any{&u}})
	if string(typed) != string(open) {
		t.Errorf("FrameOf[any, any]\n%s\nFrame\n%s", open, typed)
	}
}

func TestAssignmentActive(t *testing.T) {
	for state, want := range map[string]bool{AssignDispatched: true, AssignEnroute: true, AssignOnScene: true,
		AssignCleared: false, AssignDeclined: false, AssignTimeout: false, AssignCancelled: false} {
		if got := AssignmentActive(state); got != want {
			t.Errorf("AssignmentActive(%q) = %v", state, got)
		}
	}
}
