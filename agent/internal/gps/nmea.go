package gps

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/adrianmo/go-nmea"
)

// The NMEA 0183 decoder. go-nmea frames and checks each sentence and decodes
// its fields; this file judges them and puts one receiver cycle (an epoch:
// the sentences that share a UTC time) together into one Fix.
//
// Receivers differ in what they send and in which order: u-blox sends RMC
// first and GSA after GGA, SiRF ends its cycle with RMC, Quectel sends GSA
// after RMC, cheap BeiDou boxes send RMC only. So the assembler does not rely
// on an order. RMC and GGA carry the epoch's time; GSA carries none and is
// credited to the epoch open when it arrives (or, failing that, used only as a
// fallback for the next one). An epoch is complete once its RMC is in and its
// GGA too if this receiver sends GGA at all (the first epoch, before that is
// known, and any epoch missing a sentence close when the next one starts, or
// at the end of the input).

const (
	// knot is the RMC speed unit in metres per second.
	knot = 1852.0 / 3600
	// maxGSA bounds the GSAs kept per epoch (a receiver sends one per
	// constellation, so a handful) against a stream that never closes one.
	maxGSA = 16
)

// Sentinel errors from the parser hooks, so lines are counted by kind rather
// than by go-nmea's error wording.
var (
	errBadChecksum = errors.New("checksum mismatch")
	errNoChecksum  = errors.New("no checksum")
	errUnsupported = errors.New("unsupported sentence")
)

// uere is the user equivalent range error (metres) assumed for a GGA fix
// quality: NMEA carries no error estimate of its own, and HDOP × UERE is the
// usual one. The values are the textbook orders of magnitude for each kind of
// solution; AccM is an estimate, not a promise.
func uere(ggaQuality int) float64 {
	switch ggaQuality {
	case 2: // DGPS, SBAS
		return 1.5
	case 4: // RTK fixed: centimetres
		return 0.05
	case 5: // RTK float: decimetres
		return 0.5
	case 6: // dead reckoning: drifts until the sky comes back
		return 15
	}
	return 5 // autonomous GNSS
}

type rmcInfo struct {
	valid     bool
	lat, lon  float64
	speedKn   float64
	course    float64
	hasMotion bool
	date      civilDate
	hasDate   bool
}

type ggaInfo struct {
	quality  int // 0 = no fix
	lat, lon float64
	sats     int     // 0 if not given
	hdop     float64 // 0 if not given
	hasAlt   bool
}

type gsaInfo struct {
	mode int     // 1 no fix, 2, 3; 0 if not given
	hdop float64 // 0 if not given
	sys  string  // constellation: the NMEA 4.10 system id, else the talker
	svs  []string
}

// epoch is one receiver cycle being put together.
type epoch struct {
	tod   time.Duration // UTC time of day
	rmc   *rmcInfo
	gga   *ggaInfo
	gsa   []gsaInfo // GSAs that arrived while this epoch was open
	prior []gsaInfo // GSAs that arrived before it opened: a fallback only
}

type civilDate struct{ y, m, d int }

func (c civilDate) at(tod time.Duration) time.Time {
	return time.Date(c.y, time.Month(c.m), c.d, 0, 0, 0, 0, time.UTC).Add(tod)
}

// assembler turns NMEA lines into fixes. It does no I/O and starts no
// goroutines: the sources feed it lines and it calls emit for each fix that
// meets the quality bound.
type assembler struct {
	q       Quality
	stats   *counters
	log     *slog.Logger
	now     func() time.Time        // the date of a fix when the receiver never sent one
	emit    func(Fix)               // each reported fix
	onEpoch func(tod time.Duration) // each new epoch (pacing); may be nil
	parser  *nmea.SentenceParser

	cur              *epoch
	pending          []gsaInfo // GSAs seen while no epoch was open
	seenRMC, seenGGA bool      // what this receiver sends
	closed           uint64    // epochs closed so far
	lastTod          time.Duration
	lastOK           bool      // lastTod holds the last closed epoch's time
	ref              time.Time // the last epoch placed in time: the date for epochs without one
	fixState         int       // 0 unknown, 1 fix, 2 no fix: to log transitions only
}

