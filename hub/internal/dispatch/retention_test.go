package dispatch

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"kuaifan/hub/internal/store"
)

// Closed incidents older than the retention are deleted, from the store and
// from memory; open ones and newer closed ones stay. A record that does not
// decode is skipped and reported, never a reason not to start.
func TestRetentionAndDamagedIncident(t *testing.T) {
	r := newRig(t)
	now := r.clock.Now()
	day := func(ago time.Duration) string { return now.Add(-ago).Format("20060102") }
	put := func(id, status string, closedAgo time.Duration) {
		inc := Incident{ID: id, Kind: "theft", Priority: 2, Status: status, Lat: siteLat, Lon: siteLon}
		if status == StatusClosed {
			inc.Closed = now.Add(-closedAgo).UnixMilli()
		}
		b, err := json.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.st.Put(map[string][]byte{keyPrefix + id: b}); err != nil {
			t.Fatal(err)
		}
	}
	const year = 365 * 24 * time.Hour
	old := "inc-" + day(400*24*time.Hour) + "-0001"
	oldOpen := "inc-" + day(400*24*time.Hour) + "-0002"
	oldClosedLate := "inc-" + day(400*24*time.Hour) + "-0003" // created long ago, closed within the year
	recent := "inc-" + day(30*24*time.Hour) + "-0001"
	put(old, StatusClosed, 399*24*time.Hour)
	put(oldOpen, StatusOpen, 0)
	put(oldClosedLate, StatusClosed, 100*24*time.Hour)
	put(recent, StatusClosed, 29*24*time.Hour)
	if err := r.st.Put(map[string][]byte{keyPrefix + "inc-" + day(time.Hour) + "-0009": []byte(`{"id":"inc-`)}); err != nil {
		t.Fatal(err)
	}

	r.restart() // loads them: the damaged one skipped and reported
	if n := r.st.Damaged(); n != 1 {
		t.Errorf("store damage = %d %v, want the one record", n, r.st.Damage())
	}
	if r.d.cfg.Retention != year {
		t.Fatalf("default retention %v", r.d.cfg.Retention)
	}
	r.d.prune()
	for id, kept := range map[string]bool{old: false, oldOpen: true, oldClosedLate: true, recent: true} {
		_, err := r.st.Get(keyPrefix + id)
		if gone := errors.Is(err, store.ErrNotFound); gone == kept {
			t.Errorf("%s: kept %v, want %v (%v)", id, !gone, kept, err)
		}
		if _, err := r.d.Get(id); (err == nil) != kept {
			t.Errorf("%s through the dispatcher: %v", id, err)
		}
	}
}
