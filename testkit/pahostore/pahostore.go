// Package pahostore is an in-memory paho Store that keeps and hands out
// copies of the packets given to it.
//
// paho v1.5.1's own MemoryStore keeps the very packet paho's writer is
// sending: with CleanSession false, paho resumes the stored publishes on
// every connect and sets the DUP flag on them while its writer may be sending
// the same packet (a publish made right after connecting races with the
// resume) — a data race inside paho. A store that takes a copy on Put and
// hands out a copy on Get removes the sharing.
//
// Despite the module's name this is not for tests only: the agent's uplink
// (kuaifan/agent/internal/uplink) uses it in production, for every
// connection it opens, as well as the test devices (kuaifan/hub/hubtest).
//
// Unlike paho's MemoryStore it says nothing about deleting a key it does not
// hold: paho deletes the key of every SUBACK, and subscriptions are not
// stored (ResumeSubs off), which MemoryStore logs as a warning each time. Like
// MemoryStore, it ignores a Put while it is not open.
package pahostore

import (
	"bytes"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// New returns an empty store; paho opens it when the client connects. Give
// each client a store of its own (ClientOptions.SetStore).
func New() mqtt.Store {
	return &store{byKey: make(map[string]packets.ControlPacket)}
}

type store struct {
	mu    sync.Mutex
	open  bool
	byKey map[string]packets.ControlPacket
}

var _ mqtt.Store = (*store)(nil)

func (s *store) Open() {
	s.mu.Lock()
	s.open = true
	s.mu.Unlock()
}

// Put runs on the publishing goroutine before paho hands m to its writer:
// the copy is taken while m is still the caller's alone.
func (s *store) Put(key string, m packets.ControlPacket) {
	c := clonePacket(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open && c != nil {
		s.byKey[key] = c
	}
}

// Get hands out a copy: paho may write to what it gets (the DUP flag).
func (s *store) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.byKey[key]; p != nil {
		return clonePacket(p)
	}
	return nil
}

func (s *store) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byKey))
	for k := range s.byKey {
		keys = append(keys, k)
	}
	return keys
}

func (s *store) Del(key string) {
	s.mu.Lock()
	delete(s.byKey, key)
	s.mu.Unlock()
}

func (s *store) Close() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

func (s *store) Reset() {
	s.mu.Lock()
	clear(s.byKey)
	s.mu.Unlock()
}

func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

// clonePacket copies p by encoding and decoding it. Encoding writes to p
// (its length fields), so callers own p or hold the store's lock.
func clonePacket(p packets.ControlPacket) packets.ControlPacket {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return nil
	}
	c, err := packets.ReadPacket(&buf)
	if err != nil {
		return nil
	}
	return c
}
