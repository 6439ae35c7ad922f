package dispatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// An incident closed more than a day ago is only in the store; reopening
// reads it back, and it is then open like any other: listed, dispatched,
// stored, closed again.
func TestReopenFromStore(t *testing.T) {
	r := newRig(t)
	r.place("car-1", protocol.TypeCar, 0.003, 0)
	id := r.create("theft", 3).ID
	if _, err := r.d.Assign(id, "car-1", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.event("car-1", protocol.EventArrived, id)
	r.event("car-1", protocol.EventCleared, id)
	if inc := r.get(id); inc.Status != StatusClosed || inc.Figures.ToCloseS == nil {
		t.Fatalf("not closed: %+v", inc)
	}

	r.clock.Advance(25 * time.Hour)
	r.restart()
	for _, inc := range r.d.List(true) {
		if inc.ID == id {
			t.Fatal("closed a day ago and still in memory")
		}
	}
	r.place("car-1", protocol.TypeCar, 0.003, 0)
	r.heard(id)
	inc, err := r.d.Reopen(id, ActorDispatcher, "  the suspect is back  ")
	if err != nil {
		t.Fatal(err)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if inc.Status != StatusOpen || inc.Closed != 0 || inc.Figures.ToCloseS != nil || inc.Figures.ToArrivalS == nil || inc.Uncovered {
		t.Errorf("reopened: %+v", inc)
	}
	if last.Type != api.EntryReopened || last.Actor != ActorDispatcher || last.Reason != api.ReasonReopened ||
		last.Params == nil || last.Params.Note != "the suspect is back" || last.Detail != "reopened by dispatcher: the suspect is back" {
		t.Errorf("reopened entry %+v %+v", last, last.Params)
	}
	if len(inc.Recommendations) != 1 || inc.Recommendations[0].Unit != "car-1" {
		t.Errorf("recommendations %+v", inc.Recommendations)
	}
	if !r.heard(id) {
		t.Error("OnChange did not hear of the reopening")
	}
	if open := r.d.List(false); len(open) != 1 || open[0].ID != id {
		t.Errorf("open incidents %+v", open)
	}

	// The same unit may go again.
	if _, err := r.d.Assign(id, "car-1", ActorDispatcher); err != nil {
		t.Fatalf("assign after reopening: %v", err)
	}
	r.restart()
	inc = r.get(id)
	if inc.Status != StatusDispatched || stateOf(inc, "car-1") != AssignDispatched || !hasEntry(inc, api.EntryReopened) {
		t.Fatalf("after a restart: %+v", inc)
	}
	r.event("car-1", protocol.EventAck, id)
	r.event("car-1", protocol.EventArrived, id)
	r.event("car-1", protocol.EventCleared, id)
	inc = r.get(id)
	if inc.Status != StatusClosed || inc.Figures.ToCloseS == nil || *inc.Figures.ToCloseS < 25*3600 {
		t.Errorf("closed again: %s, figures %+v", inc.Status, inc.Figures)
	}
	checkTimeline(t, inc)
}

func TestReopenAndCloseRefused(t *testing.T) {
	r := newRig(t)
	open := r.create("theft", 3).ID
	closed := r.create("theft", 3).ID
	if _, err := r.d.Close(closed, ActorDispatcher, ""); err != nil {
		t.Fatal(err)
	}
	entries := len(r.get(closed).Timeline)
	tests := []struct {
		name   string
		call   func() error
		reason error
	}{
		{"reopen unknown", func() error { _, err := r.d.Reopen("inc-nope", ActorDispatcher, "why"); return err }, ErrNotFound},
		{"reopen open", func() error { _, err := r.d.Reopen(open, ActorDispatcher, "why"); return err }, ErrConflict},
		{"reopen without reason", func() error { _, err := r.d.Reopen(closed, ActorDispatcher, ""); return err }, ErrInvalid},
		{"reopen with blanks", func() error { _, err := r.d.Reopen(closed, ActorDispatcher, " \t\n"); return err }, ErrInvalid},
		{"reopen with 513 bytes", func() error { _, err := r.d.Reopen(closed, ActorDispatcher, strings.Repeat("x", 513)); return err }, ErrInvalid},
		{"close with 513 bytes", func() error { _, err := r.d.Close(open, ActorDispatcher, strings.Repeat("x", 513)); return err }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.reason) {
				t.Errorf("error %v, want %v", err, tt.reason)
			}
		})
	}
	// Nothing refused changed anything.
	if inc := r.get(closed); inc.Status != StatusClosed || len(inc.Timeline) != entries {
		t.Errorf("refused reopenings changed it: %+v", inc)
	}
	if inc := r.get(open); inc.Status != StatusOpen {
		t.Errorf("a refused close closed it: %+v", inc)
	}
	// 512 bytes are enough.
	if _, err := r.d.Reopen(closed, ActorDispatcher, strings.Repeat("x", 512)); err != nil {
		t.Errorf("reopen with 512 bytes: %v", err)
	}
}

