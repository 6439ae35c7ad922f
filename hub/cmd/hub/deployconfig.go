package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kuaifan/hub/internal/brokerconf"
	wire "kuaifan/protocol/api"
)

// HubPasswordFile is where -new-hub-password writes the password it makes,
// in the output directory.
const HubPasswordFile = "hub-broker.password"

const deployConfigUsage = `Usage: hub deploy-config -broker mosquitto|nats|emqx -out DIR [-hub URL] [-token-file FILE]
                         [-hub-user NAME] [-hub-password-file FILE | -new-hub-password] [-dir PATH] [-ca FILE]

Writes what an external MQTT broker needs to stand in for the hub's embedded one
(hub -broker) into DIR, which must exist: an account for every unit enrolled now
and for the hub, each unit only to its own topics, the hub to every unit's, and
the broker's settings. The running hub renders them (GET /api/broker-config) from
the hashes it keeps; the command needs an admin token and writes every file 0600
(they hold password hashes).

  mosquitto   passwd, acl, mosquitto.conf           (hub/deploy/mosquitto/README.md)
  nats        kuaifan-{root}.conf (the city's account) and a sample nats.conf
                                                    (hub/deploy/nats/README.md)
  emqx        acl.conf, users.csv, emqx.conf        (hub/deploy/emqx/README.md)

Run it again after enrolling, rotating or revoking a unit and have the broker
read the files again; until then the broker still knows the old accounts.

The hub's own account is -hub-user (default: the hub's -broker-user, else
kuaifan-hub). A hub running with -broker knows its password (HUB_BROKER_PASSWORD)
and the files carry its hash. A hub on its embedded broker, about to move to an
external one, does not: give -hub-password-file (its first line is the password),
or -new-hub-password to make one, written to DIR/` + HubPasswordFile + ` (0600); then
start the hub with -broker URL -broker-user NAME and HUB_BROKER_PASSWORD set to it.

Units enrolled before the hub kept broker hashes have no account in the files:
the command names them. Rotate their secrets (POST /api/units/{id}/secret) and
run it again.

Exit status: 0 written (also with units left out: see the warning), 1 the hub
refused or a file could not be written (nothing is written then), 2 bad usage.

Flags:
`

