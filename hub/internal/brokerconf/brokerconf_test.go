package brokerconf

import (
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed hashes of fixed secrets (HashSecret's, made once), so the golden
// files do not change from run to run.
var (
	secrets = map[string]string{"kuaifan-hub": "hub-password", "car-1": "secret-car-1", "moto-2": "secret-moto-2"}
	hubAcc  = Account{User: "kuaifan-hub", Hashes: Hashes{
		Bcrypt:    "$2a$04$gPEndOK9f3QeHOWggJv9m.H1e9AC7aKiBakT48iOb.m8SIaJ5SW36",
		Mosquitto: "$7$101$rXFgqO40MyQMq0gU$6ALKKhF1LD8nu7Jl+Fb0j7eNhrHHglZ3o3/pKKg80irvkQAcXBAi7bBYLAOX9yGOjrDqt2llKwARTiyEmaqt2g==",
	}}
	car1 = Account{User: "car-1", Hashes: Hashes{
		Bcrypt:    "$2a$04$Rpm.af0E1Ki2OkGIJlcsyuaLSgE7.E5WPH08lO1gt4fTedkhEkzw2",
		Mosquitto: "$7$101$UO6W2EVNO6gmCpnG$czFPeI51p/GVCxTdqrN3Ddo8R+8+JXUz3R3Gg6Pqq/RSymU7jfIgzVSpokAPde61a/Eo5snG251jT+k0kVgO8g==",
	}}
	moto2 = Account{User: "moto-2", Hashes: Hashes{
		Bcrypt:    "$2a$04$3ASmOJGipK5t.5/QuiXG4Okc7YQMp63ayyNGSpPi4bmzUBgLrh5by",
		Mosquitto: "$7$101$CJX6U+RGvtz3gXoe$t0DrbqENi42gpxQnpfHp5ZMvpv8zal7C4v0Q85/IzQsMOUHDdNK65qAXbXbP3J8CPwustSMQ5pkaEU9YTW/sqA==",
	}}
	// Enrolled before the hub kept broker hashes.
	old3 = Account{User: "old-3"}
)

func sample() Config {
	return Config{Root: "rr", Hub: hubAcc, Units: []Account{moto2, old3, car1}}
}

func TestFixedHashesMatchTheirSecrets(t *testing.T) {
	for _, a := range []Account{hubAcc, car1, moto2} {
		if err := bcrypt.CompareHashAndPassword([]byte(a.Bcrypt), []byte(secrets[a.User])); err != nil {
			t.Errorf("%s: bcrypt: %v", a.User, err)
		}
		if !CheckMosquitto(a.Mosquitto, secrets[a.User]) {
			t.Errorf("%s: the Mosquitto hash does not check", a.User)
		}
	}
}

func TestHashSecret(t *testing.T) {
	const secret = "q3Jx9m0b-Zk9pAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 characters, as fleet's
	a, err := HashSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two hashes of one secret are equal: no fresh salt")
	}
	for _, h := range []Hashes{a, b} {
		if cost, err := bcrypt.Cost([]byte(h.Bcrypt)); err != nil || cost != UnitBcryptCost {
			t.Errorf("bcrypt %q: cost %d, %v", h.Bcrypt, cost, err)
		}
		if bcrypt.CompareHashAndPassword([]byte(h.Bcrypt), []byte(secret)) != nil ||
			bcrypt.CompareHashAndPassword([]byte(h.Bcrypt), []byte(secret+"x")) == nil {
			t.Errorf("bcrypt %q does not tell the secret", h.Bcrypt)
		}
		if !CheckMosquitto(h.Mosquitto, secret) || CheckMosquitto(h.Mosquitto, secret+"x") {
			t.Errorf("mosquitto %q does not tell the secret", h.Mosquitto)
		}
		for _, br := range Brokers {
			if !ValidHash(br, h.For(br)) {
				t.Errorf("%s: %q not valid", br, h.For(br))
			}
		}
	}
	hub, err := HashHubPassword("a person's password")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(hub.Bcrypt)); cost != HubBcryptCost {
		t.Errorf("hub's bcrypt cost %d", cost)
	}
	if _, err := HashSecret(""); err == nil {
		t.Error("an empty secret hashed")
	}
}