// A note on closing is the closed entry's; without one, there are no params.
func TestCloseNote(t *testing.T) {
	r := newRig(t)
	for _, note := range []string{"", "false alarm: the caller's phone was found"} {
		inc, err := r.d.Close(r.create("theft", 3).ID, ActorDispatcher, note)
		if err != nil {
			t.Fatal(err)
		}
		last := inc.Timeline[len(inc.Timeline)-1]
		if last.Type != api.EntryClosed || last.Reason != api.ReasonByPerson || (note == "") != (last.Params == nil) ||
			(note != "" && last.Params.Note != note) || !strings.HasPrefix(last.Detail, "closed by dispatcher") {
			t.Errorf("note %q: closed entry %+v %+v", note, last, last.Params)
		}
	}
}

func stateOf(inc Incident, unit string) string {
	if a := assignmentOf(&inc, unit); a != nil {
		return a.State
	}
	return ""
}

func hasEntry(inc Incident, typ string) bool {
	for _, e := range inc.Timeline {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// A unit sent to the same incident a second time: after a restart, the
// replay of its stored events must not apply the first assignment's answers
// to the second.
func TestReplaySkipsEarlierAssignment(t *testing.T) {
	tests := []struct {
		name  string
		first []protocol.EventType // the unit's answers to its first assignment
		again func(r *rig, id string)
	}{
		{"declined, then sent again", []protocol.EventType{protocol.EventDecline}, func(r *rig, id string) {}},
		{"cleared, reopened, sent again", []protocol.EventType{protocol.EventArrived, protocol.EventCleared}, func(r *rig, id string) {
			if _, err := r.d.Reopen(id, ActorDispatcher, "it started again"); err != nil {
				r.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.place("car-1", protocol.TypeCar, 0.003, 0)
			id := r.create("theft", 3).ID
			if _, err := r.d.Assign(id, "car-1", ActorDispatcher); err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.first {
				r.clock.Advance(time.Second)
				r.event("car-1", e, id)
			}
			tt.again(r, id)
			r.clock.Advance(time.Second)
			if _, err := r.d.Assign(id, "car-1", ActorDispatcher); err != nil {
				t.Fatal(err)
			}
			before := r.get(id)
			r.restart()
			after := r.get(id)
			if stateOf(after, "car-1") != AssignDispatched || len(after.Timeline) != len(before.Timeline) {
				t.Errorf("after a restart: car-1 %s, timeline %d entries, was %d", stateOf(after, "car-1"), len(after.Timeline), len(before.Timeline))
			}
			// Its next answer is the second assignment's.
			r.event("car-1", protocol.EventAck, id)
			if got := r.get(id); stateOf(got, "car-1") != AssignEnroute {
				t.Errorf("ack after the restart: car-1 %s", stateOf(got, "car-1"))
			}
		})
	}
}
