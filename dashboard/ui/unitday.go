package ui

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"kuaifan/protocol/api"
)

// A unit's day on the map: its track from 00:00 to 24:00 (local time)
// coloured by speed, the stops it made, the incidents it was sent to that
// day; beside the map the figures, the stops and the incidents (a click
// centres the map), and the track's export as GPX or GeoJSON.

// UnitDayState is the unit's-day screen's state.
type UnitDayState struct {
	Unit    string
	Day     time.Time // local midnight of the day shown
	Loading bool
	Err     string
	// IncNote says why the day's incidents are not listed (a hub without
	// the search, or its error); empty when they are.
	IncNote   string
	Track     []api.TrackPoint
	Summary   DaySummary
	Incidents []api.ArchiveRow
	Map       *PastMap
	Saving    string // the export being fetched ("gpx", "geojson"), "" if none
	SaveErr   string

	rev uint64 // bumped when the view must re-render
}

func (st *UnitDayState) bump() { st.rev++ }

// Window is the day in Unix ms: [from, to).
func (st *UnitDayState) Window() (from, to int64) { return DayBounds(st.Day) }

// OpenUnitDay shows a unit's day (day's date, in local time), loading it.
func (ct *Controller) OpenUnitDay(unit string, day time.Time) {
	c := ct.C
	y, m, d := day.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.Local)
	st := &UnitDayState{Unit: unit, Day: midnight}
	st.Map = NewPastMap(c, NewStore(), Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180})
	c.UnitDay = st
	c.ShowScreen(ScreenUnitDay)
	ct.loadUnitDay(st)
}

// loadUnitDay fetches the day's track and incidents.
func (ct *Controller) loadUnitDay(st *UnitDayState) {
	st.Loading, st.Err, st.IncNote = true, "", ""
	st.bump()
	unit := st.Unit
	from, to := st.Window()
	var pts []api.TrackPoint
	var page api.ArchivePage
	var incErr error
	ct.call(func(ctx context.Context, a *API) error {
		var err error
		if pts, err = a.UnitDayTrack(ctx, unit, from, to-1); err != nil {
			return err
		}
		page, incErr = a.UnitIncidents(ctx, unit, from, to)
		if errors.Is(incErr, ErrUnauthorized) {
			return incErr
		}
		return nil
	}, func(err error) {
		if ct.C.UnitDay != st || st.Unit != unit {
			return
		}
		if f, _ := st.Window(); f != from {
			return // another day was asked for meanwhile
		}
		st.Loading = false
		st.bump()
		if err != nil {
			st.Err = Tf(ct.C.Lang, "unitday.err", err.Error())
			return
		}
		var apiErr *APIError
		switch {
		case errors.As(incErr, &apiErr) && apiErr.Status == http.StatusNotFound:
			st.IncNote = T(ct.C.Lang, "unitday.inc.nosearch")
		case incErr != nil:
			st.IncNote = Tf(ct.C.Lang, "unitday.inc.err", incErr.Error())
		}
		st.install(ct.C, pts, page.Incidents)
	})
}

// install puts a loaded day on the map.
func (st *UnitDayState) install(c *Console, pts []api.TrackPoint, incs []api.ArchiveRow) {
	st.Track, st.Incidents = pts, incs
	st.Summary = SummariseDay(pts)
	s := NewStore()
	box := Box{MinLat: 90, MaxLat: -90, MinLon: 180, MaxLon: -180}
	add := func(lat, lon float64) {
		box.MinLat, box.MaxLat = min(box.MinLat, lat), max(box.MaxLat, lat)
		box.MinLon, box.MaxLon = min(box.MinLon, lon), max(box.MaxLon, lon)
	}
	for i := range pts {
		add(pts[i].Lat, pts[i].Lon)
	}
	for i := range incs {
		inc := archiveIncident(&incs[i])
		s.Incidents[inc.ID] = inc // drawn alike, open or closed
		add(inc.Lat, inc.Lon)
	}
	var nowMS int64
	if n := len(pts); n > 0 {
		// The unit where the day's track ends, as it was then.
		last := pts[n-1]
		c.Lock()
		unit := Unit{ID: st.Unit}
		if u := c.Store.Units[st.Unit]; u != nil {
			unit = u.Unit
		}
		c.Unlock()
		unit.Status, unit.Online = last.Status, true
		unit.Lat, unit.Lon, unit.TS = &last.Lat, &last.Lon, &last.TS
		unit.SpeedMPS, unit.HeadingDeg = nil, nil
		us := &UnitState{District: -1}
		us.set(&unit, nil)
		s.Units[st.Unit] = us
		nowMS = last.TS
	}
	marks := make([]SceneMark, len(st.Summary.Stops))
	for i, sp := range st.Summary.Stops {
		marks[i] = SceneMark{LatLon: LatLon{Lat: sp.Lat, Lon: sp.Lon}, Colour: colWhite,
			Label: FormatClock(sp.Start, nil) + " · " + FormatAge(c.Lang, sp.Duration())}
	}
	p := st.Map
	p.Lock()
	s.Districts, s.Cameras, s.cameraIndex = p.Store.Districts, p.Store.Cameras, p.Store.cameraIndex
	p.Store = s
	p.NowMS = nowMS
	p.Scene.SelUnit = st.Unit
	p.Scene.Paths, p.Scene.Marks = st.Summary.Paths, marks
	p.Fit, p.fitted = box, false
	v := p.Scene.View
	p.Unlock()
	if v.W > 0 && v.H > 0 {
		p.Resize(v.W, v.H)
	}
	p.Dirty()
}

