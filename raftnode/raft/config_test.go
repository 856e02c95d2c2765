package raft

import (
	"errors"
	"strings"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// validTestConfig returns a configuration NewRawNode accepts.
func validTestConfig() *Config {
	return &Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         newBootstrapStorage([]uint64{1}, nil),
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantMsg string
	}{
		{"no id", func(c *Config) { c.ID = None }, "ID must not be 0"},
		{"zero heartbeat", func(c *Config) { c.HeartbeatTick = 0 }, "HeartbeatTick must be greater than 0"},
		{"negative heartbeat", func(c *Config) { c.HeartbeatTick = -1 }, "HeartbeatTick must be greater than 0"},
		{"election equal to heartbeat", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 3, 3 },
			"ElectionTick (3) must be greater than HeartbeatTick (3)"},
		{"election below heartbeat", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 2, 5 },
			"ElectionTick (2) must be greater than HeartbeatTick (5)"},
		{"no storage", func(c *Config) { c.Storage = nil }, "Storage is required"},
		{"no inflight window", func(c *Config) { c.MaxInflightMsgs = 0 }, "MaxInflightMsgs must be greater than 0"},
		{"negative inflight window", func(c *Config) { c.MaxInflightMsgs = -4 }, "MaxInflightMsgs must be greater than 0"},
		{"inflight bytes below message size", func(c *Config) { c.MaxSizePerMsg, c.MaxInflightBytes = 200, 100 },
			"MaxInflightBytes (100) must be at least MaxSizePerMsg (200)"},
		{"lease reads without check-quorum", func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased },
			"CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased"},
		{"applied past committed", func(c *Config) { c.Applied = 5 }, "Applied (5) is past the committed index (1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validTestConfig()
			tt.change(cfg)
			rn, err := NewRawNode(cfg)
			if err == nil {
				t.Fatalf("NewRawNode accepted the config")
			}
			if rn != nil {
				t.Errorf("NewRawNode returned a node with error %v", err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestConfigValid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"base", func(*Config) {}},
		{"no byte window whatever the message size", func(c *Config) { c.MaxSizePerMsg, c.MaxInflightBytes = noLimit, 0 }},
		{"byte window equal to the message size", func(c *Config) { c.MaxSizePerMsg, c.MaxInflightBytes = 100, 100 }},
		{"lease reads with check-quorum", func(c *Config) { c.ReadOnlyOption, c.CheckQuorum = ReadOnlyLeaseBased, true }},
		{"applied at committed", func(c *Config) { c.Applied = 1 }},
		{"every option", func(c *Config) {
			c.PreVote, c.CheckQuorum, c.DisableProposalForwarding = true, true, true
			c.Priority, c.MaxUncommittedEntriesSize, c.MaxCommittedSizePerReady = 3, 1<<20, 1<<20
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validTestConfig()
			tt.change(cfg)
			if _, err := NewRawNode(cfg); err != nil {
				t.Fatalf("NewRawNode: %v", err)
			}
		})
	}
}

// The error names the member, so a process hosting several can tell which.
func TestConfigErrorNamesMember(t *testing.T) {
	cfg := validTestConfig()
	cfg.ID = 0xab
	cfg.MaxInflightMsgs = 0
	_, err := NewRawNode(cfg)
	if err == nil || !strings.Contains(err.Error(), "ab") {
		t.Fatalf("error %v does not name member ab", err)
	}
}

// Storage errors at start-up are reported, wrapped, rather than panicking.
func TestConfigStorageErrorAtStart(t *testing.T) {
	boom := errors.New("disk on fire")
	cfg := validTestConfig()
	cfg.Storage = failingInitialState{MemoryStorage: NewMemoryStorage(), err: boom}
	_, err := NewRawNode(cfg)
	if !errors.Is(err, boom) {
		t.Fatalf("NewRawNode error = %v, want it to wrap %v", err, boom)
	}
}

type failingInitialState struct {
	*MemoryStorage
	err error
}

func (f failingInitialState) InitialState() (pb.HardState, pb.ConfState, error) {
	return pb.HardState{}, pb.ConfState{}, f.err
}

func TestConfigNilLoggerDiscards(t *testing.T) {
	cfg := validTestConfig()
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rn.raft.logger.(DiscardLogger); !ok {
		t.Fatalf("nil Logger became %T, want DiscardLogger", rn.raft.logger)
	}
}
