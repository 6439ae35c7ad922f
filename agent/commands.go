package agent

import (
	"maps"
	"slices"
	"time"

	"kuaifan/protocol"
)

// rememberCommands is how many command ids the agent keeps to recognise a
// command delivered again: a QoS 1 redelivery, or the broker resending
// what was unacknowledged when the link dropped. Commands come a few a
// minute, so a thousand spans hours — far longer than a redelivery can lag.
const rememberCommands = 1000

// commandLog remembers the latest command ids, oldest first.
type commandLog struct {
	ids []string
	set map[string]struct{}
}

func (c *commandLog) has(id string) bool {
	_, ok := c.set[id]
	return ok
}

func (c *commandLog) add(id string) {
	if c.set == nil {
		c.set = make(map[string]struct{}, rememberCommands)
	}
	if c.has(id) {
		return
	}
	if len(c.ids) >= rememberCommands {
		delete(c.set, c.ids[0])
		c.ids = append(c.ids[:0], c.ids[1:]...)
	}
	c.ids = append(c.ids, id)
	c.set[id] = struct{}{}
}

// onCommands handles the hub's commands, on the link's goroutine. A command
// whose id was seen before is ignored. The ids are saved with the state
// they changed, in one atomic write per batch, so a restart neither
// re-handles a command nor forgets its effect (see agent/README.md).
func (a *Agent) onCommands(cmds []protocol.Command) {
	a.mu.Lock()
	now := a.cfg.Now()
	handled, changed := 0, false
	var moves []repositionNote
	for _, c := range cmds {
		if a.seen.has(c.ID) {
			a.stats.duplicates.Add(1)
			a.log.Info("agent: command seen before, ignored", "id", c.ID, "type", c.Type)
			continue
		}
		a.seen.add(c.ID)
		if a.commandLocked(c, now, &moves) {
			changed = true
		}
		handled++
	}
	if handled > 0 {
		a.stats.handled.Add(uint64(handled))
		a.saveLocked()
	}
	var as Assignment
	ok := a.assign != nil
	if ok {
		as = *a.assign
	}
	a.mu.Unlock()
	// The move-ups first: a dispatch that replaced one is then the last word.
	for _, m := range moves {
		a.notifyReposition(m.r, m.end)
	}
	if changed {
		a.notifyAssignment(as, ok)
	}
}

// repositionNote is one change of the reposition for Config.OnReposition.
type repositionNote struct {
	r   Reposition
	end RepositionEnd
}

// notifyReposition calls Config.OnReposition; never with a.mu held.
func (a *Agent) notifyReposition(r Reposition, end RepositionEnd) {
	if a.cfg.OnReposition != nil {
		a.cfg.OnReposition(r, end)
	}
}

// notifyAssignment calls Config.OnAssignment; never with a.mu held.
func (a *Agent) notifyAssignment(as Assignment, ok bool) {
	if a.cfg.OnAssignment != nil {
		a.cfg.OnAssignment(as, ok)
	}
}

