package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"kuaifan/protocol"
)

// Version 1 of the store kept the history of positions and events in
// hub.db under these keys. History now lives in <data>/history (package
// history, pebble); Open moves what a v1 file still holds there
// (migrate.go). The encoding below is kept only to read v1 records.
//
// A v1 position was stored compactly: the key carries the unit, the time
// and the sequence number in binary, the value the rest as short text.
const (
	positionPrefix = "p:"
	eventPrefix    = "e:"
)

// historyKey is {prefix}{unit}:{ts, 8 bytes big-endian}{seq, 8 bytes big-endian}.
// Unit ids never contain ':', so one unit's records form one contiguous range.
func historyKey(prefix, id string, ts int64, seq uint64) string {
	b := make([]byte, 0, len(prefix)+len(id)+1+16)
	b = append(b, prefix...)
	b = append(b, id...)
	b = append(b, ':')
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, seq)
	return string(b)
}

// parseHistoryKey returns the time and sequence number at the end of a history key.
func parseHistoryKey(key string) (ts int64, seq uint64, err error) {
	if len(key) < 16 {
		return 0, 0, fmt.Errorf("history key %q is too short", key)
	}
	tail := key[len(key)-16:]
	return int64(binary.BigEndian.Uint64([]byte(tail[:8]))), binary.BigEndian.Uint64([]byte(tail[8:])), nil
}

var statusCodes = map[protocol.Status]byte{
	protocol.StatusAvailable: 'a', protocol.StatusEnroute: 'e', protocol.StatusOnScene: 's',
	protocol.StatusBusy: 'b', protocol.StatusOffDuty: 'o',
}

func statusOf(code byte) (protocol.Status, bool) {
	for s, c := range statusCodes {
		if c == code {
			return s, true
		}
	}
	return "", false
}

// encodePosition writes "lat,lon,status,acc,speed,heading,battery" with the
// status as one letter and absent optional fields empty.
func encodePosition(p Position) string {
	b := make([]byte, 0, 48)
	b = strconv.AppendFloat(b, p.Lat, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.Lon, 'f', -1, 64)
	b = append(b, ',', statusCodes[p.Status])
	for _, v := range []*float64{p.AccM, p.SpeedMPS, p.HeadingDeg, p.Battery} {
		b = append(b, ',')
		if v != nil {
			b = strconv.AppendFloat(b, *v, 'f', -1, 64)
		}
	}
	return string(b)
}

func decodePosition(ts int64, seq uint64, val string) (Position, error) {
	f := strings.Split(val, ",")
	if len(f) != 7 || len(f[2]) != 1 {
		return Position{}, fmt.Errorf("position %q: want 7 fields", val)
	}
	p := Position{Seq: seq, TS: ts}
	var err1, err2 error
	p.Lat, err1 = strconv.ParseFloat(f[0], 64)
	p.Lon, err2 = strconv.ParseFloat(f[1], 64)
	status, ok := statusOf(f[2][0])
	if err := errors.Join(err1, err2); err != nil || !ok {
		return Position{}, fmt.Errorf("position %q: %v", val, errors.Join(err, errors.New("bad status")))
	}
	p.Status = status
	for i, dst := range []**float64{&p.AccM, &p.SpeedMPS, &p.HeadingDeg, &p.Battery} {
		if f[3+i] == "" {
			continue
		}
		v, err := strconv.ParseFloat(f[3+i], 64)
		if err != nil {
			return Position{}, fmt.Errorf("position %q: %w", val, err)
		}
		*dst = &v
	}
	return p, nil
}
