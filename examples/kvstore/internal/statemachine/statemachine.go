// Package statemachine is the state the members replicate: the keys and
// their values, and the peer URL of every member. Every member applies the
// same committed commands in the same order, so every member holds the same
// State at the same log index; a snapshot is that State encoded.
package statemachine

import (
	"encoding/json"
	"fmt"
	"maps"
)

// State is the replicated state. It is not safe for concurrent use: the
// member's loop owns it.
type State struct {
	kv    map[string]string
	peers map[uint64]string
}

// New returns an empty State.
func New() *State {
	return &State{kv: map[string]string{}, peers: map[uint64]string{}}
}

// Put sets key to value.
func (s *State) Put(key, value string) { s.kv[key] = value }

// Get returns the value of key and whether it is set.
func (s *State) Get(key string) (string, bool) {
	v, ok := s.kv[key]
	return v, ok
}

// Len is the number of keys.
func (s *State) Len() int { return len(s.kv) }

// SetPeer records the URL at which member id takes Raft messages.
func (s *State) SetPeer(id uint64, url string) { s.peers[id] = url }

// RemovePeer forgets member id's URL.
func (s *State) RemovePeer(id uint64) { delete(s.peers, id) }

// Peers returns a copy of the members' URLs by id.
func (s *State) Peers() map[uint64]string { return maps.Clone(s.peers) }

// encoded is the snapshot format. JSON writes map keys sorted, so equal
// states encode to equal bytes.
type encoded struct {
	KV    map[string]string `json:"kv"`
	Peers map[uint64]string `json:"peers"`
}

// Marshal encodes s for a snapshot.
func (s *State) Marshal() ([]byte, error) {
	data, err := json.Marshal(encoded{KV: s.kv, Peers: s.peers})
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return data, nil
}

// Unmarshal decodes a State that Marshal encoded.
func Unmarshal(data []byte) (*State, error) {
	var e encoded
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	s := New()
	maps.Copy(s.kv, e.KV)
	maps.Copy(s.peers, e.Peers)
	return s, nil
}
