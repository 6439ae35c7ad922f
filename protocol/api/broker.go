package api

// BrokerConfig answers GET /api/broker-config (additive, 2026-12): the
// files an external MQTT broker needs to admit the hub's enrolled units and
// the hub itself, each only to its own topics, as hub deploy-config writes
// them out. They hold password hashes: keep them as the broker's secrets.
type BrokerConfig struct {
	Broker  string `json:"broker"`   // mosquitto, nats or emqx
	Root    string `json:"root"`     // the topic root they are for (hub -topic-root)
	HubUser string `json:"hub_user"` // the hub's account in them (hub -broker-user)
	// Units are the units with an account in the files, by id: those
	// reporting over MQTT (not phone apps, which report over HTTP).
	Units []string `json:"units"`
	// NeedRotation are the units left out: enrolled before the hub kept
	// their secret hashed for brokers. Rotate their secrets
	// (POST /api/units/{id}/secret) and fetch the files again.
	NeedRotation []string     `json:"need_rotation"`
	Files        []BrokerFile `json:"files"`
}

// BrokerFile is one file of a BrokerConfig: its name, without a
// directory, and its whole content.
type BrokerFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}
