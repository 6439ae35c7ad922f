package ui

import (
	"context"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// The replay screen: an incident played back on the map from its creation
// to its close, with the units that were sent to it and those that came
// near. The map draws the replay's own store (history_map.go); the slider,
// the clock and window.kuaifanReplay follow playback from the map's frame
// loop, directly in the DOM, so playing re-renders nothing.

// ReplayRadii are the radii the screen offers (metres); ReplayRadius the
// one it opens with.
var ReplayRadii = []int{500, 1000, 2000, 5000}

const ReplayRadius = 2000

// ReplaySpeeds are the playback speeds offered.
var ReplaySpeeds = []float64{1, 2, 5, 10, 30, 60}

// ReplayState is the replay screen's state: which incident, how loaded,
// where playback is. The console keeps it while other screens show, so
// going back to it finds it where it was.
type ReplayState struct {
	Incident string
	RadiusM  int
	Loading  bool
	Err      string
	LoadMS   float64 // how long the last load took (fetch and decode)
	Model    *Replay // nil until loaded
	Map      *PastMap
	Playing  bool
	Speed    float64

	t        float64 // playback's time, Unix ms (fractions kept at 1×)
	lastTick time.Time
	rev      uint64 // bumped when the view must re-render
}

// bump asks the replay view to re-render.
func (st *ReplayState) bump() { st.rev++ }

// OpenReplay shows the replay of an incident (open or closed), loading it.
func (ct *Controller) OpenReplay(id string) {
	c := ct.C
	if st := c.Replay; st == nil || st.Incident != id || st.Err != "" {
		st := &ReplayState{Incident: id, RadiusM: ReplayRadius, Speed: 10}
		st.Map = NewPastMap(c, NewStore(), Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180})
		c.Replay = st
		ct.loadReplay(st)
	}
	c.ShowScreen(ScreenReplay)
}

// SetReplayRadius loads the replay again with another radius.
func (ct *Controller) SetReplayRadius(m int) {
	st := ct.C.Replay
	if st == nil || m == st.RadiusM {
		return
	}
	st.RadiusM = m
	ct.loadReplay(st)
}

// loadReplay fetches and decodes the replay, keeping playback's time if
// the incident is the same.
func (ct *Controller) loadReplay(st *ReplayState) {
	st.Loading, st.Err, st.Playing = true, "", false
	st.bump()
	id, radius := st.Incident, st.RadiusM
	var model *Replay
	var took float64
	ct.call(func(ctx context.Context, api *API) (err error) {
		start := time.Now()
		model, err = api.IncidentReplay(ctx, id, radius)
		took = float64(time.Since(start).Microseconds()) / 1e3
		return err
	}, func(err error) {
		if ct.C.Replay != st || st.RadiusM != radius {
			return // another replay or radius was asked for meanwhile
		}
		st.Loading = false
		st.bump()
		if err != nil {
			st.Err = Tf(ct.C.Lang, "replay.err", err.Error())
			return
		}
		st.LoadMS = took
		t := st.t
		if st.Model == nil || t < float64(model.From) || t > float64(model.To) {
			t = float64(model.From)
		}
		st.Model = model
		st.t = t
		model.MoveTo(int64(t))
		st.install(model)
	})
}

// install puts a loaded model on the map.
func (st *ReplayState) install(model *Replay) {
	p := st.Map
	p.Lock()
	model.Store.Districts, model.Store.Cameras, model.Store.cameraIndex = p.Store.Districts, p.Store.Cameras, p.Store.cameraIndex
	p.Store = model.Store
	p.Scene.SelInc = model.Incident.ID
	p.NowMS = model.T
	p.Fit = model.Box()
	p.fitted = false
	v := p.Scene.View
	p.Unlock()
	if v.W > 0 && v.H > 0 {
		p.Resize(v.W, v.H) // fits the new ground now
	}
	p.Dirty()
}

