package hub_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/dispatch"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

var (
	signInFor  = flag.Duration("signins.for", 20*time.Second, "BenchmarkSignInsUnderDispatch: each phase lasts at least so long")
	signInRate = flag.Int("signins.rate", 20, "BenchmarkSignInsUnderDispatch: sign-ins a second")
)

// BenchmarkSignInsUnderDispatch: people signing in at a sustained 20 a
// second (-signins.rate) — each an argon2id hash of access.DefaultHashing, the hub's
// default (the hub process is TestCrashChild's, whose zero
// Config.PasswordHashing is DefaultHashing; checked on the hashes it
// writes) — while BenchmarkDispatchLatency's load runs: 10,000 units
// reporting at 1 Hz (bare MQTT connections) to a hub in another process,
// and priority-1 incidents posted one after the other, each timed until its
// dispatch command arrives at the nearest unit. b.N incidents (and at
// least -signins.for) without the sign-ins, then as many with them, in one
// run. It reports the sign-ins a
// second achieved, their p50 and p99, the dispatch p99 without and with
// them, and the ratio. Passwords are hashed as the hub command hashes them:
// in a child process at the lowest CPU priority (access.ProcessHasher).
func BenchmarkSignInsUnderDispatch(b *testing.B) {
	dir := b.TempDir()
	b.Setenv("KUAIFAN_CRASH_HASHER", "process") // hashing as the hub command does it
	_, api, broker := startChild(b, dir, "")
	load := newFleetLoad(b, api, "crash-token", broker, benchUnits(), true, func(i int) (float64, float64) {
		return lat0 + 0.02 + float64(i%100)*1e-3, lon0 + float64(i/100)*1e-3
	})
	defer load.disconnect()
	load.report()
	defer load.halt()
	rig := newDispatchRig(b, api, broker)
	defer rig.close()

	// Each name signs in every 5 s: a second attempt for a name while its
	// first is being checked would wait (429), by design.
	const people = 100
	for i := range people {
		body := mustJSON(wire.NewUser{Name: fmt.Sprintf("op%03d", i), Role: wire.RoleDispatcher, Password: testPassword, MustChange: new(bool)})
		if st, msg := rig.call("POST", "/api/users", body, nil); st != http.StatusCreated {
			b.Fatalf("add user: %d %s", st, msg)
		}
	}
	checkHashing(b, dir, access.DefaultHashing)
	time.Sleep(3 * time.Second) // the fleet's first reports are in

	b.ResetTimer()
	without := rig.measure(b, b.N, *signInFor)
	stop := make(chan struct{})
	signIns := make(chan signInResult, 1<<16)
	var wg sync.WaitGroup
	started := time.Now()
	wg.Go(func() { signInLoad(api, people, *signInRate, stop, signIns) })
	with := rig.measure(b, b.N, *signInFor)
	close(stop)
	wg.Wait()
	elapsed := time.Since(started)
	b.StopTimer()
	close(signIns)

	var lat []time.Duration
	failed := map[int]int{}
	for r := range signIns {
		if r.status == http.StatusOK {
			lat = append(lat, r.took)
		} else {
			failed[r.status]++
		}
	}
	if len(lat) == 0 {
		b.Fatalf("no sign-in succeeded: %v", failed)
	}
	if len(failed) > 0 {
		b.Logf("sign-ins that failed, by status: %v", failed)
	}
	slices.Sort(lat)
	slices.Sort(without)
	slices.Sort(with)
	b.Logf("%d incidents without sign-ins, %d with %d sign-ins in %v", len(without), len(with), len(lat), elapsed.Round(time.Millisecond))
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "signins/s")
	b.ReportMetric(quantileMS(lat, 0.50), "signin-p50-ms")
	b.ReportMetric(quantileMS(lat, 0.99), "signin-p99-ms")
	b.ReportMetric(quantileMS(without, 0.99), "dispatch-p99-ms")
	b.ReportMetric(quantileMS(with, 0.99), "dispatch-p99-signins-ms")
	b.ReportMetric(quantileMS(with, 0.99)/quantileMS(without, 0.99), "p99-ratio")
	b.ReportMetric(quantileMS(without, 0.50), "dispatch-p50-ms")
	b.ReportMetric(quantileMS(with, 0.50), "dispatch-p50-signins-ms")
}

func quantileMS(ds []time.Duration, q float64) float64 {
	return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
}

