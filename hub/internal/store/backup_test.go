package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kuaifan/protocol"
)

// backupSource is a stopped hub's data directory: fillUnits with positions,
// one of them revoked, an admin token, and the transient files a hub leaves
// (a snapshot, a damaged file set aside, the lock).
func backupSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	fill(t, dir, 30, 5)
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUnit("foot-4", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{TokenName: "the-admin-token\n", FileName + ".corrupt-20260101T000000Z": "junk"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// entries lists a backup archive's files and their content.
func entries(t *testing.T, archive []byte) (names []string, files map[string][]byte) {
	t.Helper()
	var r io.Reader = bytes.NewReader(archive)
	if bytes.HasPrefix(archive, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	files = map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names, files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		files[hdr.Name] = data
	}
}

// rewrite writes the archive again with edit applied to each file: edit
// returns the new content, or nil to leave the file out.
func rewrite(t *testing.T, archive []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	names, files := entries(t, archive)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		data := edit(name, files[name])
		if data == nil {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return buf.Bytes()
}

func editManifest(t *testing.T, edit func(m map[string]any)) func(string, []byte) []byte {
	return func(name string, data []byte) []byte {
		if name != manifestName {
			return data
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, _ := json.Marshal(m)
		return out
	}
}

// listing is a directory's file names, or nil if it does not exist.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A stopped hub's directory, backed up and restored into a new one, plain
// and gzipped: the same units, positions and token; nothing transient.
func TestBackupRestore(t *testing.T) {
	src := backupSource(t)
	s, err := Open(Config{Dir: src, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	wantStored, wantUnits := stored(t, s), unitsOf(t, s)
	s.Close()

	for _, name := range []string{"backup.tar", "backup.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			m, err := BackupFile(src, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("manifest:\n%s", m)
			if m.HubRunning || !m.AdminToken || m.DB.Units != 4 || m.DB.Revoked != 1 || m.Journal.Units != 4 ||
				m.Journal.Revoked != 1 || m.DB.LeftOut != 0 || m.DB.Records == 0 {
				t.Errorf("manifest: %+v", m)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
			}
			if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp")); len(tmp) > 0 {
				t.Errorf("left behind: %v", tmp)
			}
			archive, _ := os.ReadFile(path)
			if gz := bytes.HasPrefix(archive, []byte{0x1f, 0x8b}); gz != strings.HasSuffix(name, ".gz") {
				t.Errorf("gzipped: %v", gz)
			}
			names, files := entries(t, archive)
			hist := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !isHistoryEntry(n) })
			if len(hist) == 0 || !slices.Contains(hist, "history/positions/2025-11-29/CURRENT") {
				t.Errorf("archive holds history %v, want the day's pebble files", hist)
			}
			names = slices.DeleteFunc(names, isHistoryEntry)
			if want := []string{manifestName, FileName, JournalName, TokenName, sumsName}; !slices.Equal(names, want) {
				t.Errorf("archive holds %v, want %v", names, want)
			}
			if string(files[TokenName]) != "the-admin-token\n" {
				t.Errorf("admin.token in the archive: %q", files[TokenName])
			}

			dst := filepath.Join(t.TempDir(), "restored") // absent: created
			f, _ := os.Open(path)
			defer f.Close()
			rm, err := Restore(f, dst, false)
			if err != nil {
				t.Fatal(err)
			}
			if rm.DB != m.DB || rm.Journal != m.Journal || !rm.Time.Equal(m.Time) {
				t.Errorf("restore read %+v, backup wrote %+v", rm, m)
			}
			got := listing(t, dst)
			if want := []string{TokenName, HistoryDir, FileName, LockName, JournalName}; !slices.Equal(got, want) {
				t.Errorf("restored directory holds %v, want %v", got, want)
			}
			for _, n := range []string{FileName, JournalName, TokenName} {
				if fi, err := os.Stat(filepath.Join(dst, n)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v %v", n, fi.Mode(), err)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(dst, TokenName)); string(b) != "the-admin-token\n" {
				t.Errorf("admin.token restored as %q", b)
			}
			r, err := Open(Config{Dir: dst, SnapshotInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Recovered() != "" || len(r.Damage()) > 0 {
				t.Errorf("the restored store: %q %v", r.Recovered(), r.Damage())
			}
			sameUnits(t, "restored", unitsOf(t, r), wantUnits)
			if got := stored(t, r); !maps.Equal(got, wantStored) {
				t.Errorf("restored %d positions, the source has %d", len(got), len(wantStored))
			}
		})
	}
}

// unitsOf is the store's units, by id.
func unitsOf(t *testing.T, s *Store) []Unit {
	t.Helper()
	units, err := s.Units()
	if err != nil {
		t.Fatal(err)
	}
	return units
}

// A backup taken while the store is open and committing: it holds every
// batch committed before it began, and reads whole; what was being written
// is left out.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 5, 5)
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var committed atomic.Uint64 // the highest seq committed (and synced) so far
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := uint64(1000); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			p := point("car-1", seq, now.UnixMilli()+int64(seq))
			b := &Batch{Points: []UnitPosition{p}, Lives: map[string]Live{"car-1": {Fix: &p.Position, Seqs: []protocol.Range{{1000, seq}}}}}
			if _, err := s.Commit(b, now); err != nil {
				t.Error(err)
				return
			}
			if err := s.Sync(); err != nil {
				t.Error(err)
				return
			}
			committed.Store(seq)
		}
	})
	for committed.Load() < 1200 {
		time.Sleep(time.Millisecond)
	}
	before := committed.Load()
	var buf bytes.Buffer
	m, err := Backup(dir, &buf)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !m.HubRunning {
		t.Error("the manifest does not say the store was open")
	}
	dst := t.TempDir()
	if _, err := Restore(&buf, dst, false); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Config{Dir: dst, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The history comes through a snapshot: every position committed
	// before the backup is in it.
	if !strings.Contains(m.History, "snapshot") {
		t.Errorf("manifest history = %q, want a snapshot", m.History)
	}
	track, err := r.Track("car-1", 0, math.MaxInt64, 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]bool{}
	for _, p := range track {
		stored[p.Seq] = true
	}
	for seq := uint64(1000); seq <= before; seq++ {
		if !stored[seq] {
			t.Errorf("position #%d, committed before the backup, is not in the restored history", seq)
			break
		}
	}
	live, err := r.Live("car-1")
	if err != nil {
		t.Fatal(err)
	}
	seqs := protocol.Ranges(live.Seqs)
	if len(seqs) != 1 || seqs[0][0] != 1000 || seqs[0][1] < before {
		t.Errorf("restored %v, want 1000–%d at least", seqs, before)
	}
	t.Logf("committed up to #%d before the backup; the backup holds up to #%d (%d bytes, %d left out), %d positions in its history",
		before, seqs[len(seqs)-1][1], m.DB.Bytes, m.DB.LeftOut, len(track))
}

// A stopped store's torn end (a crash in a write) is left out of the backup.
func TestBackupLeavesOutATornEnd(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 5, 5)
	path := filepath.Join(dir, FileName)
	clean, _ := os.ReadFile(path)
	torn := append(slices.Clone(clean), "*3\r\n$3\r\nset\r\n$5\r\nlive:"...)
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err := Backup(dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.DB.Bytes != int64(len(clean)) || m.DB.LeftOut != int64(len(torn)-len(clean)) {
		t.Errorf("manifest: %+v; want %d bytes, %d left out", m.DB, len(clean), len(torn)-len(clean))
	}
	if _, files := entries(t, buf.Bytes()); !bytes.Equal(files[FileName], clean) {
		t.Error("the archive's hub.db is not the file up to its last commit")
	}
}

// Backup refuses what it cannot copy whole.
func TestBackupRefuses(t *testing.T) {
	t.Run("no store", func(t *testing.T) {
		if _, err := Backup(t.TempDir(), io.Discard); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v, want ErrNotExist", err)
		}
	})
	t.Run("damaged store", func(t *testing.T) {
		dir := t.TempDir()
		fill(t, dir, 5, 5)
		path := filepath.Join(dir, FileName)
		data, _ := os.ReadFile(path)
		at := len(data)/2 + bytes.Index(data[len(data)/2:], []byte("*3\r\n$3\r\nset"))
		copy(data[at:], "\x00junk\x00junk\x00")
		os.WriteFile(path, data, 0o600)
		if _, err := Backup(dir, io.Discard); err == nil || !strings.Contains(err.Error(), "unreadable") {
			t.Errorf("%v, want a refusal naming the damage", err)
		}
	})
	t.Run("failed file leaves nothing", func(t *testing.T) {
		out := t.TempDir()
		if _, err := BackupFile(t.TempDir(), filepath.Join(out, "b.tar")); err == nil {
			t.Fatal("backed up a directory without a store")
		}
		if got := listing(t, out); len(got) > 0 {
			t.Errorf("left behind: %v", got)
		}
	})
}

