package kv

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Apply applies the command of the committed raft entry at index.
//
// index must be AppliedIndex()+1. A lower index returns an error wrapping
// ErrAlreadyApplied, a higher one ErrGap; in both cases nothing changes and the
// Result is nil. These are the only errors Apply returns: they mean the caller
// broke the apply order, which no member may do.
//
// A command that fails Validate (no op, empty key, bad interval, oversized key
// or value) is still applied, as a no-op: the applied index advances and the
// Result carries ERROR_CODE_INVALID or ERROR_CODE_TOO_LARGE (see ResultErr),
// because every member must apply the same committed entry identically.
//
// Apply does not keep cmd or its slices.
func (s *Store) Apply(index uint64, cmd *kvpb.Command) (*kvpb.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.advance(index); err != nil {
		return nil, err
	}
	if err := s.limits.validate(cmd); err != nil {
		return errorResult(index, err), nil
	}
	switch op := cmd.GetOp().(type) {
	case *kvpb.Command_Put:
		return s.put(index, op.Put.GetKey(), op.Put.GetValue()), nil
	case *kvpb.Command_Delete:
		return s.deleteRange(index, op.Delete), nil
	default: // validate admits no other op
		return s.compareAndSwap(index, cmd.GetCas()), nil
	}
}

// ApplyEncoded applies data, a marshaled Command, at index, exactly like Apply.
// Data that does not decode is applied as a no-op with ERROR_CODE_INVALID.
func (s *Store) ApplyEncoded(index uint64, data []byte) (*kvpb.Result, error) {
	cmd := &kvpb.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.advance(index); err != nil {
			return nil, err
		}
		return errorResult(index, fmt.Errorf("%w: decode command: %w", ErrInvalid, err)), nil
	}
	return s.Apply(index, cmd)
}

// ApplyNoop advances the applied index over a raft entry that carries no
// command (a new leader's empty entry, a configuration change). The index rules
// and errors are Apply's.
func (s *Store) ApplyNoop(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advance(index)
}

// ApplyEntry applies one committed raft entry: a normal entry with data through
// ApplyEncoded, any other entry (empty, EntryConfChange, EntryConfChangeV2)
// through ApplyNoop with a nil Result. The index rules and errors are Apply's.
func (s *Store) ApplyEntry(e raftpb.Entry) (*kvpb.Result, error) {
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return nil, s.ApplyNoop(e.Index)
	}
	return s.ApplyEncoded(e.Index, e.Data)
}

// advance moves the applied index to index if it is the next one.
func (s *Store) advance(index uint64) error {
	switch {
	case index <= s.applied:
		return fmt.Errorf("apply index %d (applied index %d): %w", index, s.applied, ErrAlreadyApplied)
	case index > s.applied+1:
		return fmt.Errorf("apply index %d (applied index %d): %w", index, s.applied, ErrGap)
	}
	s.applied = index
	return nil
}

func errorResult(index uint64, err error) *kvpb.Result {
	return &kvpb.Result{AppliedIndex: index, ErrorCode: errorCode(err), ErrorMessage: err.Error()}
}

// put writes key=value at index; the caller holds the lock.
func (s *Store) put(index uint64, key, value []byte) *kvpb.Result {
	res := &kvpb.Result{Succeeded: true, ModIndex: index, AppliedIndex: index}
	if prev, ok := s.write(index, key, value); ok {
		res.Prev = prev.toProto()
	}
	return res
}

// write stores key=value at index, keeping the key's create index and counting
// its version, and returns the item it replaced; the caller holds the lock.
func (s *Store) write(index uint64, key, value []byte) (item, bool) {
	next := item{key: bytes.Clone(key), value: bytes.Clone(value), createIndex: index, modIndex: index, version: 1}
	if next.value == nil {
		next.value = []byte{}
	}
	prev, ok := s.tree.Get(item{key: key})
	if ok {
		next.createIndex = prev.createIndex
		next.version = prev.version + 1
	}
	s.tree.ReplaceOrInsert(next)
	return prev, ok
}

// deleteRange removes the keys of a validated Delete; the caller holds the lock.
func (s *Store) deleteRange(index uint64, d *kvpb.Delete) *kvpb.Result {
	res := &kvpb.Result{Succeeded: true, AppliedIndex: index}
	if len(d.GetRangeEnd()) == 0 && !d.GetPrefix() {
		if prev, ok := s.tree.Delete(item{key: d.GetKey()}); ok {
			res.Prev, res.Deleted = prev.toProto(), 1
		}
		return res
	}
	iv, _ := s.limits.interval(d.GetKey(), d.GetRangeEnd(), d.GetPrefix()) // validated by Apply
	var doomed []item
	ascend(s.tree, iv, func(it item) bool {
		doomed = append(doomed, it)
		return true
	})
	for _, it := range doomed {
		s.tree.Delete(it)
	}
	res.Deleted = int64(len(doomed))
	return res
}

// compareAndSwap applies a validated CompareAndSwap; the caller holds the lock.
func (s *Store) compareAndSwap(index uint64, c *kvpb.CompareAndSwap) *kvpb.Result {
	cur, exists := s.tree.Get(item{key: c.GetKey()})
	var prev *kvpb.KeyValue
	if exists {
		prev = cur.toProto()
	}
	if !casHolds(c, cur, exists) {
		return &kvpb.Result{Prev: prev, ModIndex: cur.modIndex, AppliedIndex: index}
	}
	if !c.GetDelete() {
		s.write(index, c.GetKey(), c.GetValue())
		return &kvpb.Result{Succeeded: true, Prev: prev, ModIndex: index, AppliedIndex: index}
	}
	res := &kvpb.Result{Succeeded: true, Prev: prev, AppliedIndex: index}
	if exists {
		s.tree.Delete(cur)
		res.Deleted = 1
	}
	return res
}

// casHolds reports whether the key's current state (cur, when exists) matches
// c's expectation.
func casHolds(c *kvpb.CompareAndSwap, cur item, exists bool) bool {
	switch exp := c.GetExpected().(type) {
	case *kvpb.CompareAndSwap_ExpectedValue:
		return exists && bytes.Equal(cur.value, exp.ExpectedValue)
	case *kvpb.CompareAndSwap_ExpectedModIndex:
		if exp.ExpectedModIndex == 0 {
			return !exists
		}
		return exists && cur.modIndex == exp.ExpectedModIndex
	default:
		return false
	}
}
