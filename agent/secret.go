package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// secretFile holds, inside DataDir, the secrets the hub sent in config
// commands (POST /api/units/{id}/secret on the hub). It is written like the
// state file (atomically, mode 0600) but apart from it: it must never leave
// the unit, while the state file is harmless to copy into a bug report.
const secretFile = "agent-secret.json"

// savedSecret is the file's content. From ties it to the secret the unit
// was configured with: once the operator configures another one (the
// unit was provisioned again by hand), the file no longer applies.
type savedSecret struct {
	V        int    `json:"v"`
	From     string `json:"from"`               // SHA-256, hex, of Config.Secret
	Secret   string `json:"secret"`             // the newest secret the hub sent
	Previous string `json:"previous,omitempty"` // the last secret the hub admitted, until Secret is admitted
}

// secrets is the unit's MQTT password: the configured one, or the newest
// the hub sent. A new secret is used from the next connection. Until the
// hub has admitted it once, the last admitted one is kept as a fallback: if
// the hub refuses the new one (a command from before the hub was restored
// from a backup, say), the next attempt tries the previous one, and while
// neither is admitted the attempts alternate between the two.
type secrets struct {
	dir, from string
	log       *slog.Logger
	onSaveErr func()

	mu                sync.Mutex
	current, previous string
	tryPrevious       bool
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// loadSecrets reads the secret file, if any, for the configured secret.
func loadSecrets(dir, configured string, log *slog.Logger, onSaveErr func()) *secrets {
	s := &secrets{dir: dir, from: hashHex(configured), log: log, onSaveErr: onSaveErr, current: configured}
	if dir == "" {
		return s
	}
	b, err := os.ReadFile(filepath.Join(dir, secretFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s
	}
	var st savedSecret
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	switch {
	case err != nil:
		// Never the content: it is a secret.
		log.Error("agent: secret file unreadable; using the configured secret", "file", secretFile, "err", err)
	case st.V != 1 || st.Secret == "":
		log.Error("agent: secret file not understood; using the configured secret", "file", secretFile, "v", st.V)
	case st.From != s.from:
		log.Warn("agent: the configured secret changed since the hub sent one; the configured one is used")
	default:
		s.current, s.previous = st.Secret, st.Previous
		log.Info("agent: using the secret the hub sent", "fallback", st.Previous != "")
	}
	return s
}

// set takes a secret from the hub, durably before it returns (unless the
// disk fails: then it is used from memory, and the failure is logged).
func (s *secrets) set(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if secret == s.current {
		return // a command sent again
	}
	if s.previous == "" {
		// The current one was admitted (or is the configured one): it is
		// the fallback. Otherwise the older fallback stays.
		s.previous = s.current
	}
	s.current, s.tryPrevious = secret, false
	s.saveLocked()
	s.log.Info("agent: new secret from the hub; used from the next connection")
}

// password is uplink.Config.Password.
func (s *secrets) password() (string, func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pw := s.current
	if s.tryPrevious && s.previous != "" {
		pw = s.previous
	}
	return pw, func(err error) { s.result(pw, err) }
}

// result learns how a connection attempt with pw went.
func (s *secrets) result(pw string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.previous == "" {
		return // no fallback: nothing to learn
	}
	refused := errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised)
	switch {
	case err == nil && pw == s.current:
		s.previous, s.tryPrevious = "", false
		s.saveLocked()
		s.log.Info("agent: the hub admitted the new secret; the previous one is forgotten")
	case err == nil && pw == s.previous:
		s.current, s.previous, s.tryPrevious = s.previous, "", false
		s.saveLocked()
		s.log.Warn("agent: the hub refused the secret it sent but admitted the previous one, which is kept")
	case refused && pw == s.current:
		s.tryPrevious = true
		s.log.Warn("agent: the hub refused the new secret; trying the previous one next")
	case refused:
		s.tryPrevious = false
		s.log.Error("agent: the hub refused the previous secret too; the unit may need a new one by hand")
	}
}

func (s *secrets) saveLocked() {
	if s.dir == "" {
		return // no data directory: memory only
	}
	st := savedSecret{V: 1, From: s.from, Secret: s.current, Previous: s.previous}
	// writeFileAtomic's temporary file is created 0600, and renamed.
	if err := writeFileAtomic(s.dir, secretFile, st); err != nil {
		s.onSaveErr()
		s.log.Error("agent: saving the hub's secret failed; it lasts until the agent stops", "err", fmt.Errorf("%s: %w", secretFile, err))
	}
}
