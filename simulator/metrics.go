package simulator

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// metrics is a scrape of the hub's /metrics: each series ("name" or
// `name{label="v",…}`, as written) and its value.
type metrics map[string]float64

// parseMetrics reads the Prometheus text format, keeping the samples and
// skipping comments.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the series, which may hold spaces in label values.
		i := strings.LastIndexByte(line, '}')
		rest := line
		series := ""
		if i >= 0 {
			series, rest = line[:i+1], line[i+1:]
		} else {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			series, rest = f[0], strings.Join(f[1:], " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[series] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return m, nil
}

// sum adds up the series of a metric whose labels include every one of
// labels (each `key="value"`).
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// delta is after − before for one metric and labels; a nil scrape counts as 0.
func delta(before, after metrics, name string, labels ...string) float64 {
	return after.sum(name, labels...) - before.sum(name, labels...)
}

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
