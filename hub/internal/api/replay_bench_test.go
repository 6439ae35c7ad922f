package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kuaifan/hub/internal/history"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// BenchmarkReplay30Min50Units is the replay's target (issue 19): a closed
// 30-minute incident with 50 units reporting at 1 Hz around it (90,000
// positions written straight into a real history), replayed through a real
// HTTP server and decoded by the client. The target is < 1 s a replay.
func BenchmarkReplay30Min50Units(b *testing.B) {
	const units, seconds = 50, 30 * 60
	const lat0, lon0 = 28.2, 112.98
	h, err := history.Open(history.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC).UnixMilli()
	statuses := []protocol.Status{protocol.StatusAvailable, protocol.StatusEnroute, protocol.StatusOnScene}
	for k := range seconds {
		var batch history.Batch
		for i := range units {
			// Each unit circles the incident at 200–1,200 m.
			r := 200 + float64(i)*20
			a := float64(k)/300 + float64(i)
			batch.Positions = append(batch.Positions, history.Position{
				Unit: fmt.Sprintf("car-%02d", i), Seq: uint64(k + 1), TS: t0 + int64(k)*1000 + int64(i),
				Lat: lat0 + r*math.Cos(a)/111_320, Lon: lon0 + r*math.Sin(a)/(111_320*math.Cos(lat0*math.Pi/180)),
				Status: statuses[(k/600+i)%3]})
		}
		if err := h.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	f := func(v float64) *float64 { return &v }
	inc := wire.Incident{ID: "inc-1", Status: wire.IncidentClosed, Lat: lat0, Lon: lon0, Kind: "robbery", Priority: 1,
		Created: t0, Closed: t0 + seconds*1000, Assignments: []wire.Assignment{{Unit: "car-07"}},
		Timeline: []wire.Entry{
			{TS: t0, Type: wire.EntryCreated, Params: &wire.Params{Lat: f(lat0), Lon: f(lon0)}},
			{TS: t0 + 900_000, Type: wire.EntrySighting, Params: &wire.Params{Lat: f(lat0 + 0.002), Lon: f(lon0)}},
		}}
	s := &server{Config: Config{History: h, Tracks: h, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveReplay(w, r, inc, wire.ReplayDefaultRadiusM)
	}))
	defer srv.Close()

	var size int64
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		var rp wire.Replay
		cr := &countReader{r: resp.Body}
		err = json.NewDecoder(cr).Decode(&rp)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if n := len(rp.Units); n != units {
			b.Fatalf("%d units, want %d", n, units)
		}
		for _, u := range rp.Units {
			if len(u.T) != seconds && len(u.T) != seconds+1 {
				b.Fatalf("%s: %d positions, want %d", u.Unit, len(u.T), seconds)
			}
		}
		size = cr.n
	}
	b.ReportMetric(float64(size)/1e6, "MB/replay")
}

type countReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
