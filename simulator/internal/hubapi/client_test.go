package hubapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"kuaifan/protocol"
	"kuaifan/protocol/api"
	"kuaifan/simulator/internal/hubapi/hubapitest"
)

func testAPI(srv *httptest.Server, token string) *Client {
	return &Client{base: srv.URL, token: token, http: srv.Client()}
}

// units are n units to enrol, of every type, some with capabilities.
func units(n int) []api.Enrolment {
	out := make([]api.Enrolment, n)
	for i := range out {
		t := protocol.UnitTypes[i%len(protocol.UnitTypes)]
		u := api.Enrolment{ID: fmt.Sprintf("sim-%s-%04d", t, i+1), Type: t, Callsign: fmt.Sprintf("湘A-%04d", i+1), Capabilities: []string{}}
		if i%3 == 1 {
			u.Capabilities = append(u.Capabilities, "armed")
		}
		if i%4 == 2 {
			u.Capabilities = append(u.Capabilities, "medical")
		}
		out[i] = u
	}
	return out
}

func TestWaitHealthy(t *testing.T) {
	f, srv := hubapitest.New(t, "tok")
	f.UnhealthyFor = 3
	if err := testAPI(srv, "tok").WaitHealthy(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("hub healthy on the 4th call: %v", err)
	}
	if n := f.Health.Load(); n != 4 {
		t.Errorf("%d /healthz calls, want 4", n)
	}

	f.Health.Store(0)
	f.UnhealthyFor = 1 << 30
	start := time.Now()
	err := testAPI(srv, "tok").WaitHealthy(context.Background(), 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not healthy after 600ms") || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want a clear timeout naming the last answer", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("gave up after %v, want about 600 ms", time.Since(start))
	}

	// Nothing listening at all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	api := &Client{base: "http://" + addr, http: srv.Client()}
	if err := api.WaitHealthy(context.Background(), 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want the connection error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := api.WaitHealthy(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: err = %v, want context.Canceled", err)
	}
}

func TestEnrolAll(t *testing.T) {
	specs := units(40)
	// Two units are left over from an earlier run: revoked, then enrolled again.
	f, srv := hubapitest.New(t, "tok", specs[3].ID, specs[17].ID)
	secrets, err := testAPI(srv, "tok").EnrolAll(context.Background(), specs, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		if secrets[i] != "secret-of-"+s.ID {
			t.Errorf("secret of %s is %q", s.ID, secrets[i])
		}
		if body := f.Enrolled[s.ID]; body == nil || !reflect.DeepEqual(*body, s) {
			t.Errorf("%s enrolled as %+v, want %+v", s.ID, body, s)
		}
	}
	for _, id := range []string{specs[3].ID, specs[17].ID} {
		var seq []string
		for _, c := range f.Calls {
			if strings.HasSuffix(c, " "+id) {
				seq = append(seq, strings.Fields(c)[0])
			}
		}
		if strings.Join(seq, ",") != "POST,DELETE,POST" {
			t.Errorf("%s: calls %v, want POST (409), DELETE, POST", id, seq)
		}
	}
	if len(f.Calls) != 44 {
		t.Errorf("%d calls, want 40 + 2×2", len(f.Calls))
	}
}

func TestEnrolWrongToken(t *testing.T) {
	specs := units(50)
	f, srv := hubapitest.New(t, "right")
	_, err := testAPI(srv, "wrong").EnrolAll(context.Background(), specs, 8)
	if !errors.Is(err, errUnauthorized) || !strings.Contains(err.Error(), "HUB_ADMIN_TOKEN") {
		t.Errorf("err = %v, want the 401 explained", err)
	}
	if len(f.Enrolled) != 0 {
		t.Errorf("%d units enrolled with a wrong token", len(f.Enrolled))
	}
}

func TestEnrolRefused(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/units", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid: type \"tank\""}`, http.StatusBadRequest)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	specs := units(3)
	_, err := testAPI(srv, "tok").EnrolAll(context.Background(), specs, 8)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `type "tank"`) {
		t.Errorf("err = %v, want the hub's status and message", err)
	}
}
