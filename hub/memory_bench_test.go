package hub_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkLiveUnits runs a hub in a process of its own with 10,000 enrolled
// units connected over MQTT, each reporting once a second, and reports the
// hub's resident memory (the peak, from the kernel). It also counts every
// position sent and confirmed. With broker=embedded the hub process also holds
// the 10,000 connections; with broker=mosquitto, Debian's Mosquitto does.
// Each run takes about half a minute; b.N is ignored.
func BenchmarkLiveUnits(b *testing.B) {
	b.Run("broker=embedded", func(b *testing.B) { benchLiveUnits(b, "") })
	b.Run("broker=mosquitto", func(b *testing.B) {
		benchLiveUnits(b, benchMosquitto(b).URL())
	})
}

func benchLiveUnits(b *testing.B, externalBroker string) {
	const units = 10_000
	const reportFor = 20 * time.Second
	cmd, api, broker := startChild(b, b.TempDir(), externalBroker)
	load := newFleetLoad(b, api, "crash-token", broker, units, false, func(i int) (float64, float64) {
		return lat0 + float64(i%100)*1e-3, lon0 + float64(i/100)*1e-3
	})
	defer load.disconnect()
	rssEnrolled := rss(b, cmd.Process.Pid)
	if b.Failed() {
		return
	}
	b.ResetTimer()
	load.report()
	time.Sleep(reportFor)
	load.halt()
	b.StopTimer()
	peak := peakRSS(b, cmd.Process.Pid)
	b.ReportMetric(float64(rssEnrolled)/(1<<20), "MB-enrolled")
	b.ReportMetric(float64(peak)/(1<<20), "MB-peak")
	b.ReportMetric(float64(peak)/units/1024, "KB/unit")
	b.ReportMetric(float64(load.sent.Load())/reportFor.Seconds(), "msgs/s")
}

// rss and peakRSS read a process's resident set now and at its peak, in bytes.
func rss(t testing.TB, pid int) int64     { return procStatus(t, pid, "VmRSS:") }
func peakRSS(t testing.TB, pid int) int64 { return procStatus(t, pid, "VmHWM:") }

func procStatus(t testing.TB, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
