package history

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"kuaifan/protocol"
)

// Keys. Every day DB holds three key spaces; the day itself is the
// directory, so it is not repeated in the keys.
//
//	positions  'P' | unit | 0x00 | ts u64 BE | seq u64 BE         -> position value
//	area       'A' | cell u32 BE | minute of day u16 BE | unit    -> empty
//	events     'E' | unit | 0x00 | ts u64 BE | seq u64 BE         -> event value (JSON)
//
// Unit ids never contain a zero byte, so the 0x00 after the unit makes one
// unit's records one contiguous range and orders units as strings. ts is
// stored with its sign bit flipped so that the byte order is the numeric
// order for every int64.
//
// The area key is an index, not a copy: it says that the unit sent at least
// one position from this 0.01° cell (about 1.1 km × 1 km) during this
// minute. A unit reporting every 10 s stays in one cell for most of a minute,
// so there is about one area key per 4–6 positions, and the key shares its
// cell and minute prefix with its neighbours in the sstable; together that
// costs a few bytes per position, where a copy of the record per position
// would cost ~25 and a pointer per position ~28. A box query reads the area
// keys of its cells and minutes to learn which units were there and when,
// then reads those units' positions of those minutes from the 'P' range,
// which is contiguous per unit, and keeps the ones inside the box.
const (
	kindPosition = 'P'
	kindArea     = 'A'
	kindEvent    = 'E'

	unitEnd = 0x00

	cellsPerDegree = 100
	msPerMinute    = 60_000
	msPerDay       = 86_400_000
)

// recordKey is the key of a position or event of a unit.
func recordKey(dst []byte, kind byte, unit string, ts int64, seq uint64) []byte {
	dst = append(dst, kind)
	dst = append(dst, unit...)
	dst = append(dst, unitEnd)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, seq)
}

// parseRecordKey returns the time and sequence number at the end of a record key.
func parseRecordKey(k []byte) (ts int64, seq uint64, ok bool) {
	if len(k) < 18 {
		return 0, 0, false
	}
	t := k[len(k)-16:]
	return int64(binary.BigEndian.Uint64(t) ^ (1 << 63)), binary.BigEndian.Uint64(t[8:]), true
}

// latRow and lonCol are a coordinate's row and column in the 0.01° grid,
// clamped so that any float64 (even out of range or NaN) has a cell.
func latRow(lat float64) uint32 { return gridIndex(lat+90, 180*cellsPerDegree) }
func lonCol(lon float64) uint32 { return gridIndex(lon+180, 360*cellsPerDegree) }

func gridIndex(v float64, maxIdx uint32) uint32 {
	f := math.Floor(v * cellsPerDegree)
	switch {
	case !(f > 0): // also NaN
		return 0
	case f >= float64(maxIdx):
		return maxIdx
	}
	return uint32(f)
}

func cellOf(row, col uint32) uint32 { return row<<16 | col }

// areaKey is the area index key of a unit's position in cell during minute (of its day).
func areaKey(dst []byte, cell uint32, minute uint16, unit string) []byte {
	dst = areaSeek(dst, cell, minute)
	return append(dst, unit...)
}

// areaSeek is where the area keys of cell from minute on begin.
func areaSeek(dst []byte, cell uint32, minute uint16) []byte {
	dst = append(dst, kindArea)
	dst = binary.BigEndian.AppendUint32(dst, cell)
	return binary.BigEndian.AppendUint16(dst, minute)
}

