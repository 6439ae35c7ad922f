// Command hub runs kuaifan's command-centre server.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"kuaifan/hub"
	"kuaifan/hub/internal/access"
	"kuaifan/hub/internal/dispatch"
)

const mainUsage = `Usage: hub [flags]
       hub check [-data DIR] [-repair]
       hub backup [-data DIR] -to FILE
       hub restore -from FILE [-data DIR] [-force]
       hub user add|passwd|disable|enable|role|list … [-data DIR]
       hub token add|list|revoke … [-data DIR]
       hub audit [-data DIR] [-actor A] [-action PREFIX] [-since T] [-until T] [-n N] [-json] [-verify]
       hub deploy-config -broker mosquitto|nats|emqx -out DIR [-hub URL] [-token-file FILE] …

Runs kuaifan's hub: MQTT ingest (embedded broker unless -broker), live fleet state,
matching, the HTTP API and the dashboard.

People sign in to the dashboard with a name and password. On its first start the hub
makes the account admin with a one-time password, prints it and keeps it in
<data>/admin.password until it is changed. Machines (scripts, the simulator) use the
admin token — env HUB_ADMIN_TOKEN, else <data>/admin.token, generated on first start — or
API tokens of their own (hub token).

hub check verifies a stopped hub's store (<data>/hub.db) offline and prints what is
damaged; -repair salvages what reads, keeping the damaged file aside (hub check -h).

hub backup copies the data directory's durable state (hub.db up to its last commit,
units.log, the history, admin.token, accounts.json, audit.log, -tls auto's certificate)
into one file, while the hub runs; the file holds the admin token, the units' secret
hashes, the accounts' password hashes and the TLS key. hub restore brings it back into an
empty directory (hub backup -h, hub restore -h).

hub user and hub token manage the accounts and API tokens in <data>/accounts.json, while
the hub runs or not (hub user -h, hub token -h); hub audit reads the audit log,
<data>/audit.log, and -verify checks its hash chain (hub audit -h).

hub deploy-config writes an external broker's accounts, ACL and settings for the units
enrolled now, fetched from the running hub with an admin token (hub deploy-config -h).

Flags:
`

