package webapp

import "time"

// Request is one HTTP exchange of a page with its server.
type Request struct {
	Method string
	URL    string
	// Auth is the Authorization header; "" sends none.
	Auth string
	// Body is JSON; nil sends none.
	Body []byte
	// MaxAnswer bounds the answer's size in bytes.
	MaxAnswer int
	// OmitCredentials keeps the browser's cookies out (the dashboard: its
	// token is the only credential).
	OmitCredentials bool
	// Timeout, when not zero, bounds the exchange. In the browser it is
	// the fetch's own abort signal (its error names the timeout); ctx is
	// then only waited on, not used to abort.
	Timeout time.Duration
}
