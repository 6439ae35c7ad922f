package phones

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/ingest"
	"kuaifan/protocol"
	"kuaifan/protocol/api"
)

type fakeUnits map[string]api.ReportProtocol // unit → protocol; its secret is "s-"+unit

func (u fakeUnits) Verify(id, secret string) bool { _, ok := u[id]; return ok && secret == "s-"+id }

func (u fakeUnits) ReportsBy(id string) (api.ReportProtocol, protocol.Status, bool) {
	p, ok := u[id]
	return p, "", ok
}

// fakePipeline stores in memory, or fails with err.
type fakePipeline struct {
	err      error
	stored   []protocol.Telemetry
	rejected int
}

func (p *fakePipeline) Submit(_ context.Context, t protocol.Telemetry) (fleet.Result, error) {
	if p.err != nil {
		return 0, p.err
	}
	if err := t.Validate(); err != nil {
		return 0, err
	}
	p.stored = append(p.stored, t)
	return fleet.Committed, nil
}

func (p *fakePipeline) Rejected(string, error) { p.rejected++ }

const location = `{"_type":"location","lat":28.1941,"lon":112.9823,"tst":1765091995}`

// The MQTT handler withholds the PUBACK (returns an error) only when the hub
// could not store a report now; bad input and strangers are dropped, counted.
func TestOwnTracksMQTTConfirmsOnlyWhatIsStored(t *testing.T) {
	units := fakeUnits{"ot": api.ReportOwnTracks, "car": api.ReportKuaifan}
	for _, c := range []struct {
		name, topic, payload string
		fail                 error
		wantErr              bool
		stored, rejected     int
	}{
		{"stored", "owntracks/ot/phone", location, nil, false, 1, 0},
		{"store failing", "owntracks/ot/phone", location, fmt.Errorf("disk: %w", ingest.ErrNotStored), true, 0, 0},
		{"bad input", "owntracks/ot/phone", `{"_type":"location","lat":91,"lon":1,"tst":1}`, nil, false, 0, 1},
		{"not JSON", "owntracks/ot/phone", `{`, nil, false, 0, 1},
		{"ignored type", "owntracks/ot/phone", `{"_type":"lwt","tst":1}`, nil, false, 0, 0},
		{"kuaifan unit", "owntracks/car/phone", location, nil, false, 0, 1},
		{"unknown unit", "owntracks/ghost/phone", location, nil, false, 0, 1},
		{"revoked meanwhile", "owntracks/ot/phone", location, fmt.Errorf("x: %w", ingest.ErrUnknownUnit), false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl := &fakePipeline{err: c.fail}
			p := New(Config{Units: units, Pipeline: pl})
			err := p.OwnTracksMQTT(c.topic, []byte(c.payload))
			if (err != nil) != c.wantErr || len(pl.stored) != c.stored || pl.rejected != c.rejected {
				t.Errorf("err %v, stored %d, rejected %d", err, len(pl.stored), pl.rejected)
			}
			if c.stored == 1 && (pl.stored[0].Unit != "ot" || pl.stored[0].Status != protocol.StatusAvailable) {
				t.Errorf("stored %+v", pl.stored[0])
			}
		})
	}
}

// HTTP answers 503 with Retry-After, not 200, when the report is not stored.
func TestHTTPNotStoredIs503(t *testing.T) {
	units := fakeUnits{"ot": api.ReportOwnTracks, "os": api.ReportOsmAnd}
	pl := &fakePipeline{err: fmt.Errorf("disk: %w", ingest.ErrNotStored)}
	h := New(Config{Units: units, Pipeline: pl}).Handler()
	for _, req := range []*http.Request{
		func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, OwnTracksPath, strings.NewReader(location))
			r.SetBasicAuth("ot", "s-ot")
			return r
		}(),
		httptest.NewRequest(http.MethodGet, OsmAndPath+"?id=os&secret=s-os&lat=1&lon=2&timestamp=1765091995", nil),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: %d %s", req.URL.Path, w.Code, w.Body)
		}
	}
	if !errors.Is(pl.err, ingest.ErrNotStored) || len(pl.stored) != 0 {
		t.Fatal("stored")
	}
}

// A body larger than MaxPayload is refused before it is decoded.
func TestHTTPBodyTooLarge(t *testing.T) {
	pl := &fakePipeline{}
	h := New(Config{Units: fakeUnits{"ot": api.ReportOwnTracks}, Pipeline: pl}).Handler()
	r := httptest.NewRequest(http.MethodPost, OwnTracksPath, strings.NewReader(`{"_type":"card","face":"`+strings.Repeat("A", MaxPayload)+`"}`))
	r.SetBasicAuth("ot", "s-ot")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
