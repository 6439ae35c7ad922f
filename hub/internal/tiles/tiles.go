// Package tiles serves the dispatcher's basemap from a tile package on the
// hub's own disk, so the map works in a command centre without internet: a
// directory in the z/x/y layout or an MBTiles file, typically exported from
// the city's GIS tile server. The hub mounts a Server at Prefix; the
// dashboard draws /tiles/{z}/{x}/{y} as images.
//
// Tiles need no token: a browser's <img> cannot send a Bearer header, and the
// basemap says nothing about the fleet.
package tiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kuaifan/protocol/api"
)

const (
	// Prefix is where the hub mounts the Server.
	Prefix = "/tiles/"
	// Template is the dashboard's basemap URL template for the hub's own
	// package, relative to the hub.
	Template = "/tiles/{z}/{x}/{y}"
	// MaxZoom is the deepest zoom level a request may ask for.
	MaxZoom = 30
	// CacheControl lets browsers keep a tile for a day: a package changes
	// only when it is replaced, with a hub restart.
	CacheControl = "public, max-age=86400"
)

// Config says which tile package to serve: exactly one of Dir and MBTiles.
// Errors name the hub's flags, since that is where an operator sets them.
type Config struct {
	// Dir is a directory in the XYZ layout Dir/{z}/{x}/{y}.png (or .jpg,
	// .jpeg, .webp); hub -tiles-dir.
	Dir string
	// MBTiles is an MBTiles file (SQLite) of raster tiles; hub -tiles-mbtiles.
	// It is opened read-only.
	MBTiles string
	Logger  *slog.Logger
}

// Metadata describes the package; it is served as /tiles/metadata.json.
type Metadata struct {
	Format  string `json:"format"` // png, jpg or webp
	MinZoom int    `json:"minzoom"`
	MaxZoom int    `json:"maxzoom"`
	// Bounds are [west, south, east, north] in degrees; nil when the package
	// does not say (a directory).
	Bounds []float64 `json:"bounds,omitempty"`
	Name   string    `json:"name"`
}

// errNoTile is a source's answer for a tile the package does not have.
var errNoTile = errors.New("no such tile")

// source is one kind of tile package.
type source interface {
	// tile returns the tile at XYZ z/x/y, or errNoTile.
	tile(z, x, y int) (tile, error)
	close() error
}

// tile is one tile ready to serve.
type tile struct {
	content io.ReadSeeker
	modTime time.Time // zero: unknown (no Last-Modified)
	etag    string    // quoted
	ctype   string
	release func() error // nil: nothing to release
}

// Server serves one tile package over HTTP. Open it with Open; Close it when
// the hub stops.
type Server struct {
	src      source
	meta     Metadata
	metaJSON []byte
	log      *slog.Logger
}

// Open opens and checks the package cfg names, so that a wrong path or a
// package the dashboard cannot draw stops the hub at start rather than
// leaving the map blank.
func Open(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		src  source
		meta Metadata
		err  error
	)
	switch {
	case cfg.Dir != "" && cfg.MBTiles != "":
		return nil, errors.New("tiles: both -tiles-dir and -tiles-mbtiles are set: give one tile package")
	case cfg.Dir != "":
		if src, meta, err = openDir(cfg.Dir); err != nil {
			return nil, fmt.Errorf("tiles: -tiles-dir %s: %w", cfg.Dir, err)
		}
	case cfg.MBTiles != "":
		if src, meta, err = openMBTiles(cfg.MBTiles, log); err != nil {
			return nil, fmt.Errorf("tiles: -tiles-mbtiles %s: %w", cfg.MBTiles, err)
		}
	default:
		return nil, errors.New("tiles: no tile package: set -tiles-dir or -tiles-mbtiles")
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		src.close()
		return nil, fmt.Errorf("tiles: metadata: %w", err)
	}
	return &Server{src: src, meta: meta, metaJSON: metaJSON, log: log}, nil
}

// Metadata describes the package being served.
func (s *Server) Metadata() Metadata { return s.meta }

// Close releases the package (the MBTiles database). Requests still being
// served after it fail with 500.
func (s *Server) Close() error { return s.src.close() }

