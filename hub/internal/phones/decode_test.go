package phones

import (
	"errors"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/protocol"
)

const tst = int64(1765091995000) // 2025-12-07T07:19:55Z, the testdata's time

func f64(v float64) *float64 { return &v }

// want is a decoded fix or the refusal expected of one testdata file.
type want struct {
	fix    *Fix // nil with err == "": a message accepted and ignored
	reason protocol.Reason
	field  string
}

func bad(reason protocol.Reason, field string) want { return want{reason: reason, field: field} }

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeOwnTracks(t *testing.T) {
	loc := func(f Fix) want { return want{fix: &f} }
	tests := map[string]want{
		"location_android.json": loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, AccM: f64(12),
			SpeedMPS: f64(10), HeadingDeg: f64(271), Battery: f64(0.68)}),
		// iOS marks an unknown speed and course with -1: left out, not refused.
		"location_ios.json":     loc(Fix{TS: tst, Lat: 28.19423, Lon: 112.98241, AccM: f64(5), Battery: f64(0.87)}),
		"location_minimal.json": loc(Fix{TS: tst, Lat: -33.8688, Lon: -180}),
		"location_nulls.json":   loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823}),
		"location_cog360.json": loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, AccM: f64(0), SpeedMPS: f64(0),
			HeadingDeg: f64(0), Battery: f64(1)}),
		"transition.json": {},
		"waypoint.json":   {},
		"lwt.json":        {},
		"card.json":       {},
		"status.json":     {},

		"bad_lat91.json":          bad(protocol.ReasonInvalid, "lat"),
		"bad_lon_string.json":     bad(protocol.ReasonInvalid, "lon"),
		"bad_lat_nan_string.json": bad(protocol.ReasonInvalid, "lat"),
		"bad_nan_literal.json":    bad(protocol.ReasonSyntax, ""),
		"bad_missing_tst.json":    bad(protocol.ReasonMissing, "tst"),
		"bad_tst_string.json":     bad(protocol.ReasonInvalid, "tst"),
		"bad_tst_zero.json":       bad(protocol.ReasonInvalid, "tst"),
		"bad_tst_year_99999.json": bad(protocol.ReasonInvalid, "tst"),
		"bad_batt.json":           bad(protocol.ReasonInvalid, "batt"),
		"bad_cog.json":            bad(protocol.ReasonInvalid, "cog"),
		"bad_acc.json":            bad(protocol.ReasonInvalid, "acc"),
		"bad_vel_bool.json":       bad(protocol.ReasonInvalid, "vel"),
		"bad_no_type.json":        bad(protocol.ReasonMissing, "_type"),
		"bad_type_number.json":    bad(protocol.ReasonInvalid, "_type"),
		"bad_array.json":          bad(protocol.ReasonSyntax, ""),
		"bad_trailing.json":       bad(protocol.ReasonSyntax, ""),
		"bad_text.json":           bad(protocol.ReasonSyntax, ""),
	}
	files, _ := filepath.Glob("testdata/owntracks/*.json")
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/owntracks, %d cases: every file needs its case", len(files), len(tests))
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			msg, err := DecodeOwnTracks(read(t, "owntracks/"+name))
			check(t, err, w, msg.Fix)
			if err == nil && msg.Type == "" {
				t.Error("no _type")
			}
			if name == "location_android.json" && msg.Topic != "owntracks/car-017/phone" {
				t.Errorf("topic %q", msg.Topic)
			}
		})
	}
}