// mosquittoPasswd is Debian's tool, or the test is skipped (failed under
// CI=true, which must not pass by skipping).
func mosquittoPasswd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"mosquitto_passwd", "/usr/bin/mosquitto_passwd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "mosquitto_passwd not found; install it with: apt-get install mosquitto"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Our hash is mosquitto_passwd's format (same fields, lengths and
// iterations), and a hash mosquitto_passwd wrote checks with ours. That
// Mosquitto itself accepts ours is TestMosquittoBroker's.
func TestMosquittoHashIsMosquittoPasswds(t *testing.T) {
	tool := mosquittoPasswd(t)
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(tool, "-c", "-b", file, "car-1", "secret-car-1").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	user, theirs, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || user != "car-1" {
		t.Fatalf("mosquitto_passwd wrote %q", b)
	}
	ours, err := MosquittoHash("secret-car-1")
	if err != nil {
		t.Fatal(err)
	}
	shape := func(h string) []int {
		p := strings.Split(h, "$")
		if len(p) != 5 {
			return nil
		}
		salt, _ := base64.StdEncoding.DecodeString(p[3])
		key, _ := base64.StdEncoding.DecodeString(p[4])
		return []int{len(p[0]), len(p[1]), len(p[2]), len(p[3]), len(p[4]), len(salt), len(key)}
	}
	if !slices.Equal(shape(theirs), shape(ours)) || !strings.HasPrefix(theirs, "$7$101$") || !strings.HasPrefix(ours, "$7$101$") {
		t.Errorf("mosquitto_passwd %q (%v), ours %q (%v)", theirs, shape(theirs), ours, shape(ours))
	}
	if !CheckMosquitto(theirs, "secret-car-1") || CheckMosquitto(theirs, "secret-car-2") {
		t.Errorf("mosquitto_passwd's hash does not check with ours")
	}
}

func TestParseBroker(t *testing.T) {
	tests := []struct {
		in   string
		want Broker
		ok   bool
	}{
		{"mosquitto", Mosquitto, true},
		{"nats", NATS, true},
		{"emqx", EMQX, true},
		{"", "", false},
		{"NATS", "", false},
		{"hivemq", "", false},
	}
	for _, tt := range tests {
		got, err := ParseBroker(tt.in)
		if got != tt.want || (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ParseBroker(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		broker Broker
		edit   func(*Config)
		want   string
	}{
		{"unknown broker", "hivemq", nil, "broker"},
		{"no root", NATS, func(c *Config) { c.Root = "" }, "topic root"},
		{"wildcard root", Mosquitto, func(c *Config) { c.Root = "rr/#" }, "topic root"},
		{"dot in root (a NATS token)", NATS, func(c *Config) { c.Root = "city.cs" }, "levels of"},
		{"space in root", EMQX, func(c *Config) { c.Root = "city cs" }, "levels of"},
		{"no hub user", Mosquitto, func(c *Config) { c.Hub.User = "" }, "hub user"},
		{"colon in hub user", Mosquitto, func(c *Config) { c.Hub.User = "hub:x" }, "hub user"},
		{"quote in hub user", EMQX, func(c *Config) { c.Hub.User = `hub"` }, "hub user"},
		{"no hub hash (mosquitto)", Mosquitto, func(c *Config) { c.Hub.Mosquitto = "" }, "no hash of the hub"},
		{"no hub hash (nats)", NATS, func(c *Config) { c.Hub.Bcrypt = "" }, "no hash of the hub"},
		{"bcrypt hash for mosquitto", Mosquitto, func(c *Config) { c.Hub.Mosquitto = c.Hub.Bcrypt }, "not a Mosquitto 2"},
		{"mosquitto hash for emqx", EMQX, func(c *Config) { c.Hub.Bcrypt = c.Hub.Mosquitto }, "not a bcrypt"},
		{"relative dir", Mosquitto, func(c *Config) { c.Dir = "etc/mosquitto" }, "dir"},
		{"dir with a space", EMQX, func(c *Config) { c.Dir = "/etc/my emqx" }, "dir"},
		{"dir with a quote", EMQX, func(c *Config) { c.Dir = `/etc/"` }, "dir"},
		{"dir upwards", Mosquitto, func(c *Config) { c.Dir = "/etc/../root" }, "dir"},
		{"unit named as the hub", NATS, func(c *Config) { c.Units = append(c.Units, Account{User: "kuaifan-hub", Hashes: car1.Hashes}) }, "the hub's broker username"},
		{"unit twice", NATS, func(c *Config) { c.Units = append(c.Units, car1) }, "twice"},
		{"bad unit id", Mosquitto, func(c *Config) { c.Units = append(c.Units, Account{User: "car/1"}) }, "unit id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sample()
			if tt.edit != nil {
				tt.edit(&c)
			}
			r, err := Render(tt.broker, c)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render = %v; want ErrInvalid naming %q", err, tt.want)
			}
			if r.Files != nil {
				t.Errorf("files rendered with an error: %v", r.Files)
			}
		})
	}
}