func newAssembler(q Quality, stats *counters, log *slog.Logger, emit func(Fix)) *assembler {
	a := &assembler{q: q.withDefaults(), stats: stats, log: log, now: time.Now, emit: emit}
	a.parser = &nmea.SentenceParser{
		CheckCRC: func(s nmea.BaseSentence, rawFields string) error {
			if s.Checksum == "" {
				return errNoChecksum // a truncated line, usually
			}
			if nmea.Checksum(rawFields) != s.Checksum {
				return errBadChecksum
			}
			return nil
		},
		OnBaseSentence: func(s *nmea.BaseSentence) error {
			// Only RMC, GGA and GSA from a two-letter talker are decoded; the
			// rest (GSV, VTG, GNS, proprietary $P..., AIS's !...) is not even
			// parsed, so a receiver's quirks there cost nothing.
			if s.Raw[0] != '$' || len(s.Talker) != 2 {
				return errUnsupported
			}
			switch s.Type {
			case nmea.TypeRMC, nmea.TypeGGA:
			case nmea.TypeGSA:
				// NMEA 4.10 appends a system id to GSA. Some receivers (the
				// SiRF-TriG in the BeiDou capture) put a PDOP-like float
				// there; go-nmea would reject the whole sentence for it, so
				// the field is dropped and the constellation taken from the
				// talker instead.
				if len(s.Fields) > 17 && !isUint(s.Fields[17]) {
					s.Fields = s.Fields[:17]
				}
			default:
				return errUnsupported
			}
			return nil
		},
	}
	return a
}

// feed takes one line (with or without its line ending).
func (a *assembler) feed(raw []byte) {
	a.stats.lines.Add(1)
	line := bytes.TrimSpace(raw)
	if len(line) == 0 || line[0] == '#' {
		return // blank, or a comment as in the gpsd captures
	}
	// Noise before the '$' (binary junk from a receiver's boot, a line that
	// lost its ending and ran into this one) is cut off: the sentence that
	// ends this line starts at the last '$', and its checksum decides.
	i := bytes.LastIndexAny(line, "$!")
	if i < 0 {
		a.garbage("no sentence start", line)
		return
	}
	line = line[i:]
	for _, c := range line {
		// NMEA is printable ASCII; '\' (tag blocks) never comes from a receiver.
		if c < 0x20 || c > 0x7e || c == '\\' {
			a.garbage("non-printable", line)
			return
		}
	}
	s, err := a.parser.Parse(string(line))
	switch {
	case errors.Is(err, errBadChecksum):
		a.stats.badChecksum.Add(1)
		a.log.Debug("gps: nmea bad checksum", "line", string(line))
		return
	case errors.Is(err, errUnsupported):
		a.stats.sentences.Add(1)
		a.stats.unsupported.Add(1)
		return
	case err != nil:
		a.garbage(err.Error(), line)
		return
	}
	var ok bool
	switch m := s.(type) {
	case nmea.RMC:
		ok = a.rmc(m)
	case nmea.GGA:
		ok = a.gga(m)
	case nmea.GSA:
		ok = a.gsa(m)
	}
	if !ok {
		a.garbage("malformed fields", line)
		return
	}
	a.stats.sentences.Add(1)
}

func (a *assembler) garbage(why string, line []byte) {
	a.stats.garbage.Add(1)
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("gps: nmea garbage", "why", why, "line", strconv.Quote(string(line)))
	}
}

func (a *assembler) rmc(m nmea.RMC) bool {
	if len(m.Fields) < 9 {
		return false
	}
	r := &rmcInfo{valid: m.Validity == nmea.ValidRMC && m.FFAMode != nmea.FAAModeDataNotValid}
	if r.valid {
		var ok bool
		if r.lat, r.lon, ok = latLon(m.Fields[2], m.Fields[3], m.Fields[4], m.Fields[5]); !ok {
			return false // "a fix" without a usable position is not a fix
		}
	}
	sp, okS := udecimal(m.Fields[6])
	co, okC := udecimal(m.Fields[7])
	if okS && okC {
		r.speedKn, r.course, r.hasMotion = sp, co, true
	}
	if m.Date.Valid {
		r.date, r.hasDate = validDate(m.Date)
	}
	tod, ok := timeOfDay(m.Time)
	if !ok {
		return a.untimed(r.valid, m.Time.Valid)
	}
	a.seenRMC = true
	a.timed(tod, r, nil)
	return true
}

