package ui

import (
	"context"

	"kuaifan/dashboard/webapp"
)

// send is one HTTP exchange with the hub: the browser's fetch in app.wasm,
// net/http in host builds (tests, tools); see webapp.Fetch.
func (a *API) send(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	return webapp.Fetch(ctx, webapp.Request{
		Method:          method,
		URL:             url,
		Auth:            "Bearer " + a.Token,
		Body:            body,
		MaxAnswer:       maxAnswer,
		OmitCredentials: true, // the token is the only credential
	})
}
