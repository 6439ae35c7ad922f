// Package hubapi is the simulator's client of the hub's HTTP API, with the
// admin token, as a call-taker's and a dispatcher's consoles would use it:
// it waits for the hub, enrols units, reports incidents and sightings,
// assigns units, closes incidents, reads units' tracks and scrapes
// /metrics; and (additive, 2026-12) it loads a patrol plan, reads the
// city's coverage and the plan's compliance. What it sends and reads are
// the hub's own types, from kuaifan/protocol/api (and kuaifan/protocol/patrol).
package hubapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"kuaifan/protocol/api"
)

// Client calls the hub's API with the admin token.
type Client struct {
	base  string // http://host:port, no trailing slash
	token string
	http  *http.Client
}

// New is a client of the hub at base with a transport of its own (Close
// releases it). An empty token is read from a file by Connect. tlsCfg is
// for an https:// hub under a private CA; nil: the system's roots.
func New(base, token string, tlsCfg *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg.Clone()
	}
	return &Client{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close closes the client's idle connections.
func (h *Client) Close() { h.http.CloseIdleConnections() }

// Token is the admin token the client uses.
func (h *Client) Token() string { return h.token }

// Connect waits up to wait for the hub's /healthz and then settles the
// admin token: without one, it reads tokenFile, which a hub started at the
// same time writes on its first start.
func (h *Client) Connect(ctx context.Context, wait time.Duration, tokenFile string) error {
	if err := h.WaitHealthy(ctx, wait); err != nil {
		return err
	}
	if h.token == "" {
		t, err := readToken(tokenFile)
		if err != nil {
			return err
		}
		h.token = t
	}
	return nil
}

// readToken reads the admin token file the hub writes on its first start.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("simulator: admin token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("simulator: admin token: %s is empty", file)
	}
	return t, nil
}

// errUnauthorized is a 401: no point trying the next unit with the same token.
var errUnauthorized = errors.New("the hub refused the admin token (401)")

// WaitHealthy polls GET /healthz until it answers 200, for up to wait.
func (h *Client) WaitHealthy(ctx context.Context, wait time.Duration) error {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		last := h.healthy(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulator: waiting for the hub at %s: %w", h.base, context.Cause(ctx))
		case <-deadline.C:
			return fmt.Errorf("simulator: the hub at %s is not healthy after %v: %w", h.base, wait, last)
		case <-tick.C:
		}
	}
}

func (h *Client) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		var hl api.Health
		if json.Unmarshal(body, &hl) == nil && hl.Status != "" {
			msg = strings.TrimSpace(hl.Status + " " + hl.Error)
		}
		return fmt.Errorf("GET /healthz: %s %s", resp.Status, msg)
	}
	return nil
}

// maxAnswer is the longest answer do reads.
const maxAnswer = 1 << 20

// do sends body as JSON (if not nil) and decodes a 2xx answer into out (if
// not nil). Errors carry the hub's message (api.Error).
func (h *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	return h.doLimit(ctx, method, path, body, out, maxAnswer)
}

// doLimit is do reading answers of up to limit bytes.
func (h *Client) doLimit(ctx context.Context, method, path string, body, out any, limit int64) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, errUnauthorized
	}
	switch {
	case resp.StatusCode == http.StatusConflict, resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, nil // the caller decides what these mean
	case resp.StatusCode >= 300:
		msg := strings.TrimSpace(string(data))
		var e api.Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// call is do with the answer's status checked: want, else an error.
func (h *Client) call(ctx context.Context, method, path string, body, out any, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	status, err := h.do(ctx, method, path, body, out)
	if err != nil {
		return err
	}
	if status != want {
		return &statusError{method: method, path: path, status: status}
	}
	return nil
}

// statusError is an answer other than the one expected (a 409, a 404).
type statusError struct {
	method, path string
	status       int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d", e.method, e.path, e.status)
}

// IsStatus reports whether err is an answer of that status where another
// was expected (a 409: the unit was taken meanwhile).
func IsStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}
