package hub_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

// -tls auto makes an ECDSA certificate for this machine's names and the
// -tls-host ones on the first start, its key readable by the hub's user
// only, logs its fingerprint, and reuses the pair on the next start.
func TestTLSAutoCertificate(t *testing.T) {
	var logs syncBuffer
	h := hubtest.Start(t, func(c *hub.Config) {
		c.TLSAuto = true
		c.TLSHosts = []string{"hub.example", "10.1.2.3"}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	info := h.TLS()
	if info == nil || !info.Generated || !info.SelfSigned {
		t.Fatalf("TLS info %+v: want a certificate generated on this start, self-signed", info)
	}
	certFile := filepath.Join(h.Config.DataDir, hub.AutoCertFile)
	keyFile := filepath.Join(h.Config.DataDir, hub.AutoKeyFile)
	if info.CertFile != certFile || h.CAFile != certFile {
		t.Errorf("certificate at %s (hubtest: %s), want %s", info.CertFile, h.CAFile, certFile)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	cert := readCert(t, certFile)
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key type %T, want ECDSA", cert.PublicKey)
	}
	host, _ := os.Hostname()
	for _, name := range []string{"localhost", "127.0.0.1", "::1", host, "hub.example", "10.1.2.3"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("certificate not for %q: %v", name, err)
		}
	}
	sum := sha256.Sum256(cert.Raw)
	if got := strings.ReplaceAll(info.Fingerprint, ":", ""); !strings.EqualFold(got, fmt.Sprintf("%x", sum)) {
		t.Errorf("fingerprint %s, want the SHA-256 of the certificate %x", info.Fingerprint, sum)
	}
	if !strings.Contains(logs.String(), info.Fingerprint) || !strings.Contains(logs.String(), certFile) {
		t.Errorf("the log does not give the fingerprint and the file:\n%s", logs.String())
	}

	h = h.Restart()
	again := h.TLS()
	if again.Generated || again.Fingerprint != info.Fingerprint {
		t.Errorf("after a restart: generated %v, fingerprint %s; want the same certificate (%s)", again.Generated, again.Fingerprint, info.Fingerprint)
	}
	if resp, err := h.Client.Get(h.URL + "/healthz"); err != nil {
		t.Errorf("HTTPS with the reused certificate: %v", err)
	} else {
		resp.Body.Close()
	}
}

// Wrong TLS settings and files stop the hub at start, saying which.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCA(t, "test CA")
	certFile, keyFile := writePair(t, dir, "good", caCert, caKey)
	_, otherKey := writePair(t, dir, "other", caCert, caKey)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey := writePairValid(t, dir, "expired", caCert, caKey, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	halfAuto := t.TempDir() // a key without its certificate
	if err := os.WriteFile(filepath.Join(halfAuto, hub.AutoKeyFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		edit func(*hub.Config)
		want string
	}{
		{"no certificate file", func(c *hub.Config) { c.TLSCert, c.TLSKey = filepath.Join(dir, "missing.pem"), keyFile }, "missing.pem: no such file"},
		{"no key file", func(c *hub.Config) { c.TLSCert, c.TLSKey = certFile, filepath.Join(dir, "missing-key.pem") }, "missing-key.pem: no such file"},
		{"the key of another certificate", func(c *hub.Config) { c.TLSCert, c.TLSKey = certFile, otherKey }, "private key does not match public key"},
		{"not PEM", func(c *hub.Config) { c.TLSCert, c.TLSKey = notPEM, keyFile }, "failed to find any PEM data in certificate input"},
		{"expired", func(c *hub.Config) { c.TLSCert, c.TLSKey = expiredCert, expiredKey }, "expired"},
		{"a certificate without its key", func(c *hub.Config) { c.TLSCert = certFile }, "-tls-cert and -tls-key go together"},
		{"files and auto", func(c *hub.Config) { c.TLSCert, c.TLSKey, c.TLSAuto = certFile, keyFile, true }, "one or the other"},
		{"HTTPS without a certificate", func(c *hub.Config) { c.HTTPSAddr = "127.0.0.1:0" }, "without a certificate"},
		{"auto: a key left without its certificate", func(c *hub.Config) { c.TLSAuto, c.DataDir = true, halfAuto }, "restore it, or delete the key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := hub.DefaultConfig()
			cfg.HTTPAddr, cfg.MQTTAddr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			cfg.AdminToken = "t"
			c.edit(&cfg)
			if cfg.TLSAuto || cfg.TLSCert != "" {
				cfg.HTTPSAddr, cfg.MQTTSAddr = "127.0.0.1:0", "127.0.0.1:0"
			}
			h, err := hub.New(context.Background(), cfg)
			if err == nil {
				h.Run(canceled())
				t.Fatal("the hub started")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "TLS") {
				t.Errorf("error %q, want one about TLS saying %q", err, c.want)
			}
		})
	}
}

// The hub with -tls auto: HTTPS serves the health check and the API to a
// client with the hub's certificate as its CA, and to no other; plain HTTP
// redirects to it (but /healthz and /metrics); a device connects over
// MQTTS with the CA and its report reaches the hub; with another CA, or
// in plain MQTT on the TLS port, it is refused.
func TestTLSServesHTTPSAndMQTTS(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.TLSAuto = true })
	if !strings.HasPrefix(h.URL, "https://") || h.HTTPAddr() == "" || h.MQTTSAddr() == "" {
		t.Fatalf("URL %s, HTTP %q, MQTTS %q", h.URL, h.HTTPAddr(), h.MQTTSAddr())
	}

	// HTTPS.
	resp, err := h.Client.Get(h.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("HTTPS /healthz: %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	var units []unitView
	if st := h.Do(http.MethodGet, "/api/units", nil, &units); st != http.StatusOK {
		t.Errorf("HTTPS /api/units: %d", st)
	}
	if _, err := http.Get(h.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("HTTPS without the CA: %v, want the certificate refused", err)
	}
	old := &tls.Config{RootCAs: h.Client.Transport.(*http.Transport).TLSClientConfig.RootCAs, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", h.HTTPSAddr(), old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// Plain HTTP: a redirect, the same path and query, but for the probes.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	plain := "http://" + h.HTTPAddr()
	resp, err = noFollow.Get(plain + "/api/units?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := h.URL + "/api/units?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := noFollow.Get(plain + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("plain HTTP %s: %d, want it served", path, resp.StatusCode)
		}
	}
	// Followed, a redirect lands on HTTPS (a POST keeps its body: 308).
	req, _ := http.NewRequest(http.MethodGet, plain+"/api/units", nil)
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	if resp, err := h.Client.Do(req); err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("plain HTTP, redirect followed: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// MQTTS with the hub's certificate as the CA.
	secret := h.Enrol("car-1", "car")
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, h.CAFile))
	d := hubtest.Connect(t, h.MQTTSURL(), "car-1", secret, hubtest.DeviceOptions{TLS: &tls.Config{RootCAs: pool}})
	d.Send(d.Fix(1, time.Now(), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)
	if u := getUnit(t, h, "car-1"); !u.Online || u.Lat == nil {
		t.Errorf("unit over MQTTS: %+v, want online with a position", u)
	}

	// Another CA: the device refuses the hub, before any credential is sent.
	otherCA, _ := newCA(t, "another CA")
	wrong := x509.NewCertPool()
	wrong.AddCert(otherCA)
	_, err = hubtest.Dial(t, h.MQTTSURL(), "car-1", secret, hubtest.DeviceOptions{TLS: &tls.Config{RootCAs: wrong}})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("MQTTS with another CA: %v, want the certificate refused", err)
	}
	// Plain MQTT on the TLS port: no CONNACK.
	if _, err := hubtest.Dial(t, "tcp://"+h.MQTTSAddr(), "car-1", secret, hubtest.DeviceOptions{}); err == nil {
		t.Error("plain MQTT on the MQTTS port was accepted")
	}
	// The plain port still serves devices not moved to TLS.
	hubtest.Connect(t, h.MQTTURL(), "car-2", h.Enrol("car-2", "car"), hubtest.DeviceOptions{})
}

// A certificate a private CA signed (-tls-cert, -tls-key), with no plain
// HTTP or MQTT at all: clients trusting the CA are served.
func TestTLSCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCA(t, "kuaifan test CA")
	certFile, keyFile := writePair(t, dir, "hub", caCert, caKey)
	h := hubtest.Start(t, func(c *hub.Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.HTTPAddr, c.MQTTAddr = "", ""
	})
	if h.HTTPAddr() != "" || h.MQTTAddr() != "" || h.TLS().SelfSigned {
		t.Errorf("HTTP %q, MQTT %q, self-signed %v: want TLS only, a CA's certificate", h.HTTPAddr(), h.MQTTAddr(), h.TLS().SelfSigned)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(h.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secret := h.Enrol("car-1", "car")
	d := hubtest.Connect(t, h.MQTTSURL(), "car-1", secret, hubtest.DeviceOptions{TLS: &tls.Config{RootCAs: pool}})
	d.Send(d.Fix(1, time.Now(), lat0, lon0, protocol.StatusAvailable))
	d.WaitAcked(1)
}

func getUnit(t *testing.T, h *hubtest.Hub, id string) unitView {
	t.Helper()
	var u unitView
	if st := h.Do(http.MethodGet, "/api/units/"+id, nil, &u); st != http.StatusOK {
		t.Fatalf("GET unit %s: %d", id, st)
	}
	return u
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func writePair(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (string, string) {
	t.Helper()
	return writePairValid(t, dir, name, ca, caKey, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// writePairValid writes a server certificate for 127.0.0.1 the CA signed,
// and its key, as PEM files.
func writePairValid(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, from, until time.Time) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: from, NotAfter: until, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	if err := errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600),
	); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// syncBuffer is a bytes.Buffer the hub's goroutines may log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