// MoveTo moves playback to t (Unix ms, clamped to the replay).
func (st *ReplayState) MoveTo(t int64) {
	m := st.Model
	if m == nil {
		return
	}
	st.t = float64(min(max(t, m.From), m.To))
	st.apply()
}

// apply rebuilds the map's store at playback's time.
func (st *ReplayState) apply() {
	p, m := st.Map, st.Model
	p.Lock()
	m.MoveTo(int64(st.t))
	p.NowMS = m.T
	p.Unlock()
	p.Dirty()
}

// Play starts or pauses playback; at the end, play starts over.
func (st *ReplayState) Play(on bool, now time.Time) {
	m := st.Model
	if m == nil {
		return
	}
	if on && int64(st.t) >= m.To {
		st.t = float64(m.From)
		st.apply()
	}
	st.Playing, st.lastTick = on, now
}

// Advance moves playback on by the time since the last frame times the
// speed; it reports whether playback reached the end (and stopped).
func (st *ReplayState) Advance(now time.Time) (ended bool) {
	if !st.Playing || st.Model == nil {
		return false
	}
	// A hidden tab gets no frames: do not jump by the time it was away.
	dt := min(now.Sub(st.lastTick), 250*time.Millisecond)
	st.lastTick = now
	if dt <= 0 {
		return false
	}
	st.t += float64(dt.Microseconds()) / 1e3 * st.Speed
	if to := float64(st.Model.To); st.t >= to {
		st.t, st.Playing, ended = to, false, true
	}
	st.apply()
	return ended
}

// T is playback's time, Unix ms.
func (st *ReplayState) T() int64 { return int64(st.t) }

// ReplayView is the replay screen.
type ReplayView struct {
	app.Compo
	Ctl *Controller

	ctx      app.Context
	mounted  bool
	seenRev  uint64
	seenLang Lang
	seenSt   *ReplayState
	dom      replayDOM
	pub      replayPublished
	fps      fpsMeter
	drawn    int
	shownAt  time.Time // when the slider and clock were last written
}

// replayDOM are the elements playback writes to directly.
type replayDOM struct {
	slider, clock, elapsed, stats app.Value
}

// OnMount hooks playback to the map's frame loop and publishes
// window.kuaifanReplay.
func (v *ReplayView) OnMount(ctx app.Context) {
	v.ctx, v.mounted = ctx, true
	v.dom.stats = app.Window().Get("Object").New()
	v.pub = replayPublished{}
	app.Window().Set("kuaifanReplay", v.dom.stats)
	v.hook()
}

// OnDismount unhooks playback (it pauses: nothing draws it).
func (v *ReplayView) OnDismount() {
	if st := v.Ctl.C.Replay; st != nil {
		st.Playing = false
		if st.Map != nil {
			st.Map.Tick, st.Map.Drawn = nil, nil
		}
	}
	v.seenSt, v.mounted = nil, false
	v.dom = replayDOM{}
	app.Window().Delete("kuaifanReplay")
}

// hook gives the current replay's map this view's frame hooks.
func (v *ReplayView) hook() {
	st := v.Ctl.C.Replay
	if st == nil || st == v.seenSt {
		return
	}
	if v.seenSt != nil && v.seenSt.Map != nil {
		v.seenSt.Map.Tick, v.seenSt.Map.Drawn = nil, nil
	}
	v.seenSt = st
	st.Map.Tick = v.tick
	st.Map.Drawn = func(info SceneInfo) {
		v.drawn = info.Units
		if st.Playing {
			v.fps.frame(time.Now())
		} else {
			v.fps.restart()
		}
	}
}

// tick runs on every animation frame: playback moves on, the slider, the
// clock and window.kuaifanReplay follow; a change of state or language
// re-renders the view (not the whole page).
func (v *ReplayView) tick(now time.Time) {
	c := v.Ctl.C
	st := c.Replay
	if st == nil || !v.mounted {
		return
	}
	if st.Advance(now) {
		st.bump() // the play button says play again
	}
	if st.rev != v.seenRev || c.Lang != v.seenLang {
		v.seenRev, v.seenLang = st.rev, c.Lang // asked once; Render confirms
		v.ctx.Update()
	}
	m := st.Model
	if m == nil {
		return
	}
	v.publish(st, m)
	// The slider and the clock at most ~10 times a second: their text
	// costs a string each.
	if now.Sub(v.shownAt) < 100*time.Millisecond {
		return
	}
	v.shownAt = now
	v.showTime(st)
}

