package dispatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

// The chase (additive, 2026-12): sightings with a note and a camera, the
// new place sent to each unit on its way on the timeline, the offer taken,
// dismissed, or withdrawn when its unit goes elsewhere.

// testCameras is a camera network somewhere else than the sightings that
// name its cameras: the hub records the place reported, not the camera's.
var testCameras = []api.Camera{
	{ID: "cs-tx-003", Name: "天心阁", Lat: 28.19, Lon: 112.98},
	{ID: "cam:7", Lat: 28.21, Lon: 112.96},
}

func withCameras(cs []api.Camera) func(*Config) {
	return func(c *Config) { c.Cameras = cs }
}

// lastOf is the incident's latest entry of a type (nil: none).
func lastOf(inc Incident, typ string) *Entry {
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		if inc.Timeline[i].Type == typ {
			return &inc.Timeline[i]
		}
	}
	return nil
}

func TestCreatedEntryHasThePlace(t *testing.T) {
	r := newRig(t)
	inc := r.create("theft", 3)
	e := lastOf(inc, api.EntryCreated)
	if e == nil || e.Params == nil || e.Params.Lat == nil || e.Params.Lon == nil ||
		*e.Params.Lat != siteLat || *e.Params.Lon != siteLon || e.Params.Kind != "theft" || e.Params.Priority != 3 {
		t.Fatalf("created entry %+v", e)
	}
	// A sighting moves the incident; the created entry keeps where it was
	// first reported.
	if _, err := r.d.Sighting(inc.ID, Sighting{Lat: siteLat + 0.01, Lon: siteLon}, ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.restart()
	got := r.get(inc.ID)
	if e := lastOf(got, api.EntryCreated); *e.Params.Lat != siteLat || got.Lat != siteLat+0.01 {
		t.Errorf("after a sighting and a restart: created at %v, incident at %v", *e.Params.Lat, got.Lat)
	}
	checkTimeline(t, got)
}

func TestSightingNoteAndCamera(t *testing.T) {
	long := strings.Repeat("x", 513)
	tests := []struct {
		name    string
		cameras []api.Camera
		s       Sighting
		err     string // a part of the ErrInvalid's message; "": accepted
		note    string // as recorded
		detail  string // a part of the entry's detail
	}{
		{"neither", testCameras, Sighting{Source: "caller"}, "", "", "caller at "},
		{"a note, trimmed", testCameras, Sighting{Source: "officer", Note: "  red jacket, heading north \n"}, "", "red jacket, heading north", ": red jacket, heading north"},
		{"a camera and a note", testCameras, Sighting{Source: "camera", Camera: "cs-tx-003", Note: "two on a scooter"}, "", "two on a scooter",
			"camera cs-tx-003 (天心阁): two on a scooter"},
		{"a camera without a name", testCameras, Sighting{Source: "camera", Camera: "cam:7"}, "", "", "camera cam:7"},
		{"a camera the hub does not know", testCameras, Sighting{Source: "camera", Camera: "cs-tx-999"}, `no camera "cs-tx-999"`, "", ""},
		{"a camera id that is no id", testCameras, Sighting{Camera: "cs tx 003"}, "is not [A-Za-z0-9_.:-]{1,64}", "", ""},
		{"a camera and the hub has none", nil, Sighting{Source: "camera", Camera: "cs-tx-003"}, `no camera "cs-tx-003": the hub has no cameras`, "", ""},
		{"a note of 513 bytes", testCameras, Sighting{Note: long}, "note longer than 512 bytes", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, withCameras(tt.cameras))
			id := r.create("robbery", 2).ID
			before := r.get(id)
			s := tt.s
			s.Lat, s.Lon = siteLat+0.01, siteLon+0.01
			inc, err := r.d.Sighting(id, s, ActorDispatcher)
			if tt.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want ErrInvalid with %q", err, tt.err)
				}
				if after := r.get(id); len(after.Timeline) != len(before.Timeline) || after.Lat != before.Lat {
					t.Errorf("a refused sighting changed the incident: %+v", after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inc.Lat != s.Lat || inc.Lon != s.Lon {
				t.Errorf("incident at %v, %v, want the place reported %v, %v", inc.Lat, inc.Lon, s.Lat, s.Lon)
			}
			r.restart()
			e := lastOf(r.get(id), api.EntrySighting)
			if e == nil || e.Params == nil {
				t.Fatalf("no sighting entry after a restart: %+v", e)
			}
			if p := e.Params; p.Note != tt.note || p.Camera != s.Camera || p.Source != s.Source || *p.Lat != s.Lat || *p.Lon != s.Lon {
				t.Errorf("sighting params %+v", p)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("detail %q, want it to hold %q", e.Detail, tt.detail)
			}
			checkTimeline(t, r.get(id))
		})
	}
}

