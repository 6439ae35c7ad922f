package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/audit"
	"kuaifan/hub/internal/store"
)

func runCmd(cmd func([]string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The store's name for the admin token's file is the hub's.
func TestTokenFileName(t *testing.T) {
	if store.TokenName != hub.TokenFile {
		t.Fatalf("store.TokenName %q, hub.TokenFile %q", store.TokenName, hub.TokenFile)
	}
}

// The store's names of the other files a backup carries are their owners'.
func TestBackupFileNames(t *testing.T) {
	for _, c := range [][2]string{
		{store.AccountsName, access.AccountsFile},
		{store.FirstAdminName, access.FirstAdminFile},
		{store.AuditName, audit.File},
		{store.TLSCertName, hub.AutoCertFile},
		{store.TLSKeyName, hub.AutoKeyFile},
	} {
		if c[0] != c[1] {
			t.Errorf("store's %q, its owner's %q", c[0], c[1])
		}
	}
}

// hub backup and hub restore: a round trip, and the exit status of each refusal.
func TestBackupRestoreCommands(t *testing.T) {
	src := storeWithData(t)
	if err := os.WriteFile(filepath.Join(src, hub.TokenFile), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hub.tar.gz")

	for _, tc := range []struct {
		name string
		cmd  func([]string, io.Writer, io.Writer) int
		args []string
		code int
		want string // in stdout (exit 0) or stderr
	}{
		{"backup -h", backup, []string{"-h"}, 0, "Usage: hub backup"},
		{"backup without -to", backup, []string{"-data", src}, 2, "-to FILE is required"},
		{"backup, an argument more", backup, []string{"-data", src, "-to", file, "x"}, 2, "unexpected"},
		{"backup of no store", backup, []string{"-data", t.TempDir(), "-to", file}, 1, "hub.db"},
		{"backup", backup, []string{"-data", src, "-to", file}, 0, "read back and verified"},
		{"restore -h", restore, []string{"-h"}, 0, "Usage: hub restore"},
		{"restore without -from", restore, []string{"-data", t.TempDir()}, 2, "-from FILE is required"},
		{"restore of no file", restore, []string{"-from", file + ".missing", "-data", t.TempDir()}, 1, "no such file"},
		{"restore into a non-empty directory", restore, []string{"-from", file, "-data", src}, 2, "not empty"},
		{"restore", restore, []string{"-from", file, "-data", filepath.Join(t.TempDir(), "new")}, 0, "verified and checked clean"},
		{"restore -force", restore, []string{"-from", file, "-data", storeWithData(t), "-force"}, 0, "verified and checked clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(tc.cmd, tc.args...)
			t.Logf("exit %d\n%s%s", code, out, errOut)
			got := errOut
			if code == 0 {
				got = out + errOut
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("exit %d, want %d with %q", code, tc.code, tc.want)
			}
		})
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}

	// A running hub's directory, and a bad file.
	dst := filepath.Join(t.TempDir(), "new")
	if code, _, errOut := runCmd(restore, "-from", file, "-data", dst); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if code, out, _ := run("-data", dst); code != 0 || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("hub check after restore: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, hub.TokenFile)); string(b) != "tok\n" {
		t.Errorf("admin token restored as %q", b)
	}
	s, err := store.Open(store.Config{Dir: dst, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code, _, errOut := runCmd(restore, "-from", file, "-data", dst, "-force"); code != 2 || !strings.Contains(errOut, "stop it first") {
		t.Errorf("restore onto a running hub: exit %d, %s", code, errOut)
	}
	if code, out, errOut := runCmd(backup, "-data", dst, "-to", filepath.Join(t.TempDir(), "live.tar")); code != 0 || !strings.Contains(out, "hub running") {
		t.Errorf("backup of a running hub: exit %d\n%s%s", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.tar")
	data, _ := os.ReadFile(file)
	os.WriteFile(bad, data[:len(data)/2], 0o600)
	if code, _, errOut := runCmd(restore, "-from", bad, "-data", filepath.Join(t.TempDir(), "new")); code != 1 || !strings.Contains(errOut, "not a whole hub backup") {
		t.Errorf("restore of half a backup: exit %d, %s", code, errOut)
	}
}

// A running hub's files of people and TLS — accounts.json, admin.password,
// audit.log, -tls auto's pair — go into the backup, the manifest says so,
// and restore brings them back as they were: a hub started on the restored
// directory serves the same certificate and makes no new first admin.
func TestBackupRestorePeopleCommands(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.AdminToken = ""; c.TLSAuto = true })
	src := h.Config.DataDir
	req, _ := http.NewRequest("POST", h.URL+"/api/units", strings.NewReader(`{"id":"car-1","type":"car"}`))
	req.Header.Set("Authorization", "Bearer "+h.AdminToken())
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	if code, out, errOut := runUser("", "add", "wang", "-role", "dispatcher", "-data", src); code != 0 {
		t.Fatalf("user add: exit %d\n%s%s", code, out, errOut)
	}
	names := []string{hub.TokenFile, access.FirstAdminFile, access.AccountsFile, audit.File, hub.AutoCertFile, hub.AutoKeyFile}
	want := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil || len(b) == 0 {
			t.Fatalf("the hub's %s: %q %v", n, b, err)
		}
		want[n] = b
	}

	file := filepath.Join(t.TempDir(), "hub.tgz")
	code, out, errOut := runCmd(backup, "-data", src, "-to", file)
	t.Logf("exit %d\n%s%s", code, out, errOut)
	if code != 0 {
		t.Fatal("backup failed")
	}
	for _, w := range []string{"hub running", "accounts.json  ", "admin.password included", "audit.log      ", "tls-cert.pem and tls-key.pem included"} {
		if !strings.Contains(out, w) {
			t.Errorf("backup printed without %q", w)
		}
	}
	h.Stop()

	dst := filepath.Join(t.TempDir(), "restored")
	code, out, errOut = runCmd(restore, "-from", file, "-data", dst)
	t.Logf("exit %d\n%s%s", code, out, errOut)
	if code != 0 {
		t.Fatal("restore failed")
	}
	for _, n := range names {
		if got, err := os.ReadFile(filepath.Join(dst, n)); err != nil || !bytes.Equal(got, want[n]) {
			t.Errorf("%s restored as %d bytes (%v), the hub's had %d", n, len(got), err, len(want[n]))
		}
	}
	r := hubtest.Start(t, func(c *hub.Config) { c.DataDir = dst; c.AdminToken = ""; c.TLSAuto = true })
	if r.TLS().Generated || r.TLS().Fingerprint != h.TLS().Fingerprint {
		t.Errorf("the restored hub's certificate: made now %v, %s; the backed-up one %s", r.TLS().Generated, r.TLS().Fingerprint, h.TLS().Fingerprint)
	}
	if f, made := r.FirstAdmin(); made || f != filepath.Join(dst, access.FirstAdminFile) {
		t.Errorf("the restored hub's first admin: %q, made now %v", f, made)
	}
	if r.AdminToken() != h.AdminToken() {
		t.Error("the restored hub has another admin token")
	}
}