func (a *assembler) gga(m nmea.GGA) bool {
	if len(m.Fields) < 9 {
		return false
	}
	g := &ggaInfo{}
	if m.FixQuality != "" {
		g.quality = int(m.FixQuality[0] - '0') // go-nmea allows only "0".."6"
	}
	if g.quality > 0 {
		var ok bool
		if g.lat, g.lon, ok = latLon(m.Fields[1], m.Fields[2], m.Fields[3], m.Fields[4]); !ok {
			return false
		}
	}
	if m.Fields[6] != "" && m.NumSatellites > 0 && m.NumSatellites < 1000 {
		g.sats = int(m.NumSatellites)
	}
	if h, ok := udecimal(m.Fields[7]); ok && h > 0 {
		g.hdop = h
	}
	g.hasAlt = m.Fields[8] != ""
	tod, ok := timeOfDay(m.Time)
	if !ok {
		return a.untimed(g.quality > 0, m.Time.Valid)
	}
	a.seenGGA = true
	a.timed(tod, nil, g)
	return true
}

func (a *assembler) gsa(m nmea.GSA) bool {
	g := gsaInfo{sys: m.Talker, svs: m.SV}
	if m.FixType != "" {
		g.mode = int(m.FixType[0] - '0') // go-nmea allows only "1".."3"
	}
	if m.SystemID > 0 {
		g.sys = strconv.FormatInt(m.SystemID, 10)
	}
	if len(m.Fields) > 15 {
		if h, ok := udecimal(m.Fields[15]); ok && h > 0 {
			g.hdop = h
		}
	}
	if a.cur != nil {
		a.cur.gsa = appendGSA(a.cur.gsa, g)
	} else {
		a.pending = appendGSA(a.pending, g)
	}
	return true
}

func appendGSA(l []gsaInfo, g gsaInfo) []gsaInfo {
	if len(l) >= maxGSA {
		l = append(l[:0], l[1:]...)
	}
	return append(l, g)
}

// untimed handles an RMC or GGA without a time of day: many receivers send
// them while they have no fix. Without a time such a sentence belongs to no
// epoch; one that claims a fix is malformed.
func (a *assembler) untimed(claimsFix, timeGiven bool) bool {
	if claimsFix || timeGiven {
		return false // a fix we cannot place in time, or a time out of range
	}
	a.stats.noFix.Add(1)
	a.setFixState(false)
	return true
}

// timed adds an RMC or a GGA of the epoch at tod.
func (a *assembler) timed(tod time.Duration, r *rmcInfo, g *ggaInfo) {
	if a.cur != nil && a.cur.tod != tod {
		a.closeEpoch() // the receiver moved on without completing it
	}
	if a.cur == nil {
		if a.lastOK && a.lastTod == tod {
			// A late sentence of the epoch already closed (a second
			// talker's GGA after RMC and GGA were in, or a GGA from a
			// receiver that seemed to send none): that epoch has been
			// reported; seenGGA, already set, makes the next ones wait.
			return
		}
		a.cur = &epoch{tod: tod, prior: a.pending}
		a.pending = nil
		if a.onEpoch != nil {
			a.onEpoch(tod)
		}
	}
	// A receiver may send one RMC per talker (GPRMC and GNRMC): the first wins.
	if r != nil && a.cur.rmc == nil {
		a.cur.rmc = r
	}
	if g != nil && a.cur.gga == nil {
		a.cur.gga = g
	}
	// The first epoch waits for the second to start: until one whole epoch
	// has gone by, which sentences this receiver sends is not known, and
	// closing at its RMC would report a u-blox's first fix (RMC comes first)
	// without the HDOP of the GGA behind it.
	e := a.cur
	if a.closed == 0 {
		return
	}
	// A receiver that has not sent RMC over two whole epochs sends GGA only.
	rmcDone := e.rmc != nil || (!a.seenRMC && a.closed >= 2)
	ggaDone := e.gga != nil || !a.seenGGA
	if rmcDone && ggaDone {
		a.closeEpoch()
	}
}