// Every broker's files for the sample, as in testdata/ (go test -update
// rewrites them): the hub and the units with the broker's hash, by id; the
// unit without one named for rotation.
func TestRenderGolden(t *testing.T) {
	for _, b := range Brokers {
		t.Run(string(b), func(t *testing.T) {
			r, err := Render(b, sample())
			if err != nil {
				t.Fatal(err)
			}
			if r.Broker != b || !slices.Equal(r.Units, []string{"car-1", "moto-2"}) || !slices.Equal(r.NeedRotation, []string{"old-3"}) {
				t.Errorf("units %v, need rotation %v", r.Units, r.NeedRotation)
			}
			var names []string
			for _, f := range r.Files {
				names = append(names, f.Name)
				golden := filepath.Join("testdata", string(b), f.Name)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(f.Content), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if f.Content != string(want) {
					t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", f.Name, golden, f.Content)
				}
				if strings.Contains(f.Content, "old-3") {
					t.Errorf("%s names old-3, which has no hash", f.Name)
				}
			}
			want := map[Broker][]string{
				Mosquitto: {MosquittoPasswd, MosquittoACL, MosquittoConf},
				NATS:      {"kuaifan-rr.conf", NATSConf},
				EMQX:      {EMQXACL, EMQXUsers, EMQXConf},
			}[b]
			if !slices.Equal(names, want) {
				t.Errorf("files %v, want %v", names, want)
			}
		})
	}
}

// hub/deploy/mosquitto's acl and mosquitto.conf are what Render writes for
// the default root and hub user: the recipe the tests run is the generated
// one (go test -update writes them).
func TestDeployRecipeIsRendered(t *testing.T) {
	r, err := Render(Mosquitto, Config{Root: "rr", Hub: hubAcc})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		if f.Name == MosquittoPasswd {
			continue
		}
		path := filepath.Join("..", "..", "deploy", "mosquitto", f.Name)
		if *update {
			if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Content != string(want) {
			t.Errorf("deploy/mosquitto/%s is not what deploy-config writes: regenerate it\n%s", f.Name, f.Content)
		}
	}
}

// Paths in the files follow Dir; a multi-level root is one NATS account.
func TestRenderDirAndRoot(t *testing.T) {
	c := sample()
	c.Dir, c.Root = "/srv/broker", "city/cs-1"
	m, err := Render(Mosquitto, c)
	if err != nil {
		t.Fatal(err)
	}
	conf := file(t, m, MosquittoConf)
	if !strings.Contains(conf, "password_file /srv/broker/passwd\n") || !strings.Contains(conf, "acl_file /srv/broker/acl\n") {
		t.Errorf("mosquitto.conf:\n%s", conf)
	}
	if acl := file(t, m, MosquittoACL); !strings.Contains(acl, "pattern write city/cs-1/units/%u/telemetry\n") ||
		!strings.Contains(acl, "topic write city/cs-1/units/+/cmd\n") {
		t.Errorf("acl:\n%s", acl)
	}
	e, err := Render(EMQX, c)
	if err != nil {
		t.Fatal(err)
	}
	if conf := file(t, e, EMQXConf); !strings.Contains(conf, `bootstrap_file = "/srv/broker/users.csv"`) ||
		!strings.Contains(conf, `path = "/srv/broker/acl.conf"`) {
		t.Errorf("emqx.conf:\n%s", conf)
	}
	n, err := Render(NATS, c)
	if err != nil {
		t.Fatal(err)
	}
	acc := file(t, n, "kuaifan-city-cs-1.conf")
	if !strings.Contains(acc, "KUAIFAN_CITY_CS_1: {") || !strings.Contains(acc, `"city.cs-1.units.car-1.telemetry"`) {
		t.Errorf("account file:\n%s", acc)
	}
	if !strings.Contains(file(t, n, NATSConf), `include "kuaifan-city-cs-1.conf"`) {
		t.Error("nats.conf does not include the account file")
	}
}

func file(t *testing.T, r Result, name string) string {
	t.Helper()
	for _, f := range r.Files {
		if f.Name == name {
			return f.Content
		}
	}
	t.Fatalf("no %s among %d files", name, len(r.Files))
	return ""
}

