package uplink

import (
	"bytes"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyingStore is an in-memory paho Store that keeps and hands out copies.
// With CleanSession false, paho v1.5.1 resumes stored publishes on connect
// and sets the DUP flag on the very packet its writer may be sending at that
// moment (a publish made right after connecting races with the resume): a
// data race inside paho, with its own MemoryStore. Storing a copy, and
// handing out copies, removes the sharing. The Link opens a fresh client
// (and store) per connection, so there is normally nothing to resume — the
// agent's queue resends — but the store keeps paho safe should that change.
//
// Unlike paho's MemoryStore it says nothing about deleting a key it does not
// hold: paho deletes the key of every SUBACK, and subscriptions are not
// stored (ResumeSubs off), which MemoryStore logs as a warning each time.
type copyingStore struct {
	mu     sync.Mutex
	open   bool
	byKey  map[string]packets.ControlPacket
	closed int // Close calls, for tests
}

var _ mqtt.Store = (*copyingStore)(nil)

func newCopyingStore() *copyingStore {
	return &copyingStore{byKey: make(map[string]packets.ControlPacket)}
}

func (s *copyingStore) Open() {
	s.mu.Lock()
	s.open = true
	s.mu.Unlock()
}

// Put runs on the publishing goroutine before paho hands m to its writer.
func (s *copyingStore) Put(key string, m packets.ControlPacket) {
	c := clonePacket(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open && c != nil {
		s.byKey[key] = c
	}
}

// Get hands out a copy: paho may write to what it gets (the DUP flag).
func (s *copyingStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.byKey[key]; p != nil {
		return clonePacket(p)
	}
	return nil
}

func (s *copyingStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byKey))
	for k := range s.byKey {
		keys = append(keys, k)
	}
	return keys
}

func (s *copyingStore) Del(key string) {
	s.mu.Lock()
	delete(s.byKey, key)
	s.mu.Unlock()
}

func (s *copyingStore) Close() {
	s.mu.Lock()
	s.open = false
	s.closed++
	s.mu.Unlock()
}

func (s *copyingStore) Reset() {
	s.mu.Lock()
	clear(s.byKey)
	s.mu.Unlock()
}

func (s *copyingStore) len() int {
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
