package hub_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/brokerconf"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
	"kuaifan/testkit/natstest"
)

// city is one city's hub on a shared NATS cluster.
type city struct {
	root, user, password string
	h                    *hubtest.Hub
}

// fetch writes the city's NATS files (its account file, and the sample
// nats.conf) into dir.
func (c *city) fetch(t *testing.T, dir, query string) wire.BrokerConfig {
	t.Helper()
	conf, _ := brokerConfig(t, c.h, dir, "broker=nats&"+query, brokerconf.NATSAccountFile(c.root))
	return conf
}

func (c *city) unitIDs(t *testing.T) []string {
	t.Helper()
	var units []unitView
	if st := c.h.Do(http.MethodGet, "/api/units", nil, &units); st != http.StatusOK {
		t.Fatalf("%s: GET /api/units: %d", c.root, st)
	}
	var ids []string
	for _, u := range units {
		ids = append(ids, u.ID)
	}
	return ids
}

// mqttAs connects a paho client as user, recording what it gets.
func mqttAs(t *testing.T, brokerURL, clientID, user, password string) (mqtt.Client, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			got[m.Topic()]++
			mu.Unlock()
		})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("%s as %s: %v", clientID, user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps(got)
	}
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func granted(t *testing.T, c mqtt.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*mqtt.SubscribeToken).Result()[filter]
}