func parseAreaKey(k []byte) (cell uint32, minute uint16, unit []byte, ok bool) {
	if len(k) < 8 || k[0] != kindArea {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint32(k[1:]), binary.BigEndian.Uint16(k[5:]), k[7:], true
}

// Position values.
//
//	status   1 byte: 1–5 the contract's statuses, 0 = any other string,
//	         then uvarint length and its bytes
//	headers  3 bytes: a nibble per number, in the order lat, lon, acc_m,
//	         speed_mps, heading_deg, battery (high nibble first):
//	         0–9    a decimal with that many digits after the point: the
//	                zigzag varint m follows and the value is m / 10^k
//	         10     the float64's bits follow, 8 bytes little-endian
//	         15     absent (the optional fields only)
//	numbers  in the same order
//
// Every value round-trips to the very float64 it was: the decimal form is
// used only when float64(m)/10^k gives back the same bits, and the division
// of two exactly represented numbers is correctly rounded, which is exactly
// how a JSON number with k decimals was parsed in the first place. A fix
// from gpsd (9 decimals) or a phone (6–7) costs 4–6 bytes a coordinate,
// a simulator's full-precision float 8; speed, heading, accuracy and
// battery usually 1–2 bytes.
const (
	nibRaw    = 10
	nibAbsent = 15
	maxDigits = 9
)

var pow10 = [maxDigits + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

var statusCodes = [...]protocol.Status{1: protocol.StatusAvailable, 2: protocol.StatusEnroute,
	3: protocol.StatusOnScene, 4: protocol.StatusBusy, 5: protocol.StatusOffDuty}

func statusCode(s protocol.Status) byte {
	for i := 1; i < len(statusCodes); i++ {
		if statusCodes[i] == s {
			return byte(i)
		}
	}
	return 0
}

// numberForm is the header nibble and payload of a float64.
func numberForm(v float64) (nib byte, m int64) {
	if v == 0 && !math.Signbit(v) {
		return 0, 0
	}
	for k := 0; k <= maxDigits; k++ {
		r := math.Round(v * pow10[k])
		if !(math.Abs(r) < 1<<53) {
			break // also NaN and ±Inf
		}
		m := int64(r)
		if math.Float64bits(float64(m)/pow10[k]) == math.Float64bits(v) { // not so for -0
			return byte(k), m
		}
	}
	return nibRaw, 0
}

func appendNumber(dst []byte, nib byte, m int64, v float64) []byte {
	switch nib {
	case nibAbsent:
		return dst
	case nibRaw:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	}
	return binary.AppendVarint(dst, m)
}

// encodePosition appends a position's value (everything but unit, ts and seq).
func encodePosition(dst []byte, p *Position) []byte {
	code := statusCode(p.Status)
	dst = append(dst, code)
	if code == 0 {
		dst = binary.AppendUvarint(dst, uint64(len(p.Status)))
		dst = append(dst, p.Status...)
	}
	vals := [6]float64{p.Lat, p.Lon}
	var nibs [6]byte
	var ms [6]int64
	for i, f := range [6]*float64{nil, nil, p.AccM, p.SpeedMPS, p.HeadingDeg, p.Battery} {
		if i >= 2 {
			if f == nil {
				nibs[i] = nibAbsent
				continue
			}
			vals[i] = *f
		}
		nibs[i], ms[i] = numberForm(vals[i])
	}
	dst = append(dst, nibs[0]<<4|nibs[1], nibs[2]<<4|nibs[3], nibs[4]<<4|nibs[5])
	for i := range vals {
		dst = appendNumber(dst, nibs[i], ms[i], vals[i])
	}
	return dst
}

var errShort = errors.New("value too short")

// decodePosition fills p (whose Unit, TS and Seq come from the key) from a
// value. The optional numbers are allocated from slab when it is not nil:
// one allocation for many positions.
func decodePosition(v []byte, p *Position, slab *[]float64) error {
	if len(v) < 1 {
		return errShort
	}
	code := v[0]
	v = v[1:]
	switch {
	case code == 0:
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return errors.New("bad status length")
		}
		p.Status = protocol.Status(v[w : w+int(n)])
		v = v[w+int(n):]
	case int(code) < len(statusCodes):
		p.Status = statusCodes[code]
	default:
		return fmt.Errorf("bad status code %d", code)
	}
	if len(v) < 3 {
		return errShort
	}
	nibs := [6]byte{v[0] >> 4, v[0] & 15, v[1] >> 4, v[1] & 15, v[2] >> 4, v[2] & 15}
	v = v[3:]
	opt := [4]**float64{&p.AccM, &p.SpeedMPS, &p.HeadingDeg, &p.Battery}
	for i, nib := range nibs {
		var f float64
		switch {
		case nib == nibAbsent && i >= 2:
			*opt[i-2] = nil
			continue
		case nib == nibRaw:
			if len(v) < 8 {
				return errShort
			}
			f = math.Float64frombits(binary.LittleEndian.Uint64(v))
			v = v[8:]
		case nib <= maxDigits:
			m, w := binary.Varint(v)
			if w <= 0 {
				return errors.New("bad number")
			}
			f = float64(m) / pow10[nib]
			v = v[w:]
		default:
			return fmt.Errorf("bad number form %d", nib)
		}
		switch i {
		case 0:
			p.Lat = f
		case 1:
			p.Lon = f
		default:
			if slab == nil {
				g := f // only this branch allocates
				*opt[i-2] = &g
				continue
			}
			if len(*slab) == cap(*slab) {
				*slab = make([]float64, 0, 1024)
			}
			*slab = append(*slab, f)
			*opt[i-2] = &(*slab)[len(*slab)-1]
		}
	}
	if len(v) != 0 {
		return errors.New("trailing bytes")
	}
	return nil
}

// eventValue is what an event's value holds: the rest is in its key.
type eventValue struct {
	Type     protocol.EventType `json:"t"`
	Incident string             `json:"i,omitempty"`
	Status   protocol.Status    `json:"s,omitempty"`
	Lat      *float64           `json:"la,omitempty"` // an sos's position (additive, 2026-12)
	Lon      *float64           `json:"lo,omitempty"`
	Reason   string             `json:"r,omitempty"` // a decline's (additive, 2026-12)
}

func encodeEvent(e *protocol.Event) ([]byte, error) {
	return json.Marshal(eventValue{Type: e.Type, Incident: e.Incident, Status: e.Status, Lat: e.Lat, Lon: e.Lon, Reason: e.Reason})
}

func decodeEvent(v []byte, e *protocol.Event) error {
	var ev eventValue
	if err := json.Unmarshal(v, &ev); err != nil {
		return err
	}
	e.Type, e.Incident, e.Status, e.Lat, e.Lon, e.Reason = ev.Type, ev.Incident, ev.Status, ev.Lat, ev.Lon, ev.Reason
	return nil
}
