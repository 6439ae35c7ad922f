package hub_test

import (
	"bytes"
	"database/sql"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"kuaifan/hub"
	"kuaifan/hub/hubtest"
	"kuaifan/hub/internal/webui"
)

// The hub serves its own basemap package at /tiles/ with no token, the
// dashboard draws it unless -tiles names another, and a package the hub
// cannot serve stops it at start. (The leak check of TestMain fails the
// run if the MBTiles database outlives the hub.)
func TestOfflineTiles(t *testing.T) {
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 4, 4)))
	tile := img.Bytes()
	dir := t.TempDir()
	mb := filepath.Join(dir, "city.mbtiles")
	db, err := sql.Open("sqlite", mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CREATE TABLE metadata (name text, value text)",
		"CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)",
		"INSERT INTO metadata VALUES ('name', 'city'), ('format', 'png'), ('minzoom', '3'), ('maxzoom', '3')",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	// XYZ 3/6/2 is TMS row 2^3-1-2 = 5.
	if _, err := db.Exec("INSERT INTO tiles VALUES (3, 6, 5, ?)", tile); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h := hubtest.Start(t, func(cfg *hub.Config) { cfg.TilesMBTiles = mb })
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(h.URL + path) // no Authorization header, as an <img> asks
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := get("/tiles/3/6/2.png")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, tile) ||
		resp.Header.Get("Cache-Control") != "public, max-age=86400" || resp.Header.Get("ETag") == "" {
		t.Errorf("tile: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/tiles/metadata.json"); resp.StatusCode != 200 ||
		string(bytes.TrimSpace(body)) != `{"format":"png","minzoom":3,"maxzoom":3,"name":"city"}` {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
	for path, want := range map[string]int{"/tiles/3/6/3": 404, "/tiles/3/9/2": 400, "/api/units": 401} {
		if resp, _ := get(path); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	dashboardBasemap(t, h, "/tiles/{z}/{x}/{y}")
	h.Stop()

	// -tiles still decides what the dashboard draws; the package is served all the same.
	tdir := t.TempDir()
	os.MkdirAll(filepath.Join(tdir, "3", "6"), 0o755)
	os.WriteFile(filepath.Join(tdir, "3", "6", "2.png"), tile, 0o644)
	h = hubtest.Start(t, func(cfg *hub.Config) {
		cfg.TilesDir = tdir
		cfg.Tiles = "https://gis.example/{z}/{x}/{y}.png"
	})
	if resp, body = get("/tiles/3/6/2"); resp.StatusCode != 200 || !bytes.Equal(body, tile) {
		t.Errorf("directory tile: %d", resp.StatusCode)
	}
	dashboardBasemap(t, h, "https://gis.example/{z}/{x}/{y}.png")

	for _, tc := range []struct {
		edit func(*hub.Config)
		want []string
	}{
		{func(c *hub.Config) { c.TilesDir, c.TilesMBTiles = tdir, mb }, []string{"-tiles-dir", "-tiles-mbtiles"}},
		{func(c *hub.Config) { c.TilesDir = filepath.Join(dir, "nowhere") }, []string{"-tiles-dir " + filepath.Join(dir, "nowhere")}},
		{func(c *hub.Config) { c.TilesMBTiles = filepath.Join(tdir, "3", "6", "2.png") }, []string{"-tiles-mbtiles " + filepath.Join(tdir, "3", "6", "2.png"), "not an MBTiles file"}},
	} {
		cfg := hub.DefaultConfig()
		cfg.HTTPAddr, cfg.MQTTAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(t.TempDir(), "data")
		tc.edit(&cfg)
		_, err := hub.New(t.Context(), cfg)
		if err == nil {
			t.Fatalf("the hub started with tiles %q %q", cfg.TilesDir, cfg.TilesMBTiles)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q does not say %q", err, w)
			}
		}
		if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
			t.Errorf("a refused tile package left a data directory behind: %v", err)
		}
	}
}

// dashboardBasemap checks the basemap template in the dashboard's
// environment (go-app's app.js), when the dashboard is built in.
func dashboardBasemap(t *testing.T, h *hubtest.Hub, want string) {
	t.Helper()
	if !webui.Built() {
		t.Log("the dashboard is not built (make wasm): its basemap setting is not checked")
		return
	}
	resp, err := http.Get(h.URL + "/app.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	js, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(js), `"KUAIFAN_TILES":"`+want+`"`) {
		t.Errorf("the dashboard's basemap is not %s", want)
	}
}
