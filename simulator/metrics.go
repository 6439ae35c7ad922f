package simulator

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metrics is a scrape of the hub's /metrics, by metric name.
type metrics map[string]*dto.MetricFamily

// parseMetrics reads the Prometheus text format (with Prometheus's own
// parser).
func parseMetrics(r io.Reader) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return fams, nil
}

// sum adds up the samples of a counter or gauge whose labels include every
// name, value pair in labels ("kind", "telemetry", …).
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
next:
	for _, s := range m[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if !hasLabel(s, labels[i], labels[i+1]) {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			total += s.GetCounter().GetValue()
		case s.Gauge != nil:
			total += s.GetGauge().GetValue()
		case s.Untyped != nil:
			total += s.GetUntyped().GetValue()
		}
	}
	return total
}

// labelValues lists the values a label takes in a metric's samples.
func (m metrics) labelValues(name, label string) []string {
	var vs []string
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label && !slices.Contains(vs, l.GetValue()) {
				vs = append(vs, l.GetValue())
			}
		}
	}
	return vs
}

func hasLabel(s *dto.Metric, name, value string) bool {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
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
