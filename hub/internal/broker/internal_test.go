package broker

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"kuaifan/protocol"
)

func TestPolicy(t *testing.T) {
	for _, root := range []string{"", "city/a"} {
		tp := protocol.Topics{Root: root}
		p := policy{topics: tp}
		u := func(unit string, k protocol.Kind) string { return tp.Unit(unit, k) }
		tests := []struct {
			name      string
			got, want bool
		}{
			{"write own telemetry", p.canWrite("u1", u("u1", protocol.KindTelemetry)), true},
			{"write own state", p.canWrite("u1", u("u1", protocol.KindState)), true},
			{"write own events", p.canWrite("u1", u("u1", protocol.KindEvents)), true},
			{"write own cmd", p.canWrite("u1", u("u1", protocol.KindCmd)), false},
			{"write own ack", p.canWrite("u1", u("u1", protocol.KindAck)), false},
			{"write other's telemetry", p.canWrite("u1", u("u2", protocol.KindTelemetry)), false},
			{"write prefix unit", p.canWrite("u", u("u1", protocol.KindTelemetry)), false},
			{"write below own", p.canWrite("u1", u("u1", protocol.KindTelemetry)+"/x"), false},
			{"write other root", p.canWrite("u1", "x/units/u1/telemetry"), false},
			{"write empty unit", p.canWrite("", tp.Unit("", protocol.KindTelemetry)), false},
			{"read with wildcard unit", p.canRead("+", tp.All(protocol.KindCmd)), false},
			{"read own cmd", p.canRead("u1", u("u1", protocol.KindCmd)), true},
			{"read own ack", p.canRead("u1", u("u1", protocol.KindAck)), true},
			{"read own telemetry", p.canRead("u1", u("u1", protocol.KindTelemetry)), false},
			{"read other's cmd", p.canRead("u1", u("u2", protocol.KindCmd)), false},
			{"read wildcard", p.canRead("u1", tp.All(protocol.KindCmd)), false},
			{"read #", p.canRead("u1", "#"), false},
			{"will own state", p.canWill("u1", u("u1", protocol.KindState)), true},
			{"will other's state", p.canWill("u1", u("u2", protocol.KindState)), false},
			{"will own telemetry", p.canWill("u1", u("u1", protocol.KindTelemetry)), false},
		}
		for _, tc := range tests {
			if tc.got != tc.want {
				t.Errorf("root %q: %s: %v, want %v", root, tc.name, tc.got, tc.want)
			}
		}
	}
}

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"rr/units/+/telemetry", "rr/units/u1/telemetry", true},
		{"rr/units/+/telemetry", "rr/units/u1/state", false},
		{"rr/units/+/telemetry", "rr/units//telemetry", true},
		{"a/b/c", "a/b", false},
		{"a/+/+", "a/b", false},
		{"+", "", true},
		{"a//b", "a//b", true},
	}
	for _, tc := range tests {
		if got := matchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

// mochi calls OnPublishDropped when a subscriber's write queue is full; which
// of the two drop paths a live test hits depends on scheduling, so the hook
// is also tested directly.
func TestOnPublishDroppedCountsAndAlarms(t *testing.T) {
	zero := func() float64 { return 0 }
	m, err := newMetrics(nil, zero, zero)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	h := &authHook{metrics: m, log: slog.New(slog.NewTextHandler(&logs, nil))}
	cl := &mqtt.Client{ID: "u1"}
	h.OnPublishDropped(cl, packets.Packet{TopicName: "rr/units/u1/ack", Payload: []byte("{}")})
	if got := m.dropped.queueFull.Load(); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "client=u1") {
		t.Errorf("not an Error naming the client: %s", logs.String())
	}
}

