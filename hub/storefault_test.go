package hub_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// respCmd is one command of a clean hub.db, read independently of the store.
type respCmd struct {
	off, end int64
	key      string
}

func respCommands(t *testing.T, data []byte) []respCmd {
	t.Helper()
	var out []respCmd
	i := 0
	num := func() int {
		j := bytes.Index(data[i:], []byte("\r\n"))
		n, err := strconv.Atoi(string(data[i+1 : i+j]))
		if j < 0 || err != nil {
			t.Fatalf("hub.db: no command at byte %d", i)
		}
		i += j + 2
		return n
	}
	for i < len(data) {
		c := respCmd{off: int64(i)}
		for p := range num() {
			n := num()
			if p == 1 {
				c.key = string(data[i : i+n])
			}
			i += n + 2
		}
		c.end = int64(i)
		out = append(out, c)
	}
	return out
}

// storeFault damages a stopped hub's store: data is hub.db as the hub left
// it; the fault returns the damaged file and the bytes [from, to) it hit.
type storeFault func(t *testing.T, data []byte, cmds []respCmd) (damaged []byte, from, to int64)

// junkAcross writes 20 bytes of junk across the boundary of the command
// holding byte at and the next.
func junkAcross(at func(cmds []respCmd) respCmd) storeFault {
	return func(t *testing.T, data []byte, cmds []respCmd) ([]byte, int64, int64) {
		c := at(cmds)
		copy(data[c.end-10:], "\x8b\x00junk\xffjunk\x00junk\x01")
		return data, c.end - 10, c.end + 10
	}
}

