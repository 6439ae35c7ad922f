package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig is the TLS configuration for a broker (ssl://, tls://, wss://)
// whose certificate a private CA signed: it trusts only the CA certificates
// in the PEM file caFile, not the system's roots, and speaks TLS 1.2 or
// later. With caFile "" it returns nil, which the Link takes as the system's
// roots.
func TLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
