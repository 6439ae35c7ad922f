package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TLSConfig trusts the CA in the file, and only it.
func TestTLSConfig(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()                                   // a certificate of its own, for 127.0.0.1
	defer srv.Close()

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	ca := write("ca.pem", caPEM)
	otherCA := write("other.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}))
	noPEM := write("no.pem", []byte("not a certificate\n"))
	keyOnly := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	withJunk := write("junk.pem", append([]byte("# the broker's CA\n"), caPEM...))

	for _, c := range []struct {
		name     string
		file     string
		errHas   string // "": no error
		nilCfg   bool   // the system's roots
		verifies bool   // a handshake with srv succeeds
	}{
		{"none: the system's roots", "", "", true, false},
		{"the broker's CA", ca, "", false, true},
		{"the CA after a comment", withJunk, "", false, true},
		{"another CA", otherCA, "", false, false},
		{"missing", filepath.Join(dir, "missing.pem"), "no such file", false, false},
		{"no PEM", noPEM, "no PEM certificate in it", false, false},
		{"a key, no certificate", keyOnly, "no PEM certificate in it", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := TLSConfig(c.file)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err %v, want one saying %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != c.nilCfg {
				t.Fatalf("config %+v", cfg)
			}
			if cfg == nil {
				return
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion %x", cfg.MinVersion)
			}
			conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != c.verifies {
				t.Errorf("handshake with the broker: %v; want it to succeed: %v", err, c.verifies)
			}
		})
	}
}

// selfSigned is a CA certificate (DER) that signed nothing the test serves.
func selfSigned(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