// A hub's store is damaged while it is stopped — junk in the middle of
// hub.db, a zeroed page, a torn end, junk over a unit's record with the
// units journal lost too — and the hub starts again: it comes up, /healthz
// says degraded (a torn end, the trace of a crash, is no damage: nothing
// confirmed is in it), every enrolled unit whose enrolment survives signs
// in with its secret and reports, and the test accounts for every position
// confirmed before the damage: all of them are stored after it, since the
// positions live in the history, not in hub.db (whose damage costs the
// records it hit: units, live records, incidents — each reported).
func TestStoreFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hubs")
	}
	mid := func(cmds []respCmd) respCmd {
		end := cmds[len(cmds)-1].end
		return cmds[slices.IndexFunc(cmds, func(c respCmd) bool { return c.end > end/2 })]
	}
	for _, tc := range []struct {
		name      string
		fault     storeFault
		noJournal bool   // units.log lost too
		lostUnit  string // a unit whose enrolment is lost for good
		torn      bool   // the end cut off: no damage, no degradation
	}{
		{name: "junk in the middle", fault: junkAcross(mid)},
		{name: "zeroed page", fault: func(t *testing.T, data []byte, _ []respCmd) ([]byte, int64, int64) {
			page := int64(len(data)/2) &^ 4095
			copy(data[page:], make([]byte, 4096))
			return data, page, page + 4096
		}},
		{name: "torn end", torn: true, fault: func(t *testing.T, data []byte, _ []respCmd) ([]byte, int64, int64) {
			cut := int64(len(data) - 700)
			return data[:cut], cut, int64(len(data))
		}},
		{name: "junk over a unit record, journal lost", noJournal: true, lostUnit: "car-3",
			fault: junkAcross(func(cmds []respCmd) respCmd {
				return cmds[slices.IndexFunc(cmds, func(c respCmd) bool { return c.key == "unit:car-3" })]
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			atDir := func(c *hub.Config) { c.DataDir = dir }
			h := hubtest.Start(t, atDir)
			const units, reports = 6, 40
			secrets := map[string]string{}
			var devices []*hubtest.Device
			for i := 1; i <= units; i++ {
				id := fmt.Sprintf("car-%d", i)
				secrets[id] = h.Enrol(id, "car")
				devices = append(devices, hubtest.Connect(t, h.MQTTURL(), id, secrets[id], hubtest.DeviceOptions{}))
			}
			start := time.Now().Add(-time.Hour)
			for seq := uint64(1); seq <= reports; seq++ {
				for k, d := range devices {
					d.Send(d.Fix(seq, start.Add(time.Duration(seq)*time.Second), lat0+float64(k)*1e-3, lon0, protocol.StatusAvailable))
				}
			}
			confirmed := map[string]protocol.Ranges{}
			for _, d := range devices {
				d.WaitAcked(1, reports)
				hubtest.WaitFor(t, 10*time.Second, func() error {
					if n := d.AckedRanges().Len(); n != reports {
						return fmt.Errorf("%s: %d of %d confirmed", d.ID, n, reports)
					}
					return nil
				})
				confirmed[d.ID] = d.AckedRanges()
				d.Kill()
			}
			h.Stop()

			path := filepath.Join(dir, "hub.db")
			clean, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cmds := respCommands(t, clean)
			damaged, from, to := tc.fault(t, slices.Clone(clean), cmds)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.noJournal {
				if err := os.Remove(filepath.Join(dir, "units.log")); err != nil {
					t.Fatal(err)
				}
			}
			// The records whose bytes the fault hit.
			var hit []string
			for _, c := range cmds {
				if c.key != "" && c.off < to && c.end > from {
					hit = append(hit, c.key)
				}
			}
			if len(hit) == 0 {
				t.Fatalf("the fault [%d, %d) hit no record of hub.db", from, to)
			}

			h = hubtest.Start(t, atDir) // comes up: Start fails the test if New does
			var health api.Health
			st := h.Do(http.MethodGet, "/healthz", nil, &health)
			t.Logf("/healthz: %d %+v", st, health)
			switch {
			case st != http.StatusOK:
				t.Errorf("/healthz: %d, want 200", st)
			case tc.torn && health.Status != api.HealthOK:
				t.Errorf("/healthz after a torn end: %+v, want ok", health)
			case !tc.torn && (health.Status != api.HealthDegraded || !strings.Contains(health.Error, "salvaged")):
				t.Errorf("/healthz after damage: %+v, want degraded, saying the store was salvaged", health)
			}
			if tc.lostUnit != "" && (!strings.Contains(health.Error, "enrol again") || !strings.Contains(health.Error, tc.lostUnit)) {
				t.Errorf("/healthz does not name %s to enrol again: %q", tc.lostUnit, health.Error)
			}
			regions, skipped, torn := metric(t, h, "kuaifan_store_salvage_skipped_regions"),
				metric(t, h, "kuaifan_store_salvage_skipped_bytes"), metric(t, h, "kuaifan_store_torn_bytes")
			if tc.torn != (regions == 0) || tc.torn && torn == 0 {
				t.Errorf("metrics: %v regions, %v bytes skipped, %v bytes torn", regions, skipped, torn)
			}

			// The account, unit by unit: confirmed before the damage, stored after.
			var account strings.Builder
			var totalConfirmed, totalStored uint64
			var lostAll []string
			for _, d := range devices {
				totalConfirmed += confirmed[d.ID].Len()
				if d.ID == tc.lostUnit {
					// Unknown to the hub until enrolled again; its history
					// stays in the store, served again once it is.
					var e api.Error
					if st := h.Do(http.MethodGet, "/api/units/"+d.ID+"/track", nil, &e); st != http.StatusNotFound {
						t.Errorf("%s's track: %d", d.ID, st)
					}
					fmt.Fprintf(&account, "\n  %s: confirmed %v; its enrolment is lost: to enrol again", d.ID, confirmed[d.ID])
					continue
				}
				var stored protocol.Ranges
				for _, p := range track(t, h, d.ID) {
					stored = stored.Insert(p.Seq)
				}
				var lost []uint64
				for _, r := range confirmed[d.ID] {
					for s := r[0]; s <= r[1]; s++ {
						if !stored.Contains(s) {
							lost = append(lost, s)
						}
					}
				}
				totalStored += stored.Len()
				fmt.Fprintf(&account, "\n  %s: confirmed %v, stored %v, lost %v", d.ID, confirmed[d.ID], stored, lost)
				for _, s := range lost {
					lostAll = append(lostAll, fmt.Sprintf("%s#%d", d.ID, s))
				}
				if len(lost) > 0 {
					t.Errorf("%s: lost %v: damage to hub.db costs no position", d.ID, lost)
				}
				if tc.torn {
					// The live record is from the last whole batch (or gone with
					// the cut): never ahead of the history, which is written first.
					top := uint64(0)
					if len(stored) > 0 {
						top = stored[len(stored)-1][1]
					}
					if u := unit(t, h, d.ID); u.Seq != nil && *u.Seq > top {
						t.Errorf("%s: the live record says seq %v, the history ends at %d", d.ID, seqOf(u.Seq), top)
					}
				}
			}
			t.Logf("%s: %d positions confirmed before the damage, %d stored after; %d lost %v (damage: %d regions, %v bytes skipped; %v bytes cut off the end; records hit: %s)%s",
				tc.name, totalConfirmed, totalStored, len(lostAll), lostAll, int(regions), skipped, torn, strings.Join(hit, " "), account.String())

			// Every unit whose enrolment survives signs in with its secret and reports.
			for id, secret := range secrets {
				d, err := hubtest.Dial(t, h.MQTTURL(), id, secret, hubtest.DeviceOptions{})
				if id == tc.lostUnit {
					if err == nil {
						t.Errorf("%s signed in, its enrolment lost", id)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s cannot sign in after the damage: %v", id, err)
					continue
				}
				d.Send(d.Fix(reports+1, start.Add(time.Duration(reports+1)*time.Second), lat0, lon0, protocol.StatusAvailable))
				d.WaitAcked(reports + 1)
			}
		})
	}
}

func seqOf(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}