// hashWorker is the command of the hub's password-hashing child.
const hashWorker = "hash-worker"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "check":
			os.Exit(check(os.Args[2:], os.Stdout, os.Stderr))
		case "backup":
			os.Exit(backup(os.Args[2:], os.Stdout, os.Stderr))
		case "restore":
			os.Exit(restore(os.Args[2:], os.Stdout, os.Stderr))
		case "user":
			os.Exit(userCmd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "token":
			os.Exit(tokenCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "audit":
			os.Exit(auditCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "deploy-config":
			os.Exit(deployConfig(os.Args[2:], os.Stdout, os.Stderr))
		case hashWorker:
			// The hub's own child: it hashes passwords at the lowest CPU
			// priority (access.ProcessHasher).
			if err := access.ServeHashing(os.Stdin, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "hub hash-worker:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	cfg := hub.DefaultConfig()
	flag.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "`address` of the HTTP API and dashboard")
	flag.IntVar(&cfg.HTTPMaxConnsPerIP, "http-max-conns-per-ip", cfg.HTTPMaxConnsPerIP, "HTTP connections one IP address may hold open; more are closed at once (negative: no limit). Behind a reverse proxy or a shared NAT, many clients have one address")
	flag.DurationVar(&cfg.HTTPWriteTimeout, "http-write-timeout", cfg.HTTPWriteTimeout, "longest time to send one HTTP answer, e.g. a track page to a slow link (negative: none); the live stream has its own")
	flag.StringVar(&cfg.MQTTAddr, "mqtt", cfg.MQTTAddr, "`address` the embedded MQTT broker listens on (plain MQTT; with TLS, \"\" closes it)")
	flag.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM `file` of the certificate (and its chain) for HTTPS and MQTTS; with -tls-key")
	flag.StringVar(&cfg.TLSKey, "tls-key", "", "PEM `file` of the private key of -tls-cert")
	tlsMode := flag.String("tls", "off", "`auto`: HTTPS and MQTTS with a self-signed certificate made in the data directory on first start (give agents <data>/"+hub.AutoCertFile+" as -ca); off: TLS only with -tls-cert/-tls-key")
	flag.Func("tls-host", "a `name` or IP address the -tls auto certificate is for, besides localhost, 127.0.0.1, ::1 and the hostname (repeat it, or separate by commas)", func(v string) error {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				cfg.TLSHosts = append(cfg.TLSHosts, h)
			}
		}
		return nil
	})
	flag.StringVar(&cfg.HTTPSAddr, "https", "", "`address` of HTTPS, with TLS (default: -http's host, port 8443); plain HTTP on -http then redirects to it (\"\" there: no plain HTTP)")
	flag.StringVar(&cfg.MQTTSAddr, "mqtts", "", "`address` of the embedded broker's MQTTS listener, with TLS (default: -mqtt's host, port 8883)")
	flag.StringVar(&cfg.BrokerURL, "broker", "", "external broker `URL` (tcp://host:1883, ssl://…) instead of the embedded one; a cluster's nodes separated by commas")
	flag.StringVar(&cfg.BrokerUsername, "broker-user", "", "the hub's `username` on the external broker (password: env HUB_BROKER_PASSWORD)")
	flag.StringVar(&cfg.BrokerClientID, "broker-client-id", cfg.BrokerClientID, "the hub's MQTT client `id` on the external broker")
	flag.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data `directory`: store, snapshots, history, accounts, audit log, admin token")
	flag.DurationVar(&cfg.SessionIdle, "session-idle", access.DefaultSessionIdle, "a person's session ends after so long without a call (the dashboard keeps it alive while it is open)")
	flag.DurationVar(&cfg.SessionMax, "session-max", access.DefaultSessionMax, "a person's session ends at the latest so long after signing in (a shift)")
	flag.StringVar(&cfg.TopicRoot, "topic-root", cfg.TopicRoot, "first `level` of every MQTT topic")
	flag.Var((*days)(&cfg.Retention), "retention", "how long position history is kept: days (`90d`) or a duration (2160h); whole UTC days are dropped")
	flag.Var((*days)(&cfg.EventRetention), "event-retention", "how long unit events are kept: days (`365d`) or a duration")
	flag.Var((*days)(&cfg.IncidentRetention), "incident-retention", "how long a closed incident is kept: days (`365d`) or a duration")
	flag.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "how often the store is copied for recovery (negative: never)")
	flag.DurationVar(&cfg.AckInterval, "ack-interval", cfg.AckInterval, "how long a unit's confirmations gather before its ack goes out")
	flag.DurationVar(&cfg.MaxClockAhead, "max-clock-ahead", cfg.MaxClockAhead, "reject messages timestamped further ahead of the hub's clock")
	flag.DurationVar(&cfg.Match.MaxFixAge, "max-fix-age", cfg.Match.MaxFixAge, "a unit whose position is older is not recommended")
	flag.Float64Var(&cfg.Match.Detour, "detour", cfg.Match.Detour, "road distance ÷ straight-line distance, for arrival estimates")
	flag.StringVar(&cfg.Tiles, "tiles", "", "the dashboard's basemap: an XYZ tile `URL` template with {z}, {x} and {y} (an on-premise tile server); default: the hub's own tiles (-tiles-dir, -tiles-mbtiles) if given, else a vector background")
	flag.StringVar(&cfg.TilesDir, "tiles-dir", "", "basemap tile `directory` in the XYZ layout {z}/{x}/{y}.png (or .jpg, .webp), served at /tiles/ for the dashboard (offline maps)")
	flag.StringVar(&cfg.TilesMBTiles, "tiles-mbtiles", "", "basemap tile package as an MBTiles `file` (raster: png, jpg or webp; read-only), served at /tiles/ for the dashboard (offline maps)")
	flag.StringVar(&cfg.Districts, "districts", "", "GeoJSON `file` of the city's districts (Polygons with properties.name, name_zh, name_en), served to the dashboard; default: Changsha, built in; none: no districts")
	flag.Float64Var(&cfg.CoverageCellM, "coverage-cell", 250, "edge of the coverage grid's cells in `metres` (the live 1-3-5 coverage over the districts)")
	flag.StringVar(&cfg.Cameras, "cameras", "", "GeoJSON `file` of the camera network (Point features with properties id and name), served at /api/cameras; a sighting can name one")
	policyFile := flag.String("dispatch-config", "", "JSON `file` with the dispatch policy: tiers, volunteer kinds, auto-dispatch, ack timeout (default: built in; see hub/README.md)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	pprofAddr := flag.String("pprof", "", "loopback `address` (127.0.0.1:6060) serving Go's profiles at /debug/pprof/, for measuring a live hub; off by default, never on a public address")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), mainUsage)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hub: unexpected %q (commands: check, backup, restore, user, token, audit, deploy-config; hub -h)\n", flag.Args())
		os.Exit(2)
	}
	if cfg.SessionIdle <= 0 || cfg.SessionMax <= 0 {
		fmt.Fprintln(os.Stderr, "hub: -session-idle and -session-max are durations above 0")
		os.Exit(2)
	}
	switch *tlsMode {
	case "auto":
		cfg.TLSAuto = true
	case "off", "":
	default:
		fmt.Fprintf(os.Stderr, "hub: -tls %q: want auto or off\n", *tlsMode)
		os.Exit(2)
	}
	if *policyFile != "" {
		p, err := dispatch.LoadPolicy(*policyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub:", err)
			os.Exit(2)
		}
		cfg.Dispatch = p
	}
	cfg.BrokerPassword = os.Getenv("HUB_BROKER_PASSWORD")
	cfg.AdminToken = os.Getenv("HUB_ADMIN_TOKEN")

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "hub: -log-level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	// paho logs through package variables; route them into slog.
	mqtt.ERROR = slog.NewLogLogger(log.Handler(), slog.LevelError)
	mqtt.CRITICAL = slog.NewLogLogger(log.Handler(), slog.LevelError)
	mqtt.WARN = slog.NewLogLogger(log.Handler(), slog.LevelWarn)

	// Passwords are hashed in a child process of the lowest CPU priority,
	// so a rush of sign-ins never takes CPU from dispatch.
	if exe, err := os.Executable(); err == nil {
		hasher := access.NewProcessHasher(exe, []string{hashWorker}, log.With("component", "hash-worker"))
		defer hasher.Close()
		cfg.PasswordHasher = hasher
	} else {
		log.Warn("the hub's own binary is not found: passwords are hashed in its process", "err", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		_, closeProfiles, err := serveProfiles(*pprofAddr, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub: -pprof:", err)
			os.Exit(2)
		}
		defer closeProfiles()
	}
	h, err := hub.New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	banner(os.Stdout, h, cfg.BrokerURL)
	signIn(os.Stdout, h)
	if err := h.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// banner prints where the hub serves, and with TLS the certificate to trust.
func banner(w io.Writer, h *hub.Hub, brokerURL string) {
	base := "http://" + browsable(h.HTTPAddr())
	if addr := h.HTTPSAddr(); addr != "" {
		base = "https://" + browsable(addr)
	}
	fmt.Fprintf(w, "kuaifan hub\n  dashboard          %s/\n  HTTP API           %s/api/\n  responder app      %s/responder/\n", base, base, base)
	if addr := h.HTTPSAddr(); addr != "" && h.HTTPAddr() != "" {
		fmt.Fprintf(w, "  HTTP               http://%s/ (redirects to HTTPS; /healthz, /metrics served)\n", browsable(h.HTTPAddr()))
	}
	if addr := h.MQTTSAddr(); addr != "" {
		fmt.Fprintf(w, "  MQTT broker (TLS)  ssl://%s\n", browsable(addr))
	}
	if addr := h.MQTTAddr(); addr != "" {
		fmt.Fprintf(w, "  MQTT broker        tcp://%s\n", addr)
	} else if brokerURL != "" {
		fmt.Fprintf(w, "  MQTT broker        %s (external)\n", brokerURL)
	}
	if t := h.TLS(); t != nil {
		made := ""
		if t.Generated {
			made = " (made now)"
		}
		fmt.Fprintf(w, "  TLS certificate    %s%s\n  SHA-256            %s\n", t.CertFile, made, t.Fingerprint)
		if t.SelfSigned {
			fmt.Fprintf(w, "                     give agents this file as -ca, and compare the fingerprint on first use\n")
		}
	}
}

// signIn prints who signs in how: people with a name and password (the
// first admin's one-time password while it is unchanged), machines with the
// admin token.
func signIn(w io.Writer, h *hub.Hub) {
	if f := h.AdminTokenFile(); f != "" {
		fmt.Fprintf(w, "  admin token        in %s: for machines (scripts, the simulator, curl), not people\n", f)
	} else {
		fmt.Fprintf(w, "  admin token        from HUB_ADMIN_TOKEN: for machines (scripts, the simulator, curl), not people\n")
	}
	fmt.Fprintf(w, "  sign in            at the dashboard with a name and password (accounts: hub user -h)\n")
	file, made := h.FirstAdmin()
	if file == "" {
		return
	}
	if made {
		if b, err := os.ReadFile(file); err == nil {
			if pw := strings.TrimSpace(string(b)); pw != "" {
				fmt.Fprintf(w, "  first admin        %s / %s\n", access.FirstAdmin, pw)
				fmt.Fprintf(w, "                     one-time: change it at the first sign-in; kept in %s until then\n", file)
				return
			}
		}
	}
	fmt.Fprintf(w, "  first admin        %s: its one-time password is in %s (change it at the first sign-in)\n", access.FirstAdmin, file)
}

// browsable turns a listening address into one a browser on this machine
// can open: a wildcard host (":8080", "0.0.0.0:8080", "[::]:8080") becomes
// localhost.
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