// EMQX is not available here: its files are checked for their structure.
// acl.conf is Erlang terms, each ending in a period, the hub's rules by
// name, the units' by ${username}, {deny, all} last; users.csv has the
// built-in database's bootstrap columns with every account's bcrypt hash
// in both hash and salt (as EMQX stores bcrypt); emqx.conf names both
// files, bcrypt, hash bootstrapping, no_match deny and the client id rule.
func TestEMQXStructure(t *testing.T) {
	r, err := Render(EMQX, sample())
	if err != nil {
		t.Fatal(err)
	}
	var terms []string
	for line := range strings.Lines(file(t, r, EMQXACL)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "%%") {
			continue
		}
		if !strings.HasSuffix(line, "}.") || strings.Count(line, "{") != strings.Count(line, "}") ||
			strings.Count(line, "[") != strings.Count(line, "]") || strings.Count(line, `"`)%2 != 0 {
			t.Errorf("acl.conf: not one Erlang term: %q", line)
		}
		terms = append(terms, line)
	}
	wantTerms := []string{
		`{allow, {username, "kuaifan-hub"}, subscribe, ["rr/units/+/telemetry", "rr/units/+/state", "rr/units/+/events"]}.`,
		`{allow, {username, "kuaifan-hub"}, publish, ["rr/units/+/cmd", "rr/units/+/ack"]}.`,
		`{allow, all, publish, ["rr/units/${username}/telemetry", "rr/units/${username}/state", "rr/units/${username}/events"]}.`,
		`{allow, all, subscribe, ["rr/units/${username}/cmd", "rr/units/${username}/ack"]}.`,
		`{deny, all}.`,
	}
	if !slices.Equal(terms, wantTerms) {
		t.Errorf("acl.conf terms:\n%s", strings.Join(terms, "\n"))
	}

	rows := strings.Split(strings.TrimSuffix(file(t, r, EMQXUsers), "\n"), "\n")
	if rows[0] != "user_id,password_hash,salt,is_superuser" {
		t.Errorf("users.csv header %q", rows[0])
	}
	var users []string
	for _, row := range rows[1:] {
		f := strings.Split(row, ",")
		if len(f) != 4 || f[1] != f[2] || f[3] != "false" {
			t.Errorf("users.csv row %q", row)
			continue
		}
		users = append(users, f[0])
		if err := bcrypt.CompareHashAndPassword([]byte(f[1]), []byte(secrets[f[0]])); err != nil {
			t.Errorf("users.csv: %s's hash: %v", f[0], err)
		}
	}
	if !slices.Equal(users, []string{"kuaifan-hub", "car-1", "moto-2"}) {
		t.Errorf("users.csv users %v", users)
	}

	conf := file(t, r, EMQXConf)
	for _, want := range []string{
		"use_username_as_clientid = true",
		"backend = built_in_database", "user_id_type = username",
		"password_hash_algorithm {name = bcrypt",
		`bootstrap_file = "${EMQX_ETC_DIR}/kuaifan/users.csv"`, "bootstrap_type = hash",
		"no_match = deny", `{type = file, enable = true, path = "${EMQX_ETC_DIR}/kuaifan/acl.conf"}`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("emqx.conf lacks %q", want)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") || strings.Count(conf, "[") != strings.Count(conf, "]") {
		t.Error("emqx.conf: unbalanced braces")
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Name: "a", Content: "one\n"}, {Name: "b.conf", Content: "two\n"}}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, f.Name))
		if fi.Mode().Perm() != FileMode || string(b) != f.Content {
			t.Errorf("%s: mode %v, content %q", f.Name, fi.Mode().Perm(), b)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"a", "b.conf"}) {
		t.Errorf("left behind: %v", names)
	}

	tests := []struct {
		name  string
		dir   string
		files []File
	}{
		{"no directory", filepath.Join(dir, "nope"), files},
		{"a file, not a directory", filepath.Join(dir, "a"), files},
		{"a path as a name", dir, []File{{Name: "x", Content: "1"}, {Name: "../y", Content: "2"}}},
		{"a hidden name", dir, []File{{Name: ".x", Content: "1"}}},
		{"no name", dir, []File{{Content: "1"}}},
	}
	for _, tt := range tests {
		if err := Write(tt.dir, tt.files); err == nil {
			t.Errorf("%s: written", tt.name)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"a", "b.conf"}) {
		t.Errorf("a refused write changed the directory: %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
		t.Error("Write made the missing directory")
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

var mosquittoShape = regexp.MustCompile(`^\$7\$[1-9][0-9]*\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{86}==$`)

// parseMosquitto reads its format and only that: what it accepts has the
// shape of mosquitto_passwd's hashes and reads back to itself.
func FuzzParseMosquitto(f *testing.F) {
	for _, a := range []Account{hubAcc, car1, moto2} {
		f.Add(a.Mosquitto)
		f.Add(a.Bcrypt)
	}
	f.Add("$7$0$AAAA$AAAA")
	f.Add("$7$101$$")
	f.Add("$7$+101$UO6W2EVNO6gmCpnG$" + strings.Repeat("A", 86) + "==")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseMosquitto(s)
		if err != nil {
			if CheckMosquitto(s, "x") {
				t.Fatal("a hash that does not parse checks")
			}
			return
		}
		if !mosquittoShape.MatchString(s) {
			t.Fatalf("accepted %q, not mosquitto_passwd's shape", s)
		}
		back := "$7$" + itoa(h.iterations) + "$" + base64.StdEncoding.EncodeToString(h.salt) + "$" + base64.StdEncoding.EncodeToString(h.key)
		if back != s {
			t.Fatalf("%q reads back as %q", s, back)
		}
	})
}