// flush closes the open epoch: the input ended.
func (a *assembler) flush() {
	if a.cur != nil {
		a.closeEpoch()
	}
}

func (a *assembler) closeEpoch() {
	e := a.cur
	a.cur = nil
	a.closed++
	a.lastTod, a.lastOK = e.tod, true
	t := a.place(e)
	f, ok := build(e, t)
	if !ok {
		a.stats.noFix.Add(1)
		a.setFixState(false)
		return
	}
	if !validFix(f) { // build only makes valid fixes; this is the backstop
		a.stats.garbage.Add(1)
		a.log.Warn("gps: nmea epoch gave an invalid fix", "fix", f)
		return
	}
	a.setFixState(true)
	if !a.q.meets(f) {
		a.stats.poor.Add(1)
		return
	}
	a.stats.fixes.Add(1)
	a.emit(f)
}

// place gives the epoch its full UTC time. RMC carries the date; an epoch
// without a valid RMC takes the date of the last epoch placed (the nearest day
// to it, so a midnight in between is crossed), and when the receiver has never
// sent a date, the system clock's.
func (a *assembler) place(e *epoch) time.Time {
	if r := e.rmc; r != nil && r.valid && r.hasDate {
		a.ref = r.date.at(e.tod)
		return a.ref
	}
	ref := a.ref
	if ref.IsZero() {
		ref = a.now().UTC()
	}
	a.ref = nearestDay(ref, e.tod)
	return a.ref
}

// nearestDay is the time at tod on the day that puts it within 12 h of ref.
func nearestDay(ref time.Time, tod time.Duration) time.Time {
	y, m, d := ref.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(tod)
	switch {
	case t.Sub(ref) > 12*time.Hour:
		t = t.Add(-24 * time.Hour)
	case ref.Sub(t) > 12*time.Hour:
		t = t.Add(24 * time.Hour)
	}
	return t
}

// build makes the epoch's fix, or reports that it has none: RMC status V (or
// FAA mode N), GGA quality 0, or every GSA of the epoch saying mode 1.
func build(e *epoch, t time.Time) (Fix, bool) {
	r, g := e.rmc, e.gga
	if (r != nil && !r.valid) || (g != nil && g.quality == 0) || maxMode(e.gsa) == 1 {
		return Fix{}, false
	}
	f := Fix{Time: t}
	quality := 1
	switch {
	case r != nil:
		f.Lat, f.Lon = r.lat, r.lon
	case g != nil:
		f.Lat, f.Lon = g.lat, g.lon
	default:
		return Fix{}, false
	}
	if r != nil && r.hasMotion {
		f.SpeedMPS, f.HeadingDeg, f.HasMotion = r.speedKn*knot, normHeading(r.course), true
	}
	if g != nil {
		quality = g.quality
		f.HDOP, f.Sats = g.hdop, g.sats
	}
	if f.HDOP == 0 {
		f.HDOP = firstHDOP(e.gsa)
	}
	if f.HDOP == 0 {
		f.HDOP = firstHDOP(e.prior)
	}
	if f.Sats == 0 {
		f.Sats = countSVs(e.gsa)
	}
	if f.Sats == 0 {
		f.Sats = countSVs(e.prior)
	}
	f.AccM = f.HDOP * uere(quality)
	m := maxMode(e.gsa)
	if m < 2 {
		m = maxMode(e.prior)
	}
	switch {
	case m >= 2:
		f.Mode = Mode(m)
	case g != nil && g.hasAlt:
		f.Mode = Mode3D // an altitude is a 3D solution
	default:
		f.Mode = Mode2D // all an RMC-only receiver tells us
	}
	return f, true
}

// maxMode is the best fix mode the GSAs report (one GSA per constellation may
// say "no fix" while another has one); 0 if none says.
func maxMode(l []gsaInfo) int {
	m := 0
	for _, g := range l {
		m = max(m, g.mode)
	}
	return m
}

func firstHDOP(l []gsaInfo) float64 {
	for _, g := range l {
		if g.hdop > 0 {
			return g.hdop
		}
	}
	return 0
}

