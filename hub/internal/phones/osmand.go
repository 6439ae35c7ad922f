package phones

import (
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// OsmAndSecret is the query (or form) parameter that carries a unit's
// secret: Traccar Client cannot be set up to send Basic credentials, but
// keeps the query of the server URL it is given.
const OsmAndSecret = "secret"

// DecodeOsmAndQuery reads the OsmAnd protocol's query form, as Traccar Client
// (up to version 8) and the OsmAnd app send it: id (or deviceid), lat and
// lon (or location=lat,lon), timestamp (Unix seconds or milliseconds, told
// apart as Traccar does; ISO 8601; or "yyyy-MM-dd HH:mm:ss" UTC), speed
// (knots), bearing or heading (degrees), accuracy (m), batt (%). altitude,
// hdop, charge, valid, the secret and any other parameter are ignored.
//
// Unlike Traccar, a report without a timestamp is refused: the fix's time is
// its identity (see Fix.Seq), and the hub's clock at arrival would make a
// resend a second point. Numbers are plain decimals: NaN, Inf and hex are
// refused. A parameter given twice is refused, not guessed at. Errors are
// *protocol.Error (message "osmand", the parameter).
func DecodeOsmAndQuery(q url.Values) (id string, f Fix, err error) {
	const m = "osmand"
	one := func(names ...string) (string, string, error) {
		found, name := []string(nil), ""
		for _, n := range names {
			if vs, ok := q[n]; ok {
				if found != nil || len(vs) != 1 {
					return "", n, invalid(m, n, "given more than once")
				}
				found, name = vs, n
			}
		}
		if found == nil {
			return "", names[0], nil
		}
		return found[0], name, nil
	}
	if id, _, err = one("id", "deviceid"); err != nil {
		return "", Fix{}, err
	}
	if id == "" {
		return "", Fix{}, missing(m, "id")
	}
	lat, _, err := one("lat")
	if err != nil {
		return "", Fix{}, err
	}
	lon, _, err := one("lon")
	if err != nil {
		return "", Fix{}, err
	}
	loc, _, err := one("location")
	if err != nil {
		return "", Fix{}, err
	}
	latName, lonName := "lat", "lon"
	if lat == "" && lon == "" && loc != "" {
		var ok bool
		if lat, lon, ok = strings.Cut(loc, ","); !ok {
			return "", Fix{}, invalid(m, "location", "not lat,lon")
		}
		latName, lonName = "location", "location"
	}
	if lat == "" {
		return "", Fix{}, missing(m, "lat")
	}
	if lon == "" {
		return "", Fix{}, missing(m, "lon")
	}
	if f.Lat, err = decimal(m, latName, lat); err != nil {
		return "", Fix{}, err
	}
	if f.Lon, err = decimal(m, lonName, lon); err != nil {
		return "", Fix{}, err
	}
	ts, _, err := one("timestamp")
	if err != nil {
		return "", Fix{}, err
	}
	if ts == "" {
		return "", Fix{}, missing(m, "timestamp")
	}
	if f.TS, err = osmAndTime(m, "timestamp", ts); err != nil {
		return "", Fix{}, err
	}
	if err := checkPlace(m, "timestamp", latName, lonName, &f); err != nil {
		return "", Fix{}, err
	}
	optional := func(convert func(name string, v float64) error, names ...string) error {
		s, name, err := one(names...)
		if err != nil || s == "" {
			return err
		}
		v, err := decimal(m, name, s)
		if err != nil {
			return err
		}
		return convert(name, v)
	}
	err = optional(func(name string, v float64) (err error) {
		f.AccM, err = accuracy(m, name, v)
		return err
	}, "accuracy")
	if err == nil {
		err = optional(func(name string, v float64) (err error) {
			f.SpeedMPS, err = speed(m, name, v, mpsPerKnot)
			return err
		}, "speed")
	}
	if err == nil {
		err = optional(func(name string, v float64) (err error) {
			f.HeadingDeg, err = heading(m, name, v)
			return err
		}, "bearing", "heading")
	}
	if err == nil {
		err = optional(func(name string, v float64) (err error) {
			f.Battery, err = battery(m, name, v, 100)
			return err
		}, "batt")
	}
	if err != nil {
		return "", Fix{}, err
	}
	return id, f, nil
}

// osmAndTime reads the query form's timestamp: an integer below 2³¹−1 is
// seconds, a larger one milliseconds (Traccar's rule); else a date.
func osmAndTime(m, field, s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < math.MaxInt32 {
			n *= 1000
		}
		if n <= 0 || n > maxTS {
			return 0, invalid(m, field, "not a time between 1970 and 9999")
		}
		return n, nil
	}
	t, ok := parseTime(s)
	if !ok {
		return 0, invalid(m, field, "not Unix seconds or milliseconds, nor an ISO 8601 time")
	}
	return t.UnixMilli(), nil
}

