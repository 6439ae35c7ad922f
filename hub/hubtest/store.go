package hubtest

import (
	"bytes"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyingStore is paho's memory store keeping and handing out copies. With
// CleanSession false, paho v1.5.1 resumes stored publishes on every connect
// and sets their DUP flag on the very packet its writer may be sending at that
// moment (a publish made right after connecting races with the resume): a data
// race inside paho. Storing a copy, and handing out copies, removes the sharing.
type copyingStore struct {
	*mqtt.MemoryStore
	mu sync.Mutex // Get serialises: encoding a packet writes to it
}

func newCopyingStore() mqtt.Store { return &copyingStore{MemoryStore: mqtt.NewMemoryStore()} }

// Put runs on the publishing goroutine before paho hands m to its writer.
func (s *copyingStore) Put(key string, m packets.ControlPacket) {
	if c := clonePacket(m); c != nil {
		s.MemoryStore.Put(key, c)
	}
}

func (s *copyingStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.MemoryStore.Get(key); p != nil {
		return clonePacket(p)
	}
	return nil
}

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