// Every unit on its way — dispatched or acknowledged — is sent the new
// place, and the timeline says so, one entry each; a unit on scene, one
// that declined, and a free one are not.
func TestSightingUpdateLocationEntries(t *testing.T) {
	r := newRig(t)
	for i, u := range []string{"car-a", "car-b", "car-c", "car-d", "car-e"} {
		r.place(u, protocol.TypeCar, 0.002+0.001*float64(i), 0)
	}
	id := r.create("theft", 3).ID
	for _, u := range []string{"car-a", "car-b", "car-c", "car-d"} {
		if _, err := r.d.Assign(id, u, ActorDispatcher); err != nil {
			t.Fatal(err)
		}
	}
	r.event("car-b", protocol.EventAck, id)
	r.event("car-c", protocol.EventArrived, id)
	r.event("car-d", protocol.EventDecline, id)
	r.bus.mu.Lock()
	r.bus.sent, r.bus.topics = nil, nil
	r.bus.mu.Unlock()

	for n, place := range [][2]float64{{siteLat + 0.01, siteLon}, {siteLat + 0.02, siteLon + 0.01}} {
		before := len(r.get(id).Timeline)
		inc, err := r.d.Sighting(id, Sighting{Lat: place[0], Lon: place[1], Source: "camera"}, ActorDispatcher)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range inc.Timeline[before:] {
			if e.Type != api.EntryUpdateLocation {
				continue
			}
			got = append(got, e.Unit)
			if e.Actor != ActorAuto || e.Reason != api.ReasonRetargeted || e.Params == nil ||
				*e.Params.Lat != place[0] || *e.Params.Lon != place[1] {
				t.Errorf("sighting %d: entry %+v params %+v", n, e, e.Params)
			}
		}
		if strings.Join(got, ",") != "car-a,car-b" {
			t.Errorf("sighting %d: update_location entries for %v, want car-a, car-b", n, got)
		}
		if first := inc.Timeline[before]; first.Type != api.EntrySighting {
			t.Errorf("sighting %d: the first entry is %s, want the sighting", n, first.Type)
		}
	}
	// The entries and the commands agree.
	r.bus.mu.Lock()
	var sent []string
	for i, c := range r.bus.sent {
		if c.Type == protocol.CmdUpdateLocation {
			sent = append(sent, r.bus.topics[i])
		}
	}
	r.bus.mu.Unlock()
	topics := protocol.Topics{Root: protocol.DefaultRoot}
	want := []string{topics.Unit("car-a", protocol.KindCmd), topics.Unit("car-b", protocol.KindCmd)}
	want = append(want, want...)
	if strings.Join(sent, " ") != strings.Join(want, " ") {
		t.Errorf("update_location sent to %v, want %v", sent, want)
	}
	checkTimeline(t, r.get(id))
}

