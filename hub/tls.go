package hub

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The certificate -tls auto generates, in the data directory.
const (
	AutoCertFile = "tls-cert.pem" // public: the agents' -ca
	AutoKeyFile  = "tls-key.pem"  // 0600
	// autoCertValidity is long: the agents trust this very certificate, so
	// a new one means handing every device a new -ca.
	autoCertValidity = 10 * 365 * 24 * time.Hour
)

// The TLS ports when TLS is on and Config leaves the addresses empty; the
// host is that of HTTPAddr / MQTTAddr, so a hub kept on loopback stays there.
const (
	defaultHTTPSPort = "8443"
	defaultMQTTSPort = "8883"
)

// TLSInfo is the certificate the hub serves HTTPS and MQTTS with.
type TLSInfo struct {
	CertFile    string // give it to agents as -ca if a private CA signed it (or it is -tls auto's)
	Fingerprint string // SHA-256 of the certificate, hex pairs with colons (as openssl x509 -fingerprint -sha256)
	Generated   bool   // -tls auto made it on this start
	SelfSigned  bool   // its own CA: agents need this very file as -ca
	NotAfter    time.Time
	DNSNames    []string
	IPs         []net.IP
}

// tlsEnabled says whether the hub serves TLS at all.
func (c *Config) tlsEnabled() bool { return c.TLSAuto || c.TLSCert != "" || c.TLSKey != "" }

// validateTLS checks the TLS fields against each other; the files are read
// by loadTLS.
func (c *Config) validateTLS() []error {
	var errs []error
	switch {
	case c.TLSAuto && (c.TLSCert != "" || c.TLSKey != ""):
		errs = append(errs, errors.New("TLS: a certificate file (-tls-cert, -tls-key) and -tls auto both given: one or the other"))
	case (c.TLSCert == "") != (c.TLSKey == ""):
		errs = append(errs, errors.New("TLS: -tls-cert and -tls-key go together"))
	}
	if !c.tlsEnabled() && (c.HTTPSAddr != "" || c.MQTTSAddr != "") {
		errs = append(errs, errors.New("TLS: an HTTPS or MQTTS address without a certificate (-tls-cert/-tls-key or -tls auto)"))
	}
	if c.tlsEnabled() && c.BrokerURL != "" && c.MQTTSAddr != "" {
		errs = append(errs, errors.New("TLS: an MQTTS address with an external broker: TLS to devices is that broker's"))
	}
	return errs
}

// tlsAddrs fills in the HTTPS and MQTTS addresses TLS needs and Config left
// empty.
func (c *Config) tlsAddrs() {
	if !c.tlsEnabled() {
		return
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = withPort(c.HTTPAddr, defaultHTTPSPort)
	}
	if c.MQTTSAddr == "" && c.BrokerURL == "" {
		c.MQTTSAddr = withPort(c.MQTTAddr, defaultMQTTSPort)
	}
}

// withPort is addr's host with port (all interfaces if addr has none).
func withPort(addr, port string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, port)
}

