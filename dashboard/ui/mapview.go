package ui

import (
	"math"
	"runtime"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// MapView is the live map: a <canvas id="map"> drawn at most once per
// animation frame, and only when something changed (the store, the view,
// the selection, a tile loaded), once a second for fading, or while an
// uncovered incident pulses. Pointer and wheel listeners are its own (not
// go-app handlers), so panning does not re-render the page.
//
// For tests and measurements it publishes window.kuaifanStats = {frames,
// lastFrameMs, maxFrameMs, p95FrameMs, units, drawn, labels, trail,
// chaseLines, offer, cameras, coverRuns, moveUps, patrolTasks, …} and
// window.kuaifanMapPoint(lat, lon) → {x, y} in page coordinates.
type MapView struct {
	app.Compo
	Ctl      *Controller
	Lang     Lang
	Creating bool
	Chase    MapChase   // the sighting form and the cameras: a change re-renders the map's elements
	Cover    CoverView  // the coverage layer's button and box (coverage_view.go)
	Patrol   PatrolView // the patrol layer's box (patrol_view.go)
	// Past, if set, is a screen of the past's map (history_map.go): the
	// map draws it instead of the live store, and a click selects nothing.
	Past *PastMap

	canvas, g, painter, buf, strs, stats app.Value
	bufCap                               int
	funcs                                []app.Func
	listeners                            []listener
	raf                                  app.Func
	running                              bool
	sb                                   sceneBuf
	lastRev                              uint64
	lastDraw                             time.Time
	pulsing                              bool
	gest                                 Gestures
	w, h, dpr                            float64
	frames                               int
	times                                frameTimes
	memAt                                time.Time
	pk                                   pickState // the picker (pick.go)
	lastPast                             *PastMap  // the past map last drawn: another one is drawn at once
}

type listener struct {
	target app.Value
	event  string
	fn     app.Func
}

// Render draws the canvas and the map's buttons; the canvas's content is
// the frame loop's, never the renderer's.
func (m *MapView) Render() app.UI {
	lang := m.Lang
	if m.Past != nil {
		return m.renderPast()
	}
	cls := "mapwrap"
	if m.Creating {
		cls += " creating"
	}
	ch := m.Ctl.C.MapChase()
	if ch.Form.Open {
		cls += " sighting-mode"
	}
	return app.Div().Class(cls).Body(
		app.Canvas().ID("map").TabIndex(0).Aria("label", T(lang, "app.title")),
		app.Div().Class("mapctl").Body(
			app.Button().ID("zoom-in").Title(T(lang, "map.zoomin")).Text("+").OnClick(m.zoomBy(2)),
			app.Button().ID("zoom-out").Title(T(lang, "map.zoomout")).Text("−").OnClick(m.zoomBy(0.5)),
			app.Button().ID("fit").Title(T(lang, "map.fit")).Text("⤢").OnClick(func(ctx app.Context, e app.Event) {
				m.Ctl.C.FitFleet()
			}),
			app.Button().ID("home").Title(T(lang, "map.home")).Text("⌂").OnClick(func(ctx app.Context, e app.Event) {
				m.Ctl.C.Home()
			}),
			app.If(ch.Cameras > 0, func() app.UI {
				title := Tf(lang, "map.cameras", ch.Cameras)
				cls := "layer"
				if ch.CamerasOn {
					cls += " on"
				}
				return app.Button().ID("cameras-toggle").Class(cls).DataSet("on", ch.CamerasOn).Title(title).
					Aria("label", title).Aria("pressed", ch.CamerasOn).Body(cameraIcon()).OnClick(m.onCameras)
			}),
			m.coverageToggle(m.Cover),
			m.patrolToggle(m.Patrol),
		),
		m.picker(),
		m.mapBoxes(ch.Form.Open),
		app.If(ch.Form.Open, func() app.UI { return m.sightingForm(ch) }),
		app.If(m.Creating, func() app.UI {
			return app.Div().ID("map-hint").Class("maphint").Text(T(lang, "inc.new.hint"))
		}),
		legend(lang, ch.Cameras > 0),
	)
}

func (m *MapView) zoomBy(f float64) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		m.withView(func(v *View) bool {
			v.ZoomAt(f, v.W/2, v.H/2)
			return true
		})
	}
}

// OnMount (browser only) sets up the canvas, the painter, the listeners and
// the frame loop.
func (m *MapView) OnMount(ctx app.Context) {
	win := app.Window()
	m.canvas = win.GetElementByID("map")
	if !m.canvas.Truthy() {
		return
	}
	m.g = m.canvas.Call("getContext", "2d", map[string]any{"alpha": false})
	pal := make([]any, len(Palette))
	for i, c := range Palette {
		pal[i] = c
	}
	onTile := m.fn(func(app.Value, []app.Value) any {
		m.Ctl.C.Dirty()
		return nil
	})
	factory := win.Get("Function").New("return " + painterJS).Invoke()
	m.painter = factory.Invoke(pal, onTile)
	m.strs = win.Get("Array").New()
	m.stats = win.Get("Object").New()
	win.Set("kuaifanStats", m.stats)
	win.Set("kuaifanMapPoint", m.fn(func(_ app.Value, args []app.Value) any {
		if len(args) < 2 {
			return nil
		}
		v := m.view()
		x, y := v.ToScreen(args[0].Float(), args[1].Float())
		r := m.canvas.Call("getBoundingClientRect")
		return map[string]any{"x": r.Get("left").Float() + x, "y": r.Get("top").Float() + y}
	}))

	m.listen(m.canvas, "pointerdown", nil, func(e app.Value) {
		m.canvas.Call("setPointerCapture", e.Get("pointerId"))
		m.gest.Down(e.Get("pointerId").Int(), e.Get("offsetX").Float(), e.Get("offsetY").Float())
	})
	m.listen(m.canvas, "pointermove", nil, func(e app.Value) {
		id, x, y := e.Get("pointerId").Int(), e.Get("offsetX").Float(), e.Get("offsetY").Float()
		m.withView(func(v *View) bool { return m.gest.Move(v, id, x, y) })
	})
	m.listen(m.canvas, "pointerup", nil, func(e app.Value) {
		x, y := e.Get("offsetX").Float(), e.Get("offsetY").Float()
		if m.gest.Up(e.Get("pointerId").Int(), x, y) && m.Past == nil {
			ctx.Dispatch(func(app.Context) { m.Ctl.Clicked(m.Ctl.C.Click(x, y)) })
		}
	})
	m.listen(m.canvas, "pointercancel", nil, func(e app.Value) {
		m.gest.Cancel(e.Get("pointerId").Int())
	})
	m.listen(m.canvas, "wheel", map[string]any{"passive": false}, func(e app.Value) {
		e.Call("preventDefault")
		f := WheelFactor(e.Get("deltaY").Float(), e.Get("deltaMode").Int())
		x, y := e.Get("offsetX").Float(), e.Get("offsetY").Float()
		m.withView(func(v *View) bool { v.ZoomAt(f, x, y); return true })
	})
	m.listen(m.canvas, "dblclick", nil, func(e app.Value) {
		e.Call("preventDefault")
		x, y := e.Get("offsetX").Float(), e.Get("offsetY").Float()
		m.withView(func(v *View) bool { v.ZoomAt(2, x, y); return true })
	})

	m.watchPick(ctx)

	m.running = true
	m.raf = app.FuncOf(func(_ app.Value, args []app.Value) any {
		if !m.running {
			return nil
		}
		win.Call("requestAnimationFrame", m.raf)
		m.frame()
		return nil
	})
	win.Call("requestAnimationFrame", m.raf)
}

// OnDismount stops the loop and releases every JS function.
func (m *MapView) OnDismount() {
	m.running = false
	for _, l := range m.listeners {
		l.target.Call("removeEventListener", l.event, l.fn)
	}
	m.listeners = nil
	if m.raf != nil {
		// A frame may still be scheduled: it sees running false. Release
		// after it could have run.
		raf := m.raf
		m.raf = nil
		app.Window().Call("setTimeout", app.FuncOf(func(this app.Value, _ []app.Value) any {
			raf.Release()
			return nil
		}), 1000)
	}
	app.Window().Delete("kuaifanMapPoint")
	for _, f := range m.funcs {
		f.Release()
	}
	m.funcs = nil
}

func (m *MapView) fn(f func(app.Value, []app.Value) any) app.Func {
	fn := app.FuncOf(f)
	m.funcs = append(m.funcs, fn)
	return fn
}

func (m *MapView) listen(target app.Value, event string, opts map[string]any, h func(e app.Value)) {
	fn := m.fn(func(_ app.Value, args []app.Value) any {
		if len(args) > 0 {
			h(args[0])
		}
		return nil
	})
	if opts != nil {
		target.Call("addEventListener", event, fn, opts)
	} else {
		target.Call("addEventListener", event, fn)
	}
	m.listeners = append(m.listeners, listener{target, event, fn})
}

// Redraw pacing.
const (
	pulseEvery = 80 * time.Millisecond // an uncovered incident pulses at ~12 fps
	fadeEvery  = time.Second           // fading follows the clock
)

// frame runs on every animation frame and draws if it must.
func (m *MapView) frame() {
	m.syncPick()
	win := app.Window()
	w, h := m.canvas.Get("clientWidth").Float(), m.canvas.Get("clientHeight").Float()
	dpr := win.Get("devicePixelRatio").Float()
	if dpr <= 0 || math.IsNaN(dpr) {
		dpr = 1
	}
	c := m.Ctl.C
	past := m.Past
	if past != nil && past.Tick != nil {
		past.Tick(time.Now()) // playback runs, and its view follows, drawn or not
	}
	if w <= 0 || h <= 0 {
		return // not laid out (hidden)
	}
	if w != m.w || h != m.h || dpr != m.dpr {
		m.w, m.h, m.dpr = w, h, dpr
		m.canvas.Set("width", int(math.Round(w*dpr)))
		m.canvas.Set("height", int(math.Round(h*dpr)))
		if past != nil {
			past.Resize(w, h)
		} else {
			c.Resize(w, h)
		}
	}
	now := time.Now()
	rev := c.SceneRev()
	if past != nil {
		rev = past.Rev()
	}
	since := now.Sub(m.lastDraw)
	if rev == m.lastRev && past == m.lastPast && since < fadeEvery && !(m.pulsing && since >= pulseEvery) {
		return
	}
	m.lastPast = past
	start := perfNow()
	phase := float64(now.UnixMilli()%1200) / 1200
	var info SceneInfo
	var units int
	var tiles string
	if past != nil {
		past.Lock()
		info = m.sb.build(past.Store, &past.Scene, past.NowMS, phase)
		units, tiles = len(past.Store.Units), past.Scene.Tiles
		past.Unlock()
		if past.Drawn != nil {
			past.Drawn(info)
		}
	} else {
		c.Lock()
		info = m.sb.build(c.Store, &c.Scene, c.Store.HubNow(now), phase)
		units, tiles = len(c.Store.Units), c.Scene.Tiles
		c.Unlock()
	}
	m.lastRev, m.lastDraw, m.pulsing = rev, now, info.Pulsing

	d := &m.sb.d
	if len(d.buf) > m.bufCap {
		m.bufCap = max(len(d.buf)*2, 64<<10)
		m.buf = win.Get("Uint8Array").New(m.bufCap)
	}
	app.CopyBytesToJS(m.buf, d.buf)
	m.strs.Set("length", 0)
	for i, s := range d.strs {
		m.strs.SetIndex(i, s)
	}
	m.painter.Invoke(m.g, m.buf, d.floats(), m.strs, tiles, dpr, w, h)

	ms := perfNow() - start
	m.frames++
	m.times.add(ms)
	m.stats.Set("frames", m.frames)
	m.stats.Set("lastFrameMs", ms)
	m.stats.Set("maxFrameMs", m.times.max)
	m.stats.Set("p95FrameMs", m.times.p95())
	m.stats.Set("units", units)
	m.stats.Set("drawn", info.Units)
	if t := &m.Ctl.Timing; t.Drawn == 0 && t.Synced != 0 && units > 0 {
		// The first frame with the fleet: where the wait since Sign in went.
		t.Drawn = perfNow()
		m.stats.Set("signin", map[string]any{"checkMs": t.Accepted - t.Clicked, "streamMs": t.Synced - t.Accepted,
			"drawMs": t.Drawn - t.Synced, "totalMs": t.Drawn - t.Clicked})
	}
	m.stats.Set("labels", info.Labels)
	m.stats.Set("trail", info.Trail)
	m.stats.Set("chaseLines", info.ChaseLines)
	m.stats.Set("offer", info.Offer)
	m.stats.Set("cameras", info.Cameras)
	m.stats.Set("paths", info.Paths)
	m.stats.Set("marks", info.Marks)
	m.stats.Set("coverRuns", info.CoverRuns)
	m.stats.Set("moveUps", info.MoveUps)
	m.stats.Set("patrolTasks", info.Patrol)
	if now.Sub(m.memAt) >= time.Second {
		// Go's own heap lives in the WebAssembly memory, which Chromium's
		// JSHeapUsedSize does not count.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.memAt = now
		m.stats.Set("goHeapMB", float64(ms.HeapAlloc)/1e6)
		m.stats.Set("goSysMB", float64(ms.Sys)/1e6)
		n, took := m.Ctl.Decoding()
		m.stats.Set("decodedFrames", n)
		m.stats.Set("decodeMs", float64(took.Microseconds())/1e3)
	}
}

// withView and view act on the view of the map shown: the live one or
// the past's.
func (m *MapView) withView(f func(v *View) bool) {
	if m.Past != nil {
		m.Past.WithView(f)
		return
	}
	m.Ctl.C.WithView(f)
}

func (m *MapView) view() View {
	if m.Past != nil {
		return m.Past.View()
	}
	return m.Ctl.C.View()
}

// renderPast is the map of a screen of the past: the canvas and the zoom
// and fit buttons; no live layers, forms or picker.
func (m *MapView) renderPast() app.UI {
	lang := m.Lang
	return app.Div().Class("mapwrap", "past").Body(
		app.Canvas().ID("map").TabIndex(0).Aria("label", T(lang, "app.title")),
		app.Div().Class("mapctl").Body(
			app.Button().ID("zoom-in").Title(T(lang, "map.zoomin")).Text("+").OnClick(m.zoomBy(2)),
			app.Button().ID("zoom-out").Title(T(lang, "map.zoomout")).Text("−").OnClick(m.zoomBy(0.5)),
			app.Button().ID("fit").Title(T(lang, "map.fit")).Text("⤢").OnClick(func(ctx app.Context, e app.Event) {
				m.Past.FitAll()
			}),
		),
	)
}

// frameTimes keeps the last 256 frame times for a p95.
type frameTimes struct {
	ring    [256]float64
	n       int
	max     float64
	scratch [256]float64
}

func (t *frameTimes) add(ms float64) {
	t.ring[t.n%len(t.ring)] = ms
	t.n++
	t.max = max(t.max, ms)
}

// p95 of the frames kept (0 before any).
func (t *frameTimes) p95() float64 {
	n := min(t.n, len(t.ring))
	if n == 0 {
		return 0
	}
	s := t.scratch[:n]
	copy(s, t.ring[:n])
	// Insertion sort: 256 numbers, no allocation.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[min(n-1, int(math.Ceil(0.95*float64(n)))-1)]
}

// legend explains the markers: shapes by type, colours by status; the
// cameras (if the hub has any) and a sighting.
func legend(lang Lang, cameras bool) app.UI {
	item := func(shape string, colour, label string) app.UI {
		return app.Span().Class("lg").Body(
			svgEl("svg").Attr("viewBox", "-6 -6 12 12").Attr("width", "12").Attr("height", "12").
				Aria("hidden", "true").Body(
				svgEl("path").Attr("d", shape).Attr("fill", colour),
			),
			app.Text(label),
		)
	}
	const grey = "#cbd5e1"
	return app.Div().ID("legend").Class("legend").Body(
		item(glyphPath[shapeSquare], grey, T(lang, "type.car")),
		item(glyphPath[shapeTri], grey, T(lang, "type.motorcycle")),
		item(glyphPath[shapeCircle], grey, T(lang, "type.foot")),
		item(glyphPath[shapeDiamond], grey, T(lang, "type.volunteer")),
		item(glyphPath[shapeCircle], Palette[colAvailable], T(lang, "status.available")),
		item(glyphPath[shapeCircle], Palette[colEnroute], T(lang, "status.enroute")),
		item(glyphPath[shapeCircle], Palette[colOnScene], T(lang, "status.on_scene")),
		item(glyphPath[shapeCircle], Palette[colBusy], T(lang, "status.busy")),
		item(glyphPath[shapeCircle], Palette[colOffDuty], T(lang, "status.off_duty")),
		item(glyphPath[shapeCircle], Palette[colChase], T(lang, "ev.sighting")),
		app.If(cameras, func() app.UI { return item(glyphPath[shapeSquare], Palette[colCamera], T(lang, "chase.src.camera")) }),
	)
}

// glyphPath draws each marker shape in a 12×12 box centred on 0,0, as the
// painter does.
var glyphPath = [numShapes]string{
	shapeSquare:  "M-4 -4H4V4H-4Z",
	shapeTri:     "M0 -5L4.5 3.5H-4.5Z",
	shapeCircle:  "M-4 0A4 4 0 1 0 4 0A4 4 0 1 0 -4 0Z",
	shapeDiamond: "M0 -5L5 0L0 5L-5 0Z",
}