// offered is an incident with an offer: car-far is on its way when the
// incident is seen next to car-near (offered), with car-other free nearby.
func offered(t *testing.T) (*rig, string) {
	t.Helper()
	r := newRig(t)
	r.place("car-far", protocol.TypeCar, 0.02, 0)
	r.place("car-near", protocol.TypeCar, -0.049, 0)
	r.place("car-other", protocol.TypeCar, -0.055, 0)
	id := r.create("theft", 3).ID
	if _, err := r.d.Assign(id, "car-far", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	r.event("car-far", protocol.EventAck, id)
	inc, err := r.d.Sighting(id, Sighting{Lat: siteLat - 0.05, Lon: siteLon, Source: "camera"}, ActorDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Offer == nil || inc.Offer.Unit != "car-near" || inc.Offer.ETAS+60 >= inc.Offer.BestETAS {
		t.Fatalf("the rig's offer: %+v", inc.Offer)
	}
	return r, id
}

func TestDismissOffer(t *testing.T) {
	r, id := offered(t)
	offer := *r.get(id).Offer

	// Refused: nothing changes.
	refusals := []struct {
		name string
		id   string
		note string
		err  error
	}{
		{"unknown incident", "inc-nope", "", ErrNotFound},
		{"a note of 513 bytes", id, strings.Repeat("x", 513), ErrInvalid},
	}
	for _, tt := range refusals {
		if _, err := r.d.DismissOffer(tt.id, ActorDispatcher, tt.note); !errors.Is(err, tt.err) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
		}
	}
	if got := r.get(id); got.Offer == nil || *got.Offer != offer || hasEntry(got, api.EntryOfferDismissed) {
		t.Fatalf("a refused dismissal changed the incident: offer %+v", got.Offer)
	}

	r.heard(id)
	inc, err := r.d.DismissOffer(id, ActorDispatcher, "  car-near is guarding the bank \n")
	if err != nil {
		t.Fatal(err)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if inc.Offer != nil || last.Type != api.EntryOfferDismissed || last.Unit != "car-near" || last.Actor != ActorDispatcher ||
		last.Reason != api.ReasonDismissed || last.Params == nil || last.Params.Note != "car-near is guarding the bank" ||
		last.Detail != "the offer of car-near dismissed by dispatcher: car-near is guarding the bank" {
		t.Fatalf("after dismissing: offer %+v, entry %+v %+v", inc.Offer, last, last.Params)
	}
	if len(inc.Recommendations) == 0 {
		t.Error("the answer has no recommendations")
	}
	if stateOf(inc, "car-near") != "" {
		t.Error("the dismissed unit was sent")
	}
	if !r.heard(id) {
		t.Error("OnChange did not hear of the dismissal")
	}

	r.restart()
	got := r.get(id)
	if got.Offer != nil || len(got.Timeline) != len(inc.Timeline) || got.Timeline[len(got.Timeline)-1].Type != api.EntryOfferDismissed {
		t.Fatalf("after a restart: offer %+v, timeline %d entries, was %d", got.Offer, len(got.Timeline), len(inc.Timeline))
	}
	if _, err := r.d.DismissOffer(id, ActorDispatcher, ""); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "has no offer") {
		t.Errorf("dismissing again: %v, want ErrConflict (no offer)", err)
	}
	checkTimeline(t, got)

	// A new sighting offers again; without a note, the entry has no params.
	r.place("car-far", protocol.TypeCar, 0.02, 0)
	r.place("car-near", protocol.TypeCar, -0.049, 0)
	if inc, err = r.d.Sighting(id, Sighting{Lat: siteLat - 0.05, Lon: siteLon + 0.0001}, ActorDispatcher); err != nil || inc.Offer == nil {
		t.Fatalf("sighting again: offer %+v, %v", inc.Offer, err)
	}
	if inc, err = r.d.DismissOffer(id, ActorDispatcher, " "); err != nil {
		t.Fatal(err)
	}
	if last := inc.Timeline[len(inc.Timeline)-1]; last.Type != api.EntryOfferDismissed || last.Params != nil ||
		last.Detail != "the offer of car-near dismissed by dispatcher" {
		t.Errorf("dismissed without a note: %+v %+v", last, last.Params)
	}

	// Closed (today, and more than a day ago: read from the store).
	if _, err := r.d.Close(id, ActorDispatcher, ""); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"closed today", "closed a day ago"} {
		if _, err := r.d.DismissOffer(id, ActorDispatcher, ""); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "is closed") {
			t.Errorf("%s: %v, want ErrConflict (closed)", when, err)
		}
		r.clock.Advance(25 * time.Hour)
		r.restart()
	}
}

