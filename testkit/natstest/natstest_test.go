package natstest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/testkit/poll"
)

func connect(t *testing.T, id string, clean bool, urls []string, handler paho.MessageHandler) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().SetClientID(id).SetProtocolVersion(4).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetOrderMatters(false).SetDefaultPublishHandler(handler)
	for _, u := range urls {
		o.AddBroker(u)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestSessionSurvivesNodeLoss: a persistent subscriber's QoS 1 messages,
// published while its node is down, reach it on another node.
func TestSessionSurvivesNodeLoss(t *testing.T) {
	c := Start(t, Options{Logs: testing.Verbose()})
	var mu sync.Mutex
	got := map[string]bool{}
	sub := connect(t, "hub", false, []string{c.MQTTURL(0), c.MQTTURL(2)}, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[string(m.Payload())] = true
		mu.Unlock()
	})
	if tok := sub.Subscribe("rr/units/+/telemetry", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub := connect(t, "car-1", true, []string{c.MQTTURL(1)}, nil)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			tok := pub.Publish("rr/units/car-1/telemetry", 1, false, fmt.Sprint(i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}
	send(0, 100)
	start := time.Now()
	c.Kill(0)
	send(100, 200)
	t.Logf("published 100 with node 0 down in %v", time.Since(start))
	poll.Until(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 200 {
			return fmt.Errorf("%d of 200 received", len(got))
		}
		return nil
	})
	t.Logf("all received %v after the kill", time.Since(start))
	c.Restart(0)
	c.WaitHealthy(60 * time.Second)
}
