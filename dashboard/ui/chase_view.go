package ui

import (
	"cmp"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// The chase on the page: the sighting form over the map (#sighting-form)
// and the cameras layer's button. The offer's card is the incident
// panel's (incidents.go); the pursuit is drawn on the canvas (scene.go).

// MapChase is what the map's elements show of the chase; the page hands it
// to the MapView as a prop, which go-app compares: the form re-renders when
// its state, the cameras or the incident's place change.
type MapChase struct {
	Form      SightingForm
	Cameras   int
	CamerasOn bool
	At        LatLon // the incident's current place, while the form is open
}

// MapChase is the chase's part of the map as it is now.
func (c *Console) MapChase() MapChase {
	m := MapChase{Form: c.Sighting, Cameras: len(c.Store.Cameras), CamerasOn: c.Scene.CamerasOn}
	if c.Sighting.Open {
		if inc := c.Store.Incident(c.Sighting.Incident); inc != nil {
			m.At = LatLon{Lat: inc.Lat, Lon: inc.Lon}
		}
	}
	return m
}

// sightingForm is the form over the map: where (a click on the map or on a
// camera fills it; it may be typed), seen by whom, which camera (the
// nearest to the incident first), a note; Report and Cancel. Esc cancels
// too. On a narrow screen it sits at the bottom of the map.
func (m *MapView) sightingForm(ch MapChase) app.UI {
	c := m.Ctl.C
	f := ch.Form
	lang := m.Lang
	incName := f.Incident
	if inc := c.Store.Incident(f.Incident); inc != nil {
		incName = IncidentName(lang, inc)
	}
	var cams []CameraChoice
	if ch.Cameras > 0 {
		cams = CameraChoices(c.Store.Cameras, ch.At.Lat, ch.At.Lon, f.Camera)
	}
	return app.Form().ID("sighting-form").Class("card", "form", "sighting-form").
		DataSet("incident", f.Incident).DataSet("camera", f.Camera).DataSet("busy", f.Busy).
		OnSubmit(m.onSightSubmit).Body(
		app.Div().Class("sighting-head").Body(
			app.Span().Class("title").Text(T(lang, "sight.title")),
			app.Small().Class("id").Text(incName),
		),
		app.P().ID("sighting-hint").Class("hint").Text(T(lang, "sight.hint")),
		app.Div().Class("grid2").Body(
			app.Div().Body(
				app.Label().For("sighting-lat").Text(T(lang, "sight.lat")),
				app.Input().ID("sighting-lat").Type("text").Attr("inputmode", "decimal").Attr("autocomplete", "off").
					Value(f.Lat).OnInput(m.onSightLat),
			),
			app.Div().Body(
				app.Label().For("sighting-lon").Text(T(lang, "sight.lon")),
				app.Input().ID("sighting-lon").Type("text").Attr("inputmode", "decimal").Attr("autocomplete", "off").
					Value(f.Lon).OnInput(m.onSightLon),
			),
			app.Div().Body(
				app.Label().For("sighting-source").Text(T(lang, "sight.source")),
				app.Select().ID("sighting-source").OnChange(m.onSightSource).Body(
					app.Range(SightingSources).Slice(func(i int) app.UI {
						s := SightingSources[i]
						return app.Option().Value(s).Selected(s == f.Source).Text(T(lang, "chase.src."+s))
					}),
				),
			),
			app.If(len(cams) > 0, func() app.UI {
				return app.Div().Body(
					app.Label().For("sighting-camera").Text(T(lang, "sight.camera")),
					app.Select().ID("sighting-camera").OnChange(m.onSightCamera).Body(
						app.Option().Value("").Selected(f.Camera == "").Text(T(lang, "sight.camera.none")),
						app.Range(cams).Slice(func(i int) app.UI {
							cm := cams[i]
							return app.Option().Value(cm.ID).Selected(cm.ID == f.Camera).
								Text(cmp.Or(cm.Name, cm.ID) + " · " + FormatDistance(lang, cm.DistM))
						}),
					),
				)
			}),
		),
		app.Label().For("sighting-note").Text(T(lang, "sight.note")),
		app.Input().ID("sighting-note").Type("text").MaxLength(MaxNote).Attr("autocomplete", "off").
			Value(f.Note).OnInput(m.onSightNote),
		maybe(f.Err != "", app.P().ID("sighting-error").Class("error").Text(f.Err)),
		app.Div().Class("buttons").Body(
			app.Button().ID("sighting-submit").Type("submit").Class("primary").Disabled(f.Busy).Text(T(lang, "sight.submit")),
			app.Button().ID("sighting-cancel").Type("button").Class("ghost").Text(T(lang, "inc.cancel")).OnClick(m.onSightCancel),
		),
	)
}

func (m *MapView) onSightSubmit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	m.Ctl.ReportSighting()
}

func (m *MapView) onSightLat(ctx app.Context, e app.Event) {
	m.Ctl.C.TypeSightingCoords(ctx.JSSrc().Get("value").String(), m.Ctl.C.Sighting.Lon)
}

func (m *MapView) onSightLon(ctx app.Context, e app.Event) {
	m.Ctl.C.TypeSightingCoords(m.Ctl.C.Sighting.Lat, ctx.JSSrc().Get("value").String())
}

func (m *MapView) onSightSource(ctx app.Context, e app.Event) {
	m.Ctl.C.SetSightingSource(ctx.JSSrc().Get("value").String())
}

func (m *MapView) onSightCamera(ctx app.Context, e app.Event) {
	m.Ctl.C.PickCamera(ctx.JSSrc().Get("value").String())
}

func (m *MapView) onSightNote(ctx app.Context, e app.Event) {
	m.Ctl.C.Sighting.Note = ctx.JSSrc().Get("value").String()
}

func (m *MapView) onSightCancel(ctx app.Context, e app.Event) { m.Ctl.C.CancelSighting() }

func (m *MapView) onCameras(ctx app.Context, e app.Event) { m.Ctl.C.ToggleCameras() }

// cameraIcon is the cameras layer's button face (SVG: the machines here
// may have no emoji font).
func cameraIcon() app.UI {
	return svgEl("svg").Attr("viewBox", "0 0 24 24").Attr("width", "18").Attr("height", "18").Aria("hidden", "true").Body(
		svgEl("path").Attr("d", "M3 8h4l2-3h6l2 3h4v11H3z").Attr("fill", "none").Attr("stroke", "currentColor").
			Attr("stroke-width", "1.8").Attr("stroke-linejoin", "round"),
		svgEl("circle").Attr("cx", "12").Attr("cy", "13").Attr("r", "3.5").Attr("fill", "none").
			Attr("stroke", "currentColor").Attr("stroke-width", "1.8"),
	)
}
