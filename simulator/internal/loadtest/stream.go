package loadtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/report"
)

// Stream reads the hub's websocket stream (api.Frame) and measures, for
// each of our units in a delta, the time from the position's GPS time
// (api.Unit.TS) to the frame's arrival.
type Stream struct {
	prefix string
	conn   *websocket.Conn

	mu        sync.Mutex
	measuring bool
	samples   []float64 // ms
	frames    int64
	err       string
}

// Dial opens the hub's stream; prefix is our units' ids' (a hub may serve
// others too).
// tlsCfg is for an https:// hub under a private CA (nil: the system's roots).
func Dial(ctx context.Context, hubURL, token, prefix string, tlsCfg *tls.Config) (*Stream, error) {
	s := &Stream{prefix: prefix}
	if err := s.connect(ctx, hubURL, token, tlsCfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stream) connect(ctx context.Context, hubURL, token string, tlsCfg *tls.Config) error {
	u := "ws" + strings.TrimPrefix(hubURL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}}
	if tlsCfg != nil {
		// A client of its own: the connection is hijacked, nothing to pool.
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg.Clone()}}
	}
	c, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", u, err)
	}
	c.SetReadLimit(-1) // a snapshot of 10,000 units is megabytes
	s.conn = c
	return nil
}

// Read reads frames until ctx ends or the stream does.
func (s *Stream) Read(ctx context.Context) {
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && websocket.CloseStatus(err) == -1 {
				s.mu.Lock()
				if s.err == "" {
					s.err = err.Error()
				}
				s.mu.Unlock()
			}
			return
		}
		now := time.Now().UnixMilli()
		var fr api.Frame
		if err := json.Unmarshal(data, &fr); err != nil || fr.Type != api.FrameDelta {
			continue
		}
		s.mu.Lock()
		s.frames++
		if s.measuring {
			for _, u := range fr.Units {
				if u.TS != nil && strings.HasPrefix(u.ID, s.prefix) {
					s.samples = append(s.samples, float64(now-*u.TS))
				}
			}
		}
		s.mu.Unlock()
	}
}

func (s *Stream) measure(on bool) {
	s.mu.Lock()
	s.measuring = on
	s.mu.Unlock()
}

// Latency summarises the samples taken (ms) and counts the delta frames.
func (s *Stream) Latency() (report.Dist, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return report.DistOf(s.samples), s.frames
}

// Err is what ended the stream unexpectedly, or "".
func (s *Stream) Err() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close closes the stream.
func (s *Stream) Close() {
	s.conn.Close(websocket.StatusNormalClosure, "load test over")
}
