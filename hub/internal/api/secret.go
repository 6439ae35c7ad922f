package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"kuaifan/hub/internal/clip"
	"kuaifan/hub/internal/fleet"
	"kuaifan/protocol"
	wire "kuaifan/protocol/api"
)

// rotateSecret serves POST /api/units/{id}/secret: the unit gets a new
// secret, shown once; the old one no longer connects. The connection the
// unit has now is kept unless asked (disconnect), so that a pushed secret
// can reach it: the unit takes the new secret at its next connection.
func (s *server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req wire.SecretRotation
	if err := decodeOptionalBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	push := req.Push == nil || *req.Push
	switch {
	case push && req.Disconnect:
		writeError(w, http.StatusBadRequest, "disconnect needs push false: cutting the link would race the pushed secret's delivery")
		return
	case push && s.Publish == nil:
		writeError(w, http.StatusBadRequest, "this hub cannot push a secret; rotate with push false")
		return
	case req.Disconnect && s.Disconnect == nil:
		writeError(w, http.StatusBadRequest, "this hub cannot disconnect a unit (an external broker); rotate without disconnect")
		return
	}
	if v, ok := s.Fleet.Get(id); ok && push && !v.Online {
		// Pushed now, the command would wait in the unit's broker session,
		// which the unit could no longer reach with its old secret.
		writeError(w, http.StatusConflict, "unit "+clip.Quote(id)+" is offline, so a pushed secret could not reach it; "+
			"nothing was changed. Rotate with push false and give the unit the new secret by hand")
		return
	}
	secret, err := s.Fleet.Rotate(id, s.Now())
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "no unit "+clip.Quote(id))
		return
	case errors.Is(err, fleet.ErrRevoked):
		writeError(w, http.StatusConflict, "unit "+clip.Quote(id)+" is revoked; enrol it again for a new secret")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	pushed := false
	if push {
		if err := s.pushSecret(id, secret); err != nil {
			// The rotation stands: the operator has the secret, once.
			s.Logger.Warn("api: new secret not pushed to the unit; give it by hand", "unit", id, "err", err)
		} else {
			pushed = true
		}
	}
	if req.Disconnect {
		s.Disconnect(id)
	}
	s.Logger.Info("api: unit secret rotated", "unit", id, "pushed", pushed, "disconnected", req.Disconnect)
	writeJSON(w, http.StatusOK, wire.SecretRotated{ID: id, Secret: secret, Pushed: pushed})
}

// pushSecret sends the unit a config command carrying its new secret. It
// is not retained (a retained command would wait on the broker for whoever
// next reads the topic); at QoS 1 the broker keeps it only in the unit's
// own session, which the ACL lets only that unit read.
func (s *server) pushSecret(unit, secret string) error {
	cmd, err := secretCommand(secret, s.Now())
	if err != nil {
		return err
	}
	payload, err := protocol.Encode(cmd)
	if err != nil {
		return fmt.Errorf("encode: %w", err) // the error names the field, never the value
	}
	return s.Publish(s.Topics.Unit(unit, protocol.KindCmd), payload, false)
}

// secretCommand is the config command that hands a unit its new secret.
func secretCommand(secret string, now time.Time) (protocol.Command, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return protocol.Command{}, fmt.Errorf("command id: %w", err)
	}
	return protocol.Command{ID: "secret-" + hex.EncodeToString(b[:]), TS: now.UnixMilli(),
		Type: protocol.CmdConfig, Secret: secret}, nil
}

// decodeOptionalBody is decodeBody for a call whose body may be absent:
// an empty body leaves v as it is.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, v any) error {
	err := decodeBody(w, r, v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
