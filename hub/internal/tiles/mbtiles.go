package tiles

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, so the hub stays one static binary
)

// mbtiles serves an MBTiles file (https://github.com/mapbox/mbtiles-spec):
// an SQLite database whose tiles table or view has zoom_level, tile_column,
// tile_row (TMS: row 0 is the south) and tile_data.
type mbtiles struct {
	db     *sql.DB
	stmt   *sql.Stmt
	format string // the metadata's format, for a tile whose bytes do not say
}

// sqliteMagic starts every SQLite 3 database file.
const sqliteMagic = "SQLite format 3\x00"

func openMBTiles(path string, log *slog.Logger) (_ *mbtiles, _ Metadata, err error) {
	// Check the file before SQLite sees it: SQLite opens anything lazily
	// and says "file is not a database" only at the first query.
	if err := checkSQLiteFile(path); err != nil {
		return nil, Metadata{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Metadata{}, err
	}
	// A file: URI, so that SQLite itself opens read-only (mode=ro): the
	// package is never written, not even a journal, and a missing file is
	// not created.
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive: file:///C:/…
	}
	dsn := (&url.URL{Scheme: "file", Path: p}).String() + "?mode=ro"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, Metadata{}, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// Each connection is a whole SQLite handle with its own page cache:
	// keep one per core that can use it rather than open and drop them
	// under load (tile reads are CPU-bound).
	conns := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)

	md, err := readMetadata(db)
	if err != nil {
		return nil, Metadata{}, err
	}
	var first []byte
	err = db.QueryRow("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").Scan(new(int), new(int), new(int), &first)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, Metadata{}, errors.New("no tiles in its tiles table")
	case err != nil:
		return nil, Metadata{}, fmt.Errorf("not an MBTiles file: its tiles table: %w", err)
	}

	meta := Metadata{Name: md["name"]}
	if meta.Name == "" {
		meta.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if meta.Format, err = mbtilesFormat(md["format"], first); err != nil {
		return nil, Metadata{}, err
	}

	minZ, errMin := strconv.Atoi(md["minzoom"])
	maxZ, errMax := strconv.Atoi(md["maxzoom"])
	if errMin != nil || errMax != nil || minZ < 0 || minZ > maxZ {
		// Optional in the spec, and not every exporter writes them.
		var lo, hi sql.NullInt64
		if err := db.QueryRow("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").Scan(&lo, &hi); err != nil {
			return nil, Metadata{}, fmt.Errorf("its zoom levels: %w", err)
		}
		minZ, maxZ = int(lo.Int64), int(hi.Int64)
	}
	meta.MinZoom, meta.MaxZoom = minZ, maxZ
	if b := md["bounds"]; b != "" {
		if meta.Bounds, err = parseBounds(b); err != nil {
			log.Warn("the tile package's bounds are left out of its metadata", "bounds", b, "err", err)
			err = nil
		}
	}

	stmt, err := db.Prepare("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?")
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("not an MBTiles file: %w", err)
	}
	return &mbtiles{db: db, stmt: stmt, format: meta.Format}, meta, nil
}

// checkSQLiteFile reports a missing, unreadable or non-SQLite file.
func checkSQLiteFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return pathErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return pathErr(err)
	}
	if fi.IsDir() {
		return errors.New("a directory, not an MBTiles file (a z/x/y directory is -tiles-dir)")
	}
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != sqliteMagic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return pathErr(err)
		}
		return errors.New("not an MBTiles file: not an SQLite database")
	}
	return nil
}

// readMetadata reads the metadata table's name/value pairs.
func readMetadata(db *sql.DB) (map[string]string, error) {
	rows, err := db.Query("SELECT name, value FROM metadata")
	if err != nil {
		return nil, fmt.Errorf("not an MBTiles file: its metadata table: %w", err)
	}
	defer rows.Close()
	md := make(map[string]string)
	for rows.Next() {
		var name, value sql.NullString
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("its metadata table: %w", err)
		}
		md[strings.ToLower(name.String)] = strings.TrimSpace(value.String)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("its metadata table: %w", err)
	}
	return md, nil
}

// mbtilesFormat is the package's raster format from its metadata, or from
// its first tile when the metadata does not say; vector tiles are refused,
// since the dashboard draws tiles as images.
func mbtilesFormat(declared string, first []byte) (string, error) {
	const rasterOnly = "the dashboard draws raster tiles only (png, jpg, webp): export the package as raster tiles"
	switch f := strings.ToLower(declared); f {
	case "png", "webp":
		return f, nil
	case "jpg", "jpeg":
		return "jpg", nil
	case "pbf", "mvt":
		return "", fmt.Errorf("vector tiles (format %q): %s", declared, rasterOnly)
	case "":
		if f := sniff(first); f != "" {
			return f, nil
		}
		if bytes.HasPrefix(first, []byte{0x1f, 0x8b}) {
			return "", fmt.Errorf("vector tiles (no format in its metadata, gzip-compressed tiles): %s", rasterOnly)
		}
		return "", fmt.Errorf("no format in its metadata and its tiles are not png, jpg or webp: %s", rasterOnly)
	default:
		return "", fmt.Errorf("format %q: %s", declared, rasterOnly)
	}
}

// parseBounds parses the metadata's "west,south,east,north".
func parseBounds(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, errors.New("want west,south,east,north")
	}
	b := make([]float64, 4)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("want west,south,east,north in degrees")
		}
		b[i] = v
	}
	if b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90 || b[1] > b[3] {
		return nil, errors.New("out of range")
	}
	return b, nil
}

func (m *mbtiles) tile(z, x, y int) (tile, error) {
	var data []byte
	// No request context: a lookup by primary key takes microseconds, and
	// a cancellable context costs the driver (and database/sql) a
	// goroutine per query.
	err := m.stmt.QueryRow(z, x, 1<<z-1-y).Scan(&data) // XYZ y → TMS row
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && len(data) == 0:
		// Some exporters store an empty blob where there is nothing to draw.
		return tile{}, errNoTile
	case err != nil:
		return tile{}, err
	}
	format := sniff(data)
	if format == "" {
		format = m.format
	}
	return tile{content: bytes.NewReader(data), etag: contentETag(data), ctype: formatType(format)}, nil
}

func (m *mbtiles) close() error {
	return errors.Join(m.stmt.Close(), m.db.Close())
}
