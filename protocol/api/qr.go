package api

// POST /api/qr (additive, 2026-12): the modules of a QR code of a short
// text — an enrolment link for a phone — so a client draws the code without
// carrying an encoder. Error correction at least M (15 %); the hub picks
// the smallest version that holds the text.

// MaxQRText is the longest text POST /api/qr encodes, in bytes.
const MaxQRText = 1024

// QRRequest is POST /api/qr's body.
type QRRequest struct {
	Text string `json:"text"`
}

// QRCode is POST /api/qr's answer: Size rows of Size characters, '1' for a
// dark module and '0' for a light one, top to bottom, without the quiet
// zone (a drawing adds 4 light modules around it).
type QRCode struct {
	Version int      `json:"version"` // 1 to 40
	Size    int      `json:"size"`    // 17 + 4 × Version
	Rows    []string `json:"rows"`
}
