package brokerconf

import (
	"fmt"
	"strings"
)

// NATSConf is the sample server configuration NATS's files include.
const NATSConf = "nats.conf"

// NATSAccountFile is the name of a city's account file: kuaifan-{root}.conf,
// a root's slashes as dashes.
func NATSAccountFile(root string) string {
	return "kuaifan-" + strings.ReplaceAll(root, "/", "-") + ".conf"
}

// NATSAccount is the name of a city's NATS account: KUAIFAN_{ROOT}.
func NATSAccount(root string) string {
	return "KUAIFAN_" + strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(root))
}

// subject is the NATS subject nats-server's MQTT maps a topic (or filter)
// to: levels become tokens, + becomes *. Roots and unit ids hold no '.',
// which it would map otherwise.
func subject(topic string) string {
	return strings.NewReplacer("/", ".", "+", "*").Replace(topic)
}

func subjects(topics []string) string {
	q := make([]string, len(topics))
	for i, t := range topics {
		q[i] = `"` + subject(t) + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// natsFiles: the city's account, to be included in the accounts block of
// nats-server's configuration, and a sample configuration that does so.
func natsFiles(c Config, units []Account) []File {
	var b strings.Builder
	fmt.Fprintf(&b, `# kuaifan: the NATS account of the city whose hub runs with -topic-root %[1]s,
# as hub deploy-config writes it. Include it inside the accounts { } block of
# every node's configuration (nats.conf shows how): one file, one account,
# per city. MQTT topic a/b/c is NATS subject a.b.c.
#
# Usernames are the server's, not the account's: a unit id (and the hub's
# username) must be unique across every city on the cluster.
%[2]s: {
  # MQTT sessions, QoS 1 messages and retained states live in JetStream.
  jetstream: enabled
  users: [
    # The hub: it reads every unit's telemetry, state and events and writes
    # every unit's cmd and ack.
    {user: %[3]q, password: %[4]q, allowed_connection_types: ["MQTT"], permissions: {
      publish: {allow: %[5]s}
      subscribe: {allow: %[6]s}
    }}
`, c.Root, NATSAccount(c.Root), c.Hub.User, c.Hub.Bcrypt,
		subjects(topics(c.Root, "+", unitReads)), subjects(topics(c.Root, "+", unitWrites)))
	if len(units) > 0 {
		b.WriteString(`    # Each unit writes its own telemetry, state (retained; its Last Will) and
    # events and reads its own cmd and ack, over MQTT only. Nothing else.
`)
	}
	for _, u := range units {
		fmt.Fprintf(&b, `    {user: %q, password: %q, allowed_connection_types: ["MQTT"], permissions: {publish: {allow: %s}, subscribe: {allow: %s}}}
`, u.User, u.Bcrypt, subjects(topics(c.Root, u.User, unitWrites)), subjects(topics(c.Root, u.User, unitReads)))
	}
	b.WriteString("  ]\n}\n")
	return []File{
		{Name: NATSAccountFile(c.Root), Content: b.String()},
		{Name: NATSConf, Content: fmt.Sprintf(natsConf, NATSAccountFile(c.Root))},
	}
}

// natsConf is a sample node configuration; %[1]s is the account file.
const natsConf = `# kuaifan: one node of a three-node NATS cluster serving MQTT to the units,
# as hub deploy-config writes it (hub/deploy/nats/README.md). Give every
# node this file with its own server_name; after writing the account files
# again, run nats-server --signal reload on every node.

server_name: nats-1

# Plain NATS clients: kuaifan has none. Keep the port on the loopback for
# the nats CLI.
listen: 127.0.0.1:4222

jetstream {
  store_dir: "/var/lib/nats/jetstream"
  # Every QoS 1 subscription of an MQTT session is a consumer of one stream
  # ($MQTT_msgs): two per unit. nats-server caps a stream at 1,000 consumers
  # unless told otherwise.
  limits { default_max_consumers: -1 }
}

cluster {
  name: kuaifan
  listen: 0.0.0.0:6222
  # Every node, this one too (a node skips the route to itself).
  routes: [
    nats-route://nats-1:6222
    nats-route://nats-2:6222
    nats-route://nats-3:6222
  ]
}

mqtt {
  port: 1883
  # Sessions, QoS 1 messages and retained states on all three nodes, so
  # any one of them can fail.
  stream_replicas: 3
  # A QoS 1 message delivered to a connection that died unacknowledged is
  # sent again after ack_wait (30 s by default): a client that fails over to
  # another node gets it within 5 s.
  ack_wait: "5s"
  # The units' consumers (two per unit, replicated) in memory: a fleet's
  # sessions set up and fail over without a disk write per consumer. Their
  # state survives a node on the other two replicas.
  consumer_memory_storage: true
  # QoS 1 messages in flight per subscription: acks and commands are few,
  # and a session's total is capped at 65,535.
  max_ack_pending: 100
  # Setting up a session asks JetStream for several things: under a fleet
  # reconnecting at once, 5 s (the default) times out.
  js_api_timeout: "15s"
}

accounts {
  include %[1]q
  # One account file per city on this cluster, e.g.:
  # include "kuaifan-zz.conf"
}
`