// Two cities, cs and zz, each with its own hub, topic root and NATS
// account, share one three-node cluster. Each hub renders its city's
// account (GET /api/broker-config); the cluster includes both. Each hub
// sees only its own units and positions, neither hub's account reads the
// other city's topics; a unit moved from cs to zz by enrolling it again
// loses its old secret at the reload and reports to zz alone with its new
// one. A rotated secret replaces the old one at the same reload.
func TestTwoCitiesOnOneNATSCluster(t *testing.T) {
	dir := t.TempDir()
	cs := &city{root: "cs", user: "hub-cs", password: "pw-of-hub-cs"}
	zz := &city{root: "zz", user: "hub-zz", password: "pw-of-hub-zz"}
	cities := []*city{cs, zz}

	// Each hub, on its embedded broker for now, renders its account with
	// the password it will connect with.
	for _, c := range cities {
		c.h = hubtest.Start(t, func(cfg *hub.Config) { cfg.TopicRoot = c.root })
		h, err := brokerconf.HashHubPasswordFor(brokerconf.NATS, c.password)
		if err != nil {
			t.Fatal(err)
		}
		c.fetch(t, dir, "hub_user="+c.user+"&hub_password_hash="+url.QueryEscape(h.Bcrypt))
		c.h.Stop()
	}
	// Every node includes both cities' accounts (natstest sets the rest of
	// the sample nats.conf).
	conf := filepath.Join(dir, "accounts.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("accounts {\n  include %q\n  include %q\n}\n",
		brokerconf.NATSAccountFile("cs"), brokerconf.NATSAccountFile("zz"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := natstest.Start(t, natstest.Options{ConfigFile: conf, Logs: os.Getenv("KUAIFAN_TEST_LOG") != ""})

	// Both hubs on the cluster, each through a node of its own. (One URL
	// each: -broker's list of nodes is not relied on here.)
	for i, c := range cities {
		data := c.h.Config.DataDir
		c.h = hubtest.Start(t, func(cfg *hub.Config) {
			cfg.DataDir, cfg.TopicRoot = data, c.root
			cfg.BrokerURL, cfg.BrokerUsername, cfg.BrokerPassword = cl.MQTTURL(i), c.user, c.password
		})
	}
	secrets := map[string]string{
		"cs-1": cs.h.Enrol("cs-1", "car"), "mover": cs.h.Enrol("mover", "motorcycle"),
		"zz-1": zz.h.Enrol("zz-1", "car"),
	}
	for _, c := range cities {
		c.fetch(t, dir, "")
	}
	cl.Reload()

	now := time.Now().Add(-time.Minute)
	// report sends a fix until the hub confirms it, as the agent resends
	// what stays unconfirmed: on NATS a unit's subscription to its ack topic
	// (a JetStream consumer) may be made only after the hub's first ack.
	report := func(d *hubtest.Device, seq uint64) {
		t.Helper()
		fix := d.Fix(seq, now.Add(time.Duration(seq)*time.Second), lat0, lon0+float64(seq)*1e-4, protocol.StatusAvailable)
		hubtest.WaitFor(t, 15*time.Second, func() error {
			d.Send(fix)
			for range 50 {
				if d.Acked(seq) {
					return nil
				}
				time.Sleep(10 * time.Millisecond)
			}
			return fmt.Errorf("%s: seq %d not confirmed", d.ID, seq)
		})
	}
	devices := map[string]*hubtest.Device{}
	for i, id := range []string{"cs-1", "mover", "zz-1"} {
		root := id[:2]
		if id == "mover" {
			root = "cs"
		}
		devices[id] = hubtest.Connect(t, cl.MQTTURL(i%3), id, secrets[id], hubtest.DeviceOptions{Root: root, AutoReconnect: true})
		report(devices[id], 1)
	}
	if ids := cs.unitIDs(t); !slices.Equal(ids, []string{"cs-1", "mover"}) {
		t.Errorf("cs's units: %v", ids)
	}
	if ids := zz.unitIDs(t); !slices.Equal(ids, []string{"zz-1"}) {
		t.Errorf("zz's units: %v", ids)
	}
	for _, id := range []string{"cs-1", "mover"} {
		if tr := track(t, cs.h, id); len(tr) != 1 {
			t.Errorf("cs's track of %s: %d positions", id, len(tr))
		}
	}
	if tr := track(t, zz.h, "zz-1"); len(tr) != 1 {
		t.Errorf("zz's track of zz-1: %d positions", len(tr))
	}

	// Neither hub's account reaches the other city: a subscription to its
	// topics is refused, a command published there goes nowhere.
	spy, heard := mqttAs(t, cl.MQTTURL(2), "spy", cs.user, cs.password)
	for _, f := range []string{"zz/units/+/telemetry", "zz/units/zz-1/state", "zz/units/+/cmd", "#"} {
		if q := granted(t, spy, f); q != 0x80 {
			t.Errorf("hub-cs subscribing to %s: granted %#x", f, q)
		}
	}
	if tok := spy.Publish("zz/units/zz-1/cmd", 1, false, `{"v":1}`); !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("publish timed out")
	}
	other, _ := mqttAs(t, cl.MQTTURL(0), "spy", zz.user, zz.password)
	if q := granted(t, other, "cs/units/+/telemetry"); q != 0x80 {
		t.Errorf("hub-zz subscribing to cs's telemetry: granted %#x", q)
	}
	report(devices["zz-1"], 2)
	report(devices["cs-1"], 2)
	if got := heard(); len(got) != 0 {
		t.Errorf("hub-cs heard %v", got)
	}
	if cmds := devices["zz-1"].Commands(); len(cmds) != 0 {
		t.Errorf("zz-1 got a command from cs's hub: %q", cmds)
	}

	// mover moves to zz: revoked at cs, enrolled again at zz.
	if st := cs.h.Do(http.MethodDelete, "/api/units/mover", nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke mover at cs: %d", st)
	}
	secrets["mover2"] = zz.h.Enrol("mover", "motorcycle")
	// And zz-1's secret is rotated (by hand: no push).
	var rotated wire.SecretRotated
	if st := zz.h.Do(http.MethodPost, "/api/units/zz-1/secret", map[string]any{"push": false}, &rotated); st != http.StatusOK {
		t.Fatalf("rotate zz-1: %d", st)
	}
	// A user in two accounts is no configuration: had zz's account been
	// written before cs's, a reload would be refused (and nats-server would
	// keep the old configuration).
	zzNew := zz.fetch(t, dir, "")
	if !slices.Equal(zzNew.Units, []string{"mover", "zz-1"}) {
		t.Errorf("zz's accounts: %v", zzNew.Units)
	}
	if _, err := server.ProcessConfigFile(conf); err == nil || !strings.Contains(err.Error(), `Duplicate user "mover"`) {
		t.Errorf("mover in both cities' accounts: %v; want a duplicate user", err)
	}
	cs.fetch(t, dir, "")
	cl.Reload()

	// Its old link is cut at the reload, its old secret no longer connects,
	// the new one does, to zz only.
	// So is zz-1's, made with the secret it no longer has.
	for _, id := range []string{"mover", "zz-1"} {
		old := devices[id]
		hubtest.WaitFor(t, 10*time.Second, func() error {
			if old.Client.IsConnectionOpen() {
				return fmt.Errorf("%s's link still open after the reload", id)
			}
			return nil
		})
		old.Client.Disconnect(0) // no reconnecting with the old secret
	}
	rekeyed := hubtest.Connect(t, cl.MQTTURL(0), "zz-1", rotated.Secret, hubtest.DeviceOptions{Root: "zz"})
	report(rekeyed, 3)
	for i := range cl.Nodes() {
		for _, root := range []string{"cs", "zz"} {
			if err := refused(t, cl.MQTTURL(i), "mover", secrets["mover"], root); err != nil {
				t.Errorf("node %d, the old secret: %v", i, err)
			}
		}
	}
	moved := hubtest.Connect(t, cl.MQTTURL(2), "mover", secrets["mover2"], hubtest.DeviceOptions{Root: "zz"})
	report(moved, 1)
	if err := moved.PublishTo("cs/units/mover/telemetry", []byte(`{"v":1}`)); err != nil {
		t.Log("publishing under cs:", err) // dropped by the broker either way
	}
	report(moved, 2)
	if ids := zz.unitIDs(t); !slices.Equal(ids, []string{"mover", "zz-1"}) {
		t.Errorf("zz's units after the move: %v", ids)
	}
	if ids := cs.unitIDs(t); !slices.Equal(ids, []string{"cs-1"}) {
		t.Errorf("cs's units after the move: %v", ids)
	}
	if tr := track(t, zz.h, "mover"); len(tr) != 2 {
		t.Errorf("zz's track of mover: %d positions, want 2", len(tr))
	}
	if tr := track(t, cs.h, "mover"); len(tr) != 1 {
		t.Errorf("cs's track of mover (its history there, kept): %d positions, want 1", len(tr))
	}
}
