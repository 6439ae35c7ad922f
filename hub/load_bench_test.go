package hub_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/protocol"
)

// fleetLoad is a fleet of MQTT units reporting once a second to a hub in
// another process (startChild), for the benchmarks. Positions carry the time
// they were sent, so a listener can measure delivery latency. The units are
// paho clients, or, with raw, bare MQTT connections (rawUnit) that leave the
// CPU to the hub.
type fleetLoad struct {
	b       testing.TB
	ids     []string
	secrets []string
	clients []loadClient
	place   func(i int) (lat, lon float64)

	sent, confirmed atomic.Int64
	stop            chan struct{}
	wg              sync.WaitGroup
}

type loadClient interface {
	publish(topic string, payload []byte, retain bool) error
	close()
}

type pahoClient struct{ mqtt.Client }

func (c pahoClient) publish(topic string, payload []byte, retain bool) error {
	c.Publish(topic, 1, retain, payload)
	return nil
}

func (c pahoClient) close() { c.Disconnect(0) }

// newFleetLoad enrols units through the API and connects each to broker.
func newFleetLoad(b testing.TB, api, token, broker string, units int, raw bool, place func(i int) (lat, lon float64)) *fleetLoad {
	f := &fleetLoad{b: b, ids: make([]string, units), secrets: make([]string, units), place: place}
	parallel(units, 16, func(i int) {
		f.ids[i] = fmt.Sprintf("u%05d", i)
		f.secrets[i] = enrol(b, api, token, f.ids[i])
	})
	f.connect(broker, raw)
	return f
}

// connect connects every unit to broker (again, after disconnect).
func (f *fleetLoad) connect(broker string, raw bool) {
	b, secrets := f.b, f.secrets
	f.clients, f.stop = make([]loadClient, len(f.ids)), make(chan struct{})
	confirmed := func(n int64) { f.confirmed.Add(n) }
	parallel(len(f.ids), 32, func(i int) {
		id := f.ids[i]
		online, _ := protocol.Encode(protocol.State{Unit: id, Online: true, Boot: "bench"})
		if raw {
			c, err := dialRaw(broker, id, secrets[i], confirmed)
			if err != nil {
				b.Errorf("%s: %v", id, err)
				return
			}
			c.publish("rr/units/"+id+"/state", online, true)
			f.clients[i] = c
			return
		}
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(id).
			SetPassword(secrets[i]).SetProtocolVersion(4).SetAutoReconnect(false).SetKeepAlive(60 * time.Second)
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			b.Errorf("%s: connect: %v", id, tok.Error())
			return
		}
		c.Subscribe("rr/units/"+id+"/ack", 1, func(_ mqtt.Client, m mqtt.Message) {
			if a, err := protocol.DecodeAck(m.Payload()); err == nil {
				confirmed(int64(a.Seqs.Len()))
			}
		}).WaitTimeout(10 * time.Second)
		c.Publish("rr/units/"+id+"/state", 1, true, online)
		f.clients[i] = pahoClient{c}
	})
}

// report starts every unit reporting once a second, spread over the second.
func (f *fleetLoad) report() {
	for i, c := range f.clients {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case <-f.stop:
				return
			case <-time.After(time.Duration(i) * time.Second / time.Duration(len(f.clients))):
			}
			t := time.NewTicker(time.Second)
			defer t.Stop()
			lat, lon := f.place(i)
			topic := "rr/units/" + f.ids[i] + "/telemetry"
			var p []byte
			for seq := uint64(1); ; seq++ {
				p = appendTelemetry(p[:0], protocol.Telemetry{Unit: f.ids[i], Seq: seq, TS: time.Now().UnixMilli(),
					Lat: lat, Lon: lon + float64(seq%100)*1e-5, Status: protocol.StatusAvailable})
				c.publish(topic, p, false)
				f.sent.Add(1)
				select {
				case <-f.stop:
					return
				case <-t.C:
				}
			}
		}()
	}
}

// appendTelemetry appends what protocol.Encode makes of a telemetry message
// without optional fields, without allocating: the load generator shares
// the hub's cores. TestAppendTelemetry holds it to protocol.Encode.
func appendTelemetry(b []byte, t protocol.Telemetry) []byte {
	b = append(b, `{"v":1,"unit":"`...)
	b = append(b, t.Unit...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, t.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, t.TS, 10)
	b = append(b, `,"lat":`...)
	b = strconv.AppendFloat(b, t.Lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, t.Lon, 'f', -1, 64)
	b = append(b, `,"status":"`...)
	b = append(b, t.Status...)
	return append(b, `"}`...)
}

// halt stops reporting and waits up to 20 s for every position to be confirmed.
func (f *fleetLoad) halt() {
	close(f.stop)
	f.wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for f.confirmed.Load() < f.sent.Load() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if f.confirmed.Load() != f.sent.Load() {
		f.b.Errorf("sent %d positions, %d confirmed", f.sent.Load(), f.confirmed.Load())
	}
}

func (f *fleetLoad) disconnect() {
	parallel(len(f.clients), 64, func(i int) {
		if f.clients[i] != nil {
			f.clients[i].close()
		}
	})
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

// logMetrics logs the hub's metrics whose names start with one of prefixes.
func logMetrics(b testing.TB, api string, prefixes ...string) {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		b.Log(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				b.Log(l)
			}
		}
	}
}

func TestAppendTelemetry(t *testing.T) {
	for _, m := range []protocol.Telemetry{
		{Unit: "u00000", Seq: 1, TS: 1795972555723, Lat: 28.1941, Lon: 112.9823, Status: protocol.StatusAvailable},
		{Unit: "u09999", Seq: 1 << 40, TS: 1, Lat: -33.5, Lon: 0.00001, Status: protocol.StatusEnroute},
		{Unit: "car-7", Seq: 99, TS: 1700000000000, Lat: 28.194100000000002, Lon: 112.98230000000001, Status: protocol.StatusOnScene},
	} {
		want, err := protocol.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTelemetry(nil, m); string(got) != string(want) {
			t.Errorf("appendTelemetry(%+v)\n got %s\nwant %s", m, got, want)
		}
	}
}
