package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// DecodeFrame decodes one stream frame. It gives exactly what
// json.Unmarshal gives, faster: in WebAssembly, encoding/json's reflection
// over 500 units every 100 ms took ~14 % of the page's only thread at 5,000
// units (BenchmarkDecodeDelta500). The units — nearly all of a frame — are
// read by a small hand-written scanner that knows Unit's fields; the rest
// of the frame (incidents, removals, the coverage layer) goes through
// encoding/json. Whatever
// the scanner is not sure of (an escape in a string, a key in another case,
// a number in another form, a value of another type, malformed input) sends
// the whole frame to json.Unmarshal, so the two never differ
// (FuzzDecodeFrame).
func DecodeFrame(data []byte, f *Frame) error {
	var g Frame
	if fastFrame(data, &g) == nil {
		*f = g
		return nil
	}
	*f = Frame{}
	return json.Unmarshal(data, f)
}

// errSlow: the fast path is unsure; use encoding/json.
var errSlow = errors.New("frame: not for the fast path")

// scanner reads JSON from a byte slice.
type scanner struct {
	b []byte
	i int
	// Slabs for the units' pointer fields: one allocation per 128 values
	// instead of one each (a delta of 500 units has ~4,000).
	floats []float64
	ints   []int64
	uints  []uint64
}

const slab = 128

func (s *scanner) newFloat(v float64) *float64 {
	if len(s.floats) == cap(s.floats) {
		s.floats = make([]float64, 0, slab)
	}
	s.floats = append(s.floats, v)
	return &s.floats[len(s.floats)-1]
}

func (s *scanner) newInt(v int64) *int64 {
	if len(s.ints) == cap(s.ints) {
		s.ints = make([]int64, 0, slab)
	}
	s.ints = append(s.ints, v)
	return &s.ints[len(s.ints)-1]
}

func (s *scanner) newUint(v uint64) *uint64 {
	if len(s.uints) == cap(s.uints) {
		s.uints = make([]uint64, 0, slab)
	}
	s.uints = append(s.uints, v)
	return &s.uints[len(s.uints)-1]
}