// checkHashing fails the benchmark unless the hub hashed its accounts'
// passwords with h: the sign-ins must cost what they cost in the field.
func checkHashing(b *testing.B, dir string, h access.Hashing) {
	raw, err := os.ReadFile(filepath.Join(dir, access.AccountsFile))
	if err != nil {
		b.Fatal(err)
	}
	var doc struct{ Users []struct{ Name, Hash string } }
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", h.MemoryKiB, h.Time, h.Threads)
	for _, u := range doc.Users {
		if !strings.HasPrefix(u.Hash, want) {
			b.Fatalf("%s's password is hashed %s…, want %s…", u.Name, u.Hash[:min(len(u.Hash), 30)], want)
		}
	}
}

type signInResult struct {
	status int
	took   time.Duration
}

// signInLoad signs people in, perSecond a second, each on its own
// goroutine (people do not wait for each other), until stop.
func signInLoad(api string, people, perSecond int, stop <-chan struct{}, out chan<- signInResult) {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		body := mustJSON(wire.SignIn{Name: fmt.Sprintf("op%03d", i%people), Password: testPassword})
		wg.Go(func() {
			start := time.Now()
			resp, err := client.Post(api+"/api/session", "application/json", bytes.NewReader(body))
			if err != nil {
				out <- signInResult{status: -1, took: time.Since(start)}
				return
			}
			resp.Body.Close()
			out <- signInResult{status: resp.StatusCode, took: time.Since(start)}
		})
	}
}

// dispatchRig is BenchmarkDispatchLatency's responder and its incidents:
// a unit at the site, always the nearest, which the hub sends to each
// priority-1 incident by itself.
type dispatchRig struct {
	api     string
	c       mqtt.Client
	arrived chan time.Time
}

func newDispatchRig(b *testing.B, api, broker string) *dispatchRig {
	secret := enrol(b, api, "crash-token", "responder")
	r := &dispatchRig{api: api, arrived: make(chan time.Time, 16)}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("responder").SetUsername("responder").
		SetPassword(secret).SetProtocolVersion(4)
	r.c = mqtt.NewClient(o)
	if tok := r.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	r.c.Subscribe("rr/units/responder/cmd", 1, func(_ mqtt.Client, m mqtt.Message) {
		if cmd, err := protocol.DecodeCommand(m.Payload()); err == nil && cmd.Type == protocol.CmdDispatch {
			r.arrived <- time.Now()
		}
	}).WaitTimeout(10 * time.Second)
	online, _ := protocol.Encode(protocol.State{Unit: "responder", Online: true, Boot: "bench"})
	r.c.Publish("rr/units/responder/state", 1, true, online).WaitTimeout(5 * time.Second)
	r.fix()
	return r
}

func (r *dispatchRig) close() { r.c.Disconnect(0) }

// fix reports the responder at the site, now.
func (r *dispatchRig) fix() {
	p, _ := protocol.Encode(protocol.Telemetry{Unit: "responder", Seq: uint64(time.Now().UnixMicro()), TS: time.Now().UnixMilli(),
		Lat: lat0, Lon: lon0, Status: protocol.StatusAvailable})
	r.c.Publish("rr/units/responder/telemetry", 1, false, p).WaitTimeout(5 * time.Second)
}

// call calls the API with the bootstrap token.
func (r *dispatchRig) call(method, path string, body []byte, out any) (int, string) {
	req, _ := http.NewRequest(method, r.api+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer crash-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if out != nil {
		json.Unmarshal(buf.Bytes(), out)
	}
	return resp.StatusCode, buf.String()
}

// measure posts priority-1 incidents one after the other, n and for at
// least d, and answers the time from each post to its dispatch command's
// arrival at the responder; each is closed when its command arrives.
func (r *dispatchRig) measure(b *testing.B, n int, d time.Duration) []time.Duration {
	latencies := make([]time.Duration, 0, n)
	body := mustJSON(map[string]any{"lat": lat0, "lon": lon0, "kind": "assault", "priority": 1})
	until := time.Now().Add(d)
	for i := 0; i < n || time.Now().Before(until); i++ {
		if i%20 == 0 {
			r.fix() // keep the responder's position fresh
		}
		var inc dispatch.Incident
		start := time.Now()
		if st, msg := r.call("POST", "/api/incidents", body, &inc); st != http.StatusCreated {
			b.Fatalf("create: %d %s", st, msg)
		}
		select {
		case at := <-r.arrived:
			latencies = append(latencies, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("incident %d: no dispatch arrived (assignments %+v)", i, inc.Assignments)
		}
		if len(inc.Assignments) != 1 || inc.Assignments[0].Unit != "responder" {
			b.Fatalf("dispatched %+v, want the responder", inc.Assignments)
		}
		if st, msg := r.call("POST", "/api/incidents/"+inc.ID+"/close", nil, nil); st != http.StatusOK {
			b.Fatalf("close: %d %s", st, msg)
		}
	}
	return latencies
}
