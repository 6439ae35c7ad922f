package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failingFsync makes the store's fsyncs fail with EIO while on is set: a
// disk whose writeback fails. (tmpfs never fails an fsync, and this machine
// has no device-mapper to make a block device fail, so this one fault is
// injected in the process; the hub's tests fill and remount real disks.)
type failingFsync struct {
	mu sync.Mutex
	on bool
}

func (f *failingFsync) install(s *Store) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.fsync = func(file *os.File) error {
		f.mu.Lock()
		on := f.on
		f.mu.Unlock()
		if on {
			return &os.PathError{Op: "fsync", Path: file.Name(), Err: syscall.EIO}
		}
		return file.Sync()
	}
}

func (f *failingFsync) set(on bool) {
	f.mu.Lock()
	f.on = on
	f.mu.Unlock()
}

func faultUnit(id, secret string) Unit {
	return Unit{ID: id, Type: "car", SecretHash: strings.Repeat(secret, 64), Enrolled: now.UnixMilli()}
}

// eventually retries fn for up to 5 s, as a caller told to try again would.
func eventually(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func faultsOf(s *Store) map[string]Fault {
	out := map[string]Fault{}
	for _, f := range s.Faults() {
		out[f.Writes] = f
	}
	return out
}

// An fsync fails: the sync says so (an ErrWriteFailed, counted, reported as
// failing commits); the next Sync rewrites the file from memory before it
// reports success — the pages a failed fsync dropped are written again —
// and the report clears after a commit and a sync that work. Every batch
// is there after a restart.
func TestFailedFsyncRewritesTheFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var fs failingFsync
	fs.install(s)
	if err := s.CreateUnit(faultUnit("car-1", "1")); err != nil {
		t.Fatal(err)
	}
	commit := func(seq uint64) {
		t.Helper()
		if _, err := s.Commit(&Batch{Points: []UnitPosition{point("car-1", seq, now.UnixMilli()+int64(seq))}}, now); err != nil {
			t.Fatal(err)
		}
	}
	commit(1)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(s.Path())

	fs.set(true)
	commit(2)
	err = s.Sync()
	if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync on a failing disk: %v, want ErrWriteFailed and EIO", err)
	}
	f, ok := faultsOf(s)["commits"]
	if !ok || f.Failures != 1 || !strings.Contains(f.String(), "input/output error") {
		t.Fatalf("faults: %+v", s.Faults())
	}
	if n := s.Failures()[OpSync]; n != 1 {
		t.Errorf("sync failures counted: %d", n)
	}
	if err := s.Sync(); err == nil {
		t.Fatal("the rewrite after a failed fsync succeeded on a disk still failing")
	}

	fs.set(false)
	commit(3)
	// The rewrite that failed is tried again a second later.
	eventually(t, s.Sync)
	after, _ := os.Stat(s.Path())
	if os.SameFile(before, after) {
		t.Error("the file was not rewritten after the failed fsync")
	}
	if len(s.Faults()) != 0 {
		t.Errorf("still reported after a commit and a sync that worked: %+v", s.Faults())
	}
	commit(4)
	if err := s.Sync(); err != nil { // through the new file
		t.Fatal(err)
	}
	t.Logf("failures: %v; file rewritten (%d → %d bytes)", s.Failures(), before.Size(), after.Size())
	s.Close()

	s = open(t, dir)
	tr, err := s.Track("car-1", 0, now.UnixMilli()+100, 100)
	if err != nil || len(tr) != 4 {
		t.Fatalf("after a restart: %d positions (%v), want 4", len(tr), err)
	}
}