// ServeHTTP answers GET /tiles/{z}/{x}/{y}[.png|.jpg|.jpeg|.webp] and
// GET /tiles/metadata.json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		writeError(w, http.StatusNotFound, "tiles are under "+Prefix)
		return
	}
	if rest == "metadata.json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		// It changes only with the package, but that is the operator's
		// choice at any restart: ask again each time (it is tiny).
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(s.metaJSON)
		return
	}
	z, x, y, err := ParsePath(rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t, err := s.src.tile(z, x, y)
	if errors.Is(err, errNoTile) {
		// Not logged: a map panned past the package's edge asks for many.
		writeError(w, http.StatusNotFound, fmt.Sprintf("no tile %d/%d/%d in the package", z, x, y))
		return
	}
	if err != nil {
		s.log.Warn("reading a tile", "z", z, "x", x, "y", y, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the tile package failed")
		return
	}
	if t.release != nil {
		defer t.release()
	}
	h := w.Header()
	h.Set("Content-Type", t.ctype)
	h.Set("Cache-Control", CacheControl)
	h.Set("ETag", t.etag)
	// ServeContent answers If-None-Match with 304 (before reading the
	// content), and HEAD and Range requests.
	http.ServeContent(w, r, "", t.modTime, t.content)
}

// ParsePath parses "{z}/{x}/{y}" with an optional image extension on y
// (.png, .jpg, .jpeg or .webp; the package's own format is served whatever
// it says). z is 0..MaxZoom and x and y 0..2^z−1, in decimal digits only.
func ParsePath(p string) (z, x, y int, err error) {
	zs, rest, ok1 := strings.Cut(p, "/")
	xs, ys, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || strings.Contains(ys, "/") {
		return 0, 0, 0, fmt.Errorf("tile path %q: want %s{z}/{x}/{y}", p, Prefix)
	}
	if i := strings.LastIndexByte(ys, '.'); i >= 0 {
		if extFormat(ys[i:]) == "" {
			return 0, 0, 0, fmt.Errorf("tile path %q: y may end in .png, .jpg, .jpeg or .webp only", p)
		}
		ys = ys[:i]
	}
	z, errZ := parseCoord("z", zs, MaxZoom)
	if errZ != nil {
		return 0, 0, 0, fmt.Errorf("tile path %q: %w", p, errZ)
	}
	n := 1<<z - 1
	x, errX := parseCoord("x", xs, n)
	y, errY := parseCoord("y", ys, n)
	if err := errors.Join(errX, errY); err != nil {
		return 0, 0, 0, fmt.Errorf("tile path %q at zoom %d: %w", p, z, err)
	}
	return z, x, y, nil
}

// parseCoord parses a coordinate 0..limit written in decimal digits only
// (no sign, no spaces, no underscores).
func parseCoord(name, s string, limit int) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("%s %q: want an integer 0–%d", name, s, limit)
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s %q: want an integer 0–%d", name, s, limit)
		}
		v = v*10 + int(c-'0')
	}
	if v > limit {
		return 0, fmt.Errorf("%s %d: beyond %d", name, v, limit)
	}
	return v, nil
}

// extFormat names the raster format of a tile file's extension, or "".
func extFormat(ext string) string {
	switch ext {
	case ".png":
		return "png"
	case ".jpg", ".jpeg":
		return "jpg"
	case ".webp":
		return "webp"
	}
	return ""
}

// formatType is the Content-Type of a raster format.
func formatType(format string) string {
	switch format {
	case "png":
		return "image/png"
	case "jpg":
		return "image/jpeg"
	case "webp":
		return "image/webp"
	}
	return "application/octet-stream"
}

// sniff names the raster format of a tile's bytes, or "" if it is none of
// png, jpg and webp. A package may mix formats (opaque tiles as jpg,
// transparent ones at the edges as png), so each tile is sniffed.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpg"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// contentETag is a strong ETag of a tile's bytes: their length and CRC-32C.
// It only has to tell one version of the same tile from another, and
// CRC-32C is hardware-accelerated, so it costs far less than reading the
// tile (a cryptographic hash would not).
func contentETag(b []byte) string {
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) // the table is built once, by crc32
	return `"` + strconv.FormatInt(int64(len(b)), 36) + "-" + strconv.FormatUint(uint64(sum), 36) + `"`
}

// fileETag is a tile file's ETag from its size and modification time, so
// that a 304 needs no read.
func fileETag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.Size(), 36) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 36) + `"`
}

// writeError answers as the hub's API does: {"error": "…"}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg})
}