// commandLocked carries out one command; it reports whether the assignment
// changed, and adds the reposition's changes to moves.
func (a *Agent) commandLocked(c protocol.Command, now time.Time, moves *[]repositionNote) bool {
	log := a.log.With("id", c.ID, "type", c.Type, "incident", c.Incident)
	switch c.Type {
	case protocol.CmdDispatch:
		if r := a.repo; r != nil {
			// A dispatch is what a move-up keeps the unit available for.
			log.Info("agent: dispatched while moving up; the move-up is dropped", "move_up", r.ID)
			*moves = append(*moves, repositionNote{*r, RepositionReplaced})
			a.repo = nil
		}
		if a.assign != nil && a.assign.Incident != c.Incident {
			// The hub assigns a unit one incident at a time; it is the
			// authority on which one.
			log.Warn("agent: dispatched elsewhere; the previous assignment is replaced", "previous", a.assign.Incident)
		}
		a.assign = &Assignment{Incident: c.Incident, Lat: *c.Lat, Lon: *c.Lon, Priority: c.Priority,
			Kind: c.Kind, Summary: c.Summary, State: StateDispatched, Received: now}
		log.Info("agent: dispatched", "lat", *c.Lat, "lon", *c.Lon, "priority", c.Priority, "kind", c.Kind)
		if a.cfg.AutoAck {
			a.ackLocked(now)
		}
		return true
	case protocol.CmdCancel:
		if r := a.repo; r != nil && r.ID == c.Incident {
			// No event: the status did not change, and the hub knows what
			// it withdrew.
			log.Info("agent: move-up withdrawn")
			*moves = append(*moves, repositionNote{*r, RepositionCancelled})
			a.repo = nil
			return false
		}
		if a.assign == nil || a.assign.Incident != c.Incident {
			log.Info("agent: cancel for an incident the unit is not on, ignored")
			return false
		}
		a.assign = nil
		a.status = protocol.StatusAvailable
		// No event answers a cancel, but the hub's view of the unit should
		// follow at once rather than with the next position.
		a.eventLocked(protocol.EventStatus, "", now)
		log.Info("agent: assignment cancelled")
		return true
	case protocol.CmdUpdateLocation:
		if a.assign == nil || a.assign.Incident != c.Incident {
			log.Info("agent: new location for an incident the unit is not on, ignored")
			return false
		}
		a.assign.Lat, a.assign.Lon = *c.Lat, *c.Lon
		if c.Priority != 0 {
			a.assign.Priority = c.Priority
		}
		if c.Kind != "" {
			a.assign.Kind = c.Kind
		}
		if c.Summary != "" {
			a.assign.Summary = c.Summary
		}
		log.Info("agent: incident moved", "lat", *c.Lat, "lon", *c.Lon)
		return true
	case protocol.CmdReposition:
		a.repositionLocked(c, now, log, moves)
	case protocol.CmdTasks:
		a.setTasksLocked(c.Tasks, log)
	case protocol.CmdConfig:
		if c.Secret != "" {
			a.secret.set(c.Secret) // logs without it
		}
		if len(c.Config) > 0 {
			a.configLocked(c.Config, log)
		}
	}
	return false
}

// repositionLocked takes a move-up: the unit's reposition from now on,
// replacing any other (one spot at a time; the same move-up id moves its
// spot). A unit with an assignment is not free: the move-up was meant for
// a unit the hub thought available, and the incident comes first.
func (a *Agent) repositionLocked(c protocol.Command, now time.Time, log interface {
	Warn(string, ...any)
	Info(string, ...any)
}, moves *[]repositionNote) {
	if a.assign != nil {
		log.Warn("agent: reposition while assigned; ignored", "assigned", a.assign.Incident, "state", a.assign.State)
		return
	}
	r := Reposition{ID: c.Incident, Lat: *c.Lat, Lon: *c.Lon, Summary: c.Summary, Received: now}
	switch old := a.repo; {
	case old == nil:
	case old.ID == r.ID:
		r.Received = old.Received // the same move-up, to another spot
	default:
		log.Info("agent: move-up replaced by another", "previous", old.ID)
		*moves = append(*moves, repositionNote{*old, RepositionReplaced})
	}
	a.repo = &r
	*moves = append(*moves, repositionNote{r, RepositionOn})
	log.Info("agent: moving up", "lat", r.Lat, "lon", r.Lon, "status", a.status)
}

// setTasksLocked takes a tasks command's list (additive, 2026-12): the
// unit's patrol tasks running now, replacing whatever it had (an empty
// list: no task now). Nothing answers it: the hub keeps the plans and
// judges compliance from the unit's track, not from the agent.
func (a *Agent) setTasksLocked(tasks []protocol.PatrolTask, log interface{ Info(string, ...any) }) {
	a.tasks = slices.Clone(tasks)
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.Plan + "/" + t.ID
	}
	log.Info("agent: patrol tasks", "n", len(tasks), "tasks", ids)
}

// configLocked applies a config command's reporting bounds: all of them or,
// if one is invalid, none. Unknown keys are logged and ignored.
func (a *Agent) configLocked(values map[string]float64, log interface {
	Warn(string, ...any)
	Info(string, ...any)
}) {
	cfg, unknown, err := a.policy.Config().Apply(values)
	for _, k := range unknown {
		log.Warn("agent: unknown config key ignored", "key", k, "value", values[k])
	}
	if err != nil {
		log.Warn("agent: config refused", "err", err)
		return
	}
	if err := a.policy.SetConfig(cfg); err != nil {
		log.Warn("agent: config refused", "err", err)
		return
	}
	if a.overrides == nil {
		a.overrides = make(map[string]float64)
	}
	for k, v := range values {
		if !slices.Contains(unknown, k) {
			a.overrides[k] = v
		}
	}
	log.Info("agent: reporting config changed", "config", maps.Clone(a.overrides))
}
