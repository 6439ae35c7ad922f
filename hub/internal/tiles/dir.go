package tiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// allExts are the extensions a directory's tile may have.
func allExts() []string { return []string{".png", ".jpg", ".jpeg", ".webp"} }

// dirSource serves root/{z}/{x}/{y}.{png,jpg,jpeg,webp} (XYZ: y counts
// from the north, as gdal2tiles --xyz, mb-util's export and most tile
// servers' caches lay them out).
type dirSource struct {
	root string
	// exts are tried in order, the package's own format first, so a
	// tile found costs one open; a package may still mix formats.
	exts []string
}

// Bounds on the scan at start for the package's format: the tiles of the
// first column found at the lowest zoom decide, and a city package has one
// in its first few directories.
const (
	scanXDirs   = 64
	scanEntries = 1024
)

func openDir(dir string) (*dirSource, Metadata, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, Metadata{}, pathErr(err)
	}
	if !fi.IsDir() {
		return nil, Metadata{}, errors.New("not a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Metadata{}, pathErr(err)
	}
	var zooms []int
	for _, e := range entries {
		if z, ok := coordName(e.Name(), MaxZoom); ok && isDir(dir, e) {
			zooms = append(zooms, z)
		}
	}
	if len(zooms) == 0 {
		return nil, Metadata{}, fmt.Errorf("no zoom directories 0–%d in it: want the layout DIR/{z}/{x}/{y}.png (or .jpg, .webp)", MaxZoom)
	}
	slices.Sort(zooms) // ReadDir sorts by name: "10" before "9"

	var ext string
	vector := false
	for _, z := range zooms {
		e, v, err := firstTile(filepath.Join(dir, strconv.Itoa(z)))
		if err != nil {
			return nil, Metadata{}, fmt.Errorf("zoom %d: %w", z, err)
		}
		vector = vector || v
		if e != "" {
			ext = e
			break
		}
	}
	if ext == "" {
		if vector {
			return nil, Metadata{}, errors.New("vector tiles (.pbf, .mvt): the dashboard draws raster tiles only (png, jpg, webp)")
		}
		return nil, Metadata{}, errors.New("no tiles in it: want DIR/{z}/{x}/{y}.png (or .jpg, .jpeg, .webp)")
	}
	exts := []string{ext}
	for _, e := range allExts() {
		if e != ext {
			exts = append(exts, e)
		}
	}
	name := filepath.Base(dir)
	if abs, err := filepath.Abs(dir); err == nil {
		name = filepath.Base(abs) // "." says nothing
	}
	return &dirSource{root: dir, exts: exts},
		Metadata{Format: extFormat(ext), MinZoom: zooms[0], MaxZoom: zooms[len(zooms)-1], Name: name}, nil
}

// firstTile looks in a zoom directory for raster tiles and returns the
// extension most of them have in the first column directory that has any
// ("" if none was found within the scan's bounds; a tie goes to png, then
// jpg, then webp), and whether vector tiles were seen.
func firstTile(zdir string) (ext string, vector bool, err error) {
	xdirs := 0
	counts := make(map[string]int)
	var xerr error
	err = eachEntry(zdir, func(e fs.DirEntry) bool {
		if _, ok := coordName(e.Name(), 1<<MaxZoom-1); !ok || !isDir(zdir, e) {
			return true
		}
		xdirs++
		xerr = eachEntry(filepath.Join(zdir, e.Name()), func(f fs.DirEntry) bool {
			name := f.Name()
			dot := len(name) - len(filepath.Ext(name))
			if _, ok := coordName(name[:dot], 1<<MaxZoom-1); !ok || f.IsDir() {
				return true
			}
			switch e := name[dot:]; {
			case extFormat(e) != "":
				counts[e]++
			case e == ".pbf" || e == ".mvt":
				vector = true
			}
			return true
		})
		return xerr == nil && len(counts) == 0 && xdirs < scanXDirs
	})
	for _, e := range allExts() {
		if counts[e] > counts[ext] {
			ext = e
		}
	}
	return ext, vector, errors.Join(err, xerr)
}

// eachEntry calls fn for a directory's entries, at most scanEntries of
// them, in the directory's order (a zoom level's directory may hold a
// hundred thousand: no sorting), until fn returns false.
func eachEntry(dir string, fn func(fs.DirEntry) bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	for seen := 0; seen < scanEntries; {
		batch, err := f.ReadDir(128)
		for _, e := range batch {
			seen++
			if !fn(e) {
				return nil
			}
		}
		if err != nil { // io.EOF at the end
			return nil
		}
	}
	return nil
}

// coordName parses a directory or file name that is a coordinate 0..limit
// written as the request's path will spell it ("7", not "07").
func coordName(s string, limit int) (int, bool) {
	v, err := parseCoord("", s, limit)
	return v, err == nil && strconv.Itoa(v) == s
}

// isDir reports whether an entry is a directory or a link to one (packages
// are often assembled from links to zoom levels on other disks).
func isDir(parent string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(parent, e.Name()))
	return err == nil && fi.IsDir()
}

func (d *dirSource) tile(z, x, y int) (tile, error) {
	// z, x and y are integers in range (ParsePath), so the path stays
	// inside root.
	base := filepath.Join(d.root, strconv.Itoa(z), strconv.Itoa(x), strconv.Itoa(y))
	for _, ext := range d.exts {
		f, err := os.Open(base + ext)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			return tile{}, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return tile{}, err
		}
		if !fi.Mode().IsRegular() || fi.Size() == 0 {
			// An empty file is a cache's "nothing to draw here", as an
			// MBTiles file's empty blob is.
			f.Close()
			continue
		}
		return tile{content: f, modTime: fi.ModTime(), etag: fileETag(fi),
			ctype: formatType(extFormat(ext)), release: f.Close}, nil
	}
	return tile{}, errNoTile
}

func (d *dirSource) close() error { return nil }

// pathErr drops the path from an *fs.PathError: the caller's message names
// the flag and the path already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