// decimal parses a plain decimal: [+-]digits[.digits][e[+-]digits].
// strconv.ParseFloat alone also takes NaN, Inf, hex and underscores.
func decimal(m, field, s string) (float64, error) {
	if len(s) > 64 || !isDecimal(s) {
		return 0, invalid(m, field, "not a decimal number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, invalid(m, field, "not a finite decimal number")
	}
	return v, nil
}

func isDecimal(s string) bool {
	i := 0
	sign := func() {
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
	}
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	sign()
	if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		sign()
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// DecodeOsmAndJSON reads the JSON form Traccar Client 9 posts (the
// background-geolocation format Traccar's OsmAnd decoder reads):
//
//	{"device_id":"car-017","location":{"timestamp":"2026-12-07T08:00:00.123Z",
//	 "coords":{"latitude":28.19,"longitude":112.98,"accuracy":5,"speed":3.2,"heading":90,"altitude":40},
//	 "is_moving":true,"event":"motionchange","battery":{"level":0.8,"is_charging":false}}}
//
// location may also be a list of such objects (a batch); each becomes a Fix.
// speed is m/s, battery.level 0 … 1; a negative speed, heading or level is
// the platform's "unknown" and left out. altitude, odometer, activity,
// is_moving, event, extras and the rest are ignored. Errors are
// *protocol.Error (message "osmand", the field's path).
func DecodeOsmAndJSON(data []byte) (id string, fixes []Fix, err error) {
	const m = "osmand"
	fields, err := object(m, data)
	if err != nil {
		return "", nil, err
	}
	if err := str(m, fields, "device_id", &id); err != nil {
		return "", nil, err
	}
	if id == "" {
		return "", nil, missing(m, "device_id")
	}
	raw := fields["location"]
	if isNull(raw) {
		return "", nil, missing(m, "location")
	}
	var locs []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &locs); err != nil {
			return "", nil, invalid(m, "location", "not a list of objects")
		}
		if len(locs) == 0 {
			return "", nil, missing(m, "location")
		}
	} else {
		locs = []json.RawMessage{raw}
	}
	for _, l := range locs {
		f, err := osmAndLocation(m, l)
		if err != nil {
			return "", nil, err
		}
		fixes = append(fixes, f)
	}
	return id, fixes, nil
}

func osmAndLocation(m string, raw json.RawMessage) (Fix, error) {
	var loc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &loc); err != nil || loc == nil {
		return Fix{}, invalid(m, "location", "not an object")
	}
	var f Fix
	var ts string
	if err := str(m, loc, "timestamp", &ts); err != nil {
		return Fix{}, invalid(m, "location.timestamp", "not an ISO 8601 time")
	}
	if ts == "" {
		return Fix{}, missing(m, "location.timestamp")
	}
	t, ok := parseTime(ts)
	if !ok {
		return Fix{}, invalid(m, "location.timestamp", "not an ISO 8601 time")
	}
	f.TS = t.UnixMilli()
	rawCoords := loc["coords"]
	if isNull(rawCoords) {
		return Fix{}, missing(m, "location.coords")
	}
	var coords map[string]json.RawMessage
	if err := json.Unmarshal(rawCoords, &coords); err != nil || coords == nil {
		return Fix{}, invalid(m, "location.coords", "not an object")
	}
	const c = "location.coords."
	get := func(name string, v *float64) (bool, error) {
		ok, err := number(m, coords, name, v)
		if err != nil {
			return false, invalid(m, c+name, "not a number")
		}
		return ok, nil
	}
	for _, req := range []struct {
		name string
		v    *float64
	}{{"latitude", &f.Lat}, {"longitude", &f.Lon}} {
		ok, err := get(req.name, req.v)
		if err != nil {
			return Fix{}, err
		}
		if !ok {
			return Fix{}, missing(m, c+req.name)
		}
	}
	if err := checkPlace(m, "location.timestamp", c+"latitude", c+"longitude", &f); err != nil {
		return Fix{}, err
	}
	var v float64
	var err error
	if ok, gerr := get("accuracy", &v); gerr != nil {
		return Fix{}, gerr
	} else if ok {
		if f.AccM, err = accuracy(m, c+"accuracy", v); err != nil {
			return Fix{}, err
		}
	}
	if ok, gerr := get("speed", &v); gerr != nil {
		return Fix{}, gerr
	} else if ok {
		if f.SpeedMPS, err = speed(m, c+"speed", v, 1); err != nil {
			return Fix{}, err
		}
	}
	if ok, gerr := get("heading", &v); gerr != nil {
		return Fix{}, gerr
	} else if ok {
		if f.HeadingDeg, err = heading(m, c+"heading", v); err != nil {
			return Fix{}, err
		}
	}
	if rawBatt := loc["battery"]; !isNull(rawBatt) {
		var batt map[string]json.RawMessage
		if err := json.Unmarshal(rawBatt, &batt); err != nil || batt == nil {
			return Fix{}, invalid(m, "location.battery", "not an object")
		}
		if ok, err := number(m, batt, "level", &v); err != nil {
			return Fix{}, invalid(m, "location.battery.level", "not a number")
		} else if ok {
			if f.Battery, err = battery(m, "location.battery.level", v, 1); err != nil {
				return Fix{}, err
			}
		}
	}
	return f, nil
}
