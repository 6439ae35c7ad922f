package ui

import (
	"encoding/binary"
	"math"
)

// The map is drawn in two halves. Go decides everything — projection,
// culling, shapes, colours, fading, grouping — and writes a compact list of
// drawing operations (float32s); a small JavaScript painter replays the list
// on the canvas in one call. Thousands of markers cost one crossing from Go
// to JavaScript per frame instead of several per marker, and everything but
// the replay is plain Go that host tests read back (scene_test.go).

// Painter operations and their float32 arguments.
const (
	opStyle   = 1  // fill stroke width alpha dash: palette indexes (-1 none); starts a path
	opPaint   = 2  // fill and/or stroke the path with the current style
	opSquare  = 3  // x y r
	opTri     = 4  // x y r (pointing up)
	opCircle  = 5  // x y r
	opDiamond = 6  // x y r
	opMove    = 7  // x y
	opLine    = 8  // x y
	opClose   = 9  //
	opRect    = 10 // x y w h
	opText    = 11 // x y string size align(0 left,1 centre,2 right) colour halo(-1 none)
	opTile    = 12 // z x y dx dy size
	opBack    = 13 // colour: fill the whole canvas
)

// opArgs is how many arguments each operation takes.
var opArgs = [...]int{opStyle: 5, opPaint: 0, opSquare: 3, opTri: 3, opCircle: 3, opDiamond: 3,
	opMove: 2, opLine: 2, opClose: 0, opRect: 4, opText: 7, opTile: 6, opBack: 1}

// Palette: every colour the map uses, by index. The painter gets it once.
const (
	colBack = iota
	colGrid
	colDistrictFill
	colDistrictLine
	colDistrictText
	colAvailable
	colEnroute
	colOnScene
	colBusy
	colOffDuty
	colNoStatus
	colP1
	colP2
	colP3
	colWhite
	colDark
	colTrack
	colCircle
	colAssign
	colText
	colPanel
	colPending
	colOffDutyLine
	colUncovered
	colHeading
	colChase       // the pursuit: sightings and their trail
	colCamera      // the cameras layer
	colOffer       // the unit the hub offers
	colOrigin      // the place first reported, kept faint
	colCoverBeyond // the coverage layer: no free unit within the last tier
	colCover1      // … within the first tier (1 min)
	colCover2      // … the second (3 min)
	colCover3      // … the third (5 min), and any later
	colMoveUp      // a unit's move-up: the line to where it goes
	// The patrol layer (patrol_scene.go): a task met, not met yet, without
	// a result; and their fills.
	colPatrolMet
	colPatrolDue
	colPatrolNone
	colPatrolMetFill
	colPatrolDueFill
	colPatrolNoneFill
	numColours
)

