package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// randomFrame is a delta or snapshot with every unit field exercised,
// nulls and omissions included.
func randomFrame(r *rand.Rand, n int) Frame {
	types := []protocol.UnitType{protocol.TypeCar, protocol.TypeMotorcycle, protocol.TypeFoot, protocol.TypeVolunteer}
	statuses := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene, protocol.StatusBusy, ""}
	f := Frame{Frame: api.Frame{Type: api.FrameDelta, Seq: r.Uint64N(1 << 40), TS: r.Int64N(1 << 42)}}
	if r.IntN(4) == 0 {
		f.Type = api.FrameSnapshot
	}
	opt := func(v float64) *float64 {
		if r.IntN(5) == 0 {
			return nil
		}
		return &v
	}
	for i := range n {
		u := Unit{ID: "sim-car-" + strconv.Itoa(i), Type: types[r.IntN(4)], Status: statuses[r.IntN(5)], Online: r.IntN(2) == 0,
			Lat: opt(28 + r.Float64()), Lon: opt(112 + r.Float64()), AccM: opt(r.Float64() * 30),
			SpeedMPS: opt(r.Float64() * 20), HeadingDeg: opt(r.Float64() * 360), Battery: opt(r.Float64()),
			LastSeen: r.Int64N(1 << 42)}
		if r.IntN(2) == 0 {
			u.Callsign = "湘A-" + strconv.Itoa(i)
		}
		if r.IntN(3) == 0 {
			u.Capabilities = []string{"armed", "medical"}[:r.IntN(3)]
		}
		if r.IntN(3) > 0 {
			ts, seq := r.Int64N(1<<42), r.Uint64()
			u.TS, u.Seq = &ts, &seq
		}
		if r.IntN(4) == 0 {
			u.Incident = "inc-20261129-" + strconv.Itoa(r.IntN(100))
		}
		if r.IntN(3) == 0 {
			u.ReportS = []float64{1, 5, 60, 2.5}[r.IntN(4)]
		}
		if r.IntN(4) == 0 {
			u.Protocol = []api.ReportProtocol{api.ReportOwnTracks, api.ReportOsmAnd}[r.IntN(2)]
		}
		if r.IntN(5) == 0 {
			u.Reposition = &api.Reposition{ID: "mu-" + strconv.Itoa(i), Lat: 28.2 + r.Float64()/10, Lon: 112.9 + r.Float64()/10,
				By: "user:wang", Sent: r.Int64N(1 << 42), Arrived: []int64{0, 1795958202536}[r.IntN(2)], Note: []string{"", "去岳麓"}[r.IntN(2)]}
		}
		if r.IntN(6) == 0 {
			u.LastConnect = &api.Connection{Addr: "10.0.0.7:51234", At: r.Int64N(1 << 42)}
		}
		if r.IntN(8) == 0 {
			u.LastRefused = &api.Connection{Addr: "10.0.0.9:4000", At: r.Int64N(1 << 42), Reason: "bad_secret"}
		}
		f.Units = append(f.Units, u)
	}
	if r.IntN(3) == 0 {
		f.Coverage = randomCoverage(r, f.Type == api.FrameSnapshot || r.IntN(4) == 0)
	}
	if r.IntN(3) == 0 {
		f.RemovedUnits = []string{"sim-foot-0003"}
		f.Incidents = []Incident{{ID: "inc-1", Status: api.IncidentOpen, Kind: "theft", Priority: 2, Lat: 28.2, Lon: 112.9}}
	}
	return f
}

