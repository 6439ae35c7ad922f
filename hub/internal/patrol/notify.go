package patrol

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"kuaifan/protocol"
	wire "kuaifan/protocol/patrol"
)

// Member is a unit as the notifier needs it.
type Member struct {
	ID     string
	Type   protocol.UnitType
	Online bool // connected: a command reaches it now
	// Commands: the unit hears commands (kuaifan's agent, not a phone app).
	Commands bool
}

// NotifierConfig wires a Notifier.
type NotifierConfig struct {
	Plans *Plans
	Units func() []Member
	// Send publishes a command on the unit's cmd topic.
	Send   func(unit string, cmd protocol.Command) error
	NewID  func() string // a command id
	Every  time.Duration // how often the tasks are looked at again; 15 s
	Now    func() time.Time
	Logger *slog.Logger
}

// Notifier sends every online unit its patrol tasks (the command tasks)
// whenever they change — a shift starts or ends, a checkpoint's window
// moves on, a plan is edited — and when the unit comes back online. It
// sends nothing to a unit that has had no task since the hub started and
// has none now.
type Notifier struct {
	cfg  NotifierConfig
	wake chan struct{}
	mu   sync.Mutex        // guards sent: Tick runs on Run's goroutine or a test's
	sent map[string]string // unit → the tasks last sent, encoded
}

// NewNotifier returns a notifier; Run starts it.
func NewNotifier(cfg NotifierConfig) *Notifier {
	if cfg.Every <= 0 {
		cfg.Every = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, wake: make(chan struct{}, 1), sent: make(map[string]string)}
}

// Poke asks for a round now (the plans changed). It never blocks.
func (n *Notifier) Poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run sends tasks every Every and after each Poke until ctx is done.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.Every)
	defer t.Stop()
	for {
		n.Tick()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		}
	}
}

// Tick is one round: each online unit whose tasks differ from what it was
// last sent gets them. It returns how many commands went out.
func (n *Notifier) Tick() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.cfg.Now()
	sent := 0
	for _, u := range n.cfg.Units() {
		if !u.Online || !u.Commands {
			delete(n.sent, u.ID) // sent again once it is back
			continue
		}
		cur, err := n.cfg.Plans.Tasks(u.ID, u.Type, now)
		if err != nil {
			n.cfg.Logger.Error("patrol: a unit's tasks", "unit", u.ID, "err", err)
			continue
		}
		tasks := Summaries(cur)
		key, _ := json.Marshal(tasks)
		last, had := n.sent[u.ID]
		if string(key) == last || (!had && len(tasks) == 0) {
			continue
		}
		cmd := protocol.Command{ID: n.cfg.NewID(), TS: now.UnixMilli(), Type: protocol.CmdTasks, Tasks: tasks}
		if err := n.cfg.Send(u.ID, cmd); err != nil {
			n.cfg.Logger.Warn("patrol: tasks not sent", "unit", u.ID, "err", err)
			continue
		}
		n.sent[u.ID] = string(key)
		sent++
	}
	return sent
}

// maxSummaryName clips a task's name in a command: 32 tasks with names
// of that length stay well inside a command's 16 KiB.
const maxSummaryName = 96

// Summaries turns a unit's tasks into what a tasks command carries: at most
// protocol.MaxTasks, the first ones by plan and the plan's order.
func Summaries(cur []PlanTask) []protocol.PatrolTask {
	out := make([]protocol.PatrolTask, 0, min(len(cur), protocol.MaxTasks))
	for _, c := range cur {
		if len(out) == protocol.MaxTasks {
			break
		}
		t := &c.Task
		s := protocol.PatrolTask{Plan: c.Plan, ID: t.ID, Kind: string(t.Kind), Name: clipUTF8(t.Name, maxSummaryName),
			Shift: c.Shift, ShiftStart: c.ShiftStart, ShiftEnd: c.ShiftEnd}
		switch t.Kind {
		case wire.KindPoint:
			s.Lat, s.Lon, s.RadiusM, s.DwellMin = t.Lat, t.Lon, t.RadiusM, t.DwellMin
			if c.Window != nil {
				s.From, s.To = c.Window.From, c.Window.To
			}
		case wire.KindLine:
			s.Lon, s.Lat = t.Route[0][0], t.Route[0][1]
			s.LengthM, s.CoverShare = wire.RouteLength(t.Route), t.CoverShare
		case wire.KindArea:
			for _, p := range t.Polygon {
				s.Lon += p[0] / float64(len(t.Polygon))
				s.Lat += p[1] / float64(len(t.Polygon))
			}
			s.MinPresenceMin = t.MinPresenceMin
		}
		out = append(out, s)
	}
	return out
}

// clipUTF8 shortens s to at most n bytes without cutting a character.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
