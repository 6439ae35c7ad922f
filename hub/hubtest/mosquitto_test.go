package hubtest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connack connects with MQTT 3.1.1 and returns the CONNACK's return code.
func connack(t *testing.T, addr, user, pass string) byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	str := func(b []byte, s string) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...) }
	body := str(nil, "MQTT")
	body = append(body, 4, 0xc2, 0, 30) // 3.1.1; username, password, clean session; keepalive 30 s
	body = str(str(str(body, user), user), pass)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(bufio.NewReader(c), ack); err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack[0] != 0x20 {
		t.Fatalf("not a CONNACK: %x", ack)
	}
	return ack[3]
}

func TestStartMosquittoUsersAndRestart(t *testing.T) {
	m := StartMosquitto(t, MosquittoOptions{Users: map[string]string{"u1": "s1", "u2": "s2"}, Persistence: true})
	if got := connack(t, m.Addr(), "u1", "s1"); got != 0 {
		t.Errorf("right password: CONNACK %#x", got)
	}
	if got := connack(t, m.Addr(), "u1", "nope"); got == 0 {
		t.Error("wrong password accepted")
	}
	m.Restart()
	if got := connack(t, m.Addr(), "u2", "s2"); got != 0 {
		t.Errorf("after restart: CONNACK %#x", got)
	}
	m.Stop()
	if c, err := net.DialTimeout("tcp", m.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("still accepting after Stop")
	}
	m.Stop() // stopping twice is fine
	if m.URL() != "tcp://"+m.Addr() || m.LogPath() == "" {
		t.Errorf("URL %q, log %q", m.URL(), m.LogPath())
	}
}

func TestStartMosquittoAnonymous(t *testing.T) {
	m := StartMosquitto(t, MosquittoOptions{})
	if got := connack(t, m.Addr(), "anyone", "x"); got != 0 {
		t.Errorf("anonymous broker refused: %#x", got)
	}
}
