package api

import (
	"image"
	"image/color"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
)

// The hub's QR code of an enrolment link, drawn as a camera would see it,
// decodes back to the link at level M or better; empty and oversized texts
// are refused.
func TestEncodeQR(t *testing.T) {
	for _, text := range []string{
		"kuaifan",
		"https://hub.example:8443/responder/#u=foot-21&s=Zq3x0mJ2c1lV9bTQe7yX_kR4pW-8sHuDg6aNfLoC5vE",
		"http://127.0.0.1:8080/responder/#u=" + strings.Repeat("u", 32) + "&s=" + strings.Repeat("S", 43),
	} {
		c, err := encodeQR(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if c.Size != 17+4*c.Version || len(c.Rows) != c.Size {
			t.Fatalf("%q: version %d size %d rows %d", text, c.Version, c.Size, len(c.Rows))
		}
		const px, quiet = 4, 4
		side := (c.Size + 2*quiet) * px
		img := image.NewGray(image.Rect(0, 0, side, side))
		for y := range side {
			for x := range side {
				mx, my := x/px-quiet, y/px-quiet
				v := color.Gray{Y: 255}
				if mx >= 0 && my >= 0 && mx < c.Size && my < c.Size && c.Rows[my][mx] == '1' {
					v.Y = 0
				}
				img.SetGray(x, y, v)
			}
		}
		res, err := goqr.DecodeDetailed(img)
		if err != nil || res.Text != text || res.Version != c.Version || res.Ecc < goqr.Medium {
			t.Errorf("%q: decoded %+v, %v", text, res, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 1025)} {
		if _, err := encodeQR(bad); err == nil {
			t.Errorf("%d bytes encoded", len(bad))
		}
	}
}
