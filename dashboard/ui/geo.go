package ui

import (
	"math"

	"kuaifan/protocol"
)

// The map's geometry: Web Mercator (EPSG:3857, the projection of every XYZ
// tile server), a view that pans and zooms, and the sizes the map draws at.

// Changsha, where the map opens: Wuyi Square, and the box the city's
// simulated fleet lives in (the same as simulator/city.go).
var (
	HomeLat, HomeLon = 28.2, 112.98
	CityBox          = Box{MinLat: 28.08, MaxLat: 28.32, MinLon: 112.85, MaxLon: 113.10}
)

// Box is a latitude/longitude rectangle.
type Box struct{ MinLat, MaxLat, MinLon, MaxLon float64 }

// Zoom limits of the map (tile zoom levels).
const (
	MinZoom   = 3.0
	MaxZoom   = 19.0
	TileSize  = 256.0 // CSS px of a tile at its own zoom
	maxMercat = 85.05112878
)

// Response circles. The hub ranks by ETA = distance × detour ÷ speed; the
// map draws the 1-, 3- and 5-minute circles for a car, the type most calls
// are answered with: 8.3 m/s (≈ 30 km/h urban average) with the hub's
// default detour factor 1.4, so the circles are 356 m, 1067 m and 1779 m.
const (
	CircleSpeedMPS = 8.3
	CircleDetour   = 1.4
)

// CircleMinutes are the response circles drawn around a selected incident.
var CircleMinutes = [...]float64{1, 3, 5}

// CircleRadiusM is the straight-line radius a car covers in minutes.
func CircleRadiusM(minutes float64) float64 {
	return minutes * 60 * CircleSpeedMPS / CircleDetour
}

// mercX and mercY map a position to the unit square of Web Mercator
// (0,0 top-left at 180°W, 85.05°N; 1,1 bottom-right).
func mercX(lon float64) float64 { return (lon + 180) / 360 }

func mercY(lat float64) float64 {
	lat = max(-maxMercat, min(maxMercat, lat))
	φ := lat * math.Pi / 180
	return (1 - math.Log(math.Tan(φ)+1/math.Cos(φ))/math.Pi) / 2
}

func unmercX(x float64) float64 { return x*360 - 180 }

func unmercY(y float64) float64 {
	return math.Atan(math.Sinh(math.Pi*(1-2*y))) * 180 / math.Pi
}

// View is what the map shows: its centre, its (fractional) zoom, and its
// size in CSS pixels.
type View struct {
	Lat, Lon float64
	Zoom     float64
	W, H     float64
}

// DefaultView is Changsha, zoomed to show the city in a w×h canvas.
func DefaultView(w, h float64) View { return FitBox(CityBox, w, h) }

// FitBox returns the view that shows b whole in a w×h canvas.
func FitBox(b Box, w, h float64) View {
	if w <= 0 || h <= 0 {
		w, h = 1024, 768
	}
	v := View{Lat: (b.MinLat + b.MaxLat) / 2, Lon: (b.MinLon + b.MaxLon) / 2, W: w, H: h}
	dx := math.Abs(mercX(b.MaxLon) - mercX(b.MinLon))
	dy := math.Abs(mercY(b.MinLat) - mercY(b.MaxLat))
	// Centre on the box's Mercator middle, not its degree middle.
	v.Lat = unmercY((mercY(b.MinLat) + mercY(b.MaxLat)) / 2)
	const margin = 0.9
	zx, zy := MaxZoom, MaxZoom
	if dx > 0 {
		zx = math.Log2(w * margin / (dx * TileSize))
	}
	if dy > 0 {
		zy = math.Log2(h * margin / (dy * TileSize))
	}
	v.Zoom = max(MinZoom, min(MaxZoom, min(zx, zy, 16)))
	return v
}

// scale is the size of the whole world in CSS px at the view's zoom.
func (v View) scale() float64 { return TileSize * math.Exp2(v.Zoom) }

// origin is the world position (Mercator unit square × scale) of the
// canvas's top-left corner.
func (v View) origin() (float64, float64) {
	s := v.scale()
	return mercX(v.Lon)*s - v.W/2, mercY(v.Lat)*s - v.H/2
}

// ToScreen projects a position to canvas CSS pixels.
func (v View) ToScreen(lat, lon float64) (x, y float64) {
	s := v.scale()
	ox, oy := v.origin()
	return mercX(lon)*s - ox, mercY(lat)*s - oy
}

// FromScreen is the position under canvas pixel x, y.
func (v View) FromScreen(x, y float64) (lat, lon float64) {
	s := v.scale()
	ox, oy := v.origin()
	return unmercY((y + oy) / s), unmercX((x + ox) / s)
}