// SetUnitDay shows another day of the same unit.
func (ct *Controller) SetUnitDay(day time.Time) {
	st := ct.C.UnitDay
	if st == nil {
		return
	}
	st.Day = day
	ct.loadUnitDay(st)
}

// ExportUnitDay fetches the day's track as GPX or GeoJSON in the session
// and hands it to the browser as a download (SaveFile: a failed fetch is
// said on the screen rather than saved as a file).
func (ct *Controller) ExportUnitDay(format string) {
	st := ct.C.UnitDay
	if st == nil || st.Saving != "" {
		return
	}
	from, to := st.Window()
	unit := st.Unit
	name := unit + "-" + st.Day.Format("2006-01-02") + "." + format
	mime := "application/gpx+xml"
	if format == "geojson" {
		mime = "application/geo+json"
	}
	st.Saving, st.SaveErr = format, ""
	st.bump()
	var data []byte
	ct.call(func(ctx context.Context, a *API) (err error) {
		data, err = a.Raw(ctx, TrackPath(unit, from, to-1, format), 2*Timeout)
		return err
	}, func(err error) {
		st.Saving = ""
		st.bump()
		if err == nil {
			err = saveDownload(name, mime, data)
		}
		if err != nil {
			st.SaveErr = Tf(ct.C.Lang, "unitday.export.err", err.Error())
		}
	})
}

// UnitDayView is the unit's-day screen.
type UnitDayView struct {
	app.Compo
	Ctl *Controller

	ctx      app.Context
	mounted  bool
	seenRev  uint64
	seenLang Lang
	seenSt   *UnitDayState
}

// OnMount hooks the view to the map's frame loop: it re-renders when the
// state changes (a load ends) or the language does.
func (v *UnitDayView) OnMount(ctx app.Context) {
	v.ctx, v.mounted = ctx, true
	v.hook()
}

// OnDismount unhooks it.
func (v *UnitDayView) OnDismount() {
	if v.seenSt != nil {
		v.seenSt.Map.Tick = nil
	}
	v.seenSt, v.mounted = nil, false
}

func (v *UnitDayView) hook() {
	st := v.Ctl.C.UnitDay
	if st == nil || st == v.seenSt || !v.mounted {
		return
	}
	if v.seenSt != nil {
		v.seenSt.Map.Tick = nil
	}
	v.seenSt = st
	st.Map.Tick = func(time.Time) {
		if !v.mounted || v.Ctl.C.UnitDay != st {
			return
		}
		if st.rev != v.seenRev || v.Ctl.C.Lang != v.seenLang {
			v.seenRev, v.seenLang = st.rev, v.Ctl.C.Lang
			v.ctx.Update()
		}
	}
}