// randomCoverage is a coverage layer: whole (a snapshot's, or a delta that
// sends the cells again) or a delta's changes.
func randomCoverage(r *rand.Rand, whole bool) *api.Coverage {
	c := &api.Coverage{TS: r.Int64N(1 << 42), Units: r.IntN(50), CoverTier: 2, DemandDays: 30,
		City:      api.CoverageShares{Area: []float64{0.1, 0.6, 0.9}, Demand: []float64{0.12, r.Float64(), 0.95}, Cells: 100},
		Districts: []api.DistrictCoverage{{ID: "yuelu", Name: "岳麓区", CoverageShares: api.CoverageShares{Area: []float64{0, 0.5, 1}, Demand: []float64{0, 0.5, 1}, Cells: 40}, Units: 3}},
		Holes:     []api.CoverageHole{{CentreLat: 28.21, CentreLon: 112.93, Cells: 7, AreaKM2: 0.44, DemandShare: 0.031, District: "yuelu"}}}
	rows, cols := 1+r.IntN(6), 1+r.IntN(6)
	if whole {
		c.Grid = &api.CoverageGrid{MinLat: 28.08, MinLon: 112.85, LatStep: 0.00225, LonStep: 0.00255, Rows: rows, Cols: cols, CellM: 250}
		c.TiersS = []float64{60, 180, 300}
		b := make([]byte, rows*cols)
		for i := range b {
			b[i] = "-0123"[r.IntN(5)]
		}
		c.Cells = string(b)
		return c
	}
	for range r.IntN(5) {
		c.Changes = append(c.Changes, [2]int{r.IntN(rows * cols), r.IntN(4)})
	}
	return c
}

func checkSame(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var want, got Frame
	werr := json.Unmarshal(data, &want)
	gerr := DecodeFrame(data, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json says %v, DecodeFrame %v", data, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q:\nencoding/json %+v\nDecodeFrame   %+v", data, want, got)
	}
	var g Frame
	return fastFrame(data, &g) == nil
}

// The frames the hub sends take the fast path and decode as encoding/json
// decodes them.
func TestDecodeFrameLikeJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		f := randomFrame(r, i%40)
		data, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSame(t, data) {
			t.Errorf("frame %d left the fast path: %s", i, data)
		}
	}
	// The hub's README examples.
	file, err := os.Open("testdata/frames.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			if !checkSame(t, line) {
				t.Errorf("README frame left the fast path: %s", line)
			}
		}
	}
}

