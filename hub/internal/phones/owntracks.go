package phones

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// MaxPayload bounds a phone's report (the body of a request, an MQTT
// payload). A location is a few hundred bytes; what is larger (an OwnTracks
// card with a picture) is not a position.
const MaxPayload = 64 << 10

// OwnTracks is a decoded OwnTracks message.
type OwnTracks struct {
	Type  string // _type: "location", "transition", "waypoint", "lwt", "card", …
	Topic string // "topic", which the app adds in HTTP mode: owntracks/{user}/{device}; "" if absent
	Fix   *Fix   // only for a location
}

// DecodeOwnTracks reads an OwnTracks message (the app's JSON, as published
// over MQTT or POSTed in HTTP mode). Every _type but "location" decodes with
// a nil Fix, to be accepted and ignored: the app sends transitions,
// waypoints, its Last Will and more, and must not be refused for them.
//
// A location maps lat, lon, tst (Unix seconds), acc (m), vel (km/h), cog
// (degrees) and batt (%); alt, tid, t, conn, bs, created_at, inregions and
// the rest are ignored. Errors are *protocol.Error (message "owntracks",
// the OwnTracks field).
func DecodeOwnTracks(data []byte) (OwnTracks, error) {
	const m = "owntracks"
	fields, err := object(m, data)
	if err != nil {
		return OwnTracks{}, err
	}
	var out OwnTracks
	if err := str(m, fields, "_type", &out.Type); err != nil {
		return OwnTracks{}, err
	}
	if out.Type == "" {
		return OwnTracks{}, missing(m, "_type")
	}
	if err := str(m, fields, "topic", &out.Topic); err != nil {
		return OwnTracks{}, err
	}
	if out.Type != "location" {
		return out, nil
	}
	f := &Fix{}
	var tst float64
	for _, req := range []struct {
		name string
		v    *float64
	}{{"lat", &f.Lat}, {"lon", &f.Lon}, {"tst", &tst}} {
		ok, err := number(m, fields, req.name, req.v)
		if err != nil {
			return OwnTracks{}, err
		}
		if !ok {
			return OwnTracks{}, missing(m, req.name)
		}
	}
	if !(tst > 0 && tst*1000 <= maxTS) {
		return OwnTracks{}, invalid(m, "tst", num(tst)+" is not a Unix time in seconds")
	}
	f.TS = int64(math.Round(tst * 1000))
	if err := checkPlace(m, "tst", "lat", "lon", f); err != nil {
		return OwnTracks{}, err
	}
	var v float64
	if ok, err := number(m, fields, "acc", &v); err != nil {
		return OwnTracks{}, err
	} else if ok {
		if f.AccM, err = accuracy(m, "acc", v); err != nil {
			return OwnTracks{}, err
		}
	}
	if ok, err := number(m, fields, "vel", &v); err != nil {
		return OwnTracks{}, err
	} else if ok {
		if f.SpeedMPS, err = speed(m, "vel", v, mpsPerKmh); err != nil {
			return OwnTracks{}, err
		}
	}
	if ok, err := number(m, fields, "cog", &v); err != nil {
		return OwnTracks{}, err
	} else if ok {
		if f.HeadingDeg, err = heading(m, "cog", v); err != nil {
			return OwnTracks{}, err
		}
	}
	if ok, err := number(m, fields, "batt", &v); err != nil {
		return OwnTracks{}, err
	} else if ok {
		if f.Battery, err = battery(m, "batt", v, 100); err != nil {
			return OwnTracks{}, err
		}
	}
	out.Fix = f
	return out, nil
}

// object reads one JSON object, nothing after it, at most MaxPayload bytes.
func object(m string, data []byte) (map[string]json.RawMessage, error) {
	if len(data) > MaxPayload {
		return nil, syntax(m, "more than "+strconv.Itoa(MaxPayload)+" bytes")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, syntax(m, "not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, syntax(m, "text after the JSON object")
	}
	return fields, nil
}

// isNull: a field that is null counts as absent, as in kuaifan's protocol.
func isNull(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }

// number reads an optional JSON number; ok is false when it is absent.
func number(m string, fields map[string]json.RawMessage, name string, v *float64) (ok bool, err error) {
	raw := fields[name]
	if isNull(raw) {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, invalid(m, name, "not a number")
	}
	return true, nil
}

// str reads an optional JSON string.
func str(m string, fields map[string]json.RawMessage, name string, v *string) error {
	raw := fields[name]
	if isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return invalid(m, name, "not a string")
	}
	return nil
}
