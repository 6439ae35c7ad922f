package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"kuaifan/agent/internal/terminal"
	"kuaifan/hub/hubtest"
)

// The officer answers a dispatch from the vehicle's terminal: the terminal
// API reaches the agent, and the agent tells the hub.
func TestTerminalDrivesTheAgent(t *testing.T) {
	h := hubtest.Start(t, nil)
	cfg := testConfig(t, h.MQTTURL(), "car-7", h.Enrol("car-7", "car"))
	cfg.Terminal = freeAddr(t)
	cfg.TerminalToken = "terminal-token-0123456789"
	r := start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if u := unitOf(t, h, "car-7"); !u.Online || u.Lat == nil {
			return fmt.Errorf("car-7 not online with a position")
		}
		return nil
	})
	c := &terminal.Client{BaseURL: "http://" + cfg.Terminal, Token: cfg.TerminalToken}
	ctx := context.Background()
	waitFor(t, 5*time.Second, func() error {
		_, _, err := c.Assignment(ctx)
		return err
	})
	if _, ok, _ := c.Assignment(ctx); ok {
		t.Fatal("an assignment before any dispatch")
	}
	inc := createIncident(t, h, lat0+north(800), lon0, 2)
	assign(t, h, inc.ID, "car-7")
	waitAssignment(t, r.Agent, inc.ID, StateDispatched)
	as, ok, err := c.Assignment(ctx)
	if err != nil || !ok || as.Incident != inc.ID || as.State != terminal.StateDispatched {
		t.Fatalf("terminal assignment = %+v %v %v", as, ok, err)
	}
	if err := c.Arrived(ctx, inc.ID); !errors.Is(err, terminal.ErrWrongState) {
		t.Errorf("arrived before ack through the terminal: %v", err)
	}
	if err := c.Ack(ctx, inc.ID); err != nil {
		t.Fatal(err)
	}
	waitIncident(t, h, inc.ID, "car-7", "enroute")
	if err := (&terminal.Client{BaseURL: c.BaseURL}).Ack(ctx, inc.ID); !errors.Is(err, terminal.ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