// name returns a string, without allocating for the values every unit
// repeats (types, statuses).
func name(b []byte) string {
	switch string(b) {
	case "car":
		return "car"
	case "motorcycle":
		return "motorcycle"
	case "foot":
		return "foot"
	case "volunteer":
		return "volunteer"
	case "available":
		return "available"
	case "enroute":
		return "enroute"
	case "on_scene":
		return "on_scene"
	case "busy":
		return "busy"
	case "off_duty":
		return "off_duty"
	case "armed":
		return "armed"
	case "medical":
		return "medical"
	case "owntracks":
		return "owntracks"
	case "osmand":
		return "osmand"
	}
	return string(b)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// str reads a string with no escapes, valid UTF-8 and no control
// characters, returning its bytes (aliasing the input).
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[start:j]
			if !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number reads a number in JSON's grammar and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// skip passes over one value of any kind, checking its syntax. Strings may
// carry escapes here: their content is not used.
func (s *scanner) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch s.peek() {
	case '"':
		for j := s.i + 1; j < len(s.b); j++ {
			switch c := s.b[j]; {
			case c == '\\':
				j++
			case c < 0x20:
				return false
			case c == '"':
				s.i = j + 1
				return true
			}
		}
		return false
	case '{':
		return s.list('{', '}', func() bool {
			return s.skip(depth+1) && s.expect(':') && s.skip(depth+1)
		})
	case '[':
		return s.list('[', ']', func() bool { return s.skip(depth + 1) })
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// list reads an object's members or an array's elements, from open to
// close, each with item; an empty one is fine.
func (s *scanner) list(open, close byte, item func() bool) bool {
	if !s.expect(open) {
		return false
	}
	if s.expect(close) {
		return true
	}
	for {
		if !item() {
			return false
		}
		if s.expect(close) {
			return true
		}
		if !s.expect(',') {
			return false
		}
	}
}

func (s *scanner) null() bool {
	return s.peek() == 'n' && s.literal("null")
}

// text is a byte slice as a string without a copy, for strconv, which does
// not keep it.
func text(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (s *scanner) float() (*float64, bool) {
	if s.null() {
		return nil, true
	}
	n, ok := s.number()
	if !ok {
		return nil, false
	}
	v, err := strconv.ParseFloat(text(n), 64)
	if err != nil {
		return nil, false
	}
	return s.newFloat(v), true
}

// fastFrame decodes the frame when it can be sure to match encoding/json.
func fastFrame(data []byte, f *Frame) error {
	s := &scanner{b: data}
	// The other members, re-assembled as one object for encoding/json.
	var rest []byte
	sawUnits := false
	ok := s.list('{', '}', func() bool {
		key, ok := s.str()
		if !ok || !s.expect(':') {
			return false
		}
		switch {
		case string(key) == "units":
			if sawUnits {
				return false
			}
			sawUnits = true
			f.Units, ok = s.units()
			return ok
		case !slices.Contains(frameKeys, string(key)):
			return s.other(key, frameKeys)
		}
		start := s.i
		if !s.skip(0) {
			return false
		}
		if rest == nil {
			rest = append(rest, '{')
		} else {
			rest = append(rest, ',')
		}
		rest = strconv.AppendQuote(rest, string(key))
		rest = append(rest, ':')
		rest = append(rest, data[start:s.i]...)
		return true
	})
	if !ok {
		return errSlow
	}
	if s.ws(); s.i != len(s.b) {
		return errSlow
	}
	if rest != nil {
		rest = append(rest, '}')
		units := f.Units
		if err := json.Unmarshal(rest, f); err != nil {
			return errSlow
		}
		if sawUnits {
			f.Units = units
		}
	}
	return nil
}

// units reads an array of units (or null).
func (s *scanner) units() ([]Unit, bool) {
	if s.null() {
		return nil, true
	}
	us := []Unit{}
	ok := s.list('[', ']', func() bool {
		us = append(us, Unit{})
		return s.unit(&us[len(us)-1])
	})
	if !ok {
		return nil, false
	}
	return us, true
}

// unit reads one unit object (null leaves u as it is, as encoding/json does).
func (s *scanner) unit(u *Unit) bool {
	if s.null() {
		return true
	}
	return s.list('{', '}', func() bool {
		key, ok := s.str()
		return ok && s.expect(':') && s.unitField(u, key)
	})
}

func (s *scanner) unitField(u *Unit, key []byte) bool {
	var ok bool
	switch string(key) {
	case "id":
		return s.strField(&u.ID)
	case "type":
		t := string(u.Type)
		ok = s.nameField(&t)
		u.Type = protocol.UnitType(t)
	case "callsign":
		return s.strField(&u.Callsign)
	case "status":
		t := string(u.Status)
		ok = s.nameField(&t)
		u.Status = protocol.Status(t)
	case "incident":
		return s.strField(&u.Incident)
	case "agent":
		return s.strField(&u.Agent)
	case "online":
		switch s.peek() {
		case 't':
			u.Online = true
			return s.literal("true")
		case 'f':
			u.Online = false
			return s.literal("false")
		}
		return s.null()
	case "lat":
		u.Lat, ok = s.float()
	case "lon":
		u.Lon, ok = s.float()
	case "acc_m":
		u.AccM, ok = s.float()
	case "speed_mps":
		u.SpeedMPS, ok = s.float()
	case "heading_deg":
		u.HeadingDeg, ok = s.float()
	case "battery":
		u.Battery, ok = s.float()
	case "ts":
		if s.null() {
			u.TS = nil
			return true
		}
		var v int64
		if v, ok = s.int(); ok {
			u.TS = s.newInt(v)
		}
	case "last_seen":
		if s.null() {
			return true
		}
		u.LastSeen, ok = s.int()
	case "seq":
		if s.null() {
			u.Seq = nil
			return true
		}
		n, good := s.number()
		if !good {
			return false
		}
		v, err := strconv.ParseUint(text(n), 10, 64)
		if err != nil {
			return false
		}
		u.Seq, ok = s.newUint(v), true
	case "report_s":
		if s.null() {
			return true
		}
		var v *float64
		if v, ok = s.float(); ok {
			u.ReportS = *v
		}
	case "protocol":
		t := string(u.Protocol)
		ok = s.nameField(&t)
		u.Protocol = api.ReportProtocol(t)
	case "reposition":
		return nested(s, &u.Reposition)
	case "last_connect":
		return nested(s, &u.LastConnect)
	case "last_refused":
		return nested(s, &u.LastRefused)
	case "capabilities":
		if s.null() {
			u.Capabilities = nil
			return true
		}
		caps := []string{}
		ok = s.list('[', ']', func() bool {
			c, good := s.str()
			caps = append(caps, name(c))
			return good
		})
		if ok {
			u.Capabilities = caps
		}
	default:
		return s.other(key, unitKeys)
	}
	return ok
}

var (
	unitKeys = []string{"id", "type", "callsign", "capabilities", "status", "online", "lat", "lon", "ts",
		"seq", "acc_m", "speed_mps", "heading_deg", "battery", "last_seen", "incident", "report_s", "protocol",
		"reposition", "last_connect", "last_refused", "agent"}
	frameKeys = []string{"type", "seq", "ts", "units", "incidents", "removed_units", "removed_incidents", "coverage"}
)

// other passes over the value of a key the type does not have, as
// encoding/json ignores it, unless json would take it for one of known in
// another case (it matches names case-insensitively): then the fast path
// gives up.
func (s *scanner) other(key []byte, known []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false // Unicode case folding: leave it to encoding/json
		}
	}
	for _, k := range known {
		if strings.EqualFold(k, string(key)) {
			return false
		}
	}
	return s.skip(0)
}

// nested reads a unit's rare nested object (a move-up, a connection) with
// encoding/json, into the same value as it would: null clears it, a second
// key merges into the first's value.
func nested[T any](s *scanner, dst **T) bool {
	if s.null() {
		*dst = nil
		return true
	}
	s.ws()
	start := s.i
	if !s.skip(0) {
		return false
	}
	if *dst == nil {
		*dst = new(T)
	}
	return json.Unmarshal(s.b[start:s.i], *dst) == nil
}

// strField reads a string into *dst; null leaves it.
func (s *scanner) strField(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.str()
	if ok {
		*dst = string(v)
	}
	return ok
}

// nameField is strField for values from a small set (see name).
func (s *scanner) nameField(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.str()
	if ok {
		*dst = name(v)
	}
	return ok
}

func (s *scanner) int() (int64, bool) {
	n, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(text(n), 10, 64)
	return v, err == nil
}