// The offered unit assigned by the dispatcher is the offer taken; another
// unit assigned leaves the offer standing.
func TestOfferTaken(t *testing.T) {
	tests := []struct {
		unit   string
		reason string
		offer  bool // still offered after
	}{
		{"car-near", api.ReasonOfferTaken, false},
		{"car-other", api.ReasonInTier, true},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			r, id := offered(t)
			offer := *r.get(id).Offer
			inc, err := r.d.Assign(id, tt.unit, ActorDispatcher)
			if err != nil {
				t.Fatal(err)
			}
			e := lastOf(inc, api.EntryDispatched)
			if e.Unit != tt.unit || e.Reason != tt.reason || e.Actor != ActorDispatcher {
				t.Fatalf("dispatched entry %+v", e)
			}
			if tt.reason == api.ReasonOfferTaken && (e.Params == nil || *e.Params.ETAS != *secs(offer.ETAS) ||
				*e.Params.BestETAS != *secs(offer.BestETAS)) {
				t.Errorf("offer_taken params %+v, offer %+v", e.Params, offer)
			}
			r.restart()
			got := r.get(id)
			switch {
			case tt.offer && (got.Offer == nil || *got.Offer != offer):
				t.Errorf("offer %+v, want %+v to stand", got.Offer, offer)
			case !tt.offer && got.Offer != nil:
				t.Errorf("offer %+v, want none", got.Offer)
			}
			if stateOf(got, tt.unit) != AssignDispatched {
				t.Errorf("%s is %q", tt.unit, stateOf(got, tt.unit))
			}
			checkTimeline(t, got)
		})
	}
}

// The offered unit sent to another incident is no longer free: its offer
// is withdrawn (stored, and announced); should the store refuse the
// dispatch, the offer is back with everything else.
func TestOfferWithdrawnWhenTheUnitGoesElsewhere(t *testing.T) {
	r, a := offered(t)
	b := r.create("theft", 3).ID
	entries := len(r.get(a).Timeline)

	// Taken back, as a refused store write does.
	r.d.mu.Lock()
	incB := r.d.incidents[b]
	k := r.d.keep(incB)
	r.d.dispatch(incB, "car-near", 4, ActorDispatcher, Entry{Reason: api.ReasonNotRecommended}, r.clock.Now())
	withdrawn := r.d.incidents[a].Offer == nil
	r.d.takeBack(k)
	r.d.mu.Unlock()
	if !withdrawn {
		t.Fatal("dispatching car-near elsewhere left its offer")
	}
	if got := r.get(a); got.Offer == nil || got.Offer.Unit != "car-near" || r.d.busy["car-near"] != "" {
		t.Fatalf("after taking back: offer %+v, car-near busy with %q", got.Offer, r.d.busy["car-near"])
	}

	r.heard(a)
	if _, err := r.d.Assign(b, "car-near", ActorDispatcher); err != nil {
		t.Fatal(err)
	}
	if !r.heard(a) {
		t.Error("OnChange did not hear of the withdrawn offer")
	}
	r.restart()
	got := r.get(a)
	if got.Offer != nil || len(got.Timeline) != entries {
		t.Errorf("after a restart: offer %+v, %d entries, was %d", got.Offer, len(got.Timeline), entries)
	}
	if _, err := r.d.Assign(a, "car-near", ActorDispatcher); !errors.Is(err, ErrConflict) {
		t.Errorf("assigning the unit taken elsewhere: %v, want ErrConflict", err)
	}
}
