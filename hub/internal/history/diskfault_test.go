package history

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// failingFS fails every write and sync while broken is set, as a disk
// does that answers EIO.
type failingFS struct {
	vfs.FS
	broken *atomic.Bool
}

type failingFile struct {
	vfs.File
	broken *atomic.Bool
}

func (f failingFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return failingFile{file, f.broken}, nil
}

func (f failingFS) Create(name string) (vfs.File, error) {
	if f.broken.Load() {
		return nil, syscall.EIO
	}
	return f.wrap(f.FS.Create(name))
}

func (f failingFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.wrap(f.FS.OpenReadWrite(name, opts...))
}

func (f failingFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if f.broken.Load() {
		return nil, syscall.EIO
	}
	return f.wrap(f.FS.ReuseForWrite(oldname, newname))
}

func (f failingFile) Write(p []byte) (int, error) {
	if f.broken.Load() {
		return 0, syscall.EIO
	}
	return f.File.Write(p)
}

func (f failingFile) Sync() error {
	if f.broken.Load() {
		return syscall.EIO
	}
	return f.File.Sync()
}

func (f failingFile) SyncData() error {
	if f.broken.Load() {
		return syscall.EIO
	}
	return f.File.SyncData()
}

// A write the disk refuses fails (pebble would have called it fatal),
// the day is not set aside, reads go on, and once the disk works again
// the next write succeeds: every batch Append confirmed is there, before
// and after a reopen.
func TestWriteFailureThenRecovery(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir)
	var broken atomic.Bool
	h.fs = failingFS{h.fs, &broken}

	ps := track("car-1", day0+1000, 1000, 6)
	if err := h.Append(Batch{Positions: ps[0:2]}); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	for i := range 3 { // the failed write, then the reopen that fails too
		err := h.Append(Batch{Positions: ps[2:4]})
		if err == nil || !errors.Is(err, syscall.EIO) && !strings.Contains(err.Error(), "input/output error") {
			t.Fatalf("append %d on a failing disk: %v", i, err)
		}
	}
	if got := trackSeqs(t, h); !slices.Equal(got[:2], []uint64{1, 2}) {
		t.Errorf("read while the disk fails: %v", got)
	}
	broken.Store(false)
	if err := h.Append(Batch{Positions: ps[4:6]}); err != nil {
		t.Fatalf("append once the disk works again: %v", err)
	}
	check := func(when string, got []uint64) {
		for _, want := range []uint64{1, 2, 5, 6} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: seq %d confirmed but not stored: %v", when, want, got)
			}
		}
	}
	check("after recovery", trackSeqs(t, h))
	if d := h.Damage(); len(d) != 0 {
		t.Errorf("a failing disk is not damage: %v", d)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	check("after a reopen", trackSeqs(t, open(t, dir)))
}

func trackSeqs(t *testing.T, h *History) []uint64 {
	t.Helper()
	ps, err := h.Track("car-1", math.MinInt64, math.MaxInt64, 0)
	if err != nil {
		t.Fatal(err)
	}
	return seqs(ps)
}