// Palette is the CSS colour of each index above.
var Palette = [numColours]string{
	colBack:         "#0e1620",
	colGrid:         "rgba(148,163,184,0.12)",
	colDistrictFill: "rgba(96,165,250,0.045)",
	colDistrictLine: "rgba(148,163,184,0.45)",
	colDistrictText: "rgba(203,213,225,0.55)",
	colAvailable:    "#22c55e", // green
	colEnroute:      "#fb923c", // orange
	colOnScene:      "#ef4444", // red
	colBusy:         "#9ca3af", // grey
	colOffDuty:      "#3f4753", // dark, outlined so it shows on the dark map
	colNoStatus:     "#a78bfa",
	colP1:           "#dc2626", // red
	colP2:           "#f97316", // orange
	colP3:           "#facc15", // yellow
	colWhite:        "#ffffff",
	colDark:         "#0b1015",
	colTrack:        "#38bdf8",
	colCircle:       "rgba(56,189,248,0.85)",
	colAssign:       "#e5e7eb",
	colText:         "#e5e7eb",
	colPanel:        "rgba(11,16,21,0.72)",
	colPending:      "#38bdf8",
	colOffDutyLine:  "rgba(203,213,225,0.7)",
	colUncovered:    "#ff3b3b",
	colHeading:      "#e5e7eb",
	colChase:        "#e879f9", // fuchsia: nothing else on the map is
	colCamera:       "#2dd4bf", // teal
	colOffer:        "#facc15", // amber, as the offer's card
	colOrigin:       "#cbd5e1",
	// The coverage layer: blues from light (reached soonest) to deep, drawn
	// translucent; the holes in red-orange, more opaque, which nothing else
	// on the map fills an area with.
	colCoverBeyond: "#ff4d1a",
	colCover1:      "#7dd3fc",
	colCover2:      "#3b82f6",
	colCover3:      "#4338ca",
	colMoveUp:      "#a3e635", // lime: nothing else on the map is
	// The patrol layer: green met, amber not met yet, grey no result; the
	// fills light enough to read the streets and units through.
	colPatrolMet:      "#4ade80",
	colPatrolDue:      "#f59e0b",
	colPatrolNone:     "#94a3b8",
	colPatrolMetFill:  "rgba(74,222,128,0.14)",
	colPatrolDueFill:  "rgba(245,158,11,0.14)",
	colPatrolNoneFill: "rgba(148,163,184,0.10)",
}

// drawList is one frame's operations, little-endian float32s ready to copy
// into a JavaScript Uint8Array, plus the strings the text operations name.
// It is reused frame after frame: no allocation once it has grown.
type drawList struct {
	buf  []byte
	strs []string
}

func (d *drawList) reset() {
	d.buf = d.buf[:0]
	clear(d.strs)
	d.strs = d.strs[:0]
}

// floats is the number of float32s written.
func (d *drawList) floats() int { return len(d.buf) / 4 }

func (d *drawList) f(v float64) {
	d.buf = binary.LittleEndian.AppendUint32(d.buf, math.Float32bits(float32(v)))
}

func (d *drawList) op1(op int)               { d.f(float64(op)) }
func (d *drawList) op2(op int, a, b float64) { d.f(float64(op)); d.f(a); d.f(b) }
func (d *drawList) op3(op int, a, b, c float64) {
	d.f(float64(op))
	d.f(a)
	d.f(b)
	d.f(c)
}

// crosshair marks a place being chosen: a ring of radius r and a cross
// reaching arm pixels from its centre.
func (d *drawList) crosshair(x, y float64, stroke int, width, r, arm float64) {
	d.style(-1, stroke, width, 1, 0)
	d.op3(opCircle, x, y, r)
	d.op2(opMove, x-arm, y)
	d.op2(opLine, x+arm, y)
	d.op2(opMove, x, y-arm)
	d.op2(opLine, x, y+arm)
	d.op1(opPaint)
}

func (d *drawList) style(fill, stroke int, width, alpha, dash float64) {
	d.f(opStyle)
	d.f(float64(fill))
	d.f(float64(stroke))
	d.f(width)
	d.f(alpha)
	d.f(dash)
}

func (d *drawList) rect(x, y, w, h float64) {
	d.f(opRect)
	d.f(x)
	d.f(y)
	d.f(w)
	d.f(h)
}

func (d *drawList) text(x, y float64, s string, size float64, align, colour, halo int) {
	d.f(opText)
	d.f(x)
	d.f(y)
	d.f(float64(len(d.strs)))
	d.f(size)
	d.f(float64(align))
	d.f(float64(colour))
	d.f(float64(halo))
	d.strs = append(d.strs, s)
}

func (d *drawList) tile(t Tile) {
	d.f(opTile)
	d.f(float64(t.Z))
	d.f(float64(t.X))
	d.f(float64(t.Y))
	d.f(t.DX)
	d.f(t.DY)
	d.f(t.Sz)
}

