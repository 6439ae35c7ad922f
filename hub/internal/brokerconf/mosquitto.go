package brokerconf

import (
	"fmt"
	"strings"
)

// Mosquitto's files.
const (
	MosquittoPasswd = "passwd"
	MosquittoACL    = "acl"
	MosquittoConf   = "mosquitto.conf"
)

// mosquittoFiles: the password file (the hub, then the units by id; no
// comments: mosquitto_passwd rewrites the file without them), the ACL and
// the broker's settings.
func mosquittoFiles(c Config, units []Account) []File {
	var pw strings.Builder
	pw.WriteString(c.Hub.User + ":" + c.Hub.Mosquitto + "\n")
	for _, u := range units {
		pw.WriteString(u.User + ":" + u.Mosquitto + "\n")
	}
	dir := c.Dir
	if dir == "" {
		dir = DefaultMosquittoDir
	}
	return []File{
		{Name: MosquittoPasswd, Content: pw.String()},
		{Name: MosquittoACL, Content: mosquittoACL(c.Root, c.Hub.User)},
		{Name: MosquittoConf, Content: fmt.Sprintf(mosquittoConf, dir)},
	}
}

// mosquittoACL does not name the units: the pattern rules (%u, the
// username) give every account its own topics, so enrolling a unit changes
// only the password file.
func mosquittoACL(root, hub string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# kuaifan: Mosquitto ACL (acl_file) for the topic root %q, as hub
# deploy-config writes it. Mosquitto denies whatever no line grants.

# Every device: username = client id = unit id (mosquitto.conf sets
# use_username_as_clientid). %%u is the username. A unit writes only its own
# telemetry, state (retained; also its Last Will) and events, and reads only
# its own cmd and ack.
`, root)
	for _, t := range topics(root, "%u", unitWrites) {
		b.WriteString("pattern write " + t + "\n")
	}
	for _, t := range topics(root, "%u", unitReads) {
		b.WriteString("pattern read " + t + "\n")
	}
	fmt.Fprintf(&b, `
# The hub (hub -broker ... -broker-user %s).
# It reads what every unit sends and writes every unit's commands and acks.
# Its name is no unit's: hub deploy-config refuses a unit enrolled under it.
user %s
`, hub, hub)
	for _, t := range topics(root, "+", unitWrites) {
		b.WriteString("topic read " + t + "\n")
	}
	for _, t := range topics(root, "+", unitReads) {
		b.WriteString("topic write " + t + "\n")
	}
	return b.String()
}

// mosquittoConf is mosquitto.conf; %[1]s is the directory of the password
// file and the ACL.
const mosquittoConf = `# kuaifan with an external Mosquitto 2.0, as hub deploy-config writes it
# (hub/deploy/mosquitto/README.md). Paths are Debian's; adjust to your
# installation.

per_listener_settings false

# Devices and the hub connect here. For TLS, use a listener 8883 with
# certfile/keyfile (and the hub with -broker ssl://host:8883).
listener 1883

# Nobody without an account; every account only to its own topics.
allow_anonymous false
password_file %[1]s/passwd
acl_file %[1]s/acl

# A device's client id is its username: a unit cannot take over another
# unit's session by connecting with its id.
use_username_as_clientid true

# kuaifan speaks MQTT 3.1.1 and keeps payloads under 16 KiB.
max_packet_size 65536

# The hub's session is persistent: while it restarts, Mosquitto queues what
# units send (agents resend anything the hub did not confirm, so an overflow
# loses nothing, but a larger queue avoids the resend).
persistence true
persistence_location /var/lib/mosquitto/
autosave_interval 60
max_queued_messages 100000
max_inflight_messages 100

# Sessions of devices gone for a day are dropped, so they don't pile up.
persistent_client_expiration 1d

log_dest syslog
log_type error
log_type warning
log_type notice
connection_messages true
`