// loadTLS reads the configured certificate, or with TLSAuto reads or makes
// the data directory's. The server side of both HTTPS and MQTTS: TLS 1.2 or
// later, Go's default cipher suites.
func loadTLS(c *Config, log *slog.Logger) (*tls.Config, *TLSInfo, error) {
	certFile, keyFile := c.TLSCert, c.TLSKey
	generated := false
	if c.TLSAuto {
		certFile, keyFile = filepath.Join(c.DataDir, AutoCertFile), filepath.Join(c.DataDir, AutoKeyFile)
		var err error
		if generated, err = ensureAutoCert(certFile, keyFile, autoHosts(c.TLSHosts)); err != nil {
			return nil, nil, fmt.Errorf("hub: TLS: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("hub: TLS: certificate %s, key %s: %w", certFile, keyFile, err)
	}
	leaf := pair.Leaf
	info := &TLSInfo{CertFile: certFile, Fingerprint: Fingerprint(leaf.Raw), Generated: generated,
		SelfSigned: selfSignedCert(leaf), NotAfter: leaf.NotAfter, DNSNames: leaf.DNSNames, IPs: leaf.IPAddresses}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		hint := "renew it"
		if c.TLSAuto {
			hint = "delete " + certFile + " and " + keyFile + " to have a new one made (and give it to the agents as -ca)"
		}
		return nil, nil, fmt.Errorf("hub: TLS: certificate %s expired on %s: %s", certFile, leaf.NotAfter.Format(time.DateOnly), hint)
	}
	if left := leaf.NotAfter.Sub(now); left < 30*24*time.Hour {
		log.Warn("TLS certificate expires soon", "file", certFile, "not_after", leaf.NotAfter, "left", left.Round(time.Hour))
	}
	if c.TLSAuto && !generated {
		if missing := missingHosts(leaf, c.TLSHosts); len(missing) > 0 {
			log.Warn("the TLS certificate does not name every -tls-host; delete it to have a new one made (agents then need the new one as -ca)",
				"file", certFile, "missing", strings.Join(missing, ","))
		}
	}
	log.Info("TLS certificate", "file", certFile, "sha256", info.Fingerprint, "generated", generated,
		"not_after", leaf.NotAfter, "dns", leaf.DNSNames, "ip", leaf.IPAddresses)
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, info, nil
}

// selfSignedCert says whether c is signed by its own key.
func selfSignedCert(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// Fingerprint is the SHA-256 of a DER certificate as hex pairs with colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// autoHosts is what the generated certificate names: this machine by its
// usual names, and the operator's extra ones.
func autoHosts(extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil && name != "" {
		hosts = append(hosts, name)
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// missingHosts are the names of extra the certificate does not cover.
func missingHosts(leaf *x509.Certificate, extra []string) []string {
	var missing []string
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" && leaf.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}

// ensureAutoCert makes a self-signed certificate for hosts at certFile and
// its key at keyFile, unless both exist. It reports whether it made them.
// One existing without the other is an error: replacing a certificate the
// agents already trust must be the operator's decision.
func ensureAutoCert(certFile, keyFile string, hosts []string) (bool, error) {
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case cerr == nil && kerr == nil:
		return false, nil
	case cerr == nil && errors.Is(kerr, os.ErrNotExist):
		return false, fmt.Errorf("%s exists but its key %s does not: restore the key, or delete the certificate to have a new pair made", certFile, keyFile)
	case kerr == nil && errors.Is(cerr, os.ErrNotExist):
		return false, fmt.Errorf("%s exists but its certificate %s does not: restore it, or delete the key to have a new pair made", keyFile, certFile)
	case !errors.Is(cerr, os.ErrNotExist):
		return false, cerr
	case !errors.Is(kerr, os.ErrNotExist):
		return false, kerr
	}
	certPEM, keyPEM, err := selfSigned(hosts, time.Now())
	if err != nil {
		return false, err
	}
	// The key first and exclusively: a certificate on disk means its key is.
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := writeNew(certFile, certPEM, 0o644); err != nil {
		_ = os.Remove(keyFile)
		return false, err
	}
	return true, nil
}

// writeNew creates path with data, failing if it exists; synced, so that a
// crash does not leave an empty file the next start would take as the pair.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// selfSigned makes an ECDSA P-256 certificate for hosts, signed by its own
// key. It is its own CA (agents verify against it as -ca), for serving only.
func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating a serial number: %w", err)
	}
	// Named after the first name besides loopback's, so that two hubs'
	// certificates tell apart in a trust store.
	name := "kuaifan hub"
	for _, h := range hosts {
		if h != "localhost" && !net.ParseIP(h).IsLoopback() {
			name += " " + h
			break
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"kuaifan"}},
		NotBefore:             now.Add(-time.Hour), // a device's clock a little behind
		NotAfter:              now.Add(autoCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs nothing else
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// redirectToHTTPS answers plain HTTP with a 308 to the same path and query
// over HTTPS on httpsPort. /healthz and /metrics are served as they are:
// a local probe or a Prometheus scraper need no CA for them, and neither
// carries a secret.
func redirectToHTTPS(httpsPort string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" {
			host = "localhost"
		}
		if httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
	})
}
