package hubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"kuaifan/protocol/api"
)

// EnrolAll enrols every unit with a pool of workers (each enrolment is an
// fsync on the hub) and returns their secrets in the order of specs. The
// first error stops the rest.
func (h *Client) EnrolAll(ctx context.Context, specs []api.Enrolment, workers int) ([]string, error) {
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

// enrol enrols one unit and returns its MQTT secret. A unit left over from an
// earlier run (409) has a secret nobody knows any more: it is revoked and
// enrolled again.
func (h *Client) enrol(ctx context.Context, s api.Enrolment) (string, error) {
	var out api.Enrolled
	status, err := h.do(ctx, http.MethodPost, "/api/units", s, &out)
	if err == nil && status == http.StatusConflict {
		if status, err = h.do(ctx, http.MethodDelete, "/api/units/"+s.ID, nil, nil); err == nil &&
			status != http.StatusNoContent && status != http.StatusNotFound {
			err = fmt.Errorf("DELETE /api/units/%s: status %d", s.ID, status)
		}
		if err == nil {
			status, err = h.do(ctx, http.MethodPost, "/api/units", s, &out)
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