func TestDecodeOsmAndQuery(t *testing.T) {
	loc := func(f Fix) want { return want{fix: &f} }
	tests := map[string]want{
		"android.query": loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, AccM: f64(12),
			SpeedMPS: f64(19.4384 * 1852 / 3600), HeadingDeg: f64(271), Battery: f64(0.68)}),
		// OsmAnd's own app sends milliseconds.
		"osmand_app.query":          loc(Fix{TS: tst + 123, Lat: 28.1941, Lon: 112.9823, SpeedMPS: f64(0)}),
		"iso.query":                 loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, HeadingDeg: f64(90)}),
		"iso_fraction_offset.query": loc(Fix{TS: tst + 123, Lat: 28.1941, Lon: 112.9823}),
		"sqltime.query":             loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823}),
		"minimal.query":             loc(Fix{TS: tst, Lat: -90, Lon: 180}),
		"ios_unknown.query":         loc(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, AccM: f64(65)}),

		"bad_lat91.query":              bad(protocol.ReasonInvalid, "lat"),
		"bad_lat_nan.query":            bad(protocol.ReasonInvalid, "lat"),
		"bad_lon_inf.query":            bad(protocol.ReasonInvalid, "lon"),
		"bad_lat_hex.query":            bad(protocol.ReasonInvalid, "lat"),
		"bad_missing_timestamp.query":  bad(protocol.ReasonMissing, "timestamp"),
		"bad_timestamp_words.query":    bad(protocol.ReasonInvalid, "timestamp"),
		"bad_timestamp_negative.query": bad(protocol.ReasonInvalid, "timestamp"),
		"bad_missing_lat.query":        bad(protocol.ReasonMissing, "lat"),
		"bad_missing_id.query":         bad(protocol.ReasonMissing, "id"),
		"bad_twice.query":              bad(protocol.ReasonInvalid, "lat"),
		"bad_batt.query":               bad(protocol.ReasonInvalid, "batt"),
		"bad_bearing.query":            bad(protocol.ReasonInvalid, "bearing"),
		"bad_location.query":           bad(protocol.ReasonInvalid, "location"),
	}
	files, _ := filepath.Glob("testdata/osmand/*.query")
	if len(files) != len(tests) {
		t.Errorf("%d query files in testdata/osmand, %d cases", len(files), len(tests))
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(strings.TrimSpace(string(read(t, "osmand/"+name))))
			if err != nil {
				t.Fatal(err)
			}
			id, f, err := DecodeOsmAndQuery(q)
			check(t, err, w, &f)
			if err == nil && id != "car-017" {
				t.Errorf("id %q", id)
			}
		})
	}
}

func TestDecodeOsmAndJSON(t *testing.T) {
	one := func(f Fix) want { return want{fix: &f} }
	tests := map[string]want{
		"traccar9.json": one(Fix{TS: tst + 123, Lat: 28.1941, Lon: 112.9823, AccM: f64(4.8), SpeedMPS: f64(10),
			HeadingDeg: f64(271), Battery: f64(0.68)}),
		"traccar9_ios_unknown.json": one(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823, AccM: f64(65)}),
		"traccar9_minimal.json":     one(Fix{TS: tst, Lat: 28.1941, Lon: 112.9823}),

		"bad_json_lat91.json":           bad(protocol.ReasonInvalid, "location.coords.latitude"),
		"bad_json_lat_string.json":      bad(protocol.ReasonInvalid, "location.coords.latitude"),
		"bad_json_no_timestamp.json":    bad(protocol.ReasonMissing, "location.timestamp"),
		"bad_json_timestamp_epoch.json": bad(protocol.ReasonInvalid, "location.timestamp"),
		"bad_json_no_coords.json":       bad(protocol.ReasonMissing, "location.coords"),
		"bad_json_no_device.json":       bad(protocol.ReasonMissing, "device_id"),
		"bad_json_battery.json":         bad(protocol.ReasonInvalid, "location.battery.level"),
		"bad_json_device_number.json":   bad(protocol.ReasonInvalid, "device_id"),
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			id, fixes, err := DecodeOsmAndJSON(read(t, "osmand/"+name))
			var f *Fix
			if err == nil {
				if len(fixes) != 1 {
					t.Fatalf("%d fixes", len(fixes))
				}
				f = &fixes[0]
				if id != "car-017" {
					t.Errorf("id %q", id)
				}
			}
			check(t, err, w, f)
		})
	}
	t.Run("traccar9_batch.json", func(t *testing.T) {
		_, fixes, err := DecodeOsmAndJSON(read(t, "osmand/traccar9_batch.json"))
		if err != nil || len(fixes) != 2 || fixes[1].TS != tst+10000 || *fixes[1].SpeedMPS != 2 {
			t.Fatalf("got %+v, %v", fixes, err)
		}
	})
}

