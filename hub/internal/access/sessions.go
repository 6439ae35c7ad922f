package access

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SessionsFile keeps the sessions across a restart of the hub: a hub
// upgraded mid-shift does not sign every dispatcher out. It holds the
// SHA-256 of each cookie, never the cookie.
const SessionsFile = "sessions.json"

// saveEvery bounds how stale the saved activity times are: a crash forgets
// at most this much of a session's last activity.
const saveEvery = 30 * time.Second

type savedSession struct {
	Key      string `json:"key"` // hex SHA-256 of the cookie's value
	User     string `json:"user"`
	Gen      uint64 `json:"gen"`
	CSRF     string `json:"csrf"`
	Addr     string `json:"addr"`
	Created  int64  `json:"created"`   // Unix ms
	LastSeen int64  `json:"last_seen"` // Unix ms
}

// loadSessions reads the saved sessions that have not ended.
func (s *Service) loadSessions() error {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, SessionsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	var saved []savedSession
	if err := json.Unmarshal(b, &saved); err != nil {
		// Losing them signs people out, no more: say so and go on.
		s.cfg.Logger.Warn("saved sessions do not read; everyone signs in again", "file", SessionsFile, "err", err)
		return nil
	}
	now := s.cfg.Now()
	for _, v := range saved {
		raw, err := hex.DecodeString(v.Key)
		if err != nil || len(raw) != 32 {
			continue
		}
		ss := &session{user: v.User, gen: v.Gen, csrf: v.CSRF, addr: v.Addr,
			created: time.UnixMilli(v.Created), lastSeen: time.UnixMilli(v.LastSeen)}
		if s.ended(ss, now) {
			continue
		}
		s.sessions[[32]byte(raw)] = ss
	}
	return nil
}

// saveSessions writes the sessions now; a failure is logged (the sessions
// still work until the hub restarts).
func (s *Service) saveSessions() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	out := make([]savedSession, 0, len(s.sessions))
	for k, ss := range s.sessions {
		out = append(out, savedSession{Key: hex.EncodeToString(k[:]), User: ss.user, Gen: ss.gen, CSRF: ss.csrf,
			Addr: ss.addr, Created: ss.created.UnixMilli(), LastSeen: ss.lastSeen.UnixMilli()})
	}
	s.dirty = false
	s.mu.Unlock()
	b, err := json.Marshal(out)
	if err == nil {
		err = writeFileSync(filepath.Join(s.cfg.Dir, SessionsFile), b)
	}
	if err != nil {
		s.cfg.Logger.Error("sessions could not be saved: a restart would sign people out", "err", err)
	}
}