// Restore refuses bad archives and bad targets, and leaves the target as it
// was.
func TestRestoreRefuses(t *testing.T) {
	src := backupSource(t)
	var plain, gz bytes.Buffer
	if _, err := Backup(src, &plain); err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	good := plain.Bytes()
	_, files := entries(t, good)
	dbAt := bytes.Index(good, files[FileName][:64])
	sumsAt := bytes.LastIndex(good, []byte(sumsName))

	flip := func(at int) []byte {
		b := slices.Clone(good)
		b[at] ^= 0x01
		return b
	}
	// A byte inside a value: the framing reads, the checksum does not match.
	valueAt := dbAt + bytes.Index(files[FileName], []byte(`"secret_hash":"`)) + 20

	for _, tc := range []struct {
		name    string
		archive []byte
		target  func(t *testing.T) string // default: an absent directory
		force   bool
		want    error
		wantMsg string
	}{
		{name: "not an archive", archive: []byte("this is not a tar file at all, just text\n"), want: ErrBadBackup},
		{name: "empty", archive: nil, want: ErrBadBackup},
		{name: "another tar", archive: rewrite(t, good, func(name string, data []byte) []byte {
			if name == manifestName {
				return []byte(`{"hello":"world"}`)
			}
			return data
		}), want: ErrBadBackup, wantMsg: "not a hub backup"},
		{name: "wrong version", archive: rewrite(t, good, editManifest(t, func(m map[string]any) { m["version"] = 2 })),
			want: ErrBackupVersion, wantMsg: "version 2"},
		{name: "truncated in hub.db", archive: good[:dbAt+len(files[FileName])/2], want: ErrBadBackup},
		{name: "truncated before the checksums", archive: good[:sumsAt], want: ErrBadBackup, wantMsg: "ends before SHA256SUMS"},
		{name: "truncated in a padding", archive: good[:sumsAt-1], want: ErrBadBackup},
		{name: "truncated at the end", archive: good[:len(good)-1024-512], want: ErrBadBackup},
		{name: "truncated gzip", archive: gz.Bytes()[:gz.Len()-20], want: ErrBadBackup},
		{name: "a byte changed in a value", archive: flip(valueAt), want: ErrBadBackup, wantMsg: "checksums differ"},
		{name: "a byte changed in the framing", archive: flip(dbAt + 1), want: ErrBadBackup, wantMsg: "unreadable"},
		{name: "a file missing", archive: rewrite(t, good, func(name string, data []byte) []byte {
			if name == JournalName {
				return nil
			}
			return data
		}), want: ErrBadBackup},
		{name: "manifest counts that lie", archive: rewrite(t, good, editManifest(t, func(m map[string]any) {
			m["hub_db"].(map[string]any)["records"] = 1
		})), want: ErrBadBackup},
		{name: "non-empty target", archive: good, target: func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "something"), []byte("x"), 0o600)
			return dir
		}, want: ErrNotEmpty},
		{name: "non-empty target, a stopped hub's", archive: good, target: func(t *testing.T) string {
			dir := t.TempDir()
			fill(t, dir, 1, 1)
			return dir
		}, want: ErrNotEmpty},
		{name: "locked target", archive: good, target: locked, want: ErrLocked},
		{name: "locked target, forced", archive: good, target: locked, force: true, want: ErrLocked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "absent")
			if tc.target != nil {
				dir = tc.target(t)
			}
			before := listing(t, dir)
			_, err := Restore(bytes.NewReader(tc.archive), dir, tc.force)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Restore: %v; want %v (%q)", err, tc.want, tc.wantMsg)
			}
			t.Logf("refused: %v", err)
			if after := listing(t, dir); !slices.Equal(after, before) {
				t.Errorf("the target held %v, now %v", before, after)
			}
			if _, err := Verify(bytes.NewReader(tc.archive)); tc.target == nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// locked is a directory a running hub's store holds.
