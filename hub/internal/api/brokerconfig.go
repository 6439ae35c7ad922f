package api

import (
	"errors"
	"net/http"

	"kuaifan/hub/internal/brokerconf"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// brokerConfig serves GET /api/broker-config?broker=&hub_user=&hub_password_hash=&dir=:
// the files an external broker needs for the units enrolled now and the
// hub (brokerconf). The hub's account is hub_user (default: the hub's
// -broker-user, else kuaifan-hub) with hub_password_hash, the broker's
// kind of hash of its password; without one, a hash of the password the
// hub connects to its broker with. It changes nothing.
func (s *server) brokerConfig(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("broker")
	if name == "" {
		writeError(w, http.StatusBadRequest, "broker: give mosquitto, nats or emqx")
		return
	}
	b, err := brokerconf.ParseBroker(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hub := brokerconf.Account{User: q.Get("hub_user")}
	if hub.User == "" {
		hub.User = s.BrokerUser
	}
	if hub.User == "" {
		hub.User = brokerconf.DefaultHubUser
	}
	switch h := q.Get("hub_password_hash"); {
	case h != "":
		if !brokerconf.ValidHash(b, h) {
			writeError(w, http.StatusBadRequest, "hub_password_hash: not a hash "+name+" checks (want "+hashKind(b)+")")
			return
		}
		if b == brokerconf.Mosquitto {
			hub.Mosquitto = h
		} else {
			hub.Bcrypt = h
		}
	case s.BrokerPassword != "":
		if hub.Hashes, err = brokerconf.HashHubPasswordFor(b, s.BrokerPassword); err != nil {
			s.fail(w, r, err)
			return
		}
	default:
		writeError(w, http.StatusBadRequest, "hub_password_hash: the hub has no broker password of its own "+
			"(it runs the embedded broker, or -broker without HUB_BROKER_PASSWORD): give a hash of the password "+
			"it will connect with (hub deploy-config makes one)")
		return
	}
	root := s.Topics.Root
	if root == "" {
		root = protocol.DefaultRoot
	}
	res, err := brokerconf.Render(b, brokerconf.Config{Root: root, Hub: hub, Units: s.Fleet.BrokerAccounts(), Dir: q.Get("dir")})
	switch {
	case errors.Is(err, brokerconf.ErrHubUserTaken):
		writeError(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, brokerconf.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	out := wire.BrokerConfig{Broker: string(b), Root: root, HubUser: hub.User, Units: res.Units,
		NeedRotation: res.NeedRotation, Files: make([]wire.BrokerFile, len(res.Files))}
	for i, f := range res.Files {
		out.Files[i] = wire.BrokerFile{Name: f.Name, Content: f.Content}
	}
	if len(res.NeedRotation) > 0 {
		s.Logger.Warn("api: broker configuration without units enrolled before broker hashes were kept: rotate their secrets",
			"broker", b, "units", res.NeedRotation)
	}
	writeJSON(w, http.StatusOK, out)
}

func hashKind(b brokerconf.Broker) string {
	if b == brokerconf.Mosquitto {
		return "Mosquitto 2's $7$101$…, as mosquitto_passwd writes it"
	}
	return "bcrypt, $2a$…"
}
