//go:build !(js && wasm)

package webapp

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Jar is a cookie jar: net/http's on the host. (In the browser it is any:
// net/http's cookie types would cost app.wasm ~40 KB gzipped, linked
// through go-app's reflection, for a field the browser ignores.)
type Jar = http.CookieJar

// Do is one HTTP exchange through net/http (host builds: tests, tools, and
// a server's pre-rendering, where a relative URL fails). It answers the
// status, the body cut at MaxAnswer, and Retry-After; r.Jar, if set, keeps
// the cookies as a browser would.
func Do(ctx context.Context, r Request) (Response, error) {
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
		return Response{}, err
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.DefaultClient
	if r.Jar != nil && !r.OmitCredentials {
		client = &http.Client{Jar: r.Jar}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	out.Body, err = io.ReadAll(io.LimitReader(resp.Body, int64(r.MaxAnswer)))
	return out, err
}
