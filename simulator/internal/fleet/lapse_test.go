package fleet

import (
	"reflect"
	"testing"
	"time"

	"kuaifan/simulator/internal/city"
	"kuaifan/simulator/internal/journal"
)

// Lapses (additive, 2026-12): the units named lapse, keeping the beat they
// were given; every other unit moves exactly as in a fleet without lapses,
// so a plan's lapses change nothing else of a seeded run.
func TestLapses(t *testing.T) {
	c := city.Changsha()
	specs, err := Plan("sim", 40)
	if err != nil {
		t.Fatal(err)
	}
	secrets := make([]string, len(specs))
	for i := range secrets {
		secrets[i] = "pw"
	}
	lapses := map[string]bool{}
	for i := 0; i < len(specs); i += 5 {
		lapses[specs[i].ID] = true
	}
	build := func(l map[string]bool) *Fleet {
		f, err := New(Config{Broker: "tcp://127.0.0.1:1", TopicRoot: "rr", GPSInterval: time.Second, Officer: DefaultOfficerConfig(), Lapses: l},
			c, specs, secrets, 11, &journal.Journal{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.closeAgents)
		return f
	}
	plain, lapsing := build(nil), build(lapses)
	for i, u := range lapsing.Units() {
		p := plain.Units()[i]
		if u.Lapsing() != lapses[u.ID()] || u.mover.Lapsing() != lapses[u.ID()] || !reflect.DeepEqual(u.Beat(), p.Beat()) || u.Type() != specs[i].Type {
			t.Errorf("%s: lapsing %v, beat %+v; without lapses %+v", u.ID(), u.Lapsing(), u.Beat(), p.Beat())
		}
		if u.gpsSeed != p.gpsSeed {
			t.Errorf("%s: its GPS noise changed with the lapses", u.ID())
		}
		if lapses[u.ID()] {
			continue
		}
		for range 500 {
			a, _, _ := u.mover.Step(10 * time.Second)
			b, _, _ := p.mover.Step(10 * time.Second)
			if a != b {
				t.Fatalf("%s moves otherwise in a fleet with lapses: %v, %v", u.ID(), a, b)
			}
		}
	}
	if moved := lapsing.MovedUp(); len(moved) != 0 {
		t.Errorf("moved up: %v", moved)
	}
}
