package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"kuaifan/agent/internal/report"
	"kuaifan/protocol"
)

// stateFile holds what the officer and the hub changed, inside DataDir. It
// is small (≤ ~85 KB with a thousand command ids and 32 patrol tasks) and rewritten whole,
// atomically (temporary file, fsync, rename, fsync of the directory), on
// every change: a status, an assignment step, a batch of commands.
const stateFile = "agent-state.json"

// maxSummary is the longest summary a command may carry (protocol's bound),
// checked again on what the file gives back.
const maxSummary = 1024

// savedState is the file's content.
type savedState struct {
	V          int                   `json:"v"`
	Status     protocol.Status       `json:"status,omitempty"`
	Assignment *Assignment           `json:"assignment,omitempty"`
	Reposition *Reposition           `json:"reposition,omitempty"` // a move-up (additive, 2026-12)
	Tasks      []protocol.PatrolTask `json:"tasks,omitempty"`      // the latest tasks command's (additive, 2026-12), checked again on load
	Report     map[string]float64    `json:"report,omitempty"`     // the hub's config commands, merged
	Commands   []string              `json:"commands,omitempty"`   // ids handled, oldest first
}

// loadState reads the state file; a missing file is an empty state, and so
// is no directory (a simulated unit with MemoryQueue and no DataDir).
func loadState(dir string) (savedState, error) {
	var st savedState
	if dir == "" {
		return st, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return savedState{}, fmt.Errorf("%s: %w", stateFile, err)
	}
	if st.V != 1 {
		return savedState{}, fmt.Errorf("%s: version %d, want 1", stateFile, st.V)
	}
	return st, nil
}

// restore takes over a saved state, skipping what does not check out.
func (a *Agent) restore(st savedState) {
	a.status = protocol.StatusAvailable
	if st.Status.Valid() {
		a.status = st.Status
	}
	if as := st.Assignment; as != nil {
		switch {
		case !protocol.ValidIncidentID(as.Incident), !protocol.ValidLatLon(as.Lat, as.Lon),
			as.State != StateDispatched && as.State != StateEnroute && as.State != StateOnScene:
			a.log.Error("agent: saved assignment is invalid; dropped", "assignment", *as)
		default:
			a.assign = as
		}
	}
	if r := st.Reposition; r != nil {
		switch {
		case !protocol.ValidIncidentID(r.ID), !protocol.ValidLatLon(r.Lat, r.Lon),
			len(r.Summary) > maxSummary, !utf8.ValidString(r.Summary):
			a.log.Error("agent: saved reposition is invalid; dropped", "reposition", *r)
		case a.assign != nil:
			// Never written so (a dispatch drops the move-up): trust the
			// assignment, which the officer acts on.
			a.log.Error("agent: saved reposition beside an assignment; dropped", "move_up", r.ID, "incident", a.assign.Incident)
		default:
			a.repo = r
		}
	}
	a.restoreTasks(st.Tasks)
	a.policy = report.New(a.cfg.Report)
	if len(st.Report) > 0 {
		cfg, _, err := a.cfg.Report.Apply(st.Report)
		if err != nil {
			a.log.Error("agent: saved reporting config is invalid; using the configured one", "err", err)
		} else {
			_ = a.policy.SetConfig(cfg)
			a.overrides = st.Report
		}
	}
	for _, id := range st.Commands {
		a.seen.add(id)
	}
	if a.assign != nil {
		a.log.Info("agent: assignment restored", "incident", a.assign.Incident, "state", a.assign.State)
	}
	if a.repo != nil {
		a.log.Info("agent: move-up restored", "move_up", a.repo.ID)
	}
	if len(a.tasks) > 0 {
		a.log.Info("agent: patrol tasks restored", "n", len(a.tasks))
	}
}

// restoreTasks keeps the saved patrol tasks that pass the contract's rules
// (at most protocol.MaxTasks); each one that does not is dropped and
// logged, and the rest stay: one bad task is no reason to hide the others.
func (a *Agent) restoreTasks(saved []protocol.PatrolTask) {
	for i, t := range saved {
		if len(a.tasks) == protocol.MaxTasks {
			a.log.Error("agent: more saved patrol tasks than a command carries; the rest dropped", "saved", len(saved), "kept", len(a.tasks))
			return
		}
		if err := checkTask(t); err != nil {
			a.log.Error("agent: saved patrol task is invalid; dropped", "index", i, "task", t.Plan+"/"+t.ID, "err", err)
			continue
		}
		a.tasks = append(a.tasks, t)
	}
}

// checkTask checks one task as the command's decoder did. The contract's
// rules for a task are reachable only through a command, so it wraps the
// task in one.
func checkTask(t protocol.PatrolTask) error {
	return protocol.Command{ID: "saved", TS: 1, Type: protocol.CmdTasks, Tasks: []protocol.PatrolTask{t}}.Validate()
}

// saveLocked writes the state file. A failure is logged and counted: the
// unit keeps working from memory.
func (a *Agent) saveLocked() {
	if a.cfg.DataDir == "" {
		return // MemoryQueue without a directory: the state lives in memory only
	}
	st := savedState{V: 1, Status: a.status, Assignment: a.assign, Reposition: a.repo, Tasks: a.tasks,
		Report: a.overrides, Commands: a.seen.ids}
	if err := writeFileAtomic(a.cfg.DataDir, stateFile, st); err != nil {
		a.stats.saveErrors.Add(1)
		a.log.Error("agent: saving the state failed", "err", err)
	}
}

func writeFileAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
