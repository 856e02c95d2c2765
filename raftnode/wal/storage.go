package wal

import (
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

var _ raft.Storage = (*Log)(nil)

// InitialState implements raft.Storage: the last saved hard state and the
// ConfState of the last saved snapshot.
func (l *Log) InitialState() (pb.HardState, pb.ConfState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hs, l.mem.snap.ConfState, nil
}

// Entries implements raft.Storage. The returned slice must not be modified;
// appending to it is safe.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mem.entries(lo, hi, maxSize)
}

// Term implements raft.Storage.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mem.term(i)
}

// FirstIndex implements raft.Storage: the index after the last saved snapshot.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mem.firstIndex(), nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mem.lastIndex(), nil
}

// Snapshot implements raft.Storage. It returns the metadata of the last saved
// snapshot with Data nil: the log does not hold the state machine's data, so the
// caller fills Data from its own snapshot store before sending it.
func (l *Log) Snapshot() (pb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return pb.Snapshot{Metadata: l.mem.snap}, nil
}
