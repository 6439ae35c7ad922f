package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol"
)

type frame struct {
	Type      string            `json:"type"`
	Seq       int64             `json:"seq"`
	Units     []json.RawMessage `json:"units"`
	Incidents []json.RawMessage `json:"incidents"`
}

// The dashboard's way in: a ticket from the API, then the stream shows the
// fleet and the incidents as they change.
func TestLiveStream(t *testing.T) {
	h := hubtest.Start(t, nil)
	d := unitAt(t, h, "car-1", "car", 0.003, 0)

	var tk struct {
		Ticket string `json:"ticket"`
	}
	if st := h.Do(http.MethodPost, "/api/stream/ticket", nil, &tk); st != http.StatusOK || tk.Ticket == "" {
		t.Fatalf("ticket: %d %+v", st, tk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(h.URL, "http") + "/ws?ticket=" + tk.Ticket
	c, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	read := func() frame {
		t.Helper()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	first := read()
	if first.Type != "snapshot" || len(first.Units) != 1 || !strings.Contains(string(first.Units[0]), `"id":"car-1"`) {
		t.Fatalf("first frame = %+v", first)
	}
	// A ticket works once.
	if _, _, err := websocket.Dial(ctx, wsURL, nil); err == nil {
		t.Error("a ticket was accepted twice")
	}

	d.Send(d.Fix(2, time.Now(), lat0+0.004, lon0, protocol.StatusAvailable))
	inc := createIncident(t, h, "theft", 3)
	var sawUnit, sawIncident bool
	for !sawUnit || !sawIncident {
		f := read()
		if f.Type != "delta" {
			continue
		}
		for _, u := range f.Units {
			sawUnit = sawUnit || strings.Contains(string(u), fmt.Sprint(lat0+0.004))
		}
		for _, i := range f.Incidents {
			sawIncident = sawIncident || strings.Contains(string(i), inc.ID)
		}
	}
}