func TestRefusalLogLimitsPerAddressWithBoundedMemory(t *testing.T) {
	var logs strings.Builder
	r := newRefusalLog(slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.maxAddrs = 3

	allowed := func(remote string, n int) int {
		ok := 0
		for range n {
			if r.allow(remote) {
				ok++
			}
		}
		return ok
	}
	if got := allowed("10.0.0.1:1000", 20); got != r.limit {
		t.Errorf("logged %d of 20 from one address, want %d", got, r.limit)
	}
	// The same host on other ports, and one IPv6 /64, count as one address each.
	if got := allowed("10.0.0.1:2000", 1); got != 0 {
		t.Error("another port of a limited address logged")
	}
	if got := allowed("[2001:db8::1]:1", r.limit) + allowed("[2001:db8::ffff]:2", 1); got != r.limit {
		t.Errorf("one /64 logged %d, want %d", got, r.limit)
	}
	// Past maxAddrs, new addresses share one entry: memory stays bounded.
	for i := range 1000 {
		r.allow(fmt.Sprintf("192.0.2.%d:1", i%250))
	}
	if n := len(r.addrs); n > r.maxAddrs+1 {
		t.Errorf("%d addresses tracked, want at most %d", n, r.maxAddrs+1)
	}
	if logs.Len() != 0 && strings.Contains(logs.String(), "not logged") {
		t.Errorf("summary before the window ended: %s", logs.String())
	}

	// After the window, the sweep reports what was left out and forgets it all.
	now = now.Add(r.window)
	r.sweep(false)
	if n := len(r.addrs); n != 0 {
		t.Errorf("%d addresses kept after their window", n)
	}
	out := logs.String()
	for _, want := range []string{"remote=10.0.0.1 not_logged=16", "remote=2001:db8::/64 not_logged=1", "remote=other"} {
		if !strings.Contains(out, want) {
			t.Errorf("no summary %q in:\n%s", want, out)
		}
	}
	// A new window logs again.
	if !r.allow("10.0.0.1:3000") {
		t.Error("not logged in a new window")
	}
	r.close()
}

func TestPolicyOwnTracks(t *testing.T) {
	p := policy{ownTracks: func(unit string) bool { return unit == "ot1" || unit == "ot2" }}
	none := policy{}
	tests := []struct {
		name      string
		got, want bool
	}{
		{"write own location", p.canWrite("ot1", "owntracks/ot1/phone"), true},
		{"write own event subtopic", p.canWrite("ot1", "owntracks/ot1/phone/event"), true},
		{"write two levels below", p.canWrite("ot1", "owntracks/ot1/phone/a/b"), false},
		{"write other's location", p.canWrite("ot1", "owntracks/ot2/phone"), false},
		{"write user level only", p.canWrite("ot1", "owntracks/ot1"), false},
		{"write wildcard device", p.canWrite("ot1", "owntracks/ot1/+"), false},
		{"write empty device", p.canWrite("ot1", "owntracks/ot1/"), false},
		{"write as a kuaifan unit", p.canWrite("car1", "owntracks/car1/phone"), false},
		{"write without the hook", none.canWrite("ot1", "owntracks/ot1/phone"), false},
		{"owntracks unit still writes its telemetry", p.canWrite("ot1", "rr/units/ot1/telemetry"), true},
		{"will own location", p.canWill("ot1", "owntracks/ot1/phone"), true},
		{"will on a subtopic", p.canWill("ot1", "owntracks/ot1/phone/event"), false},
		{"will other's location", p.canWill("ot1", "owntracks/ot2/phone"), false},
		{"will as a kuaifan unit", p.canWill("car1", "owntracks/car1/phone"), false},
		{"read own location", p.canRead("ot1", "owntracks/ot1/phone"), false},
		{"read friends", p.canRead("ot1", "owntracks/+/+"), false},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseOwnTracks(t *testing.T) {
	for topic, want := range map[string]string{
		"owntracks/car-1/phone":                      "car-1 phone ",
		"owntracks/car-1/Pixel 8/info":               "car-1 Pixel 8 info",
		"owntracks/car-1":                            "",
		"owntracks//phone":                           "",
		"owntracks/car.1/phone":                      "",
		"owntracks/car-1/a/b/c":                      "",
		"rr/units/car-1/telemetry":                   "",
		"owntracks/car-1/ph#one":                     "",
		"owntracks/car-1/" + strings.Repeat("d", 65): "",
	} {
		user, device, sub, ok := ParseOwnTracks(topic)
		got := ""
		if ok {
			got = user + " " + device + " " + sub
		}
		if got != want {
			t.Errorf("%q: %q, want %q", topic, got, want)
		}
	}
}
