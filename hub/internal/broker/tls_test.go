package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"kuaifan/hub/internal/broker"
	"kuaifan/protocol"
)

// tlsPair is a self-signed certificate for 127.0.0.1, and a client
// configuration that trusts it.
func tlsPair(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool}
}

// A broker with a TLS listener only: a device with the CA connects and
// publishes, as over plain MQTT; a wrong secret is refused over TLS as
// without it; a client that never starts its handshake is closed at the
// connect deadline.
func TestTLSListener(t *testing.T) {
	server, client := tlsPair(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLogger()
	creds := newCreds("u1", "s1")
	e, err := broker.NewEmbedded(broker.Config{TLSListener: tls.NewListener(raw, server), Credentials: creds,
		Logger: log, ConnectTimeout: 300 * time.Millisecond})
	if err != nil {
		raw.Close()
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	if e.Addr() != nil || e.TLSAddr() == nil {
		t.Fatalf("addresses: plain %v, TLS %v", e.Addr(), e.TLSAddr())
	}
	url := "ssl://" + e.TLSAddr().String()
	r := &recorder{}
	if err := e.Subscribe(tp.All(protocol.KindTelemetry), r.handle); err != nil {
		t.Fatal(err)
	}

	c := mustConnect(t, pahoOpts(url, "u1", "s1").SetTLSConfig(client))
	waitTok(t, c.Publish(topic("u1", protocol.KindTelemetry), 1, false, "over TLS"))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), "over TLS")

	if _, err := connect(t, pahoOpts(url, "u1", "wrong").SetTLSConfig(client)); err == nil || !strings.Contains(err.Error(), "bad user name or password") {
		t.Errorf("a wrong secret over TLS: %v, want it refused", err)
	}

	silent, err := net.Dial("tcp", e.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(silent); err != nil {
		t.Errorf("a silent client: %v, want the broker to close it", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a silent client closed after %v, want the connect deadline", d)
	}
}

// Both listeners: the same broker, the same devices, each served on either;
// Close shuts both.
func TestPlainAndTLSListeners(t *testing.T) {
	server, client := tlsPair(t)
	var tlsAddr string
	env := startEmbedded(t, func(c *broker.Config) {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.TLSListener = tls.NewListener(raw, server)
		tlsAddr = raw.Addr().String()
	})
	if env.e.TLSAddr().String() != tlsAddr {
		t.Fatalf("TLS address %v, want %s", env.e.TLSAddr(), tlsAddr)
	}
	r := env.subscribe(t, tp.All(protocol.KindTelemetry))
	plain := mustConnect(t, pahoOpts(env.url, "u1", "s1"))
	secure := mustConnect(t, pahoOpts("ssl://"+tlsAddr, "u2", "s2").SetTLSConfig(client))
	waitTok(t, plain.Publish(topic("u1", protocol.KindTelemetry), 1, false, "plain"))
	waitTok(t, secure.Publish(topic("u2", protocol.KindTelemetry), 1, false, "secure"))
	r.waitFor(t, topic("u1", protocol.KindTelemetry), "plain")
	r.waitFor(t, topic("u2", protocol.KindTelemetry), "secure")

	if err := env.e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{env.addr, tlsAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Close", addr)
		}
	}
}
