package terminal

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kuaifan/protocol"
)

// stateOfficer is an Officer that also gives the whole State.
type stateOfficer struct {
	*memOfficer
	st State
}

func (o stateOfficer) State() State { return o.st }

// GET /v1/state: the Stater's whole state when the Officer is one, else the
// assignment and the status; behind the token like every other route.
func TestStateRoute(t *testing.T) {
	plain := newOfficer().dispatch(incident("inc-1"))
	full := stateOfficer{memOfficer: newOfficer(), st: State{Unit: "car-9", UnitType: protocol.TypeFoot,
		Status: protocol.StatusEnroute, Connected: true, Queued: 3, QueuedEvents: 1,
		Actions: []Action{{Type: protocol.EventAck, Incident: "inc-1", Seq: 7}}}}
	tests := []struct {
		name  string
		o     Officer
		check func(t *testing.T, st State)
	}{
		{"plain officer", plain, func(t *testing.T, st State) {
			if st.Assignment == nil || st.Assignment.Incident != "inc-1" || st.Status != protocol.StatusAvailable ||
				st.Actions == nil || len(st.Actions) != 0 || st.Now.IsZero() {
				t.Errorf("state %+v", st)
			}
		}},
		{"stater", full, func(t *testing.T, st State) {
			if st.Unit != "car-9" || st.UnitType != protocol.TypeFoot || !st.Connected || st.Queued != 3 ||
				st.QueuedEvents != 1 || len(st.Actions) != 1 || st.Actions[0].Seq != 7 || st.Assignment != nil {
				t.Errorf("state %+v", st)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Token: "tok"}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for auth, code := range map[string]int{"": 401, "Bearer tok": 200} {
				req := httptest.NewRequest("GET", "/v1/state", nil)
				req.Host = "127.0.0.1:8765"
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				if rec.Code != code {
					t.Fatalf("auth %q: %d, want %d", auth, rec.Code, code)
				}
				if code != 200 {
					continue
				}
				var st State
				if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
					t.Fatal(err)
				}
				tc.check(t, st)
			}
		})
	}
}

// With a Page, every path outside /v1/ is the page's — without a token, but
// with the host check — and /v1/ stays the API's, token and all.
func TestPage(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("page " + r.URL.Path))
	})
	s, err := New(Config{Token: "tok", Page: page}, newOfficer())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, host, auth string
		code             int
		body             string
	}{
		{"/", "127.0.0.1:8765", "", 200, "page /"},
		{"/web/app.wasm", "localhost:8765", "", 200, "page /web/app.wasm"},
		{"/", "evil.example", "", 403, ""},
		{"/v1/status", "127.0.0.1:8765", "", 401, ""},
		{"/v1/status", "127.0.0.1:8765", "Bearer tok", 200, `{"status":"available"}`},
		{"/v1/nothing", "127.0.0.1:8765", "Bearer tok", 404, ""},
		{"/v1/healthz", "127.0.0.1:8765", "", 200, `{"ok":true}`},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Host = tc.host
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.code || (tc.body != "" && strings.TrimSpace(rec.Body.String()) != tc.body) {
			t.Errorf("GET %s (Host %s, auth %q): %d %q, want %d %q", tc.path, tc.host, tc.auth, rec.Code, rec.Body, tc.code, tc.body)
		}
		if strings.HasPrefix(tc.path, "/v1/") && rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: the API's headers are missing", tc.path)
		}
	}
}

// A decline may say why; the reason is checked, and the action happens only
// with a good one.
func TestDeclineReason(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
	}{
		{"no body", "", 200},
		{"a reason", `{"reason":"too_far"}`, 200},
		{"empty object", `{}`, 200},
		{"too long", `{"reason":"` + strings.Repeat("x", maxReason+1) + `"}`, 400},
		{"control characters", `{"reason":"a\nb"}`, 400},
		{"unknown field", `{"why":"x"}`, 400},
		{"not JSON", `reason=x`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOfficer().dispatch(incident("inc-1"))
			s, err := New(Config{}, o)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/v1/incidents/inc-1/decline", strings.NewReader(tc.body))
			req.Host = "127.0.0.1:8765"
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.code)
			}
			if _, assigned := o.Assignment(); assigned == (tc.code == 200) {
				t.Errorf("assigned after a %d: %v", rec.Code, assigned)
			}
			if want := map[bool]string{true: "too_far"}[tc.name == "a reason"]; tc.code == 200 && o.reason != want {
				t.Errorf("the officer was handed reason %q, want %q", o.reason, want)
			}
		})
	}
}
