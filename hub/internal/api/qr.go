package api

import (
	"fmt"
	"net/http"
	"strings"

	goqr "github.com/piglig/go-qr"

	"kuaifan/protocol/api"
)

// qr answers POST /api/qr: the modules of a QR code of the body's text.
// The hub encodes so the dashboard's WebAssembly carries no encoder (a QR
// library and the image/png it pulls in cost it ~85 KB compressed).
func (s *server) qr(w http.ResponseWriter, r *http.Request) {
	var in api.QRRequest
	if err := decodeBody(w, r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := encodeQR(in.Text)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// encodeQR encodes text at error correction M (or better, when that costs
// no larger symbol).
func encodeQR(text string) (api.QRCode, error) {
	switch {
	case text == "":
		return api.QRCode{}, fmt.Errorf("text is required")
	case len(text) > api.MaxQRText:
		return api.QRCode{}, fmt.Errorf("text is %d bytes, more than %d", len(text), api.MaxQRText)
	}
	c, err := goqr.EncodeText(text, goqr.Medium)
	if err != nil {
		return api.QRCode{}, fmt.Errorf("text cannot be encoded: %w", err)
	}
	n := c.Size()
	out := api.QRCode{Version: (n - 17) / 4, Size: n, Rows: make([]string, n)}
	var row strings.Builder
	for y := range n {
		row.Reset()
		for x := range n {
			if c.Module(x, y) {
				row.WriteByte('1')
			} else {
				row.WriteByte('0')
			}
		}
		out.Rows[y] = row.String()
	}
	return out, nil
}
