package hub_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// BenchmarkIngest measures sustained telemetry ingest through the embedded
// broker: publishers (real paho clients over TCP) and the hub share this
// machine. A message counts once the hub has validated it, committed it to
// disk and confirmed it on the unit's ack topic; every message is accounted
// for at the end (zero loss). b.N is the number of messages.
func BenchmarkIngest(b *testing.B) {
	for _, units := range []int{100} {
		b.Run(fmt.Sprintf("units=%d", units), func(b *testing.B) { benchIngest(b, units) })
	}
}

func benchIngest(b *testing.B, units int) {
	// Acks every 250 ms, so the wait for the last ones does not dominate a short run.
	h := hubtest.Start(b, func(c *hub.Config) { c.AckInterval = 250 * time.Millisecond })
	devices := make([]*hubtest.Device, units)
	for i := range devices {
		id := fmt.Sprintf("bench-%03d", i)
		devices[i] = hubtest.Connect(b, h.MQTTURL(), id, h.Enrol(id, "car"), hubtest.DeviceOptions{})
	}
	per := (b.N + units - 1) / units
	total := per * units
	base := time.Now().Add(-time.Hour)

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A window of unconfirmed publishes per device, like an agent's queue.
			var toks []mqtt.Token
			for seq := uint64(1); seq <= uint64(per); seq++ {
				tm := d.Fix(seq, base.Add(time.Duration(seq)*time.Millisecond), lat0+float64(seq%100)*1e-5, lon0, protocol.StatusAvailable)
				payload, _ := protocol.Encode(tm)
				toks = append(toks, d.Client.Publish("rr/units/"+d.ID+"/telemetry", 1, false, payload))
				if len(toks) == 64 {
					for _, t := range toks {
						t.WaitTimeout(10 * time.Second)
					}
					toks = toks[:0]
				}
			}
		}()
	}
	wg.Wait()
	for _, d := range devices {
		deadline := time.Now().Add(30 * time.Second)
		for d.AckedRanges().Len() != uint64(per) {
			if time.Now().After(deadline) {
				resp, _ := http.Get(h.URL + "/metrics")
				body, _ := io.ReadAll(resp.Body)
				for _, l := range strings.Split(string(body), "\n") {
					if strings.HasPrefix(l, "kuaifan_") {
						b.Log(l)
					}
				}
				b.Fatalf("%s: %d of %d confirmed", d.ID, d.AckedRanges().Len(), per)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	committed := metric(b, h, `kuaifan_ingest_results_total{kind="telemetry",result="committed"}`)
	dropped := metric(b, h, `kuaifan_broker_publish_dropped_total`)
	if int(committed) != total || dropped != 0 {
		b.Fatalf("published %d, committed %v, dropped by the broker %v", total, committed, dropped)
	}
	var tr []point
	h.Do(http.MethodGet, "/api/units/bench-000/track?limit=100000", nil, &tr)
	if len(tr) != per {
		b.Fatalf("bench-000 has %d stored positions, sent %d", len(tr), per)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(committed, "committed")
}
