package ui

import (
	"context"

	"kuaifan/dashboard/webapp"
	"kuaifan/protocol/api"
)

// send is one HTTP exchange with the hub: the browser's fetch in app.wasm,
// net/http in host builds (tests, tools); see webapp.Do. The browser sends
// the session cookie (same origin); a write carries the CSRF token.
func (a *API) send(ctx context.Context, method, url string, body []byte) (webapp.Response, error) {
	r := webapp.Request{
		Method:    method,
		URL:       url,
		Body:      body,
		MaxAnswer: maxAnswer,
		Jar:       a.Jar,
	}
	if a.Token != "" {
		r.Auth = "Bearer " + a.Token
	}
	if a.CSRF != "" && method != "GET" && method != "HEAD" {
		r.Header = map[string]string{api.CSRFHeader: a.CSRF}
	}
	return webapp.Do(ctx, r)
}
