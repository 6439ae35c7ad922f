package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// hubAPI calls the hub's HTTP API with the admin token, as a call-taker's
// and a dispatcher's consoles would.
type hubAPI struct {
	base  string // http://host:port, no trailing slash
	token string
	http  *http.Client
}

// errUnauthorized is a 401: no point trying the next unit with the same token.
var errUnauthorized = errors.New("the hub refused the admin token (401)")

// waitHealthy polls GET /healthz until it answers 200, for up to wait.
func (h *hubAPI) waitHealthy(ctx context.Context, wait time.Duration) error {
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

func (h *hubAPI) healthy(ctx context.Context) error {
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
		return fmt.Errorf("GET /healthz: %s %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// enrol enrols one unit and returns its MQTT secret. A unit left over from an
// earlier run (409) has a secret nobody knows any more: it is revoked and
// enrolled again.
func (h *hubAPI) enrol(ctx context.Context, s unitSpec) (string, error) {
	body := map[string]any{"id": s.ID, "type": s.Type, "callsign": s.Callsign, "capabilities": s.Capabilities}
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	status, err := h.do(ctx, http.MethodPost, "/api/units", body, &out)
	if err == nil && status == http.StatusConflict {
		if status, err = h.do(ctx, http.MethodDelete, "/api/units/"+s.ID, nil, nil); err == nil &&
			status != http.StatusNoContent && status != http.StatusNotFound {
			err = fmt.Errorf("DELETE /api/units/%s: status %d", s.ID, status)
		}
		if err == nil {
			status, err = h.do(ctx, http.MethodPost, "/api/units", body, &out)
		}
	}
	switch {
	case err != nil:
	case status == http.StatusCreated && out.Secret != "":
		return out.Secret, nil
	case status == http.StatusCreated:
		err = errors.New("POST /api/units: 201 without a secret")
	default:
		err = fmt.Errorf("POST /api/units: status %d", status)
	}
	return "", fmt.Errorf("enrol %s: %w", s.ID, err)
}

// do sends body as JSON (if not nil) and decodes a 2xx answer into out (if
// not nil). Errors carry the hub's {"error": …} message.
func (h *hubAPI) do(ctx context.Context, method, path string, body, out any) (int, error) {
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
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
		var e struct {
			Error string `json:"error"`
		}
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

// enrolAll enrols every unit with a pool of workers (each enrolment is an
// fsync on the hub) and returns their secrets in the order of specs. The
// first error stops the rest.
func (h *hubAPI) enrolAll(ctx context.Context, specs []unitSpec, workers int) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	secrets := make([]string, len(specs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(specs)) {
		wg.Go(func() {
			for i := range jobs {
				secret, err := h.enrol(ctx, specs[i])
				if err != nil {
					cancel(err) // the first cause sticks
					continue
				}
				secrets[i] = secret
			}
		})
	}
feed:
	for i := range specs {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, errUnauthorized) {
			return nil, fmt.Errorf("simulator: enrolling units: %w: check -token-file or HUB_ADMIN_TOKEN", errUnauthorized)
		}
		return nil, fmt.Errorf("simulator: enrolling units: %w", err)
	}
	return secrets, nil
}

// hubIncident is an incident as the hub's API returns it (the fields the
// simulator reads).
type hubIncident struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	Uncovered   bool    `json:"uncovered"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Kind        string  `json:"kind"`
	Priority    int     `json:"priority"`
	Created     int64   `json:"created"`
	Closed      int64   `json:"closed"`
	Assignments []struct {
		Unit       string `json:"unit"`
		State      string `json:"state"`
		By         string `json:"by"`
		Dispatched int64  `json:"dispatched"`
		Acked      int64  `json:"acked"`
		Arrived    int64  `json:"arrived"`
		Ended      int64  `json:"ended"`
	} `json:"assignments"`
	Timeline []struct {
		TS     int64  `json:"ts"`
		Type   string `json:"type"`
		Unit   string `json:"unit"`
		Actor  string `json:"actor"`
		Detail string `json:"detail"`
	} `json:"timeline"`
	Figures struct {
		ToDispatchS *float64 `json:"to_dispatch_s"`
		ToAckS      *float64 `json:"to_ack_s"`
		ToArrivalS  *float64 `json:"to_arrival_s"`
		ToCloseS    *float64 `json:"to_close_s"`
	} `json:"figures"`
	Offer *struct {
		Unit     string  `json:"unit"`
		ETAS     float64 `json:"eta_s"`
		Sighting int64   `json:"sighting"`
	} `json:"offer"`
	Recommendations []struct {
		Unit      string  `json:"unit"`
		Type      string  `json:"type"`
		DistanceM float64 `json:"distance_m"`
		ETAS      float64 `json:"eta_s"`
		Tier      int     `json:"tier"`
		Stale     bool    `json:"stale"`
	} `json:"recommendations"`
}

// active reports whether a unit is assigned now (dispatched, en route or on scene).
func (inc *hubIncident) active() bool {
	for _, a := range inc.Assignments {
		switch a.State {
		case "dispatched", "enroute", "on_scene":
			return true
		}
	}
	return false
}

// has reports whether the timeline has an entry of type typ.
func (inc *hubIncident) has(typ string) bool {
	for _, e := range inc.Timeline {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// call is do with the answer's status checked: want, else an error.
func (h *hubAPI) call(ctx context.Context, method, path string, body, out any, want int) error {
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

func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

// createIncident reports an incident, as a call-taker does.
func (h *hubAPI) createIncident(ctx context.Context, n NewIncident) (hubIncident, error) {
	var inc hubIncident
	if n.Needs == nil {
		n.Needs = []string{}
	}
	err := h.call(ctx, http.MethodPost, "/api/incidents", n, &inc, http.StatusCreated)
	return inc, err
}

func (h *hubAPI) incident(ctx context.Context, id string) (hubIncident, error) {
	var inc hubIncident
	err := h.call(ctx, http.MethodGet, "/api/incidents/"+url.PathEscape(id), nil, &inc, http.StatusOK)
	return inc, err
}

// incidents lists the open incidents, or with all also those closed in the
// last day.
func (h *hubAPI) incidents(ctx context.Context, all bool) ([]hubIncident, error) {
	var out []hubIncident
	path := "/api/incidents"
	if all {
		path += "?status=all"
	}
	err := h.call(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

func (h *hubAPI) assign(ctx context.Context, incident, unit string) error {
	return h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/assign",
		map[string]string{"unit": unit}, nil, http.StatusOK)
}

func (h *hubAPI) sighting(ctx context.Context, incident string, p Point, source string) (hubIncident, error) {
	var inc hubIncident
	err := h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/sightings",
		map[string]any{"lat": p.Lat, "lon": p.Lon, "source": source}, &inc, http.StatusOK)
	return inc, err
}

func (h *hubAPI) closeIncident(ctx context.Context, incident string) error {
	return h.call(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(incident)+"/close", nil, nil, http.StatusOK)
}

// trackPoint is one stored position of a unit.
type trackPoint struct {
	Seq uint64 `json:"seq"`
	TS  int64  `json:"ts"`
}

// track returns a unit's stored positions with since <= ts <= until (Unix ms).
func (h *hubAPI) track(ctx context.Context, unit string, since, until int64) ([]trackPoint, error) {
	var out []trackPoint
	path := fmt.Sprintf("/api/units/%s/track?since=%d&until=%d&limit=100000", url.PathEscape(unit), since, until)
	err := h.call(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

// metrics reads the hub's /metrics (no token needed).
func (h *hubAPI) metrics(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}
