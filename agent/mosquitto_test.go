package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// mosquittoHub runs Debian's Mosquitto with the deployment's ACL, a
// password file holding the hub and the given units, and a hub on it.
func mosquittoHub(t *testing.T, extra string, units map[string]string) (*hubtest.Mosquitto, *hubtest.Hub) {
	t.Helper()
	users := map[string]string{"kuaifan-hub": "hub-pw"}
	for u, pw := range units {
		users[u] = pw
	}
	mosq := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{
		Users:       users,
		ACLFile:     "../hub/deploy/mosquitto/acl",
		Persistence: true,
		ExtraConfig: extra,
	})
	h := hubtest.Start(t, func(c *hub.Config) {
		c.BrokerURL, c.BrokerUsername, c.BrokerPassword = mosq.URL(), "kuaifan-hub", "hub-pw"
	})
	for u := range units {
		h.Enrol(u, "car")
	}
	return mosq, h
}

// Mosquitto goes away and comes back: as with the embedded broker, every
// position made offline reaches the history exactly once, newest first.
// Then commands through Mosquitto, published as the hub would: a duplicate
// is handled once; a burst of 1000 while the unit reports is handled in
// full without stopping the reports; a command sent while the agent is
// stopped waits in its persistent session and arrives after the restart,
// and one handled before the restart is not handled again.
func TestThroughMosquitto(t *testing.T) {
	mosq, h := mosquittoHub(t, "", map[string]string{"car-m": "pw-m"})
	cfg := testConfig(t, mosq.URL(), "car-m", "pw-m")
	cfg.DrainRate = 10
	r := start(t, cfg, lat0, lon0, 12)
	waitFor(t, 10*time.Second, func() error {
		if len(trackOf(t, h, "car-m")) < 5 {
			return fmt.Errorf("no track yet")
		}
		return nil
	})

	mosq.Stop()
	waitFor(t, 10*time.Second, func() error {
		if r.link.Connected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	from := len(r.rec.publishes())
	r.rec.resetOffline()
	waitFor(t, 20*time.Second, func() error {
		if n := len(r.rec.offlineSeqs()); n < 25 {
			return fmt.Errorf("%d positions queued offline", n)
		}
		return nil
	})
	mosq.Restart()
	checkDrain(t, r, from)
	waitConfirmed(t, h, r, 30*time.Second)

	// Commands, as the hub publishes them.
	hubc := hubtest.Connect(t, mosq.URL(), "kuaifan-hub", "hub-pw",
		hubtest.DeviceOptions{ClientID: "test-commands", NoState: true})
	cmdTopic := protocol.Topics{}.Unit("car-m", protocol.KindCmd)
	send := func(c protocol.Command) {
		t.Helper()
		b, err := protocol.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := hubc.PublishTo(cmdTopic, b); err != nil {
			t.Fatal(err)
		}
	}
	dispatch := protocol.Command{ID: "dup-1", TS: time.Now().UnixMilli(), Type: protocol.CmdDispatch,
		Incident: "inc-m", Lat: ptr(lat0 + north(5000)), Lon: ptr(lon0), Priority: 2, Kind: "theft"}
	send(dispatch)
	send(dispatch)
	waitAssignment(t, r.Agent, "inc-m", StateDispatched)
	waitFor(t, 10*time.Second, func() error {
		if s := r.Stats(); s.Commands != 1 || s.Duplicates != 1 {
			return fmt.Errorf("commands %d, duplicates %d", s.Commands, s.Duplicates)
		}
		return nil
	})

	// The burst: 1000 update_location commands while the unit reports 10 a second.
	sentBefore := r.Stats().Sent
	began := time.Now()
	const burst = 1000
	for i := range burst {
		send(protocol.Command{ID: fmt.Sprint("burst-", i), TS: time.Now().UnixMilli(), Type: protocol.CmdUpdateLocation,
			Incident: "inc-m", Lat: ptr(lat0 + north(5000+float64(i))), Lon: ptr(lon0)})
	}
	waitFor(t, 30*time.Second, func() error {
		if s := r.Stats(); s.Commands != 1+burst {
			return fmt.Errorf("%d of %d commands handled", s.Commands-1, burst)
		}
		return nil
	})
	took := time.Since(began)
	if a, _ := r.Assignment(); a.Lat != lat0+north(5000+burst-1) {
		t.Errorf("target %v after the burst, want the last command's %v", a.Lat, lat0+north(5000+burst-1))
	}
	t.Logf("burst of %d commands handled in %v; %d reports published meanwhile", burst, took, r.Stats().Sent-sentBefore)
	// The reports go on: about one every 100 ms.
	time.Sleep(time.Second)
	if sent := r.Stats().Sent - sentBefore; sent < 5 {
		t.Errorf("%d reports published in the %v since the burst began", sent, time.Since(began))
	}
	waitConfirmed(t, h, r, 10*time.Second)

	// The agent stops; a command waits for it in its session at Mosquitto.
	r.stop(t)
	send(protocol.Command{ID: "while-away", TS: time.Now().UnixMilli(), Type: protocol.CmdCancel, Incident: "inc-m"})
	// Handled before the restart (the latest 1000 ids are kept): not again.
	send(protocol.Command{ID: fmt.Sprint("burst-", burst-1), TS: time.Now().UnixMilli(), Type: protocol.CmdUpdateLocation,
		Incident: "inc-m", Lat: ptr(lat0), Lon: ptr(lon0)})
	r2 := start(t, cfg, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if a, ok := r2.Assignment(); ok {
			return fmt.Errorf("the cancel sent while the agent was away has not arrived: %+v", a)
		}
		if s := r2.Stats(); s.Commands != 1 || s.Duplicates != 1 {
			return fmt.Errorf("commands %d, duplicates %d", s.Commands, s.Duplicates)
		}
		return nil
	})
	if r2.Status() != protocol.StatusAvailable {
		t.Errorf("status %s after the cancel", r2.Status())
	}
}

// TLS: an ssl:// broker URL and a private CA.
func TestTLSThroughMosquitto(t *testing.T) {
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := testCerts(t)
	for name, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	extra := fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n", port,
		filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	_, h := mosquittoHub(t, extra, map[string]string{"car-t": "pw-t"})

	cfg := testConfig(t, fmt.Sprintf("ssl://127.0.0.1:%d", port), "car-t", "pw-t")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	r := start(t, cfg, lat0, lon0, 12)
	waitFor(t, 10*time.Second, func() error {
		if len(trackOf(t, h, "car-t")) < 5 {
			return fmt.Errorf("no track yet")
		}
		return nil
	})
	waitConfirmed(t, h, r, 10*time.Second)

	// Without the CA, the broker's certificate is refused.
	cfg2 := testConfig(t, cfg.Broker, "car-t", "pw-t")
	r2 := start(t, cfg2, lat0, lon0, 0)
	waitFor(t, 10*time.Second, func() error {
		if s := r2.Stats(); s.ConnectFailures == 0 || s.Connects != 0 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
}

// testCerts makes a CA and a certificate for 127.0.0.1 signed by it.
func testCerts(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kuaifan test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
