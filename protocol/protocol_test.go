package protocol

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// decodeByName decodes a golden file by its name's prefix and re-encodes it.
func roundTrip(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var (
		out []byte
		err error
	)
	switch {
	case strings.HasPrefix(name, "telemetry"):
		var m Telemetry
		if m, err = DecodeTelemetry(data); err == nil {
			out, err = Encode(m)
		}
	case strings.HasPrefix(name, "state"):
		var m State
		if m, err = DecodeState(data); err == nil {
			out, err = Encode(m)
		}
	case strings.HasPrefix(name, "event"):
		var m Event
		if m, err = DecodeEvent(data); err == nil {
			out, err = Encode(m)
		}
	case strings.HasPrefix(name, "command"):
		var m Command
		if m, err = DecodeCommand(data); err == nil {
			out, err = Encode(m)
		}
	case strings.HasPrefix(name, "ack"):
		var m Ack
		if m, err = DecodeAck(data); err == nil {
			out, err = Encode(m)
		}
	default:
		t.Fatalf("no decoder for %s", name)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// The golden files are the contract's examples in canonical form: each decodes
// and encodes back to the same bytes.
func TestGoldenRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want = bytes.TrimSpace(want)
			if got := roundTrip(t, filepath.Base(f), want); !bytes.Equal(got, want) {
				t.Errorf("round trip changed the message\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDecodeTelemetryRejects(t *testing.T) {
	const ok = `"v":1,"unit":"u1","seq":7,"ts":1764403200000,"lat":28.2,"lon":112.9,"status":"available"`
	tests := []struct {
		name   string
		data   string
		field  string
		reason Reason
	}{
		{"not json", `{"v":1,`, "", ReasonSyntax},
		{"array", `[1,2]`, "", ReasonSyntax},
		{"trailing garbage", `{` + ok + `} x`, "", ReasonSyntax},
		{"no version", `{"unit":"u1","seq":7,"ts":1,"lat":1,"lon":1,"status":"available"}`, "v", ReasonVersion},
		{"version 2", `{` + strings.Replace(ok, `"v":1`, `"v":2`, 1) + `}`, "v", ReasonVersion},
		{"no unit", `{"v":1,"seq":7,"ts":1,"lat":1,"lon":1,"status":"available"}`, "unit", ReasonMissing},
		{"no seq", `{"v":1,"unit":"u1","ts":1,"lat":1,"lon":1,"status":"available"}`, "seq", ReasonMissing},
		{"no ts", `{"v":1,"unit":"u1","seq":7,"lat":1,"lon":1,"status":"available"}`, "ts", ReasonMissing},
		{"no lat", `{"v":1,"unit":"u1","seq":7,"ts":1,"lon":1,"status":"available"}`, "lat", ReasonMissing},
		{"null lon", `{"v":1,"unit":"u1","seq":7,"ts":1,"lat":1,"lon":null,"status":"available"}`, "lon", ReasonMissing},
		{"no status", `{"v":1,"unit":"u1","seq":7,"ts":1,"lat":1,"lon":1}`, "status", ReasonMissing},
		{"bad unit", `{` + strings.Replace(ok, `"u1"`, `"u/1"`, 1) + `}`, "unit", ReasonInvalid},
		{"long unit", `{` + strings.Replace(ok, `"u1"`, `"`+strings.Repeat("a", 33)+`"`, 1) + `}`, "unit", ReasonInvalid},
		{"negative seq", `{` + strings.Replace(ok, `"seq":7`, `"seq":-7`, 1) + `}`, "seq", ReasonInvalid},
		{"fractional seq", `{` + strings.Replace(ok, `"seq":7`, `"seq":7.5`, 1) + `}`, "seq", ReasonInvalid},
		{"string ts", `{` + strings.Replace(ok, `"ts":1764403200000`, `"ts":"now"`, 1) + `}`, "ts", ReasonInvalid},
		{"zero ts", `{` + strings.Replace(ok, `"ts":1764403200000`, `"ts":0`, 1) + `}`, "ts", ReasonInvalid},
		{"lat 90.5", `{` + strings.Replace(ok, `"lat":28.2`, `"lat":90.5`, 1) + `}`, "lat", ReasonInvalid},
		{"lon -181", `{` + strings.Replace(ok, `"lon":112.9`, `"lon":-181`, 1) + `}`, "lon", ReasonInvalid},
		{"lat overflow", `{` + strings.Replace(ok, `"lat":28.2`, `"lat":1e400`, 1) + `}`, "lat", ReasonInvalid},
		{"bad status", `{` + strings.Replace(ok, `"available"`, `"asleep"`, 1) + `}`, "status", ReasonInvalid},
		{"negative accuracy", `{` + ok + `,"acc_m":-1}`, "acc_m", ReasonInvalid},
		{"negative speed", `{` + ok + `,"speed_mps":-0.5}`, "speed_mps", ReasonInvalid},
		{"heading 360", `{` + ok + `,"heading_deg":360}`, "heading_deg", ReasonInvalid},
		{"battery 1.5", `{` + ok + `,"battery":1.5}`, "battery", ReasonInvalid},
		{"too large", `{` + ok + `,"pad":"` + strings.Repeat("x", MaxPayload) + `"}`, "", ReasonSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTelemetry([]byte(tt.data))
			checkReject(t, err, "telemetry", tt.field, tt.reason)
		})
	}
	if _, err := DecodeTelemetry([]byte(`{` + ok + `,"future_field":true}`)); err != nil {
		t.Errorf("an unknown field must be ignored for forward compatibility: %v", err)
	}
}

func checkReject(t *testing.T, err error, message, field string, reason Reason) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *protocol.Error", err)
	}
	if pe.Message != message || pe.Field != field || pe.Reason != reason {
		t.Errorf("got %s/%q/%s (%v), want %s/%q/%s", pe.Message, pe.Field, pe.Reason, err, message, field, reason)
	}
	if !strings.Contains(err.Error(), message) || pe.Detail == "" {
		t.Errorf("error %q does not say what and why", err)
	}
}

