//go:build !(js && wasm)

package webapp

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Fetch is one HTTP exchange through net/http (host builds: tests, tools,
// and a server's pre-rendering, where a relative URL fails). It answers the
// status and the body, cut at MaxAnswer.
func Fetch(ctx context.Context, r Request) (int, []byte, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, rd)
	if err != nil {
		return 0, nil, err
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.MaxAnswer)))
	return resp.StatusCode, data, err
}
