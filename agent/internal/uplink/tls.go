package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
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

// clientTLS speaks TLS over c, a connection a custom Dial opened, as paho
// would over its own: cfg (nil: the system's roots), the broker's host
// name verified. c is closed if the handshake fails.
func clientTLS(ctx context.Context, c net.Conn, cfg *tls.Config, host string) (net.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS with %s: %w", host, err)
	}
	return tc, nil
}