// painterJS is the replay: a factory taking the palette and a callback for
// tiles that finished loading, returning paint(g, u8, n, strs, tiles, dpr,
// w, h) which replays n float32s from the Uint8Array u8 on the 2-D context g
// and returns how many it read (-1 on a corrupt list). Tiles are cached by
// z/x/y (at most 600 images).
const painterJS = `(function (pal, onTile) {
  "use strict";
  var imgs = new Map();
  var font = "px system-ui, 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif";
  function tile(g, tmpl, z, x, y, dx, dy, sz) {
    var key = z + "/" + x + "/" + y, e = imgs.get(key);
    if (!e) {
      if (imgs.size >= 600) imgs.delete(imgs.keys().next().value);
      var img = new Image();
      e = {img: img, ok: false};
      img.onload = function () { e.ok = true; onTile(); };
      img.src = tmpl.split("{z}").join(z).split("{x}").join(x).split("{y}").join(y);
      imgs.set(key, e);
    }
    if (e.ok) g.drawImage(e.img, dx, dy, sz + 0.5, sz + 0.5);
  }
  return function (g, u8, n, strs, tmpl, dpr, w, h) {
    var f = new Float32Array(u8.buffer, u8.byteOffset, n);
    var fill = false, stroke = false, i = 0, x, y, r, s, size, al, c, halo, fi, si, d;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.globalAlpha = 1;
    g.setLineDash([]);
    while (i < n) {
      switch (f[i++]) {
      case 1:
        fi = f[i++]; si = f[i++];
        fill = fi >= 0; stroke = si >= 0;
        if (fill) g.fillStyle = pal[fi];
        if (stroke) g.strokeStyle = pal[si];
        g.lineWidth = f[i++]; g.globalAlpha = f[i++];
        d = f[i++]; g.setLineDash(d > 0 ? [d, d] : []);
        g.beginPath(); break;
      case 2: if (fill) g.fill(); if (stroke) g.stroke(); break;
      case 3: x = f[i++]; y = f[i++]; r = f[i++]; g.rect(x - r, y - r, 2 * r, 2 * r); break;
      case 4: x = f[i++]; y = f[i++]; r = f[i++];
        g.moveTo(x, y - r * 1.2); g.lineTo(x + r * 1.05, y + r * 0.8); g.lineTo(x - r * 1.05, y + r * 0.8); g.closePath(); break;
      case 5: x = f[i++]; y = f[i++]; r = f[i++]; g.moveTo(x + r, y); g.arc(x, y, r, 0, 6.283185307179586); break;
      case 6: x = f[i++]; y = f[i++]; r = f[i++] * 1.25;
        g.moveTo(x, y - r); g.lineTo(x + r, y); g.lineTo(x, y + r); g.lineTo(x - r, y); g.closePath(); break;
      case 7: x = f[i++]; y = f[i++]; g.moveTo(x, y); break;
      case 8: x = f[i++]; y = f[i++]; g.lineTo(x, y); break;
      case 9: g.closePath(); break;
      case 10: x = f[i++]; y = f[i++]; g.rect(x, y, f[i++], f[i++]); break;
      case 11:
        x = f[i++]; y = f[i++]; s = strs[f[i++]]; size = f[i++]; al = f[i++]; c = f[i++]; halo = f[i++];
        g.font = size + font;
        g.textAlign = al === 1 ? "center" : al === 2 ? "right" : "left";
        g.textBaseline = "middle";
        if (halo >= 0) { g.lineWidth = 3; g.strokeStyle = pal[halo]; g.setLineDash([]); g.strokeText(s, x, y); }
        g.fillStyle = pal[c]; g.fillText(s, x, y); break;
      case 12: tile(g, tmpl, f[i++], f[i++], f[i++], f[i++], f[i++], f[i++]); break;
      case 13: g.globalAlpha = 1; g.fillStyle = pal[f[i++]]; g.fillRect(0, 0, w, h); break;
      default: return -1;
      }
    }
    return i;
  };
})`
