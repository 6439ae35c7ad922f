package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Each decoder either rejects its input with an *Error or accepts a message
// that Encode accepts and that decodes back to the same value.
func fuzzDecoder[M Telemetry | State | Event | Command | Ack](f *testing.F, prefix string, decode func([]byte) (M, error)) {
	files, _ := filepath.Glob(filepath.Join("testdata", "valid", prefix+"*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSpace(data))
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is %T, not *protocol.Error", err, err)
			}
			return
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %+v but Encode refuses it: %v", m, err)
		}
		again, err := decode(out)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}

func FuzzDecodeTelemetry(f *testing.F) { fuzzDecoder(f, "telemetry", DecodeTelemetry) }
func FuzzDecodeState(f *testing.F)     { fuzzDecoder(f, "state", DecodeState) }
func FuzzDecodeEvent(f *testing.F) {
	// The sos type (additive, 2026-12) also comes from testdata/valid/event_sos*.json;
	// these add the edges of its optional position.
	f.Add([]byte(`{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":-90,"lon":180}`))
	f.Add([]byte(`{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":0}`))
	f.Add([]byte(`{"v":1,"unit":"u1","seq":1,"ts":5,"type":"ack","incident":"i1","lat":1,"lon":2}`))
	fuzzDecoder(f, "event", DecodeEvent)
}
func FuzzDecodeCommand(f *testing.F) {
	// reposition (additive, 2026-12) also comes from testdata/valid/command_reposition.json;
	// these add its priority's edge and a missing coordinate.
	f.Add([]byte(`{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"priority":0}`))
	f.Add([]byte(`{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"priority":1}`))
	f.Add([]byte(`{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1}`))
	fuzzDecoder(f, "command", DecodeCommand)
}
func FuzzDecodeAck(f *testing.F) { fuzzDecoder(f, "ack", DecodeAck) }
