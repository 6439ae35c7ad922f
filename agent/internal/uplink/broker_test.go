package uplink

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"kuaifan/protocol"
)

// broker is a real MQTT broker in the test's process — mochi, the broker the
// hub embeds — doing the one thing of the hub's that the Link relies on: it
// acks every report (telemetry and events, by their seq) on the unit's ack
// topic as soon as the report arrives. It lets every client in: the hub's
// authentication and ACL are the hub's tests', and the agent's tests in
// kuaifan/agent run the Link against a real hub.
type broker struct {
	srv  *mochi.Server
	addr string
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: testLogger(t)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	b := &broker{srv: srv, addr: tcp.Address()}
	for i, kind := range []protocol.Kind{protocol.KindTelemetry, protocol.KindEvents} {
		if err := srv.Subscribe(protocol.Topics{}.All(kind), i+1, b.ack); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *broker) url() string { return "tcp://" + b.addr }

// ack runs on mochi's goroutine of the publishing client, for every report.
func (b *broker) ack(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
	topics := protocol.Topics{}
	unit, kind, err := topics.Parse(pk.TopicName)
	if err != nil {
		return
	}
	var seq uint64
	switch kind {
	case protocol.KindTelemetry:
		m, err := protocol.DecodeTelemetry(pk.Payload)
		if err != nil {
			return
		}
		seq = m.Seq
	case protocol.KindEvents:
		m, err := protocol.DecodeEvent(pk.Payload)
		if err != nil {
			return
		}
		seq = m.Seq
	default:
		return
	}
	payload, err := protocol.Encode(protocol.Ack{Seqs: protocol.Ranges{{seq, seq}}})
	if err != nil {
		return
	}
	_ = b.srv.Publish(topics.Unit(unit, protocol.KindAck), payload, false, qos)
}

// testLogger logs to the test's output, or discards when KUAIFAN_TEST_LOG is
// unset and the test is not verbose.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() && os.Getenv("KUAIFAN_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
