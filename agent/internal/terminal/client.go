package terminal

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
	"time"

	"kuaifan/protocol"
)

// maxResponse bounds what the Client reads of an answer.
const maxResponse = 1 << 20

// defaultHTTP is the Client's HTTP client when Client.HTTP is nil: every call
// has a deadline even when the caller's context has none.
var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Client is the terminal API from the other side: the simulator's simulated
// officer, tools and tests. It is safe for concurrent use.
type Client struct {
	BaseURL string       // e.g. "http://127.0.0.1:8765"
	Token   string       // sent as "Authorization: Bearer <Token>" when set
	HTTP    *http.Client // nil: a client with a 10 s timeout
}

// StatusError is an error answer from the terminal. It unwraps to
// ErrNoAssignment for 404, ErrWrongState for 409 and ErrUnauthorized for 401,
// so callers test errors.Is(err, terminal.ErrWrongState) as the Officer did.
type StatusError struct {
	Code    int    // HTTP status
	Message string // the answer's "error", or the status text if it had none
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("terminal: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusNotFound:
		return ErrNoAssignment
	case http.StatusConflict:
		return ErrWrongState
	case http.StatusUnauthorized:
		return ErrUnauthorized
	}
	return nil
}

// Assignment returns the unit's current assignment; ok is false when it has none.
func (c *Client) Assignment(ctx context.Context) (a Assignment, ok bool, err error) {
	code, err := c.do(ctx, http.MethodGet, "/v1/assignment", nil, &a)
	if err != nil || code == http.StatusNoContent {
		return Assignment{}, false, err
	}
	return a, true, nil
}

// Status returns the unit's duty status.
func (c *Client) Status(ctx context.Context) (protocol.Status, error) {
	var body statusBody
	if _, err := c.do(ctx, http.MethodGet, "/v1/status", nil, &body); err != nil {
		return "", err
	}
	if !body.Status.Valid() {
		return "", fmt.Errorf("terminal: answer has unknown status %q", body.Status)
	}
	return body.Status, nil
}

// SetStatus changes the unit's duty status. The terminal validates s.
func (c *Client) SetStatus(ctx context.Context, s protocol.Status) error {
	_, err := c.do(ctx, http.MethodPut, "/v1/status", statusBody{s}, nil)
	return err
}

// Ack accepts the dispatch to incident.
func (c *Client) Ack(ctx context.Context, incident string) error {
	return c.action(ctx, incident, "ack")
}

// Decline refuses the dispatch to incident, saying why ("" for no reason).
func (c *Client) Decline(ctx context.Context, incident, reason string) error {
	if reason == "" {
		return c.action(ctx, incident, "decline")
	}
	return c.actionWith(ctx, incident, "decline", declineBody{Reason: reason})
}

// Arrived reports the unit on scene at incident.
func (c *Client) Arrived(ctx context.Context, incident string) error {
	return c.action(ctx, incident, "arrived")
}

// Cleared reports incident done for this unit.
func (c *Client) Cleared(ctx context.Context, incident string) error {
	return c.action(ctx, incident, "cleared")
}

// Reposition returns the unit's move-up (additive, 2026-12); ok is false
// when it has none.
func (c *Client) Reposition(ctx context.Context) (r Reposition, ok bool, err error) {
	code, err := c.do(ctx, http.MethodGet, "/v1/reposition", nil, &r)
	if err != nil || code == http.StatusNoContent {
		return Reposition{}, false, err
	}
	return r, true, nil
}

// RepositionArrived reports the unit at its move-up's spot; id names the
// move-up ("" for whichever the unit has). Without one the error matches
// ErrNoReposition; with another, ErrWrongState.
func (c *Client) RepositionArrived(ctx context.Context, id string) error {
	var body any
	if id != "" {
		body = repositionBody{ID: id}
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/reposition/arrived", body, nil)
	if se, ok := err.(*StatusError); ok && se.Code == http.StatusNotFound {
		return errors.Join(ErrNoReposition, se)
	}
	return err
}

// Tasks returns the unit's patrol tasks running now (additive, 2026-12);
// none is an empty list, also from an agent older than the route (404).
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	var body tasksBody
	_, err := c.do(ctx, http.MethodGet, "/v1/tasks", nil, &body)
	if se, ok := err.(*StatusError); ok && se.Code == http.StatusNotFound {
		return []Task{}, nil
	}
	if err != nil {
		return nil, err
	}
	if body.Tasks == nil {
		body.Tasks = []Task{}
	}
	return body.Tasks, nil
}

// SOS raises the officer's sos; the answer is the sos as queued.
func (c *Client) SOS(ctx context.Context) (SOS, error) {
	var out SOS
	_, err := c.do(ctx, http.MethodPost, "/v1/sos", nil, &out)
	return out, err
}

func (c *Client) action(ctx context.Context, incident, name string) error {
	return c.actionWith(ctx, incident, name, nil)
}

// actionWith is action with a JSON body (nil: none).
func (c *Client) actionWith(ctx context.Context, incident, name string, body any) error {
	// Checked here too: an empty or dotted id would change the path itself.
	if !protocol.ValidIncidentID(incident) {
		return fmt.Errorf("terminal: bad incident id %q", incident)
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/incidents/"+url.PathEscape(incident)+"/"+name, body, nil)
	return err
}

// do sends one request and decodes a 2xx answer with a body into out. It
// returns the status code, or a *StatusError for an answer outside 2xx.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("terminal: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return 0, fmt.Errorf("terminal: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("terminal: %w", err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse)) // lets the connection be reused
		resp.Body.Close()
	}()
	r := io.LimitReader(resp.Body, maxResponse)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Code: resp.StatusCode}
		var eb errorBody
		if json.NewDecoder(r).Decode(&eb) == nil && eb.Error != "" {
			se.Message = eb.Error
		} else {
			se.Message = http.StatusText(resp.StatusCode)
		}
		return resp.StatusCode, se
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(r).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("terminal: %s %s: bad answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