// check compares a decoder's result with w.
func check(t *testing.T, err error, w want, got *Fix) {
	t.Helper()
	if w.reason != "" {
		var perr *protocol.Error
		if !errors.As(err, &perr) {
			t.Fatalf("want %s on %q, got %v (%+v)", w.reason, w.field, err, got)
		}
		if perr.Reason != w.reason || perr.Field != w.field {
			t.Fatalf("want %s on %q, got %s on %q: %v", w.reason, w.field, perr.Reason, perr.Field, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if w.fix == nil {
		if got != nil {
			t.Fatalf("want an ignored message, got a fix %+v", *got)
		}
		return
	}
	if got == nil {
		t.Fatal("want a fix, got none")
	}
	if got.TS != w.fix.TS || got.Lat != w.fix.Lat || got.Lon != w.fix.Lon {
		t.Errorf("fix at %d %v,%v; want %d %v,%v", got.TS, got.Lat, got.Lon, w.fix.TS, w.fix.Lat, w.fix.Lon)
	}
	for _, o := range []struct {
		name      string
		got, want *float64
	}{{"acc", got.AccM, w.fix.AccM}, {"speed", got.SpeedMPS, w.fix.SpeedMPS},
		{"heading", got.HeadingDeg, w.fix.HeadingDeg}, {"battery", got.Battery, w.fix.Battery}} {
		switch {
		case (o.got == nil) != (o.want == nil):
			t.Errorf("%s: got %v, want %v", o.name, o.got, o.want)
		case o.got != nil && math.Abs(*o.got-*o.want) > 1e-9:
			t.Errorf("%s: got %v, want %v", o.name, *o.got, *o.want)
		}
	}
	// Whatever decodes is a valid kuaifan report.
	tel := got.Telemetry("car-017", protocol.StatusAvailable)
	if err := tel.Validate(); err != nil {
		t.Errorf("telemetry of the fix: %v", err)
	}
	if tel.Seq != uint64(got.TS)*1000 {
		t.Errorf("seq %d for ts %d", tel.Seq, got.TS)
	}
}

func TestSeqIsTheFixTime(t *testing.T) {
	a, _ := DecodeOwnTracks(read(t, "owntracks/location_android.json"))
	b, _ := DecodeOwnTracks(read(t, "owntracks/location_ios.json"))
	// The same fix time from two sends: one seq, so the second is a duplicate.
	if a.Fix.Seq() != b.Fix.Seq() || a.Fix.Seq() != 1765091995000000 {
		t.Fatalf("seqs %d, %d", a.Fix.Seq(), b.Fix.Seq())
	}
}

// FuzzOwnTracks: no input panics, and whatever decodes to a fix is a valid report.
func FuzzOwnTracks(f *testing.F) {
	files, _ := filepath.Glob("testdata/owntracks/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeOwnTracks(data)
		if err != nil {
			var perr *protocol.Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is not a *protocol.Error: %v", err)
			}
			return
		}
		if msg.Fix != nil {
			if err := msg.Fix.Telemetry("u", protocol.StatusAvailable).Validate(); err != nil {
				t.Fatalf("decoded %q to an invalid report: %v", data, err)
			}
		}
	})
}

// FuzzOsmAnd fuzzes both forms: the input is a query and a JSON body.
func FuzzOsmAnd(f *testing.F) {
	files, _ := filepath.Glob("testdata/osmand/*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, data string) {
		valid := func(f Fix, err error) {
			if err != nil {
				var perr *protocol.Error
				if !errors.As(err, &perr) {
					t.Fatalf("error is not a *protocol.Error: %v", err)
				}
				return
			}
			if err := f.Telemetry("u", protocol.StatusAvailable).Validate(); err != nil {
				t.Fatalf("decoded %q to an invalid report: %v", data, err)
			}
		}
		if q, err := url.ParseQuery(strings.TrimSpace(data)); err == nil {
			_, fix, err := DecodeOsmAndQuery(q)
			valid(fix, err)
		}
		_, fixes, err := DecodeOsmAndJSON([]byte(data))
		if err != nil {
			valid(Fix{}, err)
		}
		for _, fix := range fixes {
			valid(fix, nil)
		}
	})
}
