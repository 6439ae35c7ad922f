package tiles

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkTileMBTiles measures tiles served per second from an MBTiles
// file of 1,000 tiles (zoom 14, a block of 40 × 25, 16 KiB each — a
// city basemap's PNG tile — of incompressible bytes behind a PNG header), in
// a random order:
//
//   - serial: one request at a time through the handler, into a
//     ResponseWriter that discards (lookup, copy, sniffing, ETag, headers);
//   - parallel: as many at once as GOMAXPROCS;
//   - http: over loopback HTTP/1.1 with keep-alive, 4 × GOMAXPROCS
//     clients, on the same cores as the server.
func BenchmarkTileMBTiles(b *testing.B) {
	const size = 16 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []tmsTile
	var paths []string
	for x := range 40 {
		for y := range 25 {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			copy(data, "\x89PNG\r\n\x1a\n")
			col, row := 13370+x, 6850+y // XYZ
			rows = append(rows, tmsTile{14, col, 1<<14 - 1 - row, data})
			paths = append(paths, fmt.Sprintf("/tiles/14/%d/%d.png", col, row))
		}
	}
	rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	mb := filepath.Join(b.TempDir(), "bench.mbtiles")
	writeMBTiles(b, mb, map[string]string{"format": "png", "name": "bench"}, rows)
	s := open(b, Config{MBTiles: mb})
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequest(http.MethodGet, p, nil)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tiles/s")
	}

	b.Run("serial", func(b *testing.B) {
		b.SetBytes(size)
		var w discard
		i := 0
		for b.Loop() {
			if err := w.serve(s, reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b)
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(size)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var w discard
			for pb.Next() {
				if err := w.serve(s, reqs[int(next.Add(1))%len(reqs)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b)
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(s)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		defer client.CloseIdleConnections()
		b.SetBytes(size)
		b.SetParallelism(4) // clients: 4 × GOMAXPROCS
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(srv.URL + paths[int(next.Add(1))%len(paths)])
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != size {
					b.Errorf("%d, %d bytes", resp.StatusCode, n)
					return
				}
			}
		})
		report(b)
	})
}

// discard is a ResponseWriter that keeps only the status and the length.
type discard struct {
	h      http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func (d *discard) serve(h http.Handler, r *http.Request) error {
	if d.h == nil {
		d.h = make(http.Header)
	}
	clear(d.h)
	d.status, d.n = 200, 0
	h.ServeHTTP(d, r)
	if d.status != 200 || d.n == 0 {
		return fmt.Errorf("%s: %d, %d bytes", r.URL.Path, d.status, d.n)
	}
	return nil
}