// An enrolment whose transaction reached the file but whose sync failed
// answers an error and is taken back by the next write: a retry enrols the
// unit (not "already enrolled" under a secret nobody was given), and after
// a restart the unit has the retry's secret. The same for records (Put).
func TestFailedDurableWriteIsTakenBack(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var fs failingFsync
	fs.install(s)
	if err := s.Put(map[string][]byte{"inc:1": []byte(`"before"`)}); err != nil {
		t.Fatal(err)
	}

	fs.set(true)
	if err := s.CreateUnit(faultUnit("car-1", "1")); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("enrolment on a failing disk: %v, want ErrWriteFailed", err)
	}
	if err := s.Put(map[string][]byte{"inc:1": []byte(`"failed"`), "inc:2": []byte(`"failed"`)}); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("put on a failing disk: %v, want ErrWriteFailed", err)
	}

	fs.set(false)
	// Retried until it works: the first retry may still find the rewrite
	// that must follow a failed fsync waiting for its next try, and is
	// taken back in its turn.
	eventually(t, func() error { return s.CreateUnit(faultUnit("car-1", "2")) })
	if b, err := s.Get("inc:1"); err != nil || string(b) != `"before"` {
		t.Errorf("inc:1 after the failed put was taken back: %s, %v", b, err)
	}
	if _, err := s.Get("inc:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("inc:2, written by the failed put: %v, want ErrNotFound", err)
	}
	s.Close()

	s = open(t, dir)
	units, err := s.Units()
	if err != nil || len(units) != 1 || units[0].SecretHash != strings.Repeat("2", 64) {
		t.Fatalf("after a restart: %+v, %v; want car-1 with the retry's secret", units, err)
	}
	if _, err := s.Get("inc:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("inc:2 after a restart: %v, want ErrNotFound", err)
	}
}

// While commits fail and nobody writes, the store tries one every second by
// itself: the report clears once the disk works, without a unit's report.
func TestProbeClearsCommitsFault(t *testing.T) {
	s := open(t, t.TempDir())
	var fs failingFsync
	fs.install(s)
	fs.set(true)
	if err := s.Sync(); err == nil {
		t.Fatal("sync did not fail")
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.RunMaintenance(done)
	}()
	defer func() { close(done); <-stopped }()
	time.Sleep(ProbeInterval + 300*time.Millisecond)
	f, ok := faultsOf(s)["commits"]
	if !ok || f.Failures < 2 {
		t.Fatalf("while the disk fails, the probe fails too: %+v", s.Faults())
	}
	fs.set(false)
	start := time.Now()
	for len(s.Faults()) > 0 {
		if time.Since(start) > 3*ProbeInterval {
			t.Fatalf("no probe cleared the report: %+v", s.Faults())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cleared %v after the disk worked again; failures %v", time.Since(start).Round(time.Millisecond), s.Failures())
}

// A snapshot whose destination cannot be written, and a compaction whose
// new file cannot be made, fail, are counted, reported until the next one
// works — and leave the store as it was.
func TestSnapshotAndCompactionFaults(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.CreateUnit(faultUnit("car-1", "1")); err != nil {
		t.Fatal(err)
	}
	// A directory in the way of the snapshot's rename.
	blocker := filepath.Join(dir, FileName+".snapshot")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("snapshot into a directory: %v", err)
	}
	if f, ok := faultsOf(s)["snapshots"]; !ok || !strings.Contains(f.String(), "snapshot") {
		t.Fatalf("faults: %+v", s.Faults())
	}
	os.RemoveAll(blocker)
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, ok := faultsOf(s)["snapshots"]; ok {
		t.Fatalf("snapshots still reported after one worked: %+v", s.Faults())
	}

	defer func(was int64) { compactMin = was }(compactMin)
	compactMin = 1
	for seq := uint64(1); seq <= 200; seq++ { // grow the file past twice its size at open
		if _, err := s.Commit(&Batch{Points: []UnitPosition{point("car-1", 1, now.UnixMilli())}}, now); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, FileName+".tmp") // buntdb's Shrink writes here
	if err := os.MkdirAll(filepath.Join(tmp, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("compaction with its new file blocked: %v", err)
	}
	if _, ok := faultsOf(s)["compaction"]; !ok || s.Failures()[OpCompact] != 1 {
		t.Fatalf("faults %+v, failures %v", s.Faults(), s.Failures())
	}
	os.RemoveAll(tmp)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if len(s.Faults()) != 0 {
		t.Fatalf("still reported: %+v", s.Faults())
	}
	if units, err := s.Units(); err != nil || len(units) != 1 {
		t.Fatalf("units after it all: %+v, %v", units, err)
	}
}