// replayPublished is what window.kuaifanReplay holds: a field is written
// only when it changed (each write crosses into JavaScript).
type replayPublished struct {
	model        *Replay
	t            int64
	playing      bool
	units, drawn int
	fps, speed   float64
	status       string
}

// publish updates window.kuaifanReplay.
func (v *ReplayView) publish(st *ReplayState, m *Replay) {
	s, p := v.dom.stats, &v.pub
	if s == nil || !s.Truthy() {
		return
	}
	if p.model != m {
		*p = replayPublished{model: m, t: -1, units: -1, drawn: -1, fps: -1, speed: -1}
		s.Set("from", m.From)
		s.Set("to", m.To)
		s.Set("total", len(m.Units))
		s.Set("incident", m.Incident.ID)
		s.Set("loadMs", st.LoadMS)
	}
	if t := st.T(); t != p.t {
		p.t = t
		s.Set("t", t)
	}
	if st.Playing != p.playing || p.units < 0 {
		p.playing = st.Playing
		s.Set("playing", st.Playing)
	}
	if m.Positioned != p.units {
		p.units = m.Positioned
		s.Set("units", p.units)
	}
	if v.drawn != p.drawn {
		p.drawn = v.drawn
		s.Set("drawn", p.drawn)
	}
	if f := v.fps.rate(); f != p.fps {
		p.fps = f
		s.Set("fps", f)
	}
	if st.Speed != p.speed {
		p.speed = st.Speed
		s.Set("speed", st.Speed)
	}
	if status := m.At().Status; status != p.status {
		p.status = status
		s.Set("status", status)
	}
}

// showTime writes playback's time into the slider and the clock.
func (v *ReplayView) showTime(st *ReplayState) {
	m := st.Model
	if m == nil {
		return
	}
	d := &v.dom
	if d.slider == nil || !d.slider.Truthy() {
		win := app.Window()
		d.slider, d.clock, d.elapsed = win.GetElementByID("replay-slider"), win.GetElementByID("replay-clock"), win.GetElementByID("replay-elapsed")
	}
	if d.slider.Truthy() && !d.slider.Get("isConnected").Bool() {
		d.slider = nil // re-rendered: find the new ones next time
		return
	}
	if d.slider.Truthy() {
		d.slider.Set("value", strconv.FormatInt(st.T(), 10))
	}
	if d.clock.Truthy() {
		d.clock.Set("textContent", FormatClock(st.T(), nil))
	}
	if d.elapsed.Truthy() {
		d.elapsed.Set("textContent", formatElapsed(st.T()-m.From))
	}
}

// formatElapsed is a time since the start, "+m:ss" or "+h:mm:ss".
func formatElapsed(ms int64) string {
	s := max(ms, 0) / 1000
	h, mnt, sec := s/3600, s/60%60, s%60
	two := func(n int64) string {
		if n < 10 {
			return "0" + strconv.FormatInt(n, 10)
		}
		return strconv.FormatInt(n, 10)
	}
	if h > 0 {
		return "+" + strconv.FormatInt(h, 10) + ":" + two(mnt) + ":" + two(sec)
	}
	return "+" + strconv.FormatInt(mnt, 10) + ":" + two(sec)
}

// fpsMeter measures playback's frame rate: frames drawn while playing,
// over the last second of playing (kept while paused).
type fpsMeter struct {
	ring [256]time.Time
	n    int
	last float64
}

func (f *fpsMeter) frame(now time.Time) {
	f.ring[f.n%len(f.ring)] = now
	f.n++
	// Count back over the last second; a window not a second long yet
	// (playback just started) counts what it has.
	k := 1
	for ; k < min(f.n, len(f.ring)); k++ {
		if now.Sub(f.ring[(f.n-1-k)%len(f.ring)]) > time.Second {
			break
		}
	}
	if k > 1 {
		first := f.ring[(f.n-k)%len(f.ring)]
		if span := now.Sub(first).Seconds(); span > 0 {
			f.last = float64(k-1) / span
		}
	}
}

// restart forgets frames from before a pause.
func (f *fpsMeter) restart() { f.n = 0 }

// rate is the last measured frame rate (0 before any playing).
func (f *fpsMeter) rate() float64 { return f.last }

// Render draws the screen.
func (v *ReplayView) Render() app.UI {
	c := v.Ctl.C
	lang := c.Lang
	st := c.Replay
	v.seenLang = lang
	if st == nil {
		return app.Main().ID("view-replay").Class("view", "view-replay").Body(
			app.P().Class("empty").Text(T(lang, "replay.none")),
			app.Button().ID("replay-back").Class("ghost").Text(T(lang, "replay.back")).OnClick(v.onBack),
		)
	}
	v.seenRev = st.rev
	v.hook()
	m := st.Model
	return app.Main().ID("view-replay").Class("view", "view-replay").DataSet("incident", st.Incident).
		DataSet("loaded", m != nil && !st.Loading).Body(
		app.Header().Class("past-head").Body(
			app.Button().ID("replay-back").Class("ghost").Text("← "+T(lang, "replay.back")).OnClick(v.onBack),
			app.H2().ID("replay-title").Text(T(lang, "replay.title")),
			app.If(m != nil, func() app.UI {
				inc := &m.Incident
				return app.Span().Class("past-what").Text(IncidentName(lang, inc))
			}).Else(func() app.UI { return app.Span().Class("past-what").Text(st.Incident) }),
			app.Label().For("replay-radius").Text(T(lang, "replay.radius")),
			app.Select().ID("replay-radius").OnChange(v.onRadius).Body(
				app.Range(ReplayRadii).Slice(func(i int) app.UI {
					r := ReplayRadii[i]
					return app.Option().Value(strconv.Itoa(r)).Selected(r == st.RadiusM).Text(FormatDistance(lang, float64(r)))
				}),
			),
			maybe(st.Loading, app.Span().ID("replay-loading").Class("busy").Text(T(lang, "replay.loading"))),
			maybe(st.Err != "", app.Span().ID("replay-error").Class("error").Text(st.Err)),
			app.If(m != nil, func() app.UI {
				return app.Span().ID("replay-units").Class("past-figure").Text(Tf(lang, "replay.units", len(m.Units), m.RadiusM))
			}),
			app.If(m != nil && m.LeftOff > 0, func() app.UI {
				return app.Span().Class("past-figure", "warn").Text(Tf(lang, "replay.leftoff", m.LeftOff))
			}),
		),
		app.Div().Class("past-body").Body(
			app.Div().Class("past-map").Body(
				&MapView{Ctl: v.Ctl, Lang: lang, Past: st.Map},
				app.If(m != nil, func() app.UI { return v.controls(st, lang) }),
			),
			app.Aside().Class("past-side").Body(
				app.H3().Text(T(lang, "replay.timeline")),
				app.If(m != nil, func() app.UI { return v.timeline(st, lang) }),
			),
		),
	)
}

