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
// for at the end (zero loss). b.N is the number of messages. For scale, the
// same publishers first send the same messages through Debian's Mosquitto
// to one QoS 1 subscriber (relay only: nothing stored), and the hub's run
// reports its rate as a multiple of that one (x-mosquitto-relay).
func BenchmarkIngest(b *testing.B) {
	const units = 100
	var relay float64
	b.Run(fmt.Sprintf("mosquitto-relay/units=%d", units), func(b *testing.B) { relay = benchMosquittoRelay(b, units) })
	b.Run(fmt.Sprintf("units=%d", units), func(b *testing.B) {
		if rate := benchIngest(b, units); relay > 0 {
			b.ReportMetric(rate/relay, "x-mosquitto-relay")
		}
	})
}

// benchMosquittoRelay publishes b.N telemetry messages from units paho
// clients through Mosquitto to one QoS 1 subscriber of every unit's
// telemetry, and returns the rate at which the subscriber received them.
func benchMosquittoRelay(b *testing.B, units int) float64 {
	// The subscriber's queue unbounded: with Mosquitto's limits, messages
	// beyond them are dropped, not relayed.
	m := hubtest.StartMosquitto(b, hubtest.MosquittoOptions{Quiet: true, ExtraConfig: "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"})
	per := (b.N + units - 1) / units
	total := per * units
	var received sync.WaitGroup
	received.Add(total)
	var got int64
	var mu sync.Mutex
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("relay-sub").SetProtocolVersion(4).
		SetCleanSession(true).SetOrderMatters(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("rr/units/+/telemetry", 1, func(mqtt.Client, mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if got < int64(total) {
			got++
			received.Done()
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	pubs := make([]mqtt.Client, units)
	for i := range pubs {
		pubs[i] = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID(fmt.Sprintf("relay-%03d", i)).SetProtocolVersion(4))
		if tok := pubs[i].Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer pubs[i].Disconnect(0)
	}
	base := time.Now().Add(-time.Hour)
	b.ResetTimer()
	start := time.Now()
	for i, c := range pubs {
		go func() {
			id := fmt.Sprintf("bench-%03d", i)
			var toks []mqtt.Token
			for seq := uint64(1); seq <= uint64(per); seq++ {
				payload, _ := protocol.Encode(protocol.Telemetry{Unit: id, Seq: seq, TS: base.Add(time.Duration(seq) * time.Millisecond).UnixMilli(),
					Lat: lat0 + float64(seq%100)*1e-5, Lon: lon0, Status: protocol.StatusAvailable})
				toks = append(toks, c.Publish("rr/units/"+id+"/telemetry", 1, false, payload))
				if len(toks) == 64 {
					for _, t := range toks {
						t.WaitTimeout(10 * time.Second)
					}
					toks = toks[:0]
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { received.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		mu.Lock()
		b.Fatalf("the subscriber received %d of %d", got, total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchIngest(b *testing.B, units int) float64 {
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
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(committed, "committed")
	return rate
}
