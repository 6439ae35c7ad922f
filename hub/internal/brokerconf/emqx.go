package brokerconf

import (
	"fmt"
	"strings"
)

// EMQX's files.
const (
	EMQXACL   = "acl.conf"
	EMQXUsers = "users.csv"
	EMQXConf  = "emqx.conf"
)

// emqxFiles: the file authorizer's rules, the built-in database's bootstrap
// users and the settings that use them.
func emqxFiles(c Config, units []Account) []File {
	// EMQX keeps a bcrypt hash's salt in a column of its own and, for
	// bcrypt, stores the whole hash there (its bcrypt takes the salt out of
	// it): both columns hold the hash, as EMQX's own records do.
	var users strings.Builder
	users.WriteString("user_id,password_hash,salt,is_superuser\n")
	for _, a := range append([]Account{c.Hub}, units...) {
		users.WriteString(a.User + "," + a.Bcrypt + "," + a.Bcrypt + ",false\n")
	}
	dir := c.Dir
	if dir == "" {
		dir = DefaultEMQXDir
	}
	return []File{
		{Name: EMQXACL, Content: emqxACL(c.Root, c.Hub.User)},
		{Name: EMQXUsers, Content: users.String()},
		{Name: EMQXConf, Content: fmt.Sprintf(emqxConf, c.Root, dir)},
	}
}

func erlangList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// emqxACL does not name the units: ${username} in a topic is the client's
// username, so enrolling a unit changes only the users.
func emqxACL(root, hub string) string {
	return fmt.Sprintf(`%%%% kuaifan: EMQX 5 file authorization (acl.conf) for the topic root %[1]q,
%%%% as hub deploy-config writes it. Rules are tried in order; the first that
%%%% matches decides, and the last denies everything else.

%%%% The hub (hub -broker ... -broker-user %[2]s): it reads every unit's
%%%% telemetry, state and events and writes every unit's cmd and ack.
{allow, {username, %[2]q}, subscribe, %[3]s}.
{allow, {username, %[2]q}, publish, %[4]s}.

%%%% Every unit (username = client id = unit id: emqx.conf sets
%%%% use_username_as_clientid) writes its own telemetry, state (retained;
%%%% its Last Will) and events and reads its own cmd and ack.
{allow, all, publish, %[5]s}.
{allow, all, subscribe, %[6]s}.

%%%% Nothing else.
{deny, all}.
`, root, hub,
		erlangList(topics(root, "+", unitWrites)), erlangList(topics(root, "+", unitReads)),
		erlangList(topics(root, "${username}", unitWrites)), erlangList(topics(root, "${username}", unitReads)))
}

// emqxConf is the settings' snippet; %[1]s is the root, %[2]s the directory.
const emqxConf = `## kuaifan (topic root %[1]q): EMQX 5 settings, as hub deploy-config writes
## them (hub/deploy/emqx/README.md). Merge them into emqx.conf; the two files
## named here go to %[2]s.

mqtt {
  ## A device's client id is its username (kuaifan's contract): a unit
  ## cannot take over another unit's session by connecting with its id.
  use_username_as_clientid = true
  ## kuaifan speaks MQTT 3.1.1 and keeps payloads under 16 KiB.
  max_packet_size = 64KB
  ## The hub's session is persistent: while it restarts, EMQX queues what
  ## units send (agents resend what the hub did not confirm).
  max_mqueue_len = 100000
  session_expiry_interval = 1d
}

## Every account in the built-in database, bcrypt-hashed. The bootstrap
## file seeds users the database does not have yet; it never replaces nor
## removes one: after a rotation or a revocation use the REST API (README).
authentication = [
  {
    mechanism = password_based
    backend = built_in_database
    user_id_type = username
    password_hash_algorithm {name = bcrypt, salt_rounds = 10}
    bootstrap_file = "%[2]s/users.csv"
    bootstrap_type = hash
  }
]

## Only the rules of acl.conf; what they do not allow is denied.
authorization {
  no_match = deny
  deny_action = ignore
  sources = [
    {type = file, enable = true, path = "%[2]s/acl.conf"}
  ]
}
`