// countSVs counts the satellites the GSAs list as used, each once: receivers
// send the same GPS satellites as $GPGSA and as $GNGSA with system id 1.
func countSVs(l []gsaInfo) int {
	type sv struct{ sys, prn string }
	seen := make(map[sv]bool)
	for _, g := range l {
		for _, p := range g.svs {
			seen[sv{g.sys, p}] = true
		}
	}
	return len(seen)
}

func (a *assembler) setFixState(fix bool) {
	st := 2
	if fix {
		st = 1
	}
	if st == a.fixState {
		return
	}
	if a.fixState != 0 || fix {
		if fix {
			a.log.Info("gps: fix acquired")
		} else {
			a.log.Info("gps: fix lost")
		}
	}
	a.fixState = st
}

// timeOfDay checks go-nmea's time (it checks the format, not the ranges).
func timeOfDay(t nmea.Time) (time.Duration, bool) {
	if !t.Valid || t.Hour < 0 || t.Hour > 23 || t.Minute < 0 || t.Minute > 59 ||
		t.Second < 0 || t.Second > 60 || t.Millisecond < 0 || t.Millisecond > 1000 {
		return 0, false
	}
	return time.Duration(t.Hour)*time.Hour + time.Duration(t.Minute)*time.Minute +
		time.Duration(t.Second)*time.Second + time.Duration(t.Millisecond)*time.Millisecond, true
}

// validDate checks go-nmea's date (it checks the length, not the ranges).
// Two-digit years are 20YY: GNSS receivers post-date 2000.
func validDate(d nmea.Date) (civilDate, bool) {
	c := civilDate{2000 + d.YY, d.MM, d.DD}
	if d.YY < 0 || d.YY > 99 || d.MM < 1 || d.MM > 12 || d.DD < 1 {
		return c, false
	}
	t := time.Date(c.y, time.Month(c.m), c.d, 0, 0, 0, 0, time.UTC)
	return c, t.Day() == c.d // Feb 30 normalises into March
}

// latLon decodes NMEA's ddmm.mmmm/dddmm.mmmm with their hemispheres. go-nmea
// would decode these too, but it accepts a sign, "NaN", hex floats and
// minutes past 60; a receiver sends none of those. Decoding whole minutes and
// their fraction apart keeps an RTK receiver's 8 decimals (1e-8 minute, about
// 0.02 mm) exact to float64's precision.
func latLon(lat, ns, lon, ew string) (float64, float64, bool) {
	la, ok1 := coord(lat, 90)
	lo, ok2 := coord(lon, 180)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	switch ns {
	case "N":
	case "S":
		la = -la
	default:
		return 0, 0, false
	}
	switch ew {
	case "E":
	case "W":
		lo = -lo
	default:
		return 0, 0, false
	}
	return la, lo, true
}

func coord(s string, maxDeg int) (float64, bool) {
	intPart, frac, ok := splitDecimal(s)
	if !ok || len(intPart) < 3 || len(intPart) > 5 {
		return 0, false
	}
	n, err := strconv.Atoi(intPart)
	if err != nil {
		return 0, false
	}
	deg, min := n/100, n%100
	var fmin float64
	if frac != "" {
		if fmin, err = strconv.ParseFloat("0."+frac, 64); err != nil {
			return 0, false
		}
	}
	if min >= 60 || deg > maxDeg || (deg == maxDeg && (min > 0 || fmin > 0)) {
		return 0, false
	}
	return float64(deg) + (float64(min)+fmin)/60, true
}

// udecimal parses an unsigned decimal such as "0.30" or "12": what NMEA puts
// in its numeric fields (strconv.ParseFloat would also take "NaN", "Inf",
// "0x1p4" and "1e9").
func udecimal(s string) (float64, bool) {
	intPart, frac, ok := splitDecimal(s)
	if !ok || len(intPart)+len(frac) > 20 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// splitDecimal splits "123.456" into "123" and "456"; ok is false unless s is
// digits with at most one '.', and at least one digit.
func splitDecimal(s string) (intPart, frac string, ok bool) {
	intPart, frac, _ = strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", "", false
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return "", "", false
	}
	return intPart, frac, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isUint(s string) bool { return s != "" && allDigits(s) }
