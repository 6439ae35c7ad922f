package tiles

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kuaifan/testkit/leakcheck"
)

// The leak check also proves Close ends database/sql's and the driver's
// goroutines.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// pngTile and jpgTile are real images, one colour each, so a test can tell
// which tile it got.
func pngTile(t testing.TB, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, c)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpgTile(t testing.TB, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, c)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webpTile has WebP's header; the server only sniffs it.
func webpTile() []byte {
	return []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
}

// writeFiles writes files (slash paths) under dir.
func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tmsTile is a row of an MBTiles tiles table: row in the TMS scheme.
type tmsTile struct {
	z, col, row int
	data        []byte
}

// writeMBTiles makes an MBTiles file as exporters do: a metadata table and
// a tiles table with its unique index. A nil metadata makes no metadata
// table at all.
func writeMBTiles(t testing.TB, path string, metadata map[string]string, tiles []tmsTile) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{
		"CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)",
		"CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)",
	}
	if metadata != nil {
		stmts = append(stmts, "CREATE TABLE metadata (name text, value text)")
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range metadata {
		if _, err := tx.Exec("INSERT INTO metadata (name, value) VALUES (?, ?)", k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tl := range tiles {
		if _, err := tx.Exec("INSERT INTO tiles VALUES (?, ?, ?, ?)", tl.z, tl.col, tl.row, tl.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func get(t testing.TB, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	red   = color.RGBA{200, 0, 0, 255}
	green = color.RGBA{0, 200, 0, 255}
	blue  = color.RGBA{0, 0, 200, 255}
)

// testPackages are the same tiles as a directory and as an MBTiles file:
// XYZ 3/6/2 png (TMS row 5), 3/6/5 jpg (TMS row 2: a wrong flip would serve
// one for the other), 4/1/1 webp.
func testPackages(t *testing.T) map[string]*Server {
	t.Helper()
	p, j := pngTile(t, red), jpgTile(t, green)
	dir := filepath.Join(t.TempDir(), "changsha")
	writeFiles(t, dir, map[string][]byte{
		"3/6/2.png":  p,
		"3/6/5.jpg":  j,
		"4/1/1.webp": webpTile(),
		"4/1/2.png":  {}, // nothing to draw: 404
		"README.txt": []byte("not a zoom level"),
	})
	mb := filepath.Join(t.TempDir(), "changsha.mbtiles")
	writeMBTiles(t, mb, map[string]string{"name": "长沙", "format": "png", "minzoom": "3", "maxzoom": "4",
		"bounds": "112.8,28.0,113.2,28.4", "type": "baselayer"}, []tmsTile{
		{3, 6, 5, p},
		{3, 6, 2, j},
		{4, 1, 14, webpTile()},
		{4, 1, 13, nil}, // nothing to draw: 404
	})
	return map[string]*Server{
		"dir":     open(t, Config{Dir: dir}),
		"mbtiles": open(t, Config{MBTiles: mb}),
	}
}

func TestServeTiles(t *testing.T) {
	p, j := pngTile(t, red), jpgTile(t, green)
	for name, s := range testPackages(t) {
		for _, tc := range []struct {
			path   string
			status int
			ctype  string
			body   []byte
		}{
			{"/tiles/3/6/2", 200, "image/png", p},
			{"/tiles/3/6/2.png", 200, "image/png", p},
			{"/tiles/3/6/2.webp", 200, "image/png", p}, // the extension asks for nothing
			{"/tiles/3/6/5", 200, "image/jpeg", j},
			{"/tiles/3/6/5.png", 200, "image/jpeg", j},
			{"/tiles/3/6/5.jpg", 200, "image/jpeg", j},
			{"/tiles/4/1/1.webp", 200, "image/webp", webpTile()},
			{"/tiles/4/1/2", 404, "application/json; charset=utf-8", nil},
			{"/tiles/3/6/3", 404, "application/json; charset=utf-8", nil},
			{"/tiles/0/0/0", 404, "application/json; charset=utf-8", nil},
			{"/tiles/30/1073741823/1073741823", 404, "application/json; charset=utf-8", nil},
			{"/tiles/3/8/0", 400, "application/json; charset=utf-8", nil},
			{"/tiles/3/0/8", 400, "application/json; charset=utf-8", nil},
			{"/tiles/31/0/0", 400, "application/json; charset=utf-8", nil},
			{"/tiles/-1/0/0", 400, "application/json; charset=utf-8", nil},
			{"/tiles/a/0/0", 400, "application/json; charset=utf-8", nil},
			{"/tiles/3/6/2.pbf", 400, "application/json; charset=utf-8", nil},
			{"/tiles/3/6", 400, "application/json; charset=utf-8", nil},
			{"/tiles/3/6/2/1", 400, "application/json; charset=utf-8", nil},
			{"/tiles/", 400, "application/json; charset=utf-8", nil},
		} {
			resp := get(t, s, http.MethodGet, tc.path)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("%s %s: %d %q, want %d %q: %s", name, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype, body)
				continue
			}
			if tc.status != 200 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("%s %s: error body %q", name, tc.path, body)
				}
				continue
			}
			if !bytes.Equal(body, tc.body) {
				t.Errorf("%s %s: wrong tile (%d bytes, want %d)", name, tc.path, len(body), len(tc.body))
			}
			if resp.Header.Get("Cache-Control") != "public, max-age=86400" || resp.Header.Get("ETag") == "" {
				t.Errorf("%s %s: headers %v", name, tc.path, resp.Header)
			}
		}

		if resp := get(t, s, http.MethodHead, "/tiles/3/6/2"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Errorf("%s HEAD: %d %v", name, resp.StatusCode, resp.Header)
		}
		resp := get(t, s, http.MethodPost, "/tiles/3/6/2")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s POST: %d %v", name, resp.StatusCode, resp.Header)
		}
	}
}

// The directory's TMS-free layout and the MBTiles row flip, spelled out:
// XYZ (z=3, x=6, y=2) is the MBTiles row 2^3−1−2 = 5.
func TestMBTilesRowFlip(t *testing.T) {
	mb := filepath.Join(t.TempDir(), "flip.mbtiles")
	p := pngTile(t, blue)
	writeMBTiles(t, mb, map[string]string{"format": "png"}, []tmsTile{{3, 6, 5, p}})
	s := open(t, Config{MBTiles: mb})
	if resp := get(t, s, http.MethodGet, "/tiles/3/6/2.png"); resp.StatusCode != 200 || !bytes.Equal(readBody(t, resp), p) {
		t.Errorf("XYZ 3/6/2: %d, want the tile stored at row 5", resp.StatusCode)
	}
	if resp := get(t, s, http.MethodGet, "/tiles/3/6/5.png"); resp.StatusCode != 404 {
		t.Errorf("XYZ 3/6/5 (row 2, empty): %d, want 404", resp.StatusCode)
	}
}

func TestETag(t *testing.T) {
	for name, s := range testPackages(t) {
		first := get(t, s, http.MethodGet, "/tiles/3/6/2")
		etag := first.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 5 {
			t.Fatalf("%s: ETag %q", name, etag)
		}
		if again := get(t, s, http.MethodGet, "/tiles/3/6/2").Header.Get("ETag"); again != etag {
			t.Errorf("%s: ETag %q then %q for the same tile", name, etag, again)
		}
		if other := get(t, s, http.MethodGet, "/tiles/3/6/5").Header.Get("ETag"); other == etag {
			t.Errorf("%s: two tiles share the ETag %q", name, etag)
		}
		for _, tc := range []struct {
			inm    string
			status int
		}{
			{etag, http.StatusNotModified},
			{"W/" + etag, http.StatusNotModified}, // If-None-Match compares weakly
			{`"other", ` + etag, http.StatusNotModified},
			{"*", http.StatusNotModified},
			{`"other"`, http.StatusOK},
		} {
			resp := get(t, s, http.MethodGet, "/tiles/3/6/2.png", "If-None-Match", tc.inm)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("%s If-None-Match %s: %d, want %d", name, tc.inm, resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusNotModified && (len(body) != 0 || resp.Header.Get("ETag") != etag ||
				resp.Header.Get("Cache-Control") != "public, max-age=86400") {
				t.Errorf("%s 304: %d bytes, %v", name, len(body), resp.Header)
			}
		}
	}
}

// A directory's ETag follows the file: a replaced tile is fetched again.
func TestDirETagFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"2/1/1.png": pngTile(t, red)})
	s := open(t, Config{Dir: dir})
	etag := get(t, s, http.MethodGet, "/tiles/2/1/1").Header.Get("ETag")
	p := pngTile(t, color.RGBA{1, 2, 3, 255})
	file := filepath.Join(dir, "2", "1", "1.png")
	os.WriteFile(file, p, 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(file, later, later)
	resp := get(t, s, http.MethodGet, "/tiles/2/1/1", "If-None-Match", etag)
	if resp.StatusCode != 200 || !bytes.Equal(readBody(t, resp), p) || resp.Header.Get("ETag") == etag {
		t.Errorf("after replacing the tile: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
}

func TestMetadata(t *testing.T) {
	pk := testPackages(t)
	// Without minzoom, maxzoom, format and bounds: from the tiles.
	bare := filepath.Join(t.TempDir(), "bare.mbtiles")
	writeMBTiles(t, bare, map[string]string{}, []tmsTile{{12, 3, 4, jpgTile(t, red)}, {14, 0, 0, jpgTile(t, red)}})
	pk["bare"] = open(t, Config{MBTiles: bare})
	for name, want := range map[string]string{
		"dir":     `{"format":"png","minzoom":3,"maxzoom":4,"name":"changsha"}`,
		"mbtiles": `{"format":"png","minzoom":3,"maxzoom":4,"bounds":[112.8,28,113.2,28.4],"name":"长沙"}`,
		"bare":    `{"format":"jpg","minzoom":12,"maxzoom":14,"name":"bare"}`,
	} {
		resp := get(t, pk[name], http.MethodGet, "/tiles/metadata.json")
		if got := strings.TrimSpace(string(readBody(t, resp))); resp.StatusCode != 200 || got != want ||
			resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %s\nwant %s", name, resp.StatusCode, got, want)
		}
	}
}

// A package the hub cannot serve stops it at start, naming the flag and the path.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{
		"empty/README":         []byte("x"),
		"nozooms/tiles/1.png":  pngTile(t, red),
		"vector/5/1/1.pbf":     []byte("\x1a\x02"),
		"emptyzoom/5/1/.keep":  nil,
		"text.mbtiles":         []byte("this is not a database, it is text long enough"),
		"short.mbtiles":        []byte("SQL"),
		"file.txt":             []byte("x"),
		"mbtiles.dir/whatever": []byte("x"),
	})
	raster := []tmsTile{{1, 0, 0, pngTile(t, red)}}
	in := func(name string) string { return filepath.Join(dir, name) }
	writeMBTiles(t, in("vector.mbtiles"), map[string]string{"format": "pbf"}, []tmsTile{{1, 0, 0, []byte("\x1f\x8b\x08")}})
	writeMBTiles(t, in("gzip.mbtiles"), map[string]string{}, []tmsTile{{1, 0, 0, []byte("\x1f\x8b\x08")}})
	writeMBTiles(t, in("tiff.mbtiles"), map[string]string{"format": "tiff"}, raster)
	writeMBTiles(t, in("notiles.mbtiles"), map[string]string{"format": "png"}, nil)
	writeMBTiles(t, in("nometa.mbtiles"), nil, raster)
	writeSQLite(t, in("other.sqlite"), "CREATE TABLE people (name text)")

	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"both", Config{Dir: in("x"), MBTiles: in("y.mbtiles")}, []string{"-tiles-dir", "-tiles-mbtiles", "both"}},
		{"neither", Config{}, []string{"no tile package"}},
		{"missing dir", Config{Dir: in("missing")}, []string{"-tiles-dir " + in("missing"), "no such file or directory"}},
		{"file as dir", Config{Dir: in("file.txt")}, []string{"-tiles-dir " + in("file.txt"), "not a directory"}},
		{"no zooms", Config{Dir: in("nozooms")}, []string{"-tiles-dir", "no zoom directories"}},
		{"empty dir", Config{Dir: in("empty")}, []string{"-tiles-dir", "no zoom directories"}},
		{"empty zoom", Config{Dir: in("emptyzoom")}, []string{"-tiles-dir", "no tiles"}},
		{"vector dir", Config{Dir: in("vector")}, []string{"-tiles-dir", "vector tiles", "raster"}},
		{"missing file", Config{MBTiles: in("missing.mbtiles")}, []string{"-tiles-mbtiles " + in("missing.mbtiles"), "no such file"}},
		{"dir as file", Config{MBTiles: in("mbtiles.dir")}, []string{"-tiles-mbtiles " + in("mbtiles.dir"), "directory"}},
		{"text", Config{MBTiles: in("text.mbtiles")}, []string{"-tiles-mbtiles " + in("text.mbtiles"), "not an MBTiles file"}},
		{"short", Config{MBTiles: in("short.mbtiles")}, []string{"-tiles-mbtiles", "not an MBTiles file"}},
		{"other database", Config{MBTiles: in("other.sqlite")}, []string{"-tiles-mbtiles " + in("other.sqlite"), "not an MBTiles file", "metadata"}},
		{"no metadata", Config{MBTiles: in("nometa.mbtiles")}, []string{"-tiles-mbtiles", "not an MBTiles file", "metadata"}},
		{"vector", Config{MBTiles: in("vector.mbtiles")}, []string{"-tiles-mbtiles " + in("vector.mbtiles"), `vector tiles (format "pbf")`, "raster tiles only"}},
		{"gzip", Config{MBTiles: in("gzip.mbtiles")}, []string{"-tiles-mbtiles", "vector tiles"}},
		{"tiff", Config{MBTiles: in("tiff.mbtiles")}, []string{"-tiles-mbtiles", `format "tiff"`}},
		{"no tiles", Config{MBTiles: in("notiles.mbtiles")}, []string{"-tiles-mbtiles", "no tiles"}},
	} {
		s, err := Open(tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
	if _, err := os.Stat(in("missing.mbtiles")); !os.IsNotExist(err) {
		t.Errorf("opening a missing MBTiles file created it: %v", err)
	}
}

// An unreadable file or directory is refused at start (not checkable as
// root, who reads anything).
func TestOpenRefusesUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"tiles/3/1/1.png": pngTile(t, red)})
	mb := filepath.Join(dir, "city.mbtiles")
	writeMBTiles(t, mb, map[string]string{"format": "png"}, []tmsTile{{1, 0, 0, pngTile(t, red)}})
	os.Chmod(mb, 0)
	os.Chmod(filepath.Join(dir, "tiles"), 0)
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "tiles"), 0o755) })
	for _, cfg := range []Config{{MBTiles: mb}, {Dir: filepath.Join(dir, "tiles")}} {
		if s, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "permission denied") {
			if s != nil {
				s.Close()
			}
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func writeSQLite(t testing.TB, path, schema string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
}

// The package is opened read-only: serving it leaves the file as it was,
// with no journal beside it.
func TestMBTilesReadOnly(t *testing.T) {
	dir := t.TempDir()
	mb := filepath.Join(dir, "ro.mbtiles")
	writeMBTiles(t, mb, map[string]string{"format": "png"}, []tmsTile{{1, 0, 0, pngTile(t, red)}})
	before, _ := os.ReadFile(mb)
	os.Chmod(mb, 0o444)
	s, err := Open(Config{MBTiles: mb})
	if err != nil {
		t.Fatal(err)
	}
	if resp := get(t, s, http.MethodGet, "/tiles/1/0/1"); resp.StatusCode != 200 {
		t.Errorf("tile: %d", resp.StatusCode)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(mb)
	entries, _ := os.ReadDir(dir)
	if !bytes.Equal(before, after) || len(entries) != 1 {
		t.Errorf("the file changed (%v) or files appeared beside it: %v", !bytes.Equal(before, after), entries)
	}
	// After Close, a late request fails rather than crashing.
	if resp := get(t, s, http.MethodGet, "/tiles/1/0/1"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("after Close: %d", resp.StatusCode)
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path    string
		z, x, y int
		ok      bool
	}{
		{"0/0/0", 0, 0, 0, true},
		{"3/6/2", 3, 6, 2, true},
		{"3/6/2.png", 3, 6, 2, true},
		{"3/6/2.jpg", 3, 6, 2, true},
		{"3/6/2.jpeg", 3, 6, 2, true},
		{"3/6/2.webp", 3, 6, 2, true},
		{"03/6/2", 3, 6, 2, true},
		{"30/1073741823/1073741823", 30, 1<<30 - 1, 1<<30 - 1, true},
		{"", 0, 0, 0, false},
		{"3/6", 0, 0, 0, false},
		{"3/6/", 0, 0, 0, false},
		{"3/6/2/", 0, 0, 0, false},
		{"3//2", 0, 0, 0, false},
		{"3/6/.png", 0, 0, 0, false},
		{"3/6/2.", 0, 0, 0, false},
		{"3/6/2.PNG", 0, 0, 0, false},
		{"3/6/2.pbf", 0, 0, 0, false},
		{"3/6/2.png.png", 0, 0, 0, false},
		{"31/0/0", 0, 0, 0, false},
		{"3/8/0", 0, 0, 0, false},
		{"3/0/8", 0, 0, 0, false},
		{"0/1/0", 0, 0, 0, false},
		{"-1/0/0", 0, 0, 0, false},
		{"+3/6/2", 0, 0, 0, false},
		{"3/+6/2", 0, 0, 0, false},
		{"3/6/2.5", 0, 0, 0, false},
		{"3/6/2e0", 0, 0, 0, false},
		{"3/0x6/2", 0, 0, 0, false},
		{"3/6_0/2", 0, 0, 0, false},
		{" 3/6/2", 0, 0, 0, false},
		{"3/6/2 ", 0, 0, 0, false},
		{"99999999999/0/0", 0, 0, 0, false},
		{"30/99999999999/0", 0, 0, 0, false},
		{"z/x/y", 0, 0, 0, false},
	} {
		z, x, y, err := ParsePath(tc.path)
		if (err == nil) != tc.ok || (tc.ok && (z != tc.z || x != tc.x || y != tc.y)) {
			t.Errorf("ParsePath(%q) = %d, %d, %d, %v", tc.path, z, x, y, err)
		}
	}
}
