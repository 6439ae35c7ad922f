package ui

import (
	"math"
	"time"
)

// FormatAge says how long ago something was, coarsely: "5 s", "3 min 20 s",
// "2 h 05 min". Negative durations (clock skew) read as 0 s.
func FormatAge(lang Lang, d time.Duration) string {
	s := int64(max(0, d) / time.Second)
	switch {
	case s < 60:
		return Tf(lang, "dur.s", s)
	case s < 600:
		return Tf(lang, "dur.ms", s/60, s%60)
	case s < 3600:
		return Tf(lang, "dur.m", s/60)
	default:
		return Tf(lang, "dur.hm", s/3600, s/60%60)
	}
}

// FormatSeconds formats a response time or an ETA given in seconds; under
// ten seconds with one decimal ("4.2 s").
func FormatSeconds(lang Lang, sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) {
		return T(lang, "bar.none")
	}
	if sec < 10 {
		return Tf(lang, "dur.sub", max(0, sec))
	}
	return FormatAge(lang, time.Duration(math.Round(sec))*time.Second)
}

// FormatDistance is "524 m" or "1.8 km".
func FormatDistance(lang Lang, m float64) string {
	if m < 1000 {
		return Tf(lang, "dist.m", int(math.Round(m)))
	}
	return Tf(lang, "dist.km", m/1000)
}

// FormatClock is the local time of day of a Unix-ms instant, "15:04:05".
func FormatClock(ms int64, loc *time.Location) string {
	if ms == 0 {
		return ""
	}
	if loc == nil {
		loc = time.Local
	}
	return time.UnixMilli(ms).In(loc).Format("15:04:05")
}
