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
		f.Units = append(f.Units, u)
	}
	if r.IntN(3) == 0 {
		f.RemovedUnits = []string{"sim-foot-0003"}
		f.Incidents = []Incident{{ID: "inc-1", Status: api.IncidentOpen, Kind: "theft", Priority: 2, Lat: 28.2, Lon: 112.9}}
	}
	return f
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
