//go:build !(js && wasm)

package ui

import "errors"

// saveDownload cannot save on the host: there is no browser (SaveFile's
// tests stop at the fetch).
func saveDownload(filename, mime string, data []byte) error {
	return errors.New("saving " + filename + " needs a browser")
}
