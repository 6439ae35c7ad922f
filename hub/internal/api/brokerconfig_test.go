package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"kuaifan/hub/internal/brokerconf"
	"kuaifan/hub/internal/fleet"
	"kuaifan/hub/internal/match"
	"kuaifan/hub/internal/store"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// GET /api/broker-config renders the enrolled units' accounts with the
// hub's: from the password the hub connects with, or a hash the caller
// gives; bad input is 400 naming it, a unit under the hub's name 409.
func TestBrokerConfig(t *testing.T) {
	s, err := store.Open(store.Config{Dir: t.TempDir(), Retention: time.Hour, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Enrolled before the hub kept broker hashes.
	if err := s.CreateUnit(store.Unit{ID: "old-0", Type: protocol.TypeCar, SecretHash: strings.Repeat("ab", 32), Enrolled: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Open(fleet.Config{Store: s, Match: match.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		s.Close()
	})
	now := time.Now()
	secret, err := f.Enrol(fleet.Enrolment{ID: "car-1", Type: protocol.TypeCar}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Enrol(fleet.Enrolment{ID: "phone-2", Type: protocol.TypeFoot, Protocol: wire.ReportOsmAnd}, now); err != nil {
		t.Fatal(err)
	}
	remote := serve(t, Config{Fleet: f, Access: testAccess(t), Topics: protocol.Topics{Root: "cs"},
		BrokerUser: "hub-cs", BrokerPassword: "the-hub-password"})
	embedded := serve(t, Config{Fleet: f, Access: testAccess(t)})
	given, err := brokerconf.HashHubPassword("a-new-password")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, addr, query string
		status            int
		want              string // in the error, or in the named file ("file: text")
		hubUser, hubPW    string // the hub's account in the files
	}{
		{"mosquitto, the hub's password", remote, "broker=mosquitto", http.StatusOK,
			"acl: topic write cs/units/+/cmd", "hub-cs", "the-hub-password"},
		{"nats", remote, "broker=nats", http.StatusOK,
			`kuaifan-cs.conf: {user: "car-1"`, "hub-cs", "the-hub-password"},
		{"emqx in a directory", remote, "broker=emqx&dir=/srv/emqx", http.StatusOK,
			`emqx.conf: bootstrap_file = "/srv/emqx/users.csv"`, "hub-cs", "the-hub-password"},
		{"another hub user, the hub's password", remote, "broker=nats&hub_user=hub-cs-2", http.StatusOK,
			`kuaifan-cs.conf: {user: "hub-cs-2"`, "hub-cs-2", "the-hub-password"},
		{"a given hash", embedded, "broker=nats&hub_password_hash=" + url.QueryEscape(given.Bcrypt), http.StatusOK,
			`kuaifan-rr.conf: {user: "kuaifan-hub"`, "kuaifan-hub", "a-new-password"},
		{"a given hash over the hub's password", remote, "broker=mosquitto&hub_password_hash=" + url.QueryEscape(given.Mosquitto), http.StatusOK,
			"passwd: hub-cs:", "hub-cs", "a-new-password"},
		{"no broker", remote, "", http.StatusBadRequest, "broker: give mosquitto, nats or emqx", "", ""},
		{"unknown broker", remote, "broker=hivemq", http.StatusBadRequest, `broker "hivemq"`, "", ""},
		{"no password known", embedded, "broker=nats", http.StatusBadRequest, "hub_password_hash: the hub has no broker password", "", ""},
		{"the wrong kind of hash", remote, "broker=nats&hub_password_hash=" + url.QueryEscape(given.Mosquitto), http.StatusBadRequest,
			"hub_password_hash: not a hash nats checks", "", ""},
		{"not a hash", remote, "broker=mosquitto&hub_password_hash=secret", http.StatusBadRequest, "hub_password_hash", "", ""},
		{"a relative dir", remote, "broker=mosquitto&dir=etc", http.StatusBadRequest, `dir "etc"`, "", ""},
		{"a bad hub user", remote, "broker=mosquitto&hub_user=a:b", http.StatusBadRequest, `hub user "a:b"`, "", ""},
		{"a unit under the hub's name", remote, "broker=emqx&hub_user=car-1", http.StatusConflict, "unit car-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, tt.addr, http.MethodGet, "/api/broker-config?"+tt.query, "")
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if status != http.StatusOK {
				var e wire.Error
				if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tt.want) {
					t.Errorf("error %s, want it to say %q", body, tt.want)
				}
				return
			}
			var got wire.BrokerConfig
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.HubUser != tt.hubUser || !slices.Equal(got.Units, []string{"car-1"}) || !slices.Equal(got.NeedRotation, []string{"old-0"}) {
				t.Errorf("hub %s, units %v, need rotation %v", got.HubUser, got.Units, got.NeedRotation)
			}
			files := map[string]string{}
			for _, f := range got.Files {
				files[f.Name] = f.Content
			}
			name, text, _ := strings.Cut(tt.want, ": ")
			if !strings.Contains(files[name], text) {
				t.Errorf("%s lacks %q:\n%s", name, text, files[name])
			}
			for _, content := range files {
				if strings.Contains(content, "phone-2") || strings.Contains(content, "old-0") {
					t.Error("a unit without an MQTT account is in the files")
				}
			}
			// Each account's hash is its password's.
			hubHash, unitHash := hashesIn(t, got)
			if !checks(got.Broker, hubHash, tt.hubPW) || !checks(got.Broker, unitHash, secret) || checks(got.Broker, unitHash, tt.hubPW) {
				t.Errorf("hashes in the files do not check: hub %q, car-1 %q", hubHash, unitHash)
			}
		})
	}
}

// hashesIn finds the hub's and car-1's hashes in the password file.
func hashesIn(t *testing.T, c wire.BrokerConfig) (hub, unit string) {
	t.Helper()
	for _, f := range c.Files {
		for line := range strings.Lines(f.Content) {
			line = strings.TrimSpace(line)
			switch {
			case f.Name == brokerconf.MosquittoPasswd:
				if u, h, ok := strings.Cut(line, ":"); ok && u == c.HubUser {
					hub = h
				} else if ok && u == "car-1" {
					unit = h
				}
			case f.Name == brokerconf.EMQXUsers:
				if fs := strings.Split(line, ","); len(fs) == 4 && fs[0] == c.HubUser {
					hub = fs[1]
				} else if len(fs) == 4 && fs[0] == "car-1" {
					unit = fs[1]
				}
			case strings.HasPrefix(f.Name, "kuaifan-"):
				_, rest, ok := strings.Cut(line, `password: "`)
				if !ok {
					continue
				}
				h, _, _ := strings.Cut(rest, `"`)
				if strings.Contains(line, `{user: "`+c.HubUser+`"`) {
					hub = h
				} else if strings.Contains(line, `{user: "car-1"`) {
					unit = h
				}
			}
		}
	}
	return hub, unit
}

func checks(broker, hash, password string) bool {
	if broker == string(brokerconf.Mosquitto) {
		return brokerconf.CheckMosquitto(hash, password)
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
