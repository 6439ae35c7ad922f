package hub_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
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
		mosq := hubtest.StartMosquitto(b, hubtest.MosquittoOptions{ExtraConfig: "max_queued_messages 100000\nmax_inflight_messages 1000\n"})
		benchLiveUnits(b, mosq.URL())
	})
}

func benchLiveUnits(b *testing.B, externalBroker string) {
	const units = 10_000
	const reportFor = 20 * time.Second
	dir := b.TempDir()
	cmd, api, broker := startChild(b, dir, externalBroker)

	ids := make([]string, units)
	secrets := make([]string, units)
	parallel(units, 16, func(i int) {
		ids[i] = fmt.Sprintf("u%05d", i)
		secrets[i] = enrol(b, api, "crash-token", ids[i])
	})
	rssEnrolled := rss(b, cmd.Process.Pid)

	var sent, confirmed atomic.Int64
	clients := make([]mqtt.Client, units)
	parallel(units, 32, func(i int) {
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(ids[i]).SetUsername(ids[i]).
			SetPassword(secrets[i]).SetProtocolVersion(4).SetAutoReconnect(false).SetKeepAlive(60 * time.Second)
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			b.Errorf("%s: connect: %v", ids[i], tok.Error())
			return
		}
		c.Subscribe("rr/units/"+ids[i]+"/ack", 1, func(_ mqtt.Client, m mqtt.Message) {
			if a, err := protocol.DecodeAck(m.Payload()); err == nil {
				confirmed.Add(int64(protocol.Ranges(a.Seqs).Len()))
			}
		}).WaitTimeout(10 * time.Second)
		online, _ := protocol.Encode(protocol.State{Unit: ids[i], Online: true, Boot: "bench"})
		c.Publish("rr/units/"+ids[i]+"/state", 1, true, online)
		clients[i] = c
	})
	if b.Failed() {
		return
	}

	b.ResetTimer()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / units) // spread over the second
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for seq := uint64(1); ; seq++ {
				p, _ := protocol.Encode(protocol.Telemetry{Unit: ids[i], Seq: seq, TS: time.Now().UnixMilli(),
					Lat: lat0 + float64(i%100)*1e-3, Lon: lon0 + float64(i/100)*1e-3 + float64(seq)*1e-5, Status: protocol.StatusAvailable})
				c.Publish("rr/units/"+ids[i]+"/telemetry", 1, false, p)
				sent.Add(1)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	time.Sleep(reportFor)
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for confirmed.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	peak := peakRSS(b, cmd.Process.Pid)
	parallel(units, 64, func(i int) { clients[i].Disconnect(0) })

	if confirmed.Load() != sent.Load() {
		b.Errorf("sent %d positions, %d confirmed", sent.Load(), confirmed.Load())
	}
	b.ReportMetric(float64(rssEnrolled)/(1<<20), "MB-enrolled")
	b.ReportMetric(float64(peak)/(1<<20), "MB-peak")
	b.ReportMetric(float64(peak)/units/1024, "KB/unit")
	b.ReportMetric(float64(sent.Load())/reportFor.Seconds(), "msgs/s")
}

// parallel calls fn(0…n-1) on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
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
