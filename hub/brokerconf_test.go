package hub_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/brokerconf"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// brokerConfig fetches GET /api/broker-config?query and writes its files
// into dir, returning the answer and the path of the file named name.
func brokerConfig(t *testing.T, h *hubtest.Hub, dir, query, name string) (wire.BrokerConfig, string) {
	t.Helper()
	var c wire.BrokerConfig
	if st := h.Do(http.MethodGet, "/api/broker-config?"+query, nil, &c); st != http.StatusOK {
		t.Fatalf("GET /api/broker-config?%s: %d", query, st)
	}
	files := make([]brokerconf.File, len(c.Files))
	found := false
	for i, f := range c.Files {
		files[i] = brokerconf.File{Name: f.Name, Content: f.Content}
		found = found || f.Name == name
	}
	if !found {
		t.Fatalf("no %s in %+v", name, c.Files)
	}
	if err := brokerconf.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	return c, filepath.Join(dir, name)
}

// refused reports whether the broker refuses id with secret now.
func refused(t *testing.T, url, id, secret string, root string) error {
	t.Helper()
	d, err := hubtest.Dial(t, url, id, secret, hubtest.DeviceOptions{Root: root, NoState: true})
	if err == nil {
		d.Client.Disconnect(0)
		return fmt.Errorf("%s admitted", id)
	}
	return nil
}

// A city moves from the embedded broker to Mosquitto with deploy-config's
// files: the units keep their secrets; each reports to the hub and reads
// only its own commands — the secret a rotation pushes reaches its unit
// alone —; after the files are fetched again and Mosquitto reloads them, a
// rotated secret replaces the old one and a revoked unit no longer
// connects.
func TestMoveToMosquittoWithDeployConfig(t *testing.T) {
	h := hubtest.Start(t, nil)
	s1, s2 := h.Enrol("car-1", "car"), h.Enrol("car-2", "car")
	hubHash, err := brokerconf.MosquittoHash("hub-pw")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, conf := brokerConfig(t, h, dir, "broker=mosquitto&dir="+dir+"&hub_password_hash="+url.QueryEscape(hubHash), brokerconf.MosquittoConf)
	if !slices.Equal(c.Units, []string{"car-1", "car-2"}) || len(c.NeedRotation) != 0 || c.HubUser != "kuaifan-hub" {
		t.Fatalf("broker config: %+v", c)
	}
	h.Stop()
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{Config: string(b)})
	h = hubtest.Start(t, func(c *hub.Config) {
		c.DataDir = h.Config.DataDir
		c.BrokerURL, c.BrokerUsername, c.BrokerPassword = m.URL(), "kuaifan-hub", "hub-pw"
	})

	d1 := hubtest.Connect(t, m.URL(), "car-1", s1, hubtest.DeviceOptions{})
	now := time.Now().Add(-time.Minute)
	for seq := uint64(1); seq <= 3; seq++ {
		d1.Send(d1.Fix(seq, now.Add(time.Duration(seq)*time.Second), lat0, lon0, protocol.StatusAvailable))
	}
	d1.WaitAcked(1, 2, 3)
	if err := refused(t, m.URL(), "car-1", s2, ""); err != nil {
		t.Error("car-1 with car-2's secret:", err)
	}
	spoof, _ := protocol.Encode(protocol.Telemetry{Unit: "car-2", Seq: 1, TS: now.UnixMilli(), Lat: lat0, Lon: lon0, Status: protocol.StatusAvailable})
	if err := d1.PublishTo("rr/units/car-2/telemetry", spoof); err != nil {
		t.Fatal(err)
	}
	d1.Send(d1.Fix(4, now.Add(4*time.Second), lat0, lon0, protocol.StatusAvailable))
	d1.WaitAcked(4)
	if tr := track(t, h, "car-1"); len(tr) != 4 {
		t.Errorf("car-1's track: %d positions, want 4", len(tr))
	}
	if tr := track(t, h, "car-2"); len(tr) != 0 {
		t.Errorf("car-1 wrote car-2's track: %+v", tr)
	}

	// car-1 listens on car-2's commands; car-2's new secret reaches car-2 only.
	var mu sync.Mutex
	var overheard []string
	if tok := d1.Client.Subscribe("rr/units/car-2/cmd", 1, func(_ mqtt.Client, msg mqtt.Message) {
		mu.Lock()
		overheard = append(overheard, string(msg.Payload()))
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	d2 := hubtest.Connect(t, m.URL(), "car-2", s2, hubtest.DeviceOptions{})
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if !unit(t, h, "car-2").Online {
			return fmt.Errorf("car-2 not online")
		}
		return nil
	})
	var rotated wire.SecretRotated
	if st := h.Do(http.MethodPost, "/api/units/car-2/secret", nil, &rotated); st != http.StatusOK || !rotated.Pushed {
		t.Fatalf("rotate car-2: %d %+v", st, rotated)
	}
	if cmd := d2.WaitCommand(protocol.CmdConfig, ""); cmd.Secret != rotated.Secret {
		t.Errorf("car-2 got secret %q, want the rotated one", cmd.Secret)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if len(overheard) != 0 {
		t.Errorf("car-1 read car-2's commands: %q", overheard)
	}
	mu.Unlock()

	// Fetched again (the hub knows its password now) and reloaded: car-2's
	// new secret is the one Mosquitto takes.
	if st := h.Do(http.MethodDelete, "/api/units/car-1", nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke car-1: %d", st)
	}
	c, _ = brokerConfig(t, h, dir, "broker=mosquitto&dir="+dir, brokerconf.MosquittoConf)
	if !slices.Equal(c.Units, []string{"car-2"}) {
		t.Errorf("units after the revocation: %v", c.Units)
	}
	if !d1.Client.IsConnectionOpen() {
		t.Fatal("car-1's connection closed before the reload")
	}
	m.Reload()
	hubtest.WaitFor(t, 10*time.Second, func() error { return refused(t, m.URL(), "car-2", s2, "") })
	if _, err := hubtest.Dial(t, m.URL(), "car-2", rotated.Secret, hubtest.DeviceOptions{}); err != nil {
		t.Errorf("car-2's new secret after the reload: %v", err)
	}
	if err := refused(t, m.URL(), "car-1", s1, ""); err != nil {
		t.Error("revoked car-1:", err)
	}
	// Mosquitto 2.0 re-checks the connections it has at a reload: the
	// revoked unit's is closed then, not left open.
	hubtest.WaitFor(t, 10*time.Second, func() error {
		if d1.Client.IsConnectionOpen() {
			return fmt.Errorf("revoked car-1 still connected after the reload")
		}
		return nil
	})
}