// Pan moves the map by dx, dy pixels (dragging right shows what is west).
func (v *View) Pan(dx, dy float64) {
	s := v.scale()
	cx := mercX(v.Lon) - dx/s
	cy := mercY(v.Lat) - dy/s
	cx -= math.Floor(cx) // wrap around the antimeridian
	cy = max(mercY(maxMercat), min(mercY(-maxMercat), cy))
	v.Lat, v.Lon = unmercY(cy), unmercX(cx)
}

// ZoomAt multiplies the scale by factor, keeping the position under x, y
// where it is on the screen.
func (v *View) ZoomAt(factor, x, y float64) {
	if factor <= 0 || math.IsNaN(factor) || math.IsInf(factor, 0) {
		return
	}
	lat, lon := v.FromScreen(x, y)
	v.Zoom = max(MinZoom, min(MaxZoom, v.Zoom+math.Log2(factor)))
	// Put lat, lon back under x, y.
	nx, ny := v.ToScreen(lat, lon)
	v.Pan(x-nx, y-ny)
}

// CenterOn moves the centre to lat, lon, keeping the zoom (at least minZoom).
func (v *View) CenterOn(lat, lon, minZoom float64) {
	v.Lat, v.Lon = lat, lon
	v.Zoom = max(v.Zoom, minZoom)
}

// MetersPerPixel is the ground size of a CSS pixel at the view's centre.
func (v View) MetersPerPixel() float64 {
	return 2 * math.Pi * protocol.EarthRadiusM * math.Cos(v.Lat*math.Pi/180) / v.scale()
}

// MetersToPixels converts a ground distance around lat to CSS pixels.
func (v View) MetersToPixels(m, lat float64) float64 {
	return m * v.scale() / (2 * math.Pi * protocol.EarthRadiusM * math.Cos(lat*math.Pi/180))
}

// niceBelow is the largest 1-2-5 number at most x: the only lengths a scale
// bar shows.
func niceBelow(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range [...]float64{5, 2, 1} {
		if m*p <= x {
			return m * p
		}
	}
	return p
}

// ScaleBar returns the longest 1-2-5 ground length that fits in maxPx at the
// view's centre, and its length in pixels.
func (v View) ScaleBar(maxPx float64) (meters, px float64) {
	mpp := v.MetersPerPixel()
	meters = niceBelow(maxPx * mpp)
	return meters, meters / mpp
}

// GridStep is the 1-2-5 step in degrees whose lines are at least minPx
// apart on screen (a degree of longitude; near the centre a degree of
// latitude is about as long at Changsha's latitude, a bit longer).
func (v View) GridStep(minPx float64) float64 {
	return niceAbove(minPx * 360 / v.scale())
}

// niceAbove is the smallest 1-2-5 number at least x.
func niceAbove(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range [...]float64{1, 2, 5} {
		if m*p >= x*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// Bounds is the box the view shows.
func (v View) Bounds() Box {
	n, w := v.FromScreen(0, 0)
	s, e := v.FromScreen(v.W, v.H)
	return Box{MinLat: s, MaxLat: n, MinLon: w, MaxLon: e}
}

// Tile is one XYZ tile of a basemap and where it goes on the canvas.
type Tile struct {
	Z, X, Y    int     // X wrapped into 0..2^Z-1
	DX, DY, Sz float64 // top-left corner and size on the canvas, CSS px
}

// Tiles lists the tiles that cover the view at the integer zoom nearest to
// the view's, appending to dst (no allocation once dst has grown).
func (v View) Tiles(dst []Tile) []Tile {
	z := int(math.Round(v.Zoom))
	z = max(0, min(int(MaxZoom), z))
	n := 1 << z
	sz := TileSize * math.Exp2(v.Zoom-float64(z))
	ox, oy := v.origin()
	// The world at this zoom is n tiles of sz pixels.
	x0 := int(math.Floor(ox / sz))
	y0 := max(0, int(math.Floor(oy/sz)))
	x1 := int(math.Floor((ox + v.W) / sz))
	y1 := min(n-1, int(math.Floor((oy+v.H)/sz)))
	if x1-x0 > 64 || y1-y0 > 64 {
		return dst // a canvas this large is not a map
	}
	for ty := y0; ty <= y1; ty++ {
		for tx := x0; tx <= x1; tx++ {
			wx := ((tx % n) + n) % n
			dst = append(dst, Tile{Z: z, X: wx, Y: ty,
				DX: float64(tx)*sz - ox, DY: float64(ty)*sz - oy, Sz: sz})
		}
	}
	return dst
}
