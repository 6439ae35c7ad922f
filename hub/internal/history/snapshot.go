package history

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// snapshotTries bounds how often Snapshot copies a day that keeps changing.
const snapshotTries = 50

// Snapshot copies the history under src (a History's Dir) to dst, which
// must not exist, consistently even while another process (a running hub)
// writes it: day by day, sstables — which pebble never changes once
// written — are hard-linked (copied where links do not work), every other
// file (log, MANIFEST, OPTIONS, markers) copied; a day whose files came or
// went meanwhile (a flush, a compaction) is copied again. Each copy is
// then opened read-only and every sstable its MANIFEST names checked to be
// there. Everything synced to a day's log before Snapshot copied it is in
// the copy (a log being written may end in a torn record, which pebble
// replays up to).
func Snapshot(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("history: snapshot: %s exists", dst)
	}
	for _, k := range []Kind{Positions, Events} {
		kind := k.String()
		ents, err := os.ReadDir(filepath.Join(src, kind))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("history: snapshot: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() || strings.Contains(e.Name(), ".corrupt-") {
				continue
			}
			from, to := filepath.Join(src, kind, e.Name()), filepath.Join(dst, kind, e.Name())
			if err := snapshotDay(from, to); err != nil {
				return fmt.Errorf("history: snapshot %s/%s: %w", kind, e.Name(), err)
			}
		}
	}
	return nil
}

func snapshotDay(from, to string) error {
	for range snapshotTries {
		before, err := listDay(from)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(to); err != nil {
			return err
		}
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
		vanished := false
		for name := range before {
			err := copyFile(filepath.Join(from, name), filepath.Join(to, name), strings.HasSuffix(name, ".sst"))
			if errors.Is(err, fs.ErrNotExist) {
				vanished = true
				break
			}
			if err != nil {
				return err
			}
		}
		after, err := listDay(from)
		if err != nil {
			return err
		}
		if vanished || !maps.Equal(before, after) {
			continue // the day changed under the copy: again
		}
		return verifyCopy(to)
	}
	return fmt.Errorf("still changing after %d copies", snapshotTries)
}

// listDay is the names of a day's files (its LOCK left out).
func listDay(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range ents {
		if e.Type().IsRegular() && e.Name() != "LOCK" {
			names[e.Name()] = true
		}
	}
	return names, nil
}

func copyFile(from, to string, link bool) error {
	if link && os.Link(from, to) == nil {
		return nil
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// verifyCopy opens a copied day read-only and checks that every sstable its
// MANIFEST names is there.
func verifyCopy(dir string) (err error) {
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, FS: lockFS{vfs.Default}, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	levels, err := db.SSTables()
	if err != nil {
		return err
	}
	for _, level := range levels {
		for _, t := range level {
			name := t.FileNum.String() + ".sst"
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("the copy lacks %s", name)
			}
		}
	}
	return os.Remove(filepath.Join(dir, "LOCK"))
}
