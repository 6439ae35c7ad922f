package hub_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// A backup taken while paho devices report continuously, restored into a
// fresh directory: the hub started on it accepts every enrolled unit with its
// secret (and not the revoked one) and the same admin token, and holds every
// report confirmed before the backup began.
func TestBackupUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hubs")
	}
	dir := t.TempDir()
	withToken := func(dir string) func(*hub.Config) {
		// The token in <data>/admin.token, generated at the first start.
		return func(c *hub.Config) { c.DataDir, c.AdminToken = dir, "" }
	}
	h := hubtest.Start(t, withToken(dir))
	token := h.AdminToken()
	if b, err := os.ReadFile(filepath.Join(dir, hub.TokenFile)); err != nil || strings.TrimSpace(string(b)) != token {
		t.Fatalf("admin token not in %s: %q %v", hub.TokenFile, b, err)
	}

	const units = 8
	secrets := map[string]string{}
	var devices []*hubtest.Device
	for i := 1; i <= units; i++ {
		id := fmt.Sprintf("car-%d", i)
		secrets[id] = h.Enrol(id, "car")
		devices = append(devices, hubtest.Connect(t, h.MQTTURL(), id, secrets[id], hubtest.DeviceOptions{}))
	}
	revokedSecret := h.Enrol("car-revoked", "car")
	if st := h.Do(http.MethodDelete, "/api/units/car-revoked", nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}

	// The load: every device reports as fast as its PUBACKs come, until stop.
	base := time.Now().Add(-time.Hour)
	at := func(seq uint64) time.Time { return base.Add(time.Duration(seq) * 10 * time.Millisecond) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sent := make([]atomic.Uint64, units)
	for k, d := range devices {
		wg.Go(func() {
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				d.Send(d.Fix(seq, at(seq), lat0+float64(k)*1e-3, lon0+float64(seq%100)*1e-5, protocol.StatusAvailable))
				sent[k].Store(seq)
			}
		})
	}
	confirmedNow := func() (map[string]protocol.Ranges, uint64) {
		all, n := map[string]protocol.Ranges{}, uint64(0)
		for _, d := range devices {
			all[d.ID] = d.AckedRanges()
			n += all[d.ID].Len()
		}
		return all, n
	}
	hubtest.WaitFor(t, 120*time.Second, func() error {
		if _, n := confirmedNow(); n < 20000 {
			return fmt.Errorf("%d reports confirmed so far", n)
		}
		return nil
	})

	// The backup, under the load: what is confirmed before it begins must be in it.
	before, nBefore := confirmedNow()
	path := filepath.Join(t.TempDir(), "hub-backup.tar.gz")
	began := time.Now()
	m, err := store.BackupFile(dir, path) // what `hub backup` calls
	took := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	_, nAfter := confirmedNow()
	grown, _ := os.Stat(filepath.Join(dir, store.FileName))
	time.Sleep(100 * time.Millisecond) // the load goes on after it too
	close(stop)
	wg.Wait()
	h.Stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	if !m.HubRunning || !m.AdminToken || m.DB.Units != units+1 || m.DB.Revoked != 1 {
		t.Errorf("manifest:\n%s", m)
	}

	// Restored into a fresh directory; a hub on it.
	restored := filepath.Join(t.TempDir(), "restored")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := store.Restore(f, restored, false); err != nil { // what `hub restore` calls
		t.Fatal(err)
	}
	h = hubtest.Start(t, withToken(restored))
	if h.AdminToken() != token {
		t.Errorf("the restored hub's admin token is %q, was %q", h.AdminToken(), token)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{token, http.StatusOK}, {"not-" + token, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/api/units", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /api/units with the token backed up (%v): %d, want %d", tc.token == token, resp.StatusCode, tc.want)
		}
	}
	var health api.Health
	if st := h.Do(http.MethodGet, "/healthz", nil, &health); st != http.StatusOK || health.Status != api.HealthOK {
		t.Errorf("/healthz of the restored hub: %d %+v", st, health)
	}

	// The account: confirmed before the backup began, stored after the restore.
	var account strings.Builder
	var nStored, nLost uint64
	for k, d := range devices {
		var tr []point
		if st := h.Do(http.MethodGet, "/api/units/"+d.ID+"/track?limit=100000", nil, &tr); st != http.StatusOK {
			t.Fatalf("track %s: %d", d.ID, st)
		}
		var stored protocol.Ranges
		for _, p := range tr {
			stored = stored.Insert(p.Seq)
		}
		var lost []uint64
		for _, r := range before[d.ID] {
			for s := r[0]; s <= r[1]; s++ {
				if !stored.Contains(s) {
					lost = append(lost, s)
				}
			}
		}
		if len(stored) > 0 && stored[len(stored)-1][1] > sent[k].Load() {
			t.Errorf("%s: stored %v, but sent only up to %d", d.ID, stored, sent[k].Load())
		}
		nStored += stored.Len()
		nLost += uint64(len(lost))
		fmt.Fprintf(&account, "\n  %s: confirmed before %v, stored after %v, sent %d, lost %v", d.ID, before[d.ID], stored, sent[k].Load(), lost)
	}
	t.Logf("backup under load: %d reports confirmed before it began, %d more while it ran; %d bytes (gzip) in %v; "+
		"hub.db %d bytes copied (%d records, commit #%d, %d bytes of a transaction left out), %d bytes by the end of the backup; "+
		"after the restore %d stored (%d beyond those confirmed before), %d lost%s",
		nBefore, nAfter-nBefore, fi.Size(), took.Round(time.Millisecond), m.DB.Bytes, m.DB.Records, m.DB.LastCommit,
		m.DB.LeftOut, grown.Size(), nStored, nStored-(nBefore-nLost), nLost, account.String())
	if nLost > 0 {
		t.Errorf("%d reports confirmed before the backup are not in the restored store", nLost)
	}

	// Every enrolled unit signs in with its secret and reports; the revoked one does not.
	for k, d := range devices {
		nd, err := hubtest.Dial(t, h.MQTTURL(), d.ID, secrets[d.ID], hubtest.DeviceOptions{})
		if err != nil {
			t.Errorf("%s cannot sign in to the restored hub: %v", d.ID, err)
			continue
		}
		seq := sent[k].Load() + 1
		nd.Send(nd.Fix(seq, at(seq), lat0, lon0, protocol.StatusAvailable))
		nd.WaitAcked(seq)
	}
	if _, err := hubtest.Dial(t, h.MQTTURL(), "car-revoked", revokedSecret, hubtest.DeviceOptions{}); err == nil {
		t.Error("the revoked unit signed in to the restored hub")
	}
}
