package loadtest

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is this process's CPU time and memory at one moment, from /proc.
type procSample struct {
	at       time.Time
	cpu      time.Duration // user + system
	rssBytes int64
	hwmBytes int64 // peak resident set (VmHWM)
}

// clockTicks is Linux's USER_HZ, the unit of /proc/self/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// sampleProc reads /proc/self/stat and /proc/self/status; on a system
// without them it returns what it could, with ok false.
func sampleProc() (procSample, bool) {
	s := procSample{at: time.Now()}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return s, false
	}
	// The command name is in parentheses and may contain spaces.
	str := string(b)
	i := strings.LastIndexByte(str, ')')
	if i < 0 {
		return s, false
	}
	f := strings.Fields(str[i+1:])
	// After the name: state(3) … utime(14) stime(15), i.e. f[11], f[12].
	if len(f) < 13 {
		return s, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, false
	}
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return s, false
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.rssBytes
		case "VmHWM":
			dst = &s.hwmBytes
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			*dst = kb << 10
		}
	}
	return s, true
}

func sampleProcOr() procSample {
	s, _ := sampleProc()
	return s
}
