package ui

import (
	"errors"
	"strconv"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// QRQuiet is the quiet zone around a QR code, in modules: the standard's
// 4, which scanners need to find the finder patterns.
const QRQuiet = 4

// QR is a QR code's modules, without the quiet zone: Dark[y][x].
type QR struct {
	Dark    [][]bool
	Version int
}

// Size is the number of modules on a side (21 for version 1, +4 a version).
func (q QR) Size() int { return len(q.Dark) }

// QRFrom reads the hub's QR code (POST /api/qr). The hub encodes: an
// encoder in the WebAssembly would cost the page ~85 KB compressed.
func QRFrom(c api.QRCode) (QR, error) {
	if c.Size != 17+4*c.Version || c.Version < 1 || c.Version > 40 || len(c.Rows) != c.Size {
		return QR{}, errors.New("the hub's QR code has the wrong size")
	}
	q := QR{Dark: make([][]bool, c.Size), Version: c.Version}
	for y, row := range c.Rows {
		if len(row) != c.Size {
			return QR{}, errors.New("the hub's QR code has a short row")
		}
		q.Dark[y] = make([]bool, c.Size)
		for x := range c.Size {
			switch row[x] {
			case '1':
				q.Dark[y][x] = true
			case '0':
			default:
				return QR{}, errors.New("the hub's QR code has a module neither dark nor light")
			}
		}
	}
	return q, nil
}

// qrRun is a horizontal run of dark modules: one <rect> each, far fewer
// elements than one per module.
type qrRun struct{ X, Y, W int }

// runs lists the dark runs row by row, left to right.
func (q QR) runs() []qrRun {
	var rs []qrRun
	for y, row := range q.Dark {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			rs = append(rs, qrRun{X: start, Y: y, W: x - start})
		}
	}
	return rs
}

// DarkModules counts the dark modules.
func (q QR) DarkModules() int {
	n := 0
	for _, r := range q.runs() {
		n += r.W
	}
	return n
}

// qrSVG draws a QR code as an inline SVG, one unit per module, with the
// quiet zone inside the view box. Black on white whatever the theme:
// scanners need the contrast, and some read no inverted code.
func qrSVG(id string, q QR, px int) app.UI {
	side := strconv.Itoa(q.Size() + 2*QRQuiet)
	rs := q.runs()
	return svgEl("svg").ID(id).Class("qr").Attr("viewBox", "0 0 "+side+" "+side).
		Attr("width", px).Attr("height", px).Attr("shape-rendering", "crispEdges").
		DataSet("size", q.Size()).DataSet("version", q.Version).DataSet("dark", q.DarkModules()).
		Attr("role", "img").Body(
		svgEl("rect").Attr("width", side).Attr("height", side).Attr("fill", "#fff"),
		app.Range(rs).Slice(func(i int) app.UI {
			r := rs[i]
			return svgEl("rect").Class("qr-run").Attr("x", r.X+QRQuiet).Attr("y", r.Y+QRQuiet).
				Attr("width", r.W).Attr("height", 1).Attr("fill", "#000")
		}),
	)
}