// Render draws the screen.
func (v *UnitDayView) Render() app.UI {
	c := v.Ctl.C
	lang := c.Lang
	st := c.UnitDay
	v.seenLang = lang
	if st == nil {
		return app.Main().ID("view-unitday").Class("view", "view-unitday").Body(
			app.P().Class("empty").Text(T(lang, "unitday.none")),
			app.Button().ID("unitday-back").Class("ghost").Text(T(lang, "replay.back")).OnClick(v.onBack),
		)
	}
	v.seenRev = st.rev
	v.hook()
	sum := &st.Summary
	loaded := !st.Loading && st.Err == ""
	from, to := st.Window()
	return app.Main().ID("view-unitday").Class("view", "view-unitday").DataSet("unit", st.Unit).
		DataSet("loaded", loaded).Body(
		app.Header().Class("past-head").Body(
			app.Button().ID("unitday-back").Class("ghost").Text("← "+T(lang, "replay.back")).OnClick(v.onBack),
			app.H2().ID("unitday-title").Text(T(lang, "unitday.title")),
			app.Span().Class("past-what").Text(c.Store.UnitName(st.Unit)+" · "+st.Unit),
			app.Label().For("unitday-date").Text(T(lang, "unitday.date")),
			app.Input().ID("unitday-date").Type("date").Value(st.Day.Format("2006-01-02")).OnChange(v.onDate),
			app.Button().ID("unitday-gpx").Class("ghost").Disabled(st.Saving != "" || !loaded).
				DataSet("path", TrackPath(st.Unit, from, to-1, "gpx")).
				Text(T(lang, "unitday.export.gpx")).OnClick(v.onExport("gpx")),
			app.Button().ID("unitday-geojson").Class("ghost").Disabled(st.Saving != "" || !loaded).
				DataSet("path", TrackPath(st.Unit, from, to-1, "geojson")).
				Text(T(lang, "unitday.export.geojson")).OnClick(v.onExport("geojson")),
			maybe(st.Loading, app.Span().ID("unitday-loading").Class("busy").Text(T(lang, "replay.loading"))),
			maybe(st.Saving != "", app.Span().Class("busy").Text(T(lang, "unitday.saving"))),
			maybe(st.Err != "", app.Span().ID("unitday-error").Class("error").Text(st.Err)),
			maybe(st.SaveErr != "", app.Span().ID("unitday-save-error").Class("error").Text(st.SaveErr)),
		),
		app.Div().Class("past-body").Body(
			app.Div().Class("past-map").Body(
				&MapView{Ctl: v.Ctl, Lang: lang, Past: st.Map},
				speedLegend(lang),
			),
			app.Aside().Class("past-side").Body(
				app.Dl().ID("unitday-figures").Class("past-figures").Body(
					app.Dt().Text(T(lang, "unitday.distance")),
					app.Dd().ID("unitday-distance").Text(FormatDistance(lang, sum.DistanceM)),
					app.Dt().Text(T(lang, "unitday.moving")),
					app.Dd().ID("unitday-moving").Text(FormatAge(lang, sum.Moving)),
					app.Dt().Text(T(lang, "unitday.points")),
					app.Dd().ID("unitday-points").DataSet("n", sum.Points).Text(strconv.Itoa(sum.Points)),
				),
				app.If(loaded && sum.Points == 0, func() app.UI {
					return app.P().ID("unitday-empty").Class("empty").Text(T(lang, "unitday.notrack"))
				}),
				app.H3().Text(Tf(lang, "unitday.stops", len(sum.Stops))),
				app.Ul().ID("unitday-stops").Class("past-list").Body(
					app.Range(sum.Stops).Slice(func(i int) app.UI {
						sp := sum.Stops[i]
						return app.Li().Body(app.Button().Class("unitday-stop").DataSet("t", sp.Start).
							OnClick(v.centre(sp.Lat, sp.Lon), app.EventScope("stop"+strconv.FormatInt(sp.Start, 10))).Body(
							app.Span().Class("when").Text(FormatClock(sp.Start, nil)),
							app.Span().Class("detail").Text(Tf(lang, "unitday.stop", FormatAge(lang, sp.Duration()))),
						))
					}),
				),
				app.H3().Text(Tf(lang, "unitday.incidents", len(st.Incidents))),
				maybe(st.IncNote != "", app.P().ID("unitday-incnote").Class("empty").Text(st.IncNote)),
				app.Ul().ID("unitday-incidents").Class("past-list").Body(
					app.Range(st.Incidents).Slice(func(i int) app.UI {
						r := st.Incidents[i]
						return app.Li().Body(app.Button().Class("unitday-incident").DataSet("id", r.ID).
							OnClick(v.centre(r.Lat, r.Lon), app.EventScope("inc"+r.ID)).Body(
							app.Span().Class("badge", "p"+strconv.Itoa(r.Priority)).Text(Tf(lang, "inc.p", r.Priority)),
							app.Span().Class("when").Text(FormatClock(r.Created, nil)),
							app.Span().Class("detail").Text(KindName(lang, r.Kind)+" · "+r.ID),
						))
					}),
				),
			),
		),
	)
}

// speedLegend explains the track's colours.
func speedLegend(lang Lang) app.UI {
	labels := []string{
		Tf(lang, "unitday.speed.below", int(SpeedBounds[0])),
		Tf(lang, "unitday.speed.between", int(SpeedBounds[0]), int(SpeedBounds[1])),
		Tf(lang, "unitday.speed.between", int(SpeedBounds[1]), int(SpeedBounds[2])),
		Tf(lang, "unitday.speed.above", int(SpeedBounds[2])),
	}
	return app.Div().ID("unitday-legend").Class("legend", "speed-legend").Body(
		app.Range(labels).Slice(func(i int) app.UI {
			return app.Span().Class("lg").Body(
				app.Span().Class("swatch").Style("background", Palette[SpeedColours[i]]),
				app.Text(labels[i]),
			)
		}),
		app.Span().Class("lg").Body(app.Span().Class("swatch", "stop"), app.Text(T(lang, "unitday.stop.legend"))),
	)
}

func (v *UnitDayView) centre(lat, lon float64) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if st := v.Ctl.C.UnitDay; st != nil {
			st.Map.CenterOn(lat, lon)
		}
	}
}

func (v *UnitDayView) onDate(ctx app.Context, e app.Event) {
	d, err := time.ParseInLocation("2006-01-02", ctx.JSSrc().Get("value").String(), time.Local)
	if err != nil {
		return
	}
	v.Ctl.SetUnitDay(d)
}

func (v *UnitDayView) onExport(format string) app.EventHandler {
	return func(ctx app.Context, e app.Event) { v.Ctl.ExportUnitDay(format) }
}

func (v *UnitDayView) onBack(ctx app.Context, e app.Event) { v.Ctl.C.ShowScreen(ScreenLive) }