// deployConfig runs `hub deploy-config` with args (after "deploy-config")
// and returns the exit status.
func deployConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub deploy-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "the `broker`: mosquitto, nats or emqx")
	out := fs.String("out", "", "the `directory` to write the files into (it must exist)")
	hubURL := fs.String("hub", "http://127.0.0.1:8080", "the hub's HTTP API `URL` (https:// with the hub's TLS)")
	tokenFile := fs.String("token-file", "", "read the admin token from this `file`: the hub's <data>/admin.token, or an API token\nwith the admin role (hub token add deploy -role admin); without it, from env HUB_ADMIN_TOKEN")
	ca := fs.String("ca", "", "PEM `file` of the CA for an https:// hub (-tls auto's <data>/tls-cert.pem); default: the system's roots")
	hubUser := fs.String("hub-user", "", "the hub's broker `username` (default: the hub's -broker-user, else kuaifan-hub)")
	pwFile := fs.String("hub-password-file", "", "the hub's broker password: the first line of this `file`")
	newPW := fs.Bool("new-hub-password", false, "make a new broker password for the hub, written to DIR/"+HubPasswordFile)
	dir := fs.String("dir", "", "the `directory` the files will be in on the broker's machine, for the paths inside them\n(default: /etc/mosquitto/kuaifan, ${EMQX_ETC_DIR}/kuaifan; NATS includes relative to its configuration)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), deployConfigUsage)
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "hub deploy-config: "+msg)
		return 2
	}
	b, err := brokerconf.ParseBroker(*broker)
	switch {
	case *broker == "":
		return usage("-broker is required: mosquitto, nats or emqx")
	case err != nil:
		return usage("-broker " + strings.TrimPrefix(err.Error(), brokerconf.ErrInvalid.Error()+": broker "))
	case *out == "":
		return usage("-out DIR is required")
	case *pwFile != "" && *newPW:
		return usage("-hub-password-file and -new-hub-password: give one")
	}
	if fi, err := os.Stat(*out); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return usage(fmt.Sprintf("-out %s: %v (it is not made for you)", *out, err))
	}
	base, err := url.Parse(*hubURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usage(fmt.Sprintf("-hub %q: want http://host:port or https://host:port", *hubURL))
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		return usage(err.Error())
	}
	client, err := httpClient(*ca)
	if err != nil {
		return usage(err.Error())
	}

	q := url.Values{"broker": {string(b)}}
	if *hubUser != "" {
		q.Set("hub_user", *hubUser)
	}
	if *dir != "" {
		q.Set("dir", *dir)
	}
	var password string // a new one, to be written
	switch {
	case *pwFile != "":
		pw, err := firstLine(*pwFile)
		if err != nil {
			return usage("-hub-password-file: " + err.Error())
		}
		h, err := brokerconf.HashHubPasswordFor(b, pw)
		if err != nil {
			fmt.Fprintln(stderr, "hub deploy-config:", err)
			return 1
		}
		q.Set("hub_password_hash", h.For(b))
	case *newPW:
		if _, err := os.Stat(filepath.Join(*out, HubPasswordFile)); !errors.Is(err, os.ErrNotExist) {
			return usage(fmt.Sprintf("%s is there already: give it as -hub-password-file, or remove it for a new password",
				filepath.Join(*out, HubPasswordFile)))
		}
		if password, err = newHubPassword(); err != nil {
			fmt.Fprintln(stderr, "hub deploy-config:", err)
			return 1
		}
		h, err := brokerconf.HashHubPasswordFor(b, password)
		if err != nil {
			fmt.Fprintln(stderr, "hub deploy-config:", err)
			return 1
		}
		q.Set("hub_password_hash", h.For(b))
	}

	conf, err := fetchBrokerConfig(client, base, token, q)
	if err != nil {
		fmt.Fprintln(stderr, "hub deploy-config:", err)
		if strings.Contains(err.Error(), "hub_password_hash: the hub has no broker password") {
			fmt.Fprintln(stderr, "hub deploy-config: give -hub-password-file FILE, or -new-hub-password to make one")
		}
		return 1
	}
	files := make([]brokerconf.File, 0, len(conf.Files)+1)
	for _, f := range conf.Files {
		files = append(files, brokerconf.File{Name: f.Name, Content: f.Content})
	}
	if password != "" {
		files = append(files, brokerconf.File{Name: HubPasswordFile, Content: password + "\n"})
	}
	if err := brokerconf.Write(*out, files); err != nil {
		fmt.Fprintln(stderr, "hub deploy-config:", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stdout, filepath.Join(*out, f.Name))
	}
	fmt.Fprintf(stdout, "%s: topic root %s, hub user %s, %d units\n", conf.Broker, conf.Root, conf.HubUser, len(conf.Units))
	if password != "" {
		fmt.Fprintf(stdout, "the hub's new broker password is in %s: run the hub with -broker URL -broker-user %s and HUB_BROKER_PASSWORD set to it\n",
			filepath.Join(*out, HubPasswordFile), conf.HubUser)
	}
	if n := len(conf.NeedRotation); n > 0 {
		fmt.Fprintf(stderr, "hub deploy-config: warning: %d units have no account in these files: they were enrolled before the hub kept\n"+
			"their secret hashed for brokers. Rotate each one's secret (POST /api/units/{id}/secret) and run deploy-config again:\n  %s\n",
			n, strings.Join(conf.NeedRotation, " "))
	}
	return 0
}

// adminToken is the token in tokenFile, else HUB_ADMIN_TOKEN's.
func adminToken(tokenFile string) (string, error) {
	if tokenFile == "" {
		if t := strings.TrimSpace(os.Getenv("HUB_ADMIN_TOKEN")); t != "" {
			return t, nil
		}
		return "", errors.New("no admin token: give -token-file or set HUB_ADMIN_TOKEN")
	}
	t, err := firstLine(tokenFile)
	if err != nil {
		return "", fmt.Errorf("-token-file: %w", err)
	}
	return t, nil
}

// firstLine is a file's first line, trimmed; an empty one is an error.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	line := strings.TrimSpace(sc.Text())
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if line == "" {
		return "", fmt.Errorf("%s: its first line is empty", path)
	}
	return line, nil
}

func httpClient(caFile string) (*http.Client, error) {
	c := &http.Client{Timeout: time.Minute}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate", caFile)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return c, nil
}

// newHubPassword is 256 random bits in unpadded base64url, as units' secrets.
func newHubPassword() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("a new password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// fetchBrokerConfig calls GET /api/broker-config; an answer other than 200
// is an error with the hub's message.
func fetchBrokerConfig(c *http.Client, base *url.URL, token string, q url.Values) (wire.BrokerConfig, error) {
	u := base.JoinPath("/api/broker-config")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return wire.BrokerConfig{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return wire.BrokerConfig{}, fmt.Errorf("the hub at %s: %w", base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return wire.BrokerConfig{}, fmt.Errorf("the hub's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e wire.Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return wire.BrokerConfig{}, fmt.Errorf("the hub refused (%s): %s", resp.Status, e.Error)
		}
		return wire.BrokerConfig{}, fmt.Errorf("the hub answered %s", resp.Status)
	}
	var conf wire.BrokerConfig
	if err := json.Unmarshal(body, &conf); err != nil {
		return wire.BrokerConfig{}, fmt.Errorf("the hub's answer: %w", err)
	}
	if len(conf.Files) == 0 {
		return wire.BrokerConfig{}, errors.New("the hub's answer has no files")
	}
	return conf, nil
}