// controls are playback's: play, speed, the slider, the clock.
func (v *ReplayView) controls(st *ReplayState, lang Lang) app.UI {
	m := st.Model
	play := T(lang, "replay.play")
	if st.Playing {
		play = T(lang, "replay.pause")
	}
	return app.Div().ID("replay-controls").Class("replay-controls").Body(
		app.Button().ID("replay-play").Class("primary").DataSet("playing", st.Playing).Text(play).OnClick(v.onPlay),
		app.Select().ID("replay-speed").Title(T(lang, "replay.speed")).OnChange(v.onSpeed).Body(
			app.Range(ReplaySpeeds).Slice(func(i int) app.UI {
				s := ReplaySpeeds[i]
				txt := strconv.FormatFloat(s, 'f', -1, 64)
				return app.Option().Value(txt).Selected(s == st.Speed).Text(txt + "×")
			}),
		),
		app.Input().ID("replay-slider").Type("range").Min(m.From).Max(m.To).Step(1).
			Value(strconv.FormatInt(st.T(), 10)).Aria("label", T(lang, "replay.slider")).OnInput(v.onSlider),
		app.Span().ID("replay-clock").Class("clock").Title(T(lang, "replay.clock")).Text(FormatClock(st.T(), nil)),
		app.Span().ID("replay-elapsed").Class("elapsed").Title(T(lang, "replay.elapsed")).Text(formatElapsed(st.T()-m.From)),
	)
}

// timeline lists the incident's steps; a click jumps there.
func (v *ReplayView) timeline(st *ReplayState, lang Lang) app.UI {
	m := st.Model
	tl := m.Incident.Timeline
	s := v.Ctl.C.Store
	name := func(id string) string {
		for i := range m.Units {
			if m.Units[i].Unit == id && m.Units[i].Callsign != "" {
				return m.Units[i].Callsign
			}
		}
		return s.UnitName(id)
	}
	text := func(e Entry) string { return EntryText(lang, e, name, s.CameraName) }
	return app.Ol().ID("replay-timeline").Class("replay-timeline").Body(
		app.Range(tl).Slice(func(i int) app.UI {
			e := tl[i]
			ts := e.TS
			return app.Li().Body(
				app.Button().Class("replay-entry").DataSet("t", ts).DataSet("type", e.Type).
					OnClick(func(ctx app.Context, _ app.Event) { v.seek(ts) }, app.EventScope(strconv.Itoa(i)+"@"+strconv.FormatInt(ts, 10))).Body(
					app.Span().Class("when").Text(FormatClock(ts, nil)+" "+formatElapsed(ts-m.From)),
					app.Span().Class("what").Text(lookup(lang, "ev.", e.Type)+unitSuffix(e.Unit, name)),
					app.If(text(e) != "", func() app.UI { return app.Span().Class("detail").Text(text(e)) }),
				),
			)
		}),
	)
}

// unitSuffix is " · callsign" for an entry about a unit.
func unitSuffix(unit string, name func(string) string) string {
	if unit == "" {
		return ""
	}
	return " · " + name(unit)
}

func (v *ReplayView) seek(t int64) {
	if st := v.Ctl.C.Replay; st != nil {
		st.MoveTo(t)
		v.showTime(st)
	}
}

func (v *ReplayView) onSlider(ctx app.Context, e app.Event) {
	t, err := strconv.ParseInt(ctx.JSSrc().Get("value").String(), 10, 64)
	if err != nil {
		return
	}
	if st := v.Ctl.C.Replay; st != nil {
		st.MoveTo(t)
	}
	ctx.PreventUpdate() // the slider shows it already; the map draws it
}

func (v *ReplayView) onPlay(ctx app.Context, e app.Event) {
	if st := v.Ctl.C.Replay; st != nil {
		st.Play(!st.Playing, time.Now())
	}
}

func (v *ReplayView) onSpeed(ctx app.Context, e app.Event) {
	s, err := strconv.ParseFloat(ctx.JSSrc().Get("value").String(), 64)
	if st := v.Ctl.C.Replay; st != nil && err == nil && s > 0 {
		st.Speed = s
	}
}

func (v *ReplayView) onRadius(ctx app.Context, e app.Event) {
	if r, err := strconv.Atoi(ctx.JSSrc().Get("value").String()); err == nil {
		v.Ctl.SetReplayRadius(r)
	}
}

func (v *ReplayView) onBack(ctx app.Context, e app.Event) {
	if st := v.Ctl.C.Replay; st != nil {
		st.Playing = false
	}
	v.Ctl.C.ShowScreen(ScreenLive)
}
