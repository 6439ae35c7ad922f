package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// What the dashboard reads from the browser at mount. In host tests (and on
// the server's pre-render) app.Window() is a stub and these are never called.

// TilesKey is the local-storage key of the basemap template (a setting, not
// a secret), and TilesEnv the go-app environment variable the hub may set
// (app.Handler.Env) for every dashboard it serves.
const (
	TilesKey   = "kuaifan.tiles"
	TilesEnv   = "KUAIFAN_TILES"
	TilesParam = "tiles" // ?tiles=https://tiles.example/{z}/{x}/{y}.png
)

// browserLang is navigator.language's language.
func browserLang() Lang {
	nav := app.Window().Get("navigator")
	if !nav.Truthy() {
		return EN
	}
	return LangFor(nav.Get("language").String())
}

// browserOrigin is the page's origin: the hub that served it.
func browserOrigin() string {
	u := app.Window().URL()
	return u.Scheme + "://" + u.Host
}

// browserTiles is the basemap template: the URL's ?tiles=, else the saved
// setting, else the hub's KUAIFAN_TILES, else "" (the vector map).
func browserTiles(ctx app.Context) string {
	if t := app.Window().URL().Query().Get(TilesParam); t != "" && ValidTiles(t) {
		return t
	}
	var saved string
	ctx.LocalStorage().Get(TilesKey, &saved)
	if saved != "" && ValidTiles(saved) {
		return saved
	}
	if t := app.Getenv(TilesEnv); ValidTiles(t) {
		return t
	}
	return ""
}

// now is performance.now() in ms (frame timing).
func perfNow() float64 {
	return app.Window().Get("performance").Call("now").Float()
}

// listenKeys calls on for every key pressed on the page, on the UI
// goroutine, with the focused element's tag and whether it takes text; keys
// the dashboard owns lose their browser default (a "/" typed into the search
// it focuses, arrows scrolling the page).
func listenKeys(ctx app.Context, on func(ctx app.Context, key, tag string, editable bool)) app.Func {
	fn := app.FuncOf(func(_ app.Value, args []app.Value) any {
		if len(args) == 0 {
			return nil
		}
		e := args[0]
		if e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool() || e.Get("altKey").Bool() || e.Get("isComposing").Bool() {
			return nil // a browser shortcut, or typing Chinese with an input method
		}
		key := e.Get("key").String()
		tag, editable := "", false
		if t := e.Get("target"); t.Truthy() {
			if n := t.Get("tagName"); n.Truthy() {
				tag = lower(n.String())
			}
			editable = t.Get("isContentEditable").Bool()
		}
		if ownsKey(key, tag, editable) {
			e.Call("preventDefault")
		}
		ctx.Dispatch(func(ctx app.Context) { on(ctx, key, tag, editable) })
		return nil
	})
	app.Window().Get("document").Call("addEventListener", "keydown", fn)
	return fn
}

// ownsKey: keys whose browser default the dashboard replaces, outside text
// fields.
func ownsKey(key, tag string, editable bool) bool {
	if editable || tag == "input" || tag == "textarea" || tag == "select" {
		return false
	}
	switch key {
	case "/", KeyUp, KeyDown:
		return true
	}
	return false
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// alarm sounds the standing alerts with the Web Audio API: two short tones
// every two seconds while any alert stands and the dispatcher has not muted
// it; while an officer's SOS stands, a siren instead — three rising sweeps,
// louder, every second — that nobody takes for an ordinary alert. Browsers
// let a page make sound only after a person's click or key: the sign-in
// click (or the mute button) unlocks it. window.kuaifanAlarm says what it
// did: {beeps, sosBeeps, alerts, sos, muted, state}.
type alarm struct {
	js, stats app.Value
	beeps     int // every sound, beeps and sirens
	sosBeeps  int // the sirens
	last      time.Time
}

// alarmJS makes the sounding function: fresh nodes per tone, on one
// AudioContext created at the first unlock.
const alarmJS = `(function() {
	let ac = null;
	return function(op) {
		try {
			if (!ac) {
				const AC = window.AudioContext || window.webkitAudioContext;
				if (!AC) return "none";
				ac = new AC();
			}
			if (ac.state === "suspended") ac.resume();
			if (op === "beep") {
				const t = ac.currentTime;
				for (const [f, at] of [[880, 0], [660, 0.22]]) {
					const o = ac.createOscillator(), g = ac.createGain();
					o.type = "square";
					o.frequency.value = f;
					g.gain.setValueAtTime(0.0001, t + at);
					g.gain.exponentialRampToValueAtTime(0.25, t + at + 0.02);
					g.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.2);
					o.connect(g).connect(ac.destination);
					o.start(t + at);
					o.stop(t + at + 0.21);
				}
			}
			if (op === "sos") {
				const t = ac.currentTime;
				for (const at of [0, 0.3, 0.6]) {
					const o = ac.createOscillator(), g = ac.createGain();
					o.type = "sawtooth";
					o.frequency.setValueAtTime(700, t + at);
					o.frequency.exponentialRampToValueAtTime(1500, t + at + 0.25);
					g.gain.setValueAtTime(0.0001, t + at);
					g.gain.exponentialRampToValueAtTime(0.4, t + at + 0.02);
					g.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.27);
					o.connect(g).connect(ac.destination);
					o.start(t + at);
					o.stop(t + at + 0.28);
				}
			}
			return ac.state;
		} catch (e) {
			return "error: " + e;
		}
	};
})()`

func (a *alarm) init() {
	win := app.Window()
	if !win.Truthy() || !win.Get("Function").Truthy() {
		return // host tests, the server's pre-render
	}
	a.js = win.Get("Function").New("return " + alarmJS).Invoke()
	a.stats = win.Get("Object").New()
	win.Set("kuaifanAlarm", a.stats)
}

// unlock runs within a person's click: the audio may start.
func (a *alarm) unlock() {
	if a.js != nil {
		a.stats.Set("state", a.js.Invoke("unlock").String())
	}
}

// tick runs once a second: unless muted, the siren at every tick while an
// SOS stands, else a beep every two seconds while an alert does.
func (a *alarm) tick(now time.Time, alerts, sos int, muted bool) {
	if a.js == nil {
		return
	}
	a.stats.Set("alerts", alerts)
	a.stats.Set("sos", sos)
	a.stats.Set("muted", muted)
	op, every := "beep", 2*time.Second
	if sos > 0 {
		op, every = "sos", 900*time.Millisecond // the ticker's second, give or take
	}
	if muted || alerts+sos == 0 || now.Sub(a.last) < every {
		return
	}
	a.last = now
	a.beeps++
	if op == "sos" {
		a.sosBeeps++
		a.stats.Set("sosBeeps", a.sosBeeps)
	}
	a.stats.Set("state", a.js.Invoke(op).String())
	a.stats.Set("beeps", a.beeps)
}
