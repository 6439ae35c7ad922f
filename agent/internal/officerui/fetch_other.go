//go:build !(js && wasm)

package officerui

import "errors"

// send has no transport outside the browser: on the server the page is only
// pre-rendered, and tests drive the model directly.
func send(method, path, token string, body []byte) (int, []byte, error) {
	return 0, nil, errors.New("officerui: no fetch outside the browser")
}