// Input that is odd, wrong or beyond the fast path still decodes exactly
// as encoding/json decodes it (or fails as it does).
func TestDecodeFrameOddInput(t *testing.T) {
	cases := []struct {
		in   string
		fast bool // expected to stay on the fast path
	}{
		{`{"type":"delta","seq":1,"ts":2,"units":[]}`, true},
		{`{"type":"delta","units":null}`, true},
		{`{"type":"delta","units":[null,{"id":"a"}]}`, true},
		{` { "type" : "delta" , "units" : [ { "id" : "a" , "lat" : -1.5e-3 , "online" : true } ] } `, true},
		{`{"type":"delta","units":[{"id":"a","lat":null,"ts":null,"seq":null,"capabilities":null,"online":null,"last_seen":null}]}`, true},
		{`{"type":"delta","units":[{"id":"a","district":{"x":[1,"\"",null]}}],"future":true}`, true}, // unknown keys ignored
		{`{"type":"delta","units":[{"id":"a","lat":1},{"id":"b","lat":2,"lat":3}]}`, true},
		{`{"type":"delta","units":[{"id":"a","report_s":5,"protocol":"owntracks"},{"id":"b","report_s":null,"protocol":null}]}`, true},
		{`{"type":"delta","units":[{"id":"a","report_s":"5"}]}`, false},
		// A move-up and the broker's connections: nested, decoded as encoding/json would.
		{`{"type":"delta","units":[{"id":"a","reposition":{"id":"mu-1","lat":28.2,"lon":112.9,"by":"user:wang","sent":5}}]}`, true},
		{`{"type":"delta","units":[{"id":"a","reposition":{"id":"mu-1","lat":1},"reposition":{"lon":2}}]}`, true}, // merged
		{`{"type":"delta","units":[{"id":"a","reposition":{"id":"mu-1"},"reposition":null}]}`, true},              // cleared
		{`{"type":"delta","units":[{"id":"a","reposition":{"ID":"mu-\u00e9","Lat":"x"}}]}`, false},                // a type error
		{`{"type":"delta","units":[{"id":"a","last_connect":{"addr":"1.2.3.4:5","at":1},"last_refused":{"at":2,"reason":"x"}}]}`, true},
		{`{"type":"delta","units":[{"id":"a","agent":"kuaifan-agent/1.1"}]}`, true},
		{`{"type":"delta","units":[{"id":"a","Agent":"kuaifan-agent/1.1"}]}`, false}, // another case: encoding/json's
		{`{"type":"delta","units":[{"id":"a","Reposition":{}}]}`, false},
		// The coverage layer goes through encoding/json with the rest.
		{`{"type":"snapshot","units":[],"incidents":[],"coverage":{"ts":1,"grid":{"rows":1,"cols":3},"tiers_s":[60,180,300],"cells":"-01","cover_tier":2,"city":{"area":[0,0.5,1],"demand":[0,0.4,1]},"holes":[]}}`, true},
		{`{"type":"delta","seq":2,"coverage":{"ts":2,"changes":[[1,2],[2,0]],"units":1,"cover_tier":2,"city":{"demand":[0,0.5,1]}}}`, true},
		{`{"type":"delta","coverage":{"changes":[[1,2,3]]}}`, true}, // the extra element dropped, as encoding/json does
		{`{"type":"delta","Coverage":null}`, false},
		{`{"type":"delta","units":[{"id":"a\u00e9"}]}`, false}, // an escape
		{`{"type":"delta","units":[{"ID":"a"}]}`, false},       // another case
		{`{"Type":"delta"}`, false},
		{`{"type":"delta","units":[{"id":"a","lat":"1"}]}`, false},
		{`{"type":"delta","units":[{"id":"a","ts":1.5}]}`, false},
		{`{"type":"delta","units":[{"id":"a","seq":-1}]}`, false},
		{`{"type":"delta","units":[{"id":"a","lat":1e999}]}`, false},
		{`{"type":"delta","units":[{"id":"a","lat":01}]}`, false},
		{`{"type":"delta","units":[{"id":"a","lat":.5}]}`, false},
		{`{"type":"delta","units":[{"id":"a","lat":1.}]}`, false},
		{`{"type":"delta","units":[{"id":"a","online":tru}]}`, false},
		{`{"type":"delta","units":[{"id":"a"}],"units":[]}`, false},
		{`{"type":"delta","units":[{"id":"a"},]}`, false},
		{`{"type":"delta","units":[{"id":"a"}]}x`, false},
		{"{\"type\":\"delta\",\"units\":[{\"id\":\"a\xff\"}]}", false},
		{"{\"type\":\"delta\"}\x00", false},
		{`{"type":"delta","units":[{"id":"a"}]`, false},
		{`null`, false},
		{`[]`, false},
		{``, false},
	}
	for _, c := range cases {
		if fast := checkSame(t, []byte(c.in)); fast != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.in, fast, c.fast)
		}
	}
}

// FuzzDecodeFrame: DecodeFrame never differs from encoding/json, and never
// panics.
func FuzzDecodeFrame(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 8 {
		data, _ := json.Marshal(randomFrame(r, i))
		f.Add(data)
	}
	f.Add([]byte(`{"type":"delta","units":[{"id":"a","lat":1e5,"seq":18446744073709551615}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
	})
}

func benchDelta(b *testing.B) []byte {
	us := make([]Unit, 500)
	for i := range us {
		us[i] = unitAt("sim-car-"+strconv.Itoa(i), protocol.TypeCar, protocol.StatusAvailable, 28.2+float64(i)*1e-4, 112.98, 1795958202536)
		us[i].HeadingDeg, us[i].SpeedMPS, us[i].AccM, us[i].Battery = fp(193.3), fp(8.17), fp(4.4), fp(0.788)
		us[i].Callsign = "湘A-0001"
		us[i].Capabilities = []string{"armed"}
		s := uint64(1795958193516750)
		us[i].Seq = &s
		us[i].LastSeen = 1795958202536
	}
	data, _ := json.Marshal(Frame{Frame: api.Frame{Type: "delta", Seq: 5, TS: 1, Units: us}})
	return data
}

// A delta of 500 units, as the hub sends every 100 ms at 5,000 units × 1 Hz.
func BenchmarkDecodeDelta500(b *testing.B) {
	data := benchDelta(b)
	b.Run("codec=encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var f Frame
			if err := json.Unmarshal(data, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec=DecodeFrame", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var f Frame
			if err := DecodeFrame(data, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