func TestDecodeStateRejects(t *testing.T) {
	tests := []struct {
		name, data, field string
		reason            Reason
	}{
		{"no online", `{"v":1,"unit":"u1","boot":"b"}`, "online", ReasonMissing},
		{"no boot", `{"v":1,"unit":"u1","online":true}`, "boot", ReasonMissing},
		{"empty boot", `{"v":1,"unit":"u1","online":true,"boot":""}`, "boot", ReasonInvalid},
		{"online string", `{"v":1,"unit":"u1","online":"yes","boot":"b"}`, "online", ReasonInvalid},
		{"bad unit", `{"v":1,"unit":"","online":true,"boot":"b"}`, "unit", ReasonInvalid},
		{"no unit", `{"v":1,"online":true,"boot":"b"}`, "unit", ReasonMissing},
		{"version 0", `{"v":0,"unit":"u1","online":true,"boot":"b"}`, "v", ReasonVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeState([]byte(tt.data))
			checkReject(t, err, "state", tt.field, tt.reason)
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	tests := []struct {
		name, data, field string
		reason            Reason
	}{
		{"no type", `{"v":1,"unit":"u1","seq":1,"ts":5}`, "type", ReasonMissing},
		{"bad type", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"lunch","incident":"i1"}`, "type", ReasonInvalid},
		{"ack without incident", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"ack"}`, "incident", ReasonMissing},
		{"status without status", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"status"}`, "status", ReasonMissing},
		{"status bad", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"status","status":"napping"}`, "status", ReasonInvalid},
		{"bad incident", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"arrived","incident":"a b"}`, "incident", ReasonInvalid},
		{"no seq", `{"v":1,"unit":"u1","ts":5,"type":"cleared","incident":"i1"}`, "seq", ReasonMissing},
		{"no ts", `{"v":1,"unit":"u1","seq":1,"type":"cleared","incident":"i1"}`, "ts", ReasonMissing},
		{"sos lat without lon", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":28.1}`, "lon", ReasonMissing},
		{"sos lon without lat", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lon":112.9}`, "lat", ReasonMissing},
		{"sos lat 91", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":91,"lon":112.9}`, "lat", ReasonInvalid},
		{"sos lon -181", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":28,"lon":-181}`, "lon", ReasonInvalid},
		{"sos lat a string", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","lat":"here","lon":1}`, "lat", ReasonInvalid},
		{"sos bad incident", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"sos","incident":"a b"}`, "incident", ReasonInvalid},
		{"reason on an ack", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"ack","incident":"i1","reason":"sure"}`, "reason", ReasonInvalid},
		{"reason too long", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"decline","incident":"i1","reason":"` + strings.Repeat("x", MaxEventReason+1) + `"}`, "reason", ReasonInvalid},
		{"reason with a newline", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"decline","incident":"i1","reason":"a\nb"}`, "reason", ReasonInvalid},
		{"reason a number", `{"v":1,"unit":"u1","seq":1,"ts":5,"type":"decline","incident":"i1","reason":7}`, "reason", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.data))
			checkReject(t, err, "event", tt.field, tt.reason)
		})
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	tests := []struct {
		name, data, field string
		reason            Reason
	}{
		{"no id", `{"v":1,"ts":5,"type":"cancel","incident":"i1"}`, "id", ReasonMissing},
		{"no type", `{"v":1,"id":"c1","ts":5,"incident":"i1"}`, "type", ReasonMissing},
		{"bad type", `{"v":1,"id":"c1","ts":5,"type":"dance","incident":"i1"}`, "type", ReasonInvalid},
		{"tasks: 33 of them", `{"v":1,"id":"c1","ts":5,"type":"tasks","tasks":[{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9},{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9}]}`, "tasks", ReasonInvalid},
		{"tasks: cover share 1.5", `{"v":1,"id":"c1","ts":5,"type":"tasks","tasks":[{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":28.1,"lon":112.9,"cover_share":1.5}]}`, "tasks", ReasonInvalid},
		{"tasks: shift ends before it starts", `{"v":1,"id":"c1","ts":5,"type":"tasks","tasks":[{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":1,"lat":28.1,"lon":112.9}]}`, "tasks", ReasonInvalid},
		{"tasks: lat 91", `{"v":1,"id":"c1","ts":5,"type":"tasks","tasks":[{"plan":"p","id":"t","kind":"line","shift":"day","shift_start":1,"shift_end":2,"lat":91,"lon":112.9}]}`, "tasks", ReasonInvalid},
		{"dispatch without place", `{"v":1,"id":"c1","ts":5,"type":"dispatch","incident":"i1","priority":1}`, "lat", ReasonMissing},
		{"dispatch without priority", `{"v":1,"id":"c1","ts":5,"type":"dispatch","incident":"i1","lat":1,"lon":2}`, "priority", ReasonMissing},
		{"priority 4", `{"v":1,"id":"c1","ts":5,"type":"dispatch","incident":"i1","lat":1,"lon":2,"priority":4}`, "priority", ReasonInvalid},
		{"cancel without incident", `{"v":1,"id":"c1","ts":5,"type":"cancel"}`, "incident", ReasonMissing},
		{"move to lat 91", `{"v":1,"id":"c1","ts":5,"type":"update_location","incident":"i1","lat":91,"lon":2}`, "lat", ReasonInvalid},
		{"config empty", `{"v":1,"id":"c1","ts":5,"type":"config"}`, "config", ReasonMissing},
		{"lat a string", `{"v":1,"id":"c1","ts":5,"type":"update_location","incident":"i1","lat":"north","lon":2}`, "lat", ReasonInvalid},
		{"priority a string", `{"v":1,"id":"c1","ts":5,"type":"dispatch","incident":"i1","lat":1,"lon":2,"priority":"high"}`, "priority", ReasonInvalid},
		{"config with bad incident", `{"v":1,"id":"c1","ts":5,"type":"config","incident":"a b","config":{"moving_s":1}}`, "incident", ReasonInvalid},
		{"config negative", `{"v":1,"id":"c1","ts":5,"type":"config","config":{"moving_s":-1}}`, "config", ReasonInvalid},
		{"secret short", `{"v":1,"id":"c1","ts":5,"type":"config","secret":"abc"}`, "secret", ReasonInvalid},
		{"secret with space", `{"v":1,"id":"c1","ts":5,"type":"config","secret":"0123456789 abcdef"}`, "secret", ReasonInvalid},
		{"secret long", `{"v":1,"id":"c1","ts":5,"type":"config","secret":"` + strings.Repeat("s", MaxSecretLen+1) + `"}`, "secret", ReasonInvalid},
		{"secret on a dispatch", `{"v":1,"id":"c1","ts":5,"type":"cancel","incident":"i1","secret":"0123456789abcdef"}`, "secret", ReasonInvalid},
		// reposition (additive, 2026-12): a move-up's id and a place, no priority.
		{"reposition without move-up", `{"v":1,"id":"c1","ts":5,"type":"reposition","lat":1,"lon":2}`, "incident", ReasonMissing},
		{"reposition with an empty move-up", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"","lat":1,"lon":2}`, "incident", ReasonMissing},
		{"reposition bad move-up id", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu 1","lat":1,"lon":2}`, "incident", ReasonInvalid},
		{"reposition long move-up id", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"` + strings.Repeat("m", MaxIncidentIDLen+1) + `","lat":1,"lon":2}`, "incident", ReasonInvalid},
		{"reposition without lat", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lon":2}`, "lat", ReasonMissing},
		{"reposition without lon", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1}`, "lon", ReasonMissing},
		{"reposition null lon", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":null}`, "lon", ReasonMissing},
		{"reposition lat 91", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":91,"lon":2}`, "lat", ReasonInvalid},
		{"reposition lon 181", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":181}`, "lon", ReasonInvalid},
		{"reposition with priority 1", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"priority":1}`, "priority", ReasonInvalid},
		{"reposition with priority 4", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"priority":4}`, "priority", ReasonInvalid},
		{"reposition with a secret", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"secret":"0123456789abcdef"}`, "secret", ReasonInvalid},
		{"reposition, type in capitals", `{"v":1,"id":"c1","ts":5,"type":"REPOSITION","incident":"mu-1","lat":1,"lon":2}`, "type", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCommand([]byte(tt.data))
			checkReject(t, err, "command", tt.field, tt.reason)
		})
	}
}

// The reposition command (additive, 2026-12): what it accepts, and that a
// refused type's message lists it among the types.
func TestCommandReposition(t *testing.T) {
	tests := []struct {
		name, data string
	}{
		{"minimal", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-20261207-0001","lat":28.2,"lon":112.9}`},
		{"priority 0 counts as absent", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"priority":0}`},
		{"with a summary and a kind", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":-90,"lon":180,"kind":"move_up","summary":"补位"}`},
		{"unknown fields ignored", `{"v":1,"id":"c1","ts":5,"type":"reposition","incident":"mu-1","lat":1,"lon":2,"radius_m":100}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCommand([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != CmdReposition || !c.Type.Valid() || c.Incident == "" || c.Lat == nil || c.Lon == nil || c.Priority != 0 {
				t.Errorf("decoded %+v", c)
			}
			if _, err := Encode(c); err != nil {
				t.Errorf("Encode refuses what DecodeCommand accepted: %v", err)
			}
		})
	}
	_, err := DecodeCommand([]byte(`{"v":1,"id":"c1","ts":5,"type":"dance","incident":"i1"}`))
	if err == nil || !strings.Contains(err.Error(), "reposition") {
		t.Errorf("the refusal of an unknown type does not list reposition: %v", err)
	}
	if _, err := Encode(Command{ID: "c1", TS: 5, Type: CmdReposition, Incident: "mu-1", Lat: ptr(1), Lon: ptr(2), Priority: 2}); err == nil {
		t.Error("Encode wrote a reposition with a priority")
	}
}

func ptr(x float64) *float64 { return &x }

// testdata/invalid/ holds refused examples of the contract; each is refused
// for the field and reason pinned here, and each file is pinned.
func TestInvalidExamples(t *testing.T) {
	want := map[string]struct {
		field  string
		reason Reason
	}{
		"command_reposition_priority.json":  {"priority", ReasonInvalid},
		"command_reposition_no_lon.json":    {"lon", ReasonMissing},
		"command_reposition_no_moveup.json": {"incident", ReasonMissing},
		"command_tasks_bad_kind.json":       {"tasks", ReasonInvalid},
		"command_config_with_tasks.json":    {"tasks", ReasonInvalid},
	}
	files, err := filepath.Glob("testdata/invalid/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid examples: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("%s is not pinned in this test", name)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(name, "command") {
				t.Fatalf("no decoder for %s", name)
			}
			_, err = DecodeCommand(bytes.TrimSpace(data))
			checkReject(t, err, "command", w.field, w.reason)
		})
	}
	if len(files) != len(want) {
		t.Errorf("%d files, %d pinned", len(files), len(want))
	}
}

// A config command may carry only a secret (additive, 2026-12), and a
// refusal never repeats the secret.
func TestCommandSecret(t *testing.T) {
	const secret = "0123456789abcdef-_~"
	c, err := DecodeCommand([]byte(`{"v":1,"id":"c1","ts":5,"type":"config","secret":"` + secret + `"}`))
	if err != nil || c.Secret != secret || len(c.Config) != 0 {
		t.Fatalf("got %+v, %v", c, err)
	}
	_, err = DecodeCommand([]byte(`{"v":1,"id":"c1","ts":5,"type":"config","secret":"` + secret + ` x"}`))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("refusal %v must not quote the secret", err)
	}
}

func TestDecodeAckRejects(t *testing.T) {
	tests := []struct {
		name, data, field string
		reason            Reason
	}{
		{"no seqs", `{"v":1}`, "seqs", ReasonMissing},
		{"backwards", `{"v":1,"seqs":[[5,4]]}`, "seqs", ReasonInvalid},
		{"three numbers", `{"v":1,"seqs":[[1,2,3]]}`, "seqs", ReasonInvalid},
		{"one number", `{"v":1,"seqs":[[1]]}`, "seqs", ReasonInvalid},
		{"negative", `{"v":1,"seqs":[[-1,2]]}`, "seqs", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAck([]byte(tt.data))
			checkReject(t, err, "ack", tt.field, tt.reason)
		})
	}
	a, err := DecodeAck([]byte(`{"v":1,"seqs":[[1,3],[9,9]]}`))
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]bool{0: false, 1: true, 3: true, 4: false, 9: true, 10: false} {
		if a.Covers(seq) != want {
			t.Errorf("Covers(%d) = %v", seq, !want)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	nan := math.NaN()
	if _, err := Encode(Telemetry{Unit: "u1", TS: 1, Lat: nan, Lon: 0, Status: StatusAvailable}); err == nil {
		t.Error("NaN latitude encoded")
	}
	if _, err := Encode(Telemetry{Unit: "u1", TS: 1, Lat: 1, Lon: 1, Status: StatusAvailable, HeadingDeg: &nan}); err == nil {
		t.Error("NaN heading encoded")
	}
	if _, err := Encode(State{Unit: "u1"}); err == nil {
		t.Error("state without boot encoded")
	}
}

func TestCheckTime(t *testing.T) {
	now := time.UnixMilli(1764403200000)
	if err := CheckTime("telemetry", now.Add(30*time.Second).UnixMilli(), now, time.Minute); err != nil {
		t.Errorf("30 s ahead within a minute's allowance rejected: %v", err)
	}
	err := CheckTime("telemetry", now.Add(2*time.Hour).UnixMilli(), now, time.Minute)
	checkReject(t, err, "telemetry", "ts", ReasonFuture)
	// The error says how far ahead, for the operator fixing the device's clock.
	if !strings.Contains(err.Error(), "2h0m0s ahead") {
		t.Errorf("error %q does not say 2h0m0s ahead", err)
	}
}

func TestTopics(t *testing.T) {
	var def Topics
	if got := def.Unit("car-1", KindTelemetry); got != "rr/units/car-1/telemetry" {
		t.Errorf("Unit = %q", got)
	}
	custom := Topics{Root: "city/cs"}
	if got := custom.All(KindState); got != "city/cs/units/+/state" {
		t.Errorf("All = %q", got)
	}
	tests := []struct {
		topic string
		unit  string
		kind  Kind
		ok    bool
	}{
		{"city/cs/units/car-1/telemetry", "car-1", KindTelemetry, true},
		{"city/cs/units/car-1/ack", "car-1", KindAck, true},
		{"city/cs/units/car-1/telemetry/x", "", "", false},
		{"city/cs/units/car 1/telemetry", "", "", false},
		{"city/cs/units//telemetry", "", "", false},
		{"city/cs/units/car-1/position", "", "", false},
		{"rr/units/car-1/telemetry", "", "", false},
		{"city/cs/units/car-1", "", "", false},
	}
	for _, tt := range tests {
		unit, kind, err := custom.Parse(tt.topic)
		if (err == nil) != tt.ok || unit != tt.unit || kind != tt.kind {
			t.Errorf("Parse(%q) = %q, %q, %v", tt.topic, unit, kind, err)
		}
	}
	for root, want := range map[string]bool{"rr": true, "a/b": true, "": false, "a/+": false, "a//b": false, "#": false} {
		if ValidRoot(root) != want {
			t.Errorf("ValidRoot(%q) = %v", root, !want)
		}
	}
}

func TestHaversine(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{"same point", 28.2, 112.9, 28.2, 112.9, 0, 1e-9},
		{"one degree of latitude", 0, 0, 1, 0, 111195.08, 0.1},
		{"across the antimeridian", 0, 179.9, 0, -179.9, 22239.0, 1},
		{"antipodes", 0, 0, 0, 180, math.Pi * EarthRadiusM, 1},
		// Changsha railway station to Huanghua airport, about 20.5 km.
		{"Changsha", 28.1960, 113.0117, 28.1892, 113.2200, 20440, 150},
	}
	for _, tt := range tests {
		if got := Haversine(tt.lat1, tt.lon1, tt.lat2, tt.lon2); math.Abs(got-tt.want) > tt.tol {
			t.Errorf("%s: %.2f m, want %.2f ± %.2f", tt.name, got, tt.want, tt.tol)
		}
	}
	if ValidLatLon(math.NaN(), 0) || ValidLatLon(0, math.Inf(1)) || !ValidLatLon(-90, 180) {
		t.Error("ValidLatLon accepts NaN/Inf or refuses the corners")
	}
}
