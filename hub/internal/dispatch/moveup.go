package dispatch

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// MaxMoveUpNote bounds a move-up's note to the officer, in bytes.
const MaxMoveUpNote = 512

// Move-ups: a dispatcher sends a free unit to a place to cover it (the
// command reposition). The unit stays free — matching ranks it, dispatch
// may send it anywhere — and its move-up ends when it reports arriving
// (an arrived event naming the move-up), when it is dispatched (the agent
// drops a move-up on a dispatch), or when a dispatcher withdraws it (a
// cancel naming the move-up). Move-ups are kept in memory only: after a
// restart of the hub a unit still on its way finishes it unseen.

// Reposition sends a free unit to lat, lon (api.RepositionRequest), replacing
// a move-up it is already on. ErrNotFound: no such unit; ErrInvalid: a bad
// place or note; ErrConflict: the unit is not free (offline, assigned, not
// available) or hears no commands (a phone app).
func (d *Dispatcher) Reposition(unit string, req api.RepositionRequest, actor string) (api.Reposition, error) {
	note := strings.TrimSpace(req.Note)
	switch {
	case !protocol.ValidLatLon(req.Lat, req.Lon):
		return api.Reposition{}, fmt.Errorf("%w: lat %v, lon %v is not a place", ErrInvalid, req.Lat, req.Lon)
	case len(note) > MaxMoveUpNote:
		return api.Reposition{}, fmt.Errorf("%w: note: longer than %d bytes", ErrInvalid, MaxMoveUpNote)
	case !utf8.ValidString(note) || strings.ContainsFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }):
		return api.Reposition{}, fmt.Errorf("%w: note: not printable UTF-8 text", ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.fleet.Get(unit)
	switch {
	case !ok:
		return api.Reposition{}, fmt.Errorf("%w: no unit %q", ErrNotFound, unit)
	case d.busy[unit] != "":
		return api.Reposition{}, fmt.Errorf("%w: unit %s is assigned to %s", ErrConflict, unit, d.busy[unit])
	case !v.Online:
		return api.Reposition{}, fmt.Errorf("%w: unit %s is offline", ErrConflict, unit)
	case v.Status != protocol.StatusAvailable:
		return api.Reposition{}, fmt.Errorf("%w: unit %s is %s, not available", ErrConflict, unit, v.Status)
	case !d.commandable(unit):
		return api.Reposition{}, fmt.Errorf("%w: unit %s reports by a phone app and hears no commands", ErrConflict, unit)
	case !carriesMoveUps(v.Agent):
		return api.Reposition{}, fmt.Errorf("%w: unit %s runs %s, which drops move-ups: kuaifan-agent/%s or later carries them out",
			ErrConflict, unit, v.Agent, moveUpAgent)
	}
	now := d.cfg.Now()
	id, err := newMoveUpID(now.In(d.cfg.Location))
	if err != nil {
		return api.Reposition{}, err
	}
	rep := api.Reposition{ID: id, Lat: req.Lat, Lon: req.Lon, Note: note, By: actor, Sent: now.UnixMilli()}
	cmd := protocol.Command{ID: newCommandID(), TS: now.UnixMilli(), Type: protocol.CmdReposition, Incident: id,
		Lat: ptr(req.Lat), Lon: ptr(req.Lon), Summary: note}
	out := outbox{commands: []command{{unit, cmd}}}
	if err := d.flush(&out); err != nil {
		return api.Reposition{}, err
	}
	if prev := d.moveups[unit]; prev != nil {
		d.m.moveups.WithLabelValues("replaced").Inc()
	}
	d.moveups[unit] = &rep
	d.m.moveups.WithLabelValues("sent").Inc()
	_ = d.fleet.SetReposition(unit, &rep)
	d.log.Info("dispatch: move-up sent", "unit", unit, "moveup", id, "lat", req.Lat, "lon", req.Lon, "by", actor)
	return rep, nil
}

// WithdrawReposition ends a unit's move-up: the unit gets a cancel naming
// it. ErrNotFound: the unit is on none.
func (d *Dispatcher) WithdrawReposition(unit, actor string) (api.Reposition, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rep := d.moveups[unit]
	if rep == nil {
		return api.Reposition{}, fmt.Errorf("%w: unit %q is on no move-up", ErrNotFound, unit)
	}
	now := d.cfg.Now()
	out := outbox{commands: []command{{unit, protocol.Command{ID: newCommandID(), TS: now.UnixMilli(),
		Type: protocol.CmdCancel, Incident: rep.ID}}}}
	if err := d.flush(&out); err != nil {
		return api.Reposition{}, err
	}
	d.endMoveUp(unit, "withdrawn")
	d.log.Info("dispatch: move-up withdrawn", "unit", unit, "moveup", rep.ID, "by", actor)
	return *rep, nil
}

// Repositions returns the move-ups under way, by unit.
func (d *Dispatcher) Repositions() map[string]api.Reposition {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]api.Reposition, len(d.moveups))
	for u, r := range d.moveups {
		out[u] = *r
	}
	return out
}

// onMoveUpEvent is a unit's answer about a move-up: it arrived (or turned
// it down). An answer about another move-up than the unit's is old news.
func (d *Dispatcher) onMoveUpEvent(e protocol.Event) {
	rep := d.moveups[e.Unit]
	if rep == nil || rep.ID != e.Incident {
		d.log.Debug("dispatch: event about a move-up the unit is not on", "unit", e.Unit, "moveup", e.Incident, "type", e.Type)
		return
	}
	switch e.Type {
	case protocol.EventArrived:
		d.log.Info("dispatch: move-up arrived", "unit", e.Unit, "moveup", rep.ID,
			"after_s", (e.TS-rep.Sent)/1000)
		d.endMoveUp(e.Unit, "arrived")
	case protocol.EventDecline:
		d.log.Info("dispatch: move-up declined", "unit", e.Unit, "moveup", rep.ID, "reason", e.Reason)
		d.endMoveUp(e.Unit, "declined")
	}
}

// endMoveUp forgets a unit's move-up; d.mu is held.
func (d *Dispatcher) endMoveUp(unit, how string) {
	if d.moveups[unit] == nil {
		return
	}
	delete(d.moveups, unit)
	d.m.moveups.WithLabelValues(how).Inc()
	_ = d.fleet.SetReposition(unit, nil) // a unit revoked meanwhile has no view
}

// moveUpAgent is the first version of kuaifan's agent that carries out a
// reposition; an older one drops the command at decoding.
const moveUpAgent = "1.1"

// carriesMoveUps reports whether the software a unit named can carry out a
// move-up: kuaifan's agent from moveUpAgent on; anything else (another
// client, or none named since the hub started) is given the benefit of the
// doubt.
func carriesMoveUps(agent string) bool {
	v, ok := strings.CutPrefix(agent, "kuaifan-agent/")
	if !ok {
		return true
	}
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return true // a development build's own version string
	}
	return major > 1 || major == 1 && minor >= 1
}

// newMoveUpID is "mu-YYYYMMDD-" and 8 random hex digits: unique without
// a counter to keep across restarts.
func newMoveUpID(now time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("dispatch: move-up id: %w", err)
	}
	return api.MoveUpPrefix + now.Format("20060102") + "-" + hex.EncodeToString(b[:]), nil
}
