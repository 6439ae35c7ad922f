package officerui

import (
	"context"
	"time"

	"kuaifan/dashboard/webapp"
)

// send is one HTTP exchange with the agent through the browser's fetch
// (webapp.Fetch; net/http outside the browser, where the page is only
// pre-rendered and tests drive the model directly).
func send(method, path, token string, body []byte) (int, []byte, error) {
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return webapp.Fetch(context.Background(), webapp.Request{
		Method:    method,
		URL:       path,
		Auth:      auth,
		Body:      body,
		MaxAnswer: maxAnswer,
		// The agent is on loopback: an answer slower than this means it is stuck.
		Timeout: requestTimeoutMS * time.Millisecond,
	})
}
