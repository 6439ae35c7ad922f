package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/brokerconf"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
)

func runDeployConfig(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := deployConfig(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// files lists dir's files with their modes.
func files(t *testing.T, dir string) map[string]os.FileMode {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]os.FileMode{}
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fi.Mode().Perm()
	}
	return m
}

// passwdHash is user's hash in a Mosquitto password file.
func passwdHash(t *testing.T, path, user string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if u, h, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user {
			return h
		}
	}
	t.Fatalf("%s not in %s:\n%s", user, path, b)
	return ""
}

// Bad usage is exit status 2 and the hub's refusal 1, both naming the
// problem and writing nothing; a hub on its embedded broker gets the hub's
// password from a file or a new one; the units left out for want of a hash
// are named.
func TestDeployConfig(t *testing.T) {
	data := t.TempDir()
	s, err := store.Open(store.Config{Dir: data, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Enrolled before the hub kept broker hashes.
	if err := s.CreateUnit(store.Unit{ID: "old-0", Type: protocol.TypeCar, SecretHash: strings.Repeat("ab", 32), Enrolled: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	h := hubtest.Start(t, func(c *hub.Config) { c.DataDir = data })
	secret := h.Enrol("car-1", "car")
	t.Setenv("HUB_ADMIN_TOKEN", h.AdminToken())
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(h.AdminToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(aFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name  string
		args  []string
		env   string // HUB_ADMIN_TOKEN
		code  int
		want  string
		noOut bool // no -out directory is given
	}{
		{"no broker", []string{}, h.AdminToken(), 2, "-broker is required", false},
		{"unknown broker", []string{"-broker", "hivemq"}, h.AdminToken(), 2, `-broker "hivemq": want mosquitto, nats or emqx`, false},
		{"no out", []string{"-broker", "nats"}, h.AdminToken(), 2, "-out DIR is required", true},
		{"missing out", []string{"-broker", "nats", "-out", filepath.Join(t.TempDir(), "nope")}, h.AdminToken(), 2, "it is not made for you", true},
		{"out is a file", []string{"-broker", "nats", "-out", aFile}, h.AdminToken(), 2, "not a directory", true},
		{"two password flags", []string{"-broker", "nats", "-new-hub-password", "-hub-password-file", aFile}, h.AdminToken(), 2, "give one", false},
		{"no token", []string{"-broker", "nats"}, "", 2, "no admin token", false},
		{"bad hub URL", []string{"-broker", "nats", "-hub", "127.0.0.1:8080"}, h.AdminToken(), 2, "-hub", false},
		{"empty password file", []string{"-broker", "nats", "-hub-password-file", os.DevNull}, h.AdminToken(), 2, "first line is empty", false},
		{"wrong token", []string{"-broker", "nats", "-new-hub-password"}, "nope", 1, "the hub refused (401", false},
		{"no hub password", []string{"-broker", "mosquitto"}, h.AdminToken(), 1, "-new-hub-password to make one", false},
		{"bad dir", []string{"-broker", "emqx", "-new-hub-password", "-dir", "relative"}, h.AdminToken(), 1, `dir "relative"`, false},
		{"a unit as the hub", []string{"-broker", "emqx", "-new-hub-password", "-hub-user", "car-1"}, h.AdminToken(), 1, "(409 Conflict)", false},
		{"no hub", []string{"-broker", "nats", "-new-hub-password", "-hub", "http://127.0.0.1:1"}, h.AdminToken(), 1, "the hub at http://127.0.0.1:1", false},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HUB_ADMIN_TOKEN", tt.env)
			out := t.TempDir()
			args := append([]string{"-hub", h.URL}, tt.args...)
			if !tt.noOut {
				args = append(args, "-out", out)
			}
			code, stdout, stderr := runDeployConfig(args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %q", code, stderr, tt.code, tt.want)
			}
			if n := len(files(t, out)); n != 0 || stdout != "" {
				t.Errorf("%d files written, stdout %q", n, stdout)
			}
		})
	}

	// A new password for the hub, written with the files.
	out := t.TempDir()
	code, stdout, stderr := runDeployConfig("-hub", h.URL, "-token-file", tokenFile, "-broker", "mosquitto", "-out", out, "-new-hub-password")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]os.FileMode{"passwd": 0o600, "acl": 0o600, "mosquitto.conf": 0o600, HubPasswordFile: 0o600}
	if got := files(t, out); !maps(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	if !strings.Contains(stdout, "mosquitto: topic root rr, hub user kuaifan-hub, 1 units") {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "warning: 1 units have no account") || !strings.Contains(stderr, "old-0") {
		t.Errorf("old-0 not named: %q", stderr)
	}
	pwFile := filepath.Join(out, HubPasswordFile)
	password, err := firstLine(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(out, "passwd")
	if !brokerconf.CheckMosquitto(passwdHash(t, passwd, "kuaifan-hub"), password) || !brokerconf.CheckMosquitto(passwdHash(t, passwd, "car-1"), secret) {
		t.Error("the password file's hashes are not the passwords'")
	}

	// Again: the password is there, so not made anew; from the file it is.
	if code, _, stderr := runDeployConfig("-hub", h.URL, "-broker", "mosquitto", "-out", out, "-new-hub-password"); code != 2 || !strings.Contains(stderr, "is there already") {
		t.Errorf("a second new password: exit %d, %q", code, stderr)
	}
	nats := t.TempDir()
	code, _, stderr = runDeployConfig("-hub", h.URL, "-broker", "nats", "-out", nats, "-hub-password-file", pwFile, "-hub-user", "hub-cs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := files(t, nats); !maps(got, map[string]os.FileMode{"kuaifan-rr.conf": 0o600, "nats.conf": 0o600}) {
		t.Errorf("files %v", got)
	}
	acc, err := os.ReadFile(filepath.Join(nats, "kuaifan-rr.conf"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(acc), `{user: "hub-cs", password: "`)
	hash, _, _ := strings.Cut(rest, `"`)
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		t.Errorf("the hub's bcrypt hash %q is not its password's", hash)
	}
}

// A hub with TLS is reached with its certificate (-ca); a hub on an
// external broker gives its own password's hash.
func TestDeployConfigTLSAndRemote(t *testing.T) {
	m := hubtest.StartMosquitto(t, hubtest.MosquittoOptions{Users: map[string]string{"hub-x": "hub-x-pw"}, ACLFile: "../../deploy/mosquitto/acl"})
	h := hubtest.Start(t, func(c *hub.Config) {
		c.TLSAuto = true
		c.BrokerURL, c.BrokerUsername, c.BrokerPassword = m.URL(), "hub-x", "hub-x-pw"
	})
	t.Setenv("HUB_ADMIN_TOKEN", h.AdminToken())
	out := t.TempDir()
	if code, _, stderr := runDeployConfig("-hub", h.URL, "-broker", "mosquitto", "-out", out); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("without -ca: exit %d, %q", code, stderr)
	}
	code, _, stderr := runDeployConfig("-hub", h.URL, "-ca", h.CAFile, "-broker", "mosquitto", "-out", out)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !brokerconf.CheckMosquitto(passwdHash(t, filepath.Join(out, "passwd"), "hub-x"), "hub-x-pw") {
		t.Error("the hub's hash is not its broker password's")
	}
	if slices.Contains(keys(files(t, out)), HubPasswordFile) {
		t.Error("a password file written for a hub that has its own")
	}
}

func maps(a, b map[string]os.FileMode) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]os.FileMode) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
