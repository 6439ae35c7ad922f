package ui

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"kuaifan/protocol/api"
)

// The API's types (kuaifan/protocol/api) must read what the hub's READMEs
// show: the incident example of hub/README.md and the frame examples of
// hub/internal/stream/README.md (copied into testdata; when the hub's shapes
// change, so must these).
func TestWireIncident(t *testing.T) {
	data, err := os.ReadFile("testdata/incident.json")
	if err != nil {
		t.Fatal(err)
	}
	var inc Incident
	if err := json.Unmarshal(data, &inc); err != nil {
		t.Fatal(err)
	}
	switch {
	case inc.ID != "inc-20261129-0042", inc.Status != api.IncidentDispatched, inc.Priority != 1, inc.Kind != "robbery":
		t.Errorf("header: %+v", inc)
	case len(inc.Assignments) != 1 || inc.Assignments[0].Unit != "moto-7" || inc.Assignments[0].State != api.AssignEnroute || inc.Assignments[0].Tier != 1:
		t.Errorf("assignments: %+v", inc.Assignments)
	case len(inc.Timeline) != 4 || inc.Timeline[2].Unit != "moto-7" || inc.Timeline[2].Actor != "auto":
		t.Errorf("timeline: %+v", inc.Timeline)
	case inc.Figures.ToDispatchS == nil || *inc.Figures.ToDispatchS != 0.004 || inc.Figures.ToArrivalS != nil:
		t.Errorf("figures: %+v", inc.Figures)
	case len(inc.Recommendations) != 1:
		t.Fatalf("recommendations: %+v", inc.Recommendations)
	}
	r := inc.Recommendations[0]
	if r.Unit != "car-2" || r.Type != "car" || r.ETAS != 88 || r.Tier != 2 || r.FixAgeS != 3.1 || r.DistanceM != 524 || r.Stale {
		t.Errorf("recommendation: %+v", r)
	}
}

func readFrames(t *testing.T) []*Frame {
	t.Helper()
	f, err := os.Open("testdata/frames.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*Frame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fr := new(Frame)
		if err := json.Unmarshal(sc.Bytes(), fr); err != nil {
			t.Fatal(err)
		}
		fr.conn = 1
		out = append(out, fr)
	}
	return out
}

func TestWireFrames(t *testing.T) {
	fs := readFrames(t)
	if len(fs) != 2 || fs[0].Type != api.FrameSnapshot || fs[0].Seq != 41 || fs[1].Type != api.FrameDelta || fs[1].Seq != 42 {
		t.Fatalf("frames: %+v", fs)
	}
	u := fs[0].Units[0]
	if u.ID != "car-1" || *u.Lat != 28.196 || *u.TS != 1767225599000 || *u.HeadingDeg != 90 || u.Callsign != "湘A-001" {
		t.Errorf("unit: %+v", u)
	}
	if nofix := fs[0].Units[1]; nofix.Lat != nil || nofix.TS != nil || nofix.Online {
		t.Errorf("a unit without a fix: %+v", nofix)
	}
	if fs[1].RemovedUnits[0] != "foot-2" || fs[1].Units[0].Incident != "inc-1" {
		t.Errorf("delta: %+v", fs[1])
	}
}