func locked(t *testing.T) string {
	if !dirLocking {
		t.Skip("no flock here")
	}
	dir := t.TempDir()
	open(t, dir)
	return dir
}

// An entry after the checksums is refused.
func TestRestoreRefusesAnEntryMore(t *testing.T) {
	src := backupSource(t)
	var buf bytes.Buffer
	if _, err := Backup(src, &buf); err != nil {
		t.Fatal(err)
	}
	// tar.Writer.Close wrote two zero blocks at the end: write over them.
	archive := buf.Bytes()[:buf.Len()-1024]
	var more bytes.Buffer
	more.Write(archive)
	tw := tar.NewWriter(&more)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../../etc/evil", Size: 4, Mode: 0o600})
	tw.Write([]byte("evil"))
	tw.Close()
	dst := filepath.Join(t.TempDir(), "absent")
	if _, err := Restore(&more, dst, false); !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), "evil") {
		t.Fatalf("Restore: %v, want ErrBadBackup naming the entry", err)
	}
	if got := listing(t, dst); got != nil {
		t.Errorf("the target was created: %v", got)
	}
}

// -force restores into a non-empty directory and keeps what was there.
func TestRestoreForce(t *testing.T) {
	src := backupSource(t)
	var buf bytes.Buffer
	if _, err := Backup(src, &buf); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	fill(t, dst, 1, 1)
	s, err := Open(Config{Dir: dst, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Snapshot()
	s.Close()
	old, _ := os.ReadFile(filepath.Join(dst, FileName))
	if _, err := Restore(bytes.NewReader(buf.Bytes()), dst, true); err != nil {
		t.Fatal(err)
	}
	replaced, _ := filepath.Glob(filepath.Join(dst, "*.replaced-*"))
	replaced = slices.DeleteFunc(replaced, func(p string) bool { return strings.HasPrefix(filepath.Base(p), HistoryDir+".replaced-") })
	if len(replaced) != 3 { // hub.db, its snapshot, units.log (no admin.token there); the history aside too
		t.Errorf("kept aside: %v", replaced)
	}
	if len(replaced) == 0 || !strings.HasPrefix(filepath.Base(replaced[0]), FileName+".replaced-") {
		t.Fatalf("hub.db not kept aside: %v", replaced)
	}
	if kept, _ := os.ReadFile(replaced[0]); !bytes.Equal(kept, old) {
		t.Error("the replaced hub.db is not kept as it was")
	}
	if _, err := os.Stat(filepath.Join(dst, FileName+".snapshot")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the replaced store's snapshot is still where the hub would fall back to it")
	}
	_, files := entries(t, buf.Bytes())
	if got, _ := os.ReadFile(filepath.Join(dst, FileName)); !bytes.Equal(got, files[FileName]) {
		t.Error("hub.db is not the backup's")
	}
}

// streamAt gives scan what a file would, read once, in any chunking.
func TestScanStream(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 40, 7)
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	want, err := scan(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var copied bytes.Buffer
	got, units, err := scanStream(io.MultiReader(chunks(data, 7)...), int64(len(data)), &copied)
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != want.Records || got.Commits != want.Commits || got.Keep != want.Keep || !got.Clean() {
		t.Errorf("stream scan %+v, file scan %+v", got, want)
	}
	if n, _ := units.counts(); n != len(fillUnits) {
		t.Errorf("%d units", n)
	}
	if !bytes.Equal(copied.Bytes(), data) {
		t.Error("the bytes written are not the bytes read")
	}
	// A stream longer than its size is refused.
	if _, _, err := scanStream(bytes.NewReader(append(slices.Clone(data), 'x')), int64(len(data)), io.Discard); err == nil {
		t.Error("a stream with a byte more scanned")
	}
}

// chunks cuts data into readers of n bytes each.
func chunks(data []byte, n int) []io.Reader {
	var rs []io.Reader
	for len(data) > 0 {
		k := min(n, len(data))
		rs = append(rs, io.LimitReader(bytes.NewReader(data[:k]), int64(k)))
		data = data[k:]
	}
	return rs
}

// peopleFiles are the files of people and of TLS a hub keeps in its data
// directory, as backupWithPeople writes them; audit.log ends in a line
// being appended, which a backup leaves out.
var peopleFiles = map[string]string{
	AccountsName:   `{"version":1,"users":[{"name":"admin","role":"admin","hash":"$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"}],"tokens":[]}` + "\n",
	FirstAdminName: "k7QmZp2xWv9rTy4h\n",
	AuditName: `{"seq":1,"ts":1795949890237,"actor":"user:admin","role":"admin","addr":"127.0.0.1:5000","action":"POST /api/users","target":"wang","status":201,"prev":""}` + "\n" +
		`{"seq":2,"ts":1795949890300,"actor":"user:wang","role":"dispatcher","addr":"127.0.0.1:5001","action":"POST /api/incidents","status":201,"prev":"ab"}` + "\n",
	TLSCertName: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	TLSKeyName:  "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n",
}

// tornAudit is a line being appended at the end of audit.log.
const tornAudit = `{"seq":3,"ts":17959498`

// backupWithPeople is backupSource with the files of people and TLS.
func backupWithPeople(t *testing.T) string {
	t.Helper()
	dir := backupSource(t)
	for name, data := range peopleFiles {
		if name == AuditName {
			data += tornAudit
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Transient: the accounts' lock file and a write in progress.
	for _, name := range []string{AccountsName + ".lock", AccountsName + ".new"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A backup carries accounts.json, admin.password, audit.log (up to its last
// whole line) and -tls auto's pair; the manifest lists them, and restore
// brings them back byte for byte.
func TestBackupRestorePeople(t *testing.T) {
	src := backupWithPeople(t)
	path := filepath.Join(t.TempDir(), "backup.tar.gz")
	m, err := BackupFile(src, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("manifest:\n%s", m)
	if !m.AdminToken || !m.Accounts || !m.AdminPassword || !m.AuditLog || !m.TLSCert || !m.TLSKey {
		t.Errorf("manifest: %+v", m)
	}
	for name, data := range peopleFiles {
		if got := m.size(name); got != int64(len(data)) {
			t.Errorf("manifest: %s of %d bytes, want %d", name, got, len(data))
		}
	}
	for _, want := range []string{
		"accounts.json  " + strconv.Itoa(len(peopleFiles[AccountsName])) + " bytes: people's accounts",
		"admin.password included",
		"audit.log      " + strconv.Itoa(len(peopleFiles[AuditName])) + " bytes",
		"tls-cert.pem and tls-key.pem included",
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("manifest printed without %q", want)
		}
	}

	archive, _ := os.ReadFile(path)
	names, files := entries(t, archive)
	names = slices.DeleteFunc(names, isHistoryEntry)
	if want := []string{manifestName, FileName, JournalName, TokenName, FirstAdminName, AccountsName, AuditName,
		TLSCertName, TLSKeyName, sumsName}; !slices.Equal(names, want) {
		t.Errorf("archive holds %v, want %v", names, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(files[manifestName], &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"admin_token", "accounts", "admin_password", "audit_log", "tls_cert", "tls_key"} {
		if raw[key] != true {
			t.Errorf("manifest.json: %q is %v, want true", key, raw[key])
		}
	}
	for name, data := range peopleFiles {
		if string(files[name]) != data {
			t.Errorf("%s in the archive: %q, want %q", name, files[name], data)
		}
		if !strings.Contains(string(files[sumsName]), "  "+name+"\n") {
			t.Errorf("SHA256SUMS does not list %s", name)
		}
	}

	dst := filepath.Join(t.TempDir(), "restored")
	f, _ := os.Open(path)
	defer f.Close()
	rm, err := Restore(f, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rm.Accounts || !rm.AdminPassword || !rm.AuditLog || !rm.TLSCert || !rm.TLSKey {
		t.Errorf("restore read %+v", rm)
	}
	got := listing(t, dst)
	if want := []string{AccountsName, FirstAdminName, TokenName, AuditName, HistoryDir, FileName, LockName,
		TLSCertName, TLSKeyName, JournalName}; !slices.Equal(got, want) {
		t.Errorf("restored directory holds %v, want %v", got, want)
	}
	for name, data := range peopleFiles {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != data {
			t.Errorf("%s restored as %q (%v), want %q", name, b, err, data)
		}
		if fi, err := os.Stat(filepath.Join(dst, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
}

// A backup of a directory without them (a hub before accounts, or without
// -tls auto) says so, and an older backup's manifest, without their keys,
// still restores.
func TestBackupWithoutPeople(t *testing.T) {
	var buf bytes.Buffer
	m, err := Backup(backupSource(t), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accounts || m.AdminPassword || m.AuditLog || m.TLSCert || m.TLSKey {
		t.Errorf("manifest: %+v", m)
	}
	for _, want := range []string{"accounts.json  none in the directory", "audit.log      none in the directory"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("manifest printed without %q:\n%s", want, m)
		}
	}
	if strings.Contains(m.String(), "TLS") || strings.Contains(m.String(), FirstAdminName) {
		t.Errorf("manifest printed with files it does not have:\n%s", m)
	}
	older := rewrite(t, buf.Bytes(), editManifest(t, func(m map[string]any) {
		for _, key := range []string{"accounts", "admin_password", "audit_log", "tls_cert", "tls_key"} {
			delete(m, key)
		}
	}))
	if _, err := Restore(bytes.NewReader(older), filepath.Join(t.TempDir(), "new"), false); err != nil {
		t.Errorf("a manifest without the keys: %v", err)
	}
}

// The files of people are verified like the others: a manifest that does
// not match them, an accounts.json that does not read, a file changed.
func TestRestoreRefusesPeople(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Backup(backupWithPeople(t), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, tc := range []struct {
		name    string
		archive []byte
		wantMsg string
	}{
		{"manifest denies accounts.json", rewrite(t, good, editManifest(t, func(m map[string]any) { m["accounts"] = false })),
			"the manifest's accounts.json does not match"},
		{"manifest claims nothing of TLS", rewrite(t, good, editManifest(t, func(m map[string]any) { m["tls_key"] = false })),
			"the manifest's tls-key.pem does not match"},
		{"accounts.json missing", rewrite(t, good, func(name string, data []byte) []byte {
			if name == AccountsName {
				return nil
			}
			return data
		}), "where accounts.json belongs"},
		{"accounts.json not JSON", rewrite(t, good, func(name string, data []byte) []byte {
			if name == AccountsName {
				return bytes.Replace(data, []byte("{"), []byte("["), 1)
			}
			return data
		}), "accounts.json does not read as JSON"},
		{"audit.log edited", rewrite(t, good, func(name string, data []byte) []byte {
			if name == AuditName {
				return bytes.Replace(data, []byte(`"status":201`), []byte(`"status":200`), 1)
			}
			return data
		}), "checksums differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "absent")
			_, err := Restore(bytes.NewReader(tc.archive), dir, false)
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Restore: %v; want ErrBadBackup (%q)", err, tc.wantMsg)
			}
			if got := listing(t, dir); got != nil {
				t.Errorf("the target was created: %v", got)
			}
		})
	}

	// A directory whose accounts.json does not read is not backed up.
	dir := backupWithPeople(t)
	os.WriteFile(filepath.Join(dir, AccountsName), []byte(`{"version":1,"users":[`), 0o600)
	if _, err := Backup(dir, io.Discard); err == nil || !strings.Contains(err.Error(), "accounts.json does not read") {
		t.Errorf("backup of a damaged accounts.json: %v", err)
	}
}

// -force keeps the target's files of people and TLS aside, like hub.db's.
func TestRestoreForcePeople(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Backup(backupWithPeople(t), &buf); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	fill(t, dst, 1, 1)
	old := map[string]string{}
	for name := range peopleFiles {
		old[name] = "the target's own " + name + "\n"
		if err := os.WriteFile(filepath.Join(dst, name), []byte(old[name]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Restore(bytes.NewReader(buf.Bytes()), dst, true); err != nil {
		t.Fatal(err)
	}
	for name, data := range peopleFiles {
		if b, _ := os.ReadFile(filepath.Join(dst, name)); string(b) != data {
			t.Errorf("%s is %q, not the backup's", name, b)
		}
		kept, _ := filepath.Glob(filepath.Join(dst, name+".replaced-*"))
		if len(kept) != 1 {
			t.Errorf("%s kept aside as %v", name, kept)
			continue
		}
		if b, _ := os.ReadFile(kept[0]); string(b) != old[name] {
			t.Errorf("%s kept aside as %q", kept[0], b)
		}
	}
}