func itoa(n int) string {
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// The sample nats.conf is a configuration nats-server takes as it is (the
// cluster tests run natstest's own node settings with the account file):
// the node, JetStream, the cluster's routes, the mqtt block, and the
// city's account with exactly the permissions of the contract.
func TestNATSSampleConfig(t *testing.T) {
	dir := t.TempDir()
	r, err := Render(NATS, sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, r.Files); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(filepath.Join(dir, NATSConf))
	if err != nil {
		t.Fatal(err)
	}
	if o.ServerName != "nats-1" || !o.JetStream || o.StoreDir != "/var/lib/nats/jetstream" || o.Cluster.Name != "kuaifan" ||
		len(o.Routes) != 3 || o.MQTT.Port != 1883 || o.MQTT.StreamReplicas != 3 || o.MQTT.AckWait != 5*time.Second {
		t.Errorf("server %q, jetstream %v %q, cluster %q with %d routes, mqtt port %d, replicas %d, ack wait %v",
			o.ServerName, o.JetStream, o.StoreDir, o.Cluster.Name, len(o.Routes), o.MQTT.Port, o.MQTT.StreamReplicas, o.MQTT.AckWait)
	}
	type perms struct{ pub, sub []string }
	want := map[string]perms{
		"kuaifan-hub": {[]string{"rr.units.*.cmd", "rr.units.*.ack"}, []string{"rr.units.*.telemetry", "rr.units.*.state", "rr.units.*.events"}},
		"car-1":       {[]string{"rr.units.car-1.telemetry", "rr.units.car-1.state", "rr.units.car-1.events"}, []string{"rr.units.car-1.cmd", "rr.units.car-1.ack"}},
		"moto-2":      {[]string{"rr.units.moto-2.telemetry", "rr.units.moto-2.state", "rr.units.moto-2.events"}, []string{"rr.units.moto-2.cmd", "rr.units.moto-2.ack"}},
	}
	if len(o.Users) != len(want) {
		t.Errorf("%d users, want %d", len(o.Users), len(want))
	}
	for _, u := range o.Users {
		w, ok := want[u.Username]
		switch {
		case !ok:
			t.Errorf("user %s", u.Username)
			continue
		case u.Account == nil || u.Account.Name != "KUAIFAN_RR":
			t.Errorf("%s: account %v", u.Username, u.Account)
		case bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(secrets[u.Username])) != nil:
			t.Errorf("%s: the password is not its secret's bcrypt", u.Username)
		case len(u.AllowedConnectionTypes) != 1 || !hasKey(u.AllowedConnectionTypes, "MQTT"):
			t.Errorf("%s: connection types %v", u.Username, u.AllowedConnectionTypes)
		case u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil ||
			!slices.Equal(u.Permissions.Publish.Allow, w.pub) || !slices.Equal(u.Permissions.Subscribe.Allow, w.sub) ||
			len(u.Permissions.Publish.Deny) != 0 || len(u.Permissions.Subscribe.Deny) != 0 || u.Permissions.Response != nil:
			t.Errorf("%s: permissions %+v %+v", u.Username, u.Permissions.Publish, u.Permissions.Subscribe)
		}
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }
