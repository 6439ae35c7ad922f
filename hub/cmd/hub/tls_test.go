package main

import (
	"bytes"
	"strings"
	"testing"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
)

// With -tls auto the banner gives the HTTPS and MQTTS addresses, the
// certificate to hand agents as -ca, and its fingerprint.
func TestBannerTLS(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.TLSAuto = true })
	var out bytes.Buffer
	banner(&out, h.Hub, "")
	for _, want := range []string{
		"https://" + h.HTTPSAddr() + "/",
		"http://" + h.HTTPAddr() + "/ (redirects to HTTPS",
		"ssl://" + h.MQTTSAddr(),
		"tcp://" + h.MQTTAddr(),
		"TLS certificate    " + h.TLS().CertFile + " (made now)",
		"SHA-256            " + h.TLS().Fingerprint,
		"as -ca",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner without %q:\n%s", want, out.String())
		}
	}
}

// Without TLS the banner is as it was.
func TestBannerPlain(t *testing.T) {
	h := hubtest.Start(t, nil)
	var out bytes.Buffer
	banner(&out, h.Hub, "")
	want := "kuaifan hub\n  dashboard          http://" + h.HTTPAddr() + "/\n  HTTP API           http://" + h.HTTPAddr() +
		"/api/\n  responder app      http://" + h.HTTPAddr() + "/responder/\n  MQTT broker        tcp://" + h.MQTTAddr() + "\n"
	if out.String() != want {
		t.Errorf("banner:\n%s\nwant:\n%s", out.String(), want)
	}
}
