package webapp

import (
	"context"
	"time"
)

// Request is one HTTP exchange of a page with its server.
type Request struct {
	Method string
	URL    string
	// Auth is the Authorization header; "" sends none.
	Auth string
	// Header holds further request headers (the dashboard's CSRF token on
	// a write).
	Header map[string]string
	// Body is JSON; nil sends none.
	Body []byte
	// MaxAnswer bounds the answer's size in bytes.
	MaxAnswer int
	// OmitCredentials keeps the browser's cookies out (a page whose token
	// is its only credential). Without it the browser sends its cookies
	// to the page's own origin (fetch's "same-origin"), as a session needs.
	OmitCredentials bool
	// Jar keeps cookies between exchanges on the host (tests, tools): what
	// the browser does by itself. The browser ignores it.
	Jar Jar
	// Timeout, when not zero, bounds the exchange. In the browser it is
	// the fetch's own abort signal (its error names the timeout); ctx is
	// then only waited on, not used to abort.
	Timeout time.Duration
}

// Response is the answer of Do.
type Response struct {
	Status int
	Body   []byte
	// RetryAfter is the answer's Retry-After header ("" without one): how
	// long to wait after a 429 or a 503.
	RetryAfter string
}

// Fetch is Do for the status and the body only.
func Fetch(ctx context.Context, r Request) (int, []byte, error) {
	resp, err := Do(ctx, r)
	return resp.Status, resp.Body, err
}
